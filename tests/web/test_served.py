# SPDX-License-Identifier: Apache-2.0
"""How the daemon serves the pages (real uvicorn through the daemon's ApiServer, plain HTTP):
from the package, with their security headers, no token needed to load them, none of them in
the OpenAPI document; and the demo's routes exist only in an app built with demo controls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_service.api import TokenBook, create_app
from edge_service.api.pages import PAGE_HEADERS, PAGES
from edge_service.api.tokens import create_tokens_file
from edge_service.config import Config
from edge_service.daemon import Daemon
from edge_service.demo import DemoProps, Prop
from tests.api.helpers import error_of, make_app, serve, tokens_of


def test_every_page_is_served_with_its_headers_and_no_token(tmp_path: Path) -> None:
    app, _, _ = make_app(tmp_path)
    with serve(app) as served:
        for path in ["/", *(f"/{page}/" for page in PAGES)]:
            status, headers, body = served.request("GET", path)
            assert status == 200, path
            assert headers["content-type"].startswith("text/html"), path
            assert b"<html" in body
            for name, value in PAGE_HEADERS.items():
                assert headers[name] == value, (path, name)
            assert b"http://" not in body   # nothing from elsewhere
            assert b"https://" not in body
        status, headers, _ = served.request("GET", "/kiosk")
        assert status == 307
        assert headers["location"].endswith("/kiosk/")
        status, headers, body = served.request("GET", "/assets/i18n/da.json")
        assert status == 200
        assert json.loads(body)["kiosk.welcome.title"] == "Velkommen"
        status, _, body = served.request("GET", "/pages/about.json")
        assert status == 200
        assert json.loads(body)["languages"] == ["en", "da"]
        assert json.loads(body)["demo"] is False   # the staff page asks for no demo controls


def test_a_missing_page_file_answers_the_api_error_shape(tmp_path: Path) -> None:
    app, _, _ = make_app(tmp_path)
    with serve(app) as served:
        status, _, body = served.request("GET", "/kiosk/no-such-file.js")
    assert status == 404
    assert error_of(body)["code"] == "not_found"


def test_pages_are_not_in_the_openapi_document(tmp_path: Path) -> None:
    app, _, _ = make_app(tmp_path)
    paths = app.openapi()["paths"]
    assert not [p for p in paths if not p.startswith(("/api/", "/metrics"))]


def test_a_production_app_has_no_demo_routes(tmp_path: Path) -> None:
    app, _, tokens = make_app(tmp_path)
    with serve(app) as served:
        status, _, body = served.request("GET", "/api/v1/demo", token=tokens["admin"])
        assert status == 404
        assert error_of(body)["code"] == "not_found"
        status, _, _ = served.request("POST", "/api/v1/demo/objects/book-1/place",
                                      token=tokens["admin"], body=b'{"place": "pad"}')
        assert status == 404
    assert not [p for p in app.openapi()["paths"] if "demo" in p]


def demo_app(tmp_path: Path) -> tuple[Any, DemoProps, dict[str, str]]:
    path = tmp_path / "api-tokens"
    create_tokens_file(path)
    props = DemoProps([Prop("book-1", "book", "A book (1)", "1", "A book", ())])
    app = create_app(Daemon(Config(), environ={}), tokens=TokenBook.load(path), demo=props)
    return app, props, tokens_of(path)


def test_the_demo_says_so_to_the_pages(tmp_path: Path) -> None:
    app, _, _ = demo_app(tmp_path)
    with serve(app) as served:
        status, _, body = served.request("GET", "/pages/about.json")
    assert (status, json.loads(body)["demo"]) == (200, True)


@pytest.mark.parametrize(("role", "status"), [("staff", 200), ("admin", 200), ("kiosk", 403),
                                              ("gate", 403)])
def test_demo_routes_need_the_staff_role(tmp_path: Path, role: str, status: int) -> None:
    app, _, tokens = demo_app(tmp_path)
    with serve(app) as served:
        assert served.request("GET", "/api/v1/demo", token=tokens[role])[0] == status


def test_demo_routes_refuse_bad_input_by_name(tmp_path: Path) -> None:
    app, props, tokens = demo_app(tmp_path)
    headers = {"Content-Type": "application/json"}
    with serve(app) as served:
        status, _, body = served.request("POST", "/api/v1/demo/objects/nothing/place",
                                         token=tokens["staff"], headers=headers,
                                         body=b'{"place": "pad"}')
        assert (status, error_of(body)["code"]) == (404, "not_found")
        assert "nothing" in error_of(body)["message"]
        status, _, body = served.request("POST", "/api/v1/demo/objects/book-1/place",
                                         token=tokens["staff"], headers=headers,
                                         body=b'{"place": "moon"}')
        assert (status, error_of(body)["field"]) == (422, "body.place")
        status, _, body = served.request("POST", "/api/v1/demo/objects/book-1/place",
                                         token=tokens["staff"], headers=headers,
                                         body=b'{"place": "staff"}')
        assert status == 200
        assert json.loads(body)["place"] == "staff"
    assert props.prop("book-1").place == "staff"
