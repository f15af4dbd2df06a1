# SPDX-License-Identifier: Apache-2.0
"""The daemon killed (SIGKILL) in the middle of a patron's checkout, and the recovery.

The ILS simulator answers every SIP2 message after 1 s (``--latency-ms``), so a checkout is in
flight long enough to be interrupted: the kiosk runs the stack's ILS steps one at a time, and the
daemon is killed as soon as the first item is committed. At that moment the second item's
checkout is on its way through the gateway and the third is journaled "started" but not sent.

The gateway finishes the second one without the kiosk (the item delta on the broker shows it);
the daemon is started again on the same SQLite file and its journal recovery asks the ILS about
both open transactions: the one the ILS lent cannot be given a tag state the patron never saw,
so staff are told (``other`` exception, "needs_staff"; its tag is still secured); the other
never happened ("abandoned"). The first item's event, committed before the kill, is delivered.
"""

from __future__ import annotations

from pathlib import Path

from protocols.contract import ItemDelta, items_delta_topic
from tests.e2e.stack import (
    CHARGED,
    SITE,
    TENANT,
    Stack,
    in_seq_order,
    items_of,
    running_stack,
    until,
)
from tests.ils.helpers import PINS, SOREN
from tests.workflows.rig import catalog_tag, catalog_uid

STACK = ["5012345601", "5012345602", "5012345603"]
BOOK = "5012345604"
ILS_LATENCY_MS = 1000
CHECKOUT = "lib.circ.checkout.v1"
EXCEPTION = "lib.exception.v1"


def lent_by_the_gateway(stack: Stack) -> set[str]:
    """Items the gateway's deltas on the broker say were checked out."""
    return {item.primary_item_id
            for payload in stack.tap.payloads(items_delta_topic(TENANT, SITE))
            for item in ItemDelta.from_json(payload).items if item.circulation_status == "04"}


def first_committed(stack: Stack) -> dict[str, str] | None:
    """Item -> journal state, once one item is committed and the others are still open."""
    states = {r["data"]["primary_item_id"]: r["state"] for r in stack.journal()}
    committed = [item for item, state in states.items() if state == "committed"]
    return states if len(states) == len(STACK) and len(committed) == 1 else None


def test_a_crash_mid_checkout_is_settled_by_the_recovery(tmp_path: Path) -> None:
    with running_stack(tmp_path, pad=[catalog_tag(b) for b in STACK],
                       ils_latency_ms=ILS_LATENCY_MS) as stack:
        stack.wait_pad(len(STACK))
        stack.open_session(SOREN, PINS[SOREN])
        at_kill = until(lambda: first_committed(stack), 30, "the first item committed")
        stack.kill_daemon()
        assert stack.integrity() == "ok"
        done = next(item for item, state in at_kill.items() if state == "committed")
        assert {state for item, state in at_kill.items() if item != done} == {"started"}

        in_flight = until(lambda: (lent_by_the_gateway(stack) - {done}) or None, 10,
                          "the gateway to finish the checkout in flight")
        assert len(in_flight) == 1
        lent_after_kill = next(iter(in_flight))
        never_sent = next(b for b in STACK if b not in (done, lent_after_kill))

        stack.start_daemon()
        until(lambda: all(r["ended"] for r in stack.journal()), 30, "the recovery")
        events = stack.tap.wait_events(
            lambda es: len(items_of(es, CHECKOUT)) == 1 and len(items_of(es, EXCEPTION)) == 1,
            "the committed checkout and the recovery's exception")
        queue = stack.exceptions()
        stack.stop_daemon()
        assert stack.integrity() == "ok"
        journal = {r["data"]["primary_item_id"]: r for r in stack.journal()}
        afis = stack.pad_afis()
        ils = stack.ils_items(STACK)
        loans = stack.ils_loans(SOREN, PINS[SOREN])

    assert in_seq_order(events)
    assert items_of(events, CHECKOUT) == [done]
    assert next(e for e in events if e.type == CHECKOUT).data["security"]["after"] == "C2"
    exception = next(e.data for e in events if e.type == EXCEPTION)
    assert (exception["kind"], exception["primary_item_id"]) == ("other", lent_after_kill)
    assert "interrupted by a restart" in exception["detail"]
    assert "still secured" in exception["detail"]
    assert {item: journal[item]["state"] for item in STACK} == {
        done: "committed", lent_after_kill: "needs_staff", never_sent: "abandoned"}
    assert [(q["primary_item_id"], q["state"]) for q in queue] == [
        (lent_after_kill, "needs_staff")]
    # The ILS: the committed one and the one the gateway finished are lent; the third is not.
    assert ils[done].circulation_status == ils[lent_after_kill].circulation_status == CHARGED
    assert {done, lent_after_kill} <= loans
    assert ils[never_sent].circulation_status != CHARGED
    # The tags: only the committed item was unsecured.
    assert {b: afis[str(catalog_uid(b))] for b in STACK} == {
        done: "C2", lent_after_kill: "07", never_sent: "07"}


def test_the_recovery_does_not_undo_a_loan_given_after_the_restart(tmp_path: Path) -> None:
    """Killed while the item waits to be put back (the ILS lent it, its tag refused the write
    once): after the restart the patron opens a new session at once, before the recovery's
    next pass. The kiosk must not lend the item again until that pass has undone the first
    loan, or the undo (an ILS checkin) cancels the loan on the patron's new receipt."""
    scenario = {"tags": [catalog_tag(BOOK)], "events": [{"at": 0, "fault": {
        "kind": "locked_block", "uid": str(catalog_uid(BOOK)), "command": "27", "count": 1}}]}
    with running_stack(tmp_path, pad=scenario) as stack:
        stack.wait_pad(1)
        stack.open_session(SOREN, PINS[SOREN])
        until(lambda: [r for r in stack.journal() if r["state"] == "put_back"], 10,
              "the first attempt waiting to be put back")
        stack.kill_daemon()

        stack.start_daemon()
        session = stack.open_session(SOREN, PINS[SOREN])
        stack.wait_session(session["id"], lambda s: s["counts"].get("done") == 1,
                           "the item lent again", timeout_s=30)
        receipt = stack.end_session(session["id"])
        assert "Checked out: 1 item(s)" in receipt["text"]
        until(lambda: all(r["ended"] for r in stack.journal()), 30, "the recovery")
        events = stack.tap.wait_events(
            lambda es: len(items_of(es, CHECKOUT)) == 1 and len(items_of(es, EXCEPTION)) == 1,
            "the new checkout and the undone one's exception")
        stack.stop_daemon()
        journal = stack.journal()
        afis = stack.pad_afis()
        ils = stack.ils_items([BOOK])
        loans = stack.ils_loans(SOREN, PINS[SOREN])

    # What the patron was told (the receipt) is what the ILS and the tag say.
    assert ils[BOOK].circulation_status == CHARGED
    assert BOOK in loans
    assert afis[str(catalog_uid(BOOK))] == "C2"
    assert [r["state"] for r in journal] == ["rolled_back", "committed"]
    assert in_seq_order(events)
    assert [e.type for e in events] == [EXCEPTION, CHECKOUT]   # undone first, then lent
    assert events[0].data["kind"] == "write_failed"
