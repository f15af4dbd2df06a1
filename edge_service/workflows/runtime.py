# SPDX-License-Identifier: Apache-2.0
"""Workflows: the daemon's one object for every workflow, built from the configuration.

One workflow per reader, by the reader's role:

    pad    -> SelfCheck (kiosk), plus the journal's Recovery (one per box)
    gate   -> GateMonitor (the supervisor's inventory is AFI-filtered when the scheme uses AFI)
    staff  -> StaffStation (program, convert, secure, batch) and inventory sessions, with its
              technical services (``services``: receiving, interlibrary loan, campaigns)

``node.mode`` narrows what runs (``kiosk``: pads only, ``gate``: gates only, ``staff``: staff
readers only, ``all``: everything). ``start()`` runs the journal recovery once before any kiosk
takes a patron, then starts everything; ``stop()`` ends open kiosk sessions (undoing what cannot
be finished) and stops. ``rebind()`` follows the readers after a configuration reload.

Not responsible for: the readers (``devices``), the ILS link (``circulation``), HTTP (``api``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from edge_service.circulation import IlsLink
from edge_service.config import Config
from edge_service.devices import DeviceSupervisor
from edge_service.store import Store
from edge_service.workflows.campaign_checkin import CheckinCampaigns
from edge_service.workflows.gate import GateMonitor, LightBarriers, gate_inventory_afi
from edge_service.workflows.live import LiveEvents
from edge_service.workflows.order_lines import EXPECT_COMMAND, CommandHandler, expect_command
from edge_service.workflows.recovery import Recovery
from edge_service.workflows.selfcheck import SelfCheck
from edge_service.workflows.services import TechnicalServices
from edge_service.workflows.staff import StaffStation
from firmware_bridge import SECURITY_PRESETS

__all__ = ["Workflows"]

logger = logging.getLogger(__name__)

MODE_ROLES = {"kiosk": ("pad",), "gate": ("gate",), "staff": ("staff",),
              "all": ("pad", "gate", "staff")}
PATRON_SALT = "patron-salt"


class Workflows:
    """Every workflow of the box; see the module docstring."""

    def __init__(self, config: Config, store: Store, *, link: Callable[[], IlsLink | None],
                 live: LiveEvents, wake_outbox: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.store = store
        self.live = live
        self._link = link
        self._wake_outbox = wake_outbox
        self.scheme = SECURITY_PRESETS[config.security.scheme]
        self.kiosks: dict[str, SelfCheck] = {}
        self.gates: dict[str, GateMonitor] = {}
        self.staff: dict[str, StaffStation] = {}
        self.services: dict[str, TechnicalServices] = {}
        self.recovery: Recovery | None = None
        self._salt = b""

    async def start(self, supervisors: Mapping[str, DeviceSupervisor]) -> None:
        self._salt = await self.store.node_secret(PATRON_SALT)
        self._bind(supervisors)
        if self.recovery is not None:
            settled = await self.recovery.recover()
            if settled:
                logger.info("journal recovery settled %d unfinished transaction(s)", settled)
            self.recovery.start()

    async def stop(self) -> None:
        for kiosk in self.kiosks.values():
            if kiosk.session is not None and kiosk.session.open:
                await kiosk.end_session(kiosk.session.id, "shutdown")
        await self._unbind(set(self.kiosks) | set(self.gates) | set(self.staff))
        if self.recovery is not None:
            await self.recovery.stop()
            self.recovery = None

    async def rebind(self, supervisors: Mapping[str, DeviceSupervisor]) -> None:
        """After a reload: workflows of removed or replaced readers stop, new ones start."""
        stale = {name for name in (set(self.kiosks) | set(self.gates) | set(self.staff))
                 if name not in supervisors or self._supervisor_of(name) is not
                 supervisors[name]}
        await self._unbind(stale)
        self._bind(supervisors)
        if self.recovery is None and self.kiosks:
            self.recovery = Recovery(next(iter(self.kiosks.values())),
                                     live_journal_ids=self.live_journal_ids)
            self.recovery.start()

    # --- lookup for the API -------------------------------------------------------------------

    def kiosk(self, name: str | None = None) -> SelfCheck | None:
        if name is None:
            return next(iter(self.kiosks.values()), None)
        return self.kiosks.get(name)

    def live_journal_ids(self) -> set[str]:
        """The transactions the sessions of every kiosk of the box still own."""
        return set().union(*(kiosk.live_journal_ids() for kiosk in self.kiosks.values()))

    def commands(self) -> dict[str, CommandHandler]:
        """The commands from central the workflows answer (name -> handler)."""
        return {EXPECT_COMMAND: expect_command(self.store)}

    def snapshot(self) -> dict[str, Any]:
        return {"mode": self.config.node.mode, "kiosks": sorted(self.kiosks),
                "gates": sorted(self.gates), "staff": sorted(self.staff),
                "recovery": dict(self.recovery.settled) if self.recovery else {}}

    # --- binding ------------------------------------------------------------------------------

    def _bind(self, supervisors: Mapping[str, DeviceSupervisor]) -> None:
        roles = MODE_ROLES[self.config.node.mode]
        for name, supervisor in supervisors.items():
            role = supervisor.config.role
            if role not in roles or name in self.kiosks or name in self.gates \
                    or name in self.staff:
                continue
            if role == "pad":
                kiosk = SelfCheck(
                    supervisor, store=self.store, node=self.config.node, link=self._link,
                    scheme=self.scheme, policy=self.config.selfcheck,
                    library=self.config.library, live=self.live, salt=self._salt,
                    wake_outbox=self._wake_outbox)
                if self.config.selfcheck.convert_at_checkin:
                    kiosk.after_checkin = CheckinCampaigns.on(kiosk)
                kiosk.start()
                self.kiosks[name] = kiosk
                if self.recovery is None:
                    self.recovery = Recovery(kiosk, live_journal_ids=self.live_journal_ids)
            elif role == "gate":
                supervisor.inventory_afi = gate_inventory_afi(self.scheme)
                beams = self.config.gate.barriers()
                gate = GateMonitor(
                    supervisor, store=self.store, node=self.config.node,
                    library=self.config.library, gate=self.config.gate, scheme=self.scheme,
                    live=self.live, wake_outbox=self._wake_outbox,
                    barriers=LightBarriers(*beams) if beams else None)
                gate.start()
                self.gates[name] = gate
            else:
                station = StaffStation(supervisor, self.store, self.config.node,
                                       self.config.library, self.scheme, self.live,
                                       wake_outbox=self._wake_outbox)
                self.staff[name] = station
                self.services[name] = services = TechnicalServices.on(station)
                services.start()

    def _supervisor_of(self, name: str) -> DeviceSupervisor | None:
        """The reader the workflow named ``name`` runs on (None: no such workflow)."""
        if (kiosk := self.kiosks.get(name)) is not None:
            return kiosk.pad
        if (gate := self.gates.get(name)) is not None:
            return gate.supervisor
        if (station := self.staff.get(name)) is not None:
            return station.supervisor
        return None

    async def _unbind(self, names: set[str]) -> None:
        for name in names:
            kiosk = self.kiosks.pop(name, None)
            if kiosk is not None:
                if kiosk.session is not None and kiosk.session.open:
                    await kiosk.end_session(kiosk.session.id, "reader removed")
                await kiosk.stop()
                if self.recovery is not None and self.recovery.kiosk is kiosk:
                    await self.recovery.stop()
                    self.recovery = None
            gate = self.gates.pop(name, None)
            if gate is not None:
                await gate.stop()
            services = self.services.pop(name, None)
            if services is not None:
                await services.stop()
            station = self.staff.pop(name, None)
            if station is not None:
                stop = getattr(station, "stop", None)
                if stop is not None:
                    await stop()
