# SPDX-License-Identifier: Apache-2.0
"""What the whole API promises about any request, through the real server: bodies are
bounded before a token is checked (a client with no token cannot make the box hold a large
body), every answer carries the security headers, and whose X-Forwarded-For is believed does
not depend on the environment."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_service.api import guard
from edge_service.api.server import ApiServer
from tests.api.helpers import REMOTE, Served, error_of, make_app, serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    app, _, tokens = make_app(tmp_path_factory.mktemp("guard"))
    with serve(app) as server:
        yield server, tokens


def test_a_declared_body_over_the_bound_is_refused_unread(
        served: tuple[Served, dict[str, str]]) -> None:
    server, _ = served
    connection = server.connection()
    try:
        # Only the headers are sent: the answer must come without the body being read.
        connection.putrequest("POST", "/api/v1/sessions")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(guard.MAX_BODY_BYTES + 1))
        connection.endheaders()
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()
    assert status == 413
    assert error_of(body) == {"code": "too_large", "field": None,
                              "message": "the request body is larger than 8 MiB"}


def test_a_chunked_body_is_refused_once_it_passes_the_bound(
        served: tuple[Served, dict[str, str]]) -> None:
    server, tokens = served
    chunk = b"[" * 65536

    def chunks() -> Iterator[bytes]:
        for _ in range(guard.MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    connection = server.connection(timeout_s=30)
    try:
        connection.request("POST", "/api/v1/staff/desk/program", body=chunks(),
                           headers={"Authorization": f"Bearer {tokens['staff']}",
                                    "Content-Type": "application/json"},
                           encode_chunked=True)
        response = connection.getresponse()
        status, body = response.status, response.read()
    except (BrokenPipeError, ConnectionResetError):
        pytest.fail("the server closed the connection instead of answering 413")
    finally:
        connection.close()
    assert status == 413, body
    assert error_of(body)["code"] == "too_large"


def test_a_body_within_the_bound_is_parsed_as_before(
        served: tuple[Served, dict[str, str]]) -> None:
    server, tokens = served
    status, _, body = server.request("POST", "/api/v1/staff/desk/program",
                                     token=tokens["staff"], body=b"{}",
                                     headers={"Content-Type": "application/json"})
    assert status == 422   # the body's fields are checked: the bound let it through
    assert error_of(body)["code"] == "invalid_request"


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/devices", "/docs",
                                  "/openapi.json", "/api/v1/nowhere", "/kiosk/"])
def test_every_answer_carries_the_security_headers(
        served: tuple[Served, dict[str, str]], path: str) -> None:
    server, tokens = served
    _, headers, _ = server.request("GET", path, token=tokens["staff"], headers=REMOTE)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert len(headers.get_all("content-security-policy") or []) == 1   # the pages' own kept
    if path.startswith("/api/"):
        assert headers["cache-control"] == "no-store"


def test_forwarded_for_is_believed_from_the_box_only_whatever_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # uvicorn's default reads $FORWARDED_ALLOW_IPS; '*' there would let any client claim a
    # loopback address and read /metrics without a token.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    app, _, _ = make_app(tmp_path)

    async def trusted() -> list[str] | str:
        server = ApiServer(app, "127.0.0.1", 0)
        await server.start()
        try:
            assert server._server is not None
            return server._server.config.forwarded_allow_ips
        finally:
            await server.stop()

    assert asyncio.run(trusted()) == ["127.0.0.1", "::1"]

