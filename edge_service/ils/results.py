# SPDX-License-Identifier: Apache-2.0
"""Typed results of the ILS calls, built from SIP2 replies.

A refusal is a result with ``ok=False`` and the ILS's screen message, never an exception. The
security decision is the ILS's: ``desensitize`` (checkout/renew) and ``resensitize`` (checkin)
say what the kiosk must do to the tag; ``None`` means the ILS answered "U" (unknown).
Results keep the raw reply (``raw``) for the journal; its patron fields are the caller's to
protect. Results do not carry patron names unless asked for (patron status/information).

Not responsible for: I/O, retries, or what a workflow does with a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.sip2 import (
    AcsStatus,
    CheckinResponse,
    CheckoutResponse,
    EndSessionResponse,
    ItemInformationResponse,
    ItemStatusUpdateResponse,
    PatronInformationResponse,
    PatronStatusResponse,
    RenewResponse,
    Sip2Error,
    SipDate,
    flags,
    parse_sip_date,
)

TENTHS_PER_S = 10
UNKNOWN_TIMEOUT = 999
OFFLINE_TIMEOUT = 0


def _yes(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    return value.strip().upper() == "Y"


def parse_due_date(text: str | None) -> SipDate | None:
    """AH is free text: a SIP2 date at most ILSs, something else at some. ``None`` if not."""
    if not text or len(text) != 18:
        return None
    try:
        return parse_sip_date(text)
    except Sip2Error:
        return None


@dataclass(frozen=True)
class AcsStatusResult:
    online: bool
    checkin_ok: bool
    checkout_ok: bool
    renewal_ok: bool
    status_update_ok: bool
    offline_ok: bool
    timeout_s: float | None  # None: 999 "unknown"; 0.0: the ACS says it is off-line
    retries_allowed: int | None
    supported: frozenset[str]
    institution_id: str
    library_name: str | None
    protocol_version: str
    raw: AcsStatus

    @classmethod
    def from_reply(cls, reply: AcsStatus) -> AcsStatusResult:
        timeout = (None if reply.timeout_period == UNKNOWN_TIMEOUT
                   else reply.timeout_period / TENTHS_PER_S)
        return cls(
            online=reply.online_status, checkin_ok=reply.checkin_ok,
            checkout_ok=reply.checkout_ok, renewal_ok=reply.acs_renewal_policy,
            status_update_ok=reply.status_update_ok, offline_ok=reply.offline_ok,
            timeout_s=timeout,
            retries_allowed=None if reply.retries_allowed == UNKNOWN_TIMEOUT
            else reply.retries_allowed,
            supported=flags.supported_messages(reply.supported_messages),
            institution_id=reply.institution_id, library_name=reply.library_name,
            protocol_version=reply.protocol_version, raw=reply)


@dataclass(frozen=True)
class PatronStatusResult:
    """Patron validity: ``valid`` (BL), ``password_valid`` (CQ; ``None`` if not checked) and
    every patron status flag that is set, by name (``blocks``)."""

    valid: bool | None
    password_valid: bool | None
    blocks: tuple[str, ...]
    personal_name: str
    fee_amount: str | None
    currency: str | None
    screen_message: tuple[str, ...]
    raw: PatronStatusResponse | PatronInformationResponse

    @property
    def may_borrow(self) -> bool:
        """Valid, password not refused, and charge privileges not denied."""
        return (self.valid is not False and self.password_valid is not False
                and flags.PATRON_STATUS_FLAGS[flags.CHARGE_PRIVILEGES_DENIED] not in self.blocks)

    @classmethod
    def from_reply(cls, reply: PatronStatusResponse | PatronInformationResponse
                   ) -> PatronStatusResult:
        return cls(
            valid=_yes(reply.valid_patron), password_valid=_yes(reply.valid_patron_password),
            blocks=flags.patron_status_flags(reply.patron_status),
            personal_name=reply.personal_name, fee_amount=reply.fee_amount,
            currency=reply.currency_type, screen_message=reply.screen_message, raw=reply)


@dataclass(frozen=True)
class PatronInformationResult:
    status: PatronStatusResult
    hold_items_count: int
    overdue_items_count: int
    charged_items_count: int
    fine_items_count: int
    unavailable_holds_count: int
    hold_items: tuple[str, ...]  # available holds (AS), kept apart from CD (rero-ils #3173)
    unavailable_hold_items: tuple[str, ...]
    charged_items: tuple[str, ...]
    overdue_items: tuple[str, ...]
    fine_items: tuple[str, ...]
    email_address: str | None
    raw: PatronInformationResponse

    @classmethod
    def from_reply(cls, reply: PatronInformationResponse) -> PatronInformationResult:
        return cls(
            status=PatronStatusResult.from_reply(reply),
            hold_items_count=reply.hold_items_count,
            overdue_items_count=reply.overdue_items_count,
            charged_items_count=reply.charged_items_count,
            fine_items_count=reply.fine_items_count,
            unavailable_holds_count=reply.unavailable_holds_count,
            hold_items=reply.hold_items, unavailable_hold_items=reply.unavailable_hold_items,
            charged_items=reply.charged_items, overdue_items=reply.overdue_items,
            fine_items=reply.fine_items, email_address=reply.email_address, raw=reply)


@dataclass(frozen=True)
class LoanResult:
    """Checkout or renew: ``ok``, what to do with security, the due date and messages."""

    ok: bool
    item_id: str
    desensitize: bool | None
    renewal_ok: bool
    magnetic_media: bool | None
    security_inhibit: bool
    due_date: SipDate | None
    due_date_text: str
    title: str
    media_type: str | None
    item_properties: str | None
    fee_amount: str | None
    transaction_id: str | None
    screen_message: tuple[str, ...]
    print_line: tuple[str, ...]
    raw: CheckoutResponse | RenewResponse

    @classmethod
    def from_reply(cls, reply: CheckoutResponse | RenewResponse) -> LoanResult:
        return cls(
            ok=reply.ok, item_id=reply.item_identifier, desensitize=reply.desensitize,
            renewal_ok=reply.renewal_ok, magnetic_media=reply.magnetic_media,
            security_inhibit=_yes(reply.security_inhibit) is True,
            due_date=parse_due_date(reply.due_date), due_date_text=reply.due_date,
            title=reply.title_identifier, media_type=reply.media_type,
            item_properties=reply.item_properties, fee_amount=reply.fee_amount,
            transaction_id=reply.transaction_id, screen_message=reply.screen_message,
            print_line=reply.print_line, raw=reply)


CheckoutResult = LoanResult
RenewResult = LoanResult


@dataclass(frozen=True)
class CheckinResult:
    """Checkin: ``resensitize``, and the sorting instructions (alert, CV type, CT destination,
    CL sort bin) that drive AMH bins and "take to the desk" prompts."""

    ok: bool
    item_id: str
    resensitize: bool
    magnetic_media: bool | None
    alert: bool
    alert_type: str | None
    sort_bin: str | None
    destination_location: str | None
    permanent_location: str
    title: str | None
    call_number: str | None
    item_properties: str | None
    hold_pending: bool  # the ILS named a hold patron (CY/DA); the id itself stays in ``raw``
    screen_message: tuple[str, ...]
    print_line: tuple[str, ...]
    raw: CheckinResponse

    @classmethod
    def from_reply(cls, reply: CheckinResponse) -> CheckinResult:
        return cls(
            ok=reply.ok, item_id=reply.item_identifier, resensitize=reply.resensitize,
            magnetic_media=reply.magnetic_media, alert=reply.alert, alert_type=reply.alert_type,
            sort_bin=reply.sort_bin, destination_location=reply.destination_location,
            permanent_location=reply.permanent_location, title=reply.title_identifier,
            call_number=reply.call_number, item_properties=reply.item_properties,
            hold_pending=bool(reply.hold_patron_id or reply.hold_patron_name),
            screen_message=reply.screen_message, print_line=reply.print_line, raw=reply)


@dataclass(frozen=True)
class ItemInformationResult:
    item_id: str
    circulation_status: int
    circulation_status_name: str
    security_marker: int
    title: str
    owner: str | None
    due_date: SipDate | None
    hold_queue_length: int | None
    media_type: str | None
    permanent_location: str | None
    current_location: str | None
    item_properties: str | None
    screen_message: tuple[str, ...]
    raw: ItemInformationResponse

    @property
    def known(self) -> bool:
        """ILSs answer unknown items with status 01 "other" and an empty title."""
        return not (self.circulation_status == 1 and not self.title)

    @classmethod
    def from_reply(cls, reply: ItemInformationResponse) -> ItemInformationResult:
        queue = reply.hold_queue_length
        return cls(
            item_id=reply.item_identifier, circulation_status=reply.circulation_status,
            circulation_status_name=flags.CIRCULATION_STATUS.get(reply.circulation_status,
                                                                 "unknown code"),
            security_marker=reply.security_marker, title=reply.title_identifier,
            owner=reply.owner, due_date=parse_due_date(reply.due_date),
            hold_queue_length=int(queue) if queue and queue.strip().isdigit() else None,
            media_type=reply.media_type, permanent_location=reply.permanent_location,
            current_location=reply.current_location, item_properties=reply.item_properties,
            screen_message=reply.screen_message, raw=reply)


@dataclass(frozen=True)
class EndSessionResult:
    ended: bool
    screen_message: tuple[str, ...]
    raw: EndSessionResponse

    @classmethod
    def from_reply(cls, reply: EndSessionResponse) -> EndSessionResult:
        return cls(ended=reply.end_session, screen_message=reply.screen_message, raw=reply)


@dataclass(frozen=True)
class ItemStatusUpdateResult:
    ok: bool
    title: str | None
    screen_message: tuple[str, ...]
    raw: ItemStatusUpdateResponse

    @classmethod
    def from_reply(cls, reply: ItemStatusUpdateResponse) -> ItemStatusUpdateResult:
        return cls(ok=reply.item_properties_ok, title=reply.title_identifier,
                   screen_message=reply.screen_message, raw=reply)
