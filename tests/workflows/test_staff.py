# SPDX-License-Identifier: Apache-2.0
"""The staff station on the rig: a simulated desk pad on a real pty, the real supervisor and
driver, a real SQLite store. Every write is checked by decoding the simulated tag's memory
afresh (not through the station), and every event by decoding what the outbox holds."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge_service import devices
from edge_service.config import LibraryConfig, NodeConfig
from edge_service.store import StoreError
from edge_service.tag_writer import NO_DSFID, dsfid_to_write, lock_plan_for
from edge_service.workflows import LiveEvents, WorkflowError
from edge_service.workflows.staff import StaffStation
from edge_service.workflows.staff_batch import BATCH_ATTEMPTS, BatchProgress
from firmware_bridge import SECURITY_PRESETS, BridgeError
from firmware_bridge.reader import TagNotResponding
from firmware_bridge.simulator.faults import Fault, FaultKind
from protocols.contract import Event, decode_event
from protocols.iso15693 import Command, Uid
from protocols.iso28560 import (
    LibraryTag,
    TagImage,
    TagModel,
    decode_any,
    encode_tag,
    legacy_3m,
)
from tests.conftest import load_vectors
from tests.workflows.rig import (
    OWNER,
    Rig,
    fast_timers,
    item_id,
    item_tag,
    pad_rig,
    uid_of,
    wait_for,
)
from tests.workflows.technical import foreign_tag, foreign_uid

NODE = NodeConfig(tenant="DK-718500", site="main", node="staff-1", mode="staff")
VECTORS = load_vectors("iso28560")
BOOK_3M = VECTORS[22]["hex"]         # Biblio-RFID: barcode 1302003767, book, set 1/1
BRANCHED_3M = VECTORS[21]["hex"]     # Biblio-RFID: barcode 200901010123, branch/library/custom
FACTORY_BLANK_3M = VECTORS[23]["hex"]


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)


def blank_uid(number: int) -> Uid:
    return Uid.from_text(f"E0040100B1A4{number:04X}")


def blank(number: int, *, memory: str = "", afi: str = "00") -> dict[str, Any]:
    return {"uid": str(blank_uid(number)), "memory": memory, "afi": afi}


@dataclass
class Desk:
    rig: Rig
    station: StaffStation
    live: LiveEvents
    woken: list[int]

    def memory(self, uid: Uid) -> LibraryTag:
        """The simulated tag's memory decoded afresh, with its DSFID (not the station's view)."""
        tag = self.rig.field.tag(uid)
        return decode_any(bytes(tag.memory), dsfid=tag.dsfid)

    def locked(self, uid: Uid) -> list[int]:
        return [block for block, flag in enumerate(self.rig.field.tag(uid).locked) if flag]

    def events(self, type_: str | None = None) -> list[Event]:
        found = [decode_event(entry.payload) for entry in self.rig.store.outbox.peek(1000)]
        return [event for event in found if type_ is None or event.type == type_]


@contextlib.asynccontextmanager
async def desk(tmp_path: Path, tags: list[dict[str, Any]], *, data_model: str = "iso28560-2",
               scheme: str = "iso") -> AsyncIterator[Desk]:
    async with pad_rig(tmp_path, tags, role="staff", name="staff") as rig:
        live = LiveEvents()
        woken: list[int] = []
        station = StaffStation(
            rig.supervisor, rig.store, NODE, LibraryConfig(isil=OWNER, data_model=data_model),
            SECURITY_PRESETS[scheme], live, wake_outbox=lambda: woken.append(1))
        try:
            yield Desk(rig, station, live, woken)
        finally:
            await station.stop()


def batch_with(d: Desk, *, done: int) -> BatchProgress | None:
    progress = d.station.batch()
    return progress if progress is not None and progress.done == done else None


async def refused(code: str, operation: Any) -> WorkflowError:
    with pytest.raises(WorkflowError) as caught:
        await operation
    assert caught.value.code == code, caught.value
    return caught.value


# --- program ---------------------------------------------------------------------------------

async def test_a_blank_tag_is_programmed_verified_secured_and_locked(tmp_path: Path) -> None:
    async with desk(tmp_path, [blank(1)]) as d:
        watching = d.live.subscribe(frozenset({"staff"}))
        await d.rig.wait_field(1)
        result = await d.station.program("3000000042", operator="anna")

        uid = blank_uid(1)
        fresh = d.memory(uid)
        assert (fresh.model, fresh.primary_item_id, fresh.owner_institution) == (
            TagModel.PART2, "3000000042", OWNER)
        sim = d.rig.field.tag(uid)
        assert sim.dsfid == 0x06
        assert sim.afi == 0x07                       # ISO "secured"
        image = encode_tag(LibraryTag(TagModel.PART2, primary_item_id="3000000042",
                                      owner_institution=OWNER), size=112).image
        assert image is not None
        assert image.locked_blocks
        assert d.locked(uid) == list(image.locked_blocks) == list(result.locked_blocks)

        [event] = d.events("lib.tag.write.v1")
        assert event.data == {
            "primary_item_id": "3000000042", "uid": str(uid), "data_model": "iso28560-2",
            "verified": True, "locked_blocks": list(image.locked_blocks),
            "owner_institution": OWNER, "converted_from": None, "afi": "07",
            "operator": "anna"}
        assert result.to_json()["event_id"] == event.id
        assert d.woken                               # the outbox was told at once
        observed = d.rig.store.cache.by_uid(str(uid))
        assert observed is not None
        assert (observed.primary_item_id, observed.last_afi) == ("3000000042", 0x07)
        message = await watching.next(1.0)
        assert message is not None
        assert message.data["event"] == "programmed"
        # The supervisor reads the rewritten tag afresh.
        await wait_for(lambda: d.rig.supervisor.field.get(uid) and
                       d.rig.supervisor.field[uid].primary_item_id == "3000000042",
                       5.0, "the pad to show the new item")


async def test_part3_library_and_a_3m_factory_blank(tmp_path: Path) -> None:
    """A 3M factory blank (0x55 fill) counts as blank; part 3 has no DSFID and no lock plan;
    security off on request."""
    async with desk(tmp_path, [blank(1, memory=FACTORY_BLANK_3M)],
                    data_model="iso28560-3") as d:
        await d.rig.wait_field(1)
        result = await d.station.program("3000000043", secured=False, set_part=2, set_total=3)
        fresh = d.memory(blank_uid(1))
        assert (fresh.model, fresh.primary_item_id, fresh.set_part, fresh.set_total) == (
            TagModel.PART3, "3000000043", 2, 3)
        assert d.rig.field.tag(blank_uid(1)).afi == 0xC2
        assert result.locked_blocks == ()
        assert d.locked(blank_uid(1)) == []
        assert result.security.after.secured is False


async def test_a_tag_holding_data_is_overwritten_only_when_asked(tmp_path: Path) -> None:
    async with desk(tmp_path, [item_tag(1)]) as d:
        await d.rig.wait_field(1)
        before = bytes(d.rig.field.tag(uid_of(1)).memory)
        error = await refused("tag_not_blank", d.station.program("3999999999"))
        assert item_id(1) in error.message
        assert bytes(d.rig.field.tag(uid_of(1)).memory) == before
        assert d.events() == []

        await d.station.program("3999999999", overwrite=True)
        assert d.memory(uid_of(1)).primary_item_id == "3999999999"
        assert len(d.events("lib.tag.write.v1")) == 1


async def test_a_tag_just_written_stays_listed_with_its_new_data(tmp_path: Path) -> None:
    """The station made the supervisor forget a tag it wrote: the tag list left it out until
    the next inventory read it again, though it lay on the pad. Found by a review."""
    async with desk(tmp_path, [item_tag(1)]) as d:
        await d.rig.wait_field(1)
        await d.station.program("3999999999", overwrite=True)
        [view] = await d.station.tags()              # at once: no inventory in between
        shown = view.to_json()
        assert (shown["uid"], shown["primary_item_id"], shown["owner_institution"],
                shown["secured"]) == (str(uid_of(1)), "3999999999", OWNER, True)
        seen = d.rig.supervisor.field[uid_of(1)]
        assert seen.memory == bytes(d.rig.field.tag(uid_of(1)).memory)
        assert (seen.primary_item_id, seen.afi) == ("3999999999", 0x07)


async def test_two_blank_tags_stop_the_write(tmp_path: Path) -> None:
    async with desk(tmp_path, [blank(1), blank(2), item_tag(5)]) as d:
        await d.rig.wait_field(3)
        error = await refused("several_blank_tags", d.station.program("3000000044"))
        assert "2 blank tags" in error.message
        for number in (1, 2):
            assert not any(d.rig.field.tag(blank_uid(number)).memory)
        assert d.events() == []

        d.rig.take(blank_uid(2))                     # one blank left beside a programmed item
        await d.rig.wait_field(2)
        await d.station.program("3000000044")
        assert d.memory(blank_uid(1)).primary_item_id == "3000000044"
        assert d.memory(uid_of(5)).primary_item_id == item_id(5)


async def test_bad_requests_are_refused_before_any_tag_is_touched(tmp_path: Path) -> None:
    async with desk(tmp_path, [blank(1)]) as d:
        await d.rig.wait_field(1)
        error = await refused("invalid_request", d.station.program("has space"))
        assert error.field == "barcode"
        assert error.status == 422
        error = await refused("invalid_request", d.station.program("300", set_part=2))
        assert error.field == "set_part"
        error = await refused("invalid_request", d.station.program("300", operator="a b"))
        assert error.field == "operator"
        await refused("not_found", d.station.program("300", uid="E004010000000999"))
        assert not any(d.rig.field.tag(blank_uid(1)).memory)
        assert d.events() == []


async def test_a_locked_tag_is_refused_before_writing(tmp_path: Path) -> None:
    locked = {**item_tag(3), "locked": [0, 1]}
    async with desk(tmp_path, [locked]) as d:
        await d.rig.wait_field(1)
        before = bytes(d.rig.field.tag(uid_of(3)).memory)
        error = await refused("tag_locked", d.station.program("3000000045", overwrite=True))
        assert "0, 1" in error.message
        assert bytes(d.rig.field.tag(uid_of(3)).memory) == before
        assert d.events() == []


async def test_a_tag_leaving_mid_write_is_an_error_and_no_event_claims_success(
        tmp_path: Path) -> None:
    async with desk(tmp_path, [blank(1)]) as d:
        await d.rig.wait_field(1)
        uid = blank_uid(1)
        d.rig.field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=uid, after_blocks=2))
        error = await refused("tag_not_responding", d.station.program("3000000046"))
        assert "put it back" in error.message.lower()

        sim = d.rig.field.tag(uid)
        assert any(sim.memory[:8])
        assert not any(sim.memory[8:])
        assert d.locked(uid) == []
        assert sim.afi == 0x00
        assert d.events("lib.tag.write.v1") == []
        [failure] = d.events("lib.exception.v1")
        assert (failure.data["kind"], failure.data["uid"], failure.data["primary_item_id"]) == (
            "write_failed", str(uid), "3000000046")
        # The DSFID goes first (tag_writer): the data is what the tag left half written.
        assert failure.data["detail"].startswith("done: DSFID 06 written and verified; failed:")
        assert "data written" not in failure.data["detail"]
        assert d.station.left_unfinished(uid)

        d.rig.field.add(sim)                         # put back: finishing it needs no overwrite
        await d.rig.wait_field(1)
        await d.station.program("3000000046")
        assert d.memory(uid).primary_item_id == "3000000046"
        assert len(d.events("lib.tag.write.v1")) == 1
        assert not d.station.left_unfinished(uid)


# --- convert ---------------------------------------------------------------------------------

async def test_a_3m_tag_is_converted_and_keeps_its_security(tmp_path: Path) -> None:
    async with desk(tmp_path, [blank(1, memory=BOOK_3M, afi="D7")]) as d:
        await d.rig.wait_field(1)
        uid = blank_uid(1)
        assert d.memory(uid).model is TagModel.LEGACY_3M
        result = await d.station.convert(str(uid))

        fresh = d.memory(uid)
        assert (fresh.model, fresh.primary_item_id, fresh.owner_institution) == (
            TagModel.PART2, "1302003767", OWNER)              # owner from library.isil
        assert (fresh.set_part, fresh.set_total, fresh.media_format) == (1, 1, 1)
        sim = d.rig.field.tag(uid)
        assert (sim.dsfid, sim.afi) == (0x06, 0x07)           # 3M "secured" D7 -> ISO 07
        assert result.security.before is not None
        assert result.security.before.afi == 0xD7
        assert d.locked(uid) == list(result.locked_blocks) != []
        [event] = d.events("lib.tag.write.v1")
        assert (event.data["converted_from"], event.data["data_model"]) == ("3m", "iso28560-2")

        await refused("already_converted", d.station.convert(uid))


async def test_a_conversion_that_would_lose_data_is_refused_naming_it(tmp_path: Path) -> None:
    async with desk(tmp_path, [blank(1, memory=BRANCHED_3M, afi="DA")],
                    data_model="iso28560-3") as d:
        await d.rig.wait_field(1)
        uid = blank_uid(1)
        before = bytes(d.rig.field.tag(uid).memory)
        error = await refused("conversion_refused", d.station.convert(uid))
        for lost in ("vendor:3m_branch", "vendor:3m_library", "vendor:3m_custom"):
            assert lost in error.message
        assert bytes(d.rig.field.tag(uid).memory) == before
        assert d.events() == []

        result = await d.station.convert(uid, allow_loss=True)
        assert set(result.dropped) == {"vendor:3m_branch", "vendor:3m_library",
                                       "vendor:3m_custom"}
        fresh = d.memory(uid)
        assert (fresh.model, fresh.primary_item_id) == (TagModel.PART3, "200901010123")
        assert d.rig.field.tag(uid).afi == 0xC2               # 3M "unsecured" DA kept


async def test_a_conversion_cut_short_is_finished_from_what_was_meant(tmp_path: Path) -> None:
    """The 3M data is gone from a tag whose conversion was cut: converting it again writes
    what the station meant, not what the half-written tag now reads as."""
    async with desk(tmp_path, [blank(1, memory=BOOK_3M, afi="D7")]) as d:
        await d.rig.wait_field(1)
        uid = blank_uid(1)
        d.rig.field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=uid, after_blocks=3))
        await refused("tag_not_responding", d.station.convert(uid))
        sim = d.rig.field.tag(uid)
        assert d.memory(uid).model is not TagModel.LEGACY_3M      # the source is damaged
        assert d.events("lib.tag.write.v1") == []

        d.rig.field.add(sim)
        await d.rig.wait_field(1)
        result = await d.station.convert(uid)
        fresh = d.memory(uid)
        assert (fresh.model, fresh.primary_item_id, fresh.media_format) == (
            TagModel.PART2, "1302003767", 1)
        assert result.converted_from is TagModel.LEGACY_3M
        assert sim.afi == 0x07
        [event] = d.events("lib.tag.write.v1")
        assert event.data["converted_from"] == "3m"


async def test_a_conversion_cut_short_is_listed_as_to_convert_again(tmp_path: Path) -> None:
    """The tag list said of a half-converted 3M tag (still AFI D7) "security is neither on
    nor off: set it", and setting it is refused (unfinished). Found by a review."""
    async with desk(tmp_path, [blank(1, memory=BOOK_3M, afi="D7")]) as d:
        await d.rig.wait_field(1)
        uid = blank_uid(1)
        d.rig.field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=uid, after_blocks=3))
        await refused("tag_not_responding", d.station.convert(uid))
        d.rig.field.add(d.rig.field.tag(uid))
        await d.rig.wait_field(1)
        [view] = await d.station.tags()
        shown = view.to_json()
        assert (shown["afi"], shown["secured"]) == ("D7", True)
        assert shown["health"]["problems"] == [
            "writing item 1302003767 was cut short: convert it again to finish it"]
        await d.station.convert(uid)
        [view] = await d.station.tags()
        assert view.to_json()["health"]["problems"] == []


async def test_a_patron_card_on_the_pad_is_listed_without_its_number(tmp_path: Path) -> None:
    async with desk(tmp_path, [item_tag(7, usage=0x80)]) as d:
        await d.rig.wait_field(1)
        [view] = await d.station.tags()
        shown = view.to_json()
        assert item_id(7) not in json.dumps(shown)
        assert (shown["primary_item_id"], shown["type_of_usage"]) == (None, 0x80)
        assert shown["health"]["problems"] == [
            "a library card (patron card), not an item: its number is not shown"]


async def test_blank_tags_have_nothing_to_convert(tmp_path: Path) -> None:
    async with desk(tmp_path, [blank(1)]) as d:
        await d.rig.wait_field(1)
        await refused("nothing_to_convert", d.station.convert(blank_uid(1)))


# --- security and health ---------------------------------------------------------------------

async def test_security_is_repaired_verified_and_reported_before_and_after(
        tmp_path: Path) -> None:
    async with desk(tmp_path, [item_tag(7, afi=0x00)]) as d:
        await d.rig.wait_field(1)
        [view] = await d.station.tags()
        shown = view.to_json()
        assert (shown["model"], shown["primary_item_id"], shown["afi"], shown["secured"]) == (
            "iso28560-2", item_id(7), "00", None)
        assert any("neither on nor off" in p for p in shown["health"]["problems"])

        change = await d.station.set_security(uid_of(7), True)
        assert change.to_json()["before"] == {"afi": "00", "eas": None, "secured": None}
        assert change.to_json()["after"] == {"afi": "07", "eas": None, "secured": True}
        assert d.rig.tag_afi(uid_of(7)) == 0x07

        change = await d.station.set_security(str(uid_of(7)), False)
        assert change.before is not None
        assert change.before.secured is True
        assert d.rig.tag_afi(uid_of(7)) == 0xC2
        observed = d.rig.store.cache.by_uid(str(uid_of(7)))
        assert observed is not None
        assert observed.last_afi == 0xC2


@pytest.mark.parametrize("scheme", ["iso", "iso+eas"])
async def test_the_supervisor_keeps_and_records_the_security_staff_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    """Inventories do not report the AFI (nor any read the EAS bit), so the supervisor kept
    the security it read on arrival: after staff unsecured a tag its entry still said
    secured, and its next record of the tag put the old AFI back over the station's note in
    the cache. Found by a review. Here the supervisor records the tag at every inventory."""
    monkeypatch.setattr(devices, "LAST_SEEN_RESOLUTION_S", 0.0)
    uid = uid_of(7)
    async with desk(tmp_path, [item_tag(7, afi=0x07, eas=True)], scheme=scheme) as d:
        await d.rig.wait_field(1)
        eas = True if scheme == "iso+eas" else None
        change = await d.station.set_security(uid, False)
        assert (change.after.afi, change.after.eas) == (0xC2, False if eas else None)
        seen = d.rig.supervisor.field[uid]
        assert (seen.afi, seen.eas) == (0xC2, change.after.eas)
        start = d.rig.supervisor.counters()["tags_recorded"]
        await wait_for(lambda: d.rig.supervisor.counters()["tags_recorded"] >= start + 2, 5.0,
                       "the supervisor to record the tag twice more")
        observed = d.rig.store.cache.by_uid(str(uid))
        assert observed is not None
        assert (observed.last_afi, observed.last_eas) == (0xC2, change.after.eas)


async def test_a_failed_security_write_leaves_the_entry_at_what_the_tag_holds(
        tmp_path: Path) -> None:
    """A write that failed left the entry at the security the tag had on arrival, which the
    next attempt (a kiosk's retry) reported as its 'before'. Here the AFI is written and the
    EAS reset refused: the entry says what the tag holds now, read after the failure."""
    uid = uid_of(7)
    async with desk(tmp_path, [item_tag(7, afi=0x07, eas=True)], scheme="iso+eas") as d:
        await d.rig.wait_field(1)
        d.rig.field.inject(Fault(FaultKind.LOCKED_BLOCK, uid=uid, command=0xA3))  # RESET EAS
        reader = d.rig.supervisor.reader
        assert reader is not None
        with pytest.raises(BridgeError):
            await reader.set_security(uid, False, SECURITY_PRESETS["iso+eas"])
        seen = d.rig.supervisor.field[uid]
        assert (seen.afi, seen.eas) == (0xC2, True)
        assert (d.rig.tag_afi(uid), d.rig.field.tag(uid).eas) == (0xC2, True)


async def test_tags_show_model_elements_locks_and_problems(tmp_path: Path) -> None:
    foreign_3m = blank(2, memory=BOOK_3M, afi="D7")
    locked = {**item_tag(3, owner="DE-705"), "locked": [0, 1]}
    async with desk(tmp_path, [foreign_3m, locked]) as d:
        await d.rig.wait_field(2)
        views = {view.uid: view.to_json() for view in await d.station.tags()}
        legacy = views[blank_uid(2)]
        assert (legacy["model"], legacy["elements"]["primary_item_identifier"]) == (
            "3m", "1302003767")
        # D7 means nothing to ISO; it is read with 3M's meaning, as convert reads it. It was
        # listed as "neither on nor off: set it". Found by a review.
        assert (legacy["afi"], legacy["secured"]) == ("D7", True)
        assert legacy["health"]["problems"] == [
            "the tag is in 3m; this library writes iso28560-2 (convert it)",
            ("security is on in 3M's values (AFI D7): converting the tag keeps it, in this "
             "library's values")]
        other = views[uid_of(3)]
        assert other["locked_blocks"] == [0, 1]
        assert any("another library" in p for p in other["health"]["problems"])
        assert other["health"]["protection"] is None


async def test_a_missing_reader_is_device_unavailable(tmp_path: Path) -> None:
    async with desk(tmp_path, []) as d:
        await d.rig.supervisor.stop()
        error = await refused("device_unavailable", d.station.tags())
        assert error.status == 503


# --- batch -----------------------------------------------------------------------------------

async def test_a_program_batch_over_five_tags_reports_progress(tmp_path: Path) -> None:
    """Five barcodes, five blank tags one after another; one tag leaves mid-write, is put back
    and gets its own barcode; a programmed item on the pad is skipped; two blank tags at once
    wait for one to go."""
    barcodes = [f"30000001{n:02d}" for n in range(1, 6)]
    async with desk(tmp_path, [item_tag(9)]) as d:
        progress_seen = d.live.subscribe(frozenset({"staff.batch"}))
        await d.rig.wait_field(1)
        started = await d.station.start_batch("program", barcodes)
        assert (started.total, started.pending, started.next_item) == (5, 5, barcodes[0])
        await refused("batch_active", d.station.program("3000000999"))

        def progress(done: int, failed: int = 0) -> Any:
            now = d.station.batch()
            assert now is not None
            return now if (now.done, now.failed) == (done, failed) else None

        await wait_for(lambda: (b := d.station.batch()) and b.skipped == 1, 5.0, "skip")
        for number in (1, 2):
            d.rig.put(blank(number))
            await wait_for(lambda n=number: progress(n), 5.0, f"tag {number} done")  # type: ignore[misc]

        d.rig.field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=blank_uid(3), after_blocks=1))
        d.rig.put(blank(3))
        failed = await wait_for(lambda: progress(2, failed=1), 5.0, "tag 3 failed")
        assert failed.pending == 2
        assert failed.next_item == barcodes[3]

        d.rig.put(blank(4), blank(5))                 # two new blank tags at once: wait
        await wait_for(lambda: (b := d.station.batch()) and b.notice, 5.0, "the notice")
        assert not any(d.rig.field.tag(blank_uid(4)).memory)
        d.rig.take(blank_uid(5))
        await wait_for(lambda: progress(3, failed=1), 5.0, "tag 4 done")

        d.rig.field.add(d.rig.field.tag(blank_uid(3)))  # tag 3 put back: finished
        await wait_for(lambda: progress(4), 5.0, "tag 3 done")
        d.rig.take(blank_uid(4))
        d.rig.put(blank(5))
        final = await wait_for(lambda: progress(5), 5.0, "tag 5 done")

        await wait_for(lambda: d.station.batch().state == "finished",  # type: ignore[union-attr]
                       5.0, "the batch to finish")
        final = d.station.batch()
        assert final is not None
        assert (final.done, final.failed, final.skipped, final.pending) == (5, 0, 1, 0)
        wanted = {1: barcodes[0], 2: barcodes[1], 3: barcodes[2], 4: barcodes[3],
                  5: barcodes[4]}
        for number, barcode in wanted.items():
            assert d.memory(blank_uid(number)).primary_item_id == barcode
        assert len(d.events("lib.tag.write.v1")) == 5
        assert len(d.events("lib.exception.v1")) == 1
        entry = next(e for e in final.entries if e.uid == blank_uid(3))
        assert entry.attempts == 2
        assert entry.attempts <= BATCH_ATTEMPTS

        published = []
        while (message := await progress_seen.next(0.1)) is not None:
            published.append(message.data)
        assert published[-1]["state"] == "finished"
        assert [m["done"] for m in published] == sorted(m["done"] for m in published)
        assert any(m["failed"] == 1 for m in published)


async def test_a_convert_batch_converts_each_arriving_tag_once(tmp_path: Path) -> None:
    book = legacy_3m.encode(LibraryTag(TagModel.LEGACY_3M, primary_item_id="1302003768",
                                       media_format=1)).memory.hex()
    async with desk(tmp_path, []) as d:
        await d.station.start_batch("convert")
        d.rig.put(blank(1, memory=BOOK_3M, afi="D7"), item_tag(4), blank(3))
        await wait_for(lambda: (b := d.station.batch()) and b.done == 1 and b.skipped == 2,
                       5.0, "the first tags")
        d.rig.put(blank(2, memory=book, afi="DA"))
        await wait_for(lambda: (b := d.station.batch()) and b.done == 2, 5.0, "the second")
        stopped = await d.station.stop_batch()
        assert (stopped.state, stopped.done, stopped.failed, stopped.skipped) == (
            "stopped", 2, 0, 2)
        assert d.memory(blank_uid(2)).model is TagModel.PART2
        assert d.rig.tag_afi(blank_uid(2)) == 0xC2
        assert len(d.events("lib.tag.write.v1")) == 2
        await d.station.program("3000000047", uid=blank_uid(3))   # the pad is free again


async def test_a_tag_cut_short_is_not_secured_as_if_it_were_done(tmp_path: Path) -> None:
    """Cut after two blocks, the tag decodes as a complete part 2 item (the id is in the
    first blocks) without owner, security or locks; a secure batch counted it done. Found by
    a review."""
    async with desk(tmp_path, [blank(1)]) as d:
        await d.rig.wait_field(1)
        uid = blank_uid(1)
        d.rig.field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=uid, after_blocks=2))
        await refused("tag_not_responding", d.station.program("3000000046"))
        sim = d.rig.field.tag(uid)
        d.rig.field.add(sim)
        await d.rig.wait_field(1)
        await refused("unfinished", d.station.set_security(uid, secured=False))
        await d.station.start_batch("secure")
        progress = await wait_for(lambda: (b := d.station.batch())
                                  and b.done + b.failed + b.skipped == 1 and b, 5.0, "the tag")
        await d.station.stop_batch()
        assert (progress.done, progress.failed) == (0, 1)
        await d.station.program("3000000046")     # finishing it
        assert not d.station.left_unfinished(uid)
        change = await d.station.set_security(uid, secured=False)
        assert change.after.secured is False


async def test_a_lock_step_cut_short_is_finished_by_programming_again(
        tmp_path: Path) -> None:
    """The data and security were done, the lock plan stopped part way. Programming again was
    refused for good ("blocks locked: give the item a new tag"), although the locked blocks
    hold exactly what the write puts there. Found by a review."""
    async with desk(tmp_path, [blank(1)]) as d:
        await d.rig.wait_field(1)
        uid = blank_uid(1)
        d.rig.field.inject(Fault(FaultKind.LOCKED_BLOCK, uid=uid, command=Command.LOCK_BLOCK,
                                 block=3, count=1))
        await refused("tag_refused", d.station.program("3000000042"))
        partly = d.locked(uid)
        assert partly
        assert d.station.left_unfinished(uid)
        result = await d.station.program("3000000042")
        assert result.written.primary_item_id == "3000000042"
        assert set(result.locked_blocks) == set(d.locked(uid)) > set(partly)
        assert d.memory(uid).primary_item_id == "3000000042"
        assert len(d.events("lib.tag.write.v1")) == 1
        assert not d.station.left_unfinished(uid)


async def test_a_commit_that_failed_after_locking_can_be_done_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with desk(tmp_path, [blank(1)]) as d:
        await d.rig.wait_field(1)
        uid = blank_uid(1)
        writer = d.rig.store.writer
        submit = writer.submit
        failures = [StoreError("disk full")]

        async def once_full(operation: Any, **kwargs: Any) -> Any:
            if kwargs.get("name") == "staff tag write" and failures:
                raise failures.pop()
            return await submit(operation, **kwargs)

        monkeypatch.setattr(writer, "submit", once_full)
        await refused("store_failed", d.station.program("3000000042"))
        assert d.locked(uid)
        await d.rig.wait_field(1)
        result = await d.station.program("3000000042")   # "do it again", as the error says
        assert result.written.primary_item_id == "3000000042"
        assert len(d.events("lib.tag.write.v1")) == 1


async def test_a_tag_locked_with_other_data_is_still_refused(tmp_path: Path) -> None:
    locked = {**item_tag(3), "locked": [0, 1]}
    async with desk(tmp_path, [locked]) as d:
        await d.rig.wait_field(1)
        await refused("tag_locked", d.station.program("3000000045", overwrite=True))


async def test_a_second_blank_tag_just_put_down_stops_the_write(tmp_path: Path) -> None:
    """The rule used the supervisor's last poll: a blank tag put down a moment before the
    write did not count, and the barcode could go on the wrong item. Found by a review."""
    async with desk(tmp_path, [blank(1)]) as d:
        await d.rig.wait_field(1)
        d.rig.put(blank(2))                       # the pad polls every second: not seen yet
        await refused("several_blank_tags", d.station.program("3000000042"))
        assert d.memory(blank_uid(1)).model is TagModel.BLANK
        assert d.memory(blank_uid(2)).model is TagModel.BLANK


async def test_a_tag_whose_dsfid_is_locked_is_left_as_it_was(tmp_path: Path) -> None:
    """No command reads whether the DSFID is locked. The data used to go first: a part 3 tag
    with its DSFID locked was left holding part 2 data under the part 3 DSFID, its own data
    gone, and every retry failed the same way. Found by a review."""
    tag = {**foreign_tag(3, owner=OWNER), "dsfid": "3E"}
    async with desk(tmp_path, [tag]) as d:
        uid = foreign_uid(3)
        d.rig.field.tag(uid).dsfid_locked = True
        await d.rig.wait_field(1)
        before = bytes(d.rig.field.tag(uid).memory)
        error = await refused("dsfid_locked", d.station.convert(uid))
        assert "new tag" in error.message
        assert bytes(d.rig.field.tag(uid).memory) == before
        assert d.memory(uid).primary_item_id == "5000000003"
        assert not d.station.left_unfinished(uid)
        [failure] = d.events("lib.exception.v1")
        assert failure.data["detail"].startswith("done: nothing verified; failed:")


async def test_a_tag_lifted_between_data_and_security_leaves_an_exception(
        tmp_path: Path) -> None:
    """The data is written; reading the security before setting it fails (the tag moved).
    Nothing recorded that the tag now holds a half-finished item. Found by a review."""
    async with desk(tmp_path, [blank(1)]) as d:
        await d.rig.wait_field(1)
        uid = blank_uid(1)
        reader = d.rig.supervisor.reader
        assert reader is not None

        async def lifted(tag: Uid, _scheme: Any) -> Any:
            raise TagNotResponding("no answer", uid=tag)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(reader, "read_security", lifted)
            await refused("tag_not_responding", d.station.program("3000000042"))
        assert d.memory(uid).primary_item_id == "3000000042"
        [failure] = d.events("lib.exception.v1")
        assert (failure.data["kind"], failure.data["primary_item_id"]) == (
            "security_failed", "3000000042")
        assert "data written" in failure.data["detail"]
        assert d.station.left_unfinished(uid)


async def test_a_patron_card_is_neither_cached_converted_nor_shown_by_number(
        tmp_path: Path) -> None:
    """A card's "item id" is the card number: setting its security cached it, converting it
    recorded it in an event and locked the card. Found by a review."""
    card_uid = uid_of(7)
    async with desk(tmp_path, [item_tag(7, usage=0x80, afi=0xC2)],
                    data_model="iso28560-3") as d:
        await d.rig.wait_field(1)
        watching = d.live.subscribe(frozenset({"staff"}))
        # Securing a card made it alarm at the gate like an item (found by a review);
        # switching a card's security off stays possible (a repair).
        error = await refused("patron_card", d.station.set_security(card_uid, secured=True))
        assert item_id(7) not in str(error)
        assert d.rig.tag_afi(card_uid) == 0xC2   # not touched
        change = await d.station.set_security(card_uid, secured=False)
        assert change.after.secured is False
        assert d.rig.store.cache.by_uid(str(card_uid)) is None
        message = await watching.next(1.0)
        assert message is not None
        assert item_id(7) not in json.dumps(message.data)
        await refused("patron_card", d.station.convert(card_uid))
        assert d.locked(card_uid) == []
        assert d.events("lib.tag.write.v1") == []
        await d.station.start_batch("convert")
        await wait_for(lambda: (b := d.station.batch()) and b.skipped == 1, 5.0, "a skip")
        stopped = await d.station.stop_batch()
        assert item_id(7) not in json.dumps(stopped.to_json())
        assert d.rig.store.cache.by_uid(str(card_uid)) is None


async def test_another_librarys_item_is_never_converted(tmp_path: Path) -> None:
    """An interlibrary loan in its owner's model: re-encoding and locking it would leave the
    owner a tag it may not read and cannot rewrite. Found by a review."""
    async with desk(tmp_path, [foreign_tag(1, owner="DE-705")]) as d:
        await d.rig.wait_field(1)
        uid = foreign_uid(1)
        before = bytes(d.rig.field.tag(uid).memory)
        error = await refused("not_ours", d.station.convert(uid))
        assert "DE-705" in error.message
        await d.station.start_batch("convert")
        await wait_for(lambda: (b := d.station.batch()) and b.skipped == 1, 5.0, "a skip")
        stopped = await d.station.stop_batch()
        assert (stopped.done, stopped.failed) == (0, 0)
        assert bytes(d.rig.field.tag(uid).memory) == before
        assert d.locked(uid) == []
        assert d.events("lib.tag.write.v1") == []


async def test_another_librarys_item_is_never_programmed_over(tmp_path: Path) -> None:
    """"overwrite" wrote our ISIL over an interlibrary loan's tag and locked it for good,
    while convert refused the same tag. Found by a review."""
    async with desk(tmp_path, [foreign_tag(1, owner="DK-775100", model=TagModel.PART2),
                               item_tag(2)]) as d:
        await d.rig.wait_field(2)
        uid = foreign_uid(1)
        before = bytes(d.rig.field.tag(uid).memory)
        for overwrite in (False, True):
            error = await refused("not_ours", d.station.program("5012345691", uid=uid,
                                                                overwrite=overwrite))
            assert error.message == ("Not programmed: another library's item (DK-775100): "
                                     "its tag stays as that library wrote it.")
            assert (error.status, error.field) == (409, "uid")
        assert bytes(d.rig.field.tag(uid).memory) == before
        assert d.locked(uid) == []
        assert d.events() == []
        # Our own item: the refusal names it and its owner.
        error = await refused("tag_not_blank", d.station.program("5012345691", uid=uid_of(2)))
        assert f"item {item_id(2)} of {OWNER} (iso28560-2)" in error.message


async def test_a_program_batch_skips_another_librarys_item_and_a_card_unnamed(
        tmp_path: Path) -> None:
    async with desk(tmp_path, [foreign_tag(1, owner="DK-775100"),
                               item_tag(7, usage=0x80)]) as d:
        await d.rig.wait_field(2)
        await d.station.start_batch("program", ["3000000101"])
        skipped = await wait_for(lambda: (b := d.station.batch()) and b.skipped == 2 and b,
                                 5.0, "both skipped")
        await d.station.stop_batch()
        entries = {entry.uid: entry for entry in skipped.entries}
        assert entries[foreign_uid(1)].message == (
            "another library's item (DK-775100): its tag stays as that library wrote it")
        card = entries[uid_of(7)]
        assert (card.item, card.message) == (None, "a library card, not an item")
        assert item_id(7) not in json.dumps(skipped.to_json())
        assert d.events("lib.tag.write.v1") == []


async def test_a_program_over_a_patron_card_is_refused_without_its_number(
        tmp_path: Path) -> None:
    async with desk(tmp_path, [item_tag(7, usage=0x80)]) as d:
        await d.rig.wait_field(1)
        for overwrite in (False, True):
            error = await refused("patron_card", d.station.program("3000000101",
                                                                   overwrite=overwrite))
            assert item_id(7) not in error.message
        assert d.memory(uid_of(7)).primary_item_id == item_id(7)


async def test_batch_requests_are_checked(tmp_path: Path) -> None:
    async with desk(tmp_path, []) as d:
        error = await refused("invalid_request", d.station.start_batch("program", ["1", "1"]))
        assert error.field == "items[1]"
        error = await refused("invalid_request", d.station.start_batch("program", []))
        await refused("invalid_request", d.station.start_batch("sort"))
        await refused("invalid_request", d.station.start_batch("secure", ["1"]))
        await refused("no_batch", d.station.stop_batch())
        assert d.station.batch() is None


async def test_a_secure_batch_sets_each_item_tag_once(tmp_path: Path) -> None:
    async with desk(tmp_path, [item_tag(1, afi=0xC2), item_tag(2, afi=0x00), blank(3)]) as d:
        await d.rig.wait_field(3)
        await d.station.start_batch("secure")
        done = await wait_for(lambda: batch_with(d, done=2), 5.0, "both items secured")
        assert (done.skipped, done.failed, done.pending) == (1, 0, 0)
        assert [d.rig.tag_afi(uid_of(n)) for n in (1, 2)] == [0x07, 0x07]
        assert d.rig.tag_afi(blank_uid(3)) == 0x00            # no item on it: left alone
        d.rig.field.tag(uid_of(1)).afi = 0xC2                # changed behind the batch's back
        await d.rig.wait_field(3)
        stopped = await d.station.stop_batch()
        assert stopped.done == 2
        assert d.rig.tag_afi(uid_of(1)) == 0xC2               # processed once, not again


def test_the_lock_plan_follows_the_tags_block_size() -> None:
    """An 8-byte-block tag locks a block only when the whole of it is in the 4-byte plan."""
    image = TagImage(bytes(32), 4, locked_blocks=(0, 1, 2, 5))
    assert lock_plan_for(image, 4) == (0, 1, 2, 5)
    assert lock_plan_for(image, 8) == (0,)            # block 1 = 4-byte blocks 2, 3: 3 free
    assert dsfid_to_write(TagImage(b"", 4, dsfid=0x06), 0x00) == 0x06
    assert dsfid_to_write(TagImage(b"", 4), 0x06) == NO_DSFID   # no longer part 2
    assert dsfid_to_write(TagImage(b"", 4), 0x00) is None
