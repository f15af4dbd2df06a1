# SPDX-License-Identifier: Apache-2.0
"""Code tables of SIP2 fields, as data: positional flags and two/three-digit codes.

Sources: 3M SIP2 Developers Guide v2.00 as quoted by FOLIO edge-sip2 and JSIP2 (landscape.md §D).
NYPL's lesson (PR #495/#656) is to read all 14 patron status flags to explain a block, so
:func:`patron_status_flags` names every flag that is set.

Not responsible for: deciding what a flag means to a workflow (the client and kiosk decide).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Patron status (24, 64): 14 positions, Y = the condition holds.
PATRON_STATUS_FLAGS: tuple[str, ...] = (
    "charge privileges denied",
    "renewal privileges denied",
    "recall privileges denied",
    "hold privileges denied",
    "card reported lost",
    "too many items charged",
    "too many items overdue",
    "too many renewals",
    "too many claims of items returned",
    "too many items lost",
    "excessive outstanding fines",
    "excessive outstanding fees",
    "recall overdue",
    "too many items billed",
)
CHARGE_PRIVILEGES_DENIED = 0

# Patron information summary (63): Y at one position asks for that list in 64.
SUMMARY_POSITIONS: tuple[str, ...] = (
    "hold items", "overdue items", "charged items", "fine items", "recall items",
    "unavailable holds",
)
SUMMARY_WIDTH = 10

# Supported messages (98 BX): 16 positions, Y = the ACS supports the message.
SUPPORTED_MESSAGES: tuple[str, ...] = (
    "patron status request", "checkout", "checkin", "block patron", "SC/ACS status",
    "request SC/ACS resend", "login", "patron information", "end patron session", "fee paid",
    "item information", "item status update", "patron enable", "hold", "renew", "renew all",
)

CIRCULATION_STATUS: Mapping[int, str] = MappingProxyType({
    1: "other", 2: "on order", 3: "available", 4: "charged", 5: "charged; not to be recalled",
    6: "in process", 7: "recalled", 8: "waiting on hold shelf", 9: "waiting to be re-shelved",
    10: "in transit between library locations", 11: "claimed returned", 12: "lost", 13: "missing",
})

SECURITY_MARKER: Mapping[int, str] = MappingProxyType({
    0: "other", 1: "none", 2: "3M Tattle-Tape Security Strip", 3: "3M Whisper Tape",
})

MEDIA_TYPES: Mapping[str, str] = MappingProxyType({
    "000": "other", "001": "book", "002": "magazine", "003": "bound journal", "004": "audio tape",
    "005": "video tape", "006": "CD/CDROM", "007": "diskette", "008": "book with diskette",
    "009": "book with CD", "010": "book with audio tape",
})

FEE_TYPES: Mapping[int, str] = MappingProxyType({
    1: "other/unknown", 2: "administrative", 3: "damage", 4: "overdue", 5: "processing",
    6: "rental", 7: "replacement", 8: "computer access charge", 9: "hold fee",
})

PAYMENT_TYPES: Mapping[int, str] = MappingProxyType({0: "cash", 1: "VISA", 2: "credit card"})

# Check-in alert types (CV): FOLIO's usage; Koha may send 00 on a plain success.
ALERT_TYPES: Mapping[str, str] = MappingProxyType({
    "00": "unknown / none", "01": "hold for this library",
    "02": "hold for another library (in transit)", "04": "send to another location",
    "99": "other",
})


def patron_status_flags(patron_status: str) -> tuple[str, ...]:
    """Names of the flags set (``Y``) in a 14-character patron status field."""
    return tuple(name for name, char in zip(PATRON_STATUS_FLAGS, patron_status, strict=False)
                 if char == "Y")


def make_patron_status(*names: str) -> str:
    """The 14-character field with ``Y`` at each named flag, blanks elsewhere."""
    unknown = set(names) - set(PATRON_STATUS_FLAGS)
    if unknown:
        raise ValueError(f"unknown patron status flags: {sorted(unknown)}")
    return "".join("Y" if name in names else " " for name in PATRON_STATUS_FLAGS)


def make_summary(position: str | None) -> str:
    """The 10-character summary with ``Y`` at ``position`` (one of SUMMARY_POSITIONS)."""
    chars = [" "] * SUMMARY_WIDTH
    if position is not None:
        chars[SUMMARY_POSITIONS.index(position)] = "Y"
    return "".join(chars)


def summary_position(summary: str) -> str | None:
    """The list a summary field asks for (the first ``Y``), or ``None``."""
    for name, char in zip(SUMMARY_POSITIONS, summary, strict=False):
        if char == "Y":
            return name
    return None


def make_supported_messages(*names: str) -> str:
    unknown = set(names) - set(SUPPORTED_MESSAGES)
    if unknown:
        raise ValueError(f"unknown message names: {sorted(unknown)}")
    return "".join("Y" if name in names else "N" for name in SUPPORTED_MESSAGES)


def supported_messages(bx: str) -> frozenset[str]:
    return frozenset(name for name, char in zip(SUPPORTED_MESSAGES, bx, strict=False)
                     if char == "Y")
