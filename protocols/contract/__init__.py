# SPDX-License-Identifier: Apache-2.0
"""The LibEdge MQTT message contract, version 1: topics, the event envelope, typed payloads.

- ``topics``: topic builders, :func:`parse_topic`, the channel table, broker ACLs;
- ``envelope``: the CloudEvents-style :class:`Event`, :func:`encode_event`/:func:`decode_event`;
- ``messages``: node status/meta/device state, twin, commands, item delta and snapshot pages;
- ``events``: the data of each event type and the type catalogue;
- ``circulation``: a node's circulation requests to the catalog gateway and its replies;
- ``uuid7``, ``timefmt``: event ids and the one time format;
- ``sequence``: delta sequence and record-version ordering;
- ``privacy``: patron identifiers only as salted hashes;
- ``jsonio``/``fields``: strict JSON and the declarative field rules every payload follows.

Pure: no I/O, no clock reads, no randomness of its own; times and random bytes are passed in.
Documentation: docs/mqtt/README.md, docs/mqtt/asyncapi.yaml, docs/mqtt/schemas/.

Not responsible for: the MQTT client, sessions, the outbox, or retries (edge_service).
"""

from protocols.contract.circulation import (
    REQUEST_TYPES,
    CheckinRequest,
    CheckoutRequest,
    CirculationOutcome,
    CirculationReply,
    CirculationRequest,
    ItemInfoRequest,
    PatronCheckRequest,
    RenewRequest,
    SyncItemsRequest,
    decode_request,
)
from protocols.contract.envelope import TYPE_PATTERN, Event, decode_event, encode_event
from protocols.contract.errors import ContractError
from protocols.contract.events import (
    EVENT_TYPES,
    CirculationData,
    ContractRejectedData,
    EventType,
    ExceptionData,
    GateAlarmData,
    GateAlarmItem,
    GateCountData,
    InventoryData,
    ItemRef,
    LastCirculation,
    SecurityMismatchData,
    SecurityOutcome,
    SetParts,
    SipOutcome,
    TagWriteData,
    check_event_topic,
    event_data,
    event_type,
    make_event,
)
from protocols.contract.fields import Message
from protocols.contract.jsonio import MAX_DEPTH, MAX_PAYLOAD_BYTES, MAX_SAFE_INTEGER
from protocols.contract.messages import (
    CIRCULATION_STATUSES,
    CentralStatus,
    CommandRequest,
    CommandResponse,
    DeviceInfo,
    DeviceState,
    Hold,
    ItemDelta,
    ItemRecord,
    NodeMeta,
    NodeStatus,
    ResponseError,
    SnapshotPage,
    TwinDesired,
    TwinReported,
    resolve_command,
)
from protocols.contract.privacy import check_no_patron_identifiers
from protocols.contract.sequence import DeltaSequencer, SeqVerdict, is_newer
from protocols.contract.timefmt import format_time, parse_time
from protocols.contract.topics import (
    CHANNELS,
    EVENT_KINDS,
    Channel,
    Topic,
    TopicKind,
    acl_patterns,
    central_acl_patterns,
    central_status_topic,
    command_topic,
    device_state_topic,
    event_topic,
    gateway_request_filter,
    items_delta_topic,
    items_snapshot_topic,
    meta_topic,
    node_prefix,
    parse_source,
    parse_topic,
    render_mosquitto_acl,
    reply_topic,
    request_topic,
    response_topic,
    status_topic,
    topic_matches,
    twin_desired_topic,
    twin_reported_topic,
)
from protocols.contract.uuid7 import Uuid7Sequence, is_uuid7, uuid7, uuid7_time_ms

__all__ = [
    "CHANNELS", "CIRCULATION_STATUSES", "EVENT_KINDS", "EVENT_TYPES", "MAX_DEPTH",
    "MAX_PAYLOAD_BYTES", "MAX_SAFE_INTEGER", "REQUEST_TYPES", "TYPE_PATTERN", "CentralStatus",
    "Channel", "CheckinRequest", "CheckoutRequest", "CirculationData", "CirculationOutcome",
    "CirculationReply", "CirculationRequest", "CommandRequest", "CommandResponse",
    "ContractError", "ContractRejectedData", "DeltaSequencer", "DeviceInfo", "DeviceState",
    "Event", "EventType", "ExceptionData", "GateAlarmData", "GateAlarmItem", "GateCountData",
    "Hold", "InventoryData", "ItemDelta", "ItemInfoRequest", "ItemRecord", "ItemRef",
    "LastCirculation", "Message", "NodeMeta", "NodeStatus", "PatronCheckRequest",
    "RenewRequest", "ResponseError", "SecurityMismatchData", "SecurityOutcome", "SeqVerdict",
    "SetParts", "SipOutcome", "SnapshotPage", "SyncItemsRequest", "TagWriteData", "Topic",
    "TopicKind", "TwinDesired", "TwinReported", "Uuid7Sequence", "acl_patterns",
    "central_acl_patterns", "central_status_topic", "check_event_topic",
    "check_no_patron_identifiers", "command_topic", "decode_event", "decode_request",
    "device_state_topic", "encode_event", "event_data", "event_topic", "event_type",
    "format_time", "gateway_request_filter", "is_newer", "is_uuid7", "items_delta_topic",
    "items_snapshot_topic", "make_event", "meta_topic", "node_prefix", "parse_source",
    "parse_time", "parse_topic", "render_mosquitto_acl", "reply_topic", "request_topic",
    "resolve_command", "response_topic", "status_topic", "topic_matches", "twin_desired_topic",
    "twin_reported_topic", "uuid7", "uuid7_time_ms",
]
