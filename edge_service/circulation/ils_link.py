# SPDX-License-Identifier: Apache-2.0
"""The daemon's hold on its circulation backend: opened in the background, kept open, its state
reported.

- Direct mode (``sip2``): the first login runs in a task, so an ILS that is down never holds
  back READY; while the session is down it is tried again every ``CHECK_INTERVAL_S`` (the SIP2
  session's own jittered backoff decides when a TCP attempt is actually made). Meanwhile the
  state is ``unreachable`` and the workflows' calls raise ``TransientCirculationError``.
- Gateway mode (``mqtt``): nothing to open here; the state follows ``link_down``: the broker
  link, and the catalog gateway instances' retained status (a gateway that is down is known
  at once, so kiosks go off-line without waiting out a request).
- No backend (gateway mode without an MQTT link): ``unreachable`` with the reason.

Not responsible for: building the backend (``factory``), what the workflows do off-line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from edge_service.circulation.backend import CirculationBackend
from edge_service.circulation.sip2_backend import Sip2Backend
from edge_service.ils import IlsError, Sip2Client

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 2.0
"""How often a down SIP2 session is tried again (bounded further by the session's backoff)."""
LinkState = Literal["connecting", "connected", "unreachable"]


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IlsLink:
    """See the module docstring; build with :meth:`direct`, :meth:`gateway`, :meth:`absent`."""

    def __init__(self, kind: str, backend: CirculationBackend | None, *,
                 sip2: Sip2Client | None = None,
                 link_down: Callable[[], str | None] | None = None,
                 reason: str | None = None) -> None:
        self.kind = kind
        self.backend = backend
        self._sip2 = sip2
        self._link_down = link_down
        self._state: LinkState = "connecting" if sip2 is not None else "unreachable"
        self._last_error = reason
        self._since = _utc_now()
        self._task: asyncio.Task[None] | None = None
        self.last_connected_s: float | None = None
        """``time.monotonic()`` when the link was last known connected (None: not since the
        daemon started); the kiosks' off-line time cap counts from it, for every kiosk."""

    @classmethod
    def direct(cls, backend: Sip2Backend) -> IlsLink:
        if not isinstance(backend.sip2, Sip2Client):
            raise TypeError("a node's direct backend runs on one Sip2Client")
        return cls("sip2", backend, sip2=backend.sip2)

    @classmethod
    def gateway(cls, backend: CirculationBackend,
                link_down: Callable[[], str | None]) -> IlsLink:
        """``link_down``: why the gateway cannot be reached now, None while it can."""
        return cls("mqtt", backend, link_down=link_down)

    @classmethod
    def absent(cls, kind: str, reason: str) -> IlsLink:
        return cls(kind, None, reason=reason)

    # --- state -------------------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        if self._link_down is not None:
            reason = self._link_down()
            self._set("connected" if reason is None else "unreachable", reason)
        state = self._state
        if state == "connected":
            self.last_connected_s = time.monotonic()
        return state

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def since(self) -> str:
        return self._since

    @property
    def address(self) -> tuple[str, int] | None:
        """The ILS's host and port, as the SIP2 session's errors name them (direct mode); None
        through the gateway, whose link reports no address."""
        if self._sip2 is None:
            return None
        return self._sip2.profile.host, self._sip2.profile.port

    def _set(self, state: LinkState, error: str | None) -> None:
        self._last_error = error
        if state == self._state:
            return
        if "connected" in (state, self._state):   # up now, or up until now
            self.last_connected_s = time.monotonic()
        self._state, self._since = state, _utc_now()
        if state == "connected":
            log.info("ILS link up (%s)", self.kind)
        else:
            log.warning("ILS unreachable (%s), retrying in the background: %s", self.kind, error)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._sip2 is not None and self._task is None:
            self._task = asyncio.create_task(self._keep_open(self._sip2), name="libedge ils link")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._sip2 is not None:
            with contextlib.suppress(IlsError, OSError):
                await self._sip2.close()
            self._set("unreachable", "closed")

    async def _keep_open(self, client: Sip2Client) -> None:
        while True:
            if client.session.connected:
                self._set("connected", None)
            else:
                try:
                    await client.connect()
                except (IlsError, OSError) as exc:
                    self._set("unreachable", str(exc))
                else:
                    self._set("connected", None)
            await asyncio.sleep(CHECK_INTERVAL_S)
