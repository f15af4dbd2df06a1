# SPDX-License-Identifier: Apache-2.0
"""Liveness of the daemon's loops, and the status snapshots the API and metrics read.

Contract:
- Each loop that must stay alive (one per reader supervisor, one for the storage writer) owns a
  :class:`Heartbeat` from :class:`Liveness` and calls ``beat()`` each time round. A heartbeat
  older than ``stale_after_s`` means that loop is stuck: the systemd watchdog stops being fed
  (:func:`feed_watchdog`) and ``GET /api/v1/health`` answers 503.
- A reader that is ``unreachable`` while its supervisor beats (unplugged, absent, a port that
  can never open) is a problem of the :class:`HealthReport` too (503, named), for the
  operator's monitoring; it does not starve the watchdog: a restart would not bring the
  reader back.
- :class:`DaemonView` is what the API asks the daemon for; the snapshots are plain frozen data,
  taken on the event loop, so a request never touches a live driver or connection.

Not responsible for: restarting anything. A stale loop is reported; systemd's watchdog restarts
the whole process (``Restart=on-failure``), which is the one recovery that always works.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from edge_service.systemd_notify import Notifier

if TYPE_CHECKING:
    from edge_service.workflows import LiveEvents
    from edge_service.workflows.runtime import Workflows

__all__ = ["DEFAULT_STALE_AFTER_S", "DaemonView", "DeviceSnapshot", "HealthReport", "Heartbeat",
           "IlsSnapshot", "Liveness", "StoreSnapshot", "feed_watchdog"]

logger = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_S = 30.0
"""Heartbeat age that counts as stuck when systemd gives no watchdog timeout. Longer than any
single reader call may legitimately block (a FEIG exchange waits up to 10 s for a reopen)."""


@dataclass(slots=True)
class Heartbeat:
    name: str
    last_s: float = field(default_factory=time.monotonic)

    def beat(self) -> None:
        self.last_s = time.monotonic()

    def age_s(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.last_s


class Liveness:
    """The heartbeats that must stay fresh; ``stale()`` names the ones that are not."""

    def __init__(self, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> None:
        if stale_after_s <= 0:
            raise ValueError(f"stale_after_s must be > 0, got {stale_after_s!r}")
        self.stale_after_s = stale_after_s
        self._beats: dict[str, Heartbeat] = {}

    @property
    def tick_s(self) -> float:
        """How often a waiting loop should beat: well inside the stale threshold."""
        return min(1.0, self.stale_after_s / 4)

    def register(self, name: str) -> Heartbeat:
        beat = self._beats[name] = Heartbeat(name)
        return beat

    def unregister(self, name: str) -> None:
        self._beats.pop(name, None)

    def ages(self) -> dict[str, float]:
        now = time.monotonic()
        return {name: beat.age_s(now) for name, beat in self._beats.items()}

    def stale(self) -> dict[str, float]:
        return {name: age for name, age in self.ages().items() if age > self.stale_after_s}


async def feed_watchdog(notifier: Notifier, liveness: Liveness, interval_s: float) -> None:
    """Send WATCHDOG=1 every ``interval_s`` while no heartbeat is stale; runs until cancelled."""
    starving = False
    while True:
        stale = liveness.stale()
        if not stale:
            if starving:
                logger.warning("every loop beats again; feeding the systemd watchdog")
                starving = False
            notifier.watchdog()
        elif not starving:
            starving = True
            names = ", ".join(f"{name} ({age:.1f} s)" for name, age in sorted(stale.items()))
            logger.error("loop(s) stuck, no longer feeding the systemd watchdog: %s", names,
                         extra={"fields": {"stale": ",".join(sorted(stale))}})
            notifier.status(f"stuck: {', '.join(sorted(stale))}")
        await asyncio.sleep(interval_s)


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """One reader as the API and metrics show it; counters are cumulative over reconnects."""

    name: str
    protocol: str
    role: str
    port: str
    state: str
    """``starting``, ``connected``, ``unreachable`` (open failed or lost; retrying), ``stopped``."""
    connected: bool
    alive: bool
    """The supervisor task is running and its heartbeat is fresh."""
    heartbeat_age_s: float
    model: str | None
    firmware: str | None
    last_error: str | None
    since: str
    """UTC time of the last state change, ISO 8601."""
    tags_in_field: int
    counters: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    alive: bool
    heartbeat_age_s: float
    outbox_backlog: int | None
    commits: int
    commits_failed: int
    operations_committed: int
    operations_failed: int
    liveness_probes: int
    """Empty commits made by the writer's liveness probe; included in ``commits``."""
    last_error: str | None


@dataclass(frozen=True, slots=True)
class IlsSnapshot:
    """The circulation backend's link to the ILS (``[circulation]``)."""

    backend: str
    """``sip2`` (direct) or ``mqtt`` (through the catalog gateway)."""
    state: str
    """``connecting`` (first attempt running), ``connected``, ``unreachable`` (retrying in the
    background; workflows go off-line). For ``mqtt``, the state of the broker link."""
    last_error: str | None
    """For ``sip2``, a failed connect names the ILS's ``host:port`` (``cannot connect to ILS
    ... at ...``): configuration, which the API shows to staff and admin only."""
    since: str
    """UTC time of the last state change, ISO 8601."""
    host: str | None
    port: int | None
    """Where the direct SIP2 backend connects; None for ``mqtt`` (no address in its errors: its
    state is the broker link's) and when no backend could be built."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    healthy: bool
    problems: tuple[str, ...]
    storage: StoreSnapshot
    devices: tuple[DeviceSnapshot, ...]
    mqtt_enabled: bool
    mqtt_connected: bool | None
    uptime_s: float
    ils: IlsSnapshot | None = None
    """None when the daemon has no circulation backend (not started yet, or stopped). An
    unreachable ILS is reported here, not as a problem: the box works off-line without it."""


class DaemonView(Protocol):
    """What ``edge_service.api`` reads from the daemon."""

    def health(self) -> HealthReport: ...

    def devices(self) -> tuple[DeviceSnapshot, ...]: ...

    def storage(self) -> StoreSnapshot: ...

    def ils(self) -> IlsSnapshot | None: ...

    @property
    def mqtt_connected(self) -> bool | None: ...

    @property
    def live(self) -> LiveEvents:
        """The in-process bus the API's event stream serves."""
        ...

    @property
    def workflows(self) -> Workflows | None:
        """The running workflows (None before they started, or after they stopped)."""
        ...
