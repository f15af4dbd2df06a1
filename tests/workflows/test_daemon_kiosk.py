# SPDX-License-Identifier: Apache-2.0
"""The kiosk through the whole daemon: `libedge run` (a subprocess) with a simulated pad on a
pty (`libedge sim reader`) and the ILS simulator over SIP2 (`libedge sim ils`), driven over HTTP
with a kiosk token as the kiosk page would; the result is checked in the daemon's SQLite file
(outbox events, journal) and on the ILS (item information over SIP2)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.daemon.harness import (
    api_base,
    api_token,
    get_json,
    notify_socket,
    send_json,
    simulated_reader,
    start_daemon,
    stop,
)
from tests.daemon.test_circulation import direct_mode, ils_simulator, ils_until
from tests.ils.helpers import PINS, SOREN
from tests.workflows.rig import catalog_tag

BOOKS = ["5012345605", "5012345606", "5012345607"]


def _events(db: Path, type_: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT payload FROM outbox ORDER BY id").fetchall()
    return [e for e in (json.loads(r[0]) for r in rows) if e["type"] == type_]


def _until(probe: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while (value := probe()) is None or value is False:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_a_patron_checks_out_a_stack_over_http(tmp_path: Path) -> None:
    scenario = {"tags": [catalog_tag(b) for b in BOOKS]}
    with (ils_simulator() as sip2_port,
          simulated_reader(tmp_path, "feig", "pad", scenario) as pad,
          notify_socket(tmp_path / "notify") as notes):
        config = direct_mode(tmp_path, sip2_port)
        config.write_text(config.read_text() + (
            '\n[library]\nisil = "DK-718500"\n\n[selfcheck]\nset_wait_ms = 200\n\n'
            f'[[readers]]\nname = "pad"\nprotocol = "feig"\nport = "{pad}"\nrole = "pad"\n'))
        daemon = start_daemon(config, tmp_path / "daemon.log",
                              NOTIFY_SOCKET=notes.address)
        try:
            ready = notes.wait_for(lambda f: f.get("READY") == "1", 20.0)
            base = api_base(ready)
            kiosk = api_token(tmp_path, "kiosk")
            ils_until(base, "connected", kiosk)
            _until(lambda: len(get_json(f"{base}/api/v1/pad", kiosk)[1]["items"]) == 3, 10.0,
                   "the stack on the pad")

            status, wrong = send_json(f"{base}/api/v1/sessions",
                                      {"patron": SOREN, "pin": "0000"}, kiosk)
            assert (status, wrong["error"]["code"]) == (403, "pin_wrong")
            status, session = send_json(f"{base}/api/v1/sessions",
                                        {"patron": SOREN, "pin": PINS[SOREN]}, kiosk)
            assert status == 201, session
            assert SOREN not in json.dumps(session)
            url = f"{base}/api/v1/sessions/{session['id']}"
            done = _until(lambda: (s := get_json(url, kiosk)[1])["counts"].get("done") == 3
                          and s, 15.0, "three items done")
            assert all(i["state"] == "done" and i["due"] for i in done["items"])
            status, refused = get_json(f"{base}/api/v1/exceptions", kiosk)
            assert (status, refused["error"]["code"]) == (403, "forbidden")
            status, receipt = send_json(f"{url}/end", {}, kiosk)
            assert status == 200
            assert "Checked out: 3 item(s)" in receipt["text"]

            events = _events(tmp_path / "libedge.db", "lib.circ.checkout.v1")
            assert sorted(e["data"]["primary_item_id"] for e in events) == BOOKS
            assert all(e["data"]["security"]["after"] == "C2" for e in events)
            admin = api_token(tmp_path, "admin")
            status, queue = get_json(f"{base}/api/v1/exceptions", admin)
            assert (status, queue) == (200, {"exceptions": []})
        finally:
            assert stop(daemon) == 0
