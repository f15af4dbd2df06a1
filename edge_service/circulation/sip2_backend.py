# SPDX-License-Identifier: Apache-2.0
"""Direct mode: the circulation backend that talks SIP2 to the ILS itself.

Wraps a :class:`~edge_service.ils.Sip2Client` (one kiosk) or a :class:`~edge_service.ils.Sip2Pool`
(the gateway) built from a :class:`~edge_service.ils.Sip2Profile`. Off-line replays send the
original transaction time (converted to the ILS's local time, as SIP2 dates are) and, when
``offline_no_block`` (the default), SIP2 "no block" = Y: the transaction already happened at the
kiosk, and the ILS records it instead of applying its loan rules again. With
``offline_no_block=False`` the ILS applies its rules to the replay and may refuse it.

Not responsible for: what a refusal means for the workflow, retries.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from edge_service.circulation.backend import ItemKey
from edge_service.circulation.errors import (
    INVALID_REQUEST,
    CirculationFailed,
    TransientCirculationError,
)
from edge_service.circulation.outcomes import (
    from_checkin,
    from_item,
    from_loan,
    from_patron,
    from_patron_loans,
)
from edge_service.ils import IlsError, Sip2Client, Sip2Pool, TransientIlsError
from protocols import ProtocolError
from protocols.contract import MAX_LOANS, CirculationOutcome, loans_window

MS_PER_S = 1000
SET_PARTS_PRESENT_PROPERTY = "set-parts-present="
"""Item properties (CH) by which the kiosk states how many parts of a set were on the pad."""


def local_time(at_ms: int) -> datetime:
    """Unix ms as this host's naive local time: SIP2 transaction dates are the SC's local time."""
    return datetime.fromtimestamp(at_ms / MS_PER_S).replace(microsecond=0)  # noqa: DTZ006


class Sip2Backend:
    """:class:`~edge_service.circulation.CirculationBackend` over SIP2."""

    replay_dedupe_s = 0.0
    """SIP2 has no request ids: a repeated checkout is a renewal, a repeated return may
    cancel a loan made since."""

    def __init__(self, sip2: Sip2Client | Sip2Pool, *, offline_no_block: bool = True) -> None:
        self.sip2 = sip2
        self.offline_no_block = offline_no_block

    @contextlib.asynccontextmanager
    async def _client(self, request: str) -> AsyncIterator[Sip2Client]:
        try:
            if isinstance(self.sip2, Sip2Pool):
                async with self.sip2.client() as client:
                    yield client
            else:
                yield self.sip2
        except TransientIlsError as exc:
            raise TransientCirculationError(request, str(exc), sent=exc.sent) from exc
        except IlsError as exc:
            raise CirculationFailed(request, str(exc)) from exc
        except ProtocolError as exc:
            # The encoder refuses a field SIP2 cannot carry (a "|", a line break). Nothing was
            # sent; the message is not kept: it may quote a card number or PIN.
            raise CirculationFailed(request, "a field holds characters SIP2 cannot carry "
                                    f"({type(exc).__name__})", code=INVALID_REQUEST) from None

    async def patron_check(self, patron_id: str, *, pin: str | None = None
                           ) -> CirculationOutcome:
        async with self._client("circ.patron") as client:
            return from_patron(await client.patron_status(patron_id, pin=pin))

    async def checkout(self, item: ItemKey, patron_id: str, *, pin: str | None = None,
                       offline_at_ms: int | None = None, related_event: str | None = None,
                       set_parts_present: int | None = None) -> CirculationOutcome:
        properties = (None if set_parts_present is None
                      else f"{SET_PARTS_PRESENT_PROPERTY}{set_parts_present}")
        offline = offline_at_ms is not None
        async with self._client("circ.checkout") as client:
            result = await client.checkout(
                item.primary_item_id, patron_id, pin=pin,
                no_block=offline and self.offline_no_block,
                transaction_date=local_time(offline_at_ms) if offline_at_ms is not None else None,
                item_properties=properties)
        return from_loan(result)

    async def checkin(self, item: ItemKey, *, offline_at_ms: int | None = None,
                      related_event: str | None = None, location: str | None = None
                      ) -> CirculationOutcome:
        offline = offline_at_ms is not None
        async with self._client("circ.checkin") as client:
            result = await client.checkin(
                item.primary_item_id, current_location=location,
                no_block=offline and self.offline_no_block,
                transaction_date=local_time(offline_at_ms) if offline_at_ms is not None else None)
        return from_checkin(result)

    async def item_info(self, item: ItemKey) -> CirculationOutcome:
        async with self._client("circ.item") as client:
            return from_item(await client.item_information(item.primary_item_id))

    async def renew(self, item: ItemKey, patron_id: str, *, pin: str | None = None,
                    offline_at_ms: int | None = None, related_event: str | None = None
                    ) -> CirculationOutcome:
        offline = offline_at_ms is not None
        async with self._client("circ.renew") as client:
            result = await client.renew(
                item.primary_item_id, patron_id, pin=pin,
                no_block=offline and self.offline_no_block,
                transaction_date=local_time(offline_at_ms) if offline_at_ms is not None else None)
        return from_loan(result)

    async def patron_loans(self, patron_id: str, *, pin: str | None = None,
                           start: int | None = None, end: int | None = None
                           ) -> CirculationOutcome:
        """Patron information twice on one session: SIP2 lists one summary per request, so
        first the window of charged items, then (when there are loans and the card and PIN
        are good) the first ``MAX_LOANS`` overdue items. The overdue count alone is not
        trusted to skip the second request: some ILSs leave the counts at zero."""
        first, last = loans_window(start, end)
        async with self._client("circ.loans") as client:
            charged = await client.patron_information(
                patron_id, pin=pin, summary="charged items", start_item=first, end_item=last)
            status = charged.status
            refused = status.valid is False or status.password_valid is False
            overdue = None
            if not refused and (charged.charged_items or charged.charged_items_count):
                overdue = await client.patron_information(
                    patron_id, pin=pin, summary="overdue items", start_item=1,
                    end_item=MAX_LOANS)
        return from_patron_loans(charged, overdue)
