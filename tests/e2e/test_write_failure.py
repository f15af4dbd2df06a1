# SPDX-License-Identifier: Apache-2.0
"""A tag that will not take its security write, in the middle of a stack, end to end.

The pad's scenario locks one tag's AFI for good (every WRITE AFI, ISO 15693 command 27, answers
error 12 "locked") and another's once. The kiosk asks the patron to put each back and tries
again: the second goes through; the first needs staff after ``put_back_attempts`` and, when the
session ends, its checkout is undone in the ILS (through the gateway) and a ``write_failed``
exception reaches staff over MQTT. The rest of the stack is not held up, and no item is reported
done whose tag still says "secured".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.stack import CHARGED, in_seq_order, items_of, running_stack
from tests.ils.helpers import PINS, SOREN
from tests.workflows.rig import catalog_tag, catalog_uid

STACK = [f"50123456{n:02d}" for n in range(10, 16)]
LOCKED = STACK[2]        # its AFI is locked: every write refused
LOCKED_ONCE = STACK[4]   # refused once, then fine (the patron put it back)
WRITE_AFI = "27"
CHECKOUT = "lib.circ.checkout.v1"


def locked_afi(barcode: str, **limits: Any) -> dict[str, Any]:
    return {"at": 0, "fault": {"kind": "locked_block", "uid": str(catalog_uid(barcode)),
                               "command": WRITE_AFI, **limits}}


def test_a_tag_refusing_its_write_mid_stack_is_undone_and_reported(tmp_path: Path) -> None:
    scenario = {"tags": [catalog_tag(b) for b in STACK],
                "events": [locked_afi(LOCKED), locked_afi(LOCKED_ONCE, count=1)]}
    with running_stack(tmp_path, pad=scenario,
                       selfcheck="put_back_attempts = 2\n") as stack:
        stack.wait_pad(len(STACK))
        session = stack.open_session(SOREN, PINS[SOREN])
        settled = stack.wait_session(
            session["id"], lambda s: s["counts"].get("done") == 5
            and s["counts"].get("needs_staff") == 1, "five done and one for staff")
        by_item = {i["primary_item_id"]: i for i in settled["items"]}
        assert by_item[LOCKED]["message"] == "Please take this item to the staff desk"
        assert by_item[LOCKED]["due"] is not None   # the ILS had lent it: undone at the end
        receipt = stack.end_session(session["id"])
        assert "Checked out: 5 item(s)" in receipt["text"]
        assert [i["primary_item_id"] for i in receipt["not_processed"]] == [LOCKED]

        events = stack.tap.wait_events(
            lambda es: len(items_of(es, CHECKOUT)) == 5
            and len(items_of(es, "lib.exception.v1")) == 1,
            "five checkouts and one write_failed exception")
        queue = stack.exceptions()
        stack.stop_daemon()
        afis = stack.pad_afis()
        journal = {r["data"]["primary_item_id"]: r for r in stack.journal()}
        cache = {item: stack.cached(item) for item in STACK}
        ils = stack.ils_items(STACK)
        loans = stack.ils_loans(SOREN, PINS[SOREN])
        stack.assert_private(SOREN)

    done = [b for b in STACK if b != LOCKED]
    # MQTT: a checkout event for each item done, none for the locked one; its exception.
    assert in_seq_order(events)
    assert items_of(events, CHECKOUT) == done
    security = {e.data["primary_item_id"]: e.data["security"] for e in events
                if e.type == CHECKOUT}
    assert security[LOCKED_ONCE] == {"method": "afi", "verified": True, "attempts": 2,
                                     "before": "07", "after": "C2"}
    assert all(security[b]["attempts"] == 1 for b in done if b != LOCKED_ONCE)
    exception = next(e.data for e in events if e.type == "lib.exception.v1")
    assert (exception["kind"], exception["primary_item_id"]) == ("write_failed", LOCKED)
    assert exception["detail"] == "security could not be switched off; the checkout was undone"
    assert exception["uid"] == str(catalog_uid(LOCKED))
    # The ILS: the locked item was lent, then given back; the others are on loan.
    assert ils[LOCKED].circulation_status != CHARGED
    assert LOCKED not in loans
    assert all(ils[b].circulation_status == CHARGED for b in done)
    assert set(done) <= loans
    # The box's cache followed the gateway's deltas: lent, then back on the shelf, secured.
    assert {item: (row["circulation_status"], row["security_expected"])
            for item, row in cache.items() if row} == {
        **dict.fromkeys(done, ("04", 0)), LOCKED: ("03", 1)}
    # The tags: the locked one still secured, every other unsecured.
    assert afis[str(catalog_uid(LOCKED))] == "07"
    assert all(afis[str(catalog_uid(b))] == "C2" for b in done)
    # The journal and the staff queue.
    assert (journal[LOCKED]["state"], journal[LOCKED]["ended"]) == ("rolled_back", True)
    assert journal[LOCKED]["data"]["attempts"] == 2
    assert {journal[b]["state"] for b in done} == {"committed"}
    assert [(q["primary_item_id"], q["state"]) for q in queue] == [(LOCKED, "rolled_back")]
