# SPDX-License-Identifier: Apache-2.0
"""The FastAPI app: health, devices, metrics, the live event stream, ``/docs``.

Contract: ``create_app(view, tokens=book)`` builds a fresh app around the daemon's
:class:`DaemonView` and its role tokens; it opens nothing and starts nothing. The daemon owns
every long-lived object (store, readers, MQTT, the live bus) and their lifespan; uvicorn runs
with ``lifespan="off"`` (see ``server``). Handlers are ``async def`` reading in-memory
snapshots: no request waits on a reader or the writer.

- ``/api/v1/health`` needs no token (monitoring polls it): 200 when
  the storage writer and every configured reader's supervisor are alive and no reader is
  ``unreachable``, else 503; the body says why either way (``problems``). A reader that is
  unplugged but retrying is a problem, not a stuck loop: the watchdog is still fed. The ILS
  link (``ils``) is reported, never a reason for 503: an unreachable ILS means off-line
  circulation, not a broken box.
- ``/api/v1/devices`` (any role): state and cumulative health counters per configured reader,
  and ``ils``; a kiosk token bound to a pad sees that pad's entry only (and ``ils``). A reader's
  port (device path, ``socket://`` address) and the ILS's host and port are configuration:
  staff and admin see them; kiosk and gate tokens get ``port`` null and the errors of the
  readers and of the ILS with the port or address written ``<port>``, as health (no token)
  shows them.
- ``/api/v1/events/stream`` (any role, filtered by it): server-sent events (``stream``).
- ``/metrics`` (admin, or any loopback client without a token): Prometheus text exposition from
  the app's own registry (``metrics``).
- A request naming a Host that is no IP address, ``localhost``, this machine's name or one of
  ``allowed_hosts`` is answered 421 ``unknown_host`` (DNS rebinding); request bodies are
  bounded and every answer carries the security headers (``guard``).
- ``/docs`` and ``/openapi.json`` need no token: the API's description is no secret. The docs
  page's Swagger UI is served from the box (``/docs/assets``, from swagger-ui-bundle-v2), not
  from a CDN: an edge box often has no internet.
- The web pages (``/``, ``/kiosk/``, ``/staff/``, ``/services/``, ``/gate/``, ``/status/``;
  ``pages``) need no token to load; their data comes from the routes above. ``/api/v1/demo``
  (``demo``) exists only in an app built with demo controls (``libedge demo``).
- Every error answers ``{"error": {"code", "message", "field"}}`` (``errors``); every route but
  health declares its roles with ``require`` (``auth``); OpenAPI shows them as the scopes of
  its security requirement.

Without ``tokens`` every route that needs a token answers 401: safe, never open.

Not responsible for: the tokens file (``tokens``), what the workflows publish.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from swagger_ui_bundle import swagger_ui_path

from edge_service.api.auth import ANY_ROLE, require
from edge_service.api.demo import DemoControls, demo_router
from edge_service.api.errors import error_responses, install_error_handlers
from edge_service.api.gate import gate_router
from edge_service.api.guard import RequestGuard
from edge_service.api.kiosk import kiosk_router
from edge_service.api.metrics import metrics_registry
from edge_service.api.pages import install_pages
from edge_service.api.schemas import Devices, Health
from edge_service.api.services import services_router
from edge_service.api.staff import staff_router
from edge_service.api.stream import EventStreams, events_router
from edge_service.api.tokens import Principal, TokenBook
from edge_service.health import (
    DaemonView,
    DeviceSnapshot,
    HealthReport,
    IlsSnapshot,
    StoreSnapshot,
)

__all__ = ["create_app"]

API_VERSION = "1"
SEE_CONFIGURATION = ("staff", "admin")
"""The roles shown where the devices are: a reader's port (in ``port`` and in its errors), the
ILS's host and port (in its errors)."""
PORT_WITHHELD = "<port>"


def _age(seconds: float) -> float | None:
    return round(seconds, 3) if math.isfinite(seconds) else None


def _port_spellings(port: str) -> list[str]:
    """How a reader's errors may name its ``port``: the device path or URL, and a LAN reader's
    ``host:port`` and host (``('10.0.0.5', 10001)`` from the socket)."""
    names = [port]
    if "://" in port:
        with contextlib.suppress(ValueError):   # a URL urlsplit refuses is named whole
            parts = urlsplit(port)
            names += [parts.netloc, parts.hostname or ""]
    return names


def _without_port(error: str | None, spellings: Iterable[str]) -> str | None:
    """``error`` with every one of ``spellings`` (of a port or address) written ``<port>``; the
    longest first, so that a ``host:port`` goes whole, not as ``<port>:port``."""
    if error is None:
        return None
    for name in sorted(filter(None, spellings), key=len, reverse=True):
        error = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", PORT_WITHHELD, error)
    return error


def _device_json(device: DeviceSnapshot, *, configuration: bool) -> dict[str, Any]:
    """``configuration``: the reader's port shown (staff, admin); else withheld (module doc)."""
    return {"name": device.name, "protocol": device.protocol, "role": device.role,
            "port": device.port if configuration else None, "state": device.state,
            "connected": device.connected, "alive": device.alive,
            "heartbeat_age_s": _age(device.heartbeat_age_s), "model": device.model,
            "firmware": device.firmware,
            "last_error": device.last_error if configuration
            else _without_port(device.last_error, _port_spellings(device.port)),
            "since": device.since, "tags_in_field": device.tags_in_field,
            "counters": dict(device.counters)}


def _storage_json(store: StoreSnapshot) -> dict[str, Any]:
    return {"alive": store.alive, "heartbeat_age_s": _age(store.heartbeat_age_s),
            "outbox_backlog": store.outbox_backlog, "commits": store.commits,
            "commits_failed": store.commits_failed, "last_error": store.last_error}


def _ils_json(ils: IlsSnapshot | None, *, configuration: bool) -> dict[str, Any] | None:
    """``configuration``: the ILS's host and port shown in its errors (staff, admin); else
    written ``<port>`` (module doc)."""
    if ils is None:
        return None
    error = ils.last_error
    if not configuration and ils.host is not None:
        error = _without_port(error, (f"{ils.host}:{ils.port}", ils.host))
    return {"backend": ils.backend, "state": ils.state, "last_error": error, "since": ils.since}


def _health_json(report: HealthReport) -> dict[str, Any]:
    return {
        "status": "ok" if report.healthy else "unhealthy",
        "problems": list(report.problems),
        "uptime_s": round(report.uptime_s, 3),
        "storage": _storage_json(report.storage),
        "devices": {d.name: {"alive": d.alive, "state": d.state, "connected": d.connected,
                             "last_error": _without_port(d.last_error, _port_spellings(d.port))}
                    for d in report.devices},
        "mqtt": {"enabled": report.mqtt_enabled, "connected": report.mqtt_connected},
        "ils": _ils_json(report.ils, configuration=False),
    }


AUTH_ERRORS = error_responses(401, 403, 500)
"""What every route that needs a token may answer besides its own results."""


def _operations_router(view: DaemonView) -> APIRouter:
    router = APIRouter(tags=["operations"])
    registry = metrics_registry(view)

    @router.get("/api/v1/health", response_model=Health,
                responses={200: {"model": Health}, **error_responses(500),
                           503: {"model": Health,
                                 "description": "a loop is stuck, storage is down or a reader "
                                                "is unreachable (``problems`` says which)"}})
    async def health() -> JSONResponse:
        """200 while storage and every configured reader supervisor are alive and every reader
        is reachable, else 503."""
        report = view.health()
        return JSONResponse(_health_json(report), status_code=200 if report.healthy else 503)

    @router.get("/metrics", response_class=Response, responses={
        200: {"description": "Prometheus text exposition format",
              "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}},
        **AUTH_ERRORS})
    async def metrics(
            _: Annotated[Principal | None, Depends(require("admin", loopback=True))],
    ) -> Response:
        """Prometheus text exposition format. Needs no token from a loopback address (a
        collector on the box); from elsewhere, the admin role."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _devices_router(view: DaemonView) -> APIRouter:
    router = APIRouter(tags=["devices"], responses=AUTH_ERRORS)

    @router.get("/api/v1/devices", response_model=Devices)
    async def devices(who: Annotated[Principal | None, Depends(require(*ANY_ROLE))],
                      ) -> dict[str, Any]:
        """Every configured reader: state, identity and cumulative health counters; and the
        link to the ILS (``ils``), the other device a circulation depends on. A kiosk token
        bound to a pad sees that pad only (and ``ils``): not the other pads' tag counts. A
        reader's port and the ILS's host and port are shown to staff and admin only: kiosk and
        gate tokens get ``port`` null and ``<port>`` in their place in ``last_error``."""
        pad = who.pad if who is not None else None
        configuration = who is not None and who.role in SEE_CONFIGURATION
        return {"devices": [_device_json(d, configuration=configuration)
                            for d in view.devices() if pad is None or d.name == pad],
                "ils": _ils_json(view.ils(), configuration=configuration)}

    return router


def create_app(view: DaemonView, *, tokens: TokenBook | None = None,
               version: str = "0", demo: DemoControls | None = None,
               allowed_hosts: Iterable[str] = ()) -> FastAPI:
    """A new app serving ``view``, admitting ``tokens``; one metrics registry per app. The
    web pages are served too (``pages``); the demo's routes only when ``demo`` is given
    (``libedge demo``). ``allowed_hosts``: the names besides IP addresses, ``localhost`` and
    this machine's own that a request's Host may name (``guard``)."""
    app = FastAPI(title="LibEdge local API", version=version, docs_url=None, redoc_url=None,
                  description="Health, devices, live events and metrics of one LibEdge box. "
                              "Every endpoint but health and these docs needs a role token "
                              "(`Authorization: Bearer <token>`). A request whose `Host` is "
                              "no IP address, `localhost`, the box's own name or a name in "
                              "its `[api] allowed_hosts` is answered 421 `unknown_host`.",
                  # RequestGuard answers these before any route: every operation may.
                  responses=error_responses(413, 421))
    app.state.tokens = tokens
    app.state.event_streams = streams = EventStreams(view.live)
    install_error_handlers(app)
    app.include_router(_operations_router(view))
    app.include_router(_devices_router(view))
    app.include_router(events_router(streams))
    app.include_router(kiosk_router(view))
    app.include_router(staff_router(view))
    app.include_router(gate_router(view))
    app.include_router(services_router(view))
    if demo is not None:
        app.include_router(demo_router(demo))
    install_pages(app, demo=demo is not None)
    _install_docs(app)
    # Outermost: checks every Host, bounds every body, heads every answer.
    app.add_middleware(RequestGuard, allowed_hosts=tuple(allowed_hosts))
    return app


DOCS_ASSETS = "/docs/assets"


def _install_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` with its script and style from the box itself."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")
