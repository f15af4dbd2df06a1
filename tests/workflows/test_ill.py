# SPDX-License-Identifier: Apache-2.0
"""Interlibrary loan through the simulator: another library's item received at a simulated FEIG
desk pad and returned, the same physical tag then carried to a simulated gate reader sharing the
box's SQLite store. Tags are checked by decoding the simulated memory afresh and by comparing
its raw bytes (the owner's data must not change); events by decoding the outbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_service.config import GateConfig, LibraryConfig
from edge_service.store import IllLoan, Store, StoreConfig, write_ill_loan
from edge_service.workflows import LiveEvents, WorkflowError
from edge_service.workflows import gate as gate_module
from edge_service.workflows.gate import GateMonitor, gate_inventory_afi
from firmware_bridge import SECURITY_PRESETS
from firmware_bridge.simulator.faults import Fault, FaultKind
from firmware_bridge.simulator.tag import VirtualTag
from protocols.contract import GateAlarmData, decode_event, event_data
from protocols.iso15693 import Uid
from protocols.iso28560 import LibraryTag, TagModel, encode_tag
from tests.workflows.rig import MEMORY_BYTES, OWNER, Rig, fast_timers, pad_rig, wait_for
from tests.workflows.technical import (
    NODE,
    Station,
    foreign_tag,
    foreign_uid,
    legacy_3m_tag,
    legacy_uid,
    station,
)

LENDER = "DE-705"
TRANSACTION = "ILL-2026-0042"
ISO = SECURITY_PRESETS["iso"]


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)
    # An item carried away from the gate has left after 0.1 s: the test's next visit of the
    # same tag is a new passage.
    monkeypatch.setattr(gate_module, "LEFT_FIELD_AFTER_S", 0.1)


async def refused(code: str, operation: object) -> WorkflowError:
    with pytest.raises(WorkflowError) as caught:
        await operation  # type: ignore[misc]
    assert caught.value.code == code, caught.value
    return caught.value


@contextlib.asynccontextmanager
async def gate_on(store: Store, tmp_path: Path) -> AsyncIterator[tuple[Rig, GateMonitor]]:
    """A gate reader (AFI-filtered) on the station's store; foreign items are ignored, so an
    alarm for another library's item shows the gate took it for ours."""
    (tmp_path / "gate").mkdir(exist_ok=True)
    async with pad_rig(tmp_path / "gate", role="gate", name="gate", store=store,
                       inventory_afi=gate_inventory_afi(ISO)) as rig:
        monitor = GateMonitor(rig.supervisor, store=store, node=NODE,
                              library=LibraryConfig(isil=OWNER),
                              gate=GateConfig(foreign="ignore"), scheme=ISO, live=LiveEvents())
        monitor.start()
        try:
            yield rig, monitor
        finally:
            await monitor.stop()


def alarms(store: Store) -> list[GateAlarmData]:
    found = [decode_event(e.payload) for e in store.outbox.peek(10_000)]
    return [event_data(e) for e in found if e.type == "lib.gate.alarm.v1"]


async def carry(tag: VirtualTag, source: Rig, target: Rig) -> None:
    """The item taken off one reader (gone from its inventories) and held at another."""
    source.take(tag.uid)
    start = source.supervisor.counters()["inventories"]
    await wait_for(lambda: source.supervisor.counters()["inventories"] >= start + 5, 5.0,
                   "the reader to see the item gone")
    target.field.add(tag)
    await wait_for(lambda: tag.uid in target.supervisor.field, 5.0, "the tag on the reader")


# --- the scenario ----------------------------------------------------------------------

async def test_an_ill_item_is_received_treated_as_ours_at_the_gate_and_returned(
        tmp_path: Path) -> None:
    """A Danish-model (ISO 28560-3) item of DE-705: received, it carries our ISIL and the
    transaction number; the gate alarms for it as for our own; returned, the tag is as the
    owner sent it, byte for byte, and the gate ignores it again (a foreign item)."""
    async with station(tmp_path, [foreign_tag(1, owner=LENDER, afi="C2")]) as s:
        uid = foreign_uid(1)
        await s.rig.wait_field(1)
        original = s.raw(uid)
        result = await s.services.ill.receive(transaction_number=TRANSACTION, operator="anna")

        fresh = s.memory(uid)
        assert (fresh.model, fresh.primary_item_id, fresh.owner_institution) == (
            TagModel.PART3, "5000000001", LENDER)
        assert (fresh.ill_borrowing_institution, fresh.ill_borrowing_transaction_number) == (
            OWNER, TRANSACTION)
        assert s.raw(uid)[:34] == original[:34]     # the basic block (owner's data) unchanged
        assert s.rig.tag_afi(uid) == 0x07             # secured: in our stock now
        assert (result.tag_written, result.tag_note) == (True, None)
        loan = s.rig.store.ill.get(LENDER, "5000000001")
        assert loan is not None
        assert (loan.uid, loan.transaction_number, loan.borrowing_institution,
                loan.tag_written) == (str(uid), TRANSACTION, OWNER, True)
        [received] = s.events("lib.ill.v1")
        assert received.data == {
            "action": "received", "primary_item_id": "5000000001", "owner_institution": LENDER,
            "borrowing_institution": OWNER, "tag_written": True, "uid": str(uid),
            "transaction_number": TRANSACTION, "data_model": "iso28560-3", "tag_note": None,
            "afi": "07", "operator": "anna"}
        assert received.id == result.event_id

        async with gate_on(s.rig.store, tmp_path) as (gate, monitor):
            await carry(s.rig.field.tag(uid), s.rig, gate)
            await wait_for(lambda: alarms(s.rig.store) or None, 5.0, "the gate's alarm")
            [alarm] = alarms(s.rig.store)
            assert alarm.foreign is False
            assert [(i.owner_institution, i.primary_item_id) for i in alarm.items] == [
                (LENDER, "5000000001")]
            await carry(gate.field.tag(uid), gate, s.rig)

            await s.rig.wait_field(1)
            back = await s.services.ill.give_back(operator="anna")
            assert s.raw(uid) == original              # every ILL byte cleared, nothing else
            assert back.tag_written is True
            assert s.rig.store.ill.get(LENDER, "5000000001") is None
            returned = s.events("lib.ill.v1")[-1]
            assert (returned.data["action"], returned.data["tag_written"],
                    returned.data["transaction_number"]) == ("returned", True, TRANSACTION)

            ignored = monitor.counters["ignored"]
            await carry(s.rig.field.tag(uid), s.rig, gate)   # still secured, now foreign
            await wait_for(lambda: monitor.counters["ignored"] > ignored, 5.0, "ignored")
            assert len(alarms(s.rig.store)) == 1


async def test_an_owners_locked_part2_tag_gets_the_ill_elements_around_its_locks(
        tmp_path: Path) -> None:
    """ISO 28560-2 with the owner's lock plan (PII and ISIL locked, the locked group after the
    free elements): a fresh image would move the locked group, so the ILL elements go after it
    and every locked block stays byte-identical; returned, the tag is as the owner sent it."""
    lent = foreign_tag(2, owner=LENDER, model=TagModel.PART2, lock_plan=True)
    locked = lent["locked"]
    assert locked
    async with station(tmp_path, [lent]) as s:
        uid = foreign_uid(2)
        await s.rig.wait_field(1)
        original = s.raw(uid)
        result = await s.services.ill.receive(transaction_number=TRANSACTION)
        assert (result.tag_written, result.tag_note) == (True, None)
        after = s.raw(uid)
        assert [after[4 * b:4 * b + 4] for b in locked] == [
            original[4 * b:4 * b + 4] for b in locked]
        fresh = s.memory(uid)
        assert (fresh.model, fresh.primary_item_id, fresh.owner_institution) == (
            TagModel.PART2, "5000000002", LENDER)
        assert (fresh.ill_borrowing_institution, fresh.ill_borrowing_transaction_number) == (
            OWNER, TRANSACTION)
        [event] = s.events("lib.ill.v1")
        assert event.data["tag_written"] is True

        await s.rig.wait_field(1)
        back = await s.services.ill.give_back()
        assert (back.tag_written, s.raw(uid)) == (True, original)


async def test_a_part2_tag_locked_throughout_is_left_as_it_is_and_the_loan_recorded(
        tmp_path: Path) -> None:
    """Every block locked: the ILL elements have nowhere to go, so the tag is not written; the
    loan is recorded, and that record is what the gate goes by."""
    lent = {**foreign_tag(2, owner=LENDER, model=TagModel.PART2), "locked": list(range(28))}
    async with station(tmp_path, [lent]) as s:
        uid = foreign_uid(2)
        await s.rig.wait_field(1)
        original = s.raw(uid)
        result = await s.services.ill.receive(transaction_number=TRANSACTION)
        assert s.raw(uid) == original
        assert result.tag_written is False
        assert result.tag_note is not None
        assert "locked" in result.tag_note
        assert s.rig.store.ill.on_loan(LENDER, "5000000002")
        [event] = s.events("lib.ill.v1")
        assert (event.data["tag_written"], event.data["tag_note"]) == (False, result.tag_note)

        back = await s.services.ill.give_back()
        assert (back.tag_written, s.raw(uid)) == (False, original)
        assert not s.rig.store.ill.on_loan(LENDER, "5000000002")


async def test_an_unlocked_part2_tag_gets_the_ill_elements(tmp_path: Path) -> None:
    async with station(tmp_path, [foreign_tag(3, owner=LENDER, model=TagModel.PART2)]) as s:
        uid = foreign_uid(3)
        await s.rig.wait_field(1)
        original = s.raw(uid)
        await s.services.ill.receive(transaction_number=TRANSACTION)
        fresh = s.memory(uid)
        assert (fresh.model, fresh.owner_institution, fresh.ill_borrowing_institution) == (
            TagModel.PART2, LENDER, OWNER)
        assert s.rig.field.tag(uid).dsfid == 0x06
        await s.rig.wait_field(1)
        await s.services.ill.give_back()
        assert s.raw(uid) == original


async def test_a_3m_tag_names_its_owner_from_the_request_and_is_not_written(
        tmp_path: Path) -> None:
    async with station(tmp_path, [legacy_3m_tag(1, afi="D7")]) as s:
        uid = legacy_uid(1)
        await s.rig.wait_field(1)
        original = s.raw(uid)
        error = await refused("no_owner", s.services.ill.receive())
        assert error.field == "owner_institution"
        result = await s.services.ill.receive(owner_institution=LENDER, secured=False)
        assert result.tag_written is False
        assert result.tag_note is not None
        assert "3m" in result.tag_note
        assert s.raw(uid) == original
        assert s.rig.tag_afi(uid) == 0xC2              # security off, as asked
        assert s.rig.store.ill.on_loan(LENDER, "1302000001")


async def test_the_pad_shows_the_security_ill_set_on_a_tag_it_did_not_write(
        tmp_path: Path) -> None:
    """A 3M tag is received without writing its memory, only its security: the supervisor's
    entry kept the AFI read on arrival (inventories do not report it). Found by a review."""
    async with station(tmp_path, [legacy_3m_tag(2, afi="D7")]) as s:
        uid = legacy_uid(2)
        await s.rig.wait_field(1)
        result = await s.services.ill.receive(owner_institution=LENDER, secured=False)
        assert result.tag_written is False
        assert s.rig.tag_afi(uid) == 0xC2
        seen = s.rig.supervisor.field[uid]
        assert (seen.read, seen.afi) == (True, 0xC2)


async def test_an_ill_tag_stays_listed_with_its_new_data_when_received_and_returned(
        tmp_path: Path) -> None:
    """ILL made the supervisor forget the tag it wrote: the staff tag list left it out until
    the next inventory read it again, though it lay on the pad. Found by a review. No
    inventory runs in between here (one every 60 s), so the list shows what the write left."""
    async with station(tmp_path, [foreign_tag(8, owner=LENDER, afi="C2")],
                       poll_interval_ms=60_000) as s:
        uid = foreign_uid(8)
        await s.rig.wait_field(1)
        original = s.raw(uid)
        await s.services.ill.receive(transaction_number=TRANSACTION)
        [view] = await s.station.tags()
        shown = view.to_json()
        assert (shown["uid"], shown["owner_institution"], shown["secured"]) == (
            str(uid), LENDER, True)
        assert shown["elements"]["ill_borrowing_institution"] == OWNER
        seen = s.rig.supervisor.field[uid]
        assert seen.memory == s.raw(uid) != original
        assert (seen.ill_borrowing_institution, seen.afi) == (OWNER, 0x07)

        await s.services.ill.give_back()
        [view] = await s.station.tags()
        assert "ill_borrowing_institution" not in view.to_json()["elements"]
        seen = s.rig.supervisor.field[uid]
        assert (seen.memory, seen.ill_borrowing_institution, seen.afi) == (
            original, None, 0x07)


async def test_ill_refusals(tmp_path: Path) -> None:
    ours = foreign_tag(4, owner=OWNER)
    async with station(tmp_path, [ours, foreign_tag(5, owner=LENDER)]) as s:
        await s.rig.wait_field(2)
        await refused("several_tags", s.services.ill.receive())
        await refused("own_item", s.services.ill.receive(uid=str(foreign_uid(4))))
        await refused("not_on_loan", s.services.ill.give_back(uid=foreign_uid(5)))
        error = await refused("invalid_request", s.services.ill.receive(
            uid=foreign_uid(5), transaction_number="x" * 65))
        assert error.field == "transaction_number"
        await refused("not_found", s.services.ill.receive(uid="E004015099999999"))
        assert s.events() == []
    (tmp_path / "no-isil").mkdir()
    async with station(tmp_path / "no-isil", [foreign_tag(5)], isil="") as s:
        await s.rig.wait_field(1)
        await refused("no_isil", s.services.ill.receive())


async def test_an_ill_write_cut_short_is_recorded_and_finished_later(tmp_path: Path) -> None:
    async with station(tmp_path, [foreign_tag(6, owner=LENDER)]) as s:
        uid = foreign_uid(6)
        await s.rig.wait_field(1)
        original = s.raw(uid)
        tag = s.rig.field.tag(uid)
        s.rig.field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=uid, after_blocks=1))
        await refused("tag_not_responding", s.services.ill.receive(
            transaction_number=TRANSACTION))
        assert tag.memory[:34] == original[:34]      # the owner's basic block untouched
        [failure] = s.events("lib.exception.v1")
        assert (failure.data["kind"], failure.data["owner_institution"]) == (
            "write_failed", LENDER)
        assert s.events("lib.ill.v1") == []
        assert not s.rig.store.ill.on_loan(LENDER, "5000000006")

        s.rig.field.add(tag)
        await s.rig.wait_field(1)
        await s.services.ill.receive(transaction_number=TRANSACTION)
        fresh = s.memory(uid)
        assert (fresh.ill_borrowing_institution, fresh.ill_borrowing_transaction_number) == (
            OWNER, TRANSACTION)
        assert len(s.events("lib.ill.v1")) == 1


# --- the gate: the smallest change, on its own ----------------------------------------------------

def ill_part2_tag(number: int, *, borrower: str | None) -> dict[str, object]:
    """Another library's item (part 2) whose tag names ``borrower`` as ILL borrower."""
    tag = LibraryTag(TagModel.PART2, primary_item_id=f"7{number:09d}", owner_institution=LENDER,
                     ill_borrowing_institution=borrower)
    image = encode_tag(tag, size=MEMORY_BYTES).image
    assert image is not None
    return {"uid": f"E00401507700{number:04X}", "memory": image.memory.hex(), "afi": "07",
            "dsfid": "06"}


async def test_the_gate_takes_an_ill_item_for_ours_by_record_or_by_tag(tmp_path: Path) -> None:
    """Foreign items are ignored by policy here: an item on loan to us (a recorded loan, or a
    tag naming our ISIL as ILL borrower) alarms as ours; one lent elsewhere stays ignored."""
    store = await Store.open(StoreConfig(tmp_path / "edge.sqlite", max_delay_s=0.005))
    try:
        await store.writer.submit(lambda conn: write_ill_loan(conn, IllLoan(
            LENDER, "7000000001", None, TRANSACTION, OWNER, "iso28560-2", False,
            "2026-10-01T10:00:00.000Z")), commit_now=True)
        async with gate_on(store, tmp_path) as (gate, monitor):
            gate.put(ill_part2_tag(1, borrower=None))          # recorded loan
            gate.put(ill_part2_tag(2, borrower=OWNER))         # the tag says so
            gate.put(ill_part2_tag(3, borrower="SE-1234"))     # on loan elsewhere
            await wait_for(lambda: len({i.primary_item_id for a in alarms(store)
                                        for i in a.items}) == 2, 5.0, "two alarms")
            await wait_for(lambda: monitor.counters["ignored"] >= 1, 5.0, "one ignored")
            alarmed = {i.primary_item_id for a in alarms(store) for i in a.items}
            assert alarmed == {"7000000001", "7000000002"}
            assert all(a.foreign is False for a in alarms(store))
    finally:
        await store.close()


async def test_received_loans_are_listed(tmp_path: Path) -> None:
    async with station(tmp_path, [foreign_tag(7, owner=LENDER)]) as s:
        await s.rig.wait_field(1)
        await s.services.ill.receive(transaction_number=TRANSACTION)
        [loan] = s.services.ill.loans()
        assert loan.to_json()["transaction_number"] == TRANSACTION
        assert isinstance(s, Station)


async def test_an_ill_item_known_by_its_uid_is_taken_for_ours_on_every_visit(
        tmp_path: Path) -> None:
    """The tag says it is on loan to us (ILL borrowing institution); no loan is recorded on
    this box. Its second visit used to be judged from the cache alone (another library's
    item: ignored here) because the cache does not keep the ILL element; the gate now has
    such a tag read. Found by a review."""
    store = await Store.open(StoreConfig(tmp_path / "edge.sqlite", max_delay_s=0.005))
    try:
        async with gate_on(store, tmp_path) as (gate, monitor):
            tag = ill_part2_tag(2, borrower=OWNER)
            uid = Uid.from_text(tag["uid"])
            gate.put(tag)
            await wait_for(lambda: len(alarms(store)) == 1 or None, 5.0, "the first alarm")
            await wait_for(lambda: store.cache.by_uid(str(uid)), 5.0, "the tag recorded")
            gate.take(uid)
            await wait_for(lambda: uid not in gate.supervisor.field or None, 5.0, "gone")
            await asyncio.sleep(0.3)               # the visit ends (LEFT_FIELD_AFTER_S)
            gate.put(tag)
            await wait_for(lambda: len(alarms(store)) == 2 or None, 5.0, "the second alarm")
            assert monitor.counters["ignored"] == 0
    finally:
        await store.close()


async def test_an_owner_named_in_another_case_is_the_tag_s_owner(tmp_path: Path) -> None:
    """ISILs compare without case (ISO 15511): staff naming the lender DE-705 for a tag that
    says de-705 were refused (owner_differs). Found by a review. The loan is kept under the
    form the cache uses, so the gate finds it by the cache's owner."""
    async with station(tmp_path, [foreign_tag(7, owner=LENDER.lower())]) as s:
        await s.rig.wait_field(1)
        await s.services.ill.receive(transaction_number=TRANSACTION, owner_institution=LENDER)
        [loan] = s.services.ill.loans()
        assert loan.owner_institution == LENDER
        assert s.station.store.ill.on_loan(LENDER, loan.primary_item_id)
