# SPDX-License-Identifier: Apache-2.0
"""FEIG OBID host protocol framing: bytes <-> :class:`FeigRequest` / :class:`FeigResponse`.

Standard frame (at most 255 bytes; LEN counts every byte, LEN and CRC included) [CPR §3.1]::

    host -> reader   LEN | COM-ADR | CMD |          DATA ... | CRC-LSB | CRC-MSB     LEN = 5..255
    reader -> host   LEN | COM-ADR | CMD | STATUS | DATA ... | CRC-LSB | CRC-MSB     LEN = 6..255

Advanced frame (any length; ALENGTH counts every byte, STX and CRC included) [ISC.MR101 p.17]::

    0x02 | ALEN-MSB | ALEN-LSB | COM-ADR | CMD | [STATUS] | DATA ... | CRC-LSB | CRC-MSB

The first byte tells the frame type: a standard LEN is at least 5, so 0x02 can only be STX.
The CRC is CRC-16/MCRF4XX (polynomial 0x8408 reflected, preset 0xFFFF, no final XOR) over every
byte from LEN or STX to the last data byte, sent LSB first [CPR §3.2].

Recovery cases for :class:`~protocols.framing.Reassembler`: a first byte that is neither STX nor
a possible LEN is garbage; a length below the minimum is garbage; a complete frame with a bad CRC
is garbage (a real reader sends no reply to it at all [CPR §3.1]); a response from COM-ADR 255 is
garbage (a reader always answers with its own address 0..254); anything shorter than its declared
length is a prefix (:class:`NeedMoreData`).

Not responsible for: what DATA means (see :mod:`.commands`, :mod:`.isohost`, :mod:`.brm`), what a
status means (:mod:`.status`), timeouts or matching a response to its request.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.errors import FrameError
from protocols.framing import NeedMoreData

STX = 0x02
#: "255 always reaches the reader, which then answers with its own address" [CPR §3.1, §4.2].
BROADCAST = 0xFF
#: Highest address a reader can own; 255 is reserved for broadcast.
MAX_READER_ADDRESS = 0xFE

STANDARD_MAX = 255
REQUEST_MIN_STANDARD = 5  # LEN COM-ADR CMD CRC CRC
RESPONSE_MIN_STANDARD = 6  # LEN COM-ADR CMD STATUS CRC CRC
REQUEST_MIN_ADVANCED = 7  # STX ALEN ALEN COM-ADR CMD CRC CRC
RESPONSE_MIN_ADVANCED = 8
ADVANCED_MAX = 0xFFFF
CRC_PRESET = 0xFFFF
CRC_POLYNOMIAL = 0x8408


def _table_entry(index: int) -> int:
    # The manual's bitwise loop [CPR §3.2] run on one byte from a zero register.
    crc = index
    for _ in range(8):
        crc = (crc >> 1) ^ CRC_POLYNOMIAL if crc & 1 else crc >> 1
    return crc


_CRC_TABLE: tuple[int, ...] = tuple(_table_entry(index) for index in range(256))
"""Byte-at-a-time table for the reflected polynomial: 8x fewer steps than bit by bit."""


def crc16(data: bytes) -> int:
    """CRC-16/MCRF4XX [CPR §3.2], one table lookup per byte; tests check it against the
    manual's bitwise C example."""
    crc, table = CRC_PRESET, _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _header(advanced: bool, total: int) -> bytes:
    return bytes((STX, total >> 8, total & 0xFF)) if advanced else bytes((total,))


def _seal(body_after_length: bytes, advanced: bool) -> bytes:
    """Prefix LEN or STX+ALENGTH and append the CRC, LSB first."""
    total = len(body_after_length) + (3 if advanced else 1) + 2
    framed = _header(advanced, total) + body_after_length
    crc = crc16(framed)
    return framed + bytes((crc & 0xFF, crc >> 8))


def _check_byte(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise FrameError(f"{name} {value} does not fit in one byte")


@dataclass(frozen=True, slots=True)
class FeigRequest:
    """One host -> reader frame.

    ``advanced`` selects the advanced frame; it is switched on automatically (in
    ``__post_init__``) when the frame would not fit the 255 bytes of a standard one, so that a
    decoded frame always compares equal to the value that produced it.
    """

    com_adr: int
    command: int
    data: bytes = b""
    advanced: bool = False

    def __post_init__(self) -> None:
        _check_byte("COM-ADR", self.com_adr)
        _check_byte("CMD", self.command)
        if REQUEST_MIN_STANDARD + len(self.data) > STANDARD_MAX and not self.advanced:
            object.__setattr__(self, "advanced", True)
        if REQUEST_MIN_ADVANCED + len(self.data) > ADVANCED_MAX:
            raise FrameError(f"request DATA of {len(self.data)} bytes exceeds ALENGTH 65535")

    @property
    def broadcast(self) -> bool:
        """Sent to COM-ADR 255, which every reader on the line accepts."""
        return self.com_adr == BROADCAST

    @property
    def data_offset(self) -> int:
        """Index of the first DATA byte within the encoded frame."""
        return 5 if self.advanced else 3

    def encode(self) -> bytes:
        return _seal(bytes((self.com_adr, self.command)) + self.data, self.advanced)

    def __len__(self) -> int:
        return self.data_offset + len(self.data) + 2


@dataclass(frozen=True, slots=True)
class FeigResponse:
    """One reader -> host frame; ``advanced`` behaves as in :class:`FeigRequest`."""

    com_adr: int
    command: int
    status: int
    data: bytes = b""
    advanced: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.com_adr <= MAX_READER_ADDRESS:
            raise FrameError(
                f"response COM-ADR {self.com_adr}: a reader answers from its own address 0..254"
            )
        _check_byte("CMD", self.command)
        _check_byte("STATUS", self.status)
        if RESPONSE_MIN_STANDARD + len(self.data) > STANDARD_MAX and not self.advanced:
            object.__setattr__(self, "advanced", True)
        if RESPONSE_MIN_ADVANCED + len(self.data) > ADVANCED_MAX:
            raise FrameError(f"response DATA of {len(self.data)} bytes exceeds ALENGTH 65535")

    @property
    def data_offset(self) -> int:
        """Index of the first DATA byte (after STATUS) within the encoded frame."""
        return 6 if self.advanced else 4

    def encode(self) -> bytes:
        return _seal(bytes((self.com_adr, self.command, self.status)) + self.data, self.advanced)

    def __len__(self) -> int:
        return self.data_offset + len(self.data) + 2


def _split(data: bytes, *, minimum_standard: int, minimum_advanced: int) -> tuple[bytes, bool]:
    """Return the whole first frame (CRC checked) and whether it is advanced."""
    if not data:
        raise NeedMoreData
    first = data[0]
    if first == STX:
        if len(data) < 3:
            raise NeedMoreData
        total = int.from_bytes(data[1:3], "big")
        if total < minimum_advanced:
            raise FrameError(
                f"ALENGTH {total} is below the minimum {minimum_advanced}",
                frame=data[:3],
                offset=1,
            )
        advanced = True
    else:
        total = first
        if total < minimum_standard:
            raise FrameError(
                f"first byte 0x{first:02X} is neither STX nor a LEN >= {minimum_standard}",
                frame=data[:1],
                offset=0,
            )
        advanced = False
    if len(data) < total:
        raise NeedMoreData
    frame = data[:total]
    expected = crc16(frame[:-2])
    received = frame[-2] | frame[-1] << 8
    if expected != received:
        raise FrameError(
            f"CRC 0x{received:04X} received, 0x{expected:04X} computed",
            frame=frame,
            offset=total - 2,
        )
    return frame, advanced


def decode_request(data: bytes) -> tuple[FeigRequest, bytes]:
    """First host -> reader frame in ``data`` and the bytes after it, untouched."""
    frame, advanced = _split(
        data, minimum_standard=REQUEST_MIN_STANDARD, minimum_advanced=REQUEST_MIN_ADVANCED
    )
    start = 3 if advanced else 1
    request = FeigRequest(
        com_adr=frame[start],
        command=frame[start + 1],
        data=frame[start + 2 : -2],
        advanced=advanced,
    )
    return request, data[len(frame) :]


def decode_response(data: bytes) -> tuple[FeigResponse, bytes]:
    """First reader -> host frame in ``data`` and the bytes after it, untouched."""
    address_at = 3 if data[:1] == bytes((STX,)) else 1
    plausible = data[:1] == bytes((STX,)) or data[:1] >= bytes((RESPONSE_MIN_STANDARD,))
    if plausible and len(data) > address_at and data[address_at] == BROADCAST:
        # Rejected before the whole frame arrives: no reader answers from address 255.
        raise FrameError(
            "response from COM-ADR 255", frame=data[: address_at + 1], offset=address_at
        )
    frame, advanced = _split(
        data, minimum_standard=RESPONSE_MIN_STANDARD, minimum_advanced=RESPONSE_MIN_ADVANCED
    )
    start = 3 if advanced else 1
    response = FeigResponse(
        com_adr=frame[start],
        command=frame[start + 1],
        status=frame[start + 2],
        data=frame[start + 3 : -2],
        advanced=advanced,
    )
    return response, data[len(frame) :]


def next_header(data: bytes, start: int) -> int:
    """Index of the first byte at or after ``start`` that could begin a frame.

    STX, or a LEN of at least 5; an STX whose ALENGTH is already visible must announce at least
    the shortest advanced frame.
    """
    for index in range(start, len(data)):
        byte = data[index]
        if byte >= REQUEST_MIN_STANDARD:
            return index
        if byte == STX:
            if index + 2 < len(data):
                total = int.from_bytes(data[index + 1 : index + 3], "big")
                if total < REQUEST_MIN_ADVANCED:
                    continue
            return index
    return len(data)
