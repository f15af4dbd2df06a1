# SPDX-License-Identifier: Apache-2.0
"""The security gate end to end: a simulated gate reader on a pty (AFI-filtered inventories
through the real driver and DeviceSupervisor), a real SQLite store with real cached items, the
alarm outputs checked on the simulated reader (they change only when a [0x71] frame arrived over
the pty) and the events checked in the outbox, decoded by the contract."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge_service.config import GateConfig, LibraryConfig, NodeConfig
from edge_service.store import GATE_TODAY, ItemRecord, Store, StoreConfig, write_state
from edge_service.workflows import LiveEvents, Subscription
from edge_service.workflows import gate as gate_module
from edge_service.workflows.gate import (
    GateMonitor,
    LightBarriers,
    PassageCounter,
    gate_inventory_afi,
)
from firmware_bridge import SECURITY_PRESETS, InputState, SecurityScheme
from firmware_bridge.simulator.frontends.feig import FeigFrontEnd
from protocols.contract import (
    GateAlarmData,
    GateAlarmItem,
    GateCountData,
    SecurityMismatchData,
    decode_event,
    event_data,
)
from protocols.iso28560 import LibraryTag, TagModel, encode_tag
from protocols.readers.feig import OutputMode
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

NODE = NodeConfig(tenant="DK-718500", site="DK-718501", node="gate-box", mode="gate")
LIBRARY = LibraryConfig(isil=OWNER)
ISO = SECURITY_PRESETS["iso"]
ALARM = "lib.gate.alarm.v1"
MISMATCH = "lib.security.mismatch.v1"
ALARM_ON = {"red": OutputMode.ON, "beeper": OutputMode.ON}


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)


def record(number: int, *, owner: str = OWNER, status: str = "03", secured: bool = True,
           title: str | None = None) -> ItemRecord:
    return ItemRecord(owner_institution=owner, primary_item_id=item_id(number),
                      circulation_status=status, security_expected=secured, catalog_version="1",
                      title=title or f"Title of item {number}", media="book")


@dataclass
class Gate:
    rig: Rig
    monitor: GateMonitor
    live: Subscription

    @property
    def store(self) -> Store:
        return self.rig.store

    def outputs(self) -> dict[str, OutputMode]:
        front_end = self.rig.simulator.front_end
        assert isinstance(front_end, FeigFrontEnd)
        return front_end.outputs()

    def alarm_on(self) -> bool:
        outputs = self.outputs()
        return all(outputs[name] is mode for name, mode in ALARM_ON.items())

    def events(self, type_: str) -> list[Any]:
        found = []
        for entry in self.store.outbox.peek(1000):
            event = decode_event(entry.payload)
            if event.type == type_:
                assert entry.topic.startswith("lib/v1/DK-718500/DK-718501/gate-box/evt/")
                found.append(event_data(event))
        return found

    async def wait_events(self, type_: str, count: int = 1, timeout_s: float = 5.0
                          ) -> list[Any]:
        def enough() -> list[Any] | None:
            found = self.events(type_)
            return found if len(found) >= count else None

        return await wait_for(enough, timeout_s, f"{count} {type_} event(s)")

    async def settle(self, inventories: int = 5) -> None:
        """Let the reader run a few more inventories (what would happen has happened)."""
        start = self.rig.supervisor.counters()["inventories"]
        await wait_for(lambda: self.rig.supervisor.counters()["inventories"]
                       >= start + inventories, 5.0, f"{inventories} more inventories")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def gate_rig(tmp_path: Path, items: Sequence[ItemRecord] = (), *, protocol: str = "feig",
                   scheme: SecurityScheme = ISO, gate: GateConfig | None = None,
                   clock: Callable[[], datetime] | None = None,
                   seen_uids: Sequence[tuple[int, str]] = (),
                   barriers: LightBarriers | None = None,
                   alarm_outputs: Sequence[int] = gate_module.ALARM_OUTPUTS
                   ) -> AsyncIterator[Gate]:
    store = await Store.open(StoreConfig(tmp_path / "gate.sqlite", max_delay_s=0.005))
    try:
        if items:
            await store.cache.apply_delta(list(items), seq=1)
        for number, owner in seen_uids:  # tags the box has seen before: known by UID
            await store.cache.record_tag_seen(str(uid_of(number)), owner, item_id(number),
                                              afi=0x07)
        async with pad_rig(tmp_path, role="gate", protocol=protocol, name="gate",
                           store=store, inventory_afi=gate_inventory_afi(scheme)) as rig:
            live = LiveEvents()
            woken: list[int] = []
            extra: dict[str, Any] = {} if clock is None else {"clock": clock}
            monitor = GateMonitor(rig.supervisor, store=store, node=NODE, library=LIBRARY,
                                  gate=gate or GateConfig(), scheme=scheme, live=live,
                                  wake_outbox=lambda: woken.append(1), barriers=barriers,
                                  alarm_outputs=alarm_outputs, **extra)
            subscription = live.subscribe(frozenset({"gate"}))
            monitor.start()
            try:
                yield Gate(rig, monitor, subscription)
            finally:
                await monitor.stop()
            assert not monitor.counters["events_failed"]
    finally:
        await store.close()


# --- alarms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seen_before", [True, False], ids=["uid-cached", "tag-read"])
async def test_a_secured_item_of_ours_alarms_and_names_the_item(tmp_path: Path,
                                                                 seen_before: bool) -> None:
    seen = [(1, OWNER)] if seen_before else []
    async with gate_rig(tmp_path, [record(1, title="Enten - Eller")], seen_uids=seen) as gate:
        assert not gate.alarm_on()
        gate.rig.put(item_tag(1, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        await wait_for(gate.alarm_on, 2.0, "the red LED and beeper on the reader")
        assert isinstance(alarm, GateAlarmData)
        assert (alarm.gate, alarm.direction, alarm.foreign) == ("gate", "unknown", False)
        [item] = alarm.items
        assert (item.uid, item.known, item.primary_item_id, item.owner_institution) == (
            str(uid_of(1)), True, item_id(1), OWNER)
        assert (item.afi, item.circulation_status, item.title) == ("07", "03", "Enten - Eller")
        message = await gate.live.next(1.0)
        assert message is not None
        assert message.kind == "gate.alarm"
        assert (message.data["sounded"], message.data["outputs"]) == (True, "sounded")
        assert message.data["items"][0]["primary_item_id"] == item_id(1)
        snapshot = gate.monitor.snapshot()
        assert (snapshot["alarms_total"], snapshot["alarms_today"]) == (1, 1)
        assert snapshot["last_alarms"][0]["items"][0]["title"] == "Enten - Eller"
        assert snapshot["detection"] == "afi-filter"
        await wait_for(lambda: gate.monitor.counters["output_commands"] == 1, 2.0,
                       "the output command acknowledged")
        assert gate.events(MISMATCH) == []


async def test_an_unsecured_item_never_alarms(tmp_path: Path) -> None:
    async with gate_rig(tmp_path, [record(1), record(2)]) as gate:
        gate.rig.put(item_tag(2, afi=0x02 + 0xC0))   # C2: on loan
        await gate.settle()
        assert gate.rig.supervisor.field == {}        # the AFI filter kept it silent
        gate.rig.put(item_tag(1, afi=0x07))           # a secured one: the gate works
        [alarm] = await gate.wait_events(ALARM)
        await gate.settle()
        assert [i.uid for i in alarm.items] == [str(uid_of(1))]
        assert len(gate.events(ALARM)) == 1


@pytest.mark.parametrize("policy", ["alarm", "report", "ignore"])
async def test_a_foreign_item_follows_the_policy(tmp_path: Path, policy: str) -> None:
    async with gate_rig(tmp_path, [record(1)], gate=GateConfig(foreign=policy)) as gate:
        gate.rig.put(item_tag(7, owner=FOREIGN, afi=0x07))
        await gate.settle()
        foreign = [a for a in gate.events(ALARM) if a.foreign]
        if policy == "ignore":
            assert foreign == []
            assert gate.monitor.counters["ignored"] == 1
        else:
            [alarm] = foreign
            assert [(i.owner_institution, i.primary_item_id) for i in alarm.items] == [
                (FOREIGN, item_id(7))]
            assert gate.alarm_on() is (policy == "alarm")
            assert gate.monitor.counters["output_commands"] == (policy == "alarm")
        gate.rig.put(item_tag(1, afi=0x07))          # our own item still alarms
        await gate.wait_events(ALARM, 1 + (policy != "ignore"))
        assert [a.foreign for a in gate.events(ALARM)][-1] is False


@pytest.mark.parametrize("policy", ["alarm", "report"])
async def test_an_unknown_tag_follows_the_policy(tmp_path: Path, policy: str) -> None:
    blank = {"uid": str(uid_of(9)), "afi": "07"}     # secured, but no library data on it
    async with gate_rig(tmp_path, gate=GateConfig(unknown=policy)) as gate:
        gate.rig.put(blank)
        [alarm] = await gate.wait_events(ALARM)
        [item] = alarm.items
        assert (item.uid, item.known, item.primary_item_id) == (str(uid_of(9)), False, None)
        await gate.settle()
        assert gate.alarm_on() is (policy == "alarm")
        assert gate.monitor.snapshot()["alarms_total"] == (policy == "alarm")
        assert gate.monitor.snapshot()["reports_total"] == (policy == "report")


@pytest.mark.parametrize("scheme", ["iso", "eas"])
async def test_a_secured_patron_card_never_alarms_nor_is_named(tmp_path: Path,
                                                                scheme: str) -> None:
    """A library card secured by mistake (or with its EAS bit set) alarmed as an item, and
    its card number went into the alarm event, the gate page and the log. Found by a review.
    A secured item walking out with it still alarms, alone."""
    card = item_tag(8, afi=0x07, eas=True, usage=0x80)
    async with gate_rig(tmp_path, [record(1)], scheme=SECURITY_PRESETS[scheme]) as gate:
        gate.rig.put(card, item_tag(1, afi=0x07, eas=True))
        [alarm] = await gate.wait_events(ALARM)
        await wait_for(lambda: (uid_of(8) in gate.rig.supervisor.field
                       and gate.rig.supervisor.field[uid_of(8)].read) or None, 5.0,
                       "the card read")
        await gate.settle()
        assert [item.primary_item_id for item in alarm.items] == [item_id(1)]
        payloads = b"".join(entry.payload for entry in gate.store.outbox.peek(1000))
        assert item_id(8).encode() not in payloads
        assert gate.monitor.snapshot()["alarms_total"] == 1


async def test_an_item_of_ours_the_cache_lacks_still_alarms(tmp_path: Path) -> None:
    async with gate_rig(tmp_path) as gate:
        gate.rig.put(item_tag(3, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        [item] = alarm.items
        assert (item.known, item.primary_item_id, item.circulation_status) == (
            True, item_id(3), None)


# --- items on loan: the grace window --------------------------------------------------------


async def _checked_out_at_a_kiosk(gate: Any, number: int) -> None:
    """What a kiosk's checkout does to the cache (self-check, before it writes the tag)."""
    assert await gate.store.cache.set_security_expected(OWNER, item_id(number), False)


async def test_an_item_just_checked_out_does_not_alarm_but_is_reported(tmp_path: Path) -> None:
    async with gate_rig(tmp_path, [record(4)], gate=GateConfig(realarm_s=1)) as gate:
        await _checked_out_at_a_kiosk(gate, 4)
        gate.rig.put(item_tag(4, afi=0x07))
        [mismatch] = await gate.wait_events(MISMATCH)
        assert isinstance(mismatch, SecurityMismatchData)
        assert (mismatch.primary_item_id, mismatch.owner_institution, mismatch.uid) == (
            item_id(4), OWNER, str(uid_of(4)))
        # The kiosk turns the expectation off at once; the status follows with the delta.
        assert (mismatch.circulation_status, mismatch.security_expected) == ("03", False)
        assert (mismatch.remediation, mismatch.observed_afi) == ("staff_alerted", "07")
        await asyncio.sleep(1.2)                     # decided again after realarm_s ...
        await gate.settle()
        assert gate.events(ALARM) == []
        assert not gate.alarm_on()
        assert len(gate.events(MISMATCH)) == 1       # ... but reported once per visit
        # Staff see it in the box's exception queue too (no central needed), once.
        [queued] = gate.store.journal.in_states(("needs_staff",))
        assert (queued.kind, queued.ended_at is not None) == ("gate_mismatch", True)
        assert (queued.data["primary_item_id"], queued.data["gate"]) == (item_id(4), "gate")
        assert "still secured" in queued.data["detail"]
        assert str(uid_of(4)) in queued.data["detail"]


async def test_a_mismatch_passing_again_is_queued_for_staff_once_a_day(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each passage is a mismatch event, but the staff queue (newest first, never emptied)
    gets one entry per item and day: a tag at the edge of the field, or a patron walking in
    and out, must not push the kiosks' exceptions out of it."""
    monkeypatch.setattr(gate_module, "LEFT_FIELD_AFTER_S", 0.3)
    async with gate_rig(tmp_path, [record(4)], gate=GateConfig(realarm_s=600)) as gate:
        await _checked_out_at_a_kiosk(gate, 4)
        supervisor = gate.rig.supervisor
        for passage in (1, 2, 3):
            gate.rig.put(item_tag(4, afi=0x07))
            await gate.wait_events(MISMATCH, passage)
            gate.rig.take(uid_of(4))
            await wait_for(lambda: not supervisor.field, 2.0, "the tag to leave")
            await asyncio.sleep(0.5)
            await gate.settle(2)
        assert len(gate.events(MISMATCH)) == 3
        queued = gate.store.journal.in_states(("needs_staff",))
        assert [(q.kind, q.data["primary_item_id"]) for q in queued] == [
            ("gate_mismatch", item_id(4))]


async def test_an_item_lent_by_a_catalog_delta_gets_the_grace_window_too(
        tmp_path: Path) -> None:
    """Checked out at a desk: the catalog's delta turns the expectation off."""
    async with gate_rig(tmp_path, [record(4)]) as gate:
        lent = dataclasses.replace(record(4, status="04", secured=False), catalog_version="2")
        await gate.store.cache.apply_delta([lent], seq=2)
        gate.rig.put(item_tag(4, afi=0x07))
        [mismatch] = await gate.wait_events(MISMATCH)
        assert mismatch.primary_item_id == item_id(4)
        await gate.settle()
        assert gate.events(ALARM) == []


async def test_a_catalog_change_to_a_long_loan_does_not_restart_the_grace_window(
        tmp_path: Path) -> None:
    """The window used to count from the cached row's last change: a title corrected in the
    catalog let a secured tag on a months-old loan walk out without an alarm. Found by a
    review."""
    async with gate_rig(tmp_path, [record(4)]) as gate:
        await _checked_out_at_a_kiosk(gate, 4)
        await gate.store.writer.submit(lambda conn: conn.execute(
            "UPDATE items SET unsecured_since = '2026-01-01T00:00:00.000Z' "
            "WHERE primary_item_id = ?", (item_id(4),)), commit_now=True)   # months ago
        retitled = dataclasses.replace(record(4, status="04", secured=False,
                                              title="Corrected title"), catalog_version="2")
        assert (await gate.store.cache.apply_delta([retitled], seq=2)).applied == 1
        gate.rig.put(item_tag(4, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        assert alarm.items[0].primary_item_id == item_id(4)


async def test_an_item_already_on_loan_in_the_snapshot_has_no_grace(tmp_path: Path) -> None:
    """When it went on loan is unknown: its secured tag alarms."""
    async with gate_rig(tmp_path, [record(4, status="04", secured=False)]) as gate:
        gate.rig.put(item_tag(4, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        assert alarm.items[0].circulation_status == "04"


async def test_an_item_on_loan_beyond_the_grace_window_alarms_too(tmp_path: Path) -> None:
    def later() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=121)   # grace_s defaults to 120

    async with gate_rig(tmp_path, [record(4)], clock=later) as gate:
        await _checked_out_at_a_kiosk(gate, 4)
        gate.rig.put(item_tag(4, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        [mismatch] = await gate.wait_events(MISMATCH)
        assert alarm.items[0].primary_item_id == item_id(4)
        assert mismatch.security_expected is False
        assert mismatch.primary_item_id == item_id(4)
        await wait_for(gate.alarm_on, 2.0, "the alarm outputs")


async def test_a_cache_row_without_a_time_zone_is_read_as_utc(tmp_path: Path) -> None:
    """The store writes UTC with a Z; a row written by someone else may lack the zone. It is
    read as UTC (here: long ago, so outside the grace window) instead of raising on every
    inventory, which left the gate deciding nothing for any tag in the field."""
    async with gate_rig(tmp_path, [record(1), record(4)]) as gate:
        await _checked_out_at_a_kiosk(gate, 4)
        await gate.store.writer.submit(lambda conn: conn.execute(
            "UPDATE items SET unsecured_since = '2024-01-01T00:00:00' "
            "WHERE primary_item_id = ?",
            (item_id(4),)), commit_now=True)
        gate.rig.put(item_tag(4, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        assert alarm.items[0].primary_item_id == item_id(4)
        assert gate.monitor.counters["decision_errors"] == 0


async def test_a_tag_that_cannot_be_judged_does_not_blind_the_gate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with gate_rig(tmp_path, [record(1), record(2)]) as gate:
        judge = gate.monitor._judge
        broken = uid_of(2)

        def failing(uid: Any, tag: Any, visit: Any, now: float) -> Any:
            if uid == broken:
                raise RuntimeError("a corrupt row")
            return judge(uid, tag, visit, now)

        monkeypatch.setattr(gate.monitor, "_judge", failing)
        gate.rig.put(item_tag(2, afi=0x07))
        await gate.settle()
        gate.rig.put(item_tag(1, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        assert [item.primary_item_id for item in alarm.items] == [item_id(1)]
        assert gate.monitor.counters["decision_errors"] >= 2   # judged again, not dropped


async def test_a_tag_known_by_uid_is_judged_on_arrival_without_a_second_lookup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The supervisor's arrival lookup already joined the item: the alarm's path holds one
    SQLite query, not two (bench/gate.py)."""
    async with gate_rig(tmp_path, [record(1)], seen_uids=[(1, OWNER)]) as gate:
        asked: list[tuple[str, str]] = []
        get = gate.store.cache.get

        def counting(owner: str, primary_item_id: str) -> Any:
            asked.append((owner, primary_item_id))
            return get(owner, primary_item_id)

        monkeypatch.setattr(gate.store.cache, "get", counting)
        gate.rig.put(item_tag(1, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        assert alarm.items[0].title == "Title of item 1"
        assert asked == []


async def test_a_tag_that_stays_is_judged_again_on_the_cache_as_it_is_then(
        tmp_path: Path) -> None:
    """The arrival lookup stands in only on the inventory that saw the tag arrive: an item
    checked out while its tag lies in the field is not alarmed again from the old row."""
    async with gate_rig(tmp_path, [record(1)], seen_uids=[(1, OWNER)],
                        gate=GateConfig(realarm_s=1)) as gate:
        gate.rig.put(item_tag(1, afi=0x07))
        await gate.wait_events(ALARM)
        await _checked_out_at_a_kiosk(gate, 1)
        [mismatch] = await gate.wait_events(MISMATCH, timeout_s=3.0)   # after realarm_s
        assert mismatch.security_expected is False
        await gate.settle()
        assert len(gate.events(ALARM)) == 1


# --- debounce --------------------------------------------------------------------------------


async def test_a_tag_that_stays_alarms_again_only_after_realarm_s(tmp_path: Path) -> None:
    async with gate_rig(tmp_path, [record(1)], gate=GateConfig(realarm_s=1)) as gate:
        gate.rig.put(item_tag(1, afi=0x07))
        await gate.wait_events(ALARM)
        first = time.monotonic()
        await asyncio.sleep(0.6)
        assert len(gate.events(ALARM)) == 1
        await gate.wait_events(ALARM, 2, timeout_s=3.0)
        assert time.monotonic() - first >= 0.9


async def test_leaving_rearms_but_a_missed_inventory_does_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate_module, "LEFT_FIELD_AFTER_S", 0.5)
    async with gate_rig(tmp_path, [record(1)], gate=GateConfig(realarm_s=600)) as gate:
        supervisor = gate.rig.supervisor
        gate.rig.put(item_tag(1, afi=0x07))
        await gate.wait_events(ALARM)
        gate.rig.take(uid_of(1))                     # one inventory misses it ...
        await wait_for(lambda: not supervisor.field, 2.0, "the tag to drop out")
        gate.rig.put(item_tag(1, afi=0x07))          # ... and it is back at once
        await wait_for(lambda: supervisor.field, 2.0, "the tag back")
        await gate.settle()
        assert len(gate.events(ALARM)) == 1
        gate.rig.take(uid_of(1))                     # it really leaves
        await wait_for(lambda: not supervisor.field, 2.0, "the tag to leave")
        await asyncio.sleep(0.8)
        await gate.settle(2)
        gate.rig.put(item_tag(1, afi=0x07))          # and comes back: a new passage
        await gate.wait_events(ALARM, 2)


# --- readers and schemes ---------------------------------------------------------------------


async def test_a_reader_without_outputs_still_records_every_alarm(tmp_path: Path) -> None:
    async with gate_rig(tmp_path, [record(1)], protocol="3m") as gate:
        gate.rig.put(item_tag(1, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        assert alarm.items[0].primary_item_id == item_id(1)
        snapshot = gate.monitor.snapshot()
        assert snapshot["outputs"] == "unavailable"
        assert snapshot["alarms_total"] == 1
        assert snapshot["counters"]["alarms_without_outputs"] == 1
        assert snapshot["counters"]["output_commands"] == 0
        # Nothing sounded, and the screens must not say it did.
        message = await gate.live.next(1.0)
        assert message is not None
        assert message.kind == "gate.alarm"
        assert (message.data["sounded"], message.data["outputs"]) == (False, "unavailable")
        assert snapshot["last_alarms"][0]["outputs"] == "unavailable"


async def test_an_alarm_whose_outputs_failed_does_not_say_it_sounded(tmp_path: Path) -> None:
    # Output 9 is none the FEIG [0x71] drives: the driver refuses the command.
    async with gate_rig(tmp_path, [record(1)], alarm_outputs=(9,)) as gate:
        gate.rig.put(item_tag(1, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        assert alarm.items[0].primary_item_id == item_id(1)
        message = await gate.live.next(1.0)
        assert message is not None
        assert message.kind == "gate.alarm"
        assert (message.data["sounded"], message.data["outputs"]) == (False, "failed")
        snapshot = gate.monitor.snapshot()
        assert snapshot["counters"]["output_errors"] == 1
        assert (snapshot["alarms_total"], snapshot["last_alarms"][0]["outputs"]) == (1, "failed")
        assert not gate.alarm_on()


async def test_eas_scheme_asks_each_tag_its_eas_bit(tmp_path: Path) -> None:
    eas = SECURITY_PRESETS["eas"]
    assert gate_inventory_afi(eas) is None
    async with gate_rig(tmp_path, [record(1), record(2)], scheme=eas) as gate:
        gate.rig.put(item_tag(2, afi=0x07, eas=False), item_tag(1, afi=0xC2, eas=True))
        [alarm] = await gate.wait_events(ALARM)
        await wait_for(lambda: gate.monitor.counters["security_checks"] >= 2, 5.0,
                       "both tags asked")
        await gate.settle()
        [item] = alarm.items
        assert (item.uid, item.eas, item.afi) == (str(uid_of(1)), True, None)
        assert len(gate.events(ALARM)) == 1
        assert gate.monitor.snapshot()["detection"] == "tag-check"
        assert gate.monitor.counters["security_unknown"] == 0


async def test_an_item_id_the_contract_refuses_does_not_lose_the_alarm(tmp_path: Path) -> None:
    image = encode_tag(LibraryTag(TagModel.PART2, primary_item_id="30 5",
                                  owner_institution=OWNER), size=MEMORY_BYTES).image
    assert image is not None
    async with gate_rig(tmp_path) as gate:
        gate.rig.put({**item_tag(5, afi=0x07), "memory": image.memory.hex()})
        [alarm] = await gate.wait_events(ALARM)
        [item] = alarm.items
        assert (item.uid, item.known, item.primary_item_id) == (str(uid_of(5)), True, None)


# --- people counting -------------------------------------------------------------------------


class ShiftedClock:
    """UTC now, moved on by ``shift`` (a count period can end without waiting an hour)."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


BARRIERS = LightBarriers(inside=1, outside=2)


def barrier_inputs(gate: Gate) -> FeigFrontEnd:
    front_end = gate.rig.simulator.front_end
    assert isinstance(front_end, FeigFrontEnd)
    return front_end


async def test_light_barriers_count_passages_and_give_the_alarm_direction(
        tmp_path: Path) -> None:
    clock = ShiftedClock()
    async with gate_rig(tmp_path, [record(1)], clock=clock, barriers=BARRIERS) as gate:
        front_end = barrier_inputs(gate)

        async def beams(*steps: tuple[int, bool]) -> None:
            for number, broken in steps:
                front_end.set_input(number, broken)
                await asyncio.sleep(0.25)

        await beams((1, True))                      # someone walks out, carrying item 1
        gate.rig.put(item_tag(1, afi=0x07))
        [alarm] = await gate.wait_events(ALARM)
        assert alarm.direction == "out"
        await beams((2, True), (1, False), (2, False))
        await beams((2, True), (1, True), (2, False), (1, False))   # someone walks in
        counts = await wait_for(lambda: (c := gate.monitor.snapshot()["counts"])["left"] == 1
                                and c["entered"] == 1 and c, 3.0, "one passage each way")
        assert counts["available"] is True
        assert counts["unknown_direction"] == 0
        clock.shift = timedelta(seconds=gate_module.COUNT_PERIOD_S)   # the hour is over
        [count] = await gate.wait_events("lib.gate.count.v1")
        assert isinstance(count, GateCountData)
        assert (count.gate, count.entered, count.left) == ("gate", 1, 1)
        assert count.end > count.start


async def test_an_alarm_before_the_beams_takes_the_direction_of_the_passage(
        tmp_path: Path) -> None:
    # The tags reach the field before the walker breaks a beam: the alarm sounds at once, and
    # its event waits for the passage that tells which way the item went.
    async with gate_rig(tmp_path, [record(1), record(2)], barriers=BARRIERS) as gate:
        front_end = barrier_inputs(gate)
        gate.rig.put(item_tag(1, afi=0x07))
        await wait_for(gate.alarm_on, 2.0, "the alarm, sounded before any beam broke")
        await asyncio.sleep(0.3)
        assert gate.events(ALARM) == []           # waiting for the direction
        for number, broken in ((2, True), (1, True), (2, False), (1, False)):   # walks in
            front_end.set_input(number, broken)
            await asyncio.sleep(0.25)
        [alarm] = await gate.wait_events(ALARM)
        assert alarm.direction == "in"
        assert [a["direction"] for a in gate.monitor.snapshot()["last_alarms"]] == ["in"]
        # Nobody passes: after DIRECTION_WAIT_S the event says unknown.
        gate.rig.put(item_tag(2, afi=0x07))
        [_, unknown] = await gate.wait_events(ALARM, 2, timeout_s=gate_module.DIRECTION_WAIT_S
                                              + 3.0)
        assert unknown.direction == "unknown"


async def test_a_waiting_decision_that_cannot_be_booked_stops_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with gate_rig(tmp_path, [record(1)], barriers=BARRIERS) as gate:
        gate.rig.put(item_tag(1, afi=0x07))
        await wait_for(gate.alarm_on, 2.0, "the alarm")

        def broken(*_: object) -> None:
            raise ValueError("a decision's bug")

        monkeypatch.setattr(gate.monitor, "_book", broken)
        await gate.monitor.stop()   # books what waits: the error is counted, not raised
        assert gate.monitor.counters["decision_errors"] == 1


async def test_count_periods_after_a_restart_do_not_overlap(tmp_path: Path) -> None:
    """Stopping records the period so far; the gate started again in the same hour used to
    count that hour from its top again, so two records covered the same minutes."""
    clock = ShiftedClock()
    async with gate_rig(tmp_path, [record(1)], clock=clock, barriers=BARRIERS) as gate:
        front_end = barrier_inputs(gate)

        async def walk_in() -> None:
            for number, broken in ((2, True), (1, True), (2, False), (1, False)):
                front_end.set_input(number, broken)
                await asyncio.sleep(0.25)

        await walk_in()
        await wait_for(lambda: gate.monitor.counters["passages_in"] == 1, 3.0, "one passage")
        await gate.monitor.stop()
        [before] = await gate.wait_events("lib.gate.count.v1")
        assert isinstance(before, GateCountData)

        restarted = GateMonitor(gate.rig.supervisor, store=gate.store, node=NODE,
                                library=LIBRARY, gate=GateConfig(), scheme=ISO,
                                live=LiveEvents(), clock=clock, barriers=BARRIERS)
        restarted.start()
        try:
            # The page's "today" goes on from the recorded period; "since start" does not.
            counts = restarted.snapshot()["counts"]
            assert (counts["today_entered"], counts["entered"]) == (1, 0)
            await walk_in()
            await wait_for(lambda: restarted.counters["passages_in"] == 1, 3.0, "a passage")
            assert restarted.snapshot()["counts"]["today_entered"] == 2
            clock.shift = timedelta(seconds=gate_module.COUNT_PERIOD_S)   # the hour is over
            await wait_for(lambda: len(gate.events("lib.gate.count.v1")) == 2, 3.0,
                           "the second period's count")
        finally:
            await restarted.stop()
        after = gate.events("lib.gate.count.v1")[1]
        assert isinstance(after, GateCountData)
        assert (before.entered, after.entered) == (1, 1)
        assert after.start >= before.end


@pytest.fixture
def kolkata() -> Iterator[None]:
    """The box's time zone is Asia/Kolkata (UTC+05:30) for the test."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.usefixtures("kolkata")
def test_count_periods_follow_the_local_clock_hour() -> None:
    """In a half-hour time zone "this hour" is the local hour: 10:00-11:00 IST is
    04:30-05:30 UTC, not 04:00-05:00."""
    moment = datetime(2026, 10, 1, 4, 50, tzinfo=UTC)          # 10:20 IST
    start = gate_module._period_floor(moment)
    assert start == datetime(2026, 10, 1, 4, 30, tzinfo=UTC)
    assert start.astimezone().strftime("%H:%M") == "10:00"
    assert gate_module._period_floor(datetime(2026, 10, 1, 4, 20, tzinfo=UTC)) == datetime(
        2026, 10, 1, 3, 30, tzinfo=UTC)                          # 09:50 IST


def test_passage_counter_reads_the_order_of_the_beams() -> None:
    counter = PassageCounter(LightBarriers(inside=1, outside=3))

    def feed(*states: tuple[int, int]) -> list[str | None]:
        return [counter.observe(InputState(inputs, changed)) for inputs, changed in states]

    assert feed((0b001, 1), (0b101, 4), (0b100, 1), (0, 4)) == [None, None, None, "out"]
    assert feed((0b100, 4), (0b101, 1), (0, 5)) == [None, None, "in"]
    assert counter.heading is None
    assert feed((0b001, 1), (0, 1)) == [None, None]            # stepped in and back: none
    assert feed((0, 0b101)) == ["unknown"]                      # both between two reads
    assert feed((0b010, 2), (0, 2)) == [None, None]            # another input: ignored


async def test_a_gate_name_the_contract_refuses_is_an_error_at_start(tmp_path: Path) -> None:
    async with gate_rig(tmp_path) as gate:
        gate.rig.supervisor.name = "gate 1"
        with pytest.raises(ValueError, match="'gate 1' cannot be an event's gate id"):
            GateMonitor(gate.rig.supervisor, store=gate.store, node=NODE, library=LIBRARY,
                        gate=GateConfig(), scheme=ISO, live=LiveEvents())
        gate.rig.supervisor.name = "gate"


async def restarted_snapshot(gate: Gate) -> dict[str, Any]:
    """What a monitor started again on the same store shows at once (before any inventory:
    a tag still in the field would be decided again)."""
    restarted = GateMonitor(gate.rig.supervisor, store=gate.store, node=NODE, library=LIBRARY,
                            gate=GateConfig(), scheme=ISO, live=LiveEvents())
    restarted.start()
    try:
        return restarted.snapshot()
    finally:
        await restarted.stop()


async def test_today_s_alarms_survive_a_restart(tmp_path: Path) -> None:
    async with gate_rig(tmp_path, [record(1)]) as gate:
        gate.rig.put(item_tag(1, afi=0x07))
        await gate.wait_events(ALARM)
        await gate.monitor.stop()
        snapshot = await restarted_snapshot(gate)
        assert (snapshot["alarms_total"], snapshot["alarms_today"]) == (0, 1)


@pytest.mark.parametrize("kept", [
    '{"day":"2001-01-01","alarms":5,"entered":7,"left":6}',   # another day: not today's
    '{"day":"2001-01-01","alarms":-1,"entered":7,"left":6}',
    "[1, 2]",
    "{not json",
], ids=["yesterday", "negative", "not-an-object", "not-json"])
async def test_tallies_not_of_today_or_unreadable_start_at_zero(
        tmp_path: Path, kept: str, caplog: pytest.LogCaptureFixture) -> None:
    async with gate_rig(tmp_path) as gate:
        await gate.monitor.stop()
        await gate.store.writer.submit(
            lambda conn: write_state(conn, GATE_TODAY.format(gate="gate"), kept))
        assert (await restarted_snapshot(gate))["alarms_today"] == 0
    readable = kept.startswith('{"day"') and "-1" not in kept
    assert ("not restored" in caplog.text) is not readable


async def test_a_restart_after_reports_only_restores_without_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A report (no alarm) records the tallies before any day is known to them."""
    async with gate_rig(tmp_path, [record(1)]) as gate:
        gate.rig.put(item_tag(7, owner=FOREIGN, afi=0x07))   # reported, no alarm
        await gate.wait_events(ALARM)
        await gate.monitor.stop()
        assert (await restarted_snapshot(gate))["alarms_today"] == 0
    assert "not restored" not in caplog.text


async def test_an_alarm_of_a_day_already_over_is_not_today_s(tmp_path: Path) -> None:
    """A decision booked late (its direction waited for) keeps its own time: one decided
    before midnight and booked after an alarm of the new day is not counted into today."""
    async with gate_rig(tmp_path) as gate:
        now = datetime.now(UTC)
        item = GateAlarmItem(uid=str(uid_of(1)), known=False)
        data = GateAlarmData(gate="gate", direction="unknown", items=(item,), foreign=False)
        gate.monitor._show_alarm(data, outputs="sounded", now=now)
        gate.monitor._show_alarm(data, outputs="sounded", now=now - timedelta(days=1))
        snapshot = gate.monitor.snapshot()
        assert (snapshot["alarms_total"], snapshot["alarms_today"]) == (2, 1)
