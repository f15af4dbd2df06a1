# SPDX-License-Identifier: Apache-2.0
"""The one interface the workflows use to ask the ILS, whichever way it is reached.

``backend = "sip2"`` (direct mode: :class:`~edge_service.circulation.Sip2Backend`) or
``backend = "mqtt"`` (through the catalog gateway: :class:`~edge_service.circulation.MqttBackend`).
Both return the contract's :class:`~protocols.contract.CirculationOutcome`, so a workflow, its
journal and the events it writes do not depend on the mode. Refusals are outcomes; a failure to
get an answer is :class:`~edge_service.circulation.TransientCirculationError`.

Off-line replays pass ``offline_at_ms`` (the original transaction time, Unix ms UTC) and the
off-line event's id (``related_event``). ``patron_loans`` lists positions ``start`` to ``end``
(1-based, inclusive) of the patron's loans, at most ``MAX_LOANS`` of them
(:func:`~protocols.contract.loans_window`).

Not responsible for: the security write, journals, off-line queues, policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from protocols.contract import CirculationOutcome


@dataclass(frozen=True, slots=True)
class ItemKey:
    """An item as the tag names it: owner ISIL + primary item id (the ILS barcode)."""

    owner_institution: str
    primary_item_id: str


class CirculationBackend(Protocol):
    replay_dedupe_s: float
    """How long after an off-line replay was sent the same replay may be sent again without
    running twice (the gateway answers a repeat of its correlation id from its dedupe
    window); 0: never (direct SIP2 has no such window)."""

    async def patron_check(self, patron_id: str, *, pin: str | None = None
                           ) -> CirculationOutcome: ...

    async def checkout(self, item: ItemKey, patron_id: str, *, pin: str | None = None,
                       offline_at_ms: int | None = None, related_event: str | None = None,
                       set_parts_present: int | None = None) -> CirculationOutcome: ...

    async def checkin(self, item: ItemKey, *, offline_at_ms: int | None = None,
                      related_event: str | None = None, location: str | None = None
                      ) -> CirculationOutcome: ...

    async def item_info(self, item: ItemKey) -> CirculationOutcome: ...

    async def renew(self, item: ItemKey, patron_id: str, *, pin: str | None = None,
                    offline_at_ms: int | None = None, related_event: str | None = None
                    ) -> CirculationOutcome: ...

    async def patron_loans(self, patron_id: str, *, pin: str | None = None,
                           start: int | None = None, end: int | None = None
                           ) -> CirculationOutcome: ...
