# SPDX-License-Identifier: Apache-2.0
"""Staff batch mode: a cart of items processed as they arrive on the staff pad, with progress.

Kinds:

- ``program``: barcodes in order; each new blank tag that arrives gets the next barcode, once
  it is the only blank tag on the pad and every tag there has been read. Two blank tags at
  once are not programmed (which item is which cannot be told), nor is anything while a tag
  cannot be read: the progress's ``notice`` says so until the pad is clear again. A tag that
  already holds data is skipped (another library's item and a patron card say so).
- ``convert``: every tag that arrives is converted once to the library's model; blank tags and
  tags already in the model are skipped.
- ``secure``: every item tag that arrives gets its security set once (``secured``, on by
  default); tags holding no item are skipped.

Rules:

- A barcode is bound to the tag it was first written to: when that write fails, the barcode
  stays reserved for that tag (the next blank tag gets the next barcode, so barcodes never
  shift onto the wrong items) and is written again when the tag is put back, finishing the cut
  write. A barcode whose tag was refused before anything was written goes back to the front
  of the queue.
- A failed tag is tried again only after it arrived again (put back, or re-read after the
  station's own write), at most ``BATCH_ATTEMPTS`` times in all.
- Progress (``BatchProgress``): ``done``, ``failed`` (tags whose last attempt failed),
  ``skipped``, ``pending`` (program: barcodes not yet given to a tag; convert/secure: item tags
  on the pad not yet processed), with one entry per tag. It is published as ``staff.batch`` on
  every change. A program batch finishes by itself when every barcode is written or its tag
  has used up its attempts; the others run until stopped.
- An entry never shows a patron card's number (its "item id"): its ``item`` is None.
- ``stop()`` lets the tag being written finish (a cancelled write would be a half-done one),
  then ends the batch.

Not responsible for: the single operations (``staff.StaffStation``), reading the pad.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_service.devices import TagInField, is_patron_card
from edge_service.workflows.errors import WorkflowError
from edge_service.workflows.pad_loop import PadLoop
from protocols.contract import ContractError, ItemRef
from protocols.iso15693 import Uid
from protocols.iso28560 import TagModel

if TYPE_CHECKING:
    from edge_service.workflows.staff import StaffStation

__all__ = ["BATCH_ATTEMPTS", "MAX_BATCH_ITEMS", "BatchEntry", "BatchKind", "BatchProgress",
           "StaffBatch"]

logger = logging.getLogger(__name__)

BATCH_ATTEMPTS = 3
"""Attempts per tag in a batch (each after the tag arrived again), as the kiosk's put-back."""
MAX_BATCH_ITEMS = 10_000
"""Most barcodes in one program batch: a day's processing is a few hundred."""


class BatchKind(enum.StrEnum):
    PROGRAM = "program"
    CONVERT = "convert"
    SECURE = "secure"


class Outcome(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """What the batch did with one tag."""

    uid: Uid
    item: str | None
    outcome: Outcome
    attempts: int
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"uid": str(self.uid), "item": self.item, "outcome": self.outcome.value,
                "attempts": self.attempts, "message": self.message}


@dataclass(frozen=True, slots=True)
class BatchProgress:
    kind: BatchKind
    state: str
    """``running``, ``finished`` or ``stopped``."""
    done: int
    failed: int
    skipped: int
    pending: int
    total: int | None
    """Barcodes in a program batch; None for the others."""
    next_item: str | None
    notice: str | None
    """Why the batch is waiting (two blank tags on the pad), else None."""
    entries: tuple[BatchEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "state": self.state, "done": self.done,
                "failed": self.failed, "skipped": self.skipped, "pending": self.pending,
                "total": self.total, "next_item": self.next_item, "notice": self.notice,
                "entries": [entry.to_json() for entry in self.entries]}


@dataclass(slots=True)
class _Tag:
    item: str | None
    outcome: Outcome
    attempts: int
    arrived_s: float
    message: str | None = None


class StaffBatch(PadLoop):
    """One batch on one staff station; see the module docstring."""

    def __init__(self, station: StaffStation, kind: BatchKind, barcodes: Sequence[str], *,
                 secured: bool, operator: str | None) -> None:
        super().__init__(station.supervisor, task_name=f"libedge staff batch {station.name}")
        self._station = station
        self.kind = kind
        self.secured = secured
        self.operator = operator
        self._total = len(barcodes) if kind is BatchKind.PROGRAM else None
        self._queue: deque[str] = deque(barcodes)
        self._reserved: dict[Uid, str] = {}
        self._tags: dict[Uid, _Tag] = {}
        self._notice: str | None = None
        self._state = "running"

    @classmethod
    def create(cls, station: StaffStation, kind: BatchKind, items: Sequence[str], *,
               secured: bool, operator: str | None) -> StaffBatch:
        """A batch with its items checked: barcodes for ``program``, none for the others."""
        if kind is not BatchKind.PROGRAM:
            if items:
                raise WorkflowError("invalid_request", f"A {kind.value} batch processes the "
                                    "tags that arrive; it takes no barcodes.", status=422,
                                    field="items")
            return cls(station, kind, (), secured=secured, operator=operator)
        if not items:
            raise WorkflowError("invalid_request", "Give the barcodes to program, in order.",
                                status=422, field="items")
        if len(items) > MAX_BATCH_ITEMS:
            raise WorkflowError("invalid_request", f"{len(items)} barcodes; one batch takes at "
                                f"most {MAX_BATCH_ITEMS}.", status=422, field="items")
        seen: set[str] = set()
        for index, barcode in enumerate(items):
            where = f"items[{index}]"
            try:
                ItemRef(primary_item_id=barcode)
            except ContractError as exc:
                raise WorkflowError("invalid_request", f"{where}: {exc.reason}", status=422,
                                    field=where) from None
            if barcode in seen:
                raise WorkflowError("invalid_request", f"{where}: barcode {barcode} is listed "
                                    "twice", status=422, field=where)
            seen.add(barcode)
        return cls(station, kind, items, secured=secured, operator=operator)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._state == "running"

    def start(self) -> None:
        super().start()
        self._publish()

    async def _turn(self) -> bool:
        await self._look()
        if self._finished():
            self._state = "finished"
            return True
        return False

    def _ended(self) -> None:
        if self._state == "running":
            self._state = "stopped"
        self._publish()

    def _finished(self) -> bool:
        if self.kind is not BatchKind.PROGRAM or self._queue:
            return False
        return all(self._tags[uid].attempts >= BATCH_ATTEMPTS for uid in self._reserved)

    # -- one look at the pad -----------------------------------------------------------------

    async def _look(self) -> None:
        field_now = dict(self._station.supervisor.field)
        ready = [(uid, seen) for uid, seen in sorted(field_now.items(), key=lambda kv: kv[0])
                 if seen.read and self._due(uid, seen)]
        changed = False
        if self.kind is BatchKind.PROGRAM:
            changed = await self._program_turn(ready, field_now)
        else:
            for uid, seen in ready:
                if self._stopping:
                    break
                await self._process(uid, seen)
                changed = True
        if changed:
            self._publish()

    def _due(self, uid: Uid, seen: TagInField) -> bool:
        known = self._tags.get(uid)
        if known is None:
            return True
        return (known.outcome is Outcome.FAILED and known.attempts < BATCH_ATTEMPTS
                and seen.arrived_s != known.arrived_s)

    async def _program_turn(self, ready: list[tuple[Uid, TagInField]],
                            field_now: Mapping[Uid, TagInField]) -> bool:
        changed = False
        for uid, seen in ready:
            if uid in self._reserved:
                await self._program(uid, seen, self._reserved[uid])
                changed = True
            elif seen.model != TagModel.BLANK.value:
                refusal = self._station.left_as_written(seen)
                self._settle(uid, seen, Outcome.SKIPPED, _item_of(seen), attempts=0,
                             message=refusal[1] if refusal else f"already holds {_holds(seen)}")
                changed = True
        notice, fresh = self._one_new_blank(ready, field_now)
        if fresh is not None and self._queue and not self._stopping:
            uid, seen = fresh
            barcode = self._queue.popleft()
            self._reserved[uid] = barcode
            await self._program(uid, seen, barcode)
            changed = True
        if notice != self._notice:
            self._notice, changed = notice, True
        return changed

    def _one_new_blank(self, ready: list[tuple[Uid, TagInField]],
                       field_now: Mapping[Uid, TagInField]
                       ) -> tuple[str | None, tuple[Uid, TagInField] | None]:
        """(notice, the blank tag to give the next barcode). Only when it is the one blank tag
        on the pad, every other tag read: a tag still being read, or an earlier blank tag left
        there after a failure, could be the item the barcode is for."""
        unread = [uid for uid, seen in field_now.items() if not seen.read]
        blank = [uid for uid, seen in field_now.items() if seen.read
                 and seen.model == TagModel.BLANK.value and uid not in self._reserved]
        if len(blank) > 1:
            return (f"{len(blank)} blank tags are on the pad; leave one item at a time so each "
                    "gets its own barcode"), None
        if unread:
            failed = [str(uid) for uid in unread if field_now[uid].read_error]
            notice = (f"tag {', '.join(failed)} cannot be read; take it off the pad"
                      if failed else None)
            return notice, None
        fresh = [(uid, seen) for uid, seen in ready if uid in blank]
        return None, fresh[0] if fresh else None

    async def _program(self, uid: Uid, seen: TagInField, barcode: str) -> None:
        try:
            await self._station.program_tag(barcode, uid=uid, secured=self.secured,
                                            operator=self.operator)
        except WorkflowError as exc:
            self._failed(uid, seen, barcode, exc.message)
            return
        except Exception as exc:  # a bug must not end the batch with the barcode lost
            logger.exception("staff batch: programming tag %s failed", uid)
            self._failed(uid, seen, barcode, type(exc).__name__)
            return
        self._reserved.pop(uid, None)
        self._settle(uid, seen, Outcome.DONE, barcode)

    def _failed(self, uid: Uid, seen: TagInField, barcode: str, message: str) -> None:
        if not self._station.left_unfinished(uid):
            # Refused before anything was written: the barcode waits for the next blank tag.
            self._reserved.pop(uid, None)
            self._queue.appendleft(barcode)
        self._settle(uid, seen, Outcome.FAILED, barcode, message=message)

    async def _process(self, uid: Uid, seen: TagInField) -> None:
        """One arriving tag of a convert or secure batch."""
        skip = self._skip_reason(uid, seen)
        item = _item_of(seen)
        if skip is not None:
            self._settle(uid, seen, Outcome.SKIPPED, item, attempts=0, message=skip)
            return
        try:
            if self.kind is BatchKind.CONVERT:
                await self._station.convert_tag(uid, operator=self.operator)
            else:
                await self._station.secure_tag(uid, self.secured)
        except WorkflowError as exc:
            self._settle(uid, seen, Outcome.FAILED, item, message=exc.message)
            return
        except Exception as exc:  # a bug must not end the batch
            logger.exception("staff batch: tag %s failed", uid)
            self._settle(uid, seen, Outcome.FAILED, item, message=type(exc).__name__)
            return
        self._settle(uid, seen, Outcome.DONE, item)

    def _skip_reason(self, uid: Uid, seen: TagInField) -> str | None:
        if self._station.left_unfinished(uid):
            return None  # a cut write of the station's own: finish it whatever it reads as
        if not seen.primary_item_id:
            return f"holds no item ({seen.model})"
        if self.kind is BatchKind.CONVERT:
            if seen.model == self._station.target_model.value:
                return f"already in {seen.model}"
            refusal = self._station.left_as_written(seen)
            return None if refusal is None else refusal[1]
        return "a library card, not an item" if is_patron_card(seen) else None

    def _settle(self, uid: Uid, seen: TagInField, outcome: Outcome,
                item: str | None, *, attempts: int | None = None,
                message: str | None = None) -> None:
        before = self._tags.get(uid)
        tried = attempts if attempts is not None else (before.attempts if before else 0) + 1
        self._tags[uid] = _Tag(item, outcome, tried, seen.arrived_s, message)

    # -- progress ----------------------------------------------------------------------------

    def progress(self) -> BatchProgress:
        counts = dict.fromkeys(Outcome, 0)
        for tag in self._tags.values():
            counts[tag.outcome] += 1
        if self.kind is BatchKind.PROGRAM:
            pending = len(self._queue)
        elif self.running:
            pending = sum(1 for uid, seen in self._station.supervisor.field.items()
                          if seen.primary_item_id and self._due(uid, seen))
        else:
            pending = 0
        entries = tuple(BatchEntry(uid, tag.item, tag.outcome, tag.attempts, tag.message)
                        for uid, tag in self._tags.items())
        return BatchProgress(self.kind, self._state, counts[Outcome.DONE],
                             counts[Outcome.FAILED], counts[Outcome.SKIPPED], pending,
                             self._total, self._queue[0] if self._queue else None,
                             self._notice, entries)

    def _publish(self) -> None:
        self._station.live.publish("staff.batch", {"reader": self._station.name,
                                                   **self.progress().to_json()})


def _item_of(seen: TagInField) -> str | None:
    """The item id a progress entry shows: never a patron card's number."""
    return None if is_patron_card(seen) else seen.primary_item_id


def _holds(seen: TagInField) -> str:
    if is_patron_card(seen):
        return "a library card"
    if seen.primary_item_id:
        return f"item {seen.primary_item_id} ({seen.model})"
    return f"data ({seen.model})"
