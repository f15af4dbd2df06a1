# SPDX-License-Identifier: Apache-2.0
"""CRC-16 of ISO/IEC 13239, the checksum of every ISO/IEC 15693 air frame.

ISO/IEC 15693-3 clause 7.2 (and ST LRI512 Annex B): polynomial x^16 + x^12 + x^5 + 1 processed
LSB first (reflected 0x8408), preset 0xFFFF, ones' complement of the result, transmitted least
significant byte first. Recomputing over data plus CRC leaves the residue 0xF0B8. In catalogue
terms this is CRC-16/X-25, check value 0x906E over ``b"123456789"``.

Not responsible for: deciding what to do with a bad frame (the frame decoders raise
:class:`~protocols.errors.FrameError`; a virtual tag simply stays silent).
"""

from __future__ import annotations

PRESET = 0xFFFF
POLYNOMIAL_REFLECTED = 0x8408
RESIDUE = 0xF0B8
CRC_LENGTH = 2


def _table() -> tuple[int, ...]:
    entries = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ POLYNOMIAL_REFLECTED if crc & 1 else crc >> 1
        entries.append(crc)
    return tuple(entries)


# Byte-wise table: the simulator computes a CRC for every frame of every benchmark.
_TABLE = _table()


def crc16(data: bytes) -> int:
    """The CRC value as an int (``crc16(H('01 02 03 04')) == 0x3991``, sent as ``91 39``)."""
    crc = PRESET
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def append_crc(data: bytes) -> bytes:
    """``data`` followed by its CRC, least significant byte first, as sent on the air."""
    return data + crc16(data).to_bytes(CRC_LENGTH, "little")


def check_crc(frame: bytes) -> bool:
    """True when ``frame`` ends in the correct CRC of the bytes before it."""
    if len(frame) < CRC_LENGTH:
        return False
    return crc16(frame[:-CRC_LENGTH]).to_bytes(CRC_LENGTH, "little") == frame[-CRC_LENGTH:]
