# SPDX-License-Identifier: Apache-2.0
"""TI TRF7970A EVM / RFIDGeek boards: the ASCII host protocol as a LibEdge reader.

=====================  =========  ============================================================
operation              supported  how
=====================  =========  ============================================================
inventory              yes        0x14, 16 slots; the firmware recurses on collided slots
inventory, AFI filter  yes        0x14 with the AFI flag
read blocks            yes        0x18 request mode: READ MULTIPLE BLOCKS (23) in chunks,
                                  READ SINGLE BLOCK (20) when the tag refuses 23
write blocks           yes        0x18: WRITE SINGLE BLOCK (21) per block; TI tags with the
                                  option flag (the firmware then sends the EOF after 20 ms)
write AFI              yes        0x18: WRITE AFI (27), option flag for TI tags
write DSFID            yes        0x18: WRITE DSFID (29), option flag for TI tags
lock blocks            yes        0x18: LOCK BLOCK (22), option flag for TI tags
lock status            yes        0x18: GET MULTIPLE BLOCK SECURITY STATUS (2C)
system information     yes        0x18: GET SYSTEM INFORMATION (2B)
EAS set/reset/read     NXP tags   0x18: NXP custom SET EAS (A2), RESET EAS (A3), EAS ALARM (A5);
                                  "off" after ``EAS_OFF_CONFIRMATIONS`` silent alarms
password (NXP)         NXP tags   0x18: GET RANDOM NUMBER (B2) + SET PASSWORD (B3), each sent
                                  once; an RF reset follows a failed SET PASSWORD
RF on/off, RF reset    yes        0x10 register write of the chip status control (b5 rf_on)
outputs, inputs        no         the board has LEDs only for its own GUI; Unsupported
=====================  =========  ============================================================

The board is a raw ISO 15693 pass-through: this driver builds the air requests with
:mod:`protocols.iso15693`, tunnels them with the 0x18 request command (the firmware adds the
CRC) and decodes the tag's answer, which the firmware prints without CRC. Each firmware command
has one typed method (:meth:`TrfReader.ping`, :meth:`TrfReader.register_write`,
:meth:`TrfReader.register_read`, :meth:`TrfReader.iso15693_inventory`,
:meth:`TrfReader.request_mode`, :meth:`TrfReader.agc_toggle`, :meth:`TrfReader.am_pm_toggle`,
:meth:`TrfReader.firmware_version`); the common :class:`Reader` interface is built on them.

Replies are CRLF-terminated text lines without a checksum; an exchange collects lines until the
command's end rule (:func:`protocols.readers.trf7970a.collect_reply`) is met, for an inventory
until the line has been quiet :data:`INVENTORY_QUIET_S`. What the protocol can and cannot
guarantee, and how the driver reports it (reader_protocols.md §4, TI EVM column):

- ``[]`` (no response): an empty inventory, or :class:`TagNotResponding` for an addressed tag.
  Before reporting it the driver reads the chip status register once: a board that rebooted
  without the port noticing has its RF off, and is set up again and asked once more.
- ``[z]`` (collision, and any receive error including a CRC error on the air):
  :class:`TransientReaderFault`.
- ``[01xx]``: the tag's ISO error, :class:`TagRefused` with ``iso_error`` (0x12 locked, 0x10
  out of range, 0x0F wrong password, ...).
- A reply line garbled in transit is rejected by the line decoder; a tag answer whose length or
  layout does not fit the request is rejected by :func:`protocols.iso15693.decode_response`.
  Either is a transient failure, retried :data:`LINK_ATTEMPTS` times here for the requests that
  are idempotent (a repeated LOCK BLOCK answering 0x11 "already locked" counts as locked once
  GET MULTIPLE BLOCK SECURITY STATUS confirms it). GET RANDOM NUMBER and SET PASSWORD are not:
  the tag spends its random number on the first SET PASSWORD, so a resend is a wrong password
  that mutes the tag. They are sent once, and an RF reset follows a failed SET PASSWORD (its
  outcome on the tag is unknown). No reply at all is a :class:`ReaderTimeout`, after which the
  board is probed again.
- Bytes dropped on the line can only shorten a reply, and every shortened answer fails the
  length check; inserted noise that happens to spell a whole valid line cannot be told from the
  board's own text. There is no stronger guarantee without a checksum: the verified operations
  (read-back after writing) are what make a write trustworthy.

Not responsible for: choosing or probing ports, tag data models, or retrying tag-level failures
(``[]``, ``[z]``: the verified operations and the workflows do that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence

from firmware_bridge.errors import BridgeError, ReaderTimeout, TransientError
from firmware_bridge.reader import (
    Capability,
    Reader,
    ReaderFault,
    ReaderInfo,
    TagNotResponding,
    TagRefused,
    TagSighting,
    TagSystemInfo,
    TransientReaderFault,
    Unsupported,
)
from firmware_bridge.transport import LineSettings, SerialTransport, TransportCounters
from firmware_bridge.wiretap import WireTap
from protocols.errors import FrameError
from protocols.framing import Reassembler
from protocols.iso15693 import (
    MFG_NXP,
    MFG_TI,
    BlocksResponse,
    EasAlarmResponse,
    ErrorCode,
    ErrorResponse,
    RandomNumberResponse,
    Request,
    RequestFlag,
    Response,
    SecurityStatusResponse,
    SystemInfoResponse,
    Uid,
    decode_response,
    encode_request,
    error_name,
)
from protocols.readers import trf7970a as trf

__all__ = ["TrfReader"]

logger = logging.getLogger(__name__)

# -- timers ----------------------------------------------------------------------------------

TIMEOUT_MARGIN_S = 0.2
"""Added to the codec's per-command budget (reply_timeout_s): USB-UART latency and scheduling
[INFERRED; pyrfidgeek's bare 0.1 s breaks multi-tag operations, reference §5.6]."""
REGISTER_WRITE_SETTLE_S = 0.1
"""host.c case 0x10: "McuDelayMillisecond(100)" between the echo and the final CRLF."""
INVENTORY_SUBROUNDS_S = 0.5
"""Budget for the firmware's recursive sub-rounds on collided slots [INFERRED]."""
INVENTORY_QUIET_S = trf.INVENTORY_QUIET_S
"""An inventory reply is complete once the line is quiet this long after a CRLF (codec)."""
INTER_LINE_TIMEOUT_S = 0.1
"""While bytes keep coming the deadline moves to this long after the last one [INFERRED]."""
MAX_REPLY_S = 3.0
"""Hard cap on one exchange however slowly the bytes trickle in."""
MALFORMED_GRACE_S = 0.05
"""After a rejected line following the echo, how long a good result line may still arrive."""
SETTLE_QUIET_S = 0.03
"""After a timeout: discard input until the line has been quiet this long (a late reply)."""
SETTLE_MAX_S = 0.5
READ_SLICE_S = 0.05
"""Longest single wait on the transport."""
PORT_WAIT_S = 1.0
"""How long an operation waits for the port to be reopened before PortUnavailable."""
RF_OFF_S = 0.01
"""RF reset: off this long so every tag loses power (ISO 15693-3 asks the VCD for >= 1 ms
before the next request after power-up; SLIX tags need the field gone to forget a password)."""
RF_CHECK_INTERVAL_S = 1.0
"""An empty inventory checks that the RF is still on at most this often."""

# -- retries ---------------------------------------------------------------------------------

LINK_ATTEMPTS = 3
"""Request-mode exchanges repeated after a lost or garbled reply (idempotent requests only)."""
SECURITY_STATUS_MAX_BLOCKS = 64
"""Blocks per GET MULTIPLE BLOCK SECURITY STATUS: one byte each, a reply line as short as a
16-block read's [INFERRED]."""
PROBE_ATTEMPTS = 3
"""Ping + set-up attempts per probe."""

# -- firmware and tags -----------------------------------------------------------------------

HELLO_PREFIX = "TRF7970A"
"""0xFF answers "TRF7970A EVM " [host.c]."""
MODEL = "TI TRF7970A EVM"
ISO_CONTROL_ISO15693 = trf.ISO_CONTROL["iso15693"]
"""ISO control 0x00 (ISO 15693, low data rate, one sub-carrier, 1 out of 4) as pyrfidgeek and
node_rfidgeek write it, with request flags 0x04 / 0x20 to match (reference §1.3). Tag replies
then take 4x as long on the air (ISO/IEC 15693-2 low data rate, 6.62 kbit/s)."""
ISO_CONTROL_HIGH_RATE = 0x02
"""ISO control 0x02: ISO 15693, high data rate (26.48 kbit/s), one sub-carrier, 1 out of 4;
the driver then sets the request flags' data-rate bit (b2) to match."""
DEFAULT_ISO_CONTROL = ISO_CONTROL_HIGH_RATE
"""High data rate by default, unlike pyrfidgeek: every ISO 15693 tag must answer at both rates
(ISO/IEC 15693-2), it is the chip's power-on setting [INFERRED, datasheet defaults] and the
rate of the reference's "typical" flags 0x06 / 0x22 (§2.1), and a pad reads from a few cm, where
the low rate's noise margin buys nothing; a 28-block read takes 39 ms on the air, not 145 ms.
[UNCERTAIN: pyrfidgeek's and node_rfidgeek's field experience is with 0x00; pass
``iso_control=ISO_CONTROL_ISO15693`` for their exact set-up.]"""
READ_MULTIPLE_MAX_BLOCKS = 16
"""Blocks per READ MULTIPLE BLOCKS: one reply line stays short (≈ 150 characters), so a damaged
line costs little to repeat [INFERRED]."""
REFUSED_READ_MULTIPLE = frozenset({ErrorCode.NOT_SUPPORTED, ErrorCode.NOT_RECOGNISED})

WRITE_OPTION_BY_MANUFACTURER: Mapping[int, bool] = {
    MFG_TI: True,  # TI S6350: "Option_Flag must be set to 1 for all Write and Lock commands"
}
"""Which IC makers need the option flag on writes and locks (default: no), by UID byte 2."""
WRONG_PASSWORD_ERROR = ErrorCode.UNKNOWN
"""SLIX: a wrong SET PASSWORD answers ISO error 0x0F, then the tag is mute."""
SEC_STATUS_LOCKED = 0x01
"""ISO/IEC 15693-3 block security status b0: the block is locked."""
EAS_MANUFACTURERS = frozenset({MFG_NXP})
"""EAS is an NXP ICODE custom command set (A2-A5)."""


def _needs_option(uid: Uid) -> bool:
    return WRITE_OPTION_BY_MANUFACTURER.get(uid.manufacturer_code, False)


class MalformedReply(TransientReaderFault):
    """A reply line or tag answer that does not parse (no checksum on this link)."""


class TrfReader(Reader):
    """A TRF7970A EVM on ``port``; see the module docstring for what it can do."""

    protocol = "trf7970a"
    capabilities = (
        Capability.INVENTORY | Capability.AFI_FILTER | Capability.READ | Capability.WRITE
        | Capability.LOCK | Capability.AFI | Capability.EAS | Capability.SYSTEM_INFO
        | Capability.RF_CONTROL
    )

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = trf.BAUD,
        wire_tap: WireTap | None = None,
        full_power: bool = True,
        iso_control: int = DEFAULT_ISO_CONTROL,
    ) -> None:
        super().__init__(port)
        self.full_power = full_power
        self.iso_control = iso_control
        # The request's data-rate flag must match what the ISO control register tells the
        # chip to decode (b1: high data rate) [host.c HostRequestCommand "low bit rate"].
        self.flags = RequestFlag.DATA_RATE if iso_control & ISO_CONTROL_HIGH_RATE else (
            RequestFlag(0))
        self.transport = SerialTransport(
            port, LineSettings(baudrate, 8, "N", 1), on_open=self._on_open, on_lost=self._link_lost,
            wire_tap=wire_tap,
        )
        self._reassembler: Reassembler[trf.TrfLine] = Reassembler(
            trf.decode_response, trf.next_header
        )
        self._lock = asyncio.Lock()
        self._needs_probe = False
        self._settle = False
        self._rf_wanted = True
        self._rf_checked_at = float("-inf")
        self._bad_answers = 0
        self._drained = 0
        self._firmware = ""

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        await self.transport.open()

    async def close(self) -> None:
        await self.transport.close()

    def link_counters(self) -> TransportCounters:
        return self.transport.counters

    async def _on_open(self) -> None:
        """Transport hook, after every (re)open: the board may have reset (reference §5.1)."""
        self._reassembler.discard_partial()
        self._settle = False
        await self._probe()
        if self.transport.counters.opens:
            self.health.reconnects += 1

    async def _probe(self) -> None:
        """Ping, then the ISO 15693 set-up (RF, ISO control, AGC, AM input)."""
        last: TransientError | None = None
        for attempt in range(PROBE_ATTEMPTS):
            if attempt:
                self.health.retries += 1
            try:
                hello = await self._exchange(trf.ping())
                if not hello.echo.startswith(HELLO_PREFIX):
                    raise ReaderFault(f"not a TRF7970A EVM: {hello.echo!r}", port=self.port)
                await self._exchange(self._setup_request())
                await self._exchange(trf.agc_toggle())
                await self._exchange(trf.am_pm_toggle(am=True))
            except TransientError as exc:
                last = exc
                continue
            self._needs_probe = False
            logger.debug("%s: TRF7970A EVM set up for ISO 15693", self.port)
            return
        assert last is not None
        raise last

    def _setup_request(self) -> trf.TrfRequest:
        if not self._rf_wanted:
            return trf.register_write([(trf.CHIP_STATUS_CONTROL, trf.CHIP_STATUS_RF_OFF),
                                       (trf.ISO_CONTROL_REGISTER, self.iso_control)])
        return trf.iso15693_setup(full_power=self.full_power, iso_control=self.iso_control)

    async def _ready(self) -> None:
        """Before an operation: wait for a reopen in progress, re-probe after a silence."""
        if not self.transport.is_open:
            await self.transport.wait_open(PORT_WAIT_S)
        if self._needs_probe:
            await self._probe()

    # -- firmware command set (one method per command) ------------------------------------

    async def ping(self) -> str:
        """0xFF: the hello text."""
        return (await self._command(trf.ping())).echo

    async def firmware_version(self) -> str:
        """0xFE: "Firmware Revision ..."."""
        return (await self._command(trf.firmware_version())).echo.strip()

    async def register_write(self, pairs: Sequence[tuple[int, int]]) -> None:
        """0x10: write (address, value) pairs to the TRF7970A."""
        await self._command(trf.register_write(pairs))

    async def register_read(self, addresses: Sequence[int]) -> bytes:
        """0x12: one value per address."""
        reply = await self._command(trf.register_read(addresses))
        values = bytes(g.data[0] for g in reply.groups
                       if g.kind is trf.GroupKind.DATA and len(g.data) == 1)
        if len(values) != len(addresses):
            self._bad_answers += 1
            raise MalformedReply(f"register read gave {values.hex()} for {len(addresses)} "
                                 "registers", port=self.port)
        return values

    async def iso15693_inventory(self, *, afi: int | None = None) -> trf.TrfReply:
        """0x14: 16-slot anticollision (the firmware resolves collided slots itself)."""
        return await self._command(trf.inventory(
            afi=afi, high_data_rate=RequestFlag.DATA_RATE in self.flags))

    async def request_mode(self, iso_frame: bytes) -> trf.TrfReply:
        """0x18: one raw ISO 15693 request (flags, command, ...; without CRC)."""
        return await self._command(trf.iso_request(iso_frame))

    async def agc_toggle(self, param: int = 0x00) -> None:
        """0xF0 AGC toggle (the tools send 00)."""
        await self._command(trf.agc_toggle(param))

    async def am_pm_toggle(self, *, am: bool = True) -> None:
        """0xF1 AM/PM input selection."""
        await self._command(trf.am_pm_toggle(am=am))

    async def _command(self, request: trf.TrfRequest) -> trf.TrfReply:
        """One firmware command, repeated after a lost or garbled reply."""
        last: BridgeError | None = None
        for attempt in range(LINK_ATTEMPTS):
            if attempt:
                self.health.retries += 1
                if self._needs_probe:  # silence: the board may have rebooted
                    await self._probe()
            try:
                return await self._exchange(request)
            except (ReaderTimeout, MalformedReply) as exc:
                last = exc
        assert last is not None
        raise last

    # -- ISO 15693 through request mode ---------------------------------------------------

    async def _transact(self, request: Request, *, block: int | None = None,
                        rf_checked: bool = False, attempts: int = LINK_ATTEMPTS) -> Response:
        """Tunnel ``request``; the tag's answer, or the §4 exception for what the board said.

        ``attempts``: sends after a lost or garbled reply; 1 for a request that must not be
        repeated, which is then not resent after an RF restore either.
        """
        frame = encode_request(request, with_crc=False)
        last: BridgeError | None = None
        reply: trf.TrfReply | None = None
        for attempt in range(max(1, attempts)):
            if attempt:
                self.health.retries += 1
                if self._needs_probe:
                    await self._probe()
            try:
                reply = await self._exchange(trf.iso_request(frame))
                response = self._decode(request, reply)
            except (ReaderTimeout, MalformedReply) as exc:
                last, reply = exc, None
                continue
            if response is not None:
                if isinstance(response, ErrorResponse):
                    raise TagRefused(
                        f"{request.name}: {error_name(response.code)}", uid=request.uid,
                        iso_error=response.code, block=block, port=self.port)
                return response
            break
        if reply is None:
            assert last is not None
            raise last
        if reply.collision:
            self.health.reader_errors += 1
            raise TransientReaderFault(
                f"tag {request.uid}: {request.name}: collision or receive error [z]",
                port=self.port)
        if not rf_checked and self._rf_wanted and await self._rf_lost() and attempts > 1:
            return await self._transact(request, block=block, rf_checked=True,
                                        attempts=attempts)
        raise TagNotResponding(f"{request.name}: no response []", uid=request.uid,
                               port=self.port)

    def _decode(self, request: Request, reply: trf.TrfReply) -> Response | None:
        """The DATA group decoded against ``request``; None for ``[]`` / ``[z]``."""
        group = next((g for g in reply.groups if g.kind is trf.GroupKind.DATA), None)
        if group is None:
            return None
        try:
            # ``(..)``: printed with the CRC bytes (RX CRC off in the chip): check them too.
            return decode_response(request.command, group.data, request=request,
                                   with_crc=not group.crc)
        except FrameError as exc:
            self._bad_answers += 1
            self._sync_counters()
            raise MalformedReply(f"{request.name} answer {group.data.hex().upper()}: "
                                 f"{exc.reason}", port=self.port) from None

    async def _rf_lost(self) -> bool:
        """True when the chip's RF is off (a reboot the port did not see); then set up again."""
        self._rf_checked_at = asyncio.get_running_loop().time()
        status = (await self.register_read([trf.CHIP_STATUS_CONTROL]))[0]
        if status & trf.CHIP_STATUS_RF_ON:
            return False
        logger.warning("%s: RF found off (reader reset?); setting up again", self.port)
        self.health.extra["rf_restored"] = self.health.extra.get("rf_restored", 0) + 1
        await self._probe()
        return True

    # -- the common reader interface ------------------------------------------------------

    async def info(self) -> ReaderInfo:
        await self._ready()
        if not self._firmware:
            self._firmware = await self.firmware_version()
        return ReaderInfo(self.protocol, MODEL, self._firmware, self.capabilities)

    async def inventory(self, *, afi: int | None = None) -> list[TagSighting]:
        await self._ready()
        reply = await self.iso15693_inventory(afi=afi)
        if not reply.uids and self._rf_wanted:
            now = asyncio.get_running_loop().time()
            if now - self._rf_checked_at >= RF_CHECK_INTERVAL_S and await self._rf_lost():
                reply = await self.iso15693_inventory(afi=afi)
        sightings = [TagSighting(Uid.from_text(uid)) for uid in reply.uids]
        self._inventory_seen(sighting.uid for sighting in sightings)
        return sightings

    async def read_blocks(self, uid: Uid, first: int, count: int) -> bytes:
        await self._ready()
        if count < 1:
            raise ValueError(f"read of {count} blocks")
        data = bytearray()
        block = first
        while block < first + count:
            chunk = min(READ_MULTIPLE_MAX_BLOCKS, first + count - block)
            try:
                response = await self._transact(
                    Request.read_multiple_blocks(block, chunk, uid=uid, flags=self.flags),
                    block=block)
            except TagRefused as exc:
                if exc.iso_error not in REFUSED_READ_MULTIPLE:
                    raise
                data += await self._read_singles(uid, block, chunk)
            else:
                data += self._blocks(response, uid).data
            block += chunk
        return bytes(data)

    async def _read_singles(self, uid: Uid, first: int, count: int) -> bytes:
        data = bytearray()
        for block in range(first, first + count):
            response = await self._transact(
                Request.read_single_block(block, uid=uid, flags=self.flags), block=block)
            data += self._blocks(response, uid).data
        return bytes(data)

    def _blocks(self, response: Response, uid: Uid) -> BlocksResponse:
        if not isinstance(response, BlocksResponse):
            raise ReaderFault(f"tag {uid}: read answered {type(response).__name__}",
                              port=self.port)
        return response

    async def write_blocks(self, uid: Uid, first: int, data: bytes, *, block_size: int) -> None:
        await self._ready()
        if block_size < 1 or not data or len(data) % block_size:
            raise ValueError(f"{len(data)} bytes are not whole blocks of {block_size}")
        option = _needs_option(uid)
        for offset in range(0, len(data), block_size):
            block = first + offset // block_size
            await self._transact(
                Request.write_single_block(block, data[offset:offset + block_size], uid=uid,
                                           option=option, flags=self.flags), block=block)

    async def system_info(self, uid: Uid) -> TagSystemInfo:
        await self._ready()
        response = await self._transact(Request.get_system_info(uid=uid, flags=self.flags))
        if not isinstance(response, SystemInfoResponse):
            raise ReaderFault(f"tag {uid}: system information answered "
                              f"{type(response).__name__}", port=self.port)
        return TagSystemInfo(response.uid, response.dsfid, response.afi, response.block_count,
                             response.block_size, response.ic_reference)

    async def write_afi(self, uid: Uid, afi: int) -> None:
        await self._ready()
        await self._transact(Request.write_afi(afi, uid=uid, option=_needs_option(uid),
                                               flags=self.flags))
        self._afi_written(uid, afi)

    async def write_dsfid(self, uid: Uid, dsfid: int) -> None:
        await self._ready()
        await self._transact(Request.write_dsfid(dsfid, uid=uid, option=_needs_option(uid),
                                                 flags=self.flags))
        self._dsfid_written(uid, dsfid)

    async def lock_blocks(self, uid: Uid, blocks: Sequence[int]) -> None:
        await self._ready()
        option = _needs_option(uid)
        for block in blocks:
            try:
                await self._transact(Request.lock_block(block, uid=uid, option=option,
                                                        flags=self.flags),
                                     block=block)
            except TagRefused as exc:
                # A repeated lock (its first answer lost on the line) finds the block locked,
                # once its security status says so.
                if exc.iso_error != ErrorCode.BLOCK_ALREADY_LOCKED:
                    raise
                if not all(await self.read_lock_status(uid, block, 1)):
                    raise

    async def read_lock_status(self, uid: Uid, first: int, count: int) -> tuple[bool, ...]:
        await self._ready()
        if count < 1:
            raise ValueError(f"lock status of {count} blocks")
        locked: list[bool] = []
        for start in range(first, first + count, SECURITY_STATUS_MAX_BLOCKS):
            chunk = min(SECURITY_STATUS_MAX_BLOCKS, first + count - start)
            response = await self._transact(
                Request.get_multiple_block_security_status(start, chunk, uid=uid,
                                                           flags=self.flags), block=start)
            if not isinstance(response, SecurityStatusResponse):
                raise ReaderFault(f"tag {uid}: GET MULTIPLE BLOCK SECURITY STATUS answered "
                                  f"{type(response).__name__}", port=self.port)
            if len(response.statuses) != chunk:
                raise ReaderFault(f"tag {uid}: security status of {chunk} blocks from {start} "
                                  f"gave {len(response.statuses)}", port=self.port)
            locked += (bool(status & SEC_STATUS_LOCKED) for status in response.statuses)
        return tuple(locked)

    async def set_eas(self, uid: Uid, enabled: bool) -> None:
        self._check_eas(uid)
        await self._ready()
        build: Callable[..., Request] = Request.set_eas if enabled else Request.reset_eas
        await self._transact(build(uid=uid, flags=self.flags))

    async def read_eas(self, uid: Uid) -> bool:
        """EAS ALARM: an armed tag answers with its EAS sequence, a disarmed one stays silent,
        so silence is checked against a system-information request (is the tag there?) and
        repeated (:meth:`Reader._eas_from_alarms`)."""
        self._check_eas(uid)
        await self._ready()
        return await self._eas_from_alarms(lambda: self._eas_alarm(uid),
                                           lambda: self.system_info(uid))

    async def _eas_alarm(self, uid: Uid) -> bool:
        try:
            response = await self._transact(Request.eas_alarm(uid=uid, flags=self.flags))
        except TagNotResponding:
            return False
        return isinstance(response, EasAlarmResponse)

    def _check_eas(self, uid: Uid) -> None:
        if uid.manufacturer_code not in EAS_MANUFACTURERS:
            raise Unsupported(f"tag {uid}: EAS is an NXP ICODE custom command; "
                              f"{uid.manufacturer or 'this maker'} tags have no EAS bit",
                              port=self.port)

    async def set_password(self, uid: Uid, password_id: int, password: int) -> None:
        """NXP SET PASSWORD (after GET RANDOM NUMBER), each sent once: the tag spends its
        random number on the first SET PASSWORD, so a resent frame would be a wrong password.
        A wrong password answers ISO error 0x0F (TagRefused) and mutes the tag until the field
        drops (SLIX datasheet), so :meth:`rf_reset` follows it before it is raised; so it does
        after any other failure of SET PASSWORD, whose outcome on the tag is unknown."""
        await self._ready()
        response = await self._transact(Request.get_random_number(uid=uid, flags=self.flags),
                                        attempts=1)
        if not isinstance(response, RandomNumberResponse):
            raise ReaderFault(f"tag {uid}: GET RANDOM NUMBER answered "
                              f"{type(response).__name__}", port=self.port)
        try:
            await self._transact(Request.set_password(
                password_id, password, response.random_number, uid=uid, flags=self.flags),
                attempts=1)
        except BridgeError as exc:
            if isinstance(exc, TagRefused) and exc.iso_error != WRONG_PASSWORD_ERROR:
                raise
            with contextlib.suppress(BridgeError):
                await self.rf_reset()
            raise

    async def rf_power(self, on: bool) -> None:
        await self._ready()
        self._rf_wanted = on
        status = (trf.CHIP_STATUS_RF_ON_FULL_POWER if self.full_power
                  else trf.CHIP_STATUS_RF_ON_HALF_POWER) if on else trf.CHIP_STATUS_RF_OFF
        await self.register_write([(trf.CHIP_STATUS_CONTROL, status)])

    async def rf_reset(self) -> None:
        await self.rf_power(False)
        await asyncio.sleep(RF_OFF_S)
        await self.rf_power(True)

    # -- the exchange: one request, its reply lines, the end rule --------------------------

    async def _exchange(self, request: trf.TrfRequest) -> trf.TrfReply:
        spec = trf.COMMANDS[request.command]
        async with self._lock:
            if self._settle:
                await self._settle_line()
            self._discard_stale()
            wire = request.encode()
            await self.transport.write(wire)
            self.health.frames_sent += 1
            try:
                return await self._collect(spec, wire, self._timeout_s(request))
            finally:
                self._sync_counters()

    def _timeout_s(self, request: trf.TrfRequest) -> float:
        budget = trf.reply_timeout_s(request) + TIMEOUT_MARGIN_S
        if request.command == 0x10:
            budget += REGISTER_WRITE_SETTLE_S
        elif request.command == 0x14:
            budget += INVENTORY_SUBROUNDS_S
        return budget

    async def _collect(self, spec: trf.TrfCommand, wire: bytes,
                       timeout_s: float) -> trf.TrfReply:
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + timeout_s
        hard_deadline = start + max(timeout_s, MAX_REPLY_S)
        lines: list[trf.TrfLine] = []
        last_rx: float | None = None
        bad_before = self._reassembler.bad_frames
        malformed = False
        quiet_rule = spec.end is trf.EndRule.QUIET
        while True:
            now = loop.time()
            idle = (quiet_rule and last_rx is not None and not self._reassembler.buffer
                    and now - last_rx >= INVENTORY_QUIET_S)
            done = trf.collect_reply(spec.code, lines, idle=idle)
            if done is not None:
                reply, used = done
                self.health.late_replies += len(lines) - used
                return reply
            if now >= deadline:
                break
            wait = min(deadline - now, READ_SLICE_S)
            if quiet_rule and last_rx is not None:
                wait = min(wait, max(0.0, last_rx + INVENTORY_QUIET_S - now) + 0.001)
            chunk = await self.transport.read(wait)
            if not chunk:
                continue
            last_rx = loop.time()
            # Bytes keep coming: wait on; an inventory always gets its quiet time.
            linger = INVENTORY_QUIET_S + READ_SLICE_S if quiet_rule else INTER_LINE_TIMEOUT_S
            deadline = min(hard_deadline, max(deadline, last_rx + linger))
            new = self._reassembler.feed(chunk)
            self.health.frames_received += len(new)
            lines += new
            if (not quiet_rule and self._reassembler.bad_frames > bad_before
                    and _echo_seen(spec, lines)):
                malformed = True
                deadline = min(deadline, last_rx + MALFORMED_GRACE_S)
        return self._incomplete(spec, wire, timeout_s, lines, received=last_rx is not None,
                                malformed=malformed)

    def _incomplete(self, spec: trf.TrfCommand, wire: bytes, timeout_s: float,
                    lines: list[trf.TrfLine], *, received: bool,
                    malformed: bool) -> trf.TrfReply:
        """The deadline passed without the end rule being met."""
        self._settle = received
        if spec.end is trf.EndRule.BLANK and spec.echo and _echo_seen(spec, lines):
            # The echo arrived and the command prints nothing else: only the final CRLF was
            # lost (noise in front of a lone CRLF takes it along; see the codec docstring).
            echo = next(line.text for line in lines if line.text in spec.echo)
            return trf.TrfReply(spec.code, echo, ())
        if malformed:
            raise MalformedReply(f"0x{spec.code:02X} {spec.name}: reply line garbled",
                                 port=self.port)
        self.health.timeouts += 1
        if not received:
            self._needs_probe = True  # the firmware always answers: it may have rebooted
        raise ReaderTimeout(f"0x{spec.code:02X} {spec.name}: reply incomplete",
                            port=self.port, timeout_s=timeout_s, request=wire)

    def _discard_stale(self) -> None:
        stale = self.transport.drain_input()
        self._drained += stale + self._reassembler.discard_partial()

    async def _settle_line(self) -> None:
        """After a timeout, a late reply may still be on its way: wait for a quiet line."""
        loop = asyncio.get_running_loop()
        end = loop.time() + SETTLE_MAX_S
        while loop.time() < end:
            chunk = await self.transport.read(SETTLE_QUIET_S)
            if not chunk:
                break
            self._drained += len(chunk)
            self.health.late_replies += 1
        self._settle = False

    def _sync_counters(self) -> None:
        self.health.garbage_bytes = self._reassembler.garbage_bytes + self._drained
        self.health.crc_errors = self._reassembler.bad_frames + self._bad_answers
        self.health.last_error = (str(self._reassembler.last_error)
                                  if self._reassembler.last_error else self.health.last_error)


def _echo_seen(spec: trf.TrfCommand, lines: Sequence[trf.TrfLine]) -> bool:
    return any(line.text in spec.echo for line in lines) if spec.echo else bool(lines)
