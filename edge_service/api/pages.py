# SPDX-License-Identifier: Apache-2.0
"""The web pages, served from the package: kiosk, staff station, technical services, gate
monitor, device status.

    GET /                      the landing page linking the five
    GET /kiosk/ /staff/ /services/ /gate/ /status/
                               each page's index.html and its own script
    GET /assets/...            the shared script and style sheet, the translation catalogues
                               (``assets/i18n/<lang>.json``)
    GET /pages/about.json      the software version, the languages there are catalogues for,
                               and whether this is ``libedge demo`` (``demo``: the staff
                               page's demo controls, ``/api/v1/demo``, exist only then)

Contract:
- The pages are static files in ``edge_service/web``: no build step, nothing from another
  origin, so they work on a box without internet. Loading a page needs no token (a page holds
  no data); everything a page shows comes from the API with the role token the page keeps in
  ``localStorage`` (docs/pages.md says how it gets there).
- Every page response carries a Content-Security-Policy allowing scripts, styles and requests
  to this origin only and no inline code (a script injected into a page could read the token),
  ``Referrer-Policy: no-referrer``, ``X-Content-Type-Options: nosniff`` and
  ``Cache-Control: no-cache`` (a box updated in place serves its new pages at once).
- None of these routes is in the OpenAPI document: they are not the API.

Not responsible for: what the pages show or do (the API and the pages' own scripts).
"""

from __future__ import annotations

import importlib.metadata
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["PAGES", "PAGE_HEADERS", "install_pages", "languages", "web_root"]

PAGES = ("kiosk", "staff", "services", "gate", "status")
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def web_root() -> Path:
    """The directory holding the pages (inside the installed package)."""
    return Path(str(resources.files("edge_service.web")))


def languages(root: Path | None = None) -> list[str]:
    """The languages there is a catalogue for (``assets/i18n/<lang>.json``), English first."""
    found = sorted(p.stem for p in ((root or web_root()) / "assets" / "i18n").glob("*.json"))
    return sorted(found, key=lambda lang: lang != "en")


def _version() -> str:
    try:
        return importlib.metadata.version("libedge")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


class _PageFiles(StaticFiles):
    """StaticFiles with the pages' security and caching headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(PAGE_HEADERS)
        return response


def install_pages(app: FastAPI, root: Path | None = None, *, demo: bool = False) -> None:
    """Serve the pages from ``root`` (default: the package's) on ``app``; ``demo``: the app
    has the demo's routes."""
    root = root or web_root()
    router = APIRouter(include_in_schema=False)
    about = {"version": _version(), "languages": languages(root), "demo": demo}

    @router.get("/")
    async def landing() -> FileResponse:
        return FileResponse(root / "index.html", headers=PAGE_HEADERS)

    @router.get("/pages/about.json")
    async def about_json() -> JSONResponse:
        return JSONResponse(about, headers=PAGE_HEADERS)

    app.include_router(router)
    for page in (*PAGES, "assets"):
        app.mount(f"/{page}", _PageFiles(directory=root / page, html=True), name=f"page {page}")
