# SPDX-License-Identifier: Apache-2.0
"""TI TRF7970A EVM host protocol, as the RFIDGeek boards speak it (pyrfidgeek, node_rfidgeek).

Physical layer: 115200 baud, 8N1, no flow control, on a CP210x USB-UART. Both directions are ASCII.

Request (host -> board): hex characters, no checksum, no line terminator [TI host.c, uart.c]::

    "01" | LL LL    | "03" "04" | CMD | PARAMS ...    | "00" "00"
    SOF    length     fixed       command               EOF
           length = binary frame length, SOF and EOF included, LSB first (MSB byte 00);
           the firmware reads exactly 2 x length characters after the SOF "01"

Reply (board -> host): CRLF-terminated text lines [TI host.c HostCommands]::

    <echo text>\\r\\n            e.g. "Request mode.", "ISO 15693 Inventory request."
    [..][..]\\r\\n               result groups; (..) when the request was sent without CRC
    \\r\\n                       HostCommands always ends a reply with one CRLF

Result groups: ``[hex]`` the tag's response bytes without CRC, ``[]`` timeout / no tag, ``[z]``
collision; inventory slots ``[UID,RSSI]`` with the UID LSB first as on the air, ``[,RSSI]``
empty slot, ``[z,RSSI]`` or ``[UID,z]`` slot collision (the last three only on firmware that
prints every slot). Hex is upper case. UIDs leave this module MSB first (``E004...``).

Framing unit: one line. :func:`decode_response` returns a :class:`TrfLine` per CRLF; a line must
be a known echo text (the catalogue), a firmware-revision text, one or more result groups, or
empty. :func:`collect_reply` turns the lines that followed a request into a :class:`TrfReply`
using the command's end rule (:class:`EndRule`): how a host knows the reply is complete.

There is no checksum, so this framing is weaker than a binary protocol's. Bytes that cannot
begin a reply line (anything but ``[``, ``(``, the first letter of a known echo text, or a CR at
a line start) are dropped without touching the following lines. A line garbled in transit is
rejected; an empty line directly behind garbage goes with it (it cannot be told from the CRLF of
the garbled line, and the decoder never invents lines). But text that happens to look like a
reply line IS a reply line: garbage that spells "[00]" and CRLF cannot be told from a tag answer.
Callers get that guarantee and no more.

Not responsible for: serial I/O and the quiet-time clock (:data:`INVENTORY_QUIET_S` is a constant
here, measured by the driver), ISO 15693 request encoding (the raw request bytes are passed in as
``bytes``; the driver builds them), retries (pyrfidgeek retries writes 10-20 times).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from protocols.errors import FrameError
from protocols.framing import NeedMoreData

__all__ = [
    "CATALOGUE",
    "CHIP_STATUS_RF_OFF",
    "CHIP_STATUS_RF_ON",
    "COMMANDS",
    "EOF_DELAY_S",
    "FIRMWARE_REVISION",
    "INVENTORY_QUIET_S",
    "ISO_CONTROL",
    "EndRule",
    "GroupKind",
    "TrfCommand",
    "TrfGroup",
    "TrfLine",
    "TrfReply",
    "TrfRequest",
    "agc_toggle",
    "am_pm_toggle",
    "collect_reply",
    "collision_group",
    "data_group",
    "decode_request",
    "decode_response",
    "echo_text",
    "empty_slot_group",
    "encode_echo",
    "encode_groups",
    "encode_inventory_slots",
    "encode_reply",
    "encode_request",
    "firmware_version",
    "frame_time_s",
    "inventory",
    "iso15693_setup",
    "iso_request",
    "needs_eof_delay",
    "next_header",
    "next_request_header",
    "no_response_group",
    "ping",
    "power",
    "register_read",
    "register_write",
    "reply_timeout_s",
    "slot_collision_group",
    "slot_group",
    "uid_from_air",
    "uid_to_air",
]

# --- timers --------------------------------------------------------------------------------------

#: "115200 baud, 8N1" [pyrfidgeek defaults, node_rfidgeek SerialPort options].
BAUD = 115200
BITS_PER_BYTE = 10
#: host.c HostRequestCommand: for 0x21 0x22 0x24 0x27 0x28 0x29 0x2A 0xA5 with the option flag,
#: "delay 20ms before sending EOF" (the TI Tag-it write procedure).
EOF_DELAY_S = 0.020
#: pyrfidgeek reads every reply with "timeout=0.1" and readall(); replies arrive within that.
REPLY_TIMEOUT_S = 0.1
#: iso15693.c Iso15693Anticollision: each of the 16 slots waits at most "COUNT_1ms * 20".
SLOT_TIMEOUT_S = 0.020
SLOTS = 16
#: An inventory reply has no end marker; it is complete once the line stays quiet this long after
#: a CRLF (pyrfidgeek's 0.1 s readall timeout, which worked for the tools) [INFERRED].
INVENTORY_QUIET_S = 0.1

# --- request framing -----------------------------------------------------------------------------

SOF = 0x01
FIXED = bytes([0x03, 0x04])
EOF = bytes([0x00, 0x00])
#: SOF, LL LL, 03 04, CMD, ..., 00 00: the frame length without parameters.
REQUEST_OVERHEAD = 8
#: uart.c keeps the character count (2 x length) in one byte, so 127 bytes is the longest frame.
MAX_REQUEST_LENGTH = 127
HEX_DIGITS = b"0123456789ABCDEFabcdef"
CRLF = b"\r\n"
#: Longest reply line accepted before the bytes are treated as garbage (the firmware's response
#: buffer is 300 bytes, printed as 600 hex characters plus brackets) [READ host.c buf[300]].
MAX_LINE_LENGTH = 700


def frame_time_s(n_bytes: int, baud: int = BAUD) -> float:
    """Seconds the serial line needs for ``n_bytes`` characters at 8N1."""
    if n_bytes < 0 or baud <= 0:
        raise ValueError(f"need n_bytes >= 0 and baud > 0, got {n_bytes} and {baud}")
    return n_bytes * BITS_PER_BYTE / baud


def _hex_value(text: bytes, offset: int, frame: bytes) -> int:
    if len(text) != 2 or any(c not in HEX_DIGITS for c in text):
        raise FrameError(f"{text!r} is not two hex characters", frame=frame, offset=offset)
    return int(text, 16)


@dataclass(frozen=True, slots=True)
class TrfRequest:
    """Host -> board: a command byte and its binary parameters (sent as ASCII hex)."""

    command: int
    params: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.command <= 0xFF:
            raise FrameError(f"command 0x{self.command:X} does not fit in one byte")
        if REQUEST_OVERHEAD + len(self.params) > MAX_REQUEST_LENGTH:
            raise FrameError(f"{len(self.params)} parameter bytes exceed the "
                             f"{MAX_REQUEST_LENGTH}-byte frame the firmware accepts")

    @property
    def length(self) -> int:
        return REQUEST_OVERHEAD + len(self.params)

    def binary(self) -> bytes:
        """The frame as bytes, before the ASCII-hex encoding."""
        return (bytes([SOF]) + self.length.to_bytes(2, "little") + FIXED
                + bytes([self.command]) + self.params + EOF)

    def encode(self) -> bytes:
        return self.binary().hex().upper().encode("ascii")

    @classmethod
    def decode(cls, data: bytes) -> tuple[TrfRequest, bytes]:
        """Parse one ASCII request (simulator side); lower-case hex is accepted, as by uart.c."""
        if not data:
            raise NeedMoreData
        if data[:2] != b"01"[: len(data[:2])]:
            raise FrameError("request does not start with SOF '01'", frame=data[:2], offset=0)
        if len(data) < 6:
            _check_hex(data, 0)
            raise NeedMoreData
        length = _hex_value(data[2:4], 2, data[:6]) | (_hex_value(data[4:6], 4, data[:6]) << 8)
        if not REQUEST_OVERHEAD <= length <= MAX_REQUEST_LENGTH:
            raise FrameError(f"length {length} outside {REQUEST_OVERHEAD}..{MAX_REQUEST_LENGTH}",
                             frame=data[:6], offset=2)
        end = 2 * length
        _check_hex(data[:end], 0)
        if len(data) < end:
            raise NeedMoreData
        binary = bytes.fromhex(data[:end].decode("ascii"))
        if binary[3:5] != FIXED:
            raise FrameError("bytes 3-4 are not 03 04", frame=data[:end], offset=6)
        if binary[-2:] != EOF:
            raise FrameError("frame does not end with EOF 00 00", frame=data[:end], offset=end - 4)
        return cls(binary[5], binary[6:-2]), data[end:]


def _check_hex(text: bytes, offset: int) -> None:
    for index, char in enumerate(text):
        if char not in HEX_DIGITS:
            raise FrameError(f"{chr(char)!r} is not a hex character", frame=text,
                             offset=offset + index)


def encode_request(command: int, payload: bytes = b"") -> bytes:
    """The ASCII characters the host writes for ``command`` with binary ``payload``."""
    return TrfRequest(command, payload).encode()


def decode_request(data: bytes) -> tuple[TrfRequest, bytes]:
    """First ASCII request in ``data`` and the rest (NeedMoreData / FrameError otherwise)."""
    return TrfRequest.decode(data)


def next_request_header(data: bytes, start: int) -> int:
    """Index of the next '0' character (a possible SOF '01') at or after ``start``."""
    index = data.find(b"0", start)
    return len(data) if index < 0 else index


# --- command catalogue ---------------------------------------------------------------------------


class EndRule(Enum):
    """How a host knows a reply is complete, given the lines since the request [host.c]."""

    ECHO = "the echo line itself (printed without its own CRLF, closed by the final CRLF)"
    BLANK = "the empty line after the echo (the final CRLF of HostCommands)"
    RESULT = "the first line of result groups after the echo (closed by the final CRLF)"
    RESULT_THEN_BLANK = "a line of result groups, then the empty line of the final CRLF"
    QUIET = "no end marker: complete when the line stays quiet INVENTORY_QUIET_S after a CRLF"


@dataclass(frozen=True, slots=True)
class TrfCommand:
    """One row of the EVM command catalogue [TI host.c HostCommands]."""

    code: int
    name: str
    params: str                 # request layout after CMD
    echo: tuple[str, ...]       # texts the firmware prints first (empty: none)
    end: EndRule
    reply: str                  # reply layout
    spec: str


CATALOGUE: tuple[TrfCommand, ...] = (
    # code, name, params, echo texts, end rule, reply layout, spec text
    TrfCommand(0xFF, "ping", "-", ("TRF7970A EVM ",), EndRule.BLANK,
               "echo, empty line", "check COM port number"),
    TrfCommand(0xFE, "firmware_version", "-", (), EndRule.BLANK,
               "'Firmware Revision ...' line, empty line", "firmware version string"),
    TrfCommand(0x10, "register_write", "address, value, address, value, ...",
               ("Register write request.",), EndRule.BLANK, "echo, empty line",
               "register write (address:data pairs); writes to ISO control are applied"),
    TrfCommand(0x11, "continuous_write", "address, value, value, ...",
               ("Continous write request.",), EndRule.BLANK, "echo, empty line",
               "continuous register write"),
    TrfCommand(0x12, "register_read", "address, address, ...",
               ("Register read request.",), EndRule.RESULT_THEN_BLANK,
               "echo, one [value] per register, empty line", "register read"),
    TrfCommand(0x13, "continuous_read", "count, first address",
               ("Continous read request",), EndRule.RESULT_THEN_BLANK,
               "echo, one [value] per register, empty line", "continuous register read"),
    TrfCommand(0x14, "inventory", "ISO flags, 01, [AFI if flags b5], mask length (ignored)",
               ("ISO 15693 Inventory request.",), EndRule.QUIET,
               "echo, then CRLF + [UID,RSSI] per tag found, final CRLF",
               "ISO 15693 anticollision, 1 or 16 slots, recursing on collided slots"),
    TrfCommand(0x15, "direct_command", "TRF797x direct command", ("Direct command.",),
               EndRule.BLANK, "echo, empty line", "TRF797x direct command"),
    TrfCommand(0x16, "raw_write", "bytes for the TRF797x", ("RAW mode.",), EndRule.BLANK,
               "echo, empty line", "raw write to the TRF797x"),
    TrfCommand(0x17, "mcu_reset", "-", ("MCU reset.",), EndRule.BLANK,
               "echo (the reset may cut the rest)", "watchdog reset of the MSP430"),
    TrfCommand(0x18, "request", "raw ISO 15693 request without CRC (flags, cmd, ...)",
               ("Request mode.",), EndRule.RESULT,
               "echo, [response bytes] / [] timeout / [z] collision",
               "request mode: the firmware adds the CRC; option-flag writes get an EOF"),
    TrfCommand(0x03, "reader_enable", "00 enable, FF disable, 0A external, 0B internal clock",
               ("Reader enabled.", "Reader disabled.", "External clock.", "Internal clock."),
               EndRule.ECHO, "echo", "enable or disable the reader chip"),
    TrfCommand(0xF0, "agc_toggle", "FF sets chip-status bit 2, other values clear it",
               ("AGC Toggle",), EndRule.ECHO, "echo", "AGC toggle"),
    TrfCommand(0xF1, "am_pm_toggle", "FF selects AM (clears bit 3), other values PM",
               ("AM PM Toggle",), EndRule.ECHO, "echo", "AM/PM input toggle"),
    TrfCommand(0xF2, "power", "FF full power (clears bit 4), other values half", (),
           EndRule.BLANK, "empty line", "full / half power selection"),
)
COMMANDS: Mapping[int, TrfCommand] = {c.code: c for c in CATALOGUE}

#: Every text a known command echoes, and the prefix of the firmware-version line.
ECHO_TEXTS: frozenset[str] = frozenset(t for c in COMMANDS.values() for t in c.echo)
FIRMWARE_PREFIX = "Firmware Revision "
_TEXTS = (*sorted(ECHO_TEXTS), FIRMWARE_PREFIX)
#: Bytes that can begin a reply line (CR only at a line start; see next_header).
LINE_STARTS = frozenset(b"[(" + bytes({ord(t[0]) for t in _TEXTS}))

# TRF7970A registers written by the ISO 15693 set-up [node_rfidgeek univelop_500b.json].
CHIP_STATUS_CONTROL = 0x00
ISO_CONTROL_REGISTER = 0x01
CHIP_STATUS_RF_ON_FULL_POWER = 0x21
CHIP_STATUS_RF_ON_HALF_POWER = 0x31
#: Chip status control b5 "rf_on"; 0x01 keeps the tools' b0 (5 V supply) with the RF off.
CHIP_STATUS_RF_ON = 0x20
CHIP_STATUS_RF_OFF = 0x01
#: host.c ``revision``: what 0xFE prints (the string carries its own CRLF).
FIRMWARE_REVISION = "Firmware Revision 03 from 11/Nov/2013 "
#: ISO control register values used by the tools.
ISO_CONTROL: Mapping[str, int] = {
    "iso15693": 0x00,     # pyrfidgeek
    "tagit": 0x13,
    "iso14443a": 0x09,
    "iso14443b": 0x0C,
}

# ISO 15693 request flags (b1 = LSB) and the write commands host.c treats specially.
FLAG_HIGH_DATA_RATE = 0x02
FLAG_INVENTORY = 0x04
FLAG_AFI = 0x10           # inventory flag set
FLAG_ONE_SLOT = 0x20      # inventory flag set
FLAG_OPTION = 0x40
ISO_INVENTORY = 0x01
EOF_WRITE_COMMANDS = frozenset({0x21, 0x22, 0x24, 0x27, 0x28, 0x29, 0x2A, 0xA5})
UID_SIZE = 8


# --- typed builders ------------------------------------------------------------------------------


def ping() -> TrfRequest:
    """0xFF: the board answers "TRF7970A EVM"; the probe after every open."""
    return TrfRequest(0xFF)


def firmware_version() -> TrfRequest:
    """0xFE firmware version string."""
    return TrfRequest(0xFE)


def register_write(pairs: Sequence[tuple[int, int]]) -> TrfRequest:
    """0x10 register write of (address, value) pairs."""
    params = bytearray()
    for address, value in pairs:
        if not (0 <= address <= 0xFF and 0 <= value <= 0xFF):
            raise FrameError(f"register pair ({address}, {value}) does not fit in bytes")
        params += bytes([address, value])
    return TrfRequest(0x10, bytes(params))


def register_read(addresses: Sequence[int]) -> TrfRequest:
    """0x12 register read: one ``[value]`` per address comes back on one line."""
    if not addresses or not all(0 <= address <= 0xFF for address in addresses):
        raise FrameError(f"register read needs one or more byte addresses, got {addresses!r}")
    return TrfRequest(0x12, bytes(addresses))


def iso15693_setup(*, full_power: bool = True, iso_control: int = ISO_CONTROL["iso15693"],
                   ) -> TrfRequest:
    """Register write: chip status 0x21 (RF on, full power; 0x31 half) and the ISO control."""
    status = CHIP_STATUS_RF_ON_FULL_POWER if full_power else CHIP_STATUS_RF_ON_HALF_POWER
    return register_write([(CHIP_STATUS_CONTROL, status), (ISO_CONTROL_REGISTER, iso_control)])


def agc_toggle(param: int = 0x00) -> TrfRequest:
    """0xF0 AGC toggle. The tools send 00 and call it "enable AGC"; host.c sets chip-status bit 2
    for FF and clears it otherwise. Which value enables AGC is [UNCERTAIN]; default = the tools'.
    """
    return TrfRequest(0xF0, bytes([param]))


def am_pm_toggle(*, am: bool = True) -> TrfRequest:
    """0xF1 AM/PM input: FF selects AM (what the tools send), 00 PM."""
    return TrfRequest(0xF1, bytes([0xFF if am else 0x00]))


def power(*, full: bool = True) -> TrfRequest:
    """0xF2 full (FF) or half power."""
    return TrfRequest(0xF2, bytes([0xFF if full else 0x00]))


def inventory(*, single_slot: bool = False, afi: int | None = None,
              high_data_rate: bool = False) -> TrfRequest:
    """0x14 ISO 15693 inventory: flags, 01, [AFI], mask length 00 (the firmware clears the mask)."""
    flags = FLAG_INVENTORY
    if high_data_rate:
        flags |= FLAG_HIGH_DATA_RATE
    if single_slot:
        flags |= FLAG_ONE_SLOT
    params = bytearray([flags, ISO_INVENTORY])
    if afi is not None:
        if not 0 <= afi <= 0xFF:
            raise FrameError(f"AFI 0x{afi:X} does not fit in one byte")
        params[0] |= FLAG_AFI
        params.append(afi)
    params.append(0x00)
    return TrfRequest(0x14, bytes(params))


def iso_request(iso_frame: bytes) -> TrfRequest:
    """0x18 request mode: raw ISO 15693 ``flags, command, ...`` without CRC (firmware adds it).

    Addressed requests carry the UID LSB first (:func:`uid_to_air`). For write and lock commands
    sent with the option flag the firmware itself waits :data:`EOF_DELAY_S` and sends the EOF;
    :func:`needs_eof_delay` tells the driver to allow for it.
    """
    if len(iso_frame) < 2:
        raise FrameError(f"ISO request of {len(iso_frame)} bytes lacks flags and command",
                         frame=iso_frame)
    return TrfRequest(0x18, iso_frame)


def needs_eof_delay(iso_frame: bytes) -> bool:
    """True when host.c sends a delayed EOF for this raw request (option flag + write command)."""
    return (len(iso_frame) >= 2 and bool(iso_frame[0] & FLAG_OPTION)
            and iso_frame[1] in EOF_WRITE_COMMANDS)


def uid_to_air(uid: str) -> bytes:
    """Canonical MSB-first hex UID -> the 8 bytes in air order (LSB first)."""
    try:
        raw = bytes.fromhex(uid)
    except ValueError as exc:
        raise FrameError(f"UID {uid!r} is not hex") from exc
    if len(raw) != UID_SIZE:
        raise FrameError(f"UID {uid!r} has {len(raw)} bytes, not {UID_SIZE}")
    return raw[::-1]


def uid_from_air(raw: bytes) -> str:
    """8 UID bytes in air order (LSB first) -> canonical MSB-first hex."""
    if len(raw) != UID_SIZE:
        raise FrameError(f"UID of {len(raw)} bytes, not {UID_SIZE}", frame=raw)
    return raw[::-1].hex().upper()


def reply_timeout_s(request: TrfRequest) -> float:
    """How long to wait for the whole reply to ``request`` [INFERRED from host.c timers].

    The request's serial time, the tools' 0.1 s reply budget, the 20 ms EOF delay of option-flag
    writes, and for an inventory all 16 slot timers plus the quiet time that ends it.
    """
    budget = frame_time_s(len(request.encode())) + REPLY_TIMEOUT_S
    if request.command == 0x18 and needs_eof_delay(request.params):
        budget += EOF_DELAY_S
    if request.command == 0x14:
        slots = 1 if request.params and request.params[0] & FLAG_ONE_SLOT else SLOTS
        budget += slots * SLOT_TIMEOUT_S + INVENTORY_QUIET_S
    return budget


# --- reply lines ---------------------------------------------------------------------------------


class GroupKind(Enum):
    DATA = "data"                      # [hex]   tag response bytes without CRC
    NO_RESPONSE = "no_response"        # []      timeout / no tag
    COLLISION = "collision"            # [z]
    SLOT_TAG = "slot_tag"              # [UID,RSSI]
    SLOT_EMPTY = "slot_empty"          # [,RSSI]
    SLOT_COLLISION = "slot_collision"  # [z,RSSI] or [UID,z]


@dataclass(frozen=True, slots=True)
class TrfGroup:
    """One bracketed result. ``data``: response bytes, or a slot's UID in air order (LSB first)."""

    kind: GroupKind
    data: bytes = b""
    rssi: int | None = None
    crc: bool = True  # [..] request sent with CRC, (..) without

    def __post_init__(self) -> None:
        kind = self.kind
        if self.rssi is not None and not 0 <= self.rssi <= 0xFF:
            raise FrameError(f"RSSI {self.rssi} does not fit in one byte")
        slot = kind in (GroupKind.SLOT_TAG, GroupKind.SLOT_EMPTY, GroupKind.SLOT_COLLISION)
        if not slot and self.rssi is not None:
            raise FrameError(f"{kind.value} group carries no RSSI")
        if kind is GroupKind.DATA and not self.data:
            raise FrameError("data group without data (that is NO_RESPONSE)")
        if kind in (GroupKind.NO_RESPONSE, GroupKind.COLLISION, GroupKind.SLOT_EMPTY) and self.data:
            raise FrameError(f"{kind.value} group carries no data")
        if kind is GroupKind.SLOT_TAG and (len(self.data) != UID_SIZE or self.rssi is None):
            raise FrameError("slot with a tag needs an 8-byte UID and an RSSI")
        if kind is GroupKind.SLOT_EMPTY and self.rssi is None:
            raise FrameError("empty slot needs an RSSI")
        if kind is GroupKind.SLOT_COLLISION and (
                (len(self.data) == UID_SIZE) == (self.rssi is not None)
                or len(self.data) not in (0, UID_SIZE)):
            raise FrameError("slot collision is either [z,RSSI] or [UID,z]")

    @property
    def uid(self) -> str | None:
        """The slot's UID, canonical MSB first."""
        if self.kind in (GroupKind.SLOT_TAG, GroupKind.SLOT_COLLISION) and self.data:
            return uid_from_air(self.data)
        return None

    def encode(self) -> bytes:
        hex_data = self.data.hex().upper()
        rssi = "z" if self.rssi is None else f"{self.rssi:02X}"
        inner = {
            GroupKind.DATA: hex_data,
            GroupKind.NO_RESPONSE: "",
            GroupKind.COLLISION: "z",
            GroupKind.SLOT_TAG: f"{hex_data},{rssi}",
            GroupKind.SLOT_EMPTY: f",{rssi}",
            GroupKind.SLOT_COLLISION: f"{hex_data or 'z'},{rssi}",
        }[self.kind]
        brackets = "[]" if self.crc else "()"
        return f"{brackets[0]}{inner}{brackets[1]}".encode("ascii")


@dataclass(frozen=True, slots=True)
class TrfLine:
    """One CRLF-terminated reply line: a text (echo) line, a line of groups, or an empty line."""

    text: str = ""
    groups: tuple[TrfGroup, ...] = ()

    def __post_init__(self) -> None:
        if self.text and self.groups:
            raise FrameError("a reply line is either text or result groups, not both")
        if self.text and not _is_text(self.text):
            raise FrameError(f"{self.text!r} is not an echo text of a known command")

    @property
    def blank(self) -> bool:
        return not self.text and not self.groups

    def encode(self) -> bytes:
        return (self.text.encode("ascii") + b"".join(g.encode() for g in self.groups) + CRLF)


def _is_text(text: str) -> bool:
    if text in ECHO_TEXTS:
        return True
    return text.startswith(FIRMWARE_PREFIX) and text.isascii() and text.isprintable()


_GROUP_CHARS = frozenset(b"0123456789ABCDEF,z")
_UPPER_HEX = frozenset(b"0123456789ABCDEF")


def _parse_group(inner: bytes, crc: bool, line: bytes, offset: int) -> TrfGroup:
    def bad(why: str) -> FrameError:
        return FrameError(f"result group {inner.decode('latin-1')!r}: {why}", frame=line,
                          offset=offset)

    if not inner:
        return TrfGroup(GroupKind.NO_RESPONSE, crc=crc)
    if inner == b"z":
        return TrfGroup(GroupKind.COLLISION, crc=crc)
    if b"," not in inner:
        if len(inner) % 2 or not set(inner) <= _UPPER_HEX:
            raise bad("not an even number of hex characters")
        return TrfGroup(GroupKind.DATA, bytes.fromhex(inner.decode("ascii")), crc=crc)
    uid_text, _, rssi_text = inner.partition(b",")
    uid_ok = len(uid_text) == 2 * UID_SIZE and set(uid_text) <= _UPPER_HEX
    rssi_ok = len(rssi_text) == 2 and set(rssi_text) <= _UPPER_HEX
    rssi = int(rssi_text, 16) if rssi_ok else None
    uid = bytes.fromhex(uid_text.decode("ascii")) if uid_ok else b""
    if uid_ok and rssi_ok:
        return TrfGroup(GroupKind.SLOT_TAG, uid, rssi, crc)
    if not uid_text and rssi_ok:
        return TrfGroup(GroupKind.SLOT_EMPTY, rssi=rssi, crc=crc)
    if (uid_text == b"z" and rssi_ok) or (uid_ok and rssi_text == b"z"):
        return TrfGroup(GroupKind.SLOT_COLLISION, uid, rssi, crc)
    raise bad("not UID,RSSI / ,RSSI / z,RSSI / UID,z")


def _text_prefix_ok(text: bytes) -> bool:
    decoded = text.decode("latin-1")
    if any(t.startswith(decoded) for t in _TEXTS):
        return True
    return decoded.startswith(FIRMWARE_PREFIX) and decoded.isascii() and decoded.isprintable()


def _parse_line(line: bytes, complete: bool) -> TrfLine:
    """``line`` without CRLF; ``complete`` False means more bytes may follow (prefix check)."""
    if line[:1] not in (b"", b"[", b"("):
        if complete:
            text = line.decode("latin-1")
            if not _is_text(text):
                raise FrameError(f"{text!r} is not a known echo text", frame=line, offset=0)
            return TrfLine(text)
        if not _text_prefix_ok(line):
            raise FrameError("not the beginning of a known echo text", frame=line, offset=0)
        raise NeedMoreData
    groups: list[TrfGroup] = []
    pos = 0
    while pos < len(line):
        opener = line[pos]
        if opener not in b"[(":
            raise FrameError(f"expected '[' or '(' not {chr(opener)!r}", frame=line, offset=pos)
        closer = ord("]") if opener == ord("[") else ord(")")
        close = line.find(bytes([closer]), pos + 1)
        inner = line[pos + 1: close if close >= 0 else len(line)]
        for index, char in enumerate(inner):
            if char not in _GROUP_CHARS:
                raise FrameError(f"{chr(char)!r} inside a result group", frame=line,
                                 offset=pos + 1 + index)
        if close < 0:
            if complete:
                raise FrameError("result group is not closed", frame=line, offset=pos)
            raise NeedMoreData
        groups.append(_parse_group(inner, opener == ord("["), line, pos))
        pos = close + 1
    if not complete:
        raise NeedMoreData
    return TrfLine(groups=tuple(groups))


def decode_response(data: bytes) -> tuple[TrfLine, bytes]:
    """First reply line in ``data`` and the rest (NeedMoreData / FrameError otherwise)."""
    if not data:
        raise NeedMoreData
    end = data.find(CRLF)
    line = data[: end if end >= 0 else len(data)]
    if end < 0 and line.endswith(b"\r"):
        line = line[:-1]  # a CR waiting for its LF
    if b"\r" in line:
        raise FrameError("CR without LF inside a line", frame=line, offset=line.index(b"\r"))
    if len(line) > MAX_LINE_LENGTH:
        raise FrameError(f"line longer than {MAX_LINE_LENGTH} characters", frame=line[:16],
                         offset=0)
    parsed = _parse_line(line, complete=end >= 0)
    return parsed, data[end + len(CRLF):]


def next_header(data: bytes, start: int) -> int:
    """Index of the next byte at or after ``start`` that can begin a reply line.

    '[', '(' and the first letter of a known echo text can start a line anywhere (a line glued to
    garbage is found again); a CR only at a line start (after LF or CR, or at index 0), so the
    CRLF that ends a rejected line is not mistaken for an empty line.
    """
    for index in range(start, len(data)):
        byte = data[index]
        if byte in LINE_STARTS:
            return index
        if byte == 0x0D and (index == 0 or data[index - 1] in (0x0A, 0x0D)):
            return index
    return len(data)


# --- replies -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrfReply:
    """Everything the board printed for one request."""

    command: int
    echo: str
    groups: tuple[TrfGroup, ...]

    @property
    def uids(self) -> tuple[str, ...]:
        """Inventory: distinct tag UIDs, canonical MSB first, in the order printed."""
        return tuple(dict.fromkeys(
            g.uid for g in self.groups if g.kind is GroupKind.SLOT_TAG and g.uid is not None))

    @property
    def collision(self) -> bool:
        return any(g.kind in (GroupKind.COLLISION, GroupKind.SLOT_COLLISION) for g in self.groups)

    @property
    def no_response(self) -> bool:
        """``[]``: timeout, no tag (also a wrong UID, a muted tag, a TI tag written w/o option)."""
        return any(g.kind is GroupKind.NO_RESPONSE for g in self.groups)

    @property
    def iso_response(self) -> bytes | None:
        """Request mode: the tag's response bytes (flags first, CRC stripped), if any."""
        for group in self.groups:
            if group.kind is GroupKind.DATA:
                return group.data
        return None

    @property
    def iso_error(self) -> int | None:
        """ISO 15693 error code when the response flags have the error bit (``[0112]`` -> 0x12)."""
        response = self.iso_response
        if response is None or not response[0] & 0x01:
            return None
        if len(response) < 2:
            raise FrameError("error flag set but no error code", frame=response, offset=0)
        return response[1]


def collect_reply(command: int, lines: Sequence[TrfLine], *, idle: bool = False,
                  ) -> tuple[TrfReply, int] | None:
    """Apply the end rule of ``command`` to the lines received since the request was sent.

    Returns the reply and how many lines it used, or ``None`` while it is incomplete. ``idle``
    says the line has been quiet for :data:`INVENTORY_QUIET_S` (the driver's clock); only the
    inventory needs it. Lines before the command's echo (leftovers of an earlier reply) are
    skipped; a garbled echo therefore leaves the reply incomplete and the driver times out.
    """
    spec = COMMANDS.get(command)
    if spec is None:
        raise FrameError(f"no end rule for command 0x{command:02X}")
    index = 0
    echo = ""
    if spec.echo:
        while index < len(lines) and lines[index].text not in spec.echo:
            index += 1
        if index == len(lines):
            return None
        echo = lines[index].text
        index += 1
        if spec.end is EndRule.ECHO:
            return TrfReply(command, echo, ()), index
    groups: list[TrfGroup] = []
    seen_result = False
    for position in range(index, len(lines)):
        line = lines[position]
        if line.text and not echo:
            echo = line.text  # firmware version: the text is the reply
        groups.extend(line.groups)
        seen_result = seen_result or bool(line.groups)
        if spec.end is EndRule.BLANK and line.blank:
            return TrfReply(command, echo, tuple(groups)), position + 1
        if spec.end is EndRule.RESULT and line.groups:
            return TrfReply(command, echo, tuple(groups)), position + 1
        if spec.end is EndRule.RESULT_THEN_BLANK and seen_result and line.blank:
            return TrfReply(command, echo, tuple(groups)), position + 1
    if spec.end is EndRule.QUIET and idle:
        return TrfReply(command, echo, tuple(groups)), len(lines)
    return None


# --- reply builders (what the firmware prints; the simulator's side) -----------------------------

#: Commands whose echo text ends with its own CRLF in host.c (``"Request mode.\r\n"``); the
#: others (0x03, 0xF0, 0xF1) print the bare text and HostCommands' final CRLF closes the line.
_ECHO_WITH_CRLF = frozenset({0xFF, 0xFE, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18})
#: 0x03 reader enable: the parameter picks the text [host.c case 0x03].
_READER_ENABLE_TEXT: Mapping[int, str] = {
    0x00: "Reader enabled.", 0xFF: "Reader disabled.",
    0x0A: "External clock.", 0x0B: "Internal clock.",
}


def echo_text(command: int, params: bytes = b"") -> str | None:
    """The text host.c prints first for ``command`` (None: it prints none)."""
    if command == 0xFE:
        return FIRMWARE_REVISION
    if command == 0x03:
        return _READER_ENABLE_TEXT.get(params[0]) if params else None
    spec = COMMANDS.get(command)
    return spec.echo[0] if spec is not None and spec.echo else None


def encode_echo(command: int, params: bytes = b"") -> bytes:
    """The echo as the firmware sends it, with its CRLF where host.c has one."""
    text = echo_text(command, params)
    if text is None:
        return b""
    return text.encode("ascii") + (CRLF if command in _ECHO_WITH_CRLF else b"")


def data_group(data: bytes, *, crc: bool = True) -> TrfGroup:
    """``[hex]``: the tag's response bytes (flags first, without CRC)."""
    return TrfGroup(GroupKind.DATA, bytes(data), crc=crc)


def no_response_group(*, crc: bool = True) -> TrfGroup:
    """``[]``: the no-response timer ran out."""
    return TrfGroup(GroupKind.NO_RESPONSE, crc=crc)


def collision_group(*, crc: bool = True) -> TrfGroup:
    """``[z]``: collision, and every other receive error (CRC, framing) [trf797x.c ISR]."""
    return TrfGroup(GroupKind.COLLISION, crc=crc)


def slot_group(uid: str, rssi: int) -> TrfGroup:
    """``[UID,RSSI]``: an inventory slot with one tag; ``uid`` canonical MSB first."""
    return TrfGroup(GroupKind.SLOT_TAG, uid_to_air(uid), rssi)


def empty_slot_group(rssi: int) -> TrfGroup:
    """``[,RSSI]``: an empty slot (firmware that prints every slot)."""
    return TrfGroup(GroupKind.SLOT_EMPTY, rssi=rssi)


def slot_collision_group(rssi: int) -> TrfGroup:
    """``[z,RSSI]``: a collided slot (firmware that prints every slot)."""
    return TrfGroup(GroupKind.SLOT_COLLISION, rssi=rssi)


def encode_groups(groups: Sequence[TrfGroup]) -> bytes:
    """Groups on one line, without the line's CRLF (request mode, register read)."""
    return b"".join(group.encode() for group in groups)


def encode_inventory_slots(groups: Sequence[TrfGroup]) -> bytes:
    """Iso15693Anticollision: ``UartPutCrlf()`` then the group, for every slot it prints."""
    return b"".join(CRLF + group.encode() for group in groups)


def encode_reply(command: int, params: bytes = b"", groups: Sequence[TrfGroup] = ()) -> bytes:
    """Everything the firmware prints for one request, ending with HostCommands' final CRLF.

    The body follows the command's end rule: request mode prints its group right after the
    echo; an inventory prints CRLF + group per slot; a register read prints its groups and a
    CRLF of its own (UartResponse) before the final one.
    """
    spec = COMMANDS.get(command)
    end = spec.end if spec is not None else EndRule.BLANK
    if groups and end not in (EndRule.RESULT, EndRule.RESULT_THEN_BLANK, EndRule.QUIET):
        raise FrameError(f"command 0x{command:02X} prints no result groups")
    if end is EndRule.QUIET:
        body = encode_inventory_slots(groups)
    elif end is EndRule.RESULT_THEN_BLANK:
        body = encode_groups(groups) + CRLF
    else:
        body = encode_groups(groups)
    return encode_echo(command, params) + body + CRLF
