# SPDX-License-Identifier: Apache-2.0
"""Role checks through the real server: the matrix walks every operation of the OpenAPI
document with every role, so a route added later is checked by its own declaration, and one
added without a declaration fails here unless it is deliberately open."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_service.api import ROLES, create_app, operation_roles
from edge_service.config import Config
from edge_service.daemon import Daemon
from tests.api.helpers import REMOTE, Served, error_of, make_app, serve

OPEN_OPERATIONS = {("GET", "/api/v1/health")}
"""The only operations that need no token (besides /docs and /openapi.json)."""
STREAM = "/api/v1/events/stream"
WRONG = "x" * 43


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str],
                                                                     dict[str, Any]]]:
    app, _, tokens = make_app(tmp_path_factory.mktemp("auth"))
    with serve(app) as server:
        yield server, tokens, app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def concrete(path: str) -> str:
    """A path template with every parameter filled (the check runs before any look-up)."""
    return path.replace("{", "").replace("}", "")


def call(server: Served, method: str, path: str, operation: dict[str, Any], *,
         headers: dict[str, str], query: str = "") -> tuple[int, dict[str, str], bytes]:
    """Status, headers and (for a non-stream answer) body; a stream is left after its headers."""
    body = b"{}" if "requestBody" in operation else None
    all_headers = {**REMOTE, **headers}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    connection = server.connection()
    try:
        connection.request(method, concrete(path) + query, body=body, headers=all_headers)
        response = connection.getresponse()
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.status, dict(response.headers), b""
        return response.status, dict(response.headers), response.read()
    finally:
        connection.close()


def test_every_operation_but_health_declares_roles(
        served: tuple[Served, dict[str, str], dict[str, Any]]) -> None:
    _, _, document = served
    seen = set()
    for method, path, operation in operations(document):
        seen.add((method, path))
        roles = operation_roles(operation)
        if (method, path) in OPEN_OPERATIONS:
            assert roles is None, (method, path)
            continue
        assert roles, f"{method} {path} declares no roles: add Depends(require(...))"
        assert "admin" in roles
        assert roles <= set(ROLES)
        for status in ("401", "403", "500"):
            assert status in operation["responses"], (method, path, status)
    assert {("GET", "/api/v1/devices"), ("GET", STREAM), ("GET", "/metrics")} <= seen


def test_role_matrix(served: tuple[Served, dict[str, str], dict[str, Any]]) -> None:
    server, tokens, document = served
    checked = 0
    for method, path, operation in operations(document):
        roles = operation_roles(operation)
        if roles is None:
            continue
        where = f"{method} {path}"

        status, headers, body = call(server, method, path, operation, headers={})
        assert status == 401, where
        assert headers["www-authenticate"] == "Bearer", where
        assert error_of(body)["code"] == "unauthorized", where

        status, headers, body = call(server, method, path, operation,
                                     headers={"Authorization": f"Bearer {WRONG}"})
        assert status == 401, where
        assert headers["www-authenticate"] == 'Bearer error="invalid_token"', where
        assert error_of(body)["message"] == "unknown token"

        for role in ROLES:
            status, _, body = call(server, method, path, operation,
                                   headers={"Authorization": f"Bearer {tokens[role]}"})
            if role in roles:
                assert status not in (401, 403), (where, role, body)
            else:
                assert status == 403, (where, role)
                error = error_of(body)
                assert error["code"] == "forbidden"
                needed = " or ".join(r for r in ROLES if r in roles)
                assert error["message"] == (f"this endpoint needs the {needed} role; "
                                            f"the token has the {role} role")
            checked += 1
    assert checked >= 3 * len(ROLES)


def test_query_token_only_opens_the_event_stream(
        served: tuple[Served, dict[str, str], dict[str, Any]]) -> None:
    server, tokens, document = served
    for method, path, operation in operations(document):
        if operation_roles(operation) is None:
            continue
        status, _, _ = call(server, method, path, operation, headers={},
                            query=f"?token={tokens['admin']}")
        assert (status == 200) == (path == STREAM), (method, path, status)
    # On the stream, the header wins over the query parameter.
    status, _, body = call(server, "GET", STREAM, {}, query=f"?token={tokens['kiosk']}",
                           headers={"Authorization": f"Bearer {WRONG}"})
    assert status == 401
    assert error_of(body)["message"] == "unknown token"


def test_authorization_header_must_be_bearer(
        served: tuple[Served, dict[str, str], dict[str, Any]]) -> None:
    server, tokens, _ = served
    for value in (f"Basic {tokens['admin']}", tokens["admin"], "Bearer"):
        status, headers, body = server.request("GET", "/api/v1/devices",
                                               headers={**REMOTE, "Authorization": value})
        assert status == 401, value
        assert headers["www-authenticate"] == "Bearer"
        assert error_of(body)["message"] == "the Authorization header must be 'Bearer <token>'"


def test_metrics_open_on_loopback_admin_elsewhere(
        served: tuple[Served, dict[str, str], dict[str, Any]]) -> None:
    server, tokens, _ = served
    status, headers, body = server.request("GET", "/metrics")   # from 127.0.0.1
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert b"libedge_store_commits_total" in body
    assert server.request("GET", "/metrics", headers=REMOTE)[0] == 401
    assert server.request("GET", "/metrics", headers=REMOTE, token=tokens["staff"])[0] == 403
    assert server.request("GET", "/metrics", headers=REMOTE, token=tokens["admin"])[0] == 200
    # Loopback opens /metrics only: devices still needs a token from 127.0.0.1.
    assert server.request("GET", "/api/v1/devices")[0] == 401
    # A wrong token is refused even from loopback: a token sent is a token checked.
    assert server.request("GET", "/metrics", token=WRONG)[0] == 401


def test_health_docs_and_openapi_need_no_token(
        served: tuple[Served, dict[str, str], dict[str, Any]]) -> None:
    server, tokens, _ = served
    status, health = server.get_json("/api/v1/health", headers=REMOTE)
    assert status == 503   # an unstarted daemon: storage not open
    assert health["status"] == "unhealthy"
    assert health["storage"]["heartbeat_age_s"] is None   # never beat: null, not Infinity
    assert server.request("GET", "/docs", headers=REMOTE)[0] == 200
    status, _, body = server.request("GET", "/openapi.json", headers=REMOTE)
    assert status == 200
    assert json.loads(body)["components"]["securitySchemes"]["roleToken"]["scheme"] == "bearer"
    status, devices = server.get_json("/api/v1/devices", headers=REMOTE,
                                      token=tokens["kiosk"])
    assert (status, devices) == (200, {"devices": [], "ils": None})


def test_app_without_tokens_refuses_every_token(tmp_path: Path) -> None:
    with serve(create_app(Daemon(Config(), environ={}))) as server:
        status, _, body = server.request("GET", "/api/v1/devices", token="A" * 43)
        assert status == 401
        assert error_of(body)["message"] == "unknown token"
        assert server.request("GET", "/api/v1/health")[0] == 503
