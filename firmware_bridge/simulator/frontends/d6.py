# SPDX-License-Identifier: Apache-2.0
"""The 3M D6 reader firmware (Model 210 pad / 810 staff reader) on the shared virtual field.

Contract: bytes from the host in, :class:`WireReply` frames out, answered as the 3M firmware
does (reader_protocols.md §1.2 "Simulator must reproduce", §4 3M column). Every frame is
decoded and built by :mod:`protocols.readers.d6`; every tag operation is an ISO 15693 request
on the :class:`RfField`; each reply is delayed by the field's air time plus
:data:`FIRMWARE_OVERHEAD_S` (the server adds the 19200-baud line time).

What it reproduces:

- D6/BCC framing; garbage before a frame is skipped; a frame with a bad BCC gets no answer
  [INFERRED: the spec names no error for it; FEIG does the same]; a partial frame is abandoned
  after :data:`INTER_BYTE_TIMEOUT_S` of silence.
- Busy-drop [3M spec §1]: "The reader will ignore a command sent while it is processing another
  command." Bytes that reached the reader behind the request it answers are dropped
  (:attr:`D6FrontEnd.dropped_requests`). Limitation: :class:`SimulatedReader` reads the line
  only between replies, so bytes that arrive while it waits out a reply's delay reach the
  front-end after the reply and are answered as a fresh request.
- Inventory (0xFE) with the field's anticollision, AFI filter (0 = all), then, unless option b5
  asks to skip it, stay-quiet for each tag and a second poll: a tag that missed its quiet
  command is listed twice (3M spec 7.1 remarks). Every inventory starts with an RF reset
  [INFERRED, like FEIG ONT=0], which also ends a wrong-password mute.
- Old-style multiblock reads with per-block lock bytes; the new-style and no-lock-info options
  answer 0x31 (their layout is not in the reference).
- Multiblock writes as single-block writes (ICODE SLIX has no ISO write multiple): failure at
  block k answers the status and block k, earlier blocks stay written; a tag gone before the
  first block is 0x06, after it 0x16 (§4). TI Tag-it tags get the option flag (§2.7).
- Status mapping (§4, 3M column): no reply or collision 0x06; air CRC error 0x15 on reads,
  0x16 on writes, 0x06 otherwise; ISO errors 01/02/03 -> 21/22/23, 0F -> 0F, 10 -> 11
  (memory not available), 11/12 -> 12 (memory locked), 13/14 -> 16; Check EAS on a tag whose
  EAS is off answers 06 (the tag stays silent); unknown commands answer 02; fields that do
  not match the layout answer 32.

Not responsible for: serial pacing and reader-level faults (:class:`SimulatedReader`), what the
tags do (:mod:`..tag`, :mod:`..field`), TI Tag-it 32-bit serial numbers, the pass-through's
control/RF-flag timing options (accepted, ignored), or the undocumented 0x13 command.
"""

from __future__ import annotations

from typing import ClassVar

from firmware_bridge.simulator.field import AirOutcome, AirResult, RfField
from firmware_bridge.simulator.server import FrontEnd, WireReply
from firmware_bridge.transport import LineSettings
from protocols.errors import FrameError
from protocols.framing import Reassembler
from protocols.iso15693 import (
    MFG_TI,
    BlocksResponse,
    EasAlarmResponse,
    ErrorResponse,
    Request,
    SystemInfoResponse,
    Uid,
    append_crc,
)
from protocols.readers import d6

__all__ = ["DEFAULT_VERSION", "FIRMWARE_OVERHEAD_S", "ISO_TO_D6", "D6FrontEnd"]

#: Firmware time per command on top of the air time [INFERRED: no 3M figure was found; a few
#: milliseconds for an 8-bit MCU to parse, dispatch and build the answer].
FIRMWARE_OVERHEAD_S = 0.003
#: A request whose bytes stop for this long is abandoned (Biblio-RFID's 0.1 s inter-character
#: timeout, applied on the reader side) [INFERRED].
INTER_BYTE_TIMEOUT_S = d6.INTER_BYTE_TIMEOUT_S
#: What 0x11 answers: the spec example (vector v58), "0A.03.02.06".
DEFAULT_VERSION = d6.ReaderVersion(0x0A, 0x03, 0x02, 0x06)
#: Most UIDs one inventory response can list (the count is one byte).
MAX_INVENTORY_ENTRIES = 255

NO_TRANSPONDER = 0x06
COMMAND_NOT_IMPLEMENTED = 0x02
UNKNOWN_ERROR = 0x0F
MEMORY_NOT_AVAILABLE = 0x11
MEMORY_NOT_READ = 0x15
MEMORY_NOT_WRITTEN = 0x16
OPTION_NOT_SUPPORTED = 0x31
PARAMETER_ERROR = 0x32

#: ISO 15693 error code in the tag's reply -> 3M status [3M spec App. A; INFERRED pairing].
ISO_TO_D6: dict[int, int] = {
    0x01: 0x21,  # command not supported -> ISO error 01
    0x02: 0x22,  # command not recognised -> ISO error 02
    0x03: 0x23,  # option not supported -> ISO error 03
    0x0F: UNKNOWN_ERROR,
    0x10: MEMORY_NOT_AVAILABLE,  # block not available
    0x11: 0x12,  # block already locked -> memory locked
    0x12: 0x12,  # block locked -> memory locked
    0x13: MEMORY_NOT_WRITTEN,  # block not programmed
    0x14: MEMORY_NOT_WRITTEN,  # block not locked
}

_READ, _WRITE, _OTHER = "read", "write", "other"
_CRC_ERROR_STATUS = {_READ: MEMORY_NOT_READ, _WRITE: MEMORY_NOT_WRITTEN, _OTHER: NO_TRANSPONDER}


class D6FrontEnd(FrontEnd):
    """A 3M Model 210 / 810 reader answering on the virtual field."""

    protocol: ClassVar[str] = "3m"
    line: ClassVar[LineSettings] = LineSettings(19200, 8, "N", 1)

    def __init__(self, field: RfField, *, version: d6.ReaderVersion = DEFAULT_VERSION) -> None:
        super().__init__(field)
        self.version = version
        self.dropped_requests = 0
        self._reassembler: Reassembler[d6.D6Request] = Reassembler(
            d6.decode_request, d6.next_header)
        self._last_byte_s = 0.0

    @property
    def bad_frames(self) -> int:
        """Requests rejected for their BCC or length (never answered)."""
        return self._reassembler.bad_frames

    def reboot(self) -> None:
        self._reassembler.discard_partial()

    def receive(self, data: bytes) -> list[WireReply]:
        now = self.field.now
        if self._reassembler.buffer and now - self._last_byte_s > INTER_BYTE_TIMEOUT_S:
            self._reassembler.discard_partial()
        self._last_byte_s = now
        frames = self._reassembler.feed(data)
        if not frames:
            return []
        if len(frames) > 1 or self._reassembler.buffer:
            # Sent while the reader was busy with frames[0]: ignored (3M spec §1).
            self.dropped_requests += len(frames) - 1 + bool(self._reassembler.buffer)
            self._reassembler.discard_partial()
        started = self.field.now
        response = self.answer(frames[0])
        air_time = self.field.now - started
        return [WireReply(response.encode(), FIRMWARE_OVERHEAD_S + air_time)]

    # -- one request ------------------------------------------------------------------------

    def answer(self, request: d6.D6Request) -> d6.D6Response:
        """The firmware's response to one decoded request (moves the field's clock)."""
        if request.start == d6.START_PROBE:
            if d6.is_hw_version_probe(request):
                return d6.hw_version_probe_response(self.version)
            return d6.error_response(request.command, COMMAND_NOT_IMPLEMENTED,
                                     start=d6.START_PROBE)
        if request.command == 0x11:
            return d6.reader_version_response(self.version)
        try:
            typed = d6.parse_request(request)
        except FrameError:
            return d6.error_response(request.command, PARAMETER_ERROR)
        match typed:
            case None:
                return d6.error_response(request.command, COMMAND_NOT_IMPLEMENTED)
            case d6.InventoryRequest():
                return self._inventory(typed)
            case d6.ReadBlocksRequest():
                return self._read_blocks(typed)
            case d6.WriteBlocksRequest():
                return self._write_blocks(typed)
            case d6.BlockRequest():
                return self._block(request.command, typed)
            case d6.TagInfoRequest():
                return self._tag_info(typed)
            case d6.PassThroughRequest():
                return self._pass_through(typed)
            case d6.TagRequest():
                return self._tag(request.command, typed)

    def _inventory(self, req: d6.InventoryRequest) -> d6.D6Response:
        afi = req.afi or None
        self.field.rf_reset()
        run = self.field.anticollision(afi)
        uids = list(run.uids)
        if req.second_poll:
            for uid in run.uids:
                self.field.transact(Request.stay_quiet(uid))
            uids += self.field.anticollision(afi).uids
        entries = [
            d6.InventoryEntry(str(uid), self.field.tag(uid).dsfid if req.with_dsfid else None)
            for uid in uids[:MAX_INVENTORY_ENTRIES]
        ]
        return d6.inventory_response(entries, afi=req.afi, options=req.options)

    def _read_blocks(self, req: d6.ReadBlocksRequest) -> d6.D6Response:
        styles = d6.READ_BLOCKS_OPTION_NEW_STYLE | d6.READ_BLOCKS_OPTION_NO_LOCK_INFO
        if req.options is not None and req.options & styles:
            return d6.error_response(0x02, OPTION_NOT_SUPPORTED, req.uid)
        if req.count == 0:
            return d6.error_response(0x02, PARAMETER_ERROR, req.uid)
        uid = Uid.from_text(req.uid)
        result = self.field.transact(
            Request.read_multiple_blocks(req.first, req.count, uid=uid, option=True))
        status = _failure(result, _READ)
        response = result.response
        if status is not None or not isinstance(response, BlocksResponse):
            return d6.error_response(0x02, status or UNKNOWN_ERROR, req.uid)
        security = response.security or (0,) * len(response.blocks)
        records = [d6.BlockRecord(req.first + index, security[index] & 0x01, data)
                   for index, data in enumerate(response.blocks)]
        return d6.read_blocks_response(req.uid, records)

    def _write_blocks(self, req: d6.WriteBlocksRequest) -> d6.D6Response:
        uid = Uid.from_text(req.uid)
        for index in range(req.count):
            number = req.first + index
            if number > 0xFF:
                return d6.write_blocks_response(req.uid, 0xFF, MEMORY_NOT_AVAILABLE)
            result = self.field.transact(Request.write_single_block(
                number, req.block(index), uid=uid, option=_needs_option(uid)))
            status = _failure(result, _WRITE)
            if status is not None:
                if status == NO_TRANSPONDER and index:
                    status = MEMORY_NOT_WRITTEN  # the tag was there for the earlier blocks
                return d6.write_blocks_response(req.uid, number, status)
        return d6.write_blocks_response(req.uid, min(req.first + req.count, 0xFF))

    def _block(self, command: int, req: d6.BlockRequest) -> d6.D6Response:
        uid = Uid.from_text(req.uid)
        option = _needs_option(uid)
        if req.data is not None:
            result = self.field.transact(
                Request.write_single_block(req.block, req.data, uid=uid, option=option))
            status = _failure(result, _WRITE)
            if status is not None:
                return d6.error_response(command, status, req.uid)
        if command in (0x07, 0x08):
            result = self.field.transact(Request.lock_block(req.block, uid=uid, option=option))
            status = _failure(result, _WRITE)
            if status is not None:
                return d6.error_response(command, status, req.uid)
        return d6.tag_reply_response(command, req.uid)

    def _system_info(self, uid: Uid) -> SystemInfoResponse | int:
        result = self.field.transact(Request.get_system_info(uid=uid))
        status = _failure(result, _READ)
        response = result.response
        if status is not None or not isinstance(response, SystemInfoResponse):
            return status or UNKNOWN_ERROR
        return response

    def _tag_info(self, req: d6.TagInfoRequest) -> d6.D6Response:
        info = self._system_info(Uid.from_text(req.uid))
        if isinstance(info, int):
            return d6.error_response(0x0D, info, req.uid)
        wanted = req.request
        memory = bool(wanted & d6.TAG_INFO_MEMORY)
        return d6.tag_info_response(
            req.uid,
            dsfid=info.dsfid if wanted & d6.TAG_INFO_DSFID else None,
            afi=info.afi if wanted & d6.TAG_INFO_AFI else None,
            block_size=info.block_size if memory else None,
            block_count=info.block_count if memory else None,
            ic_reference=info.ic_reference if wanted & d6.TAG_INFO_IC_REFERENCE else None,
        )

    def _tag(self, command: int, req: d6.TagRequest) -> d6.D6Response:
        uid = Uid.from_text(req.uid)
        option = _needs_option(uid)
        if command == 0x01:  # quiet: the tag never answers STAY QUIET
            self.field.transact(Request.stay_quiet(uid))
            return d6.tag_reply_response(command, req.uid)
        if command in (0x0A, 0x0F):
            info = self._system_info(uid)
            if isinstance(info, int):
                return d6.error_response(command, info, req.uid)
            value = info.afi if command == 0x0A else info.dsfid
            if value is None:
                return d6.error_response(command, MEMORY_NOT_AVAILABLE, req.uid)
            if command == 0x0A:
                return d6.read_afi_response(req.uid, value)
            return d6.read_dsfid_response(req.uid, value)
        if command == 0x03:
            result = self.field.transact(Request.eas_alarm(uid=uid))
            return d6.check_eas_response(req.uid, isinstance(result.response, EasAlarmResponse))
        if command == 0x0C and req.value not in (0, 1):
            return d6.error_response(command, PARAMETER_ERROR, req.uid)
        iso_request = {
            0x09: lambda: Request.write_afi(req.value or 0, uid=uid, option=option),
            0x06: lambda: Request.lock_afi(uid=uid, option=option),
            0x0B: lambda: Request.write_dsfid(req.value or 0, uid=uid, option=option),
            0x0E: lambda: Request.lock_dsfid(uid=uid, option=option),
            0x0C: lambda: (Request.set_eas(uid=uid) if req.value else Request.reset_eas(uid=uid)),
        }[command]()
        status = _failure(self.field.transact(iso_request), _WRITE)
        if status is not None:
            return d6.error_response(command, status, req.uid)
        return d6.tag_reply_response(command, req.uid)

    def _pass_through(self, req: d6.PassThroughRequest) -> d6.D6Response:
        result = self.field.transact_frame(append_crc(req.data))
        if result.outcome is not AirOutcome.REPLY or len(result.slots) != 1:
            return d6.error_response(0x14, NO_TRANSPONDER)
        # Result flags b0 SOF, b1 EOF seen; the tag's bytes without their CRC [INFERRED].
        return d6.pass_through_response(0x03, result.slots[0].frame[:-2])


def _needs_option(uid: Uid) -> bool:
    """TI Tag-it writes and locks need the ISO option flag; the firmware knows it (§2.7)."""
    return uid.manufacturer_code == MFG_TI


def _failure(result: AirResult, kind: str) -> int | None:
    """The 3M status for an air exchange that did not succeed; ``None`` when it did."""
    if result.outcome is AirOutcome.REPLY:
        response = result.response
        if isinstance(response, ErrorResponse):
            return ISO_TO_D6.get(response.code, UNKNOWN_ERROR)
        return None
    if result.outcome is AirOutcome.CRC_ERROR:
        return _CRC_ERROR_STATUS[kind]
    return NO_TRANSPONDER
