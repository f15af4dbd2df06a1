# SPDX-License-Identifier: Apache-2.0
"""Technical services on a staff station: acquisitions receiving, interlibrary loan and
migration campaigns, built on the station's reader, store and write sequence.

``Workflows`` makes one :class:`TechnicalServices` per staff station (``Workflows.services``)
and the catalog's command (``acq.expect``, see ``order_lines``) per box (``commands``).

Not responsible for: the services themselves (``acquisitions``, ``ill``, ``campaigns``), HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_service.workflows.acquisitions import Acquisitions
from edge_service.workflows.campaigns import CampaignService
from edge_service.workflows.ill import InterlibraryLoans
from edge_service.workflows.staff import StaffStation

__all__ = ["TechnicalServices"]


@dataclass(frozen=True, slots=True)
class TechnicalServices:
    station: StaffStation
    acquisitions: Acquisitions
    ill: InterlibraryLoans
    campaigns: CampaignService

    @classmethod
    def on(cls, station: StaffStation) -> TechnicalServices:
        return cls(station, Acquisitions(station), InterlibraryLoans(station),
                   CampaignService(station))

    def start(self) -> None:
        """Resume the station's open delivery (a campaign run is started by staff)."""
        self.acquisitions.start()

    async def stop(self) -> None:
        """Stop listening to the pad; open deliveries and campaigns stay in the store."""
        await self.campaigns.stop()
        await self.acquisitions.stop()
