# SPDX-License-Identifier: Apache-2.0
"""TrfReader against the simulated TRF7970A EVM, through a real pty.

Every test opens the production driver on the pty slave that ``SimulatedReader`` serves the
:class:`TrfFrontEnd` on. Reporting follows reader_protocols.md §4, TI EVM column: ``[]`` ->
empty inventory / TagNotResponding, ``[z]`` -> TransientReaderFault, ``[01xx]`` -> TagRefused.
Timers are patched down instead of slept through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from firmware_bridge import transport
from firmware_bridge.drivers import reader_for
from firmware_bridge.drivers import trf7970a as driver
from firmware_bridge.drivers.trf7970a import TrfReader
from firmware_bridge.errors import ReaderTimeout, TransientError
from firmware_bridge.pty import PtyEndpoint, WireFaults
from firmware_bridge.reader import (
    EAS_OFF_CONFIRMATIONS,
    Capability,
    OutputPulse,
    TagNotResponding,
    TagRefused,
    TransientReaderFault,
    Unsupported,
)
from firmware_bridge.security import SecurityScheme
from firmware_bridge.simulator import (
    FAMILY_BY_KEY,
    Fault,
    FaultKind,
    ReaderFault,
    RfField,
    TagSpec,
)
from firmware_bridge.simulator.frontends.trf7970a import TrfFrontEnd
from firmware_bridge.simulator.server import SimulatedReader, WireReply
from protocols.iso15693 import PasswordId, Uid
from protocols.readers import trf7970a as trf

NXP = Uid.from_text("E004015012345678")
NXP2 = Uid.from_text("E0040150AABBCCDD")
TI = Uid.from_text("E007000011223344")
MEMORY = bytes(range(28 * 4))
ISO = SecurityScheme()
EAS = SecurityScheme(use_afi=False, use_eas=True)
T = TypeVar("T")


def slix(uid: Uid = NXP, **fields: object) -> TagSpec:
    return TagSpec(uid, FAMILY_BY_KEY["slix"], **fields)  # type: ignore[arg-type]


def tagit(uid: Uid = TI, **fields: object) -> TagSpec:
    return TagSpec(uid, FAMILY_BY_KEY["tagit-plus"], **fields)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def fast_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "REOPEN_FIRST_DELAY_S", 0.02)
    monkeypatch.setattr(transport, "REOPEN_MAX_DELAY_S", 0.1)
    monkeypatch.setattr(driver, "TIMEOUT_MARGIN_S", 0.1)
    monkeypatch.setattr(driver, "INVENTORY_QUIET_S", 0.06)
    monkeypatch.setattr(driver, "MALFORMED_GRACE_S", 0.03)


@dataclass
class Rig:
    field: RfField
    front_end: TrfFrontEnd
    sim: SimulatedReader
    endpoint: PtyEndpoint
    reader: TrfReader


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, *tags: TagSpec, faults: WireFaults | None = None,
              reader_faults: tuple[ReaderFault, ...] = (),
              front_end: type[TrfFrontEnd] = TrfFrontEnd) -> AsyncIterator[Rig]:
    field = RfField.with_tags(spec.build() for spec in tags)
    async with PtyEndpoint(tmp_path / "ttyTRF", faults=faults) as endpoint:
        fe = front_end(field)
        sim = SimulatedReader(fe, endpoint, reader_faults=reader_faults)
        task = asyncio.create_task(sim.serve())
        reader = TrfReader(endpoint.device_path)
        try:
            await retry(reader.open)
            yield Rig(field, fe, sim, endpoint, reader)
        finally:
            await reader.close()
            sim.stop()
            await task


async def retry(operation: Callable[[], Awaitable[T]], attempts: int = 10) -> T:
    """The daemon's policy: retry transient failures, nothing else."""
    for _ in range(attempts - 1):
        with contextlib.suppress(TransientError):
            return await operation()
    return await operation()


def commands(rig_: Rig) -> list[int]:
    return [request.command for request in rig_.front_end.requests]


def iso_commands(rig_: Rig) -> list[bytes]:
    """The tunnelled ISO 15693 frames (flags, command, ...), in order."""
    return [r.params for r in rig_.front_end.requests if r.command == 0x18]


# --- probe, info, the reader interface ------------------------------------------------------


async def test_open_pings_and_sets_up_then_info(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        assert commands(r)[:4] == [0xFF, 0x10, 0xF0, 0xF1]
        assert r.front_end.registers.rf_on
        info = await r.reader.info()
        assert info.protocol == "trf7970a"
        assert info.firmware == "Firmware Revision 03 from 11/Nov/2013"
        assert Capability.EAS in info.capabilities
        assert Capability.OUTPUTS not in info.capabilities


def test_driver_table_names_the_class() -> None:
    assert isinstance(reader_for("trf7970a", "/dev/null"), TrfReader)


async def test_inventory_with_and_without_afi_and_empty_field(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(afi=0x07), slix(NXP2, afi=0xC2), tagit(afi=0x07)) as r:
        assert {s.uid for s in await r.reader.inventory()} == {NXP, NXP2, TI}
        assert {s.uid for s in await r.reader.inventory(afi=0x07)} == {NXP, TI}
        for uid in (NXP, NXP2, TI):
            r.field.remove(uid)
        assert await r.reader.inventory() == []


async def test_inventory_of_many_tags_resolves_collisions(tmp_path: Path) -> None:
    uids = [Uid.from_text(f"E0040150000000{n:02X}") for n in range(0, 0xC0, 0x10)]
    async with rig(tmp_path, *(slix(uid) for uid in uids)) as r:  # 12 tags, all in slot 0
        assert {s.uid for s in await r.reader.inventory()} == set(uids)


async def test_read_memory_and_system_info(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(memory=MEMORY, afi=0x07, dsfid=0x11)) as r:
        data, info = await r.reader.read_memory(NXP)
        assert data == MEMORY
        assert (info.block_count, info.block_size, info.afi, info.dsfid) == (28, 4, 0x07, 0x11)
        assert await r.reader.read_blocks(NXP, 27, 1) == MEMORY[-4:]


async def test_verified_write_nxp_plain_and_ti_with_option_flag(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(), tagit()) as r:
        await r.reader.write_memory(NXP, b"0123456789")
        assert bytes(r.field.tag(NXP).memory[:12]) == b"0123456789\0\0"
        await r.reader.write_memory(TI, b"abcdefgh", first_block=2)
        assert bytes(r.field.tag(TI).memory[8:16]) == b"abcdefgh"
        writes = [f for f in iso_commands(r) if f[1] == 0x21]
        assert {f[0] & 0x40 for f in writes if f[2:10] == NXP.wire} == {0}
        assert {f[0] & 0x40 for f in writes if f[2:10] == TI.wire} == {0x40}
        assert r.reader.health.writes_ok == 2


async def test_ti_tag_without_option_flag_reports_no_response(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """§4 option-flag mismatch: the Tag-it programs the block but never answers: ``[]``."""
    monkeypatch.setattr(driver, "WRITE_OPTION_BY_MANUFACTURER", {})
    async with rig(tmp_path, tagit()) as r:
        with pytest.raises(TagNotResponding):
            await r.reader.write_blocks(TI, 0, b"WXYZ", block_size=4)
        assert r.field.tag(TI).block(0) == b"WXYZ"


async def test_security_by_afi_and_by_nxp_eas(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(afi=0xC2), tagit(afi=0xC2)) as r:
        state = await r.reader.set_security(NXP, True, ISO)
        assert (state.afi, state.secured) == (0x07, True)
        assert (await r.reader.set_security(TI, True, ISO)).secured
        assert r.field.tag(TI).afi == 0x07
        assert (await r.reader.set_security(NXP, True, EAS)).eas is True
        assert r.field.tag(NXP).eas
        assert (await r.reader.read_security(NXP, EAS)).secured is True
        assert (await r.reader.set_security(NXP, False, EAS)).secured is False
        assert await r.reader.read_eas(NXP) is False
        with pytest.raises(Unsupported):
            await r.reader.set_eas(TI, True)


async def test_lock_then_write_is_refused_and_out_of_range(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(), tagit()) as r:
        await r.reader.lock_blocks(NXP, [3])
        await r.reader.lock_blocks(NXP, [3])  # already locked counts as locked
        await r.reader.lock_blocks(TI, [0])
        assert r.field.tag(NXP).locked[3]
        assert r.field.tag(TI).locked[0]
        with pytest.raises(TagRefused) as refused:
            await r.reader.write_memory(NXP, b"x" * 16)
        assert (refused.value.iso_error, refused.value.block) == (0x12, 3)
        with pytest.raises(TagRefused) as out_of_range:
            await r.reader.read_blocks(NXP, 200, 1)
        assert out_of_range.value.iso_error == 0x10


class _SaysAlreadyLocked(TrfFrontEnd):
    """Answers LOCK BLOCK with ISO error 0x11 "already locked" without locking anything."""

    def _request_mode(self, echo: bytes, params: bytes) -> list[WireReply]:
        if params[1:2] != b"\x22":
            return super()._request_mode(echo, params)
        refusal = trf.encode_groups([trf.data_group(bytes((0x01, 0x11)))]) + trf.CRLF
        return [WireReply(echo, 0.001), WireReply(refusal, 0.01)]


async def test_lock_and_verify_reads_the_security_status_back(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(), tagit()) as r:
        assert await r.reader.lock_and_verify(NXP, [4, 2]) == (2, 4)
        assert await r.reader.read_lock_status(NXP, 1, 4) == (False, True, False, True)
        assert await r.reader.lock_and_verify(TI, [0]) == (0,)  # option flag for TI
        assert any(frame[1] == 0x2C for frame in iso_commands(r))


async def test_already_locked_counts_only_when_the_status_confirms_it(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(), front_end=_SaysAlreadyLocked) as r:
        with pytest.raises(TagRefused) as refused:
            await r.reader.lock_and_verify(NXP, [6])
        assert (refused.value.iso_error, refused.value.block) == (0x11, 6)
        assert not r.field.tag(NXP).locked[6]
        r.field.tag(NXP).locked[6] = 1
        await r.reader.lock_blocks(NXP, [6])  # now the status confirms it: done


async def test_dsfid_is_written_with_the_option_flag_for_ti_and_verified(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, slix(), tagit()) as r:
        r.field.inject(Fault(FaultKind.AIR_CRC_ERROR, NXP, count=1, command=0x29))
        assert (await r.reader.set_dsfid(NXP, 0x06)).dsfid == 0x06  # [z] once, retried
        assert r.reader.health.retries >= 1
        assert (await r.reader.set_dsfid(TI, 0x06)).dsfid == 0x06
        assert (r.field.tag(NXP).dsfid, r.field.tag(TI).dsfid) == (0x06, 0x06)
        writes = [frame for frame in iso_commands(r) if frame[1] == 0x29]
        assert [bool(frame[0] & 0x40) for frame in writes] == [False, False, True]


async def test_one_unanswered_eas_alarm_is_not_eas_off(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(eas=True), slix(NXP2)) as r:
        r.field.inject(Fault(FaultKind.NO_TAG, NXP, count=1, command=0xA5))
        assert await r.reader.read_eas(NXP) is True
        assert r.reader.health.extra["eas_retries"] == 1
        assert await r.reader.read_eas(NXP2) is False
        assert r.reader.health.extra["eas_retries"] == EAS_OFF_CONFIRMATIONS
        alarms = [frame for frame in iso_commands(r) if frame[1] == 0xA5]
        assert len(alarms) == 2 + EAS_OFF_CONFIRMATIONS


async def test_rf_power_and_unsupported_outputs(tmp_path: Path) -> None:
    async with rig(tmp_path, slix()) as r:
        await r.reader.rf_power(False)
        assert not r.front_end.registers.rf_on
        assert await r.reader.inventory() == []
        await r.reader.rf_power(True)
        assert [s.uid for s in await r.reader.inventory()] == [NXP]
        with pytest.raises(Unsupported):
            await r.reader.set_outputs([OutputPulse(1, 0.1)])
        with pytest.raises(Unsupported):
            await r.reader.get_inputs()


# --- air faults (§4) ------------------------------------------------------------------------


async def test_no_tag(tmp_path: Path) -> None:
    async with rig(tmp_path, slix()) as r:
        r.field.inject(Fault(FaultKind.NO_TAG, NXP))
        assert await r.reader.inventory() == []
        with pytest.raises(TagNotResponding):
            await r.reader.system_info(Uid.from_text("E004019999999999"))
        with pytest.raises(TagNotResponding):
            await r.reader.read_blocks(NXP, 0, 1)


async def test_air_crc_error_and_collision_are_transient_and_retried(tmp_path: Path) -> None:
    async with rig(tmp_path, slix()) as r:
        r.field.inject(Fault(FaultKind.AIR_CRC_ERROR, NXP, count=1))
        with pytest.raises(TransientReaderFault, match=r"\[z\]"):
            await r.reader.read_blocks(NXP, 0, 2)
        r.field.inject(Fault(FaultKind.COLLISION, NXP, count=1))
        with pytest.raises(TransientReaderFault):
            await r.reader.system_info(NXP)
        r.field.inject(Fault(FaultKind.AIR_CRC_ERROR, NXP, count=1, command=0x21))
        await r.reader.write_memory(NXP, b"retried!")
        assert r.reader.health.retries >= 1
        assert bytes(r.field.tag(NXP).memory[:8]) == b"retried!"
        r.field.inject(Fault(FaultKind.COLLISION, NXP, count=1))
        assert [s.uid for s in await r.reader.inventory()] == [NXP]  # firmware sub-round


async def test_tag_leaving_mid_write_then_verified_retry(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(memory=b"\xee" * 16)) as r:
        r.field.inject(Fault(FaultKind.LEAVE_MID_WRITE, NXP, after_blocks=2))
        with pytest.raises(TagNotResponding):
            await r.reader.write_blocks(NXP, 0, b"A" * 16, block_size=4)
        tag = r.field.tag(NXP)
        assert bytes(tag.memory[:16]) == b"A" * 8 + b"\xee" * 8  # blocks < 2 written, rest not
        r.field.add(tag)  # the patron puts the item back
        await r.reader.write_memory(NXP, b"A" * 16)
        assert bytes(tag.memory[:16]) == b"A" * 16


async def test_locked_block_fault_is_refused(tmp_path: Path) -> None:
    async with rig(tmp_path, slix()) as r:
        r.field.inject(Fault(FaultKind.LOCKED_BLOCK, NXP, block=1))
        with pytest.raises(TagRefused) as refused:
            await r.reader.write_memory(NXP, b"12345678")
        assert (refused.value.iso_error, refused.value.block) == (0x12, 1)
        assert r.reader.health.writes_failed == 1


async def test_wrong_password_resets_rf_so_the_tag_speaks_again(tmp_path: Path) -> None:
    async with rig(tmp_path, slix()) as r:
        r.field.inject(Fault(FaultKind.WRONG_PASSWORD, NXP, count=1))
        with pytest.raises(TagRefused) as refused:
            await r.reader.set_password(NXP, PasswordId.EAS_AFI, 0x12345678)
        assert refused.value.iso_error == 0x0F
        assert r.field.tag(NXP).muted is False  # the driver's RF reset lifted the mute
        assert commands(r)[-2:] == [0x10, 0x10]  # RF off, RF on
        assert (await r.reader.system_info(NXP)).uid == NXP


class _LosesPasswordReply(TrfFrontEnd):
    """Prints the echo of the first SET PASSWORD request but never its result line."""

    lost = 0

    def receive(self, data: bytes) -> list[WireReply]:
        replies = super().receive(data)
        request = self.requests[-1] if self.requests else None
        if (replies and request is not None and request.command == 0x18
                and request.params[1:2] == b"\xB3" and not self.lost):
            self.lost += 1
            return replies[:1]
        return replies


async def test_set_password_is_sent_once_and_followed_by_an_rf_reset(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(), front_end=_LosesPasswordReply) as r:
        with pytest.raises(ReaderTimeout):
            await r.reader.set_password(NXP, PasswordId.EAS_AFI, 0)
        assert [frame[1] for frame in iso_commands(r)] == [0xB2, 0xB3]  # no resend
        tag = r.field.tag(NXP)
        assert not tag.muted  # a resend would have been a wrong password
        assert tag.authenticated == set()  # the RF reset ended the (unconfirmed) session
        assert commands(r)[-2:] == [0x10, 0x10]  # RF off, RF on
        assert (await r.reader.system_info(NXP)).uid == NXP


# --- serial and reader faults ---------------------------------------------------------------


async def test_garbage_and_truncated_replies_never_crash(tmp_path: Path) -> None:
    faults = (ReaderFault("garbage", at=0.0, count=6), ReaderFault("truncate", at=0.0, count=4))
    async with rig(tmp_path, slix(memory=MEMORY), reader_faults=faults) as r:
        for _ in range(4):
            assert await retry(lambda: r.reader.read_blocks(NXP, 0, 8)) == MEMORY[:32]
            assert [s.uid for s in await retry(r.reader.inventory)] == [NXP]
        await retry(lambda: r.reader.write_memory(NXP, b"after noise"))
        assert bytes(r.field.tag(NXP).memory[:11]) == b"after noise"
        health = r.reader.health
        assert health.garbage_bytes > 0 or health.crc_errors > 0


class _Mangling(TrfFrontEnd):
    """Prints a tag answer one byte short (a reply the line decoder accepts) a few times."""

    mangle = 0

    def receive(self, data: bytes) -> list[WireReply]:
        replies = super().receive(data)
        if self.mangle and replies and replies[-1].data.startswith(b"[00"):
            self.mangle -= 1
            last = replies[-1]
            replies[-1] = WireReply(last.data[:-5] + b"]\r\n", last.delay_s)
        return replies


async def test_malformed_answer_is_a_transient_error(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(memory=MEMORY), front_end=_Mangling) as r:
        assert isinstance(r.front_end, _Mangling)
        r.front_end.mangle = driver.LINK_ATTEMPTS
        with pytest.raises(TransientReaderFault, match="do not make"):
            await r.reader.read_blocks(NXP, 0, 2)
        r.front_end.mangle = 1
        assert await r.reader.read_blocks(NXP, 0, 2) == MEMORY[:8]  # retried inside
        assert r.reader.health.crc_errors >= driver.LINK_ATTEMPTS + 1


async def test_reader_reboot_is_noticed_and_set_up_again(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(memory=MEMORY),
                   reader_faults=(ReaderFault("reboot", at=0.4, duration=0.3),)) as r:
        await asyncio.sleep(max(0.0, 0.5 - r.sim.now))
        # Asked while the board is deaf: the silence times out, the driver probes the board
        # again (ping + set-up) and repeats the request.
        assert await r.reader.read_blocks(NXP, 0, 1) == MEMORY[:4]
        assert r.reader.health.timeouts >= 1
        assert commands(r).count(0xFF) >= 2
        # A reboot the port never saw (brown-out between requests): RF off, no silence.
        r.front_end.reboot()
        r.field.rf_reset()
        assert [s.uid for s in await r.reader.inventory()] == [NXP]  # chip status checked
        r.front_end.reboot()
        assert await r.reader.read_blocks(NXP, 1, 1) == MEMORY[4:8]  # after [] likewise
        assert r.reader.health.extra.get("rf_restored") == 2


async def test_reader_silent_longer_than_the_retries(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(), reader_faults=(
            ReaderFault("silence", at=0.3, count=1000),)) as r:
        await asyncio.sleep(max(0.0, 0.4 - r.sim.now))
        with pytest.raises(ReaderTimeout):
            await r.reader.read_blocks(NXP, 0, 1)
        assert r.reader.health.timeouts >= driver.LINK_ATTEMPTS


async def test_device_vanishing_and_coming_back(tmp_path: Path) -> None:
    async with rig(tmp_path, slix(), reader_faults=(
            ReaderFault("vanish", at=0.3, duration=0.3),)) as r:
        pings = commands(r).count(0xFF)
        await asyncio.sleep(max(0.0, 0.45 - r.sim.now))
        assert not r.reader.transport.is_open
        # Waits for the transport to reopen; the on_open hook has re-probed the board.
        assert [s.uid for s in await r.reader.inventory()] == [NXP]
        assert commands(r).count(0xFF) == pings + 1
        assert r.reader.health.reconnects >= 1
        assert r.reader.transport.counters.reopens >= 1


# --- the hostile-transport matrix -----------------------------------------------------------


@pytest.mark.parametrize("faults", WireFaults.matrix(), ids=lambda f: f.name)
async def test_end_to_end_over_hostile_wires(tmp_path: Path, faults: WireFaults) -> None:
    """Inventory, read, verified write and security over every wire of the matrix.

    The line has no checksum. What holds under garbage and loss: a dropped byte can only
    shorten a reply, which the line decoder or the ISO 15693 length checks reject; noise in
    front of a reply is skipped to the next line start. Operations may therefore fail with a
    transient error and succeed on retry (the daemon's policy, ``retry`` here); an inventory
    has no end marker or count, so a lost tag line means a tag missed by that round (a gate
    or pad polls again); the
    verified write never reports success on data that is not on the tag. Noise that spells a
    complete valid line by itself would be taken for one; the read-back makes writes safe from
    it, a plain read is not.
    """
    async with rig(tmp_path, slix(memory=MEMORY, afi=0xC2), slix(NXP2),
                   faults=faults) as r:
        for _ in range(10):  # a tag line lost on the wire is a tag missed by one round
            found = {s.uid for s in await retry(r.reader.inventory)}
            if NXP in found:
                break
        assert NXP in found
        assert await retry(lambda: r.reader.read_blocks(NXP, 0, 4)) == MEMORY[:16]
        await retry(lambda: r.reader.write_memory(NXP, b"hostile!"))
        assert bytes(r.field.tag(NXP).memory[:8]) == b"hostile!"
        state = await retry(lambda: r.reader.set_security(NXP, True, ISO))
        assert state.secured is True
        assert r.field.tag(NXP).afi == 0x07
