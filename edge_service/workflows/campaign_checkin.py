# SPDX-License-Identifier: Apache-2.0
"""Migration campaigns at kiosk check-in: a returned item's legacy tag is converted on the pad.

A kiosk (``SelfCheck``) calls :meth:`CheckinCampaigns.wants` for each item whose check-in has
committed, and :meth:`CheckinCampaigns.convert` when it says yes; the item is shown "updating
the tag" meanwhile, so the patron leaves it on the pad. The check-in is finished before: its
security write is verified and its event recorded, and the conversion keeps the security as it
is now (secured), so a conversion can never leave a returned item unsecured or undo the return.

Which tags: ``selfcheck.convert_at_checkin`` on (the default), and the pad read the tag as a
source model of a campaign that is active. Tags already in the library's model are not
touched (a check-in should cost the patron nothing when there is nothing to do), so the
campaign's "already" count grows only at staff stations and conveyors. Each tag goes through
the same :meth:`CampaignRun.process` as at a staff station (survey, sort, convert, record,
at most ``campaigns.ATTEMPTS`` attempts), with the kiosk's pad and the kiosk's own tag lock,
and without the default-password check (it costs a patron's time and may mute a tag until the
next RF reset; staff stations run it).

A patron who takes the item away mid-conversion leaves a half-written tag, which may not
decode at all (``StaffStation.left_unfinished``, a ``write_failed`` exception event). The kiosk
asks for the item back (:meth:`CheckinCampaigns.unfinished`) and the write is finished from the
image meant for it, whatever the tag reads as meanwhile; the campaign records the tag as failed
until then, converted after.

Not responsible for: the check-in (``selfcheck``), conversion and its verification
(``staff``), the campaign's bookkeeping (``campaigns``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from edge_service.devices import TagInField
from edge_service.store import CampaignRow, StoreError, utc_now
from edge_service.workflows.campaigns import CampaignRun
from edge_service.workflows.selfcheck import SelfCheck
from edge_service.workflows.staff import StaffStation
from protocols.iso15693 import Uid

__all__ = ["KIOSK_OPERATOR", "CheckinCampaigns"]

logger = logging.getLogger(__name__)

KIOSK_OPERATOR = "kiosk-checkin"
"""The operator named in the conversion's ``lib.tag.write.v1`` event."""



class CheckinCampaigns:
    """Converts the tags of items a kiosk has checked in; see the module docstring."""

    def __init__(self, station: StaffStation, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.station = station
        self._clock = clock
        self._cut: dict[Uid, CampaignRow] = {}
        """Tags whose conversion they left mid-write, with the campaign converting them."""

    @classmethod
    def on(cls, kiosk: SelfCheck, *, clock: Callable[[], datetime] = utc_now
           ) -> CheckinCampaigns:
        """A converter on ``kiosk``'s pad that takes turns with the kiosk's own tag writes."""
        station = StaffStation(kiosk.pad, kiosk.store, kiosk.node, kiosk.library,
                               kiosk.scheme, kiosk.live, wake_outbox=kiosk.wake_outbox,
                               clock=clock, pad_lock=kiosk.tag_lock)
        return cls(station, clock=clock)

    def _active(self) -> list[CampaignRow]:
        try:
            campaigns = self.station.store.campaigns.all()
        except StoreError as exc:
            logger.warning("kiosk %s: campaigns unreadable, no conversion: %s",
                           self.station.name, exc)
            return []
        return sorted((c for c in campaigns if c.state == "active"),
                      key=lambda c: (c.created_at, c.id))

    def _campaign_for(self, tag: TagInField, active: Sequence[CampaignRow]
                      ) -> CampaignRow | None:
        """The campaign that left this tag mid-write, else the oldest active campaign
        converting its model, if the pad read it."""
        if tag.uid in self._cut and self.station.left_unfinished(tag.uid):
            return self._cut[tag.uid]
        if not tag.read or tag.model is None or tag.model == self.station.target_model.value:
            return None
        if self.station.left_as_written(tag) is not None:
            return None
        return next((c for c in active if tag.model in c.source_models), None)

    def wants(self, tags: Sequence[TagInField]) -> bool:
        active = self._active()
        return any(self._campaign_for(t, active) for t in tags)

    async def convert(self, tags: Sequence[TagInField]) -> None:
        active = self._active()
        for tag in tags:
            campaign = self._campaign_for(tag, active)
            if campaign is None:
                continue
            run = CampaignRun(self.station, campaign, operator=KIOSK_OPERATOR,
                              check_passwords=False, clock=self._clock)
            if await run.process(tag.uid, tag):
                run.announce()
            if self.station.left_unfinished(tag.uid):
                self._cut[tag.uid] = campaign
            else:
                self._cut.pop(tag.uid, None)

    def unfinished(self, tags: Sequence[TagInField]) -> list[Uid]:
        """Those of ``tags`` a conversion left mid-write (to be put back and finished)."""
        return [t.uid for t in tags if self.station.left_unfinished(t.uid)]
