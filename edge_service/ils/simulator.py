# SPDX-License-Identifier: Apache-2.0
"""A SIP2 ACS (the ILS side) on asyncio TCP, serving a catalogue and patrons from a data file.

It behaves like the ILSs in landscape.md §D, not like our client: it echoes the request's AY
sequence number and adds an AZ checksum only when the request carried one; it answers 97 by
repeating its last message; it recognises a resent request (same bytes, i.e. same sequence and
checksum, as the previous one) and repeats its reply instead of executing twice; it asks for a
resend (96) when a request does not decode; it closes the connection of an SC that sends
anything but 93 before logging in (``require_login``), as Koha does; it ignores message ids
it does not implement.

Loan rules (settings in the data file, see :mod:`simulator_data`):

* checkout refused for an unknown or blocked patron, a wrong PIN (``verify_pin``), an unknown
  or not-for-loan item, an item out to someone else or on hold for someone else, a renewal over
  ``renew_limit``, and a multipart set per ``sets_policy``: ``refuse`` (desk only),
  ``refuse_incomplete`` (the SC must state every part is present with item properties
  ``set-parts-present=N``) or ``allow``. Set items carry ``CH set-parts=N`` and a screen message.
* desensitize Y on a successful checkout (N when refused); resensitize Y on check-in.
* check-in of an item on hold: alert, CV 01 (pickup here, sort bin HOLDS) or 02 (pickup at
  another branch, in transit); of an item of another branch: alert, CV 04, CT destination;
  of another library's item: alert, CV 04, CT the owner's ISIL.
* off-line replay (checkout with no block = Y and the original transaction date): accepted
  without loan rules (as OCLC does) when ``accept_offline_replay``, else refused; due date =
  the nb due date if given.
* patron information (63/64): the list the summary asks for (charged, overdue = charged and
  due before now, available holds, unavailable holds), positions BP to BQ of it (1-based,
  inclusive; BQ default BP + 4; nothing when BQ < BP); the counts always.

Faults (:class:`SimFaults`), settable at start and at run time with :meth:`IlsSimulator.set_faults`:
``latency_ms`` before every reply; ``drop_after`` = N: after N more messages the connection is
closed on receiving the next (one-shot, so the reconnect works); ``refuse_offline_replay``;
``garbage_replies`` = N: the next N replies are replaced by a line of garbage (the true reply is
kept as "last message" for 97).

Not responsible for: persistence (all state is in memory), or SIP2 messages beyond the 13
exchanges of :data:`protocols.sip2.CATALOGUE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import ssl as ssl_module
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from edge_service.ils.simulator_data import ITEM_STATUSES, MEDIA_TYPES, SimData, SimItem
from protocols.sip2 import (
    MAX_MESSAGE_BYTES,
    AcsStatus,
    Checkin,
    CheckinResponse,
    Checkout,
    CheckoutResponse,
    EndPatronSession,
    EndSessionResponse,
    FeePaid,
    FeePaidResponse,
    ItemInformation,
    ItemInformationResponse,
    ItemStatusUpdate,
    ItemStatusUpdateResponse,
    Login,
    LoginResponse,
    Message,
    PatronInformation,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    Renew,
    RenewResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
    Sip2Error,
    SipDate,
    UnknownMessage,
    decode_frame,
    encode,
    flags,
    format_sip_date,
    parse_sip_date,
)

log = logging.getLogger(__name__)

GARBAGE_REPLY = b"\x00\xffNOT SIP2 \xfe garbage|\r"
SET_PARTS_PROPERTY = "set-parts="
SET_PARTS_PRESENT_PROPERTY = "set-parts-present="
ACS_TIMEOUT_TENTHS = 100  # 98 timeout period: 10 s
ACS_RETRIES_ALLOWED = 3
HOLDS_BIN = "HOLDS"
TRANSIT_BIN = "TRANSIT"
CIRC_CHARGED = 4
CIRC_OTHER = 1
SECURITY_MARKER_OTHER = 0  # RFID security is not among the 3M markers
BLOCKED_FLAGS = flags.make_patron_status(
    "charge privileges denied", "renewal privileges denied", "recall privileges denied",
    "hold privileges denied")
SUPPORTED = flags.make_supported_messages(
    "patron status request", "checkout", "checkin", "SC/ACS status", "request SC/ACS resend",
    "login", "patron information", "end patron session", "fee paid", "item information",
    "item status update", "renew")


def _local_now() -> datetime:
    return datetime.now()  # noqa: DTZ005 - an ACS answers in its local time (blank zone)


@dataclass
class SimFaults:
    latency_ms: int = 0
    drop_after: int | None = None
    refuse_offline_replay: bool = False
    garbage_replies: int = 0


@dataclass
class SimCounters:
    messages: int = 0
    logins: int = 0
    duplicates: int = 0
    resends: int = 0
    bad_requests: int = 0
    drops: int = 0
    executed: dict[str, int] = field(default_factory=dict)


@dataclass
class _Connection:
    logged_in: bool
    location: str
    last_request: bytes | None = None
    last_reply: bytes | None = None


class IlsSimulator:
    """A SIP2 ACS on 127.0.0.1 (ephemeral port by default). Use as ``async with``."""

    def __init__(
        self,
        data: SimData,
        *,
        faults: SimFaults | None = None,
        clock: Callable[[], datetime] = _local_now,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.data = data
        self._ssl = ssl
        self.settings = data.settings
        self.faults = faults or SimFaults()
        self.counters = SimCounters()
        self._clock = clock
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = asyncio.Event()
        for item in data.items.values():
            if item.loaned_to is not None and item.due is None and item.due_in_days is not None:
                item.due = self._due(self._clock(), item.due_in_days)
        self._handlers: dict[type[Message], Callable[[_Connection, Any], Message]] = {
            Login: self._login, ScStatus: self._sc_status,
            PatronStatusRequest: self._patron_status, PatronInformation: self._patron_information,
            EndPatronSession: self._end_session, FeePaid: self._fee_paid,
            Checkout: self._checkout, Checkin: self._checkin, Renew: self._renew,
            ItemInformation: self._item_information, ItemStatusUpdate: self._item_status_update,
        }

    # --- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> IlsSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self._host, self._port,
                                                  limit=MAX_MESSAGE_BYTES, ssl=self._ssl)
        self._port = self._server.sockets[0].getsockname()[1]
        return self._port

    @property
    def port(self) -> int:
        return self._port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._closing.set()  # wakes handlers sleeping in an injected latency
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def set_faults(self, **changes: Any) -> None:
        """Change faults at run time, e.g. ``set_faults(latency_ms=300)``."""
        self.faults = dataclasses.replace(self.faults, **changes)

    def drop_all_connections(self) -> None:
        """Close every client connection (an ILS restart, a firewall timeout)."""
        for writer in list(self._writers):
            writer.close()

    # --- connection ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = _Connection(logged_in=not self.settings.require_login, location=self.data.location)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\r")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                if self.faults.drop_after is not None:
                    if self.faults.drop_after <= 0:
                        self.faults.drop_after = None
                        self.counters.drops += 1
                        break
                    self.faults.drop_after -= 1
                self.counters.messages += 1
                reply = self._handle(conn, line)
                if reply is None:
                    if not conn.logged_in:
                        break  # like Koha: no login, no service
                    continue
                if self.faults.latency_ms:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), self.faults.latency_ms / 1000)
                    if self._closing.is_set():
                        break
                if self.faults.garbage_replies > 0:
                    self.faults.garbage_replies -= 1
                    reply = GARBAGE_REPLY
                writer.write(reply)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _handle(self, conn: _Connection, line: bytes) -> bytes | None:
        charset = self.settings.charset
        request = line.strip(b"\r\n")
        try:
            frame = decode_frame(line, charset=charset, keep_unknown=True)
        except Sip2Error as exc:
            self.counters.bad_requests += 1
            log.debug("simulator: bad request (%s); asking for a resend", exc)
            return encode(RequestScResend(), charset=charset)
        message = frame.message
        if isinstance(message, RequestAcsResend):
            self.counters.resends += 1
            return conn.last_reply
        if frame.checksummed and request == conn.last_request and conn.last_reply is not None:
            self.counters.duplicates += 1  # the SC timed out and resent: do not execute twice
            return conn.last_reply
        if isinstance(message, UnknownMessage):
            log.debug("simulator: ignoring unsupported message %s", message.command)
            return None
        if not conn.logged_in and not isinstance(message, Login):
            return None
        handler = self._handlers.get(type(message))
        if handler is None:  # a response id sent as a request
            return None
        reply = handler(conn, message)
        self.counters.executed[message.ID] = self.counters.executed.get(message.ID, 0) + 1
        wire = encode(reply, charset=charset, error_detection=frame.checksummed,
                      sequence=frame.sequence or 0)
        conn.last_request, conn.last_reply = request, wire
        return wire

    # --- helpers ---------------------------------------------------------------------------------

    def _now(self) -> SipDate:
        return SipDate.from_datetime(self._clock())

    def _due(self, start: datetime, days: int | None = None) -> str:
        loan_days = self.settings.loan_days if days is None else days
        return format_sip_date(SipDate(start.replace(tzinfo=None, microsecond=0)
                                       + timedelta(days=loan_days)))

    def _overdue(self, item: SimItem) -> bool:
        try:
            due = parse_sip_date(item.due) if item.due else None
        except Sip2Error:
            return False
        return due is not None and due.moment < self._clock().replace(tzinfo=None)

    def _pin_wrong(self, patron_barcode: str, pin: str | None) -> bool:
        patron = self.data.patrons.get(patron_barcode)
        if patron is None or not self.settings.verify_pin or not pin:
            return False
        return not hmac.compare_digest(patron.pin.encode(), pin.encode())

    def _media(self, item: SimItem | None) -> tuple[str | None, bool | None]:
        if item is None:
            return None, None
        return MEDIA_TYPES[item.media]

    def _set_info(self, item: SimItem) -> tuple[str | None, tuple[str, ...]]:
        if item.set_parts <= 1:
            return None, ()
        return (f"{SET_PARTS_PROPERTY}{item.set_parts}",
                (f"Set of {item.set_parts} parts: all parts must be together",))

    def _circulation_status(self, item: SimItem) -> int:
        if item.loaned_to is not None:
            return CIRC_CHARGED
        return ITEM_STATUSES[item.status]

    # --- session ---------------------------------------------------------------------------------

    def _login(self, conn: _Connection, msg: Login) -> LoginResponse:
        account = self.data.accounts.get(msg.login_user_id)
        ok = account is not None and hmac.compare_digest(account[0].encode(),
                                                         msg.login_password.encode())
        if ok and account is not None:
            conn.logged_in = True
            conn.location = msg.location_code or account[1]
            self.counters.logins += 1
        return LoginResponse(ok=ok)

    def _sc_status(self, conn: _Connection, msg: ScStatus) -> AcsStatus:
        return AcsStatus(
            online_status=True, checkin_ok=True, checkout_ok=True, acs_renewal_policy=True,
            status_update_ok=False, offline_ok=self.settings.offline_ok,
            timeout_period=ACS_TIMEOUT_TENTHS, retries_allowed=ACS_RETRIES_ALLOWED,
            date_time_sync=self._now(), protocol_version="2.00",
            institution_id=self.data.institution_id, library_name=self.data.library_name,
            supported_messages=SUPPORTED, terminal_location=conn.location)

    # --- patrons ---------------------------------------------------------------------------------

    def _patron_fields(self, patron_id: str, password: str | None) -> dict[str, Any]:
        patron = self.data.patrons.get(patron_id)
        if patron is None:
            return {"patron_status": " " * 14, "personal_name": "", "valid_patron": "N",
                    "screen_message": ("Patron not found",)}
        values: dict[str, Any] = {
            "patron_status": BLOCKED_FLAGS if patron.blocked else " " * 14,
            "personal_name": patron.name, "valid_patron": "Y", "currency_type": "DKK",
            "fee_amount": patron.fines,
            "screen_message": ("Patron blocked: please contact the desk",) if patron.blocked
            else ()}
        if password and self.settings.verify_pin:   # an ILS that checks no PIN says nothing
            values["valid_patron_password"] = "N" if self._pin_wrong(patron_id, password) else "Y"
        return values

    def _patron_status(self, conn: _Connection, msg: PatronStatusRequest) -> PatronStatusResponse:
        return PatronStatusResponse(
            language=msg.language, transaction_date=self._now(),
            institution_id=self.data.institution_id, patron_identifier=msg.patron_identifier,
            **self._patron_fields(msg.patron_identifier, msg.patron_password))

    def _patron_information(self, conn: _Connection, msg: PatronInformation
                            ) -> PatronInformationResponse:
        patron_id = msg.patron_identifier
        loans = [i for i in self.data.items.values() if i.loaned_to == patron_id]
        ready = [i for i in self.data.items.values() if i.holds and i.holds[0].patron == patron_id
                 and i.status == "on-hold-shelf"]
        waiting = [i for i in self.data.items.values()
                   if any(h.patron == patron_id for h in i.holds) and i not in ready]
        overdue = [i for i in loans if self._overdue(i)]
        wanted = flags.summary_position(msg.summary)
        start = max(int(msg.start_item), 1) if msg.start_item and msg.start_item.isdigit() else 1
        end = int(msg.end_item) if msg.end_item and msg.end_item.isdigit() else start + 4

        def page(items: list[SimItem], name: str) -> tuple[str, ...]:
            return tuple(i.barcode for i in items[start - 1 : end]) if wanted == name else ()

        return PatronInformationResponse(
            language=msg.language, transaction_date=self._now(),
            hold_items_count=len(ready), overdue_items_count=len(overdue),
            charged_items_count=len(loans), unavailable_holds_count=len(waiting),
            institution_id=self.data.institution_id, patron_identifier=patron_id,
            hold_items=page(ready, "hold items"), overdue_items=page(overdue, "overdue items"),
            charged_items=page(loans, "charged items"),
            unavailable_hold_items=page(waiting, "unavailable holds"),
            email_address=p.email if (p := self.data.patrons.get(patron_id)) else None,
            **self._patron_fields(patron_id, msg.patron_password))

    def _end_session(self, conn: _Connection, msg: EndPatronSession) -> EndSessionResponse:
        return EndSessionResponse(end_session=True, transaction_date=self._now(),
                                  institution_id=self.data.institution_id,
                                  patron_identifier=msg.patron_identifier)

    def _fee_paid(self, conn: _Connection, msg: FeePaid) -> FeePaidResponse:
        patron = self.data.patrons.get(msg.patron_identifier)
        if patron is not None:
            patron.fines = "0.00"
        return FeePaidResponse(payment_accepted=patron is not None, transaction_date=self._now(),
                               institution_id=self.data.institution_id,
                               patron_identifier=msg.patron_identifier,
                               transaction_id=msg.transaction_id)

    # --- circulation -----------------------------------------------------------------------------

    def _loan_refusal(self, msg: Checkout | Renew, item: SimItem | None, *, renewing: bool
                      ) -> str | None:
        patron = self.data.patrons.get(msg.patron_identifier)
        if patron is None:
            return "Patron not found"
        if item is None:
            return "Item not found"
        if msg.no_block:  # an off-line transaction already happened at the SC
            if self.faults.refuse_offline_replay or not self.settings.accept_offline_replay:
                return "Off-line transactions are not accepted"
            return None
        if self._pin_wrong(patron.barcode, msg.patron_password):
            return "Wrong PIN"
        if patron.blocked:
            return "Patron blocked: please contact the desk"
        if item.not_for_loan:
            return "Item not for loan"
        if renewing and item.loaned_to != patron.barcode:
            return "Item is not checked out to you"
        if item.loaned_to not in (None, patron.barcode):
            return "Item is checked out to another patron"
        if item.holds and item.holds[0].patron != patron.barcode:
            return "Item is on hold for another patron"
        if item.loaned_to == patron.barcode and item.renewals >= self.settings.renew_limit:
            return "Renewal limit reached"
        if not renewing and item.set_parts > 1 and item.loaned_to is None:
            policy = self.settings.sets_policy
            present = (msg.item_properties or "").removeprefix(SET_PARTS_PRESENT_PROPERTY)
            if policy == "refuse":
                return f"Set of {item.set_parts} parts: please borrow it at the desk"
            if policy == "refuse_incomplete" and present != str(item.set_parts):
                return f"Set of {item.set_parts} parts: put all parts on the pad"
        return None

    def _lend(self, msg: Checkout | Renew, item: SimItem) -> str:
        """Record the loan; returns the due date text."""
        renewal = item.loaned_to == msg.patron_identifier
        item.renewals = item.renewals + 1 if renewal else 0
        item.loaned_to = msg.patron_identifier
        if item.holds and item.holds[0].patron == msg.patron_identifier:
            item.holds.pop(0)  # the hold is filled
        item.status = "available"
        if msg.no_block and msg.nb_due_date is not None:
            item.due = format_sip_date(msg.nb_due_date)
        else:
            start = (msg.transaction_date.moment if msg.no_block and msg.transaction_date
                     else self._clock())
            item.due = self._due(start)
        return item.due

    def _checkout(self, conn: _Connection, msg: Checkout) -> CheckoutResponse:
        item = self.data.items.get(msg.item_identifier)
        media, magnetic = self._media(item)
        refusal = self._loan_refusal(msg, item, renewing=False)
        properties, set_message = self._set_info(item) if item else (None, ())
        common: dict[str, Any] = {
            "magnetic_media": magnetic, "transaction_date": self._now(),
            "institution_id": self.data.institution_id,
            "patron_identifier": msg.patron_identifier, "item_identifier": msg.item_identifier,
            "title_identifier": item.title if item else "", "media_type": media,
            "item_properties": properties}
        if refusal is not None or item is None:
            return CheckoutResponse(ok=False, renewal_ok=False, desensitize=False, due_date="",
                                    screen_message=(refusal or "", *set_message), **common)
        renewal = item.loaned_to == msg.patron_identifier
        due = self._lend(msg, item)
        return CheckoutResponse(ok=True, renewal_ok=renewal, desensitize=True, due_date=due,
                                screen_message=set_message, **common)

    def _renew(self, conn: _Connection, msg: Renew) -> RenewResponse:
        item = self.data.items.get(msg.item_identifier or "")
        media, magnetic = self._media(item)
        refusal = self._loan_refusal(msg, item, renewing=True)
        common: dict[str, Any] = {
            "magnetic_media": magnetic, "desensitize": None, "transaction_date": self._now(),
            "institution_id": self.data.institution_id,
            "patron_identifier": msg.patron_identifier,
            "item_identifier": msg.item_identifier or "",
            "title_identifier": item.title if item else "", "media_type": media}
        if refusal is not None or item is None:
            return RenewResponse(ok=False, renewal_ok=False, due_date="",
                                 screen_message=(refusal or "",), **common)
        return RenewResponse(ok=True, renewal_ok=True, due_date=self._lend(msg, item), **common)

    def _checkin(self, conn: _Connection, msg: Checkin) -> CheckinResponse:
        item = self.data.items.get(msg.item_identifier)
        if item is None:
            return CheckinResponse(
                ok=False, resensitize=False, magnetic_media=None, alert=True,
                transaction_date=self._now(), institution_id=self.data.institution_id,
                item_identifier=msg.item_identifier, permanent_location="",
                alert_type="99", screen_message=("Item not found: please take it to the desk",))
        media, magnetic = self._media(item)
        was_loaned = item.loaned_to is not None
        item.loaned_to, item.due, item.renewals = None, None, 0
        properties, messages = self._set_info(item)
        alert, alert_type, destination, sort_bin = False, None, None, item.sort_bin
        hold_patron: str | None = None
        here = conn.location
        if item.owner != self.data.institution_id:
            alert, alert_type, destination, sort_bin = True, "04", item.owner, TRANSIT_BIN
            messages += (f"Return to its owning library {item.owner}",)
        elif item.holds:
            pickup = item.holds[0].pickup
            hold_patron = item.holds[0].patron
            destination = pickup
            if pickup == here:
                item.status, alert, alert_type, sort_bin = "on-hold-shelf", True, "01", HOLDS_BIN
            else:
                item.status, alert, alert_type, sort_bin = "in-transit", True, "02", TRANSIT_BIN
        elif item.permanent_location != here:
            item.status, alert, alert_type = "in-transit", True, "04"
            destination, sort_bin = item.permanent_location, TRANSIT_BIN
        else:
            item.status = "available"
        if not was_loaned:
            messages += ("Item was not checked out",)
        return CheckinResponse(
            ok=True, resensitize=True, magnetic_media=magnetic, alert=alert,
            transaction_date=self._now(), institution_id=self.data.institution_id,
            item_identifier=item.barcode, permanent_location=item.permanent_location,
            title_identifier=item.title, sort_bin=sort_bin, media_type=media,
            item_properties=properties, destination_location=destination,
            alert_type=alert_type, call_number=item.call_number, hold_patron_id=hold_patron,
            screen_message=messages)

    # --- items -----------------------------------------------------------------------------------

    def _item_information(self, conn: _Connection, msg: ItemInformation
                          ) -> ItemInformationResponse:
        item = self.data.items.get(msg.item_identifier)
        if item is None:
            return ItemInformationResponse(
                circulation_status=CIRC_OTHER, security_marker=SECURITY_MARKER_OTHER,
                transaction_date=self._now(), item_identifier=msg.item_identifier,
                title_identifier="", screen_message=("Item not found",))
        media, _ = self._media(item)
        properties, _ = self._set_info(item)
        return ItemInformationResponse(
            circulation_status=self._circulation_status(item),
            security_marker=SECURITY_MARKER_OTHER, transaction_date=self._now(),
            hold_queue_length=str(len(item.holds)), due_date=item.due,
            item_identifier=item.barcode, title_identifier=item.title, owner=item.owner,
            media_type=media, permanent_location=item.permanent_location,
            current_location=item.permanent_location,
            item_properties=item.properties or properties, call_number=item.call_number)

    def _item_status_update(self, conn: _Connection, msg: ItemStatusUpdate
                            ) -> ItemStatusUpdateResponse:
        item = self.data.items.get(msg.item_identifier)
        if item is not None:
            item.properties = msg.item_properties
        return ItemStatusUpdateResponse(
            item_properties_ok=item is not None, transaction_date=self._now(),
            item_identifier=msg.item_identifier,
            title_identifier=item.title if item else None,
            item_properties=msg.item_properties if item else None)
