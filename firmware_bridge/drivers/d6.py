# SPDX-License-Identifier: Apache-2.0
"""3M D6 reader driver: 3M RFID Reader Model 210 (pad) and the 3M 810 staff reader.

==================  =========  =========================================================
operation           supported  how
==================  =========  =========================================================
info                yes        0x11 Reader version, probed after every (re)open
inventory           yes        0xFE Read Block UID; duplicates (missed quiet) merged
AFI filter          yes        0xFE with the AFI byte (0 = all tags)
read blocks         yes        0x02 Read multiblock, old style, ``MAX_READ_BLOCKS`` a call
write blocks        yes        0x04 Write multiblock, ``MAX_WRITE_BLOCKS`` a call
write / read AFI    yes        0x09 Write AFI / 0x0D Tag info (read_security)
write DSFID         yes        0x0B Write DSFID; read back through 0x0D Tag info
EAS set / check     yes        0x0C EAS control / 0x03 Check EAS (NXP tags); "off" after
                               ``EAS_OFF_CONFIRMATIONS`` silent checks
lock blocks         yes        0x08 Lock block, one block a command; re-lock is verified
lock status         yes        0x02 Read multiblock: its lock byte per block
system info         yes        0x0D Tag info (DSFID, AFI, memory size, IC reference)
RF reset / on-off   no         Unsupported: the 3M command set has none (0x13 is unknown)
outputs / inputs    no         Unsupported: the pads have no host-driven LEDs or inputs
buffered read       no         -
==================  =========  =========================================================

Physical layer 19200 8N1 [3M spec §2]. :class:`D6Chipset` holds the firmware command set (one
typed async method per 3M command, raising the exception its status means); :class:`D6Reader`
builds the common :class:`~firmware_bridge.reader.Reader` interface on it.

Status mapping (reader_protocols.md §4, 3M column; :data:`STATUS_ERRORS`):

- 0x06 no transponder: an empty inventory; for an addressed command :class:`TagNotResponding`
  (transient). Check EAS answers 0x06 for "EAS off" too (and for an armed tag whose reply was
  lost): the driver confirms the tag is there with Get AFI and reports ``False`` only after
  ``EAS_OFF_CONFIRMATIONS`` silent checks.
- 0x16 memory not written at block k: :class:`TagWriteFailed` (a transient
  :class:`TagNotResponding` carrying ``block``); blocks before k are written, k and later maybe
  not. :meth:`Reader.write_memory` rewrites and reads back, as Biblio-RFID does.
- 0x15 memory not read: transient :class:`TagNotResponding`.
- 0x11 memory not available (bad block, no AFI) and 0x12 memory locked: :class:`TagRefused`.
- 0x21-0x23 (ISO errors 01-03): :class:`TagRefused`; 0x02 / 0x30: :class:`Unsupported`;
  0x0F: :class:`TransientReaderFault`; anything else: :class:`ReaderFault`.
- Busy: "The reader will ignore a command sent while it is processing another command" [3M spec
  §1]. The session never sends while a request is pending; a request the reader dropped ends in
  :class:`ReaderTimeout` (transient), and the driver resends it up to ``EXCHANGE_ATTEMPTS``
  times (every 3M command is idempotent when repeated with the same fields).

Security: the 3M convention is AFI 0xD7 secured / 0xDA unsecured (``PRESETS["3m"]``), the
default of ``set_security`` / ``read_security`` here; any :class:`SecurityScheme` passed wins.

Not responsible for: framing and resync (:mod:`protocols.readers.d6`), late replies and the
reassembly buffer (:class:`FrameSession`), reopening the port (:class:`SerialTransport`), the
D5 hardware-version probe's meaning (offered as :meth:`D6Chipset.hw_version`, not relied on),
passwords (NXP SET PASSWORD only goes through :meth:`D6Chipset.pass_through`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from firmware_bridge.errors import BridgeError, TransientError
from firmware_bridge.reader import (
    WRITE_ATTEMPTS,
    Capability,
    Reader,
    ReaderFault,
    ReaderInfo,
    SecurityState,
    TagNotResponding,
    TagRefused,
    TagSighting,
    TagSystemInfo,
    TransientReaderFault,
    Unsupported,
)
from firmware_bridge.security import PRESETS, SecurityScheme
from firmware_bridge.session import FrameSession
from firmware_bridge.transport import LineSettings, SerialTransport, TransportCounters
from firmware_bridge.wiretap import WireTap
from protocols.errors import FrameError
from protocols.iso15693 import Uid
from protocols.readers import d6

__all__ = [
    "CAPABILITIES",
    "STATUS_ERRORS",
    "D6Chipset",
    "D6Reader",
    "TagWriteFailed",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Biblio-RFID 3M810.pm: "0.5 s read timeout" - the reader's own budget on top of the serial and
#: air time of each command (``d6.command_timeout_s``); tests patch it down.
READER_OVERHEAD_S = d6.READER_OVERHEAD_S
#: A request the reader dropped (busy, reboot, garbled on the line) is sent again this often.
EXCHANGE_ATTEMPTS = 5
#: How long a command waits for a vanished reader to be reopened before failing (transient).
REOPEN_WAIT_S = 5.0
#: The version probe after every open is tried this often before the open counts as failed.
PROBE_ATTEMPTS = 3
#: Blocks per Read multiblock: Biblio-RFID reads 8 (vector v59); keeps frames short on noisy
#: lines [INFERRED].
MAX_READ_BLOCKS = 8
#: Blocks per Write multiblock: the failing block is reported, so longer writes are safe; eight
#: keeps a write's air time (8 x 26 ms worst case, §3.1) well inside the timeout [INFERRED].
MAX_WRITE_BLOCKS = 8
#: The inventory options Biblio-RFID sends (vector v54): b0 address, b2, no DSFID.
INVENTORY_OPTIONS = 0x05

CAPABILITIES = (
    Capability.INVENTORY | Capability.AFI_FILTER | Capability.READ | Capability.WRITE
    | Capability.LOCK | Capability.AFI | Capability.EAS | Capability.SYSTEM_INFO
)


class TagWriteFailed(TagNotResponding):
    """3M status 0x16 "memory not written": blocks before ``block`` were written (transient)."""

    def __init__(self, reason: str, *, uid: Uid | None = None, block: int | None = None,
                 port: str | None = None) -> None:
        self.block = block
        where = f" at block {block}" if block is not None else ""
        super().__init__(f"{reason}{where}", uid=uid, port=port)


ErrorFactory = Callable[[str, Uid | None, int | None, str | None], BridgeError]


def _not_responding(reason: str, uid: Uid | None, block: int | None,
                    port: str | None) -> BridgeError:
    return TagNotResponding(reason, uid=uid, port=port)


def _write_failed(reason: str, uid: Uid | None, block: int | None,
                  port: str | None) -> BridgeError:
    return TagWriteFailed(reason, uid=uid, block=block, port=port)


def _refused(iso_error: int) -> ErrorFactory:
    def factory(reason: str, uid: Uid | None, block: int | None,
                port: str | None) -> BridgeError:
        return TagRefused(reason, uid=uid, iso_error=iso_error, block=block, port=port)
    return factory


def _unsupported(reason: str, uid: Uid | None, block: int | None,
                 port: str | None) -> BridgeError:
    return Unsupported(reason, port=port)


#: 3M status -> exception (reader_protocols.md §4, 3M column; 3M spec App. A). The ISO error
#: recorded on TagRefused is the one the 3M status stands for.
STATUS_ERRORS: dict[int, ErrorFactory] = {
    0x06: _not_responding,      # no transponder (also a wrong UID, or a muted tag)
    0x15: _not_responding,      # memory not read
    0x16: _write_failed,        # memory not written ("not enough power?")
    0x11: _refused(0x10),       # memory not available: block not available
    0x12: _refused(0x12),       # memory locked
    0x21: _refused(0x01),
    0x22: _refused(0x02),
    0x23: _refused(0x03),
    0x02: _unsupported,         # command not implemented
    0x30: _unsupported,         # not supported
}


class D6Chipset:
    """The 3M firmware command set over one :class:`FrameSession`: one method per command.

    Each method sends its request (resending transient losses), checks the status and returns
    the codec's typed result; a failed status raises what :data:`STATUS_ERRORS` says.
    """

    def __init__(self, session: FrameSession[d6.D6Request, d6.D6Response], *,
                 expected_tags: int = d6.DEFAULT_EXPECTED_TAGS) -> None:
        self.session = session
        self.expected_tags = expected_tags

    @property
    def port(self) -> str:
        return self.session.transport.url

    # -- exchange ----------------------------------------------------------------------------

    def timeout_s(self, request: d6.D6Request) -> float:
        return d6.command_timeout_s(request, expected_tags=self.expected_tags,
                                    overhead_s=READER_OVERHEAD_S)

    async def exchange(self, request: d6.D6Request, *, wait_open: bool = True) -> d6.D6Response:
        """Send ``request`` and return its response; transient losses are resent.

        ``wait_open=False`` is for the probe inside the transport's on_open hook, which runs
        before the port counts as open.
        """
        transport = self.session.transport
        last: TransientError | None = None
        for attempt in range(EXCHANGE_ATTEMPTS):
            if attempt:
                self.session.health.retries += 1
            try:
                if wait_open:
                    await transport.wait_open(REOPEN_WAIT_S)
                return await self.session.exchange(request, timeout_s=self.timeout_s(request))
            except TransientError as exc:
                logger.debug("%s: 0x%02X attempt %d: %s", self.port, request.command,
                             attempt + 1, exc)
                last = exc
        assert last is not None
        raise last

    def fail(self, response: d6.D6Response, what: str, *, uid: Uid | None = None,
             block: int | None = None) -> BridgeError:
        """The exception for a failed status."""
        error = response.error
        assert error is not None
        self.session.health.reader_errors += 1
        reason = f"{what}: {error.meaning} [3M status 0x{response.status:02X}]"
        self.session.health.last_error = reason
        factory = STATUS_ERRORS.get(response.status)
        if factory is not None:
            return factory(reason, uid, block, self.port)
        if error.transient:
            return TransientReaderFault(reason, status=response.status, port=self.port)
        return ReaderFault(reason, status=response.status, port=self.port)

    async def _ok(self, request: d6.D6Request, what: str, uid: Uid | None) -> d6.D6Response:
        response = await self.exchange(request)
        if not response.ok:
            raise self.fail(response, what, uid=uid)
        return response

    # -- commands ----------------------------------------------------------------------------

    async def reader_version(self, *, wait_open: bool = True) -> d6.ReaderVersion:
        """0x11 Reader version."""
        response = await self.exchange(d6.reader_version(), wait_open=wait_open)
        if not response.ok:
            raise self.fail(response, "reader version")
        return _parsed(d6.parse_reader_version, response, self.port)

    async def hw_version(self) -> d6.ReaderVersion:
        """The 3M 810 D5 hardware-version probe as Biblio-RFID sends it [UNCERTAIN meaning]."""
        response = await self.exchange(d6.hw_version_probe())
        return _parsed(d6.parse_hw_version_probe, response, self.port)

    async def inventory(self, afi: int = 0, options: int = INVENTORY_OPTIONS) -> d6.InventoryResult:
        """0xFE Read Block UID; status 06 is an empty result, not an error."""
        response = await self.exchange(d6.inventory(afi, options))
        if response.status == 0x06:
            return d6.InventoryResult(response.status, afi, options, ())
        if not response.ok:
            raise self.fail(response, "inventory")
        return _parsed(d6.parse_inventory, response, self.port)

    async def quiet(self, uid: Uid) -> None:
        """0x01 Quiet."""
        await self._ok(d6.quiet(str(uid)), "quiet", uid)

    async def read_blocks(self, uid: Uid, first: int, count: int) -> tuple[d6.BlockRecord, ...]:
        """0x02 Read multiblock (old style); per-block error bytes raise like a status."""
        response = await self.exchange(d6.read_blocks(str(uid), first, count))
        if not response.ok:
            raise self.fail(response, f"read blocks {first}+{count}", uid=uid, block=first)
        result = _parsed(d6.parse_read_blocks, response, self.port)
        numbers = [record.number for record in result.blocks]
        if numbers != list(range(first, first + count)):
            raise ReaderFault(f"read blocks {first}+{count} answered blocks {numbers}",
                              port=self.port)
        for record in result.blocks:
            if record.error is not None:
                failed = d6.D6Response(0x02, record.error)
                raise self.fail(failed, f"read block {record.number}", uid=uid,
                                block=record.number)
        return result.blocks

    async def write_blocks(self, uid: Uid, first: int, data: bytes) -> None:
        """0x04 Write multiblock; 0x16 names the first block not written."""
        response = await self.exchange(d6.write_blocks(str(uid), first, data))
        if not response.ok:
            result = d6.parse_write_blocks(response)
            raise self.fail(response, "write blocks", uid=uid, block=result.block)

    async def write_block(self, uid: Uid, block: int, data: bytes) -> None:
        """0x05 Write block."""
        await self._ok(d6.write_block(str(uid), block, data), f"write block {block}", uid)

    async def write_and_lock_block(self, uid: Uid, block: int, data: bytes) -> None:
        """0x07 Write and lock block."""
        await self._ok(d6.write_and_lock_block(str(uid), block, data),
                       f"write and lock block {block}", uid)

    async def lock_block(self, uid: Uid, block: int) -> None:
        """0x08 Lock block."""
        response = await self.exchange(d6.lock_block(str(uid), block))
        if not response.ok:
            raise self.fail(response, f"lock block {block}", uid=uid, block=block)

    async def read_afi(self, uid: Uid) -> int:
        """0x0A Get AFI."""
        response = await self._ok(d6.read_afi(str(uid)), "get AFI", uid)
        return _value(_parsed(d6.parse_read_afi, response, self.port), "AFI", self.port)

    async def write_afi(self, uid: Uid, afi: int) -> None:
        """0x09 Write AFI."""
        await self._ok(d6.write_afi(str(uid), afi), f"write AFI {afi:02X}", uid)

    async def lock_afi(self, uid: Uid) -> None:
        """0x06 Lock AFI."""
        await self._ok(d6.lock_afi(str(uid)), "lock AFI", uid)

    async def check_eas(self, uid: Uid) -> bool:
        """0x03 Check EAS; ``False`` also when the tag is absent (the reader cannot tell)."""
        response = await self.exchange(d6.check_eas(str(uid)))
        if not (response.ok or response.status == 0x06):
            raise self.fail(response, "check EAS", uid=uid)
        return bool(_parsed(d6.parse_check_eas, response, self.port).armed)

    async def set_eas(self, uid: Uid, armed: bool) -> None:
        """0x0C EAS control."""
        await self._ok(d6.set_eas(str(uid), armed), f"EAS {'on' if armed else 'off'}", uid)

    async def read_dsfid(self, uid: Uid) -> int:
        """0x0F Get DSFID."""
        response = await self._ok(d6.read_dsfid(str(uid)), "get DSFID", uid)
        return _value(_parsed(d6.parse_read_dsfid, response, self.port), "DSFID", self.port)

    async def write_dsfid(self, uid: Uid, dsfid: int) -> None:
        """0x0B Write DSFID."""
        await self._ok(d6.write_dsfid(str(uid), dsfid), f"write DSFID {dsfid:02X}", uid)

    async def lock_dsfid(self, uid: Uid) -> None:
        """0x0E Lock DSFID."""
        await self._ok(d6.lock_dsfid(str(uid)), "lock DSFID", uid)

    async def tag_info(self, uid: Uid, request: int = d6.TAG_INFO_ALL) -> d6.TagInfoResult:
        """0x0D Tag info."""
        response = await self._ok(d6.tag_info(str(uid), request), "tag info", uid)
        return _parsed(d6.parse_tag_info, response, self.port)

    async def pass_through(self, iso_request: bytes, receive_size: int,
                           control: int = 0) -> d6.PassThroughResult:
        """0x14 ISO pass-through of a raw ISO 15693 request without CRC."""
        response = await self._ok(d6.pass_through(iso_request, receive_size, control),
                                  "ISO pass-through", None)
        return _parsed(d6.parse_pass_through, response, self.port)


class D6Reader(Reader):
    """A 3M Model 210 / 810 reader on a serial port (or ``socket://`` serial server)."""

    protocol = "3m"
    capabilities = CAPABILITIES

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = d6.BAUD,
        wire_tap: WireTap | None = None,
        expected_tags: int = d6.DEFAULT_EXPECTED_TAGS,
        security: SecurityScheme = PRESETS["3m"],
        min_frame_gap_s: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(port)
        self.security = security
        self.version: d6.ReaderVersion | None = None
        self.probes = 0
        self.transport = SerialTransport(
            port, LineSettings(baudrate, 8, "N", 1), on_open=self._on_open,
            on_lost=self._link_lost, wire_tap=wire_tap, min_frame_gap_s=min_frame_gap_s, rng=rng,
        )
        session: FrameSession[d6.D6Request, d6.D6Response] = FrameSession(
            self.transport,
            encode=lambda request: request.encode(),
            decode=d6.decode_response,
            next_header=d6.next_header,
            answers=lambda request, response: response.answers(request),
            health=self.health,
            inter_byte_timeout_s=d6.INTER_BYTE_TIMEOUT_S,
        )
        self.chipset = D6Chipset(session, expected_tags=expected_tags)

    def __repr__(self) -> str:
        return f"<D6Reader {self.port} {self.transport.state.value}>"

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the port and probe the reader; reopens and re-probes by itself after a loss."""
        await self.transport.open()

    async def close(self) -> None:
        await self.transport.close()

    def link_counters(self) -> TransportCounters:
        return self.transport.counters

    async def _on_open(self) -> None:
        # Runs after every (re)open, before the port counts as open: the reader may have reset
        # on the DTR blip or re-enumerated (reference §5.1), so probe it again.
        last: BridgeError | None = None
        for _ in range(PROBE_ATTEMPTS):
            try:
                self.version = await self.chipset.reader_version(wait_open=False)
            except (TransientError, ReaderFault) as exc:
                last = exc
                continue
            self.probes += 1
            if self.transport.counters.opens:
                self.health.reconnects += 1
            logger.info("%s: 3M reader, firmware %s", self.port, self.version)
            return
        assert last is not None
        raise last

    # -- primitives --------------------------------------------------------------------------

    async def info(self) -> ReaderInfo:
        if self.version is None:
            self.version = await self.chipset.reader_version()
        return ReaderInfo(self.protocol, "3M RFID reader 210/810 (D6)", str(self.version),
                          self.capabilities)

    async def inventory(self, *, afi: int | None = None) -> list[TagSighting]:
        result = await self.chipset.inventory(afi or 0)
        sightings = [TagSighting(Uid.from_text(text)) for text in result.uids]
        self._inventory_seen(sighting.uid for sighting in sightings)
        return sightings

    async def read_blocks(self, uid: Uid, first: int, count: int) -> bytes:
        data = bytearray()
        for start in range(first, first + count, MAX_READ_BLOCKS):
            size = min(MAX_READ_BLOCKS, first + count - start)
            for record in await self.chipset.read_blocks(uid, start, size):
                data += record.data
        return bytes(data)

    async def write_blocks(self, uid: Uid, first: int, data: bytes, *, block_size: int) -> None:
        if block_size != d6.BLOCK_SIZE or len(data) % d6.BLOCK_SIZE:
            raise ReaderFault(f"3M readers write 4-byte blocks; got block size {block_size} "
                              f"and {len(data)} bytes", port=self.port)
        chunk = MAX_WRITE_BLOCKS * d6.BLOCK_SIZE
        for offset in range(0, len(data), chunk):
            await self.chipset.write_blocks(uid, first + offset // d6.BLOCK_SIZE,
                                            data[offset:offset + chunk])

    async def system_info(self, uid: Uid) -> TagSystemInfo:
        info = await self.chipset.tag_info(uid)
        return TagSystemInfo(uid, info.dsfid, info.afi, info.block_count, info.block_size,
                             info.ic_reference)

    async def write_afi(self, uid: Uid, afi: int) -> None:
        await self.chipset.write_afi(uid, afi)
        self._afi_written(uid, afi)

    async def write_dsfid(self, uid: Uid, dsfid: int) -> None:
        await self.chipset.write_dsfid(uid, dsfid)
        self._dsfid_written(uid, dsfid)

    async def set_eas(self, uid: Uid, enabled: bool) -> None:
        await self.chipset.set_eas(uid, enabled)

    async def read_eas(self, uid: Uid) -> bool:
        # Status 06 is both "EAS off" and "no tag": Get AFI tells them apart (raises if gone).
        return await self._eas_from_alarms(lambda: self.chipset.check_eas(uid),
                                           lambda: self.chipset.read_afi(uid))

    async def lock_blocks(self, uid: Uid, blocks: Sequence[int]) -> None:
        for block in blocks:
            try:
                await self.chipset.lock_block(uid, block)
            except TagRefused as refused:
                # 0x12 is also "already locked": a resent lock whose answer was lost.
                if refused.iso_error != 0x12:
                    raise
                if not all(await self.read_lock_status(uid, block, 1)):
                    raise

    async def read_lock_status(self, uid: Uid, first: int, count: int) -> tuple[bool, ...]:
        """From the lock byte each old-style Read multiblock record carries."""
        locked: list[bool] = []
        for start in range(first, first + count, MAX_READ_BLOCKS):
            size = min(MAX_READ_BLOCKS, first + count - start)
            locked += (record.locked for record in await self.chipset.read_blocks(uid, start, size))
        return tuple(locked)

    # -- verified operations: the 3M scheme unless told otherwise ----------------------------

    async def read_security(self, uid: Uid,
                            scheme: SecurityScheme | None = None) -> SecurityState:
        return await super().read_security(uid, scheme or self.security)

    async def set_security(self, uid: Uid, secured: bool, scheme: SecurityScheme | None = None,
                           *, attempts: int = WRITE_ATTEMPTS) -> SecurityState:
        return await super().set_security(uid, secured, scheme or self.security,
                                          attempts=attempts)


def _parsed(parse: Callable[[d6.D6Response], T], response: d6.D6Response, port: str) -> T:
    try:
        return parse(response)
    except FrameError as exc:
        raise ReaderFault(f"malformed response: {exc}", port=port) from exc


def _value(result: d6.ByteResult, what: str, port: str) -> int:
    if result.value is None:
        raise ReaderFault(f"{what} response without a value", port=port)
    return result.value

