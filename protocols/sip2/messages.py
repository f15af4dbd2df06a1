# SPDX-License-Identifier: Apache-2.0
"""The SIP2 messages LibEdge speaks, as frozen dataclasses that read like the 3M spec's tables.

Each class declares its fixed fields in wire order (:func:`~protocols.sip2.fields.fixed`), then
its variable fields in the order they are sent (:func:`~protocols.sip2.fields.variable`), with
one line of spec text each (3M SIP2 Developers Guide v2.00, as quoted by FOLIO edge-sip2 and
JSIP2; landscape.md §D). Extension fields that ILSs actually send (CT/CV/CS/CY from FOLIO, Koha
and Sierra on check-in) are declared as optional fields.

``extra`` keeps every field the layout does not name, in the order received, as
``(code, value)`` pairs; it is also where a repeated non-repeatable field goes. Nothing a peer
sent is lost, and :func:`~protocols.sip2.codec.encode` writes ``extra`` after the known fields.

:class:`UnknownMessage` stands for a structurally valid line whose message id is not in the
catalogue; it is returned only when the caller asks for it (``decode(..., keep_unknown=True)``).

Not responsible for: message ids pairing (:mod:`protocols.sip2.catalogue`), bytes, checksums.
"""

# ruff: noqa: RUF009  - fixed()/variable() return dataclasses.field(...) carrying the layout

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from protocols.sip2.dates import SipDate
from protocols.sip2.errors import Sip2Error
from protocols.sip2.fields import (
    FORBIDDEN_IN_VALUES,
    FixedKind,
    Layout,
    check_fixed,
    fixed,
    layout,
    variable,
)

_B01, _YN, _YNU, _NUM, _TEXT, _FLAGS, _DATE = (
    FixedKind.BOOL01, FixedKind.YN, FixedKind.YNU, FixedKind.NUMBER, FixedKind.TEXT,
    FixedKind.FLAGS, FixedKind.DATE,
)
_AF = "screen message: text for the patron; repeatable"
_AG = "print line: text for a receipt; repeatable"
_AO = "institution id: the library's institution id"
_AA = "patron identifier"
_AB = "item identifier"
_AC = "terminal password"
_AD = "patron password / PIN"
_CH = "item properties: free text the ACS stores with the item"
_DATE_SPEC = "transaction date YYYYMMDDZZZZHHMMSS"
_LANG = "language: 3 digits, 000 unknown, 001 English"


def _check_code(code: object) -> bool:
    return (isinstance(code, str) and len(code) == 2 and code.isascii() and code.isprintable()
            and not (set(code) & FORBIDDEN_IN_VALUES))


def _check_value(value: object) -> bool:
    return isinstance(value, str) and not (set(value) & FORBIDDEN_IN_VALUES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every SIP2 message: the id, and the fields nobody declared, kept in order."""

    ID: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        table = LAYOUTS[type(self)]
        for spec in table.fixed:
            check_fixed(spec, getattr(self, spec.attr))
        by_code = table.by_code()
        for field_spec in table.variable:
            value = getattr(self, field_spec.attr)
            values = value if field_spec.repeatable else (value,)
            if field_spec.repeatable and not isinstance(value, tuple):
                raise Sip2Error("a repeatable field takes a tuple of str", field=field_spec.code)
            for v in values:
                if v is None and not field_spec.required and not field_spec.repeatable:
                    continue
                if not _check_value(v):
                    raise Sip2Error("value must be str without '|', CR or LF",
                                    field=field_spec.code)
        for pair in self.extra:
            if not (isinstance(pair, tuple) and len(pair) == 2 and _check_code(pair[0])
                    and _check_value(pair[1])):
                raise Sip2Error("extra fields are (two-character code, str without '|') pairs")
            known = by_code.get(pair[0])
            # A known code may appear in extra only as a repeat of a field that is present,
            # so that decode(encode(m)) == m holds.
            if known is not None and (known.repeatable or getattr(self, known.attr) is None):
                raise Sip2Error("known field given as extra", field=pair[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage:
    """A line with a well-formed two-digit id that the catalogue does not know; ``body`` is
    everything after the id (before AY/AZ), decoded in the session's charset."""

    command: str
    body: str

    def __post_init__(self) -> None:
        if not (len(self.command) == 2 and self.command.isascii() and self.command.isdigit()):
            raise Sip2Error("message id is two digits", field="message id")
        if not _check_value(self.body.replace("|", "")):
            raise Sip2Error("body must not contain CR or LF")


# --- session: 93/94 login, 99/98 status, 97/96 resend -------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Login(Message):
    ID: ClassVar[str] = "93"
    NAME: ClassVar[str] = "Login"
    uid_algorithm: str = fixed(_TEXT, 1, "UID algorithm: 0 = not encrypted", default="0")
    pwd_algorithm: str = fixed(_TEXT, 1, "PWD algorithm: 0 = not encrypted", default="0")
    login_user_id: str = variable("CN", "login user id: the SC's account at the ACS", required=True)
    login_password: str = variable("CO", "login password", required=True)
    location_code: str | None = variable("CP", "location code: where the SC stands")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginResponse(Message):
    ID: ClassVar[str] = "94"
    NAME: ClassVar[str] = "Login Response"
    ok: bool = fixed(_B01, 1, "ok: 1 = login accepted, 0 = refused")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScStatus(Message):
    ID: ClassVar[str] = "99"
    NAME: ClassVar[str] = "SC Status"
    status_code: int = fixed(_NUM, 1, "status code: 0 OK, 1 printer out of paper, 2 shutting down")
    max_print_width: int = fixed(_NUM, 3, "max print width in characters")
    protocol_version: str = fixed(_TEXT, 4, "protocol version: x.xx", default="2.00")


@dataclass(frozen=True, slots=True, kw_only=True)
class AcsStatus(Message):
    ID: ClassVar[str] = "98"
    NAME: ClassVar[str] = "ACS Status"
    online_status: bool = fixed(_YN, 1, "on-line status")
    checkin_ok: bool = fixed(_YN, 1, "checkin ok: the SC may check items in")
    checkout_ok: bool = fixed(_YN, 1, "checkout ok: the SC may check items out")
    acs_renewal_policy: bool = fixed(_YN, 1, "ACS renewal policy: the SC may renew")
    status_update_ok: bool = fixed(_YN, 1, "status update ok: patron status may be changed")
    offline_ok: bool = fixed(_YN, 1, "off-line ok: the ACS accepts stored off-line transactions")
    timeout_period: int = fixed(_NUM, 3, "timeout period, 1/10 s; 000 ACS off-line, 999 unknown")
    retries_allowed: int = fixed(_NUM, 3, "retries allowed; 999 unknown")
    date_time_sync: SipDate | None = fixed(_DATE, 18, "date / time sync: the ACS's clock")
    protocol_version: str = fixed(_TEXT, 4, "protocol version: x.xx", default="2.00")
    institution_id: str = variable("AO", _AO, required=True)
    library_name: str | None = variable("AM", "library name")
    supported_messages: str = variable("BX", "supported messages: 16 Y/N positions", required=True)
    terminal_location: str | None = variable("AN", "terminal location")
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestAcsResend(Message):
    """SC -> ACS: "repeat your last message" (after a bad checksum); no sequence number."""

    ID: ClassVar[str] = "97"
    NAME: ClassVar[str] = "Request ACS Resend"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestScResend(Message):
    """ACS -> SC: "repeat your last message"; no sequence number."""

    ID: ClassVar[str] = "96"
    NAME: ClassVar[str] = "Request SC Resend"


# --- patrons: 23/24, 63/64, 35/36, 37/38 -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PatronStatusRequest(Message):
    ID: ClassVar[str] = "23"
    NAME: ClassVar[str] = "Patron Status Request"
    language: str = fixed(_TEXT, 3, _LANG, default="000")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    terminal_password: str = variable("AC", _AC, required=True)
    patron_password: str = variable("AD", _AD, required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class PatronStatusResponse(Message):
    ID: ClassVar[str] = "24"
    NAME: ClassVar[str] = "Patron Status Response"
    patron_status: str = fixed(_FLAGS, 14, "patron status: 14 flags, Y = denied (flags.py)")
    language: str = fixed(_TEXT, 3, _LANG, default="000")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    personal_name: str = variable("AE", "personal name", required=True)
    valid_patron: str | None = variable("BL", "valid patron: Y/N")
    valid_patron_password: str | None = variable("CQ", "valid patron password: Y/N")
    currency_type: str | None = variable("BH", "currency type: ISO 4217, e.g. USD")
    fee_amount: str | None = variable("BV", "fee amount outstanding")
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class PatronInformation(Message):
    ID: ClassVar[str] = "63"
    NAME: ClassVar[str] = "Patron Information"
    language: str = fixed(_TEXT, 3, _LANG, default="000")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    summary: str = fixed(_FLAGS, 10, "summary: Y at one position selects the detail list")
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    terminal_password: str | None = variable("AC", _AC)
    patron_password: str | None = variable("AD", _AD)
    start_item: str | None = variable("BP", "start item: first list entry to send, from 1")
    end_item: str | None = variable("BQ", "end item: last list entry to send")


@dataclass(frozen=True, slots=True, kw_only=True)
class PatronInformationResponse(Message):
    ID: ClassVar[str] = "64"
    NAME: ClassVar[str] = "Patron Information Response"
    patron_status: str = fixed(_FLAGS, 14, "patron status: 14 flags (flags.py)")
    language: str = fixed(_TEXT, 3, _LANG, default="000")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    hold_items_count: int = fixed(_NUM, 4, "hold items count")
    overdue_items_count: int = fixed(_NUM, 4, "overdue items count")
    charged_items_count: int = fixed(_NUM, 4, "charged items count")
    fine_items_count: int = fixed(_NUM, 4, "fine items count")
    recall_items_count: int = fixed(_NUM, 4, "recall items count")
    unavailable_holds_count: int = fixed(_NUM, 4, "unavailable holds count")
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    personal_name: str = variable("AE", "personal name", required=True)
    hold_items_limit: str | None = variable("BZ", "hold items limit")
    overdue_items_limit: str | None = variable("CA", "overdue items limit")
    charged_items_limit: str | None = variable("CB", "charged items limit")
    valid_patron: str | None = variable("BL", "valid patron: Y/N")
    valid_patron_password: str | None = variable("CQ", "valid patron password: Y/N")
    currency_type: str | None = variable("BH", "currency type")
    fee_amount: str | None = variable("BV", "fee amount outstanding")
    fee_limit: str | None = variable("CC", "fee limit")
    hold_items: tuple[str, ...] = variable("AS", "hold items (available): repeatable",
                                           repeatable=True)
    overdue_items: tuple[str, ...] = variable("AT", "overdue items", repeatable=True)
    charged_items: tuple[str, ...] = variable("AU", "charged items", repeatable=True)
    fine_items: tuple[str, ...] = variable("AV", "fine items", repeatable=True)
    recall_items: tuple[str, ...] = variable("BU", "recall items", repeatable=True)
    unavailable_hold_items: tuple[str, ...] = variable("CD", "unavailable hold items",
                                                       repeatable=True)
    home_address: str | None = variable("BD", "home address")
    email_address: str | None = variable("BE", "e-mail address")
    home_phone_number: str | None = variable("BF", "home phone number")
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndPatronSession(Message):
    ID: ClassVar[str] = "35"
    NAME: ClassVar[str] = "End Patron Session"
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    terminal_password: str | None = variable("AC", _AC)
    patron_password: str | None = variable("AD", _AD)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndSessionResponse(Message):
    ID: ClassVar[str] = "36"
    NAME: ClassVar[str] = "End Session Response"
    end_session: bool = fixed(_YN, 1, "end session: Y = the ACS ended the patron's session")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeePaid(Message):
    ID: ClassVar[str] = "37"
    NAME: ClassVar[str] = "Fee Paid"
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    fee_type: int = fixed(_NUM, 2, "fee type: 01 other/unknown .. 09 (flags.FEE_TYPES)")
    payment_type: int = fixed(_NUM, 2, "payment type: 00 cash, 01 VISA, 02 credit card")
    currency_type: str = fixed(_TEXT, 3, "currency type: ISO 4217", default="USD")
    fee_amount: str = variable("BV", "fee amount paid", required=True)
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    terminal_password: str | None = variable("AC", _AC)
    patron_password: str | None = variable("AD", _AD)
    fee_identifier: str | None = variable("CG", "fee identifier: which fee is paid")
    transaction_id: str | None = variable("BK", "transaction id")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeePaidResponse(Message):
    ID: ClassVar[str] = "38"
    NAME: ClassVar[str] = "Fee Paid Response"
    payment_accepted: bool = fixed(_YN, 1, "payment accepted")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    transaction_id: str | None = variable("BK", "transaction id")
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


# --- circulation: 11/12, 09/10, 29/30 ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkout(Message):
    ID: ClassVar[str] = "11"
    NAME: ClassVar[str] = "Checkout"
    sc_renewal_policy: bool = fixed(_YN, 1, "SC renewal policy: Y = the SC allows renewal here")
    no_block: bool = fixed(_YN, 1, "no block: Y = already done off-line, the ACS must not refuse")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC + " (off-line: original)")
    nb_due_date: SipDate | None = fixed(_DATE, 18, "nb due date: due date given off-line")
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    item_identifier: str = variable("AB", _AB, required=True)
    terminal_password: str = variable("AC", _AC, required=True)
    item_properties: str | None = variable("CH", _CH)
    patron_password: str | None = variable("AD", _AD)
    fee_acknowledged: str | None = variable("BO", "fee acknowledged: Y/N")
    cancel: str | None = variable("BI", "cancel: Y = undo an unfinished checkin")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutResponse(Message):
    ID: ClassVar[str] = "12"
    NAME: ClassVar[str] = "Checkout Response"
    ok: bool = fixed(_B01, 1, "ok: 1 = checked out")
    renewal_ok: bool = fixed(_YN, 1, "renewal ok: Y = the item was already out to this patron")
    magnetic_media: bool | None = fixed(_YNU, 1, "magnetic media: Y = do not demagnetize")
    desensitize: bool | None = fixed(_YNU, 1, "desensitize: Y = the SC must unsecure the item")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    item_identifier: str = variable("AB", _AB, required=True)
    title_identifier: str = variable("AJ", "title identifier", required=True)
    due_date: str = variable("AH", "due date: free text, often a SIP2 date", required=True)
    fee_type: str | None = variable("BT", "fee type")
    security_inhibit: str | None = variable("CI", "security inhibit: Y = ignore security")
    currency_type: str | None = variable("BH", "currency type")
    fee_amount: str | None = variable("BV", "fee amount")
    media_type: str | None = variable("CK", "media type: 3 digits (flags.MEDIA_TYPES)")
    item_properties: str | None = variable("CH", _CH)
    transaction_id: str | None = variable("BK", "transaction id")
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkin(Message):
    ID: ClassVar[str] = "09"
    NAME: ClassVar[str] = "Checkin"
    no_block: bool = fixed(_YN, 1, "no block: Y = already done off-line")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    return_date: SipDate | None = fixed(_DATE, 18, "return date: when the item was returned")
    current_location: str = variable("AP", "current location: where the item is now",
                                     required=True)
    institution_id: str = variable("AO", _AO, required=True)
    item_identifier: str = variable("AB", _AB, required=True)
    terminal_password: str = variable("AC", _AC, required=True)
    item_properties: str | None = variable("CH", _CH)
    cancel: str | None = variable("BI", "cancel: Y = undo an unfinished checkout")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckinResponse(Message):
    ID: ClassVar[str] = "10"
    NAME: ClassVar[str] = "Checkin Response"
    ok: bool = fixed(_B01, 1, "ok: 1 = checked in")
    resensitize: bool = fixed(_YN, 1, "resensitize: Y = the SC must re-secure the item")
    magnetic_media: bool | None = fixed(_YNU, 1, "magnetic media: Y = do not demagnetize")
    alert: bool = fixed(_YN, 1, "alert: Y = set the item aside (hold, transfer, problem)")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    item_identifier: str = variable("AB", _AB, required=True)
    permanent_location: str = variable("AQ", "permanent location", required=True)
    title_identifier: str | None = variable("AJ", "title identifier")
    sort_bin: str | None = variable("CL", "sort bin: AMH bin for the item")
    patron_identifier: str | None = variable("AA", "patron identifier (FOLIO extension)")
    media_type: str | None = variable("CK", "media type")
    item_properties: str | None = variable("CH", _CH)
    destination_location: str | None = variable("CT", "destination location (extension)")
    alert_type: str | None = variable("CV", "alert type: 01 hold here, 02 hold elsewhere, 04 send")
    call_number: str | None = variable("CS", "call number (extension)")
    hold_patron_id: str | None = variable("CY", "hold patron id (extension)")
    hold_patron_name: str | None = variable("DA", "hold patron name (extension)")
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Renew(Message):
    ID: ClassVar[str] = "29"
    NAME: ClassVar[str] = "Renew"
    third_party_allowed: bool = fixed(_YN, 1, "third party allowed: Y = renew a loan of another")
    no_block: bool = fixed(_YN, 1, "no block: Y = already done off-line")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    nb_due_date: SipDate | None = fixed(_DATE, 18, "nb due date: due date given off-line")
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    patron_password: str | None = variable("AD", _AD)
    item_identifier: str | None = variable("AB", _AB)
    title_identifier: str | None = variable("AJ", "title identifier")
    terminal_password: str | None = variable("AC", _AC)
    item_properties: str | None = variable("CH", _CH)
    fee_acknowledged: str | None = variable("BO", "fee acknowledged: Y/N")


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewResponse(Message):
    ID: ClassVar[str] = "30"
    NAME: ClassVar[str] = "Renew Response"
    ok: bool = fixed(_B01, 1, "ok: 1 = renewed")
    renewal_ok: bool = fixed(_YN, 1, "renewal ok")
    magnetic_media: bool | None = fixed(_YNU, 1, "magnetic media")
    desensitize: bool | None = fixed(_YNU, 1, "desensitize")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    patron_identifier: str = variable("AA", _AA, required=True)
    item_identifier: str = variable("AB", _AB, required=True)
    title_identifier: str = variable("AJ", "title identifier", required=True)
    due_date: str = variable("AH", "due date", required=True)
    fee_type: str | None = variable("BT", "fee type")
    security_inhibit: str | None = variable("CI", "security inhibit")
    currency_type: str | None = variable("BH", "currency type")
    fee_amount: str | None = variable("BV", "fee amount")
    media_type: str | None = variable("CK", "media type")
    item_properties: str | None = variable("CH", _CH)
    transaction_id: str | None = variable("BK", "transaction id")
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


# --- items: 17/18, 19/20 -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemInformation(Message):
    ID: ClassVar[str] = "17"
    NAME: ClassVar[str] = "Item Information"
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    item_identifier: str = variable("AB", _AB, required=True)
    terminal_password: str | None = variable("AC", _AC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemInformationResponse(Message):
    ID: ClassVar[str] = "18"
    NAME: ClassVar[str] = "Item Information Response"
    circulation_status: int = fixed(_NUM, 2, "circulation status 01..13 (flags.CIRCULATION_STATUS)")
    security_marker: int = fixed(_NUM, 2, "security marker: 00 other, 01 none, 02 tattle-tape, 03 "
                                          "whisper tape")
    fee_type: int = fixed(_NUM, 2, "fee type", default=1)
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    hold_queue_length: str | None = variable("CF", "hold queue length")
    due_date: str | None = variable("AH", "due date")
    recall_date: str | None = variable("CJ", "recall date")
    hold_pickup_date: str | None = variable("CM", "hold pickup date")
    item_identifier: str = variable("AB", _AB, required=True)
    title_identifier: str = variable("AJ", "title identifier", required=True)
    owner: str | None = variable("BG", "owner: institution owning the item")
    currency_type: str | None = variable("BH", "currency type")
    fee_amount: str | None = variable("BV", "fee amount")
    media_type: str | None = variable("CK", "media type")
    permanent_location: str | None = variable("AQ", "permanent location")
    current_location: str | None = variable("AP", "current location")
    item_properties: str | None = variable("CH", _CH)
    destination_location: str | None = variable("CT", "destination location (extension)")
    call_number: str | None = variable("CS", "call number (extension)")
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemStatusUpdate(Message):
    ID: ClassVar[str] = "19"
    NAME: ClassVar[str] = "Item Status Update"
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    institution_id: str = variable("AO", _AO, required=True)
    item_identifier: str = variable("AB", _AB, required=True)
    terminal_password: str | None = variable("AC", _AC)
    item_properties: str = variable("CH", _CH, required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemStatusUpdateResponse(Message):
    ID: ClassVar[str] = "20"
    NAME: ClassVar[str] = "Item Status Update Response"
    item_properties_ok: bool = fixed(_B01, 1, "item properties ok: 1 = stored")
    transaction_date: SipDate | None = fixed(_DATE, 18, _DATE_SPEC)
    item_identifier: str = variable("AB", _AB, required=True)
    title_identifier: str | None = variable("AJ", "title identifier")
    item_properties: str | None = variable("CH", _CH)
    screen_message: tuple[str, ...] = variable("AF", _AF, repeatable=True)
    print_line: tuple[str, ...] = variable("AG", _AG, repeatable=True)


MESSAGE_CLASSES: tuple[type[Message], ...] = (
    Login, LoginResponse, ScStatus, AcsStatus, RequestAcsResend, RequestScResend,
    PatronStatusRequest, PatronStatusResponse, PatronInformation, PatronInformationResponse,
    EndPatronSession, EndSessionResponse, FeePaid, FeePaidResponse,
    Checkout, CheckoutResponse, Checkin, CheckinResponse, Renew, RenewResponse,
    ItemInformation, ItemInformationResponse, ItemStatusUpdate, ItemStatusUpdateResponse,
)

# The layout tables, read once from the declarations above (a constant, like any table here).
LAYOUTS: Mapping[type[Message], Layout] = MappingProxyType(
    {cls: layout(cls) for cls in MESSAGE_CLASSES})


def field_values(message: Message) -> dict[str, object]:
    """Attribute name -> value for every declared field (for tests and diagnostics)."""
    return {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
