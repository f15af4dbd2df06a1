# SPDX-License-Identifier: Apache-2.0
"""The response bodies of the operations routes, as OpenAPI documents them.

Contract: these models are the documented shape of ``/api/v1/health`` and
``/api/v1/devices``; the Schemathesis test holds the live answers to them. Field meanings are
those of the snapshots in :mod:`edge_service.health`. An age that is not finite (a loop that
never beat) is ``null``: JSON has no infinity.

Not responsible for: building the bodies (``app``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["Device", "Devices", "Health", "HealthDevice", "Ils", "Mqtt", "Storage"]


class Ils(BaseModel):
    backend: str
    state: str
    last_error: str | None = Field(description="The ILS link's last error; the ILS's host "
                                               "and port (direct SIP2) written <port> unless "
                                               "the token's role is staff or admin (in "
                                               "health, always)")
    since: str


class Device(BaseModel):
    name: str
    protocol: str
    role: str
    port: str | None = Field(description="The device path or socket:// URL; null unless the "
                                         "token's role is staff or admin")
    state: str
    connected: bool
    alive: bool
    heartbeat_age_s: float | None
    model: str | None
    firmware: str | None
    last_error: str | None = Field(description="The reader's last error; its port (device "
                                               "path or socket:// address) written <port> "
                                               "unless the token's role is staff or admin")
    since: str
    tags_in_field: int
    counters: dict[str, int]


class Devices(BaseModel):
    devices: list[Device]
    ils: Ils | None


class Storage(BaseModel):
    alive: bool
    heartbeat_age_s: float | None
    outbox_backlog: int | None
    commits: int
    commits_failed: int
    last_error: str | None


class HealthDevice(BaseModel):
    alive: bool
    state: str
    connected: bool
    last_error: str | None = Field(description="The reader's last error; its port (device "
                                               "path or socket:// address) written <port>")


class Mqtt(BaseModel):
    enabled: bool
    connected: bool | None


class Health(BaseModel):
    status: str
    """``ok`` (200) or ``unhealthy`` (503: ``problems`` says why)."""
    problems: list[str]
    uptime_s: float
    storage: Storage
    devices: dict[str, HealthDevice]
    mqtt: Mqtt
    ils: Ils | None
