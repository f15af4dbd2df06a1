# SPDX-License-Identifier: Apache-2.0
"""Off-line checkout and its replay, end to end.

In gateway mode the ILS is reachable through the broker: the broker is stopped, and the kiosk
(``offline_checkout = true``) lends three items off-line: the session is unverified, the tags
are unsecured, the journal keeps each transaction (and the patron the replay needs) open, the
events wait in the outbox. The broker comes back: the events are delivered, the journal's
recovery replays each checkout through the gateway with its original time, and the ILS applies
its loan rules to the replays (the site's ``offline_policy = "checked"``): the item on hold for
another patron is refused. That rejection reaches staff once over MQTT (the box's
``offline_rejected`` exception, naming the off-line event; the gateway publishes none of its
own) and once in the box's exception queue; the two other items are on loan in the ILS; the
patron identifiers are forgotten.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from protocols.contract import CheckoutRequest, parse_time
from tests.e2e.stack import (
    CHARGED,
    SOURCE,
    in_seq_order,
    items_of,
    running_stack,
    until,
)
from tests.ils.helpers import ON_HOLD_FOR_ZOE, PINS, SOREN
from tests.workflows.rig import catalog_tag, catalog_uid

LENT = ["5012345605", "5012345606"]
STACK = [*LENT, ON_HOLD_FOR_ZOE]
CHECKOUT = "lib.circ.checkout.v1"
EXCEPTION = "lib.exception.v1"


def patrons_kept(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM journal_patron").fetchone()[0])


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def test_offline_checkouts_are_replayed_and_one_is_rejected(tmp_path: Path) -> None:
    with running_stack(tmp_path, pad=[catalog_tag(b) for b in STACK],
                       offline_policy="checked",
                       selfcheck="offline_checkout = true\n") as stack:
        stack.wait_pad(3)
        stack.broker.stop()
        stack.wait_ils("unreachable")

        opened_ms = now_ms()
        session = stack.open_session(SOREN, PINS[SOREN])
        assert session["offline"] is True
        done = stack.wait_session(session["id"], lambda s: s["counts"].get("done") == 3,
                                  "three off-line checkouts")
        assert all(i["offline"] and i["due"] is None for i in done["items"])
        receipt = stack.end_session(session["id"])
        assert "Processed off-line: the library system confirms it later." in receipt["text"]
        queued = stack.journal()
        assert {(r["state"], r["ended"]) for r in queued} == {("offline_queued", False)}
        assert patrons_kept(stack.db) == 3
        assert len(stack.outbox_ids()) == 3
        assert not stack.tap.events()   # nothing could leave the box

        restored_ms = now_ms()
        stack.broker.start()
        stack.wait_ils("connected", timeout_s=60)
        until(lambda: all(r["ended"] for r in stack.journal()), 30, "the replays")
        events = stack.tap.wait_events(
            lambda es: len(items_of(es, CHECKOUT)) == 3 and len(items_of(es, EXCEPTION)) == 1,
            "the off-line checkouts and the rejected replay", timeout_s=30)
        # Every source: the gateway published whatever it would before its reply, so before
        # the box's event, on the same broker.
        everywhere = stack.tap.events(source=None)
        replays = [CheckoutRequest.from_json(p)
                   for p in stack.tap.payloads("/kiosk-1/req/circ.checkout")]
        queue = stack.exceptions()
        stack.stop_daemon()
        journal = {r["data"]["primary_item_id"]: r for r in stack.journal()}
        afis = stack.pad_afis()
        ils = stack.ils_items(STACK)
        loans = stack.ils_loans(SOREN, PINS[SOREN])
        patrons_left = patrons_kept(stack.db)
        stack.assert_private(SOREN)

    # The off-line events: sent after the outage, stamped with the off-line time.
    assert in_seq_order(events)
    checkouts = {e.data["primary_item_id"]: e for e in events if e.type == CHECKOUT}
    assert sorted(checkouts) == sorted(STACK)
    for event in checkouts.values():
        assert (event.offline, event.data["result"]) == (True, "queued_offline")
        assert event.data["security"]["after"] == "C2"
        assert opened_ms - 1000 <= event.time_ms <= restored_ms
    # The replays on the wire: off-line, with the original time, no PIN; a replay retried
    # after a timeout (the gateway was still reconnecting) carries the same correlation id, so
    # the gateway answers it from its dedupe window: one id per item.
    corrs: dict[str, set[str]] = {}
    for request in replays:
        corrs.setdefault(request.primary_item_id, set()).add(request.corr)
    assert sorted(corrs) == sorted(STACK)
    assert all(len(ids) == 1 for ids in corrs.values()), corrs
    for request in replays:
        assert request.offline is True
        assert request.pin is None
        assert request.transaction_time is not None
        assert opened_ms - 1000 <= parse_time(request.transaction_time) <= restored_ms
        assert request.related_event == checkouts[request.primary_item_id].id
    # The rejection: one event, from the box, naming the off-line event (the gateway's own
    # exception for the same refusal made it two; found by a review).
    rejections = [e for e in everywhere if e.type == EXCEPTION]
    assert [e.source for e in rejections] == [SOURCE], [e.source for e in rejections]
    rejected = rejections[0].data
    assert (rejected["kind"], rejected["primary_item_id"]) == ("offline_rejected",
                                                               ON_HOLD_FOR_ZOE)
    assert rejected["related_event"] == checkouts[ON_HOLD_FOR_ZOE].id
    assert rejected["uid"] == str(catalog_uid(ON_HOLD_FOR_ZOE))
    assert rejected["detail"] == "off-line checkout refused by the ILS on replay"
    # The ILS: the two replays lent, the held item not; the tags as the kiosk left them.
    assert all(ils[b].circulation_status == CHARGED for b in LENT)
    assert set(LENT) <= loans
    assert ils[ON_HOLD_FOR_ZOE].circulation_status != CHARGED
    assert ON_HOLD_FOR_ZOE not in loans
    assert {afis[str(catalog_uid(b))] for b in STACK} == {"C2"}
    # The journal: settled, the patron forgotten; staff see the rejection.
    assert {b: (journal[b]["state"], journal[b]["ended"]) for b in STACK} == {
        **dict.fromkeys(LENT, ("replayed", True)), ON_HOLD_FOR_ZOE: ("replay_rejected", True)}
    assert patrons_left == 0
    assert [(q["primary_item_id"], q["state"]) for q in queue] == [
        (ON_HOLD_FOR_ZOE, "replay_rejected")]


def test_a_killed_gateway_sends_the_kiosk_off_line_at_once_and_back(tmp_path: Path) -> None:
    """The broker stays up; only the gateway dies. Its MQTT will tells the box, whose ILS link
    goes unreachable (before, it stayed 'connected' and every patron waited out a request),
    so a session opens off-line without asking; with the gateway back, on-line again."""
    with running_stack(tmp_path, pad=[catalog_tag(LENT[0])],
                       selfcheck="offline_checkout = true\n") as stack:
        stack.wait_pad(1)
        stack.gateway.kill()
        stack.wait_ils("unreachable", timeout_s=10)
        assert stack.health()["ils"]["last_error"] == (
            "the catalog gateway is offline (instance e2e)")
        asked = len(stack.tap.payloads("/kiosk-1/req/circ.patron"))
        session = stack.open_session(SOREN, PINS[SOREN])
        assert session["offline"] is True
        assert len(stack.tap.payloads("/kiosk-1/req/circ.patron")) == asked  # nothing asked
        stack.end_session(session["id"])

        stack.gateway.start()
        stack.wait_ils("connected", timeout_s=10)
        session = stack.open_session(SOREN, PINS[SOREN])
        assert session["offline"] is False
        assert len(stack.tap.payloads("/kiosk-1/req/circ.patron")) > asked   # asked this time
        stack.end_session(session["id"])
