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
