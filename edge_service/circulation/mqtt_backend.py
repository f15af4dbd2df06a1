# SPDX-License-Identifier: Apache-2.0
"""Gateway mode: the circulation backend that asks the catalog gateway over MQTT.

Each call publishes one request on the node's ``req/{name}`` topic (QoS 1) with a fresh
correlation id and an expiry of now + ``timeout_s``, then waits for the reply with that
``corr`` on the node's ``rsp`` topic. No reply in time is a
:class:`~edge_service.circulation.TransientCirculationError` with ``sent=True`` (the gateway may
have run it); so is an error reply ``ils_unavailable``. The gateway's dedupe window makes a
repeat of the same ``corr`` safe, so a caller that retries may pass the same ``corr`` again.

Replies arrive through :meth:`MqttBackend.handle_reply` (or :meth:`pump` over a message
stream): the node's MQTT client has one inbound stream, and its dispatcher hands the ``rsp``
messages here. Patron barcode and PIN leave the box only inside the request payload.

Not responsible for: the MQTT connection (``edge_service.sync.mqtt_client``), off-line policy.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterable, Callable
from typing import Any, Protocol

from edge_service.circulation.backend import ItemKey
from edge_service.circulation.errors import CirculationFailed, TransientCirculationError
from protocols.contract import (
    CheckinRequest,
    CheckoutRequest,
    CirculationOutcome,
    CirculationReply,
    CirculationRequest,
    ContractError,
    ItemInfoRequest,
    PatronCheckRequest,
    PatronLoansRequest,
    RenewRequest,
    format_time,
    reply_topic,
    request_topic,
)

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 10.0
"""How long a kiosk waits for the gateway: the SIP2 timeout of a busy ILS plus the broker hop."""
CORR_BYTES = 16
TRANSIENT_CODES = frozenset({"ils_unavailable", "expired", "busy"})


class MqttLink(Protocol):
    """What this backend needs of the node's MQTT client (``MqttClient`` has it)."""

    def subscribe(self, topic_filter: str, qos: int = 1) -> None: ...

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                      retain: bool = False) -> None: ...


class InboundLike(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


GATEWAY_DEDUPE_S = 23 * 3600.0
"""The gateway keeps a request's reply 24 h (``DEDUPE_WINDOW_S``, docs/gateway.md); an hour
less, so a repeat never meets a reply pruned a moment earlier."""


class MqttBackend:
    """:class:`~edge_service.circulation.CirculationBackend` through the catalog gateway."""

    replay_dedupe_s = GATEWAY_DEDUPE_S

    def __init__(self, link: MqttLink, *, tenant: str, site: str, node: str,
                 timeout_s: float = REPLY_TIMEOUT_S, clock_ms: Callable[[], int] = _now_ms
                 ) -> None:
        self.link = link
        self.ids = (tenant, site, node)
        self.reply_topic = reply_topic(tenant, site, node)
        self.timeout_s = timeout_s
        self._clock_ms = clock_ms
        self._waiting: dict[str, asyncio.Future[CirculationReply]] = {}
        link.subscribe(self.reply_topic, 1)

    # --- replies -----------------------------------------------------------------------------

    def handle_reply(self, payload: bytes) -> bool:
        """Settle the call waiting for this reply; False for a late, unknown or bad reply."""
        try:
            reply = CirculationReply.from_json(payload)
        except ContractError as exc:
            log.warning("a reply outside the contract on %s: %s", self.reply_topic, exc)
            return False
        future = self._waiting.get(reply.corr)
        if future is None or future.done():
            return False   # late (the caller timed out) or a duplicate delivery
        future.set_result(reply)
        return True

    async def pump(self, messages: AsyncIterable[InboundLike]) -> None:
        """Feed every ``rsp`` message of ``messages`` to :meth:`handle_reply`."""
        async for message in messages:
            if message.topic == self.reply_topic:
                self.handle_reply(message.payload)

    # --- requests ----------------------------------------------------------------------------

    def _header(self, related_event: str | None = None) -> dict[str, Any]:
        """A new correlation id, or for an off-line replay one derived from the off-line
        event: a replay retried after a timeout (the first may have reached the ILS) carries
        the same id, and the gateway's dedupe window answers it from the stored reply instead
        of lending or returning the item twice."""
        expires = self._clock_ms() + int(self.timeout_s * 1000)
        corr = f"replay-{related_event}" if related_event else secrets.token_hex(CORR_BYTES)
        return {"corr": corr, "expires": format_time(expires)}

    async def ask(self, request: CirculationRequest) -> CirculationOutcome:
        """Publish ``request`` and wait for its outcome (an error reply raises)."""
        name = request.NAME
        future: asyncio.Future[CirculationReply] = asyncio.get_running_loop().create_future()
        self._waiting[request.corr] = future
        try:
            try:
                await self.link.publish(request_topic(*self.ids, name), request.to_json(), qos=1)
            except Exception as exc:   # the MQTT client's NotConnected and kin
                raise TransientCirculationError(name, f"cannot publish: {exc}",
                                                sent=False) from exc
            try:
                reply = await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError:
                raise TransientCirculationError(
                    name, f"no reply from the gateway within {self.timeout_s} s",
                    sent=True) from None
        finally:
            self._waiting.pop(request.corr, None)
        if reply.status == "ok" and reply.outcome is not None:
            return reply.outcome
        code = reply.error.code if reply.error else "failed"
        message = reply.error.message if reply.error else "error without detail"
        if code in TRANSIENT_CODES:
            raise TransientCirculationError(name, f"{code}: {message}", sent=code != "expired")
        raise CirculationFailed(name, message, code=code)

    @staticmethod
    def _offline(offline_at_ms: int | None, related_event: str | None) -> dict[str, Any]:
        return {"offline": offline_at_ms is not None,
                "transaction_time": None if offline_at_ms is None else format_time(offline_at_ms),
                "related_event": related_event}

    async def patron_check(self, patron_id: str, *, pin: str | None = None
                           ) -> CirculationOutcome:
        return await self.ask(PatronCheckRequest(**self._header(), patron_id=patron_id, pin=pin))

    async def checkout(self, item: ItemKey, patron_id: str, *, pin: str | None = None,
                       offline_at_ms: int | None = None, related_event: str | None = None,
                       set_parts_present: int | None = None) -> CirculationOutcome:
        return await self.ask(CheckoutRequest(
            **self._header(related_event), primary_item_id=item.primary_item_id,
            owner_institution=item.owner_institution, patron_id=patron_id, pin=pin,
            set_parts_present=set_parts_present, **self._offline(offline_at_ms, related_event)))

    async def checkin(self, item: ItemKey, *, offline_at_ms: int | None = None,
                      related_event: str | None = None, location: str | None = None
                      ) -> CirculationOutcome:
        return await self.ask(CheckinRequest(
            **self._header(related_event), primary_item_id=item.primary_item_id,
            owner_institution=item.owner_institution, location=location,
            **self._offline(offline_at_ms, related_event)))

    async def item_info(self, item: ItemKey) -> CirculationOutcome:
        return await self.ask(ItemInfoRequest(
            **self._header(), primary_item_id=item.primary_item_id,
            owner_institution=item.owner_institution))

    async def renew(self, item: ItemKey, patron_id: str, *, pin: str | None = None,
                    offline_at_ms: int | None = None, related_event: str | None = None
                    ) -> CirculationOutcome:
        return await self.ask(RenewRequest(
            **self._header(related_event), primary_item_id=item.primary_item_id,
            owner_institution=item.owner_institution, patron_id=patron_id, pin=pin,
            **self._offline(offline_at_ms, related_event)))

    async def patron_loans(self, patron_id: str, *, pin: str | None = None,
                           start: int | None = None, end: int | None = None
                           ) -> CirculationOutcome:
        return await self.ask(PatronLoansRequest(**self._header(), patron_id=patron_id, pin=pin,
                                                 start=start, end=end))
