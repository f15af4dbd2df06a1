# SPDX-License-Identifier: Apache-2.0
"""The gate monitor over HTTP, through the whole daemon: `libedge run` with a simulated gate
reader (`role = "gate"`) on a real pty holding a secured and an unsecured item tag. The alarm
the snapshot shows is checked against the event in the daemon's SQLite outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.daemon import daemon_with, until
from tests.daemon.harness import get_json
from tests.workflows.rig import OWNER, item_id, item_tag

SECURED = item_tag(2, afi=0x07)
ON_LOAN = item_tag(3, afi=0xC2)     # unsecured: the AFI-filtered inventory never hears it


def test_a_secured_item_at_the_gate_shows_in_its_snapshot(tmp_path: Path) -> None:
    readers = [("door", "gate", {"tags": [SECURED, ON_LOAN]})]
    with daemon_with(tmp_path, readers, extra=f'[library]\nisil = "{OWNER}"\n') as box:
        def alarmed() -> list[Any] | None:
            status, gates = get_json(f"{box.base}/api/v1/gates", box.token("gate"))
            assert status == 200, gates
            return gates if gates and gates[0]["last_alarms"] else None
        [snapshot] = until(alarmed, 10.0, "the gate's first alarm")

        assert (snapshot["gate"], snapshot["state"], snapshot["detection"],
                snapshot["outputs"]) == ("door", "connected", "afi-filter", "available")
        assert snapshot["alarms_total"] >= 1
        # The secured item's alarm (an alarm is booked once the reader acknowledged the
        # outputs, by which time a later one may be newer).
        alarm = next(a for a in snapshot["last_alarms"] if a["items"][0]["uid"] == SECURED["uid"])
        assert (alarm["gate"], alarm["sounded"], alarm["foreign"]) == ("door", True, False)
        assert alarm["outputs"] == "sounded"
        [item] = alarm["items"]
        assert (item["uid"], item["known"], item["primary_item_id"],
                item["owner_institution"], item["afi"]) == (
            SECURED["uid"], True, item_id(2), OWNER, "07")
        assert snapshot["counts"]["available"] is False          # no light barriers
        assert snapshot["counters"]["alarms"] == snapshot["alarms_total"]

        # The screen hears of the alarm first; its event commits a moment later.
        events = until(lambda: box.events("lib.gate.alarm.v1") or None, 5.0,
                       "the alarm's event")
        assert all(i["primary_item_id"] == item_id(2)              # never the unsecured one
                   for e in events for i in e["data"]["items"])

        status, one = get_json(f"{box.base}/api/v1/gates/door", box.token("staff"))
        assert status == 200, one
        assert (one["gate"], one["last_alarms"][-1]) == ("door", snapshot["last_alarms"][-1])


def test_gate_routes_refuse_unknown_gates_and_other_roles(tmp_path: Path) -> None:
    with daemon_with(tmp_path, [("door", "gate", {"tags": []})]) as box:
        status, body = get_json(f"{box.base}/api/v1/gates/back-door", box.token("gate"))
        assert (status, body["error"]["code"]) == (404, "no_gate")
        assert "back-door" in body["error"]["message"]
        status, body = get_json(f"{box.base}/api/v1/gates", box.token("kiosk"))
        assert (status, body["error"]["code"]) == (403, "forbidden")
        status, gates = get_json(f"{box.base}/api/v1/gates", box.token("admin"))
        assert status == 200
        assert [(g["gate"], g["alarms_total"], g["last_alarms"]) for g in gates] == [
            ("door", 0, [])]
