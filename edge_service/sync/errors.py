# SPDX-License-Identifier: Apache-2.0
"""The errors of the MQTT sync layer: one root, transience as a type, data on each.

Not responsible for: contract violations in payloads (``protocols.contract.ContractError``,
which the downlink turns into ``lib.contract.rejected.v1`` events, never into these).
"""

from __future__ import annotations


class SyncError(Exception):
    """Root of every error raised by ``edge_service.sync``."""


class TransientSyncError(SyncError):
    """Worth retrying later: the link is down or the broker is busy. Only these are retried."""


class NotConnected(TransientSyncError):
    """The broker connection is down (or went down before the acknowledgement)."""

    def __init__(self, doing: str) -> None:
        self.doing = doing
        super().__init__(f"{doing}: not connected to the MQTT broker")


class PublishRefused(SyncError):
    """The broker answered a publish with a failure reason code (MQTT 5 PUBACK >= 0x80),
    typically 0x87 Not authorized: the ACL forbids the topic. Retrying changes nothing."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"publish to {topic!r} refused by the broker: {reason}")


class ConnectRefused(TransientSyncError):
    """The broker refused the CONNECT (bad credentials, not authorized, server busy). Kept
    transient: credentials are fixed by an operator while the daemon keeps retrying."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"MQTT broker {host}:{port} refused the connection: {reason}")


class SettingsInvalid(SyncError):
    """A setting the link cannot work with (unreadable password file, bad node id)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")
