# SPDX-License-Identifier: Apache-2.0
"""Inventory sessions on the rig: a simulated staff reader on a real pty, the real supervisor,
a real SQLite store (item cache and outbox)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from edge_service.config import LibraryConfig, NodeConfig
from edge_service.devices import TagInField
from edge_service.store import ItemRecord, Store
from edge_service.workflows import LiveEvents, WorkflowError
from edge_service.workflows.inventory import (
    MAX_MISPLACED_PER_EVENT,
    ExpectedItem,
    InventorySession,
    same_location,
)
from edge_service.workflows.staff import StaffStation
from firmware_bridge import SECURITY_PRESETS
from firmware_bridge.simulator.faults import Fault, FaultKind
from protocols.contract import Event, decode_event
from protocols.iso15693 import Command, Uid
from protocols.iso28560 import LibraryTag, TagModel, encode_tag
from tests.workflows.rig import (
    FOREIGN,
    MEMORY_BYTES,
    OWNER,
    Rig,
    fast_timers,
    item_id,
    item_tag,
    pad_rig,
    uid_of,
    wait_for,
)

NODE = NodeConfig(tenant="DK-718500", site="main", node="staff-1", mode="staff")
BLANK_UID = Uid.from_text("E0040100B1A40001")


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)


def shelf_tag(number: int, location: str | None, *, owner: str = OWNER) -> dict[str, Any]:
    """A part-2 tag for item ``number`` whose shelf location element says ``location``."""
    tag = LibraryTag(TagModel.PART2, primary_item_id=item_id(number), owner_institution=owner,
                     shelf_location=location)
    image = encode_tag(tag, size=MEMORY_BYTES).image
    assert image is not None
    return {"uid": str(uid_of(number)), "memory": image.memory.hex(), "afi": "07",
            "dsfid": "06"}


async def catalog(store: Store, *numbers: int) -> None:
    await store.cache.apply_delta(
        [ItemRecord(OWNER, item_id(n), "03", True, "1") for n in numbers], seq=1)


def events(rig: Rig, type_: str) -> list[Event]:
    found = [decode_event(entry.payload) for entry in rig.store.outbox.peek(1000)]
    return [event for event in found if event.type == type_]


def session(rig: Rig, live: LiveEvents, **options: Any) -> InventorySession:
    return InventorySession(rig.supervisor, store=rig.store, node=NODE, live=live, **options)


async def test_a_shelf_reading_sorts_seen_missing_misplaced_and_unknown(tmp_path: Path) -> None:
    on_shelf = [shelf_tag(1, "A1"), shelf_tag(3, "A1"), {"uid": str(BLANK_UID)}]
    async with pad_rig(tmp_path, on_shelf, role="staff", name="staff") as rig:
        await catalog(rig.store, 1, 2, 4, 6, 9)
        live = LiveEvents()
        watching = live.subscribe(frozenset({"staff.inventory"}))
        expected = [(OWNER, item_id(1), "A1"), (OWNER, item_id(2), "a1"),
                    ExpectedItem(item_id(3), None, "B7"), (OWNER, item_id(7), "B7")]
        reading = session(rig, live, location="A1", expected=expected)
        await rig.wait_field(3)
        reading.start()
        # More of the shelf comes into the field while the session runs; one tag leaves again.
        rig.put(shelf_tag(4, "C2"), shelf_tag(5, None), shelf_tag(6, " a1 "),
                item_tag(8, owner=FOREIGN), item_tag(9, part=1, total=2),
                item_tag(9, part=2, total=2))
        await rig.wait_field(9)
        rig.take(uid_of(1))
        await rig.wait_field(8)

        report = reading.report()
        assert {i.primary_item_id for i in report.seen} == {
            item_id(1), item_id(3), item_id(4), item_id(6), item_id(9)}
        assert [(m.primary_item_id, m.shelf_location) for m in report.missing] == [
            (item_id(2), "a1")]                               # item 7 belongs on B7
        assert {(m.primary_item_id, m.belongs_at, m.source) for m in report.misplaced} == {
            (item_id(3), "B7", "expected"), (item_id(4), "C2", "tag")}
        assert {(u.uid, u.primary_item_id) for u in report.unknown} == {
            (str(BLANK_UID), None), (str(uid_of(5)), item_id(5)),
            (str(uid_of(8)), item_id(8))}
        parts = next(i for i in report.seen if i.primary_item_id == item_id(9))
        assert len(parts.uids) == 2                           # two parts, one item
        assert reading.report().to_json()["counts"] == {
            "seen": 5, "missing": 1, "misplaced": 2, "unknown": 3}
        assert await watching.next(1.0) is not None

        final = await reading.finish()
        [event] = events(rig, "lib.inventory.v1")
        assert event.data == {
            "session_id": reading.session_id, "seen": 5, "unknown": 3, "location": "A1",
            "misplaced": sorted([{"primary_item_id": item_id(3), "owner_institution": OWNER},
                                 {"primary_item_id": item_id(4), "owner_institution": OWNER}],
                                key=lambda ref: ref["primary_item_id"])}
        assert final.finished
        assert final.event_ids == (event.id,)
        rig.put(item_tag(11))                                 # no longer listening
        await rig.wait_field(9)
        assert reading.report() == final
        with pytest.raises(WorkflowError) as caught:
            await reading.finish()
        assert caught.value.code == "session_finished"


async def test_without_a_location_or_list_only_the_cache_decides(tmp_path: Path) -> None:
    async with pad_rig(tmp_path, [shelf_tag(1, "Z9"), shelf_tag(2, None)], role="staff",
                       name="staff") as rig:
        await catalog(rig.store, 1)
        reading = session(rig, LiveEvents())
        reading.start()
        await wait_for(lambda: len(reading.report().seen) + len(reading.report().unknown) == 2,
                       5.0, "both tags counted")
        report = await reading.finish()
        assert [i.primary_item_id for i in report.seen] == [item_id(1)]
        assert report.misplaced == ()
        assert report.missing == ()
        assert [u.reason for u in report.unknown] == [
            "not in the item cache or the expected list"]
        [event] = events(rig, "lib.inventory.v1")
        assert (event.data["seen"], event.data["unknown"], event.data["location"]) == (
            1, 1, None)
        assert reading.session_id.startswith("inv-")


async def test_a_long_misplaced_list_is_split_across_events_of_one_session(
        tmp_path: Path) -> None:
    count = 2 * MAX_MISPLACED_PER_EVENT + 1
    async with pad_rig(tmp_path, [], role="staff", name="staff") as rig:
        expected = [(OWNER, item_id(n), "B7") for n in range(count)]
        reading = session(rig, LiveEvents(), location="A1", expected=expected,
                          session_id="shelf-a1")
        # The supervisor's field listener call, with a cart's worth of identified tags.
        field = {uid_of(n): TagInField(uid_of(n), time.monotonic(), OWNER, item_id(n))
                 for n in range(count)}
        reading.on_field("staff", field)
        report = await reading.finish()
        assert len(report.misplaced) == count
        parts = events(rig, "lib.inventory.v1")
        assert [len(e.data["misplaced"]) for e in parts] == [500, 500, 1]
        assert [(e.data["seen"], e.data["session_id"]) for e in parts] == [
            (count, "shelf-a1"), (0, "shelf-a1"), (0, "shelf-a1")]
        assert [e.id for e in parts] == list(report.event_ids)


async def test_bad_session_input_is_refused_naming_it(tmp_path: Path) -> None:
    async with pad_rig(tmp_path, [], role="staff", name="staff") as rig:
        with pytest.raises(WorkflowError) as caught:
            session(rig, LiveEvents(), location="x" * 65)
        assert caught.value.field == "location"
        with pytest.raises(WorkflowError) as caught:
            session(rig, LiveEvents(), session_id="has space")
        assert caught.value.field == "session_id"
        with pytest.raises(WorkflowError) as caught:
            session(rig, LiveEvents(), expected=[(OWNER, item_id(1), "A1"), (OWNER, " ", None)])
        assert caught.value.field == "expected[1].primary_item_id"
        # Checked as a program's input is (found by a review: both were accepted).
        with pytest.raises(WorkflowError) as caught:
            session(rig, LiveEvents(), expected=[(OWNER, "50123\x0145606", None)])
        assert caught.value.field == "expected[0].primary_item_id"
        with pytest.raises(WorkflowError) as caught:
            session(rig, LiveEvents(), expected=[ExpectedItem(item_id(1), "bad isil!")])
        assert (caught.value.field, caught.value.status) == ("expected[0].owner_institution",
                                                             422)


async def test_a_patron_card_is_listed_as_one_without_its_number(tmp_path: Path) -> None:
    """A card on the reader was listed under unknown with its card number as the item id.
    Found by a review."""
    card = item_tag(7, usage=0x80)
    async with pad_rig(tmp_path, [card, shelf_tag(1, "A1")], role="staff",
                       name="staff") as rig:
        await catalog(rig.store, 1)
        reading = session(rig, LiveEvents(), location="A1")
        await rig.wait_field(2)
        reading.start()
        report = await reading.finish()
        assert [i.primary_item_id for i in report.seen] == [item_id(1)]
        assert [u.to_json() for u in report.unknown] == [
            {"uid": card["uid"], "reason": "a library card (patron card), not an item",
             "primary_item_id": None, "owner_institution": None}]
        assert item_id(7) not in json.dumps(report.to_json())


async def test_an_owner_named_in_lower_case_is_the_same_library(tmp_path: Path) -> None:
    """An item expected as owned by "dk-718500" and seen on a tag of "DK-718500" was listed
    both as seen and as missing. Found by a review."""
    async with pad_rig(tmp_path, [shelf_tag(1, "A1")], role="staff", name="staff") as rig:
        reading = session(rig, LiveEvents(), location="Fic A1",
                          expected=[ExpectedItem(item_id(1), OWNER.lower()),
                                    ExpectedItem(item_id(2), OWNER.lower())])
        reading.start()
        await wait_for(lambda: reading.report().seen or None, 5.0, "the item on the shelf")
        report = await reading.finish()
        assert [(i.primary_item_id, i.owner_institution) for i in report.seen] == [
            (item_id(1), OWNER)]
        assert [(m.primary_item_id, m.owner_institution) for m in report.missing] == [
            (item_id(2), OWNER)]                       # upper case, as the session compares


async def test_an_unreadable_tag_is_named_plainly_and_holds_back_missing(
        tmp_path: Path) -> None:
    """An unread tag was listed with the driver's error (naming the device path) while its
    item, expected here, was counted missing. Found by a review."""
    async with pad_rig(tmp_path, [], role="staff", name="staff") as rig:
        await catalog(rig.store, 2)
        reading = session(rig, LiveEvents(), location="A1",
                          expected=[(OWNER, item_id(2), None), (OWNER, item_id(3), None)])
        reading.start()
        # The tag leaves before its memory could be read (status 0x01: no transponder).
        rig.field.inject(Fault(FaultKind.NO_TAG, uid=uid_of(2),
                               command=Command.GET_SYSTEM_INFO, count=1))
        rig.put(item_tag(2))
        report = await wait_for(lambda: reading.report() if reading.report().unknown else None,
                                5.0, "the tag")
        [unread] = report.unknown
        assert unread.reason == ("the tag could not be read (it left the field, or did not "
                                 "answer): put it back; until it is read, no expected item "
                                 "is listed missing")
        assert str(rig.endpoint.device_path) not in json.dumps(report.to_json())
        assert report.missing == ()                   # item 2 may be on it

        rig.take(uid_of(2))                            # put back: read this time
        await wait_for(lambda: not rig.supervisor.field or None, 5.0, "the tag gone")
        rig.put(item_tag(2))
        report = await wait_for(lambda: reading.report() if reading.report().seen else None,
                                5.0, "item 2")
        assert [i.primary_item_id for i in report.seen] == [item_id(2)]
        assert report.unknown == ()
        assert [m.primary_item_id for m in report.missing] == [item_id(3)]


async def test_a_session_finished_with_a_tag_unread_lists_the_missing(
        tmp_path: Path) -> None:
    async with pad_rig(tmp_path, [], role="staff", name="staff") as rig:
        reading = session(rig, LiveEvents(), expected=[(OWNER, item_id(3), None)])
        reading.start()
        rig.field.inject(Fault(FaultKind.NO_TAG, uid=uid_of(2),
                               command=Command.GET_SYSTEM_INFO, count=1))
        rig.put(item_tag(2))
        await wait_for(lambda: reading.report().unknown or None, 5.0, "the tag")
        final = await reading.finish()
        assert [u.reason for u in final.unknown] == [
            "the tag could not be read (it left the field, or did not answer)"]
        assert [m.primary_item_id for m in final.missing] == [item_id(3)]


def test_locations_compare_without_case_or_spacing() -> None:
    assert same_location("Fic  Adult A1", "fic adult a1 ")
    assert not same_location("A1", "A10")
    assert same_location(None, "")


async def test_the_staff_station_keeps_one_session_and_records_it_on_stop(
        tmp_path: Path) -> None:
    async with pad_rig(tmp_path, [shelf_tag(1, "A1")], role="staff", name="staff") as rig:
        await catalog(rig.store, 1)
        station = StaffStation(rig.supervisor, rig.store, NODE, LibraryConfig(isil=OWNER),
                               SECURITY_PRESETS["iso"], LiveEvents())
        with pytest.raises(WorkflowError) as caught:
            station.inventory()
        assert caught.value.status == 404
        started = station.start_inventory("A1", [(OWNER, item_id(2), None)])
        assert [m.primary_item_id for m in started.missing] == [item_id(2)]
        with pytest.raises(WorkflowError) as caught:
            station.start_inventory("B1")
        assert caught.value.code == "inventory_active"
        await wait_for(lambda: station.inventory().seen or None, 5.0, "the item on the shelf")
        await station.stop()                                  # the daemon stops: recorded
        [event] = events(rig, "lib.inventory.v1")
        assert (event.data["seen"], event.data["location"]) == (1, "A1")
        assert station.inventory().finished
        station.start_inventory("B1")                         # the next shelf
