# SPDX-License-Identifier: Apache-2.0
"""Migration campaigns: a collection converted from legacy tag models (3M, an older ISO
28560-3 / Danish variant, part 2) to the library's model as its items pass a reader, with a tag
health survey and a report for staff.

A campaign (``CampaignService.create``) names the source models to convert, an estimate of the
collection's size and whether data the library's model cannot hold may be dropped. It is box-wide
(``store.campaigns``) and runs on a staff-role reader: the desk pad, or a conveyor's reader
configured with role ``staff`` (``run``/``stop``; one campaign at a time per reader, and not
while a staff batch runs there). Every tag that arrives, once per campaign:

1. is surveyed (``tag_survey``: weak reads, unreadable blocks, locked blocks, default EAS/AFI
   password);
2. is sorted on its data as surveyed:

       the tag                                          outcome
       cannot be read whole                             failed (unreadable blocks)
       already in the library's model                   already
       in a source model, with locks where the new      failed (blocked by locks), nothing
         image goes                                       written
       in a source model                                converted by ``StaffStation.convert_tag``
                                                          (verified, security kept, one
                                                          ``lib.tag.write.v1``), or failed
       blank, unknown, another model                    skipped

3. its outcome, attempts and survey are stored (``campaign_tag``). A failed tag is tried again
   when it arrives again, at most ``ATTEMPTS`` times in all; settled ones are not touched again.
   A tag that left mid-write (``StaffStation.left_unfinished``) is finished from the image
   meant for it when it is back, however many attempts it took: it may not decode until then.

Progress: converted, failed, already, skipped, and pending by estimate (the estimate less the
tags now in the library's model: converted + already; None without an estimate). The report
lists the survey's findings tag by tag. ``finish`` stops every run of it on this station,
marks it finished and records ``lib.campaign.v1`` (the counts and the survey's) in one
transaction; a run elsewhere stops at its next tag. Progress goes to the screens as
``staff.campaign``.

The campaign's row for a converted tag is written after the conversion's own transaction: a
crash between them leaves the tag converted and recorded (``tag.write``) but not counted; when
it passes again it counts as ``already``.

Kiosk check-in converts through :class:`CampaignRun.process` too, after the check-in's own
transaction (``campaign_checkin``).

Not responsible for: the conversion itself (``staff``), the survey's method (``tag_survey``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from edge_service.devices import TagInField
from edge_service.store import (
    CampaignRow,
    CampaignTagRow,
    StoreError,
    WriteConnection,
    utc_now,
    utc_timestamp,
    write_campaign,
    write_campaign_tag,
)
from edge_service.sync.events import record_event, unix_ms
from edge_service.workflows.errors import WorkflowError
from edge_service.workflows.pad_loop import PadLoop
from edge_service.workflows.staff import StaffStation
from edge_service.workflows.tag_access import station_reader
from edge_service.workflows.tag_errors import tag_failure
from edge_service.workflows.tag_survey import TagSurvey, survey_tag
from firmware_bridge import BridgeError
from protocols.contract import CampaignData, ContractError, uuid7
from protocols.iso15693 import Uid
from protocols.iso28560 import TARGETS, TagModel

__all__ = ["ATTEMPTS", "SOURCE_MODELS", "CampaignRun", "CampaignService", "blocking_locks"]

logger = logging.getLogger(__name__)

ATTEMPTS = 3
"""Conversion attempts per tag (each after it arrived again), as a staff batch."""
SOURCE_MODELS = tuple(m.value for m in TARGETS)
"""Models a campaign may convert from: those the tag engine decodes and re-encodes (HF)."""
MAX_NAME = 64



@dataclass(frozen=True, slots=True)
class _Settled:
    outcome: str
    source_model: str | None
    primary_item_id: str | None
    detail: str | None = None


class CampaignRun(PadLoop):
    """One campaign running on one staff station's reader; see the module docstring."""

    def __init__(self, station: StaffStation, campaign: CampaignRow, *,
                 operator: str | None, check_passwords: bool,
                 clock: Callable[[], datetime]) -> None:
        super().__init__(station.supervisor,
                         task_name=f"libedge campaign {campaign.id} {station.name}")
        self.station = station
        self.campaign = campaign
        self.operator = operator
        self.check_passwords = check_passwords
        self._clock = clock
        self._tried: dict[Uid, float] = {}
        """Arrival (``TagInField.arrived_s``) at which each tag was last processed."""

    @property
    def running(self) -> bool:
        return self.looping

    def _may_go_on(self) -> bool:
        return self._active()

    def _active(self) -> bool:
        try:
            row = self.station.store.campaigns.get(self.campaign.id)
        except StoreError as exc:
            logger.warning("campaign %s: state unreadable, stopping: %s", self.campaign.id, exc)
            return False
        return row is not None and row.state == "active"

    async def _turn(self) -> bool:
        """One look; a store error is logged and the next arrival tries again."""
        try:
            await self._look()
        except StoreError as exc:
            logger.warning("campaign %s: %s", self.campaign.id, exc)
        return False

    async def _look(self) -> None:
        changed = False
        for uid, seen in sorted(self.station.supervisor.field.items()):
            if self._stopping:
                break
            if not seen.read or self._tried.get(uid) == seen.arrived_s:
                continue
            self._tried[uid] = seen.arrived_s
            changed = await self.process(uid, seen) or changed
        if changed:
            self.announce()

    async def process(self, uid: Uid, seen: TagInField) -> bool:
        """Survey, sort and maybe convert one tag the reader has read, unless the campaign
        has settled it (or used its attempts); False when it was left alone."""
        known = self.station.store.campaigns.tag(self.campaign.id, str(uid))
        cut = self.station.left_unfinished(uid)
        if not cut and known is not None and (known.outcome != "failed"
                                              or known.attempts >= ATTEMPTS):
            return False
        try:
            if cut:
                await self._finish_cut(uid, known)
            else:
                await self._process(uid, seen, known)
        except Exception:   # a bug must not end the campaign's run
            logger.exception("campaign %s: tag %s failed", self.campaign.id, uid)
        return True

    def announce(self) -> None:
        """The campaign's progress to the screens (``staff.campaign``)."""
        self.station.live.publish("staff.campaign", {
            "reader": self.station.name, **progress(self.station, self.campaign.id)})

    async def _process(self, uid: Uid, seen: TagInField, known: CampaignTagRow | None
                       ) -> None:
        attempts = (known.attempts if known else 0) + 1
        try:
            async with self.station.pad_lock:
                survey = await survey_tag(station_reader(self.station), uid,
                                          check_password=self.check_passwords)
        except BridgeError as exc:
            await self._store(CampaignTagRow(str(uid), "failed", seen.model,
                                             seen.primary_item_id, attempts,
                                             detail=tag_failure(exc, "surveying").message))
            return
        settled = await self._settle(uid, survey, seen)
        await self._store(CampaignTagRow(str(uid), settled.outcome, settled.source_model,
                                         settled.primary_item_id, attempts, survey.to_json(),
                                         settled.detail))

    async def _finish_cut(self, uid: Uid, known: CampaignTagRow | None) -> None:
        """A conversion this station began and the tag cut short (it left the pad mid-write):
        finished from the image meant for it (the half-written tag may not decode at all), with
        no new survey, whatever the attempts so far (it is the tag's repair)."""
        source = known.source_model if known else None
        item = known.primary_item_id if known else None
        try:
            await self.station.convert_tag(uid, allow_loss=self.campaign.allow_loss,
                                           operator=self.operator)
        except WorkflowError as exc:
            settled = _Settled("failed", source, item, exc.message)
        else:
            settled = _Settled("converted", source, item)
        await self._store(CampaignTagRow(
            str(uid), settled.outcome, settled.source_model, settled.primary_item_id,
            (known.attempts if known else 0) + 1, known.health if known else {},
            settled.detail))

    async def _settle(self, uid: Uid, survey: TagSurvey, seen: TagInField) -> _Settled:
        """The outcome for one surveyed tag (the module docstring's table); an unreadable one
        is named as the pad read it when it arrived."""
        tag = survey.decoded()
        if tag is None:
            blocks = ", ".join(map(str, survey.unreadable_blocks)) or "all"
            return _Settled("failed", seen.model, seen.primary_item_id,
                            f"blocks {blocks} cannot be read")
        model, item = tag.model.value, tag.primary_item_id
        if tag.model is self.station.target_model:
            return _Settled("already", None, item)
        if model not in self.campaign.source_models or not item:
            why = "holds no item id" if model in self.campaign.source_models else (
                f"is in {model}, not a source model of this campaign")
            return _Settled("skipped", model, item, f"the tag {why}")
        refusal = self.station.left_as_written(tag)
        if refusal is not None:
            code, reason = refusal
            return _Settled("skipped", model, None if code == "patron_card" else item, reason)
        if blocking_locks(survey):
            return _Settled("failed", model, item, "locked blocks "
                            f"{', '.join(map(str, survey.locked_blocks or ()))} prevent "
                            "the conversion (give the item a new tag)")
        try:
            await self.station.convert_tag(uid, allow_loss=self.campaign.allow_loss,
                                           operator=self.operator)
        except WorkflowError as exc:
            return _Settled("failed", model, item, exc.message)
        return _Settled("converted", model, item)

    async def _store(self, row: CampaignTagRow) -> None:
        now = self._clock()
        try:
            await self.station.store.writer.submit(
                lambda conn: write_campaign_tag(conn, self.campaign.id, row, now=now),
                name="campaign tag", commit_now=True)
        except StoreError as exc:
            logger.warning("campaign %s: tag %s not recorded: %s", self.campaign.id, row.uid,
                           exc)


def blocking_locks(survey: TagSurvey) -> bool:
    """Whether locked blocks lie where a conversion writes: from block 0 over the whole memory
    (the new image is sized to the tag, as ``StaffStation.convert`` encodes it), so any locked
    block would stop the write part way."""
    return bool(survey.locked_blocks)


# --- the service on one station ------------------------------------------------------------------

class CampaignService:
    """Campaigns on one staff station; see the module docstring."""

    def __init__(self, station: StaffStation, *, clock: Callable[[], datetime] = utc_now,
                 rand: Callable[[int], bytes] = os.urandom) -> None:
        self.station = station
        self.store = station.store
        self._clock = clock
        self._rand = rand
        self._run: CampaignRun | None = None
        station.campaign_running = self.running   # a batch must not start beside a run

    async def create(self, name: str, source_models: Sequence[str], *,
                     estimate: int | None = None, allow_loss: bool = False) -> dict[str, Any]:
        """A new active campaign (201); its progress."""
        models = _source_models(source_models, self.station.target_model)
        if not name or len(name) > MAX_NAME:
            raise WorkflowError("invalid_request", f"name: 1-{MAX_NAME} characters",
                                status=422, field="name")
        if estimate is not None and estimate < 0:
            raise WorkflowError("invalid_request", "estimate: not negative", status=422,
                                field="estimate")
        now = self._clock()
        row = CampaignRow(f"cmp-{uuid7(unix_ms(now), self._rand(10))}", name, models,
                          estimate, allow_loss, "active", utc_timestamp(now))
        await self._save(lambda conn: write_campaign(conn, row), "campaign")
        return progress(self.station, row.id)

    def campaigns(self) -> list[dict[str, Any]]:
        return [progress(self.station, row.id) for row in self.store.campaigns.all()]

    def report(self, campaign_id: str) -> dict[str, Any]:
        """Progress, and the survey's findings and the failures tag by tag."""
        self._get(campaign_id)
        return {**progress(self.station, campaign_id),
                **findings(self.store.campaigns.tags(campaign_id))}

    def running(self) -> str | None:
        """The campaign running on this station, if any."""
        return self._run.campaign.id if self._run is not None and self._run.running else None

    async def run(self, campaign_id: str, *, operator: str | None = None,
                  check_passwords: bool = True) -> dict[str, Any]:
        """Start converting the tags that arrive on this station's reader."""
        campaign = self._get(campaign_id)
        if campaign.state != "active":
            raise WorkflowError("campaign_finished", f"Campaign {campaign_id} is finished.")
        if self.running() is not None:
            raise WorkflowError("campaign_running", f"Campaign {self.running()} runs on this "
                                "station; stop it first.")
        batch = self.station.batch()
        if batch is not None and batch.state == "running":
            raise WorkflowError("batch_active", "A batch is running on this pad; stop it first.")
        self._run = CampaignRun(self.station, campaign, operator=operator,
                                check_passwords=check_passwords, clock=self._clock)
        self._run.start()
        return progress(self.station, campaign_id)

    async def stop(self) -> None:
        """Stop the run on this station (after its current tag); safe to call twice."""
        if self._run is not None:
            await self._run.stop()

    async def finish(self, campaign_id: str) -> dict[str, Any]:
        """Finish: ``lib.campaign.v1`` recorded with the campaign's final state."""
        campaign = self._get(campaign_id)
        if campaign.state != "active":
            raise WorkflowError("campaign_finished", f"Campaign {campaign_id} is finished.")
        if self._run is not None and self._run.campaign.id == campaign_id:
            await self._run.stop()
        now = self._clock()
        finished = replace(campaign, state="finished", finished_at=utc_timestamp(now))
        data = _event_data(finished, self.store.campaigns.counts(campaign_id),
                           findings(self.store.campaigns.tags(campaign_id)),
                           self.station.target_model)
        rand = self._rand(10)

        def record(conn: WriteConnection) -> None:
            write_campaign(conn, finished)
            record_event(conn, self.store.outbox, self.station.node, "campaign",
                         "lib.campaign.v1", data, now=now, rand=rand)

        await self._save(record, "finished campaign")
        self.station.wake_outbox()
        return self.report(campaign_id)

    def _get(self, campaign_id: str) -> CampaignRow:
        campaign = self.store.campaigns.get(campaign_id)
        if campaign is None:
            raise WorkflowError("no_campaign", f"No campaign {campaign_id!r}.", status=404)
        return campaign

    async def _save(self, operation: Callable[[WriteConnection], None], what: str) -> None:
        try:
            await self.store.writer.submit(operation, name=what, commit_now=True)
        except StoreError as exc:
            raise WorkflowError("store_failed", f"The {what} could not be saved. Try again.",
                                status=503) from exc


# --- progress and report -------------------------------------------------------------------------

def progress(station: StaffStation, campaign_id: str) -> dict[str, Any]:
    """A campaign's progress: counts and pending by estimate."""
    campaign = station.store.campaigns.get(campaign_id)
    if campaign is None:
        raise WorkflowError("no_campaign", f"No campaign {campaign_id!r}.", status=404)
    counts = station.store.campaigns.counts(campaign_id)
    done = counts["converted"] + counts["already"]
    pending = None if campaign.estimate is None else max(0, campaign.estimate - done)
    return {"campaign_id": campaign.id, "name": campaign.name, "state": campaign.state,
            "target_model": station.target_model.value,
            "source_models": list(campaign.source_models), "estimate": campaign.estimate,
            "allow_loss": campaign.allow_loss, "created_at": campaign.created_at,
            "finished_at": campaign.finished_at, "counts": counts,
            "pending_estimate": pending}


def findings(tags: Sequence[CampaignTagRow]) -> dict[str, Any]:
    """The survey's findings and the failures, tag by tag."""
    def entry(row: CampaignTagRow, **more: Any) -> dict[str, Any]:
        return {"uid": row.uid, "primary_item_id": row.primary_item_id, **more}

    health = {
        "unreadable_blocks": [entry(t, blocks=t.health["unreadable_blocks"]) for t in tags
                              if t.health.get("unreadable_blocks")],
        "weak_reads": [entry(t, read_attempts=t.health["read_attempts"]) for t in tags
                       if t.health.get("weak_read")],
        "default_passwords": [entry(t) for t in tags if t.health.get("default_password")],
        "blocked_by_locks": [entry(t, blocks=t.health.get("locked_blocks"))
                             for t in tags if t.outcome == "failed"
                             and t.health.get("locked_blocks")],
        "password_not_checked": sum(t.health.get("default_password") is None for t in tags
                                    if t.health),
    }
    failures = [entry(t, source_model=t.source_model, attempts=t.attempts, detail=t.detail)
                for t in tags if t.outcome == "failed"]
    by_model: dict[str, dict[str, int]] = {}
    for t in tags:
        if t.source_model and t.outcome in ("converted", "failed"):
            model = by_model.setdefault(t.source_model, {"converted": 0, "failed": 0})
            model[t.outcome] += 1
    return {"health": health, "failures": failures, "by_model": by_model}


def _event_data(campaign: CampaignRow, counts: Mapping[str, int], found: Mapping[str, Any],
                target: TagModel) -> CampaignData:
    health = found["health"]
    done = counts["converted"] + counts["already"]
    try:
        return CampaignData(
            campaign_id=campaign.id, state="finished", target_model=target.value,
            source_models=campaign.source_models, converted=counts["converted"],
            failed=counts["failed"], already=counts["already"], skipped=counts["skipped"],
            unreadable_blocks=len(health["unreadable_blocks"]),
            weak_reads=len(health["weak_reads"]),
            default_passwords=len(health["default_passwords"]),
            blocked_by_locks=len(health["blocked_by_locks"]),
            pending_estimate=None if campaign.estimate is None
            else max(0, campaign.estimate - done),
            name=campaign.name)
    except ContractError as exc:
        raise WorkflowError("invalid_request", f"the campaign's record is refused: {exc}",
                            status=422) from None


def _source_models(models: Sequence[str], target: TagModel) -> tuple[str, ...]:
    if not models:
        raise WorkflowError("invalid_request", "source_models: name the models to convert "
                            f"from ({', '.join(SOURCE_MODELS)})", status=422,
                            field="source_models")
    for index, model in enumerate(models):
        if model not in SOURCE_MODELS:
            raise WorkflowError("invalid_request", f"source_models[{index}]: {model!r} is not "
                                f"one of {', '.join(SOURCE_MODELS)}", status=422,
                                field=f"source_models[{index}]")
        if model == target.value:
            raise WorkflowError("invalid_request", f"source_models[{index}]: {model} is the "
                                "library's own model", status=422,
                                field=f"source_models[{index}]")
    return tuple(dict.fromkeys(models))
