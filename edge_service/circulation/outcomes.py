# SPDX-License-Identifier: Apache-2.0
"""From the SIP2 client's typed results to the contract's :class:`CirculationOutcome`.

The ILS's texts are clipped to the contract's bounds (a screen message longer than 512
characters, more than 8 lines) and empty texts become null, so whatever an ILS sends, the
outcome can be published. Lists of item ids keep the ids the contract can carry (printable
ASCII, no spaces, up to 64 characters; an ILS that lists titles gives none), each once, at most
``MAX_LOANS``. Patron names (``personal_name``) and addresses are never copied.

Not responsible for: asking the ILS (the backends), deciding what a refusal means.
"""

from __future__ import annotations

import re

from edge_service.ils import (
    CheckinResult,
    ItemInformationResult,
    LoanResult,
    PatronInformationResult,
    PatronStatusResult,
)
from protocols.contract import (
    MAX_BLOCKS,
    MAX_LIST_POSITION,
    MAX_LOANS,
    MAX_SCREEN_LINES,
    CirculationOutcome,
    YesNoUnknown,
)

SCREEN_LINE_MAX = 512
TITLE_MAX = 512
SHORT_MAX = 64
BIN_MAX = 32
DUE_MAX = 32
HOLD_QUEUE_MAX = 99_999
FIRST_STATUS, LAST_STATUS = 1, 13
STATUS_OTHER = "01"
ITEM_ID = re.compile(r"[!-~]{1,64}")


def _text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[:limit] or None


def _screen(lines: tuple[str, ...]) -> tuple[str, ...]:
    kept = (line.strip()[:SCREEN_LINE_MAX] for line in lines)
    return tuple(line for line in kept if line)[:MAX_SCREEN_LINES]


def _item_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
    kept = (i.strip() for i in ids)
    return tuple(dict.fromkeys(i for i in kept if ITEM_ID.fullmatch(i)))[:MAX_LOANS]


def _yes_no_unknown(value: bool | None) -> YesNoUnknown:
    return "U" if value is None else ("Y" if value else "N")


def circulation_status_code(status: int) -> str:
    """SIP2 circulation status as the contract's two digits; out of range is 01 "other"."""
    return f"{status:02d}" if FIRST_STATUS <= status <= LAST_STATUS else STATUS_OTHER


def from_patron(result: PatronStatusResult) -> CirculationOutcome:
    return CirculationOutcome(
        ok=result.may_borrow, screen_message=_screen(result.screen_message),
        valid=result.valid, pin_ok=result.password_valid,
        blocks=tuple(dict.fromkeys(b[:SHORT_MAX] for b in result.blocks if b))[:MAX_BLOCKS],
        may_borrow=result.may_borrow)


def from_patron_loans(charged: PatronInformationResult,
                      overdue: PatronInformationResult | None = None) -> CirculationOutcome:
    """``circ.loans`` from the reply that listed charged items and, if asked, the one that
    listed overdue items. A card the ILS does not know or a refused PIN gives ``ok`` false and
    no lists: a patron sees their loans only with their own PIN."""
    status = charged.status
    ok = status.valid is not False and status.password_valid is not False
    screen = _screen(status.screen_message)
    if not ok:
        return CirculationOutcome(ok=False, screen_message=screen, valid=status.valid,
                                  pin_ok=status.password_valid)
    loans = _item_ids(charged.charged_items)
    return CirculationOutcome(
        ok=True, screen_message=screen, valid=status.valid, pin_ok=status.password_valid,
        loans=loans, overdue=_item_ids(overdue.overdue_items) if overdue else (),
        charged_count=min(max(charged.charged_items_count, len(loans)), MAX_LIST_POSITION))


def from_loan(result: LoanResult) -> CirculationOutcome:
    return CirculationOutcome(
        ok=result.ok, screen_message=_screen(result.screen_message),
        title=_text(result.title, TITLE_MAX), media=_text(result.media_type, SHORT_MAX),
        desensitize=_yes_no_unknown(result.desensitize),
        due=_text(result.due_date_text, DUE_MAX), renewal=result.renewal_ok)


def from_checkin(result: CheckinResult) -> CirculationOutcome:
    return CirculationOutcome(
        ok=result.ok, screen_message=_screen(result.screen_message),
        title=_text(result.title, TITLE_MAX), resensitize=result.resensitize,
        alert=result.alert,
        alert_type=result.alert_type if result.alert_type and len(result.alert_type) == 2
        and result.alert_type.isdigit() else None,
        sort_bin=_text(result.sort_bin, BIN_MAX),
        destination=_text(result.destination_location, SHORT_MAX))


def from_item(result: ItemInformationResult) -> CirculationOutcome:
    return CirculationOutcome(
        ok=result.known, screen_message=_screen(result.screen_message),
        title=_text(result.title, TITLE_MAX), media=_text(result.media_type, SHORT_MAX),
        known=result.known, circulation_status=circulation_status_code(result.circulation_status),
        due=_text(result.raw.due_date, DUE_MAX),
        hold_queue_length=None if result.hold_queue_length is None
        else min(result.hold_queue_length, HOLD_QUEUE_MAX))
