# SPDX-License-Identifier: Apache-2.0
"""A patron's loans as a kiosk's account view shows them: each with its title, its due date and
whether the ILS counts it overdue.

:func:`patron_loans` asks the circulation backend for the first ``limit`` loans
(``circ.loans``: item ids, the overdue ones, how many in all), then item information for each
loan, one ILS call at a time under the kiosk's ILS lock (taken per call, so the items on the pad
keep being processed in between). The cost is one ILS round trip per loan shown, which is why
the view is bounded (``ACCOUNT_LOANS``) and says how many loans there are in all.

The ILS's word is final: a loan is overdue when the ILS lists it overdue (SIP2 patron
information, "overdue items"); due dates are the ILS's text, never compared with the kiosk's
clock. An item whose information cannot be asked (an item id the contract cannot carry with
the library's ISIL) is listed without title and due date rather than failing the view.

Not responsible for: sessions and who may see the view (``selfcheck``), renewing (the
backend's ``renew``), HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from edge_service.circulation import CirculationBackend, ItemKey
from protocols.contract import MAX_LOANS, ContractError

__all__ = ["ACCOUNT_LOANS", "Loan", "PatronLoans", "patron_loans"]

logger = logging.getLogger(__name__)

ACCOUNT_LOANS = MAX_LOANS
"""Loans one account view lists (50): one ILS round trip each for the title and due date."""


@dataclass(frozen=True, slots=True)
class Loan:
    key: ItemKey
    title: str | None
    due: str | None
    """The ILS's text (a SIP2 date at most ILSs); ``None`` when the ILS gives none."""
    overdue: bool


@dataclass(frozen=True, slots=True)
class PatronLoans:
    """``ok`` false: the ILS refused the card or PIN (``screen_message`` may say why)."""

    ok: bool
    loans: tuple[Loan, ...]
    charged_count: int | None
    """All the patron's loans as the ILS counts them (more than ``loans`` past the limit)."""
    screen_message: tuple[str, ...]


async def patron_loans(backend: CirculationBackend, ils_turn: asyncio.Lock, patron_id: str, *,
                       pin: str | None, owner_institution: str,
                       limit: int = ACCOUNT_LOANS) -> PatronLoans:
    """The patron's first ``limit`` loans with their details. A backend that cannot reach the
    ILS raises :class:`~edge_service.circulation.CirculationError` (at any step)."""
    async with ils_turn:
        listed = await backend.patron_loans(patron_id, pin=pin, start=1, end=limit)
    if not listed.ok:
        return PatronLoans(False, (), None, listed.screen_message)
    overdue = frozenset(listed.overdue or ())
    loans = []
    for item_id in (listed.loans or ())[:limit]:
        key = ItemKey(owner_institution, item_id)
        title = due = None
        try:
            async with ils_turn:
                info = await backend.item_info(key)
        except ContractError as exc:   # e.g. no library ISIL for a request to the gateway
            logger.warning("account view: no item information for a loan: %s", exc.field)
        else:
            title, due = (info.title, info.due) if info.known is not False else (None, None)
        loans.append(Loan(key, title, due, item_id in overdue))
    return PatronLoans(True, tuple(loans), listed.charged_count, listed.screen_message)
