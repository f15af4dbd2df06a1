# SPDX-License-Identifier: Apache-2.0
"""The catalog gateway (``libedge gateway``): the central side of the MQTT contract. It answers
the nodes' circulation requests through a SIP2 pool, publishes item deltas and snapshot pages,
replays off-line transactions per site policy and reports refusals to staff as events.

Not responsible for: the MQTT client (``edge_service.sync``), SIP2 (``edge_service.ils``), its
state's storage (``edge_service.store.gateway_state``).
"""

from edge_service.gateway.core import (
    DEDUPE_WINDOW_S,
    SNAPSHOT_PAGE_ITEMS,
    Gateway,
    GatewayCounters,
    GatewaySettings,
    GatewayTransport,
    ImportedItem,
    OfflinePolicy,
)
from edge_service.gateway.errors import GatewayConfigError, GatewayError, ImportFormatError
from edge_service.gateway.imports import read_csv, read_items, read_marc
from edge_service.gateway.service import (
    MqttGatewayTransport,
    ServiceSettings,
    load_settings,
    parse_settings,
    publishing,
    running,
    serve,
)

__all__ = [
    "DEDUPE_WINDOW_S",
    "SNAPSHOT_PAGE_ITEMS",
    "Gateway",
    "GatewayConfigError",
    "GatewayCounters",
    "GatewayError",
    "GatewaySettings",
    "GatewayTransport",
    "ImportFormatError",
    "ImportedItem",
    "MqttGatewayTransport",
    "OfflinePolicy",
    "ServiceSettings",
    "load_settings",
    "parse_settings",
    "publishing",
    "read_csv",
    "read_items",
    "read_marc",
    "running",
    "serve",
]
