# SPDX-License-Identifier: Apache-2.0
"""Circulation requests from a node to the catalog gateway, and the gateway's replies.

    request         topic (after lib/v1/{tenant}/{site})   payload
    circ.patron     {node}/req/circ.patron                 PatronCheckRequest
    circ.checkout   {node}/req/circ.checkout               CheckoutRequest
    circ.checkin    {node}/req/circ.checkin                CheckinRequest
    circ.item       {node}/req/circ.item                   ItemInfoRequest
    circ.renew      {node}/req/circ.renew                  RenewRequest
    circ.loans      {node}/req/circ.loans                  PatronLoansRequest
    sync.items      {node}/req/sync.items                  SyncItemsRequest (snapshot pages)
    (reply)         {node}/rsp                             CirculationReply

Commands (``cmd``/``res``) go from central to a node; these go the other way: the node asks,
one gateway instance answers on the node's own ``rsp`` topic. Every request carries ``corr``
(the reply's key, and the gateway's de-duplication key together with the node) and
``expires`` (the gateway does not start a request that has expired: the kiosk has given up and
may have gone off-line). Items are keyed by ``owner_institution`` + ``primary_item_id``.

Patron data: a patron check, a checkout, a renewal and a loans list must reach the ILS with the
patron's barcode and PIN, so ``patron_id`` and ``pin`` travel in clear in these request payloads
(and nowhere else: not in topics, not in replies, not in events, not in logs). A ``circ.loans``
reply lists the patron's loans by item id only, for the kiosk screen that asked. The privacy guard
(:mod:`protocols.contract.privacy`) keeps applying to events and command responses; replies
carry no patron identifier and no name. ``screen_message`` is for the kiosk's screen only: it
may greet the patron by name and must not be logged or copied into events.

Off-line replays: ``offline: true`` with the original ``transaction_time`` (required then) and
the id of the node's off-line event (``related_event``), so a refusal becomes a
``lib.exception.v1`` that points at it.

Not responsible for: MQTT properties and sessions, the SIP2 conversation, retries.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from protocols.contract.errors import ContractError
from protocols.contract.events import EVENT_ID
from protocols.contract.fields import (
    Array,
    Boolean,
    Choice,
    Integer,
    Message,
    Nested,
    Nullable,
    Text,
    message,
    spec,
)
from protocols.contract.messages import (
    CIRCULATION_STATUS,
    CORR,
    ID,
    ISIL,
    ITEM_ID,
    NAME,
    TIME,
    ResponseError,
)
from protocols.contract.timefmt import parse_time
from protocols.contract.topics import MAX_SNAPSHOT_PAGES

PATRON_ID = Text(64, "[!-~]+")        # a library card barcode: printable ASCII, no spaces
PIN = Text(64)
SCREEN_TEXT = Text(512)
MAX_SCREEN_LINES = 8
MAX_BLOCKS = 14                       # the 14 SIP2 patron status flags
MAX_LOANS = 50
"""Item ids in one ``circ.loans`` reply (``loans``, and ``overdue``): a kiosk screen's worth."""
MAX_LIST_POSITION = 9_999             # SIP2 BP/BQ and the 4-digit counts of message 64

ReplyStatus = Literal["ok", "error"]
RequestName = Literal["circ.patron", "circ.checkout", "circ.checkin", "circ.item", "circ.renew",
                      "circ.loans", "sync.items"]
YesNoUnknown = Literal["Y", "N", "U"]


class _Request(Message):
    NAME: ClassVar[str] = ""
    corr: str
    expires: str

    def is_expired(self, now_ms: int) -> bool:
        """Whether the gateway must not start it any more."""
        return now_ms >= parse_time(self.expires)


def _check_offline(request: Message) -> None:
    if getattr(request, "offline", False) and getattr(request, "transaction_time", None) is None:
        raise ContractError("is required when offline is true", field="transaction_time")


@message
class PatronCheckRequest(_Request):
    """``circ.patron``: is this card valid, is the PIN right, may the patron borrow?"""

    NAME: ClassVar[str] = "circ.patron"
    corr: str = spec(CORR)
    expires: str = spec(TIME)
    patron_id: str = spec(PATRON_ID)
    pin: str | None = spec(Nullable(PIN), default=None)


@message
class CheckoutRequest(_Request):
    """``circ.checkout``; ``set_parts_present``: how many parts of a set were on the pad."""

    NAME: ClassVar[str] = "circ.checkout"
    corr: str = spec(CORR)
    expires: str = spec(TIME)
    primary_item_id: str = spec(ITEM_ID)
    owner_institution: str = spec(ISIL)
    patron_id: str = spec(PATRON_ID)
    offline: bool = spec(Boolean(), default=False)
    pin: str | None = spec(Nullable(PIN), default=None)
    transaction_time: str | None = spec(Nullable(TIME), default=None)
    related_event: str | None = spec(Nullable(EVENT_ID), default=None)
    set_parts_present: int | None = spec(Nullable(Integer(1, 255)), default=None)

    def validate(self) -> None:
        _check_offline(self)


@message
class CheckinRequest(_Request):
    """``circ.checkin``; ``location``: the SIP2 location code of the returning point."""

    NAME: ClassVar[str] = "circ.checkin"
    corr: str = spec(CORR)
    expires: str = spec(TIME)
    primary_item_id: str = spec(ITEM_ID)
    owner_institution: str = spec(ISIL)
    offline: bool = spec(Boolean(), default=False)
    transaction_time: str | None = spec(Nullable(TIME), default=None)
    related_event: str | None = spec(Nullable(EVENT_ID), default=None)
    location: str | None = spec(Nullable(Text(64)), default=None)

    def validate(self) -> None:
        _check_offline(self)


@message
class ItemInfoRequest(_Request):
    """``circ.item``: the ILS's view of one item."""

    NAME: ClassVar[str] = "circ.item"
    corr: str = spec(CORR)
    expires: str = spec(TIME)
    primary_item_id: str = spec(ITEM_ID)
    owner_institution: str = spec(ISIL)


@message
class RenewRequest(_Request):
    """``circ.renew``."""

    NAME: ClassVar[str] = "circ.renew"
    corr: str = spec(CORR)
    expires: str = spec(TIME)
    primary_item_id: str = spec(ITEM_ID)
    owner_institution: str = spec(ISIL)
    patron_id: str = spec(PATRON_ID)
    offline: bool = spec(Boolean(), default=False)
    pin: str | None = spec(Nullable(PIN), default=None)
    transaction_time: str | None = spec(Nullable(TIME), default=None)
    related_event: str | None = spec(Nullable(EVENT_ID), default=None)

    def validate(self) -> None:
        _check_offline(self)


def loans_window(start: int | None, end: int | None) -> tuple[int, int]:
    """The 1-based, inclusive positions of the patron's list that one ``circ.loans`` reply
    covers: ``start`` (null: 1) to ``end`` (null: as far as one reply goes), never more than
    :data:`MAX_LOANS` positions (a wider window is served up to that)."""
    first = 1 if start is None else start
    last = first + MAX_LOANS - 1
    return first, last if end is None else min(end, last)


@message
class PatronLoansRequest(_Request):
    """``circ.loans``: the patron's loans (item ids), positions ``start`` to ``end`` of the
    ILS's list (1-based, inclusive; see :func:`loans_window`), and the overdue ones."""

    NAME: ClassVar[str] = "circ.loans"
    corr: str = spec(CORR)
    expires: str = spec(TIME)
    patron_id: str = spec(PATRON_ID)
    pin: str | None = spec(Nullable(PIN), default=None)
    start: int | None = spec(Nullable(Integer(1, MAX_LIST_POSITION)), default=None)
    end: int | None = spec(Nullable(Integer(1, MAX_LIST_POSITION)), default=None)

    def validate(self) -> None:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ContractError("must not be less than start", field="end")


@message
class SyncItemsRequest(_Request):
    """``sync.items``: send the site's item snapshot (``items/snapshot/{page}``); the reply
    says which ``snapshot_id``, how many ``pages`` and ``seq_at_snapshot``."""

    NAME: ClassVar[str] = "sync.items"
    corr: str = spec(CORR)
    expires: str = spec(TIME)


CirculationRequest = (PatronCheckRequest | CheckoutRequest | CheckinRequest | ItemInfoRequest
                      | RenewRequest | PatronLoansRequest | SyncItemsRequest)
REQUEST_TYPES: dict[str, type[CirculationRequest]] = {
    cls.NAME: cls for cls in (PatronCheckRequest, CheckoutRequest, CheckinRequest,
                              ItemInfoRequest, RenewRequest, PatronLoansRequest,
                              SyncItemsRequest)}


def decode_request(name: str, payload: bytes) -> CirculationRequest:
    """The typed request for the topic's ``name``; ContractError for an unknown name
    (``field="request"``) or a payload outside its schema."""
    cls = REQUEST_TYPES.get(name)
    if cls is None:
        raise ContractError(f"{name!r} is not a circulation request of v1", field="request")
    return cls.from_json(payload)


@message
class CirculationOutcome(Message):
    """What the ILS answered; each request fills the fields it has (the rest stay null).

    ``ok``: the ILS did it (checkout/checkin/renew) or the card is usable (patron check).
    Checkout/renew: ``desensitize``, ``due``, ``renewal`` (SIP2 renewal ok: the item was
    already on loan to this patron, so the checkout renewed it); checkin: ``resensitize``,
    ``alert``, ``alert_type``, ``sort_bin``, ``destination``; item: ``known``,
    ``circulation_status``, ``hold_queue_length``; patron check: ``valid``, ``pin_ok``,
    ``blocks``, ``may_borrow``; loans: ``valid``, ``pin_ok``, ``loans`` (the window's item ids,
    in the ILS's order), ``overdue`` (the first overdue ones, whatever the window),
    ``charged_count`` (all loans); ``ok`` false and no lists when the card is not valid or the
    PIN is wrong; sync.items: ``snapshot_id``, ``pages``, ``seq_at_snapshot``.
    ``due`` is the ILS's text (a SIP2 date at most ILSs)."""

    ok: bool = spec(Boolean())
    screen_message: tuple[str, ...] = spec(Array(SCREEN_TEXT, MAX_SCREEN_LINES))
    title: str | None = spec(Nullable(Text(512)), default=None)
    media: str | None = spec(Nullable(Text(64)), default=None)
    desensitize: YesNoUnknown | None = spec(Nullable(Choice.of(YesNoUnknown)), default=None)
    resensitize: bool | None = spec(Nullable(Boolean()), default=None)
    due: str | None = spec(Nullable(Text(32)), default=None)
    renewal: bool | None = spec(Nullable(Boolean()), default=None)
    alert: bool | None = spec(Nullable(Boolean()), default=None)
    alert_type: str | None = spec(Nullable(Text(2, "[0-9]{2}", min_length=2)), default=None)
    sort_bin: str | None = spec(Nullable(Text(32)), default=None)
    destination: str | None = spec(Nullable(Text(64)), default=None)
    known: bool | None = spec(Nullable(Boolean()), default=None)
    circulation_status: str | None = spec(Nullable(CIRCULATION_STATUS), default=None)
    hold_queue_length: int | None = spec(Nullable(Integer(0, 99_999)), default=None)
    valid: bool | None = spec(Nullable(Boolean()), default=None)
    pin_ok: bool | None = spec(Nullable(Boolean()), default=None)
    blocks: tuple[str, ...] | None = spec(
        Nullable(Array(Text(64), MAX_BLOCKS, unique=True)), default=None)
    may_borrow: bool | None = spec(Nullable(Boolean()), default=None)
    snapshot_id: str | None = spec(Nullable(ID), default=None)
    pages: int | None = spec(Nullable(Integer(1, MAX_SNAPSHOT_PAGES)), default=None)
    seq_at_snapshot: int | None = spec(Nullable(Integer()), default=None)
    loans: tuple[str, ...] | None = spec(
        Nullable(Array(ITEM_ID, MAX_LOANS, unique=True)), default=None)
    overdue: tuple[str, ...] | None = spec(
        Nullable(Array(ITEM_ID, MAX_LOANS, unique=True)), default=None)
    charged_count: int | None = spec(Nullable(Integer(0, MAX_LIST_POSITION)), default=None)


@message
class CirculationReply(Message):
    """``{node}/rsp``: ``status`` ok with ``outcome`` (a refusal is ok with ``outcome.ok``
    false), or error with ``error``: ``expired``, ``invalid_request``, ``unknown_request``,
    ``ils_unavailable`` (transient: try again or go off-line), ``busy`` (transient: the gateway
    could not complete it and kept nothing), ``failed``. ``replayed`` true: the answer came from
    the gateway's store because the request was delivered twice. ``request`` echoes the topic's
    request name, which may be one this gateway does not know (answered ``unknown_request``), so
    it is any name, not only those of ``RequestName``."""

    corr: str = spec(CORR)
    request: str = spec(NAME)
    status: ReplyStatus = spec(Choice.of(ReplyStatus))
    outcome: CirculationOutcome | None = spec(Nullable(Nested(CirculationOutcome)), default=None)
    error: ResponseError | None = spec(Nullable(Nested(ResponseError)), default=None)
    replayed: bool | None = spec(Nullable(Boolean()), default=None)

    def validate(self) -> None:
        if self.status == "ok":
            if self.error is not None:
                raise ContractError("must be null when status is ok", field="error")
            if self.outcome is None:
                raise ContractError("is required when status is ok", field="outcome")
        else:
            if self.error is None:
                raise ContractError("is required when status is error", field="error")
            if self.outcome is not None:
                raise ContractError("must be null when status is error", field="outcome")

