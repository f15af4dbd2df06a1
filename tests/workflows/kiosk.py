# SPDX-License-Identifier: Apache-2.0
"""A kiosk for the self-check tests: the pad rig, the ILS simulator over real TCP with the
sample catalogue, the direct SIP2 backend, and the SelfCheck workflow on top."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_service.circulation import IlsLink, Sip2Backend
from edge_service.config import LibraryConfig, NodeConfig, SelfCheckConfig
from edge_service.ils import IlsSimulator, Sip2Client
from edge_service.store import Store
from edge_service.workflows import LiveEvents
from edge_service.workflows.selfcheck import KioskSession, SelfCheck
from firmware_bridge.security import PRESETS
from tests.ils.helpers import clock, profile_for, simulator
from tests.workflows.rig import Rig, pad_rig, wait_for

NODE = NodeConfig(tenant="DK-TEST", site="main", node="kiosk-1")
SALT = b"test-salt-0123456789"


@dataclass
class Kiosk:
    rig: Rig
    ils: IlsSimulator
    link: IlsLink
    selfcheck: SelfCheck
    live: LiveEvents

    @property
    def store(self) -> Store:
        return self.rig.store

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The envelopes waiting in the outbox, oldest first (optionally one type)."""
        out = [json.loads(e.payload) for e in self.store.outbox.peek(1000)]
        return [e for e in out if kind is None or e["type"] == kind]

    async def settled(self, session: KioskSession, count: int, timeout_s: float = 10.0
                      ) -> KioskSession:
        """Wait until ``count`` items of the session reached a final or put-back state."""
        final = {"done", "refused", "needs_staff", "not_ours", "put_back", "incomplete_set"}
        await wait_for(lambda: sum(i.state.value in final for i in session.items.values())
                       >= count and not self.selfcheck._running, timeout_s,
                       f"{count} settled items")
        return session


@contextlib.asynccontextmanager
async def kiosk(tmp_path: Path, tags: Sequence[Mapping[str, Any]] = (), *,
                policy: SelfCheckConfig | None = None, scheme: str = "iso",
                library: LibraryConfig | None = None, store: Store | None = None,
                ils_latency_ms: int = 0, poll_interval_ms: int = 50) -> AsyncIterator[Kiosk]:
    async with (simulator() as ils,
                pad_rig(tmp_path, tags, store=store, poll_interval_ms=poll_interval_ms) as rig):
        ils.set_faults(latency_ms=ils_latency_ms)
        client = Sip2Client(profile_for(ils), clock=clock)
        link = IlsLink.direct(Sip2Backend(client))
        link.start()
        live = LiveEvents()
        selfcheck = SelfCheck(
            rig.supervisor, store=rig.store, node=NODE, link=lambda: link,
            scheme=PRESETS[scheme],
            policy=policy or SelfCheckConfig(set_wait_ms=300, pin_required=False),
            library=library or LibraryConfig(isil="DK-718500"), live=live, salt=SALT)
        try:
            await wait_for(lambda: link.state == "connected", 5.0, "the ILS link")
            selfcheck.start()
            yield Kiosk(rig, ils, link, selfcheck, live)
        finally:
            await selfcheck.stop()
            await link.close()
