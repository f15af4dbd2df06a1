# SPDX-License-Identifier: Apache-2.0
"""Typed ILS calls over SIP2, for one kiosk (:class:`Sip2Client`) or a central gateway
(:class:`Sip2Pool`).

Each call builds the request from the profile (institution id, terminal password, whether AD
carries the patron's PIN at this ILS), runs it through a :class:`Sip2Session` and returns a
typed result. ILS refusals are results (``ok=False`` + screen message); transport failures are
:class:`~edge_service.ils.errors.TransientIlsError`.

Which calls are retried once after a reconnect (``retry_safe``): SC status, patron status,
patron information, item information and end session: repeating them changes nothing. Checkout,
checkin, renew and item status update are not: repeating a checkout can turn into a renewal,
and a repeated checkin can fire holds (Evergreen LP#1503903). Their transient errors say whether
the request was sent, and the journaled workflow reconciles (e.g. with item information).

Patron identifiers and PINs never reach a log: calls log a keyed hash (:meth:`patron_ref`) with
a per-client random key, so one session's log lines can be correlated and nothing more.

Not responsible for: the security write that follows a checkout, off-line queues, or policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import ssl as ssl_module
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from edge_service.ils.profile import Sip2Profile
from edge_service.ils.results import (
    AcsStatusResult,
    CheckinResult,
    CheckoutResult,
    EndSessionResult,
    ItemInformationResult,
    ItemStatusUpdateResult,
    PatronInformationResult,
    PatronStatusResult,
    RenewResult,
)
from edge_service.ils.sip2_session import Sip2Session, WireTap
from protocols.sip2 import (
    Checkin,
    CheckinResponse,
    Checkout,
    CheckoutResponse,
    EndPatronSession,
    EndSessionResponse,
    ItemInformation,
    ItemInformationResponse,
    ItemStatusUpdate,
    ItemStatusUpdateResponse,
    PatronInformation,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    Renew,
    RenewResponse,
    SipDate,
    flags,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PATRON_REF_HEX = 12
DEFAULT_LIST_END = 5  # 63 BQ: how many list entries a kiosk screen shows


def _local_now() -> datetime:
    return datetime.now()  # noqa: DTZ005 - SIP2 transaction dates are the SC's local time


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("Y" if value else "N")


class Sip2Client:
    """Typed SIP2 calls on one persistent session. Use as ``async with``."""

    def __init__(
        self,
        profile: Sip2Profile,
        *,
        ssl: ssl_module.SSLContext | None = None,
        clock: Clock = _local_now,
        wire_tap: WireTap | None = None,
        log_key: bytes | None = None,
    ) -> None:
        self.profile = profile
        self.session = Sip2Session(profile, ssl=ssl, wire_tap=wire_tap)
        self._clock = clock
        self._log_key = log_key or secrets.token_bytes(16)

    async def __aenter__(self) -> Sip2Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> AcsStatusResult | None:
        """Connect, log in and read the ACS status now (otherwise the first call does)."""
        await self.session.open()
        return self.session.acs_status

    async def close(self) -> None:
        await self.session.close()

    def patron_ref(self, patron_id: str) -> str:
        """What logs say instead of a patron id: a keyed hash, stable for this client only."""
        digest = hmac.new(self._log_key, patron_id.encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:PATRON_REF_HEX]

    def _now(self) -> SipDate:
        return SipDate.from_datetime(self._clock())

    def _secret(self, message_id: str, pin: str | None) -> str | None:
        return pin if pin is not None and self.profile.sends_secret(message_id) else None

    # --- session ---------------------------------------------------------------------------------

    async def sc_status(self) -> AcsStatusResult:
        return await self.session.heartbeat()

    # --- patrons ---------------------------------------------------------------------------------

    async def patron_status(self, patron_id: str, *, pin: str | None = None) -> PatronStatusResult:
        p = self.profile
        request = PatronStatusRequest(
            language=p.language, transaction_date=self._now(), institution_id=p.institution_id,
            patron_identifier=patron_id, terminal_password=p.terminal_password,
            patron_password=self._secret(PatronStatusRequest.ID, pin) or "")
        log.debug("patron status patron=%s", self.patron_ref(patron_id))
        reply = await self.session.exchange(request, PatronStatusResponse, retry_safe=True)
        return PatronStatusResult.from_reply(reply)

    async def patron_information(
        self, patron_id: str, *, pin: str | None = None, summary: str | None = None,
        start_item: int = 1, end_item: int = DEFAULT_LIST_END,
    ) -> PatronInformationResult:
        """``summary`` names the list to fetch (one of ``flags.SUMMARY_POSITIONS``)."""
        p = self.profile
        request = PatronInformation(
            language=p.language, transaction_date=self._now(),
            summary=flags.make_summary(summary), institution_id=p.institution_id,
            patron_identifier=patron_id, terminal_password=p.terminal_password,
            patron_password=self._secret(PatronInformation.ID, pin),
            start_item=str(start_item) if summary else None,
            end_item=str(end_item) if summary else None)
        log.debug("patron information patron=%s", self.patron_ref(patron_id))
        reply = await self.session.exchange(request, PatronInformationResponse, retry_safe=True)
        return PatronInformationResult.from_reply(reply)

    async def end_session(self, patron_id: str, *, pin: str | None = None) -> EndSessionResult:
        p = self.profile
        request = EndPatronSession(
            transaction_date=self._now(), institution_id=p.institution_id,
            patron_identifier=patron_id, terminal_password=p.terminal_password,
            patron_password=self._secret(EndPatronSession.ID, pin))
        reply = await self.session.exchange(request, EndSessionResponse, retry_safe=True)
        return EndSessionResult.from_reply(reply)

    # --- circulation -----------------------------------------------------------------------------

    async def checkout(
        self, item_id: str, patron_id: str, *, pin: str | None = None,
        renewal_allowed: bool = False, no_block: bool = False,
        transaction_date: datetime | None = None, nb_due_date: datetime | None = None,
        fee_acknowledged: bool | None = None, item_properties: str | None = None,
    ) -> CheckoutResult:
        """Check ``item_id`` out. Off-line replay: ``no_block=True`` with the original
        ``transaction_date`` (and the ``nb_due_date`` promised to the patron)."""
        p = self.profile
        request = Checkout(
            sc_renewal_policy=renewal_allowed, no_block=no_block,
            transaction_date=SipDate.from_datetime(transaction_date or self._clock()),
            nb_due_date=SipDate.from_datetime(nb_due_date) if nb_due_date else None,
            institution_id=p.institution_id, patron_identifier=patron_id,
            item_identifier=item_id, terminal_password=p.terminal_password,
            item_properties=item_properties, patron_password=self._secret(Checkout.ID, pin),
            fee_acknowledged=_flag(fee_acknowledged))
        log.debug("checkout item=%s patron=%s no_block=%s", item_id, self.patron_ref(patron_id),
                  no_block)
        reply = await self.session.exchange(request, CheckoutResponse, retry_safe=False)
        return CheckoutResult.from_reply(reply)

    async def checkin(
        self, item_id: str, *, current_location: str | None = None, no_block: bool = False,
        return_date: datetime | None = None, transaction_date: datetime | None = None,
        item_properties: str | None = None,
    ) -> CheckinResult:
        p = self.profile
        now = self._clock()
        request = Checkin(
            no_block=no_block, transaction_date=SipDate.from_datetime(transaction_date or now),
            return_date=SipDate.from_datetime(return_date or transaction_date or now),
            current_location=current_location if current_location is not None
            else (p.location_code or ""),
            institution_id=p.institution_id, item_identifier=item_id,
            terminal_password=p.terminal_password, item_properties=item_properties)
        log.debug("checkin item=%s no_block=%s", item_id, no_block)
        reply = await self.session.exchange(request, CheckinResponse, retry_safe=False)
        return CheckinResult.from_reply(reply)

    async def renew(
        self, item_id: str, patron_id: str, *, pin: str | None = None, no_block: bool = False,
        transaction_date: datetime | None = None, nb_due_date: datetime | None = None,
        fee_acknowledged: bool | None = None,
    ) -> RenewResult:
        p = self.profile
        request = Renew(
            third_party_allowed=False, no_block=no_block,
            transaction_date=SipDate.from_datetime(transaction_date or self._clock()),
            nb_due_date=SipDate.from_datetime(nb_due_date) if nb_due_date else None,
            institution_id=p.institution_id, patron_identifier=patron_id,
            patron_password=self._secret(Renew.ID, pin), item_identifier=item_id,
            terminal_password=p.terminal_password, fee_acknowledged=_flag(fee_acknowledged))
        log.debug("renew item=%s patron=%s", item_id, self.patron_ref(patron_id))
        reply = await self.session.exchange(request, RenewResponse, retry_safe=False)
        return RenewResult.from_reply(reply)

    # --- items -----------------------------------------------------------------------------------

    async def item_information(self, item_id: str) -> ItemInformationResult:
        p = self.profile
        request = ItemInformation(transaction_date=self._now(), institution_id=p.institution_id,
                                  item_identifier=item_id, terminal_password=p.terminal_password)
        reply = await self.session.exchange(request, ItemInformationResponse, retry_safe=True)
        return ItemInformationResult.from_reply(reply)

    async def item_status_update(self, item_id: str, item_properties: str
                                 ) -> ItemStatusUpdateResult:
        p = self.profile
        request = ItemStatusUpdate(
            transaction_date=self._now(), institution_id=p.institution_id,
            item_identifier=item_id, terminal_password=p.terminal_password,
            item_properties=item_properties)
        reply = await self.session.exchange(request, ItemStatusUpdateResponse, retry_safe=False)
        return ItemStatusUpdateResult.from_reply(reply)


class Sip2Pool:
    """``size`` persistent sessions to one ILS for the central gateway; each call borrows an
    idle client, so ``size`` requests run concurrently and the rest queue in arrival order."""

    def __init__(
        self,
        profile: Sip2Profile,
        size: int,
        *,
        ssl: ssl_module.SSLContext | None = None,
        clock: Clock = _local_now,
        wire_tap: WireTap | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        log_key = secrets.token_bytes(16)
        self.clients = tuple(Sip2Client(profile, ssl=ssl, clock=clock, wire_tap=wire_tap,
                                        log_key=log_key) for _ in range(size))
        self._idle: asyncio.Queue[Sip2Client] = asyncio.Queue()
        for client in self.clients:
            self._idle.put_nowait(client)

    async def __aenter__(self) -> Sip2Pool:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        await asyncio.gather(*(c.connect() for c in self.clients))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients))

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[Sip2Client]:
        """Borrow one client for several calls (e.g. a kiosk session relayed by the gateway)."""
        client = await self._idle.get()
        try:
            yield client
        finally:
            self._idle.put_nowait(client)

    async def patron_status(self, patron_id: str, *, pin: str | None = None) -> PatronStatusResult:
        async with self.client() as c:
            return await c.patron_status(patron_id, pin=pin)

    async def patron_information(self, patron_id: str, *, pin: str | None = None,
                                 summary: str | None = None) -> PatronInformationResult:
        async with self.client() as c:
            return await c.patron_information(patron_id, pin=pin, summary=summary)

    async def checkout(self, item_id: str, patron_id: str, *, pin: str | None = None,
                       no_block: bool = False, transaction_date: datetime | None = None
                       ) -> CheckoutResult:
        async with self.client() as c:
            return await c.checkout(item_id, patron_id, pin=pin, no_block=no_block,
                                    transaction_date=transaction_date)

    async def checkin(self, item_id: str, *, no_block: bool = False,
                      return_date: datetime | None = None) -> CheckinResult:
        async with self.client() as c:
            return await c.checkin(item_id, no_block=no_block, return_date=return_date)

    async def renew(self, item_id: str, patron_id: str, *, pin: str | None = None
                    ) -> RenewResult:
        async with self.client() as c:
            return await c.renew(item_id, patron_id, pin=pin)

    async def item_information(self, item_id: str) -> ItemInformationResult:
        async with self.client() as c:
            return await c.item_information(item_id)

    async def item_status_update(self, item_id: str, item_properties: str
                                 ) -> ItemStatusUpdateResult:
        async with self.client() as c:
            return await c.item_status_update(item_id, item_properties)

    async def end_session(self, patron_id: str, *, pin: str | None = None) -> EndSessionResult:
        async with self.client() as c:
            return await c.end_session(patron_id, pin=pin)
