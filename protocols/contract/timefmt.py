# SPDX-License-Identifier: Apache-2.0
"""The one time format of the contract: RFC 3339, UTC, milliseconds, ``Z``.

    2026-10-01T10:15:02.123Z

Exactly this shape (24 characters) on the wire, so that equal instants are equal strings and
string order is time order. Callers pass Unix milliseconds in and get them out; nothing here
reads a clock.

Not responsible for: other time formats (ILS versions may be any timestamp; see
:func:`protocols.contract.sequence.is_newer`), SIP2's 18-character dates.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from protocols.contract.errors import ContractError

# The JSON Schema files carry the same pattern (common.json#/$defs/time); calendar validity
# (no 30 February, no year 0000) is checked here only.
TIME_PATTERN = (
    "[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9][.][0-9]{3}Z"
)
_TIME = re.compile(TIME_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# 0001-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z
MIN_TIME_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS
MAX_TIME_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // _ONE_MS


def format_time(unix_ms: int) -> str:
    """``unix_ms`` (milliseconds since 1970-01-01T00:00:00Z) in the contract's format."""
    if isinstance(unix_ms, bool) or not isinstance(unix_ms, int):
        raise ContractError(f"time must be integer milliseconds, not {type(unix_ms).__name__}")
    if not MIN_TIME_MS <= unix_ms <= MAX_TIME_MS:
        raise ContractError(f"time {unix_ms} ms is outside years 0001-9999")
    m = _EPOCH + unix_ms * _ONE_MS
    # Not strftime: its %Y does not pad years before 1000 on glibc.
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
            f"{m.second:02d}.{m.microsecond // 1000:03d}Z")


def parse_time(text: str, *, field: str | None = None) -> int:
    """Unix milliseconds of ``text``; :class:`ContractError` unless it is exactly the format."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise ContractError(
            "time must look like 2026-10-01T10:15:02.123Z (UTC, milliseconds)", field=field)
    try:
        moment = datetime(
            int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
            int(text[14:16]), int(text[17:19]), int(text[20:23]) * 1000, tzinfo=UTC)
    except ValueError as exc:
        raise ContractError(f"time {text!r} is not a calendar date: {exc}", field=field) from None
    return (moment - _EPOCH) // _ONE_MS
