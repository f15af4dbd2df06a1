# SPDX-License-Identifier: Apache-2.0
"""3M "D6" reader protocol (3M RFID Reader Model 210 pad; same framing as the 3M 810 staff reader).

Physical layer: 19200 baud, 8N1, over a USB-serial converter [3M spec §2]. One frame each way::

    +-------+---------+---------+-----+---------------+-------------------+---------+---------+
    | START | LEN_MSB | LEN_LSB | CMD | STATUS (resp) | fields ...        | BCC_MSB | BCC_LSB |
    +-------+---------+---------+-----+---------------+-------------------+---------+---------+
      D6      LEN = number of bytes after the length field, BCC included
      (D5)    BCC = CRC-16/GENIBUS over LEN_MSB .. last field (everything but START), big-endian

* START is 0xD6; the 3M 810 hardware-version probe captured by Biblio-RFID uses 0xD5 with the same
  length and BCC rules, so both are accepted and kept in the frame for byte-exact re-encoding.
* Multi-byte numbers are big-endian; the UID is sent MSB first (``E0 04 ...``) [3M spec §6].
* Requests carry CMD and fields; responses carry CMD, a STATUS byte (00 = OK, else
  :data:`ERRORS`) and fields. Error responses may still carry the body (Check EAS answers status
  06 with UID and EAS byte), so typed parsers read what is present and leave the rest ``None``.

Recovery cases for :class:`~protocols.framing.Reassembler`: garbage before a frame is dropped up
to the next D5/D6 byte; a bad BCC, or a length outside ``MIN..MAX``, rejects only that start
byte; a valid prefix raises :class:`NeedMoreData`.

Busy-drop semantics [3M spec §1]: "The reader will ignore a command sent while it is processing
another command." The codec cannot see time; the driver must wait for the response (or
:func:`command_timeout_s`) before sending again, and use :meth:`D6Response.answers` to discard a
late response to an earlier request.

Both sides are typed: the host builds requests and parses responses (``read_blocks`` /
``parse_read_blocks``); a simulator parses requests and builds responses (``parse_request`` /
``read_blocks_response``), so neither handles construct containers.

Not responsible for: serial I/O, retries (Biblio-RFID's write-AFI and write-verify loops belong
to the driver; :attr:`D6Error.transient` says which statuses are worth retrying), matching the
ISO 15693 meaning of pass-through bytes, or the tag data model.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from construct import (
    Array,
    Bytes,
    Construct,
    ConstructError,
    GreedyBytes,
    If,
    Int8ub,
    Int16ub,
    Optional,
    Struct,
    Terminated,
    this,
)

from protocols.errors import FrameError
from protocols.framing import NeedMoreData

__all__ = [
    "CATALOGUE",
    "COMMANDS",
    "ERRORS",
    "ERROR_TABLE",
    "BlockRecord",
    "BlockRequest",
    "ByteResult",
    "D6Command",
    "D6Error",
    "D6Request",
    "D6Response",
    "EasResult",
    "InventoryEntry",
    "InventoryRequest",
    "InventoryResult",
    "PassThroughRequest",
    "PassThroughResult",
    "ReadBlocksRequest",
    "ReadBlocksResult",
    "ReaderVersion",
    "TagInfoRequest",
    "TagInfoResult",
    "TagReply",
    "TagRequest",
    "TypedRequest",
    "WriteBlocksRequest",
    "WriteBlocksResult",
    "bcc",
    "check_eas",
    "check_eas_response",
    "command_timeout_s",
    "decode_request",
    "decode_response",
    "error_response",
    "frame_time_s",
    "hw_version_probe",
    "hw_version_probe_response",
    "inventory",
    "inventory_response",
    "is_hw_version_probe",
    "lock_afi",
    "lock_block",
    "lock_dsfid",
    "next_header",
    "parse_block_request",
    "parse_check_eas",
    "parse_hw_version_probe",
    "parse_inventory",
    "parse_inventory_request",
    "parse_pass_through",
    "parse_pass_through_request",
    "parse_read_afi",
    "parse_read_blocks",
    "parse_read_blocks_request",
    "parse_read_dsfid",
    "parse_reader_version",
    "parse_request",
    "parse_tag_info",
    "parse_tag_info_request",
    "parse_tag_reply",
    "parse_tag_request",
    "parse_write_blocks",
    "parse_write_blocks_request",
    "pass_through",
    "pass_through_response",
    "quiet",
    "read_afi",
    "read_afi_response",
    "read_blocks",
    "read_blocks_response",
    "read_dsfid",
    "read_dsfid_response",
    "reader_version",
    "reader_version_response",
    "set_eas",
    "tag_info",
    "tag_info_response",
    "tag_reply_response",
    "write_afi",
    "write_and_lock_block",
    "write_block",
    "write_blocks",
    "write_blocks_response",
    "write_dsfid",
]

# --- framing constants ---------------------------------------------------------------------------

START = 0xD6
#: Start byte of the 3M 810 hardware-version probe (Biblio-RFID capture); meaning undocumented.
START_PROBE = 0xD5
START_BYTES = frozenset({START, START_PROBE})

HEADER_SIZE = 3  # START + LEN(2)
BCC_SIZE = 2
UID_SIZE = 8
BLOCK_SIZE = 4

#: LEN of the shortest request (CMD + BCC) and response (CMD + STATUS + BCC).
MIN_REQUEST_LENGTH = 1 + BCC_SIZE
MIN_RESPONSE_LENGTH = 2 + BCC_SIZE
#: No frame in the catalogue is longer than an inventory of 255 tags with DSFID:
#: CMD, STATUS, AFI, options, N, 255 x (DSFID + UID), BCC. A larger LEN is garbage. [INFERRED]
MAX_LENGTH = 1 + 1 + 3 + 255 * (1 + UID_SIZE) + BCC_SIZE

STATUS_OK = 0x00

# --- timers --------------------------------------------------------------------------------------

#: "19200 baud, 8N1" [3M spec §2]: 10 bit times per byte.
BAUD = 19200
BITS_PER_BYTE = 10
#: Biblio-RFID: "remove all wait_device since we are using timeouts" - 0.1 s inter-character ...
INTER_BYTE_TIMEOUT_S = 0.1
#: ... and 0.5 s total read timeout; used here as the reader's own processing budget.
READER_OVERHEAD_S = 0.5
#: Air time per block written, worst case, option-flag write with 20 ms programming time
#: (reference §3.1: "6.5 / 11.9 / 26.2 ms per block").
WRITE_BLOCK_AIR_S = 0.0262
#: Air time per block read: "Read multiple blocks, 8 blocks, addressed: 15.2 ms" (§3.1), rounded up.
READ_BLOCK_AIR_S = 0.002
#: Anticollision air time per tag: Monte-Carlo 16-slot rounds, "30 tags 285 ms" (§3.1), rounded up.
INVENTORY_AIR_PER_TAG_S = 0.010
#: Tags assumed on a pad when sizing an inventory timeout (3M pads read a stack of a few items).
DEFAULT_EXPECTED_TAGS = 16


BCC_PRESET = 0xFFFF
BCC_XOROUT = 0xFFFF


def bcc(data: bytes) -> int:
    """CRC-16/GENIBUS (poly 0x1021, MSB first, preset 0xFFFF, final XOR 0xFFFF) [3M spec App. C].

    ``binascii.crc_hqx`` is the same poly 0x1021, MSB-first CRC with a caller-given preset and
    no final XOR (CRC-16/XMODEM when preset 0), computed in C; the XOR makes it GENIBUS.
    """
    return binascii.crc_hqx(data, BCC_PRESET) ^ BCC_XOROUT


def frame_time_s(n_bytes: int, baud: int = BAUD) -> float:
    """Seconds the serial line needs for ``n_bytes`` at 8N1 (10 bit times per byte)."""
    if n_bytes < 0 or baud <= 0:
        raise ValueError(f"need n_bytes >= 0 and baud > 0, got {n_bytes} and {baud}")
    return n_bytes * BITS_PER_BYTE / baud


# --- error table ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class D6Error:
    """One row of the 3M error table [3M spec App. A]."""

    code: int
    name: str
    meaning: str
    transient: bool  # worth retrying: weak coupling or a tag moving, not a property of the tag


ERROR_TABLE: tuple[D6Error, ...] = (
    # code, name, meaning, transient
    D6Error(0x02, "command_not_implemented", "command not implemented", False),
    D6Error(0x06, "no_transponder",
            "no transponder; also a bad UID, or a tag that stays silent (Check EAS: EAS = 0)",
            True),
    D6Error(0x0F, "unknown_error", "unknown error; the reader gives no reason, retry once",
            True),
    D6Error(0x11, "memory_not_available", "bad block number, or no AFI/DSFID", False),
    D6Error(0x12, "memory_locked", "memory locked", False),
    D6Error(0x15, "memory_not_read", "memory not read", True),
    D6Error(0x16, "memory_not_written", "memory not written ('not enough power?')", True),
    D6Error(0x21, "iso_not_supported", "ISO 15693 error 01: command not supported", False),
    D6Error(0x22, "iso_not_recognised", "ISO 15693 error 02: command not recognised", False),
    D6Error(0x23, "iso_option_not_supported", "ISO 15693 error 03: option not supported",
            False),
    D6Error(0x30, "not_supported", "not supported", False),
    D6Error(0x31, "option_not_supported", "option not supported", False),
    D6Error(0x32, "parameter_error", "parameter error", False),
    D6Error(0xFD, "user_cancel", "user cancel", False),
    D6Error(0xFE, "not_enough_memory", "not enough memory", False),
)
ERRORS: Mapping[int, D6Error] = {e.code: e for e in ERROR_TABLE}


# --- frames --------------------------------------------------------------------------------------


def _check_byte(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise FrameError(f"{name} 0x{value:X} does not fit in one byte")


def _split(data: bytes, min_length: int) -> tuple[int, bytes, bytes]:
    """Return (start byte, CMD .. last field, rest) of the first frame in ``data``."""
    if not data:
        raise NeedMoreData
    if data[0] not in START_BYTES:
        raise FrameError(f"start byte 0x{data[0]:02X} is neither D6 nor D5", frame=data[:1],
                         offset=0)
    if len(data) < HEADER_SIZE:
        raise NeedMoreData
    length = int.from_bytes(data[1:3], "big")
    if not min_length <= length <= MAX_LENGTH:
        raise FrameError(f"length {length} outside {min_length}..{MAX_LENGTH}",
                         frame=data[:HEADER_SIZE], offset=1)
    end = HEADER_SIZE + length
    if len(data) < end:
        raise NeedMoreData
    frame = data[:end]
    expected = bcc(frame[1:-BCC_SIZE])
    received = int.from_bytes(frame[-BCC_SIZE:], "big")
    if expected != received:
        raise FrameError(f"BCC {received:04X} != computed {expected:04X}", frame=frame,
                         offset=end - BCC_SIZE)
    return frame[0], frame[HEADER_SIZE:-BCC_SIZE], data[end:]


def _wrap(start: int, body: bytes) -> bytes:
    length = (len(body) + BCC_SIZE).to_bytes(2, "big")
    return bytes([start]) + length + body + bcc(length + body).to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class D6Request:
    """Host -> reader: a command byte and its fields (without framing)."""

    command: int
    payload: bytes = b""
    start: int = START

    def __post_init__(self) -> None:
        _check_byte("command", self.command)
        if self.start not in START_BYTES:
            raise FrameError(f"start byte 0x{self.start:02X} is neither D6 nor D5")
        if 1 + len(self.payload) + BCC_SIZE > MAX_LENGTH:
            raise FrameError(f"payload of {len(self.payload)} bytes exceeds the frame maximum")

    def encode(self) -> bytes:
        return _wrap(self.start, bytes([self.command]) + self.payload)

    @classmethod
    def decode(cls, data: bytes) -> tuple[D6Request, bytes]:
        start, body, rest = _split(data, MIN_REQUEST_LENGTH)
        return cls(body[0], body[1:], start), rest

    @property
    def spec(self) -> D6Command | None:
        return COMMANDS.get(self.command)


@dataclass(frozen=True, slots=True)
class D6Response:
    """Reader -> host: the echoed command byte, a status byte and the fields."""

    command: int
    status: int = STATUS_OK
    payload: bytes = b""
    start: int = START

    def __post_init__(self) -> None:
        _check_byte("command", self.command)
        _check_byte("status", self.status)
        if self.start not in START_BYTES:
            raise FrameError(f"start byte 0x{self.start:02X} is neither D6 nor D5")
        if 2 + len(self.payload) + BCC_SIZE > MAX_LENGTH:
            raise FrameError(f"payload of {len(self.payload)} bytes exceeds the frame maximum")

    def encode(self) -> bytes:
        return _wrap(self.start, bytes([self.command, self.status]) + self.payload)

    @classmethod
    def decode(cls, data: bytes) -> tuple[D6Response, bytes]:
        start, body, rest = _split(data, MIN_RESPONSE_LENGTH)
        return cls(body[0], body[1], body[2:], start), rest

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    @property
    def error(self) -> D6Error | None:
        """The error-table row for a failed status (an undocumented code gets a generic row)."""
        if self.ok:
            return None
        return ERRORS.get(self.status,
                          D6Error(self.status, "undocumented", "status not in App. A", False))

    def answers(self, request: D6Request) -> bool:
        """True when this response belongs to ``request`` (same start and command byte)."""
        return self.command == request.command and self.start == request.start


def decode_request(data: bytes) -> tuple[D6Request, bytes]:
    """First request frame in ``data`` and the rest (NeedMoreData / FrameError otherwise)."""
    return D6Request.decode(data)


def decode_response(data: bytes) -> tuple[D6Response, bytes]:
    """First response frame in ``data`` and the rest (NeedMoreData / FrameError otherwise)."""
    return D6Response.decode(data)


def next_header(data: bytes, start: int) -> int:
    """Index of the next D6 or D5 byte at or after ``start`` (``len(data)`` if none)."""
    for index in range(start, len(data)):
        if data[index] in START_BYTES:
            return index
    return len(data)


# --- command catalogue ---------------------------------------------------------------------------

UID = Bytes(UID_SIZE)

# 7.1 Read Block UID: AFI (0 = all), response options (b0 address, b1 DSFID first,
#     b5 skip quiet and second poll, b6 protocols byte follows: b0 Tag-it, b1 ISO).
INVENTORY_OPTION_DSFID = 0x02
INVENTORY_OPTION_PROTOCOLS = 0x40
INVENTORY_REQUEST = Struct(
    "afi" / Int8ub,
    "options" / Int8ub,
    "protocols" / If(this.options & INVENTORY_OPTION_PROTOCOLS, Int8ub),
    Terminated,
)
INVENTORY_RESPONSE = Struct(
    "afi" / Int8ub,
    "options" / Int8ub,
    "count" / Int8ub,
    "entries" / Array(this.count, Struct(
        "dsfid" / If(this._.options & INVENTORY_OPTION_DSFID, Int8ub),
        "uid" / UID,
    )),
    Terminated,
)
# The same 7.1 response for the hot path (up to 255 entries, one 16-tag frame per inventory):
# struct and slicing, ~15x faster than construct; test_d6 checks both agree on any payload.
INVENTORY_RESPONSE_HEAD = struct.Struct(
    ">"
    "B"  # AFI
    "B"  # options (b1: every entry starts with its DSFID)
    "B"  # N: entries that follow, each [DSFID] UID (8 bytes, MSB first)
)
# 7.2 Reader version: 0A, major, minor, build.
VERSION_RESPONSE = Struct(
    "product" / Int8ub,
    "major" / Int8ub,
    "minor" / Int8ub,
    "build" / Int8ub,
    Terminated,
)
# 7.3 ISO pass-through: send size, receive size, control options, [RF flags], raw ISO bytes
#     without CRC. The optional RF-flags byte is not separable here; it stays in ``data``.
PASS_THROUGH_REQUEST = Struct(
    "send_size" / Int16ub,
    "receive_size" / Int16ub,
    "control" / Int16ub,
    "data" / GreedyBytes,
)
#     Result flags: b0 SOF, b1 EOF, b2 code violation; then receive size and the data.
PASS_THROUGH_RESPONSE = Struct(
    "flags" / Int8ub,
    "receive_size" / Int16ub,
    "data" / GreedyBytes,
)
UID_ONLY = Struct("uid" / UID, Terminated)
EMPTY = Struct(Terminated)
# 7.5 Read multiblock: UID, first, count, [options: b2 new style, b3 no lock info].
READ_BLOCKS_OPTION_NEW_STYLE = 0x04
READ_BLOCKS_OPTION_NO_LOCK_INFO = 0x08
READ_BLOCKS_REQUEST = Struct(
    "uid" / UID,
    "first" / Int8ub,
    "count" / Int8ub,
    "options" / Optional(Int8ub),
    Terminated,
)
#     Old-style response: UID, count, count x (block#, lock/err, 4 data).
READ_BLOCKS_RESPONSE = Struct(
    "uid" / UID,
    "count" / Int8ub,
    "blocks" / Array(this.count, Struct(
        "number" / Int8ub,
        "lock_status" / Int8ub,
        "data" / Bytes(BLOCK_SIZE),
    )),
    Terminated,
)
# 7.6 Write multiblock: UID, first, count, 00, data; response UID, [block with error, or last
#     written + 1] (the spec example's LEN omits that byte: accept both).
WRITE_BLOCKS_REQUEST = Struct(
    "uid" / UID,
    "first" / Int8ub,
    "count" / Int8ub,
    "reserved" / Int8ub,
    "data" / Bytes(this.count * BLOCK_SIZE),
    Terminated,
)
WRITE_BLOCKS_RESPONSE = Struct("uid" / UID, "block" / Optional(Int8ub), Terminated)
WRITE_BLOCK_REQUEST = Struct("uid" / UID, "block" / Int8ub, "data" / Bytes(BLOCK_SIZE),
                             Terminated)
BLOCK_NUMBER_REQUEST = Struct("uid" / UID, "block" / Int8ub, Terminated)
UID_BYTE_REQUEST = Struct("uid" / UID, "value" / Int8ub, Terminated)
UID_BYTE_RESPONSE = Struct("uid" / UID, "value" / Int8ub, Terminated)
# 7.x Tag info: request bits b0 DSFID, b1 AFI, b2 memory size, b3 IC reference.
TAG_INFO_DSFID = 0x01
TAG_INFO_AFI = 0x02
TAG_INFO_MEMORY = 0x04
TAG_INFO_IC_REFERENCE = 0x08
TAG_INFO_ALL = TAG_INFO_DSFID | TAG_INFO_AFI | TAG_INFO_MEMORY | TAG_INFO_IC_REFERENCE
TAG_INFO_REQUEST = Struct("uid" / UID, "request" / Int8ub, Terminated)
TAG_INFO_RESPONSE = Struct(
    "uid" / UID,
    "available" / Int8ub,
    "dsfid" / If(this.available & TAG_INFO_DSFID, Int8ub),
    "afi" / If(this.available & TAG_INFO_AFI, Int8ub),
    "block_size_minus_one" / If(this.available & TAG_INFO_MEMORY, Int8ub),
    "block_count_minus_one" / If(this.available & TAG_INFO_MEMORY, Int8ub),
    "ic_reference" / If(this.available & TAG_INFO_IC_REFERENCE, Int8ub),
    Terminated,
)


@dataclass(frozen=True, slots=True)
class D6Command:
    """One row of the 3M command catalogue [3M spec §7]."""

    code: int
    name: str
    request: Construct
    response: Construct
    spec: str


CATALOGUE: tuple[D6Command, ...] = (
    # code, name, request layout, response layout (status 00), spec text
    D6Command(0xFE, "inventory", INVENTORY_REQUEST, INVENTORY_RESPONSE,
              "7.1 Read Block UID: every UID in the field, optionally AFI-filtered"),
    D6Command(0x11, "reader_version", EMPTY, VERSION_RESPONSE,
              "7.2 Reader version: 0A, major, minor, build"),
    D6Command(0x14, "pass_through", PASS_THROUGH_REQUEST, PASS_THROUGH_RESPONSE,
              "7.3 ISO pass-through: raw ISO 15693 bytes without CRC, timing in control"),
    D6Command(0x01, "quiet", UID_ONLY, UID_ONLY, "7.4 Quiet: send the tag to quiet state"),
    D6Command(0x02, "read_blocks", READ_BLOCKS_REQUEST, READ_BLOCKS_RESPONSE,
              "7.5 Read multiblock: count x (block#, lock/err, 4 data), old style"),
    D6Command(0x04, "write_blocks", WRITE_BLOCKS_REQUEST, WRITE_BLOCKS_RESPONSE,
              "7.6 Write multiblock: answers the failing block or last written + 1"),
    D6Command(0x05, "write_block", WRITE_BLOCK_REQUEST, UID_ONLY,
              "7.7 Write block: one 4-byte block"),
    D6Command(0x07, "write_and_lock_block", WRITE_BLOCK_REQUEST, UID_ONLY,
              "7.8 Write and lock block: one 4-byte block, then lock it"),
    D6Command(0x08, "lock_block", BLOCK_NUMBER_REQUEST, UID_ONLY,
              "7.9 Lock block: permanently"),
    D6Command(0x0A, "read_afi", UID_ONLY, UID_BYTE_RESPONSE, "7.10 Get AFI"),
    D6Command(0x09, "write_afi", UID_BYTE_REQUEST, UID_ONLY,
              "7.11 Write AFI (3M gates: D7 secured, DA unsecured)"),
    D6Command(0x06, "lock_afi", UID_ONLY, UID_ONLY, "7.12 Lock AFI: permanently"),
    D6Command(0x03, "check_eas", UID_ONLY, UID_BYTE_RESPONSE,
              "7.13 Check EAS (NXP): EAS 0 shows up as status 06, the tag stays silent"),
    D6Command(0x0C, "set_eas", UID_BYTE_REQUEST, UID_ONLY,
              "7.14 EAS control (NXP): 1 = set, 0 = reset"),
    D6Command(0x0F, "read_dsfid", UID_ONLY, UID_BYTE_RESPONSE, "Get DSFID"),
    D6Command(0x0B, "write_dsfid", UID_BYTE_REQUEST, UID_ONLY, "Write DSFID"),
    D6Command(0x0E, "lock_dsfid", UID_ONLY, UID_ONLY, "Lock DSFID: permanently"),
    D6Command(0x0D, "tag_info", TAG_INFO_REQUEST, TAG_INFO_RESPONSE,
          "Tag info: available bits, then DSFID, AFI, memory size (n-1), IC reference"),
)
COMMANDS: Mapping[int, D6Command] = {c.code: c for c in CATALOGUE}


def _parse(layout: Construct, payload: bytes, what: str) -> Any:
    try:
        return layout.parse(payload)
    except ConstructError as exc:
        raise FrameError(f"{what}: fields do not match the layout ({exc})", frame=payload) from exc


def _build(command: int, fields: dict[str, Any], *, start: int = START) -> D6Request:
    spec = COMMANDS[command]
    try:
        payload = spec.request.build(fields)
    except ConstructError as exc:
        raise FrameError(f"{spec.name}: cannot encode {fields!r} ({exc})") from exc
    return D6Request(command, payload, start)


# --- UIDs ---------------------------------------------------------------------------------------


def _uid_bytes(uid: str) -> bytes:
    """Canonical MSB-first hex UID (``E004010012345678``) -> the 8 bytes 3M sends (MSB first)."""
    try:
        raw = bytes.fromhex(uid)
    except ValueError as exc:
        raise FrameError(f"UID {uid!r} is not hex") from exc
    if len(raw) != UID_SIZE:
        raise FrameError(f"UID {uid!r} has {len(raw)} bytes, not {UID_SIZE}")
    return raw


def _uid_text(raw: bytes) -> str:
    return raw.hex().upper()


# --- typed builders ------------------------------------------------------------------------------


def reader_version() -> D6Request:
    """0x11 Reader version; the probe to send after every open."""
    return _build(0x11, {})


def hw_version_probe() -> D6Request:
    """The 3M 810 hardware-version probe exactly as Biblio-RFID sends it (start byte D5).

    Layout inferred from the capture: CMD 04, then ``00 11``; the reply repeats ``11`` before the
    four version bytes. The meaning of D5 versus D6 is undocumented [UNCERTAIN].
    """
    return D6Request(0x04, bytes([0x00, 0x11]), START_PROBE)


def inventory(afi: int = 0, options: int = 0x05, protocols: int | None = None) -> D6Request:
    """0xFE Read Block UID. ``afi`` 0 = all tags; ``options`` as Biblio-RFID sends them (05)."""
    if protocols is not None:
        options |= INVENTORY_OPTION_PROTOCOLS
    elif options & INVENTORY_OPTION_PROTOCOLS:
        raise FrameError("inventory option b6 needs a protocols byte")
    return _build(0xFE, {"afi": afi, "options": options, "protocols": protocols})


def quiet(uid: str) -> D6Request:
    """0x01 Quiet."""
    return _build(0x01, {"uid": _uid_bytes(uid)})


def read_blocks(uid: str, first: int, count: int, options: int | None = None) -> D6Request:
    """0x02 Read multiblock; ``count`` is the real number of blocks (not ISO's n-1)."""
    return _build(0x02, {"uid": _uid_bytes(uid), "first": first, "count": count,
                         "options": options})


def write_blocks(uid: str, first: int, data: bytes) -> D6Request:
    """0x04 Write multiblock; ``data`` is a whole number of 4-byte blocks."""
    if not data or len(data) % BLOCK_SIZE:
        raise FrameError(f"write data of {len(data)} bytes is not a whole number of blocks")
    return _build(0x04, {"uid": _uid_bytes(uid), "first": first,
                         "count": len(data) // BLOCK_SIZE, "reserved": 0, "data": data})


def write_block(uid: str, block: int, data: bytes) -> D6Request:
    """0x05 Write block."""
    return _build(0x05, {"uid": _uid_bytes(uid), "block": block, "data": data})


def write_and_lock_block(uid: str, block: int, data: bytes) -> D6Request:
    """0x07 Write and lock block."""
    return _build(0x07, {"uid": _uid_bytes(uid), "block": block, "data": data})


def lock_block(uid: str, block: int) -> D6Request:
    """0x08 Lock block."""
    return _build(0x08, {"uid": _uid_bytes(uid), "block": block})


def read_afi(uid: str) -> D6Request:
    """0x0A Get AFI."""
    return _build(0x0A, {"uid": _uid_bytes(uid)})


def write_afi(uid: str, afi: int) -> D6Request:
    """0x09 Write AFI."""
    return _build(0x09, {"uid": _uid_bytes(uid), "value": afi})


def lock_afi(uid: str) -> D6Request:
    """0x06 Lock AFI."""
    return _build(0x06, {"uid": _uid_bytes(uid)})


def check_eas(uid: str) -> D6Request:
    """0x03 Check EAS (NXP tags)."""
    return _build(0x03, {"uid": _uid_bytes(uid)})


def set_eas(uid: str, armed: bool) -> D6Request:
    """0x0C EAS control: ``armed`` True sets the EAS bit, False resets it."""
    return _build(0x0C, {"uid": _uid_bytes(uid), "value": int(armed)})


def read_dsfid(uid: str) -> D6Request:
    """0x0F Get DSFID."""
    return _build(0x0F, {"uid": _uid_bytes(uid)})


def write_dsfid(uid: str, dsfid: int) -> D6Request:
    """0x0B Write DSFID."""
    return _build(0x0B, {"uid": _uid_bytes(uid), "value": dsfid})


def lock_dsfid(uid: str) -> D6Request:
    """0x0E Lock DSFID."""
    return _build(0x0E, {"uid": _uid_bytes(uid)})


def tag_info(uid: str, request: int = TAG_INFO_ALL) -> D6Request:
    """0x0D Tag info; ``request`` bits b0 DSFID, b1 AFI, b2 memory size, b3 IC reference."""
    return _build(0x0D, {"uid": _uid_bytes(uid), "request": request})


def pass_through(iso_request: bytes, receive_size: int, control: int = 0) -> D6Request:
    """0x14 ISO pass-through of raw ISO 15693 bytes (the reader adds the CRC).

    ``control`` carries the timing options of 3M spec §7.3 (EOF delays in 9.44 / 18.88 us
    units); its bit layout is not in the reference, so it is passed through as a number.
    """
    return _build(0x14, {"send_size": len(iso_request), "receive_size": receive_size,
                         "control": control, "data": iso_request})


# --- typed results and parsers -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReaderVersion:
    """Firmware version; ``product`` is 0x0A on every reader seen so far."""

    product: int
    major: int
    minor: int
    build: int

    def __str__(self) -> str:
        return f"{self.product:02X}.{self.major:02X}.{self.minor:02X}.{self.build:02X}"


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    uid: str  # canonical MSB-first hex
    dsfid: int | None = None


@dataclass(frozen=True, slots=True)
class InventoryResult:
    """Tags seen. The same UID can appear twice if a tag missed the quiet command [3M 7.1]."""

    status: int
    afi: int | None
    options: int | None
    entries: tuple[InventoryEntry, ...]

    @property
    def uids(self) -> tuple[str, ...]:
        """Distinct UIDs in the order first seen."""
        return tuple(dict.fromkeys(e.uid for e in self.entries))


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """One block of an old-style read: lock/err 00 unlocked, 01 user, 02 factory, 03 both."""

    number: int
    lock_status: int
    data: bytes

    def __post_init__(self) -> None:
        if len(self.data) != BLOCK_SIZE:
            raise FrameError(f"block {self.number} has {len(self.data)} bytes, not {BLOCK_SIZE}")

    @property
    def locked(self) -> bool:
        return self.lock_status in (0x01, 0x02, 0x03)

    @property
    def error(self) -> int | None:
        """Per-block error code (values above 03), else ``None``."""
        return self.lock_status if self.lock_status > 0x03 else None


@dataclass(frozen=True, slots=True)
class ReadBlocksResult:
    status: int
    uid: str | None
    blocks: tuple[BlockRecord, ...]


@dataclass(frozen=True, slots=True)
class WriteBlocksResult:
    """``block`` is the failing block on error, the last written + 1 on success, if sent."""

    status: int
    uid: str | None
    block: int | None


@dataclass(frozen=True, slots=True)
class TagReply:
    """Reply whose body is the UID only (quiet, write/lock block, write/lock AFI, EAS control)."""

    status: int
    uid: str | None


@dataclass(frozen=True, slots=True)
class ByteResult:
    """Reply with UID and one value byte (Get AFI, Get DSFID)."""

    status: int
    uid: str | None
    value: int | None


@dataclass(frozen=True, slots=True)
class EasResult:
    """Check EAS: ``armed`` is False for status 06, as the spec says (the tag stays silent).

    Status 06 also means "no transponder"; the reader cannot tell the two apart, so a caller that
    needs certainty first confirms the tag is present (inventory or Get AFI).
    """

    status: int
    uid: str | None
    armed: bool | None


@dataclass(frozen=True, slots=True)
class TagInfoResult:
    status: int
    uid: str | None
    available: int | None
    dsfid: int | None
    afi: int | None
    block_size: int | None  # bytes, decoded from the n-1 coding
    block_count: int | None
    ic_reference: int | None


@dataclass(frozen=True, slots=True)
class PassThroughResult:
    """Result flags b0 SOF, b1 EOF, b2 code violation; ``data`` the tag's bytes."""

    status: int
    flags: int | None
    receive_size: int | None
    data: bytes


def _expect(response: D6Response, command: int) -> None:
    if response.command != command:
        raise FrameError(f"expected a response to 0x{command:02X}, got 0x{response.command:02X}",
                         frame=response.encode(), offset=3)


def _body(response: D6Response, command: int) -> Any | None:
    """Parsed fields; strict for status 00, best effort (``None``) for error responses."""
    _expect(response, command)
    spec = COMMANDS[command]
    if response.ok:
        return _parse(spec.response, response.payload, f"{spec.name} response")
    try:
        return spec.response.parse(response.payload)
    except ConstructError:
        return None


def _error_uid(response: D6Response) -> str | None:
    if len(response.payload) >= UID_SIZE:
        return _uid_text(response.payload[:UID_SIZE])
    return None


def parse_reader_version(response: D6Response) -> ReaderVersion:
    """0x11 response; a version reply with an error status is not a version."""
    fields = _body(response, 0x11)
    if fields is None:
        raise FrameError(f"reader version answered status 0x{response.status:02X}",
                         frame=response.encode(), offset=4)
    return ReaderVersion(fields.product, fields.major, fields.minor, fields.build)


def parse_hw_version_probe(response: D6Response) -> ReaderVersion:
    """Reply to :func:`hw_version_probe`: ``04 00 11`` then the four version bytes."""
    _expect(response, 0x04)
    if response.status != STATUS_OK or len(response.payload) != 5 or response.payload[0] != 0x11:
        raise FrameError("not a hardware-version probe reply", frame=response.encode(), offset=4)
    return ReaderVersion(*response.payload[1:])


def parse_inventory(response: D6Response) -> InventoryResult:
    """0xFE response (layout INVENTORY_RESPONSE, parsed with INVENTORY_RESPONSE_HEAD); strict
    for status 00, best effort (no entries) for error responses, like the other parsers."""
    _expect(response, 0xFE)
    payload, head = response.payload, INVENTORY_RESPONSE_HEAD
    if len(payload) < head.size:
        problem = f"{len(payload)} bytes, AFI options N need {head.size}"
    else:
        afi, options, count = head.unpack_from(payload)
        dsfid = bool(options & INVENTORY_OPTION_DSFID)
        size = dsfid + UID_SIZE
        if len(payload) == head.size + count * size:
            entries = tuple(
                InventoryEntry(payload[at + dsfid:at + size].hex().upper(),
                               payload[at] if dsfid else None)
                for at in range(head.size, len(payload), size)
            )
            return InventoryResult(response.status, afi, options, entries)
        problem = f"{len(payload)} bytes for {count} entries of {size} bytes"
    if response.ok:
        raise FrameError(f"inventory response: fields do not match the layout ({problem})",
                         frame=payload)
    return InventoryResult(response.status, None, None, ())


def parse_read_blocks(response: D6Response) -> ReadBlocksResult:
    """0x02 response in the old style (block#, lock/err, data); other styles raise FrameError."""
    fields = _body(response, 0x02)
    if fields is None:
        return ReadBlocksResult(response.status, _error_uid(response), ())
    blocks = tuple(BlockRecord(b.number, b.lock_status, b.data) for b in fields.blocks)
    return ReadBlocksResult(response.status, _uid_text(fields.uid), blocks)


def parse_write_blocks(response: D6Response) -> WriteBlocksResult:
    fields = _body(response, 0x04)
    if fields is None:
        return WriteBlocksResult(response.status, _error_uid(response), None)
    return WriteBlocksResult(response.status, _uid_text(fields.uid), fields.block)


def parse_tag_reply(response: D6Response) -> TagReply:
    """Responses whose body is the UID: 01, 05, 06, 07, 08, 09, 0B, 0C, 0E."""
    spec = COMMANDS.get(response.command)
    if spec is None or spec.response is not UID_ONLY:
        raise FrameError(f"0x{response.command:02X} does not answer with a UID only",
                         frame=response.encode(), offset=3)
    fields = _body(response, response.command)
    return TagReply(response.status,
                    _uid_text(fields.uid) if fields is not None else _error_uid(response))


def parse_read_afi(response: D6Response) -> ByteResult:
    fields = _body(response, 0x0A)
    if fields is None:
        return ByteResult(response.status, _error_uid(response), None)
    return ByteResult(response.status, _uid_text(fields.uid), fields.value)


def parse_read_dsfid(response: D6Response) -> ByteResult:
    fields = _body(response, 0x0F)
    if fields is None:
        return ByteResult(response.status, _error_uid(response), None)
    return ByteResult(response.status, _uid_text(fields.uid), fields.value)


def parse_check_eas(response: D6Response) -> EasResult:
    fields = _body(response, 0x03)
    uid = _uid_text(fields.uid) if fields is not None else _error_uid(response)
    if response.status == 0x06:
        return EasResult(response.status, uid, False)
    if fields is None:
        return EasResult(response.status, uid, None)
    return EasResult(response.status, uid, bool(fields.value))


def parse_tag_info(response: D6Response) -> TagInfoResult:
    fields = _body(response, 0x0D)
    if fields is None:
        return TagInfoResult(response.status, _error_uid(response), None, None, None, None, None,
                             None)

    def plus_one(value: int | None) -> int | None:
        return None if value is None else value + 1

    return TagInfoResult(response.status, _uid_text(fields.uid), fields.available, fields.dsfid,
                         fields.afi, plus_one(fields.block_size_minus_one),
                         plus_one(fields.block_count_minus_one), fields.ic_reference)


def parse_pass_through(response: D6Response) -> PassThroughResult:
    fields = _body(response, 0x14)
    if fields is None:
        return PassThroughResult(response.status, None, None, b"")
    return PassThroughResult(response.status, fields.flags, fields.receive_size, fields.data)


# --- timeouts ------------------------------------------------------------------------------------


def command_timeout_s(request: D6Request, *, expected_tags: int = DEFAULT_EXPECTED_TAGS,
                      baud: int = BAUD, overhead_s: float = READER_OVERHEAD_S) -> float:
    """How long to wait for the response to ``request`` before giving up [INFERRED].

    Serial time of the request and of the largest expected response, plus the air time of the
    command (per block written or read, per tag inventoried), plus the reader's own budget
    ``overhead_s`` (a driver passes its own named constant so tests can shrink it).
    """
    air = 0.0
    response_bytes = HEADER_SIZE + 2 + UID_SIZE + 8 + BCC_SIZE
    payload = request.payload
    if request.command == 0xFE:
        air = expected_tags * INVENTORY_AIR_PER_TAG_S
        response_bytes = HEADER_SIZE + 5 + expected_tags * (1 + UID_SIZE) + BCC_SIZE
    elif request.command == 0x02 and len(payload) >= UID_SIZE + 2:
        count = payload[UID_SIZE + 1]
        air = count * READ_BLOCK_AIR_S
        response_bytes = HEADER_SIZE + 3 + UID_SIZE + count * (2 + BLOCK_SIZE) + BCC_SIZE
    elif request.command == 0x04 and len(payload) >= UID_SIZE + 2:
        air = payload[UID_SIZE + 1] * WRITE_BLOCK_AIR_S
    elif request.command in (0x05, 0x07, 0x08, 0x09, 0x06, 0x0B, 0x0E, 0x0C):
        air = WRITE_BLOCK_AIR_S
    request_bytes = HEADER_SIZE + 1 + len(payload) + BCC_SIZE
    return (frame_time_s(request_bytes, baud) + air + frame_time_s(response_bytes, baud)
            + overhead_s)


# --- the reader's side: typed request parsers and response builders ------------------------------
#
# A simulator (or a capture analyser) receives :class:`D6Request` frames and answers with
# :class:`D6Response` frames; these turn the first into typed values and typed values into the
# second, so construct containers never leave this module.


@dataclass(frozen=True, slots=True)
class InventoryRequest:
    """0xFE Read Block UID as the reader sees it; ``afi`` 0 = every tag."""

    afi: int
    options: int
    protocols: int | None = None

    @property
    def with_dsfid(self) -> bool:
        return bool(self.options & INVENTORY_OPTION_DSFID)

    @property
    def second_poll(self) -> bool:
        """b5 clear: quiet every tag found, then poll again (duplicates come from here)."""
        return not self.options & INVENTORY_OPTION_SKIP_QUIET


@dataclass(frozen=True, slots=True)
class ReadBlocksRequest:
    """0x02 Read multiblock; ``options`` None = the old-style layout without an options byte."""

    uid: str
    first: int
    count: int
    options: int | None = None


@dataclass(frozen=True, slots=True)
class WriteBlocksRequest:
    """0x04 Write multiblock: ``data`` is ``count`` 4-byte blocks from ``first``."""

    uid: str
    first: int
    data: bytes

    @property
    def count(self) -> int:
        return len(self.data) // BLOCK_SIZE

    def block(self, index: int) -> bytes:
        """The ``index``-th block of the request (0 = block ``first``)."""
        return self.data[index * BLOCK_SIZE:(index + 1) * BLOCK_SIZE]


@dataclass(frozen=True, slots=True)
class BlockRequest:
    """0x05 Write block and 0x07 Write and lock block (with ``data``), 0x08 Lock block."""

    uid: str
    block: int
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class TagRequest:
    """Requests addressed by UID with at most one value byte: 01, 03, 06, 0A, 0E, 0F (no value);
    09 Write AFI, 0B Write DSFID, 0C EAS control (value)."""

    uid: str
    value: int | None = None


@dataclass(frozen=True, slots=True)
class TagInfoRequest:
    """0x0D Tag info: ``request`` bits b0 DSFID, b1 AFI, b2 memory size, b3 IC reference."""

    uid: str
    request: int


@dataclass(frozen=True, slots=True)
class PassThroughRequest:
    """0x14 ISO pass-through: ``data`` is the raw ISO 15693 request without CRC."""

    send_size: int
    receive_size: int
    control: int
    data: bytes


TypedRequest = (InventoryRequest | ReadBlocksRequest | WriteBlocksRequest | BlockRequest
                | TagRequest | TagInfoRequest | PassThroughRequest)

#: 7.1 response option b5: "skip quiet and second poll".
INVENTORY_OPTION_SKIP_QUIET = 0x20


def _request_fields(request: D6Request, command: int) -> Any:
    if request.command != command:
        raise FrameError(f"expected a 0x{command:02X} request, got 0x{request.command:02X}",
                         frame=request.encode(), offset=3)
    spec = COMMANDS[command]
    return _parse(spec.request, request.payload, f"{spec.name} request")


def parse_inventory_request(request: D6Request) -> InventoryRequest:
    fields = _request_fields(request, 0xFE)
    return InventoryRequest(fields.afi, fields.options, fields.protocols)


def parse_read_blocks_request(request: D6Request) -> ReadBlocksRequest:
    fields = _request_fields(request, 0x02)
    return ReadBlocksRequest(_uid_text(fields.uid), fields.first, fields.count, fields.options)


def parse_write_blocks_request(request: D6Request) -> WriteBlocksRequest:
    if request.start != START:
        raise FrameError("a D5 frame with command 04 is the hardware-version probe",
                         frame=request.encode(), offset=0)
    fields = _request_fields(request, 0x04)
    if fields.count == 0:
        raise FrameError("write multiblock of zero blocks", frame=request.encode(), offset=13)
    return WriteBlocksRequest(_uid_text(fields.uid), fields.first, fields.data)


def parse_block_request(request: D6Request) -> BlockRequest:
    """0x05, 0x07 (block and data) and 0x08 (block only)."""
    if request.command not in (0x05, 0x07, 0x08):
        raise FrameError(f"0x{request.command:02X} is not a block request",
                         frame=request.encode(), offset=3)
    fields = _request_fields(request, request.command)
    return BlockRequest(_uid_text(fields.uid), fields.block, fields.get("data"))


_TAG_REQUEST_LAYOUTS = (UID_ONLY, UID_BYTE_REQUEST)


def parse_tag_request(request: D6Request) -> TagRequest:
    """Requests whose fields are the UID and at most one value byte."""
    spec = COMMANDS.get(request.command)
    if spec is None or not any(spec.request is layout for layout in _TAG_REQUEST_LAYOUTS):
        raise FrameError(f"0x{request.command:02X} is not a UID (+ value) request",
                         frame=request.encode(), offset=3)
    fields = _request_fields(request, request.command)
    return TagRequest(_uid_text(fields.uid), fields.get("value"))


def parse_tag_info_request(request: D6Request) -> TagInfoRequest:
    fields = _request_fields(request, 0x0D)
    return TagInfoRequest(_uid_text(fields.uid), fields.request)


def parse_pass_through_request(request: D6Request) -> PassThroughRequest:
    fields = _request_fields(request, 0x14)
    return PassThroughRequest(fields.send_size, fields.receive_size, fields.control, fields.data)


def is_hw_version_probe(request: D6Request) -> bool:
    """The 3M 810 probe of :func:`hw_version_probe` (start byte D5, ``04 00 11``)."""
    return request == hw_version_probe()


def parse_request(request: D6Request) -> TypedRequest | None:
    """The typed view of any catalogued request; ``None`` for a command not in the catalogue.

    Raises FrameError when the fields do not match the command's layout (a reader answers
    that with status 0x32, parameter error).
    """
    command = request.command
    if command not in COMMANDS or command == 0x11:
        return None
    if command == 0xFE:
        return parse_inventory_request(request)
    if command == 0x02:
        return parse_read_blocks_request(request)
    if command == 0x04:
        return parse_write_blocks_request(request)
    if command in (0x05, 0x07, 0x08):
        return parse_block_request(request)
    if command == 0x0D:
        return parse_tag_info_request(request)
    if command == 0x14:
        return parse_pass_through_request(request)
    return parse_tag_request(request)


def _response(command: int, fields: dict[str, Any], *, start: int = START) -> D6Response:
    spec = COMMANDS[command]
    try:
        payload = spec.response.build(fields)
    except ConstructError as exc:
        raise FrameError(f"{spec.name} response: cannot encode {fields!r} ({exc})") from exc
    return D6Response(command, STATUS_OK, payload, start)


def error_response(command: int, status: int, uid: str | None = None, *,
                   start: int = START) -> D6Response:
    """A failed command: the status and, when the request named a tag, its UID echoed back
    (App. A examples: ``D6 00 0C 09 06 <UID>``; unimplemented: ``D6 00 04 <CC> 02``)."""
    if status == STATUS_OK:
        raise FrameError("an error response needs a non-zero status")
    return D6Response(command, status, _uid_bytes(uid) if uid is not None else b"", start)


def reader_version_response(version: ReaderVersion) -> D6Response:
    return _response(0x11, {"product": version.product, "major": version.major,
                            "minor": version.minor, "build": version.build})


def hw_version_probe_response(version: ReaderVersion) -> D6Response:
    """Answer to :func:`hw_version_probe`: D5, command 04, ``11`` and the four version bytes."""
    return D6Response(0x04, STATUS_OK, bytes([0x11, version.product, version.major,
                                              version.minor, version.build]), START_PROBE)


def inventory_response(entries: tuple[InventoryEntry, ...] | list[InventoryEntry], *,
                       afi: int = 0, options: int = 0x05) -> D6Response:
    """0xFE answer; with option b1 every entry needs its DSFID. Duplicates are kept as given."""
    with_dsfid = bool(options & INVENTORY_OPTION_DSFID)
    if with_dsfid and any(entry.dsfid is None for entry in entries):
        raise FrameError("inventory option b1 needs a DSFID for every entry")
    return _response(0xFE, {
        "afi": afi, "options": options, "count": len(entries),
        "entries": [{"dsfid": entry.dsfid if with_dsfid else None,
                     "uid": _uid_bytes(entry.uid)} for entry in entries],
    })


def read_blocks_response(uid: str,
                         blocks: tuple[BlockRecord, ...] | list[BlockRecord]) -> D6Response:
    """0x02 answer in the old style: per block number, lock/err byte, 4 data bytes."""
    return _response(0x02, {"uid": _uid_bytes(uid), "count": len(blocks), "blocks": [
        {"number": b.number, "lock_status": b.lock_status, "data": b.data} for b in blocks]})


def write_blocks_response(uid: str, block: int | None, status: int = STATUS_OK) -> D6Response:
    """0x04 answer: ``block`` is the last written + 1 on success, the failing block on error
    (emitted with LEN ``00 0D``, see the spec inconsistency note)."""
    payload = _uid_bytes(uid) + (bytes([block]) if block is not None else b"")
    if block is not None:
        _check_byte("block", block)
    return D6Response(0x04, status, payload)


def tag_reply_response(command: int, uid: str) -> D6Response:
    """Success of a command whose answer is the UID only (01, 05, 06, 07, 08, 09, 0B, 0C, 0E)."""
    spec = COMMANDS.get(command)
    if spec is None or spec.response is not UID_ONLY:
        raise FrameError(f"0x{command:02X} does not answer with a UID only")
    return _response(command, {"uid": _uid_bytes(uid)})


def read_afi_response(uid: str, afi: int) -> D6Response:
    return _response(0x0A, {"uid": _uid_bytes(uid), "value": afi})


def read_dsfid_response(uid: str, dsfid: int) -> D6Response:
    return _response(0x0F, {"uid": _uid_bytes(uid), "value": dsfid})


def check_eas_response(uid: str, armed: bool) -> D6Response:
    """0x03 answer: armed = status 00 and 01; not armed = status 06 with the body ``UID 00``,
    because the tag stays silent (3M spec 7.13, vector v70)."""
    payload = _uid_bytes(uid) + bytes([int(armed)])
    return D6Response(0x03, STATUS_OK if armed else 0x06, payload)


def tag_info_response(uid: str, *, dsfid: int | None = None, afi: int | None = None,
                      block_size: int | None = None, block_count: int | None = None,
                      ic_reference: int | None = None) -> D6Response:
    """0x0D answer; the available bits follow from which values are given (memory size is sent
    minus one, as ISO does)."""
    if (block_size is None) != (block_count is None):
        raise FrameError("block size and block count come together")
    available = ((TAG_INFO_DSFID if dsfid is not None else 0)
                 | (TAG_INFO_AFI if afi is not None else 0)
                 | (TAG_INFO_MEMORY if block_size is not None else 0)
                 | (TAG_INFO_IC_REFERENCE if ic_reference is not None else 0))
    return _response(0x0D, {
        "uid": _uid_bytes(uid), "available": available, "dsfid": dsfid, "afi": afi,
        "block_size_minus_one": None if block_size is None else block_size - 1,
        "block_count_minus_one": None if block_count is None else block_count - 1,
        "ic_reference": ic_reference,
    })


def pass_through_response(flags: int, data: bytes) -> D6Response:
    """0x14 answer: result flags (b0 SOF, b1 EOF, b2 code violation), size, the tag's bytes."""
    return _response(0x14, {"flags": flags, "receive_size": len(data), "data": data})
