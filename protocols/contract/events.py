# SPDX-License-Identifier: Apache-2.0
"""The ``data`` of each event type, and the catalogue of event types with their topic kind.

    type                          evt/{kind}    data
    lib.circ.checkout.v1          circ          CirculationData
    lib.circ.checkin.v1           circ          CirculationData
    lib.security.mismatch.v1      security      SecurityMismatchData
    lib.gate.alarm.v1             gate.alarm    GateAlarmData
    lib.gate.count.v1             gate.count    GateCountData
    lib.tag.write.v1              tag.write     TagWriteData
    lib.inventory.v1              inventory     InventoryData
    lib.exception.v1              exception     ExceptionData
    lib.contract.rejected.v1      contract      ContractRejectedData
    lib.acq.received.v1           acq           AcqReceivedData
    lib.acq.delivery.v1           acq           AcqDeliveryData
    lib.ill.v1                    ill           IllData
    lib.campaign.v1               campaign      CampaignData

The last four (technical services: acquisitions receiving, interlibrary loan, migration
campaigns) were added to v1 as new types on new kinds: additive, so a v1 consumer that does not
know them ignores them as it ignores any unknown type.

Item identity is ``primary_item_id`` + ``owner_institution`` everywhere, as in the item delta.
Patrons appear only as salted hashes (``patron``), never as card numbers, names or PINs; SIP2
screen messages are not carried because they often greet the patron by name.

Not responsible for: the envelope (:mod:`protocols.contract.envelope`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from protocols.contract.envelope import Event
from protocols.contract.errors import ContractError
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
    AFI,
    CIRCULATION_STATUS,
    ID,
    ISIL,
    ITEM_ID,
    TAG_DATA_MODELS,
    TIME,
    UID,
)
from protocols.contract.privacy import PATRON_HASH_PATTERN
from protocols.contract.timefmt import parse_time
from protocols.contract.topics import TopicKind, node_prefix, parse_topic
from protocols.contract.uuid7 import UUID7_PATTERN

PATRON_HASH = Text(130, PATRON_HASH_PATTERN, min_length=34)
EVENT_ID = Text(36, UUID7_PATTERN, min_length=36)
SHA256_HEX = Text(64, "[0-9a-f]{64}", min_length=64)

YesNoUnknown = Literal["Y", "N", "U"]
YesNo = Literal["Y", "N"]
SecurityMethod = Literal["afi", "eas", "both"]
CirculationResult = Literal["ok", "refused", "queued_offline", "needs_staff"]
Remediation = Literal["resecured", "unsecured", "staff_alerted", "none"]
PassageDirection = Literal["in", "out", "unknown"]
IllAction = Literal["received", "returned"]
CampaignState = Literal["active", "finished"]
ExceptionKind = Literal[
    "offline_rejected", "incomplete_set", "unknown_tag", "write_failed", "security_failed",
    "other",
]


# --- circulation ----------------------------------------------------------------------------

@message
class SetParts(Message):
    """Part ``n`` of a set of ``of`` parts; ``seen`` = the parts that were on the pad."""

    n: int = spec(Integer(1, 255))
    of: int = spec(Integer(1, 255))
    seen: tuple[int, ...] = spec(Array(Integer(1, 255), max_items=255, unique=True))

    def validate(self) -> None:
        if self.n > self.of:
            raise ContractError(f"part {self.n} is beyond {self.of}", field="n")
        if any(part > self.of for part in self.seen):
            raise ContractError(f"lists a part beyond {self.of}", field="seen")


@message
class SipOutcome(Message):
    """What the ILS answered over SIP2 (checkout 12 / checkin 10)."""

    ok: bool = spec(Boolean())
    desensitize: YesNoUnknown | None = spec(Nullable(Choice.of(YesNoUnknown)), default=None)
    resensitize: YesNo | None = spec(Nullable(Choice.of(YesNo)), default=None)
    due: str | None = spec(Nullable(Text(32)), default=None)
    alert: bool | None = spec(Nullable(Boolean()), default=None)
    alert_type: str | None = spec(Nullable(Text(2, "[0-9]{2}", min_length=2)), default=None)
    sort_bin: str | None = spec(Nullable(Text(32)), default=None)
    destination: str | None = spec(Nullable(Text(64)), default=None)


@message
class SecurityOutcome(Message):
    """The security write on the tag: AFI before/after (hex), verified by read-back."""

    method: SecurityMethod = spec(Choice.of(SecurityMethod))
    verified: bool = spec(Boolean())
    attempts: int = spec(Integer(0, 99))
    before: str | None = spec(Nullable(AFI), default=None)
    after: str | None = spec(Nullable(AFI), default=None)


@message
class CirculationData(Message):
    """``lib.circ.checkout.v1`` and ``lib.circ.checkin.v1``."""

    primary_item_id: str = spec(ITEM_ID)
    result: CirculationResult = spec(Choice.of(CirculationResult))
    owner_institution: str | None = spec(Nullable(ISIL), default=None)
    uid: str | None = spec(Nullable(UID), default=None)
    parts: SetParts | None = spec(Nullable(Nested(SetParts)), default=None)
    patron: str | None = spec(Nullable(PATRON_HASH), default=None)
    sip: SipOutcome | None = spec(Nullable(Nested(SipOutcome)), default=None)
    security: SecurityOutcome | None = spec(Nullable(Nested(SecurityOutcome)), default=None)
    reason: str | None = spec(Nullable(Text(256)), default=None)


# --- security and gate ---------------------------------------------------------------------

@message
class SecurityMismatchData(Message):
    """``lib.security.mismatch.v1``: the ILS and the tag disagree (e.g. charged but AFI 07)."""

    primary_item_id: str = spec(ITEM_ID)
    circulation_status: str = spec(CIRCULATION_STATUS)
    security_expected: bool = spec(Boolean())
    remediation: Remediation = spec(Choice.of(Remediation))
    owner_institution: str | None = spec(Nullable(ISIL), default=None)
    uid: str | None = spec(Nullable(UID), default=None)
    observed_afi: str | None = spec(Nullable(AFI), default=None)
    observed_eas: bool | None = spec(Nullable(Boolean()), default=None)


@message
class LastCirculation(Message):
    """The last circulation of the item seen on this site: where, and how long ago."""

    node: str = spec(ID)
    age_s: int = spec(Integer())


@message
class GateAlarmItem(Message):
    """One tag that raised (or took part in) an alarm; unknown tags have no item id."""

    uid: str = spec(UID)
    known: bool = spec(Boolean())
    primary_item_id: str | None = spec(Nullable(ITEM_ID), default=None)
    owner_institution: str | None = spec(Nullable(ISIL), default=None)
    afi: str | None = spec(Nullable(AFI), default=None)
    eas: bool | None = spec(Nullable(Boolean()), default=None)
    circulation_status: str | None = spec(Nullable(CIRCULATION_STATUS), default=None)
    title: str | None = spec(Nullable(Text(512)), default=None)
    last_circ: LastCirculation | None = spec(Nullable(Nested(LastCirculation)), default=None)


@message
class GateAlarmData(Message):
    """``lib.gate.alarm.v1``. ``foreign`` = owner ISIL is not the tenant's (such alarms are
    suppressed or downgraded by policy)."""

    gate: str = spec(ID)
    direction: PassageDirection = spec(Choice.of(PassageDirection))
    items: tuple[GateAlarmItem, ...] = spec(
        Array(Nested(GateAlarmItem), max_items=64, min_items=1))
    foreign: bool = spec(Boolean())
    snapshot_ref: str | None = spec(Nullable(Text(128)), default=None)


@message
class GateCountData(Message):
    """``lib.gate.count.v1``: people counted through ``gate`` from ``start`` to ``end``."""

    gate: str = spec(ID)
    entered: int = spec(Integer(), wire="in")
    left: int = spec(Integer(), wire="out")
    start: str = spec(TIME, wire="from")
    end: str = spec(TIME, wire="to")

    def validate(self) -> None:
        if parse_time(self.start) > parse_time(self.end):
            raise ContractError("is before from", field="to")


# --- staff station -------------------------------------------------------------------------

@message
class TagWriteData(Message):
    """``lib.tag.write.v1``: a tag programmed (or converted) and verified by read-back."""

    primary_item_id: str = spec(ITEM_ID)
    uid: str = spec(UID)
    data_model: str = spec(Choice(TAG_DATA_MODELS))
    verified: bool = spec(Boolean())
    locked_blocks: tuple[int, ...] = spec(Array(Integer(0, 255), max_items=256, unique=True))
    owner_institution: str | None = spec(Nullable(ISIL), default=None)
    converted_from: str | None = spec(Nullable(Choice(TAG_DATA_MODELS)), default=None)
    afi: str | None = spec(Nullable(AFI), default=None)
    operator: str | None = spec(Nullable(ID), default=None)   # staff account, never a patron


@message
class ItemRef(Message):
    primary_item_id: str = spec(ITEM_ID)
    owner_institution: str | None = spec(Nullable(ISIL), default=None)


@message
class InventoryData(Message):
    """``lib.inventory.v1``: one shelf-reading session (or a part of it)."""

    session_id: str = spec(ID)
    seen: int = spec(Integer())
    unknown: int = spec(Integer())
    misplaced: tuple[ItemRef, ...] = spec(Array(Nested(ItemRef), max_items=500))
    location: str | None = spec(Nullable(Text(64)), default=None)


@message
class ExceptionData(Message):
    """``lib.exception.v1``: something staff must look at (an offline transaction the ILS
    refused, an incomplete set, an unknown tag, a failed write); never silently fixed."""

    kind: ExceptionKind = spec(Choice.of(ExceptionKind))
    primary_item_id: str | None = spec(Nullable(ITEM_ID), default=None)
    owner_institution: str | None = spec(Nullable(ISIL), default=None)
    uid: str | None = spec(Nullable(UID), default=None)
    related_event: str | None = spec(Nullable(EVENT_ID), default=None)
    detail: str | None = spec(Nullable(Text(512)), default=None)


@message
class ContractRejectedData(Message):
    """``lib.contract.rejected.v1``: a message the edge refused. Carries the topic, the reason
    and the payload's size and SHA-256, never the payload (it may hold patron data)."""

    topic: str = spec(Text(512, min_length=0))
    reason: str = spec(Text(512))
    payload_bytes: int = spec(Integer())
    field: str | None = spec(Nullable(Text(256)), default=None)
    payload_sha256: str | None = spec(Nullable(SHA256_HEX), default=None)


# --- technical services: acquisitions, interlibrary loan, migration campaigns --------------

SUPPLY_TEXT = Text(64)
"""A supplier's value as the tag carries it (supplier id, order or invoice number, order line)."""
DATA_MODEL = Choice(TAG_DATA_MODELS)


@message
class AcqReceivedData(Message):
    """``lib.acq.received.v1``: one supplier-tagged item of a delivery, matched to an expected
    copy and re-programmed from the acquisition stage to the library's circulation data,
    verified by read-back. The supplier's values are those the tag carried before."""

    delivery_id: str = spec(ID)
    primary_item_id: str = spec(ITEM_ID)
    uid: str = spec(UID)
    order_number: str = spec(SUPPLY_TEXT)
    data_model: str = spec(DATA_MODEL)
    owner_institution: str | None = spec(Nullable(ISIL), default=None)
    order_line: str | None = spec(Nullable(SUPPLY_TEXT), default=None)
    supplier_identifier: str | None = spec(Nullable(SUPPLY_TEXT), default=None)
    supplier_invoice_number: str | None = spec(Nullable(SUPPLY_TEXT), default=None)
    gs1_product_identifier: str | None = spec(Nullable(SUPPLY_TEXT), default=None)
    supply_chain_stage: int | None = spec(Nullable(Integer(0, 255)), default=None)
    afi: str | None = spec(Nullable(AFI), default=None)
    operator: str | None = spec(Nullable(ID), default=None)   # staff account, never a patron


@message
class AcqDeliveryData(Message):
    """``lib.acq.delivery.v1``: a delivery closed. ``received`` items were re-programmed;
    ``failed`` matched an order line but were not (a write failed, or the item never came back
    to the pad); ``missing_items`` are the first of the ``missing`` copies' item ids."""

    delivery_id: str = spec(ID)
    received: int = spec(Integer())
    unexpected: int = spec(Integer())
    missing: int = spec(Integer())
    duplicates: int = spec(Integer())
    failed: int = spec(Integer())
    orders: tuple[str, ...] = spec(Array(SUPPLY_TEXT, max_items=64, unique=True))
    missing_items: tuple[str, ...] = spec(Array(ITEM_ID, max_items=500, unique=True))
    supplier_identifier: str | None = spec(Nullable(SUPPLY_TEXT), default=None)
    supplier_invoice_number: str | None = spec(Nullable(SUPPLY_TEXT), default=None)
    operator: str | None = spec(Nullable(ID), default=None)


@message
class IllData(Message):
    """``lib.ill.v1``: an interlibrary loan item received from its owner (``owner_institution``,
    the lending library) or returned to it. ``tag_written``: the ILL borrowing institution and
    transaction number were written to the tag (received) or cleared from it (returned) and
    verified; when false, ``tag_note`` says why (the model has no place for them, the blocks
    to change are locked) and the loan is recorded at the edge only."""

    action: IllAction = spec(Choice.of(IllAction))
    primary_item_id: str = spec(ITEM_ID)
    owner_institution: str = spec(ISIL)
    borrowing_institution: str = spec(ISIL)
    tag_written: bool = spec(Boolean())
    uid: str | None = spec(Nullable(UID), default=None)
    transaction_number: str | None = spec(Nullable(SUPPLY_TEXT), default=None)
    data_model: str | None = spec(Nullable(DATA_MODEL), default=None)
    tag_note: str | None = spec(Nullable(Text(256)), default=None)
    afi: str | None = spec(Nullable(AFI), default=None)
    operator: str | None = spec(Nullable(ID), default=None)


@message
class CampaignData(Message):
    """``lib.campaign.v1``: a migration campaign's progress and tag health survey, sent when it
    finishes. Counts are tags; ``pending_estimate`` is the campaign's estimate of the collection
    less the tags settled (None without an estimate)."""

    campaign_id: str = spec(ID)
    state: CampaignState = spec(Choice.of(CampaignState))
    target_model: str = spec(DATA_MODEL)
    source_models: tuple[str, ...] = spec(Array(DATA_MODEL, max_items=8, min_items=1,
                                                unique=True))
    converted: int = spec(Integer())
    failed: int = spec(Integer())
    already: int = spec(Integer())
    skipped: int = spec(Integer())
    unreadable_blocks: int = spec(Integer())
    weak_reads: int = spec(Integer())
    default_passwords: int = spec(Integer())
    blocked_by_locks: int = spec(Integer())
    pending_estimate: int | None = spec(Nullable(Integer()), default=None)
    name: str | None = spec(Nullable(Text(64)), default=None)


# --- catalogue -------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventType:
    name: str          # the envelope's type
    kind: str          # the topic's evt/{kind}
    data: type[Message]


EVENT_TYPES: dict[str, EventType] = {t.name: t for t in (
    EventType("lib.circ.checkout.v1", "circ", CirculationData),
    EventType("lib.circ.checkin.v1", "circ", CirculationData),
    EventType("lib.security.mismatch.v1", "security", SecurityMismatchData),
    EventType("lib.gate.alarm.v1", "gate.alarm", GateAlarmData),
    EventType("lib.gate.count.v1", "gate.count", GateCountData),
    EventType("lib.tag.write.v1", "tag.write", TagWriteData),
    EventType("lib.inventory.v1", "inventory", InventoryData),
    EventType("lib.exception.v1", "exception", ExceptionData),
    EventType("lib.contract.rejected.v1", "contract", ContractRejectedData),
    EventType("lib.acq.received.v1", "acq", AcqReceivedData),
    EventType("lib.acq.delivery.v1", "acq", AcqDeliveryData),
    EventType("lib.ill.v1", "ill", IllData),
    EventType("lib.campaign.v1", "campaign", CampaignData),
)}


def event_type(type_: str) -> EventType:
    """The catalogue entry of ``type_``; ContractError for a type v1 does not define."""
    try:
        return EVENT_TYPES[type_]
    except KeyError:
        raise ContractError(f"{type_!r} is not an event type of v1", field="type") from None


def make_event(
    type_: str, data: Message, *, id: str, source: str, time: str, seq: int,  # noqa: A002
    offline: bool = False,
) -> Event:
    """An :class:`Event` of a catalogued type whose ``data`` is the typed ``data``."""
    entry = event_type(type_)
    if not isinstance(data, entry.data):
        raise ContractError(f"{type_} carries {entry.data.__name__}, not {type(data).__name__}",
                            field="data")
    return Event(id=id, source=source, type=type_, time=time, seq=seq, offline=offline,
                 data=data.to_dict())


def event_data(event: Event) -> Any:
    """The typed data of ``event`` (CirculationData, GateAlarmData, ...); ContractError for an
    unknown type or data outside the type's schema (paths start with ``data``)."""
    return event_type(event.type).data.from_dict(event.data, "data")


def check_event_topic(event: Event, topic: str) -> None:
    """ContractError unless ``event`` belongs on ``topic``: the topic's node prefix is the
    event's ``source`` and its kind is the type's kind. The broker ACL ties a topic to one
    node, so this check ties the event to it too."""
    parsed = parse_topic(topic)
    if parsed.kind is not TopicKind.EVENT:
        raise ContractError(f"{topic!r} is not an event topic", field="topic")
    prefix = node_prefix(parsed.tenant, parsed.site or "", parsed.node or "")
    if event.source != prefix:
        raise ContractError(f"{event.source!r} differs from the topic's node {prefix!r}",
                            field="source")
    kind = event_type(event.type).kind
    if parsed.event_kind != kind:
        raise ContractError(f"{event.type} belongs on evt/{kind}, not evt/{parsed.event_kind}",
                            field="type")
