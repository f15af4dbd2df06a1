# SPDX-License-Identifier: Apache-2.0
"""3M D6 driver against the D6 simulator front-end, through a real pty.

Every test serves :class:`D6FrontEnd` with :class:`SimulatedReader` on a :class:`PtyEndpoint`
and opens :class:`D6Reader` on its stable link, the production serial path. Fault expectations
follow reader_protocols.md §4 (3M column); timers are patched down, never slept through."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge import transport
from firmware_bridge.drivers import d6 as driver
from firmware_bridge.drivers import reader_for
from firmware_bridge.drivers.d6 import D6Reader, TagWriteFailed
from firmware_bridge.pty import PtyEndpoint, WireFaults
from firmware_bridge.reader import (
    EAS_OFF_CONFIRMATIONS,
    Capability,
    OutputPulse,
    TagNotResponding,
    TagRefused,
    Unsupported,
    VerificationFailed,
)
from firmware_bridge.security import PRESETS
from firmware_bridge.simulator import Fault, FaultKind, RfField, load_scenario
from firmware_bridge.simulator.frontends import front_end_for
from firmware_bridge.simulator.frontends.d6 import D6FrontEnd
from firmware_bridge.simulator.scenario import ReaderFault
from firmware_bridge.simulator.server import SimulatedReader
from protocols.iso15693 import Command, Request, Uid, encode_request

NXP = Uid.from_text("E004010012345678")
NXP_2 = Uid.from_text("E0040100ABCDEF01")
TI = Uid.from_text("E007000011223344")
MEMORY = bytes(range(0x10, 0x10 + 28 * 4))


@pytest.fixture(autouse=True)
def fast_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the reader budget and the reopen back-off instead of sleeping through them."""
    monkeypatch.setattr(driver, "READER_OVERHEAD_S", 0.25)
    monkeypatch.setattr(driver, "REOPEN_WAIT_S", 3.0)
    monkeypatch.setattr(transport, "REOPEN_FIRST_DELAY_S", 0.02)
    monkeypatch.setattr(transport, "REOPEN_MAX_DELAY_S", 0.1)


def field_of(*tags: dict[str, Any]) -> RfField:
    return load_scenario({"tags": list(tags)}).field(seed=7)


def two_tags() -> RfField:
    return field_of({"uid": str(NXP), "memory": MEMORY.hex(), "afi": "D7", "dsfid": "11"},
                    {"uid": str(NXP_2), "afi": "DA"})


@contextlib.asynccontextmanager
async def served(
    tmp_path: Path, field: RfField, *, faults: WireFaults | None = None,
    reader_faults: tuple[ReaderFault, ...] = (),
) -> AsyncIterator[tuple[D6Reader, SimulatedReader, RfField]]:
    async with PtyEndpoint(tmp_path / "3m-pad", faults=faults) as endpoint:
        simulator = SimulatedReader(D6FrontEnd(field), endpoint, reader_faults=reader_faults)
        task = asyncio.create_task(simulator.serve())
        reader = D6Reader(endpoint.device_path)
        try:
            await reader.open()
            yield reader, simulator, field
        finally:
            await reader.close()
            simulator.stop()
            await task


async def wait_until(sim: SimulatedReader, t: float) -> None:
    await asyncio.sleep(max(0.0, t - sim.now))


# --- the interface ---------------------------------------------------------------------------


def test_tables_name_the_driver_and_front_end() -> None:
    reader = reader_for("3m", "/dev/null")
    assert isinstance(reader, D6Reader)
    assert reader.security == PRESETS["3m"]
    assert isinstance(front_end_for("3m", RfField()), D6FrontEnd)


async def test_open_probes_and_info(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, _):
        assert reader.probes == 1
        info = await reader.info()
        assert (info.protocol, info.firmware) == ("3m", "0A.03.02.06")
        assert Capability.EAS in info.capabilities
        assert Capability.RF_CONTROL not in info.capabilities
        assert reader.health.frames_sent == reader.health.frames_received == 1
        captured: list[tuple[str, bytes]] = []
        reader.transport.wire_tap = lambda direction, data: captured.append((direction, data))
        await reader.inventory()
        assert captured[0] == ("tx", bytes.fromhex("D6 00 05 FE 00 05 FA 40"))  # vector v54


async def test_inventory_with_and_without_afi_filter(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        assert {s.uid for s in await reader.inventory()} == {NXP, NXP_2}
        assert [s.uid for s in await reader.inventory(afi=0xD7)] == [NXP]
        assert [s.uid for s in await reader.inventory(afi=0xDA)] == [NXP_2]
        field.remove(NXP)
        field.remove(NXP_2)
        assert await reader.inventory() == []  # no tag is a result, not an error


async def test_read_memory_and_system_info(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, _):
        data, info = await reader.read_memory(NXP)
        assert data == MEMORY
        assert (info.block_count, info.block_size, info.afi, info.dsfid) == (28, 4, 0xD7, 0x11)
        assert await reader.read_blocks(NXP, 3, 2) == MEMORY[12:20]


async def test_verified_write_spanning_several_commands(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        payload = bytes(range(0xA0, 0xA0 + 42))  # 11 blocks after padding: two write commands
        await reader.write_memory(NXP, payload, first_block=2)
        assert field.tag(NXP).memory[8:8 + 44] == payload + bytes(2)
        assert field.tag(NXP).memory[:8] == MEMORY[:8]
        assert reader.health.writes_ok == 1


async def test_write_to_ti_tag_uses_the_option_flag(tmp_path: Path) -> None:
    async with served(tmp_path, field_of({"uid": str(TI)})) as (reader, _, field):
        await reader.write_memory(TI, b"TAGIT-OK")
        assert bytes(field.tag(TI).memory[:8]) == b"TAGIT-OK"


async def test_security_defaults_to_3m_afi_and_takes_any_scheme(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        state = await reader.set_security(NXP_2, True)
        assert (state.afi, state.secured) == (0xD7, True)
        assert field.tag(NXP_2).afi == 0xD7
        assert (await reader.read_security(NXP_2)).secured is True
        await reader.set_security(NXP_2, False)
        assert field.tag(NXP_2).afi == 0xDA
        iso = await reader.set_security(NXP_2, True, PRESETS["iso"])
        assert (iso.afi, field.tag(NXP_2).afi) == (0x07, 0x07)
        eas = await reader.set_security(NXP_2, True, PRESETS["eas"])
        assert (eas.eas, field.tag(NXP_2).eas) == (True, True)
        assert await reader.read_eas(NXP_2) is True
        await reader.set_eas(NXP_2, False)
        assert await reader.read_eas(NXP_2) is False  # status 06, tag confirmed present


async def test_check_eas_of_absent_tag_is_not_reported_as_off(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        field.remove(NXP)
        with pytest.raises(TagNotResponding, match="3M status 0x06"):
            await reader.read_eas(NXP)


async def test_lock_blocks_then_writes_are_refused(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        await reader.lock_blocks(NXP, [2, 3])
        assert list(field.tag(NXP).locked[1:5]) == [0, 1, 1, 0]
        await reader.lock_blocks(NXP, [3])  # already locked: verified, not an error
        with pytest.raises(TagRefused) as refused:
            await reader.write_memory(NXP, bytes(16), first_block=1)
        assert (refused.value.iso_error, refused.value.block) == (0x12, 2)
        assert "3M status 0x12" in str(refused.value)
        assert reader.health.writes_failed == 1
        assert field.tag(NXP).memory[4:8] == bytes(4)  # block 1 went in before the refusal
        assert field.tag(NXP).memory[8:16] == MEMORY[8:16]


async def test_lock_and_verify_reads_the_lock_bytes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        assert await reader.lock_and_verify(NXP, [9, 2, 3]) == (2, 3, 9)
        assert await reader.read_lock_status(NXP, 1, 10) == (
            False, True, True, False, False, False, False, False, True, False)

        async def acknowledged_only(uid: Uid, block: int) -> None:
            pass  # a reader that says "locked" without the tag locking anything

        monkeypatch.setattr(reader.chipset, "lock_block", acknowledged_only)
        with pytest.raises(VerificationFailed, match=r"blocks \[5\] unlocked"):
            await reader.lock_and_verify(NXP, [3, 5])
        assert not field.tag(NXP).locked[5]
        assert reader.health.writes_failed == 1


async def test_dsfid_is_written_and_verified(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        field.inject(Fault(FaultKind.AIR_CRC_ERROR, NXP, count=1, command=0x29))
        info = await reader.set_dsfid(NXP, 0x06)  # 0x16 on the first try, then retried
        assert (info.dsfid, field.tag(NXP).dsfid) == (0x06, 0x06)
        assert reader.health.retries >= 1
        assert await reader.chipset.read_dsfid(NXP) == 0x06


async def test_one_lost_check_eas_reply_is_not_eas_off(tmp_path: Path) -> None:
    armed = field_of({"uid": str(NXP), "eas": True, "afi": "D7"}, {"uid": str(NXP_2), "afi": "DA"})
    async with served(tmp_path, armed) as (reader, _, field):
        field.inject(Fault(FaultKind.AIR_CRC_ERROR, NXP, count=1, command=0xA5))
        assert await reader.read_eas(NXP) is True
        assert reader.health.extra["eas_retries"] == 1
        assert await reader.read_eas(NXP_2) is False
        assert reader.health.extra["eas_retries"] == EAS_OFF_CONFIRMATIONS


async def test_block_out_of_range_is_refused(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, _):
        with pytest.raises(TagRefused, match="3M status 0x11") as refused:
            await reader.read_blocks(NXP, 26, 4)
        assert refused.value.iso_error == 0x10


async def test_what_the_3m_protocol_lacks_is_unsupported(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, _):
        with pytest.raises(Unsupported):
            await reader.rf_reset()
        with pytest.raises(Unsupported):
            await reader.rf_power(on=False)
        with pytest.raises(Unsupported):
            await reader.set_outputs([OutputPulse(1, 0.5)])
        with pytest.raises(Unsupported):
            await reader.get_inputs()


# --- air faults (§4, 3M column) --------------------------------------------------------------


async def test_addressed_tag_absent_is_transient_not_responding(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        field.inject(Fault(FaultKind.NO_TAG, uid=NXP, count=1))
        with pytest.raises(TagNotResponding, match="3M status 0x06"):
            await reader.system_info(NXP)
        assert (await reader.system_info(NXP)).afi == 0xD7


async def test_air_crc_error_on_read_is_status_15_and_on_write_retried(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        field.inject(Fault(FaultKind.AIR_CRC_ERROR, uid=NXP, count=1,
                           command=Command.READ_MULTIPLE_BLOCKS))
        with pytest.raises(TagNotResponding, match="3M status 0x15"):
            await reader.read_blocks(NXP, 0, 2)
        field.inject(Fault(FaultKind.AIR_CRC_ERROR, uid=NXP, count=1,
                           command=Command.WRITE_SINGLE_BLOCK))
        await reader.write_memory(NXP, b"12345678")
        assert reader.health.retries == 1
        assert field.tag(NXP).memory[:8] == b"12345678"


async def test_collision_and_missed_quiet_in_inventory(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        field.inject(Fault(FaultKind.COLLISION, count=1))
        assert {s.uid for s in await reader.inventory()} == {NXP, NXP_2}
        # A tag that misses its quiet command answers the second poll: listed twice by the
        # reader (3M spec 7.1), once by the driver.
        field.inject(Fault(FaultKind.NO_TAG, uid=NXP, command=Command.STAY_QUIET, count=1))
        raw = await reader.chipset.inventory()
        assert [e.uid for e in raw.entries].count(str(NXP)) == 2
        field.inject(Fault(FaultKind.NO_TAG, uid=NXP, command=Command.STAY_QUIET, count=1))
        assert sorted(s.uid for s in await reader.inventory()) == [NXP, NXP_2]


async def test_tag_leaving_mid_write_then_verified_write_retries(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        tag = field.tag(NXP)
        field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=NXP, after_blocks=2))
        with pytest.raises(TagWriteFailed, match="3M status 0x16") as failed:
            await reader.write_blocks(NXP, 4, bytes(16), block_size=4)
        assert failed.value.block == 6
        assert tag.memory[16:24] == bytes(8)  # blocks 4, 5 written
        assert tag.memory[24:32] == MEMORY[24:32]  # blocks 6, 7 untouched
        field.add(tag)

        async def put_back() -> None:  # the patron puts the item back on the pad
            while NXP in {t.uid for t in field.present}:
                await asyncio.sleep(0.002)
            field.add(tag)

        field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=NXP, after_blocks=1))
        helper = asyncio.create_task(put_back())
        await reader.write_memory(NXP, b"A" * 16, first_block=4)
        await helper
        assert tag.memory[16:32] == b"A" * 16
        assert reader.health.retries >= 1
        assert reader.health.writes_ok == 1


async def test_wrong_password_mutes_until_the_next_inventory(tmp_path: Path) -> None:
    async with served(tmp_path, two_tags()) as (reader, _, field):
        field.inject(Fault(FaultKind.WRONG_PASSWORD, uid=NXP, count=1))
        rnd = await reader.chipset.pass_through(
            encode_request(Request.get_random_number(uid=NXP), with_crc=False), 3)
        assert len(rnd.data) == 3
        set_password = Request.set_password(0x10, 0x12345678, 0xBEEF, uid=NXP)
        refused = await reader.chipset.pass_through(
            encode_request(set_password, with_crc=False), 2)
        assert refused.data == bytes([0x01, 0x0F])  # ISO error flag, code 0F
        with pytest.raises(TagNotResponding, match="3M status 0x06"):
            await reader.read_blocks(NXP, 0, 1)
        assert NXP in {s.uid for s in await reader.inventory()}  # RF reset before inventory
        assert await reader.read_blocks(NXP, 0, 1) == MEMORY[:4]


# --- reader and line faults ------------------------------------------------------------------


async def test_dropped_request_times_out_and_is_resent(tmp_path: Path) -> None:
    # "silence": the reader ignores the request (busy); the probe is resent and succeeds.
    faults = (ReaderFault("silence", at=0.0, count=1),)
    async with served(tmp_path, two_tags(), reader_faults=faults) as (reader, _, _):
        assert reader.probes == 1
        assert reader.health.timeouts == 1
        assert reader.health.retries == 1
        assert len(await reader.inventory()) == 2


async def test_garbage_and_truncated_replies_are_survived(tmp_path: Path) -> None:
    faults = (ReaderFault("garbage", at=0.0, count=3), ReaderFault("truncate", at=0.0, count=2))
    async with served(tmp_path, two_tags(), reader_faults=faults) as (reader, _, _):
        assert len(await reader.inventory()) == 2
        assert await reader.read_blocks(NXP, 0, 2) == MEMORY[:8]
        assert reader.health.garbage_bytes > 0
        assert reader.health.timeouts >= 1


async def test_reader_reboot_is_ridden_out(tmp_path: Path) -> None:
    faults = (ReaderFault("reboot", at=0.5, duration=0.15),)
    async with served(tmp_path, two_tags(), reader_faults=faults) as (reader, sim, _):
        await wait_until(sim, 0.55)
        assert len(await reader.inventory()) == 2
        assert reader.health.timeouts >= 1


async def test_vanishing_device_is_reopened_and_reprobed(tmp_path: Path) -> None:
    faults = (ReaderFault("vanish", at=0.4, duration=0.3),)
    async with served(tmp_path, two_tags(), reader_faults=faults) as (reader, sim, _):
        await wait_until(sim, 0.5)
        assert len(await reader.inventory()) == 2
        assert reader.probes == 2
        assert reader.health.reconnects == 1
        assert reader.transport.counters.reopens == 1


# --- the hostile-transport matrix ------------------------------------------------------------


@pytest.mark.parametrize("faults", WireFaults.matrix(), ids=lambda faults: faults.name)
async def test_end_to_end_over_hostile_wires(tmp_path: Path, faults: WireFaults,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # "lossy" drops 2 % of the bytes: about half of all 40-byte replies. A real 19200-baud
    # line loses far less; the retry budget is raised, not the behaviour changed.
    monkeypatch.setattr(driver, "EXCHANGE_ATTEMPTS", 12)
    async with served(tmp_path, two_tags(), faults=faults) as (reader, _, field):
        assert {s.uid for s in await reader.inventory()} == {NXP, NXP_2}
        assert await reader.read_blocks(NXP, 0, 4) == MEMORY[:16]
        await reader.write_memory(NXP, b"HOSTILE!", first_block=10)
        assert field.tag(NXP).memory[40:48] == b"HOSTILE!"
        state = await reader.set_security(NXP, False)
        assert (state.afi, field.tag(NXP).afi) == (0xDA, 0xDA)
