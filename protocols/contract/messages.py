# SPDX-License-Identifier: Apache-2.0
"""Typed payloads of the node and site channels: status, meta, device state, twin, commands and
responses, item deltas and snapshot pages, central status.

Each class is a frozen dataclass with ``to_json() -> bytes`` and ``from_json(bytes)``; the
field policy (required/optional, unknown keys ignored, bad types refused with the path) is
:mod:`protocols.contract.fields`. The JSON Schema of each is ``docs/mqtt/schemas/<name>.json``;
tests keep the two in agreement.

Commands: with MQTT 5 the request's Response Topic, Correlation Data and Message Expiry
Interval are properties; with MQTT 3.1.1 they travel in the payload (``reply_to``, ``corr``,
``expires``). :func:`resolve_command` merges both into one complete :class:`CommandRequest`
(properties win, except that of two expiries the earlier applies) and refuses a command that has
no correlation id or no expiry, or that asks for a reply anywhere but the node's own ``res``
topic. :func:`command_reply_address` recovers where to answer a refused one, when it can.

Not responsible for: the event envelope (:mod:`protocols.contract.envelope`) and event data
(:mod:`protocols.contract.events`); what a configuration means (the daemon's config schema).
"""

from __future__ import annotations

from typing import Any, Literal

from protocols.contract.errors import ContractError
from protocols.contract.fields import (
    Array,
    Boolean,
    Choice,
    Counters,
    Integer,
    JsonObject,
    Message,
    Nested,
    Nullable,
    Text,
    Timestamp,
    Version,
    message,
    spec,
)
from protocols.contract.jsonio import load_json_object
from protocols.contract.timefmt import format_time, parse_time
from protocols.contract.topics import (
    ID_PATTERN,
    MAX_SNAPSHOT_PAGES,
    NAME_PATTERN,
    RESPONSE_TOPIC_PATTERN,
    Topic,
    TopicKind,
    response_topic,
)
from protocols.iso28560.model import TagModel

# --- vocabulary (the same patterns are in docs/mqtt/schemas/common.json) ---------------------

ID = Text(64, ID_PATTERN)                               # node, device, gate, session ids
NAME = Text(64, NAME_PATTERN)                           # command names
CODE = Text(64, "[a-z][a-z0-9_]*")                      # error codes, counter names
ITEM_ID = Text(64, "[!-~]+")                            # primary item id: printable ASCII
ISIL = Text(16, "[A-Za-z0-9:/-]+")                      # ISO 15511 characters
UID = Text(64, "(?:[0-9A-F]{2}){4,32}", min_length=8)   # tag UID / EPC, upper-case hex
AFI = Text(2, "[0-9A-F]{2}", min_length=2)              # AFI byte, upper-case hex
CORR = Text(128, "[A-Za-z0-9._:-]+")                    # correlation id
VERSION_TEXT = Text(64, "[!-~]+")                       # software versions, hashes
TIME = Timestamp()

# SIP2 circulation status codes (3M SIP2 spec, Item Information response).
CIRCULATION_STATUSES = {
    "01": "other", "02": "on order", "03": "available", "04": "charged",
    "05": "charged; not to be recalled until earliest recall date", "06": "in process",
    "07": "recalled", "08": "waiting on hold shelf", "09": "waiting to be re-shelved",
    "10": "in transit between library locations", "11": "claimed returned", "12": "lost",
    "13": "missing",
}
CIRCULATION_STATUS = Choice(tuple(CIRCULATION_STATUSES))
TAG_DATA_MODELS = tuple(m.value for m in TagModel if m not in (TagModel.BLANK, TagModel.UNKNOWN))

NodeState = Literal["online", "offline"]
Role = Literal["kiosk", "gate", "staff"]
DeviceKind = Literal["reader", "gate", "printer", "pad", "other"]
Health = Literal["ok", "degraded", "fault"]
ResponseStatus = Literal["ok", "error"]


# --- node status, meta, devices ---------------------------------------------------------------

@message
class NodeStatus(Message):
    """Retained ``{node}/status``. Birth: online with ``sw`` and ``since``; the MQTT will (set at
    connect, MQTT 5 Will Delay about 30 s) and a graceful shutdown: offline with the same
    ``boot_seq``, so a consumer ignores a late will of an earlier boot (Sparkplug bdSeq)."""

    state: NodeState = spec(Choice.of(NodeState))
    boot_seq: int = spec(Integer())
    sw: str | None = spec(Nullable(VERSION_TEXT), default=None)
    since: str | None = spec(Nullable(TIME), default=None)

    def validate(self) -> None:
        if self.state == "online":
            for name in ("sw", "since"):
                if getattr(self, name) is None:
                    raise ContractError("is required when state is online", field=name)

    @classmethod
    def birth(cls, *, boot_seq: int, sw: str, since_ms: int) -> NodeStatus:
        return cls(state="online", boot_seq=boot_seq, sw=sw, since=format_time(since_ms))

    @classmethod
    def will(cls, *, boot_seq: int) -> NodeStatus:
        return cls(state="offline", boot_seq=boot_seq)


@message
class CentralStatus(Message):
    """Retained ``lib/v1/{tenant}/central/status`` (the central host's birth and will). Nodes
    keep serving locally while it is offline but hold back outbox replay until it is online."""

    online: bool = spec(Boolean())
    time: str = spec(TIME)


@message
class DeviceInfo(Message):
    dev: str = spec(ID)
    kind: DeviceKind = spec(Choice.of(DeviceKind))
    model: str | None = spec(Nullable(Text(64)), default=None)


@message
class NodeMeta(Message):
    """Retained ``{node}/meta``: what the node is and can do."""

    sw: str = spec(VERSION_TEXT)
    roles: tuple[Role, ...] = spec(Array(Choice.of(Role), max_items=3, min_items=1, unique=True))
    capabilities: tuple[str, ...] = spec(Array(NAME, max_items=64, unique=True))
    devices: tuple[DeviceInfo, ...] = spec(Array(Nested(DeviceInfo), max_items=32))
    tag_models: tuple[str, ...] = spec(Array(Choice(TAG_DATA_MODELS), max_items=8, unique=True))
    sip2_profile: str | None = spec(Nullable(Text(64)), default=None)
    config_hash: str | None = spec(Nullable(VERSION_TEXT), default=None)

    def validate(self) -> None:
        ids = [device.dev for device in self.devices]
        if len(set(ids)) != len(ids):
            raise ContractError("device ids must be unique", field="devices")


@message
class DeviceState(Message):
    """Retained ``{node}/dev/{device}/state``: health and counters of one device at ``time``."""

    connected: bool = spec(Boolean())
    health: Health = spec(Choice.of(Health))
    time: str = spec(TIME)
    counters: dict[str, int] = spec(Counters("[a-z][a-z0-9_]{0,63}", max_entries=64))
    firmware: str | None = spec(Nullable(Text(64)), default=None)
    detail: str | None = spec(Nullable(Text(256)), default=None)


# --- twin -------------------------------------------------------------------------------------

@message
class TwinDesired(Message):
    """Retained ``{node}/twin/desired``: configuration from central, ``version`` increasing."""

    version: int = spec(Integer())
    config: dict[str, Any] = spec(JsonObject())


@message
class TwinError(Message):
    """Why the node did not apply desired ``version``: ``code`` for machines (``not_supported``:
    the node takes no configuration from central; ``failed``), ``message`` for people."""

    version: int = spec(Integer())
    code: str = spec(CODE)
    message: str = spec(Text(512))


@message
class TwinReported(Message):
    """Retained ``{node}/twin/reported``: the ``version`` the node applied and the effective
    values (``0`` and ``{}``: nothing from central applied). ``reported.version !=
    desired.version`` is the delta central watches; ``error`` says why a desired version was
    not applied."""

    version: int = spec(Integer())
    config: dict[str, Any] = spec(JsonObject())
    error: TwinError | None = spec(Nullable(Nested(TwinError)), default=None)


# --- commands ---------------------------------------------------------------------------------

@message
class CommandRequest(Message):
    """``{node}/cmd/{name}``. ``corr``, ``reply_to`` and ``expires`` may be absent on the wire
    under MQTT 5 (properties carry them); :func:`resolve_command` gives the complete request."""

    name: str = spec(NAME)
    args: dict[str, Any] = spec(JsonObject())
    corr: str | None = spec(Nullable(CORR), default=None)
    reply_to: str | None = spec(Nullable(Text(512, RESPONSE_TOPIC_PATTERN)), default=None)
    expires: str | None = spec(Nullable(TIME), default=None)

    def is_expired(self, now_ms: int) -> bool:
        """Whether the request must not run any more (no ``expires`` counts as expired)."""
        return self.expires is None or now_ms >= parse_time(self.expires)


def resolve_command(
    payload: bytes,
    topic: Topic,
    *,
    response_topic_property: str | None = None,
    correlation_data: bytes | None = None,
    expires_ms: int | None = None,
) -> CommandRequest:
    """The complete request a node received on ``topic`` (a COMMAND topic).

    ``response_topic_property``, ``correlation_data`` and ``expires_ms`` are the MQTT 5
    properties (``expires_ms`` = receive time + Message Expiry Interval); where given they
    replace the payload's fields, except the expiry: with both, the earlier applies (a node
    never runs an expired command, whichever clock said so). The result always has ``corr``,
    ``expires`` and ``reply_to`` (default: the node's own ``res`` topic), and ``reply_to`` is
    always that topic: the broker ACL lets a node publish nowhere else."""
    if topic.kind is not TopicKind.COMMAND:
        raise ContractError(f"{topic} is not a command topic", field="topic")
    request = CommandRequest.from_json(payload)
    if request.name != topic.command:
        raise ContractError(f"{request.name!r} differs from the topic's {topic.command!r}",
                            field="name")
    corr = request.corr
    if correlation_data is not None:
        try:
            corr = CORR.decode(correlation_data.decode("utf-8"), "correlation_data")
        except UnicodeDecodeError:
            raise ContractError("is not UTF-8", field="correlation_data") from None
    expires = request.expires
    if expires_ms is not None and (expires is None or expires_ms < parse_time(expires)):
        expires = format_time(expires_ms)
    own = response_topic(topic.tenant, topic.site or "", topic.node or "")
    reply_to = response_topic_property or request.reply_to or own
    if corr is None:
        raise ContractError("is missing (no Correlation Data either)", field="corr")
    if expires is None:
        raise ContractError("is missing (no Message Expiry either)", field="expires")
    if reply_to != own:
        raise ContractError(f"{reply_to!r} is not this node's response topic {own!r}",
                            field="reply_to")
    return CommandRequest(name=request.name, args=request.args, corr=corr, reply_to=reply_to,
                          expires=expires)


def command_reply_address(
    payload: bytes,
    topic: Topic,
    *,
    response_topic_property: str | None = None,
    correlation_data: bytes | None = None,
) -> tuple[str, str] | None:
    """``(corr, reply_to)`` of a command :func:`resolve_command` refused, or None when no
    answer can be addressed: the correlation id (Correlation Data, else the payload's ``corr``)
    must be a valid ``corr`` and the reply topic the node's own ``res``. Correlation Data that is
    not a valid ``corr`` (not UTF-8, over 128 bytes, other characters) leaves no answer: the
    response's ``corr`` must repeat it, and the payload's ``corr`` would answer another id."""
    if topic.kind is not TopicKind.COMMAND:
        return None
    try:
        fields: dict[str, Any] = load_json_object(payload)
    except ContractError:
        fields = {}
    own = response_topic(topic.tenant, topic.site or "", topic.node or "")
    reply_to = response_topic_property or fields.get("reply_to") or own
    if reply_to != own:
        return None
    try:
        if correlation_data is not None:
            corr = CORR.decode(correlation_data.decode("utf-8"), "correlation_data")
        else:
            corr = CORR.decode(fields.get("corr"), "corr")
    except (ContractError, UnicodeDecodeError):
        return None
    return corr, own


@message
class ResponseError(Message):
    """Why a command failed: ``code`` for machines (``unknown_command``, ``expired``,
    ``invalid_request``, ``invalid_args``, ``busy``, ``failed``), ``message`` for people."""

    code: str = spec(CODE)
    message: str = spec(Text(512))


@message
class CommandResponse(Message):
    """``{node}/res`` (or the request's Response Topic): ``status`` ok with ``data``, or error
    with ``error``. ``data`` is checked by the privacy guard."""

    corr: str = spec(CORR)
    status: ResponseStatus = spec(Choice.of(ResponseStatus))
    data: dict[str, Any] | None = spec(Nullable(JsonObject(privacy=True)), default=None)
    error: ResponseError | None = spec(Nullable(Nested(ResponseError)), default=None)

    def validate(self) -> None:
        if self.status == "ok" and self.error is not None:
            raise ContractError("must be null when status is ok", field="error")
        if self.status == "error" and self.error is None:
            raise ContractError("is required when status is error", field="error")


# --- item status downlink ---------------------------------------------------------------------

@message
class Hold(Message):
    """A hold on the item: for pickup ``here``, or to be sent to ``destination``."""

    here: bool = spec(Boolean())
    destination: str | None = spec(Nullable(Text(64)), default=None)


@message
class ItemRecord(Message):
    """One item's status as the catalog sees it; the cache key is (owner_institution,
    primary_item_id); ``version`` orders records (:func:`protocols.contract.sequence.is_newer`)."""

    primary_item_id: str = spec(ITEM_ID)
    owner_institution: str = spec(ISIL)
    version: int | str = spec(Version())
    circulation_status: str = spec(CIRCULATION_STATUS)
    security_expected: bool = spec(Boolean())
    set_size: int | None = spec(Nullable(Integer(1, 255)), default=None)
    title: str | None = spec(Nullable(Text(512)), default=None)
    media: str | None = spec(Nullable(Text(64)), default=None)
    sort_bin: str | None = spec(Nullable(Text(32)), default=None)
    hold: Hold | None = spec(Nullable(Nested(Hold)), default=None)


MAX_ITEMS_PER_MESSAGE = 1000


@message
class ItemDelta(Message):
    """``lib/v1/{tenant}/{site}/items/delta``: changed items, ``seq`` +1 per delta per site."""

    seq: int = spec(Integer(1))
    items: tuple[ItemRecord, ...] = spec(Array(Nested(ItemRecord), MAX_ITEMS_PER_MESSAGE))


@message
class SnapshotPage(Message):
    """``lib/v1/{tenant}/{site}/items/snapshot/{page}``: page ``page`` of ``pages`` of one
    snapshot, taken when the site's delta sequence stood at ``seq_at_snapshot``."""

    snapshot_id: str = spec(ID)
    page: int = spec(Integer(1, MAX_SNAPSHOT_PAGES))
    pages: int = spec(Integer(1, MAX_SNAPSHOT_PAGES))
    seq_at_snapshot: int = spec(Integer())
    items: tuple[ItemRecord, ...] = spec(Array(Nested(ItemRecord), MAX_ITEMS_PER_MESSAGE))

    def validate(self) -> None:
        if self.page > self.pages:
            raise ContractError(f"page {self.page} is beyond pages {self.pages}", field="page")
