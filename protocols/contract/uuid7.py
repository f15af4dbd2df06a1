# SPDX-License-Identifier: Apache-2.0
"""UUID version 7 (RFC 9562 section 5.7): a time-ordered id from a time and random bits the
caller supplies.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           unix_ts_ms                          |   48 bits, big-endian
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          unix_ts_ms           |  ver  |       rand_a          |   ver = 0b0111
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |var|                        rand_b                             |   var = 0b10
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                            rand_b                             |   rand_a 12 + rand_b 62 bits
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

The 74 random bits are the first 74 bits of ``rand`` (10 bytes; the last 6 bits are unused).
Ids from different milliseconds sort (as strings, too) by time; ids within one millisecond sort
by their random bits, unless made with :class:`Uuid7Sequence`, which keeps them strictly
increasing (RFC 9562 section 6.2, method 2: the random part is incremented).

The text form is the canonical lowercase ``8-4-4-4-12``. The contract compares ids as strings,
so upper case or braces are refused rather than normalised.

Not responsible for: where the time and the random bytes come from (the caller's clock and
``os.urandom``/``secrets``).
"""

from __future__ import annotations

import re

from protocols.contract.errors import ContractError

RAND_BYTES = 10
MAX_UNIX_MS = 2**48 - 1
UUID7_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_UUID7 = re.compile(UUID7_PATTERN)
_RAND_BITS = 74
_RAND_MASK = (1 << _RAND_BITS) - 1


def _layout(unix_ms: int, rand74: int) -> int:
    rand_a = rand74 >> 62
    rand_b = rand74 & ((1 << 62) - 1)
    return (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b


def _text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _check_inputs(unix_ms: int, rand: bytes) -> int:
    if isinstance(unix_ms, bool) or not isinstance(unix_ms, int) \
            or not 0 <= unix_ms <= MAX_UNIX_MS:
        raise ContractError(f"unix_ms must be an integer 0..2**48-1, not {unix_ms!r}",
                            field="unix_ms")
    if not isinstance(rand, bytes | bytearray) or len(rand) != RAND_BYTES:
        raise ContractError(f"rand must be {RAND_BYTES} bytes", field="rand")
    return int.from_bytes(rand, "big") >> (RAND_BYTES * 8 - _RAND_BITS)


def uuid7(unix_ms: int, rand: bytes) -> str:
    """The UUIDv7 for millisecond ``unix_ms`` with the random bits of ``rand`` (10 bytes)."""
    return _text(_layout(unix_ms, _check_inputs(unix_ms, rand)))


def is_uuid7(text: object) -> bool:
    """Whether ``text`` is a UUIDv7 in canonical lowercase form."""
    return isinstance(text, str) and _UUID7.fullmatch(text) is not None


def uuid7_time_ms(uuid: str) -> int:
    """The Unix milliseconds in a UUIDv7; ContractError if ``uuid`` is not one."""
    if not is_uuid7(uuid):
        raise ContractError(f"{uuid!r} is not a canonical lowercase UUIDv7", field="id")
    return int(uuid[:8] + uuid[9:13], 16)


class Uuid7Sequence:
    """Strictly increasing UUIDv7s from one producer, even within one millisecond or when the
    clock steps back: a new id that would not sort after the last one is the last one's time
    and random part plus one (RFC 9562 section 6.2, method 2). Pure: the caller passes the time
    and random bytes of each call."""

    def __init__(self) -> None:
        self._last: int | None = None   # 48-bit time << 74 | 74 random bits

    def next(self, unix_ms: int, rand: bytes) -> str:
        candidate = (unix_ms << _RAND_BITS) | _check_inputs(unix_ms, rand)
        if self._last is not None and candidate <= self._last:
            candidate = self._last + 1
            if candidate >> _RAND_BITS > MAX_UNIX_MS:
                raise ContractError("UUIDv7 time field exhausted", field="unix_ms")
        self._last = candidate
        return _text(_layout(candidate >> _RAND_BITS, candidate & _RAND_MASK))
