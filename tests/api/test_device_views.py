# SPDX-License-Identifier: Apache-2.0
"""What each role sees of the readers and of the ILS link, through the whole daemon (`libedge
run`, a subprocess): a simulated FEIG pad on a real pty, a reader whose device is absent and a
LAN reader nobody answers; a direct SIP2 ILS on a port where nothing listens. A reader's port
(device path, ``socket://`` address) and the ILS's host and port are configuration: staff and
admin see them, in ``port`` and in the errors; kiosk and gate tokens, and health (no token), see
neither. Each answer is checked against the OpenAPI document the daemon serves."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.daemon.harness import (
    api_base,
    api_token,
    get_json,
    notify_socket,
    simulated_reader,
    start_daemon,
    stop,
    write_config,
)
from tests.daemon.test_circulation import LINK_WAIT_S, direct_mode
from tests.gateway.broker import free_port

LAN_HOST = "127.0.0.1"
LAN_READER = f"socket://{LAN_HOST}:9"
"""The discard port, where nothing listens: the connection is refused."""


def response_schema(document: dict[str, Any], path: str, status: str) -> Draft202012Validator:
    """A validator for the JSON body of ``GET path`` answering ``status``, per ``document``."""
    schema = (document["paths"][path]["get"]["responses"][status]["content"]
              ["application/json"]["schema"])
    return Draft202012Validator({**schema, "components": document["components"]})


def test_kiosk_and_gate_tokens_and_health_never_see_a_readers_port(tmp_path: Path) -> None:
    """Every role saw every reader's device path or LAN address, in ``port`` and inside
    ``last_error``; health (no token) showed it in ``last_error``. Found by a review."""
    absent = str(tmp_path / "no-such-tty")
    with (simulated_reader(tmp_path, "feig", "feig-pad", {"tags": []}) as pad_port,
          notify_socket(tmp_path / "notify") as notes):
        config = write_config(tmp_path / "libedge.toml", [
            {"name": "pad", "protocol": "feig", "port": pad_port},
            {"name": "gone", "protocol": "feig", "port": absent},
            {"name": "lan", "protocol": "feig", "port": LAN_READER}], db=tmp_path / "libedge.db")
        daemon = start_daemon(config, tmp_path / "daemon.log", NOTIFY_SOCKET=notes.address)
        try:
            base = api_base(notes.wait_for(lambda f: f.get("READY") == "1", 20.0))
            status, document = get_json(f"{base}/openapi.json")
            assert status == 200
            devices_schema = response_schema(document, "/api/v1/devices", "200")
            ports = {"pad": pad_port, "gone": absent, "lan": LAN_READER}

            for role in ("kiosk", "gate"):
                status, body = get_json(f"{base}/api/v1/devices", api_token(tmp_path, role))
                assert status == 200, body
                devices_schema.validate(body)
                by_name = {d["name"]: d for d in body["devices"]}
                assert sorted(by_name) == ["gone", "lan", "pad"]
                assert {d["port"] for d in body["devices"]} == {None}
                assert (by_name["gone"]["state"], by_name["lan"]["state"]) == (
                    "unreachable", "unreachable")
                assert by_name["gone"]["last_error"].startswith("cannot open: <port>")
                assert "<port>" in by_name["lan"]["last_error"]
                text = json.dumps(body)
                assert str(tmp_path) not in text, role
                assert LAN_HOST not in text, role

            for role in ("staff", "admin"):
                status, body = get_json(f"{base}/api/v1/devices", api_token(tmp_path, role))
                assert status == 200, body
                devices_schema.validate(body)
                by_name = {d["name"]: d for d in body["devices"]}
                assert {name: d["port"] for name, d in by_name.items()} == ports
                assert absent in by_name["gone"]["last_error"]
                assert LAN_READER in by_name["lan"]["last_error"]

            status, health = get_json(f"{base}/api/v1/health")
            assert status == 503, health
            response_schema(document, "/api/v1/health", "503").validate(health)
            assert health["devices"]["gone"]["last_error"].startswith("cannot open: <port>")
            text = json.dumps(health)
            assert str(tmp_path) not in text
            assert LAN_HOST not in text
        finally:
            assert stop(daemon) == 0
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_kiosk_and_gate_tokens_and_health_never_see_the_ils_address(tmp_path: Path,
                                                                     host: str) -> None:
    """The direct SIP2 link's ``last_error`` (``cannot connect to ILS generic at HOST:PORT``)
    was shown to every role in ``/api/v1/devices`` and without a token in health. Found by a
    review. Between attempts the error is the session's back-off (no address): each view is
    asked until it shows the connect error, and none may ever show the address."""
    sip2_port = free_port()   # nothing listens there: refused
    address = f"{host}:{sip2_port}"
    with notify_socket(tmp_path / "notify") as notes:
        daemon = start_daemon(direct_mode(tmp_path, sip2_port, host), tmp_path / "daemon.log",
                              NOTIFY_SOCKET=notes.address)
        try:
            base = api_base(notes.wait_for(lambda f: f.get("READY") == "1", 20.0))
            status, document = get_json(f"{base}/openapi.json")
            assert status == 200
            devices_schema = response_schema(document, "/api/v1/devices", "200")
            health_schema = response_schema(document, "/api/v1/health", "200")
            views = {role: (f"{base}/api/v1/devices", api_token(tmp_path, role))
                     for role in ("kiosk", "gate", "staff", "admin")}
            views["health"] = (f"{base}/api/v1/health", None)
            connect_error = {}
            deadline = time.monotonic() + LINK_WAIT_S
            while len(connect_error) < len(views):
                assert time.monotonic() < deadline, connect_error
                for view, (url, token) in views.items():
                    status, body = get_json(url, token)
                    assert status == 200, body
                    (health_schema if token is None else devices_schema).validate(body)
                    error = body["ils"]["last_error"] or ""
                    if view in ("staff", "admin"):
                        if address in error:
                            connect_error[view] = error
                        continue
                    text = json.dumps(body)
                    assert host not in text, (view, text)
                    assert f":{sip2_port}" not in text, (view, text)
                    if error.startswith("cannot connect to ILS"):
                        connect_error[view] = error
                time.sleep(0.1)
            for view in ("kiosk", "gate", "health"):
                assert connect_error[view].startswith(
                    "cannot connect to ILS generic at <port>: "), connect_error
            for view in ("staff", "admin"):
                assert connect_error[view].startswith(
                    f"cannot connect to ILS generic at {address}: "), connect_error
        finally:
            assert stop(daemon) == 0
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()
