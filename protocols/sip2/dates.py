# SPDX-License-Identifier: Apache-2.0
"""SIP2 dates: 18 characters ``YYYYMMDDZZZZHHMMSS``.

``ZZZZ`` is the time zone: four blanks mean the ACS's local time, ``   Z`` means UTC; other
four-character zones are kept verbatim and not interpreted (the 3M spec leaves them open).
A field of 18 blanks means "no date" (e.g. an unused *nb due date*) and decodes to ``None``.

Not responsible for: reading a clock (callers pass the moment in), or converting local time
between zones (the ACS's local zone is not known to the codec).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from protocols.sip2.errors import Sip2Error

SIP_DATE_WIDTH = 18
LOCAL_ZONE = "    "
UTC_ZONE = "   Z"
BLANK_DATE = " " * SIP_DATE_WIDTH


@dataclass(frozen=True, slots=True)
class SipDate:
    """A SIP2 timestamp: a naive wall-clock moment and the four-character zone it is in."""

    moment: datetime
    zone: str = LOCAL_ZONE

    def __post_init__(self) -> None:
        if self.moment.tzinfo is not None:
            raise Sip2Error("SipDate.moment must be naive; use SipDate.from_datetime")
        if self.moment.microsecond:
            raise Sip2Error("SIP2 dates have whole seconds")
        if not 1 <= self.moment.year <= 9999:
            raise Sip2Error("SIP2 years have four digits")
        if len(self.zone) != 4 or not self.zone.isascii() or not self.zone.isprintable() or (
            "|" in self.zone
        ):
            raise Sip2Error("a SIP2 time zone is four printable ASCII characters", field="zone")

    @classmethod
    def from_datetime(cls, moment: datetime) -> SipDate:
        """An aware datetime is sent in UTC (``   Z``); a naive one as ACS local time."""
        moment = moment.replace(microsecond=0)
        if moment.tzinfo is None:
            return cls(moment)
        return cls(moment.astimezone(UTC).replace(tzinfo=None), UTC_ZONE)

    @property
    def is_utc(self) -> bool:
        return self.zone == UTC_ZONE

    def to_datetime(self) -> datetime:
        """Aware (UTC) when the zone says UTC, otherwise naive ACS local time."""
        return self.moment.replace(tzinfo=UTC) if self.is_utc else self.moment

    def __str__(self) -> str:
        return format_sip_date(self)


def format_sip_date(value: SipDate | None) -> str:
    """The 18 wire characters; ``None`` gives 18 blanks."""
    if value is None:
        return BLANK_DATE
    m = value.moment
    return (f"{m.year:04d}{m.month:02d}{m.day:02d}{value.zone}"
            f"{m.hour:02d}{m.minute:02d}{m.second:02d}")


def parse_sip_date(
    text: str, *, offset: int | None = None, field: str | None = None
) -> SipDate | None:
    """Parse 18 characters; 18 blanks give ``None``. Errors name ``offset`` and ``field``."""
    if len(text) != SIP_DATE_WIDTH:
        raise Sip2Error(f"a SIP2 date has 18 characters, got {len(text)}",
                        offset=offset, field=field)
    if text == BLANK_DATE:
        return None
    digits = text[:8] + text[12:]
    if not (digits.isascii() and digits.isdigit()):
        raise Sip2Error("SIP2 date is not YYYYMMDDZZZZHHMMSS", offset=offset, field=field)
    try:
        moment = datetime(  # noqa: DTZ001 - SIP2 wall-clock time; the zone is kept beside it
            int(text[0:4]), int(text[4:6]), int(text[6:8]),
            int(text[12:14]), int(text[14:16]), int(text[16:18]),
        )
        return SipDate(moment, text[8:12])
    except (ValueError, Sip2Error) as exc:
        raise Sip2Error(f"SIP2 date out of range ({exc})", offset=offset, field=field) from None
