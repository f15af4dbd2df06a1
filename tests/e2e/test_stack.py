# SPDX-License-Identifier: Apache-2.0
"""A patron's 10-item stack at the kiosk, end to end (``tests/e2e/stack.py``): every item
checked out in the ILS through the gateway, its tag unsecured and verified, its event delivered
through mosquitto, its journal row committed. Set 5012345622 has two parts, each on its own tag:
split across the stack it is still one item, checked out once with both tags unsecured. When one
part is missing, the set is not lent and staff hear of it; the rest of the stack goes through.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.stack import (
    CHARGED,
    OWNER,
    SOURCE,
    in_seq_order,
    items_of,
    running_stack,
    until,
)
from tests.ils.helpers import PINS, SET_ITEM, SOREN
from tests.workflows.rig import catalog_tag, catalog_uid

SINGLES = [f"50123456{n:02d}" for n in range(1, 10)]
STACK = [*SINGLES, SET_ITEM]   # 10 items, 11 tags
CHECKOUT = "lib.circ.checkout.v1"


def set_part(part: int) -> dict[str, object]:
    return catalog_tag(SET_ITEM, part=part, total=2)


def test_a_ten_item_stack_with_a_two_part_set_is_checked_out_everywhere(tmp_path: Path) -> None:
    # The set's parts lie apart in the stack, as a patron drops them on the pad.
    tags = [catalog_tag(b) for b in SINGLES[:4]] + [set_part(1)] + \
           [catalog_tag(b) for b in SINGLES[4:]] + [set_part(2)]
    with running_stack(tmp_path, pad=tags) as stack:
        pad = stack.wait_pad(10)
        grouped = {i["primary_item_id"]: i for i in pad["items"]}
        assert sorted(grouped) == sorted(STACK)
        assert (grouped[SET_ITEM]["parts_seen"], grouped[SET_ITEM]["set_total"]) == ([1, 2], 2)

        session = stack.open_session(SOREN, PINS[SOREN])
        done = stack.wait_session(session["id"], lambda s: s["counts"].get("done") == 10,
                                  "ten items done", timeout_s=30)
        assert all(i["due"] for i in done["items"])
        receipt = stack.end_session(session["id"])
        assert "Checked out: 10 item(s)" in receipt["text"]
        assert receipt["not_processed"] == []

        events = stack.tap.wait_events(lambda es: len(items_of(es, CHECKOUT)) == 10,
                                       "ten checkout events through mosquitto")
        # What central sees of the node: its pad's model once probed, and the pad's counters.
        meta = until(lambda: next((m for m in map(json.loads,
                                                  stack.tap.payloads(f"{SOURCE}/meta"))
                                   if m["devices"] and m["devices"][0]["model"]), None),
                     10, "meta naming the pad's model")
        pad_state = json.loads(stack.tap.payloads(f"{SOURCE}/dev/pad/state")[-1])
        stack.stop_daemon()
        afis = stack.pad_afis()
        journal = stack.journal()
        assert stack.integrity() == "ok"
        cache = {item: stack.cached(item) for item in STACK}
        ils = stack.ils_items(STACK)
        loans = stack.ils_loans(SOREN, PINS[SOREN])
        stack.assert_private(SOREN)

    assert meta["devices"][0]["dev"] == "pad"
    assert meta["tag_models"][0] == "iso28560-2"
    assert "3m" in meta["tag_models"]
    assert meta["config_hash"].startswith("sha256:")
    assert meta["sip2_profile"] is None
    assert pad_state["connected"] is True
    assert pad_state["counters"]["frames_sent"] > 0

    # The events, as a central consumer gets them: one per item, in the node's order.
    assert in_seq_order(events)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    checkouts = [e for e in events if e.type == CHECKOUT]
    assert items_of(checkouts, CHECKOUT) == sorted(STACK)
    for event in checkouts:
        data = event.data
        assert (data["result"], data["owner_institution"]) == ("ok", OWNER)
        assert data["security"]["verified"] is True
        assert (data["security"]["before"], data["security"]["after"]) == ("07", "C2")
        assert data["patron"].startswith("h:")
        assert data["sip"]["ok"] is True
    the_set = next(e.data for e in checkouts if e.data["primary_item_id"] == SET_ITEM)
    assert the_set["parts"] == {"n": 1, "of": 2, "seen": [1, 2]}
    assert len({e.data["patron"] for e in checkouts}) == 1   # one salted hash, never the card

    # The ILS: every item on loan, to this patron.
    assert {item: info.circulation_status for item, info in ils.items()} == dict.fromkeys(
        STACK, CHARGED)
    assert set(STACK) <= loans

    # The box's cache, from the gateway's item deltas: on loan, security off, titled.
    assert {item: (row["circulation_status"], row["security_expected"], bool(row["title"]))
            for item, row in cache.items() if row} == dict.fromkeys(STACK, ("04", 0, True))

    # The tags: all eleven unsecured, both parts of the set included.
    uids = [str(catalog_uid(b)) for b in SINGLES] + [str(catalog_uid(SET_ITEM, p))
                                                     for p in (1, 2)]
    assert {uid: afis.get(uid) for uid in uids} == dict.fromkeys(uids, "C2")

    # The journal: one committed checkout per item, naming its delivered event.
    assert sorted(r["data"]["primary_item_id"] for r in journal) == sorted(STACK)
    assert {(r["kind"], r["state"], r["ended"]) for r in journal} == {
        ("checkout", "committed", True)}
    assert {r["data"]["event"] for r in journal} == {e.id for e in checkouts}


def test_a_set_with_a_part_missing_is_not_lent_and_staff_are_told(tmp_path: Path) -> None:
    tags = [catalog_tag(b) for b in SINGLES] + [set_part(1)]
    with running_stack(tmp_path, pad=tags) as stack:
        stack.wait_pad(10)
        session = stack.open_session(SOREN, PINS[SOREN])
        waiting = stack.wait_session(
            session["id"], lambda s: s["counts"].get("done") == 9
            and s["counts"].get("incomplete_set") == 1, "nine done, the set waiting")
        the_set = next(i for i in waiting["items"] if i["primary_item_id"] == SET_ITEM)
        assert "missing part 2 of 2" in the_set["message"]
        receipt = stack.end_session(session["id"])
        assert "Checked out: 9 item(s)" in receipt["text"]
        assert [i["primary_item_id"] for i in receipt["not_processed"]] == [SET_ITEM]

        events = stack.tap.wait_events(
            lambda es: len(items_of(es, CHECKOUT)) == 9
            and len(items_of(es, "lib.exception.v1")) == 1,
            "nine checkouts and the incomplete-set exception")
        stack.stop_daemon()
        afis = stack.pad_afis()
        journal = stack.journal()
        ils = stack.ils_items([SET_ITEM, *SINGLES])

    assert in_seq_order(events)
    assert items_of(events, CHECKOUT) == SINGLES
    exception = next(e.data for e in events if e.type == "lib.exception.v1")
    assert (exception["kind"], exception["primary_item_id"]) == ("incomplete_set", SET_ITEM)
    assert "parts [1] of 2" in exception["detail"]
    # Nothing was asked of the ILS or written to the tag for the set.
    assert ils[SET_ITEM].circulation_status != CHARGED
    assert all(ils[b].circulation_status == CHARGED for b in SINGLES)
    assert afis[str(catalog_uid(SET_ITEM, 1))] == "07"
    assert all(afis[str(catalog_uid(b))] == "C2" for b in SINGLES)
    assert SET_ITEM not in {r["data"]["primary_item_id"] for r in journal}
