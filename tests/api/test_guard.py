# SPDX-License-Identifier: Apache-2.0
"""What the whole API promises about any request, through the real server: a request naming a
host that is not the box is refused (DNS rebinding), bodies are bounded before a token is
checked (a client with no token cannot make the box hold a large body), every answer carries
the security headers, and whose X-Forwarded-For is believed does not depend on the
environment. The daemon (`libedge run`) passes its ``[api] allowed_hosts`` to the check."""

from __future__ import annotations

import asyncio
import http.client
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_service.api import guard
from edge_service.api.server import ApiServer
from tests.api.helpers import REMOTE, Served, error_of, make_app, serve
from tests.daemon.harness import api_base, notify_socket, start_daemon, stop, write_config


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


def test_every_operation_documents_the_guard_s_refusals(tmp_path: Path) -> None:
    # The guard answers before any route, so each operation may answer these: undocumented,
    # schemathesis fails whenever it happens to generate a body over the bound.
    app, _, _ = make_app(tmp_path)
    schema = app.openapi()
    missing = [f"{method.upper()} {path}: {status}"
               for path, methods in schema["paths"].items()
               for method, operation in methods.items()
               for status in ("413", "421")
               if operation["responses"].get(status, {}).get("content", {})
               .get("application/json", {}).get("schema")
               != {"$ref": "#/components/schemas/ErrorResponse"}]
    assert not missing


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


# --- the Host a request names -----------------------------------------------------------------

REBOUND = ["evil.example", "evil.example:8080", "127.0.0.1.nip.io", "localhost.evil.example",
           "2130706433", "[not-an-address]", ""]
"""Hosts a page from elsewhere could have a browser send: its own name (resolved to this box
by the attacker's DNS), a name that merely starts like an address or ``localhost``, an
address spelt as a number (no browser sends one: it writes 127.0.0.1), an empty one."""


@pytest.mark.parametrize("host", REBOUND)
@pytest.mark.parametrize("path", ["/metrics", "/api/v1/health", "/kiosk/", "/openapi.json"])
def test_a_request_naming_another_host_is_refused_before_anything(
        served: tuple[Served, dict[str, str]], host: str, path: str) -> None:
    server, _ = served
    # /metrics needs no token from the box itself: what a rebinding page would read.
    status, headers, body = server.request("GET", path, headers={"Host": host})
    assert status == 421, body
    error = error_of(body)
    assert error["code"] == "unknown_host"
    assert error["message"] == (f"this box does not answer to the host {host!r} (the "
                                "request's Host header); if the box is reached by that name, "
                                "add it to [api] allowed_hosts")
    assert headers["x-frame-options"] == "DENY"                 # a refusal is headed too
    if path.startswith("/api/"):
        assert headers["cache-control"] == "no-store"


def test_a_long_refused_host_is_shown_shortened(served: tuple[Served, dict[str, str]]) -> None:
    server, _ = served
    status, _, body = server.request("GET", "/metrics", headers={"Host": "a" * 300 + ".example"})
    assert status == 421
    assert f"the host {'a' * guard.SHOWN_HOST_CHARS + '...'!r} (the request's" in (
        error_of(body)["message"])


def machine_hosts() -> list[str]:
    name = socket.gethostname()
    label = name.partition(".")[0]
    return [name, f"{name}:8080", label.upper(), f"{label}.local", f"{label}.local.:8080"]


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.0.0.1:8080", "192.0.2.7", "[::1]", "[::1]:8080", "::1",
    "[fe80::1%25eth0]:8080", "localhost", "LOCALHOST:8080", "localhost.", *machine_hosts()])
def test_addresses_localhost_and_this_machine_s_names_are_answered(
        served: tuple[Served, dict[str, str]], host: str) -> None:
    server, _ = served
    status, _, body = server.request("GET", "/metrics", headers={"Host": host})
    assert status == 200, body


def test_a_request_without_a_host_is_answered(served: tuple[Served, dict[str, str]]) -> None:
    # HTTP/1.0 needs none, and a browser always sends one: no page can be behind it.
    server, _ = served
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"200", status_line


def test_names_the_app_was_given_are_answered_and_no_others(tmp_path: Path) -> None:
    app, _, _ = make_app(tmp_path, allowed_hosts=("Kiosk.Library.LAN", "staff-1.library.lan."))
    with serve(app) as server:
        for host in ("kiosk.library.lan", "KIOSK.library.lan:8080", "kiosk.library.lan.",
                     "staff-1.library.lan:80"):
            assert server.request("GET", "/metrics", headers={"Host": host})[0] == 200, host
        for host in ("library.lan", "other.library.lan", "kiosk.library.lan.evil.example"):
            assert server.request("GET", "/metrics", headers={"Host": host})[0] == 421, host


def test_a_refused_host_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """After an upgrade a kiosk opened by a name the box does not know got 421 and the journal
    said nothing. Found by a review. Each refused host is logged once, and only so many."""
    monkeypatch.setattr(guard, "LOGGED_REFUSED_HOSTS", 2)
    app, _, _ = make_app(tmp_path)
    with caplog.at_level(logging.WARNING, logger=guard.__name__), serve(app) as server:
        for host in ("kiosk.lan", "KIOSK.lan:8080", "kiosk.lan", "desk.lan", "third.lan"):
            assert server.request("GET", "/kiosk/", headers={"Host": host})[0] == 421
    logged = [r.getMessage() for r in caplog.records if r.name == guard.__name__]
    assert logged == [f"refused a request for host {name!r}: not a name of this box; if the "
                      "box is reached by that name, add it to [api] allowed_hosts"
                      for name in ("kiosk.lan", "desk.lan")]


def test_the_daemon_answers_the_names_of_its_allowed_hosts(tmp_path: Path) -> None:
    config = write_config(tmp_path / "libedge.toml", [], db=tmp_path / "libedge.db")
    with notify_socket(tmp_path / "notify") as notify:
        daemon = start_daemon(config, tmp_path / "stderr.log", NOTIFY_SOCKET=notify.address,
                              LIBEDGE_API_ALLOWED_HOSTS="kiosk.library.lan, desk.library.lan")
        try:
            base = api_base(notify.wait_for(lambda f: f.get("READY") == "1", 15))
            address, port = base.removeprefix("http://").split(":")

            def status_for(host: str) -> int:
                connection = http.client.HTTPConnection(address, int(port), timeout=5)
                try:
                    connection.request("GET", "/metrics", headers={"Host": host})
                    return connection.getresponse().status
                finally:
                    connection.close()

            assert status_for("desk.library.lan:8080") == 200
            assert status_for("kiosk.library.lan") == 200
            assert status_for(f"127.0.0.1:{port}") == 200
            assert status_for("evil.example") == 421
        finally:
            assert stop(daemon) == 0
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()


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

