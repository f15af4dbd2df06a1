# SPDX-License-Identifier: Apache-2.0
"""Patrons walking out through the security gate, end to end.

The library's catalogue is loaded through the gateway (``libedge gateway import``: item deltas
to the box's cache). One patron borrows an item at this box's kiosk (its tag is switched to C2
and verified); another item is lent at the staff desk of another node, by barcode, so its tag is
still secured: the gateway's delta tells the box it is on loan. A gate reader (role ``gate``) is
added by a reload; its scenario's timeline walks two patrons through it:

    t = 1.5 s  walker 1: a secured item of ours, a secured item of another library,
                         an item of ours whose tag is unsecured
    t = 4.5 s  walker 2: the item just borrowed at the kiosk (C2, as the kiosk left it),
                         the item just lent at the desk (tag still 07)

Expected: the secured item alarms (sounded) and the alarm names the item and its title; the
foreign one is reported without sounding (``[gate] foreign = "report"``); the unsecured tags
are not heard (AFI-filtered inventory); the desk loan is inside ``grace_s``: no alarm, a
``lib.security.mismatch.v1`` for staff. Checked in the events through mosquitto and in the
gate monitor's live stream (which says whether an alarm sounded; the simulated reader's outputs
themselves are not observable from outside its process).

The two simulated readers are separate RF fields: the walker's copy of the kiosk item is given
the AFI the kiosk verified (the test checks the checkout event's ``security.after`` is that AFI).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.e2e.stack import CHARGED, desk_checkout, in_seq_order, running_stack, until
from tests.ils.helpers import FOREIGN_ITEM, PINS, SOREN, ZOE
from tests.workflows.rig import catalog_tag, catalog_uid

KIOSK_ITEM = "5012345616"    # borrowed at this box's kiosk just now
DESK_ITEM = "5012345617"     # lent at the staff desk just now, by barcode
SECURED = "5012345611"       # not lent: walks out secured
UNSECURED = "5012345613"     # not lent, but its tag's security is off
TITLES = {KIOSK_ITEM: "Politikens Nudansk Ordbog", DESK_ITEM: "Atlas over Danmark",
          SECURED: "Zoë's Garden: A Field Guide", UNSECURED: "Structure and Interpretation"}
FOREIGN_OWNER = "DK-775100"
AVAILABLE = "03"
WALK_OVER_S = 7.5
"""The gate timeline's last walker has left (t = 6.0 s) and been absent for the gate's 1 s."""


SECURED_ALARM = {"uid": str(catalog_uid(SECURED)), "known": True, "primary_item_id": SECURED,
                 "owner_institution": "DK-718500", "afi": "07", "circulation_status": AVAILABLE,
                 "title": TITLES[SECURED]}
DESK_MISMATCH = {"primary_item_id": DESK_ITEM, "circulation_status": "04",
                 "security_expected": False, "remediation": "staff_alerted",
                 "owner_institution": "DK-718500", "uid": str(catalog_uid(DESK_ITEM)),
                 "observed_afi": "07"}


def subset(data: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    return {key: data.get(key) for key in like}


def walk(at: float, leave: float, *tags: dict[str, Any]) -> list[dict[str, Any]]:
    return [*({"at": at, "add": tag} for tag in tags),
            *({"at": leave, "remove": tag["uid"]} for tag in tags)]


def test_patrons_walk_through_the_gate(tmp_path: Path) -> None:
    with running_stack(tmp_path, pad=[catalog_tag(KIOSK_ITEM)],
                       gate="alarm_ms = 500\ngrace_s = 120\nforeign = \"report\"\n") as stack:
        stack.import_items([(item, title, AVAILABLE) for item, title in TITLES.items()])
        until(lambda: all(stack.cached(item) for item in TITLES), 20, "the imported items")

        stack.wait_pad(1)
        session = stack.open_session(SOREN, PINS[SOREN])
        stack.wait_session(session["id"], lambda s: s["counts"].get("done") == 1, "checked out")
        stack.end_session(session["id"])
        checkout = stack.tap.wait_events(
            lambda es: any(e.type == "lib.circ.checkout.v1" for e in es), "the checkout")[0]
        kiosk_afi = checkout.data["security"]["after"]
        assert kiosk_afi == "C2"
        assert desk_checkout(stack.tap, DESK_ITEM, ZOE, PINS[ZOE]).ok
        until(lambda: (row := stack.cached(DESK_ITEM)) is not None
              and row["circulation_status"] == "04", 20, "the desk loan in the box's cache")

        live = stack.live("gate")
        try:
            started = time.monotonic()
            stack.add_reader("gate-1", "gate", {"tags": [], "events": [
                *walk(1.5, 3.0, catalog_tag(SECURED),
                      catalog_tag(FOREIGN_ITEM, owner=FOREIGN_OWNER),
                      catalog_tag(UNSECURED, afi=0xC2)),
                *walk(4.5, 6.0, catalog_tag(KIOSK_ITEM, afi=int(kiosk_afi, 16)),
                      catalog_tag(DESK_ITEM))]})
            stack.tap.wait_events(lambda es: any(e.type == "lib.security.mismatch.v1"
                                                 for e in es), "the desk item's mismatch")
            until(lambda: time.monotonic() - started > WALK_OVER_S, WALK_OVER_S + 1,
                  "the walkers to have left")
            # Acknowledged events stay in the outbox until their deferred DELETE (up to 30 s):
            # delivered means every one still there arrived at central.
            until(lambda: stack.outbox_ids() <= {e.id for e in stack.tap.events(None)}, 10,
                  "every event delivered")
            events = stack.tap.events()
            shown = live.of("gate.alarm")
        finally:
            live.close()
        stack.stop_daemon()
        ils = stack.ils_items([KIOSK_ITEM, DESK_ITEM, SECURED, UNSECURED])
        stack.assert_private(SOREN, ZOE)

    assert in_seq_order(events)
    gate_events = [e for e in events if e.type.startswith(("lib.gate", "lib.security"))]
    alarms = {e.data["foreign"]: e.data for e in gate_events if e.type == "lib.gate.alarm.v1"}
    assert len(alarms) == len([e for e in gate_events if e.type == "lib.gate.alarm.v1"]) == 2
    ours, foreign = alarms[False], alarms[True]
    assert (ours["gate"], ours["direction"]) == ("gate-1", "unknown")
    assert [subset(i, SECURED_ALARM) for i in ours["items"]] == [SECURED_ALARM]
    assert [(i["primary_item_id"], i["owner_institution"], i["afi"]) for i in foreign["items"]
            ] == [(FOREIGN_ITEM, FOREIGN_OWNER, "07")]
    mismatches = [e.data for e in gate_events if e.type == "lib.security.mismatch.v1"]
    assert [subset(m, DESK_MISMATCH) for m in mismatches] == [DESK_MISMATCH]
    # Nothing at the gate named the kiosk item or the unsecured one.
    named = {i["primary_item_id"] for a in alarms.values() for i in a["items"]}
    assert not named & {KIOSK_ITEM, UNSECURED, DESK_ITEM}
    # What the gate monitor showed: ours sounded, the foreign one did not.
    assert sorted((a["foreign"], a["sounded"]) for a in shown) == [(False, True), (True, False)]
    assert ils[KIOSK_ITEM].circulation_status == ils[DESK_ITEM].circulation_status == CHARGED
    assert ils[SECURED].circulation_status != CHARGED
