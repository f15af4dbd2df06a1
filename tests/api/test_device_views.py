# SPDX-License-Identifier: Apache-2.0
"""What each role sees of the readers, through the whole daemon (`libedge run`, a subprocess):
a simulated FEIG pad on a real pty, a reader whose device is absent and a LAN reader nobody
answers. A reader's port (device path, ``socket://`` address) is configuration: staff and admin
see it, in ``port`` and in the reader's errors; kiosk and gate tokens, and health (no token), see
neither. Each answer is checked against the OpenAPI document the daemon serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
