# SPDX-License-Identifier: Apache-2.0
"""The JSON Schema files of docs/mqtt/schemas as validators (2020-12, and draft-07 for AsyncAPI
tools), and which Python class each top-level file describes."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from protocols.contract import (
    AcqDeliveryData,
    AcqReceivedData,
    CampaignData,
    CentralStatus,
    CheckinRequest,
    CheckoutRequest,
    CirculationData,
    CirculationReply,
    CommandRequest,
    CommandResponse,
    ContractRejectedData,
    DeviceState,
    Event,
    ExceptionData,
    GateAlarmData,
    GateCountData,
    IllData,
    InventoryData,
    ItemDelta,
    ItemInfoRequest,
    ItemRecord,
    Message,
    NodeMeta,
    NodeStatus,
    PatronCheckRequest,
    PatronLoansRequest,
    RenewRequest,
    SecurityMismatchData,
    SnapshotPage,
    SyncItemsRequest,
    TagWriteData,
    TwinDesired,
    TwinReported,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mqtt"
SCHEMAS = DOCS / "schemas"

SCHEMA_OF: dict[type[Message], str] = {
    NodeStatus: "node-status.json",
    CentralStatus: "central-status.json",
    NodeMeta: "node-meta.json",
    DeviceState: "device-state.json",
    TwinDesired: "twin-desired.json",
    TwinReported: "twin-reported.json",
    CommandRequest: "command-request.json",
    CommandResponse: "command-response.json",
    ItemRecord: "item-record.json",
    ItemDelta: "item-delta.json",
    SnapshotPage: "snapshot-page.json",
    Event: "envelope.json",
    CirculationData: "data-circulation.json",
    SecurityMismatchData: "data-security-mismatch.json",
    GateAlarmData: "data-gate-alarm.json",
    GateCountData: "data-gate-count.json",
    TagWriteData: "data-tag-write.json",
    InventoryData: "data-inventory.json",
    ExceptionData: "data-exception.json",
    ContractRejectedData: "data-contract-rejected.json",
    AcqReceivedData: "data-acq-received.json",
    AcqDeliveryData: "data-acq-delivery.json",
    IllData: "data-ill.json",
    CampaignData: "data-campaign.json",
    PatronCheckRequest: "circ-patron-request.json",
    CheckoutRequest: "circ-checkout-request.json",
    CheckinRequest: "circ-checkin-request.json",
    ItemInfoRequest: "circ-item-request.json",
    RenewRequest: "circ-renew-request.json",
    PatronLoansRequest: "circ-loans-request.json",
    SyncItemsRequest: "sync-items-request.json",
    CirculationReply: "circ-reply.json",
}


def event_schema_file(type_name: str) -> str:
    """lib.circ.checkout.v1 -> event-circ-checkout.json"""
    return "event-" + type_name.removeprefix("lib.").rsplit(".v", 1)[0].replace(".", "-") + ".json"


@cache
def all_schemas() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.json"))}


@cache
def _registry(draft: str) -> Registry:
    resources = []
    for name, schema in all_schemas().items():
        if draft == "2020-12":
            resources.append((name, Resource.from_contents(schema)))
        else:
            resources.append((name, DRAFT7.create_resource(_as_draft7(schema))))
    return Registry().with_resources(resources)


def _as_draft7(schema: dict[str, Any]) -> dict[str, Any]:
    copied = copy.deepcopy(schema)
    copied.pop("$schema", None)
    return copied


@cache
def validator(name: str, draft: str = "2020-12") -> Validator:
    """A validator for schema file ``name``; ``draft`` "2020-12" or "draft-07"."""
    schema = all_schemas()[name]
    if draft == "2020-12":
        return Draft202012Validator(schema, registry=_registry(draft))
    return Draft7Validator(_as_draft7(schema), registry=_registry(draft))


def schema_errors(name: str, instance: object, draft: str = "2020-12") -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(name, draft).iter_errors(instance)]

