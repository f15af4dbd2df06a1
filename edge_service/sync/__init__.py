# SPDX-License-Identifier: Apache-2.0
"""MQTT sync with the central catalog (contract v1, ``protocols.contract``).

- ``mqtt_client``: the asyncio wrapper of paho (the only paho import), reconnect with jitter;
- ``outbox_publisher``: the outbox drained in order at QoS 1, deleted on PUBACK;
- ``events``: ``record_event`` for workflows, inside their writer operation;
- ``downlink``: item deltas in sequence, gap -> snapshot resync; ``commands``: commands, twin;
- ``rejections``: refused inbound messages reported as events;
- ``sync``: :class:`MqttSync`, the daemon's component (``create_sync``).

Not responsible for: durability of the store (``edge_service.store``), the contract's rules.
"""

from edge_service.sync.commands import CommandFailed, CommandHandler, TwinHandler
from edge_service.sync.errors import (
    ConnectRefused,
    NotConnected,
    PublishRefused,
    SettingsInvalid,
    SyncError,
    TransientSyncError,
)
from edge_service.sync.events import record_event
from edge_service.sync.mqtt_client import (
    ClientSettings,
    InboundMessage,
    MqttClient,
    PublishProperties,
    Tls,
    Will,
)
from edge_service.sync.outbox_publisher import OutboxPublisher
from edge_service.sync.sync import MqttSync, create_sync

__all__ = [
    "ClientSettings",
    "CommandFailed",
    "CommandHandler",
    "ConnectRefused",
    "InboundMessage",
    "MqttClient",
    "MqttSync",
    "NotConnected",
    "OutboxPublisher",
    "PublishProperties",
    "PublishRefused",
    "SettingsInvalid",
    "SyncError",
    "Tls",
    "TransientSyncError",
    "TwinHandler",
    "Will",
    "create_sync",
    "record_event",
]
