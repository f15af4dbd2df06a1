# SPDX-License-Identifier: Apache-2.0
"""GateMonitor: the security gate. A secured tag at the door alarms, and the alarm names the item.

One monitor per reader with role ``gate``. It listens to that reader's field
(``DeviceSupervisor.add_field_listener``, called after every inventory) and decides for each tag
in it whether the door alarms. Every alarm is a ``lib.gate.alarm.v1`` event with the item's id,
owner, title and status.

Which tags are secured:

- AFI schemes (``iso``, ``3m``, ``iso+eas``): the daemon makes the gate's inventory AFI-filtered
  (``supervisor.inventory_afi = gate_inventory_afi(scheme)``), so only secured tags answer, and a
  tag in the field *is* secured: none of the three drivers reports the AFI in an inventory, the
  filter is the observation. ISO 15693 makes a zero nibble of the requested AFI a wildcard, so a
  filter of 07 also hears x7 tags such as 3M's secured D7: other libraries' tags in practice,
  which the foreign policy handles. With ``iso+eas`` the AFI decides: a filtered inventory cannot
  hear a tag that only its EAS bit secures.
- EAS-only schemes (and an AFI scheme whose inventory is not filtered) take the slower path: one
  background task asks each arriving tag (``Reader.read_security``: NXP EAS ALARM, "off" only
  after several silent alarms, or the system information's AFI), one tag at a time on the
  reader's session between the presence inventories; the decision follows the answer, some tens
  of milliseconds later per tag. A tag that cannot say (a non-NXP tag under EAS, an AFI that is
  neither configured value, no answer after ``SECURITY_CHECK_ATTEMPTS``) raises no alarm and is
  counted (``security_unknown``).

Decision per secured tag, on cache knowledge (the listener reads the cache inline, a few
microseconds per tag, and never awaits)::

    the tag                                                  action
    no item id (blank, unknown data model, unreadable)       gate.unknown: alarm | report
    names an owner ISIL that is not ours                     gate.foreign: alarm | report | ignore
    ours, on loan (security_expected false), row changed     no alarm; lib.security.mismatch.v1
      within gate.grace_s                                      (remediation staff_alerted)
    ours, on loan, row older than gate.grace_s               alarm and the mismatch event
    ours, security expected, or not in the cache             alarm

A tag the cache has never seen is read by the supervisor right after the first notification;
the monitor waits for that read (the second notification of the same inventory turn) to name
the item. A tag without an owner ISIL is not foreign: it is looked up under our ISILs. Nor is
an interlibrary loan on loan to us (``ill``): an open loan recorded by a staff station
(``store.ill``), or a tag read here whose ILL borrowing institution is one of our ISILs; it is
judged as our own items are.

Alarm: the outputs ``ALARM_OUTPUTS`` pulse for ``gate.alarm_ms`` (``Reader.set_outputs``,
scheduled as a task at once); the events are recorded in one writer operation
(``record_event``) once the output command has answered, then ``wake_outbox()``; the screens
get ``live.publish`` of ``gate.alarm`` (the event's data, its time, ``outputs`` and
``sounded``), ``gate.mismatch`` and ``gate.count``. ``outputs`` says what the alarm outputs did:
``sounded`` (commanded and acknowledged by the reader), ``failed`` (the command failed),
``unavailable`` (the reader has none: 3M D6, TRF7970A; counted as ``alarms_without_outputs`` and
logged once) or ``off`` ("report": recorded, outputs left off by policy); ``sounded`` is true
only for the first. The v1 event has no field saying whether it sounded.

Debounce: a tag is decided again ``gate.realarm_s`` after its last decision while it stays, or
after it left: absent from the inventories for ``LEFT_FIELD_AFTER_S``. The mismatch event goes
out once per visit; the box's exception queue gets one entry per item and local day (a tag
flickering at the edge of the field, or a patron walking in and out, would otherwise fill the
queue the kiosks' exceptions share).

Direction: the antenna that saw the tag first on this visit: the inside antenna (``antennas[0]``,
default 1) first means the item is on its way out, the outside one (default 2) in. None of the
three drivers reports antennas yet (``TagSighting.antenna`` is None), so direction comes from
the light barriers when a passage is in progress, else it is ``unknown``. A walker's tags
usually reach the field before the walker breaks a beam: with barriers on a reader that has
inputs, a decision whose direction is not known yet sounds at once, but its events and screen
entries wait up to ``DIRECTION_WAIT_S`` for the first passage to show its direction (the
passage in progress, or the one completed); past that, or at ``stop()``, they say ``unknown``.

People counting: with ``LightBarriers`` (two reader inputs, inside and outside beam; an input
reads 1 while its beam is broken) the inputs are polled every ``INPUT_POLL_S``; a passage is both
beams broken and then both clear, and the beam broken first gives its direction. Passages whose
order fell between two polls are counted as ``unknown_direction`` (the event has only in/out).
One ``lib.gate.count.v1`` per ``COUNT_PERIOD_S`` (hours of the box's local clock) in which the
inputs were read at least once; the part of a period counted before ``stop()`` is recorded too
if anything was counted. Without barriers, counts are unavailable: none of the three readers
reports people counters (``InputState.counters`` stays empty).

Not responsible for: the inventory and identifying tags (``DeviceSupervisor``), what AFI/EAS
values mean (``SecurityScheme``), repairing a tag's security (the staff station), the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar

from edge_service.config import GateConfig, LibraryConfig, NodeConfig, same_isil
from edge_service.devices import DeviceSupervisor, TagInField, is_patron_card
from edge_service.store import (
    GATE_TODAY,
    CachedItem,
    JournalError,
    Store,
    StoreError,
    WriteConnection,
    journal_begin,
    journal_end,
    utc_now,
    write_state,
)
from edge_service.sync.events import record_event, unix_ms
from edge_service.workflows.live import LiveEvents
from firmware_bridge import (
    BridgeError,
    Capability,
    InputState,
    OutputPulse,
    Reader,
    SecurityScheme,
    Unsupported,
)
from protocols.contract import (
    ContractError,
    GateAlarmData,
    GateAlarmItem,
    GateCountData,
    Message,
    SecurityMismatchData,
    format_time,
)
from protocols.iso15693 import Uid, afi_matches

__all__ = ["ALARM_OUTPUTS", "GateMonitor", "LightBarriers", "PassageCounter",
           "gate_inventory_afi"]

logger = logging.getLogger(__name__)

ALARM_OUTPUTS: tuple[int, ...] = (2, 3)
"""Outputs an alarm drives, in the driver's numbering: FEIG [0x71] 2 = red LED (the light),
3 = beeper (the buzzer). A gate whose lamp and sounder hang on the relay passes 4 as well."""
INSIDE_ANTENNA = 1
OUTSIDE_ANTENNA = 2
LEFT_FIELD_AFTER_S = 1.0
"""A tag absent from the inventories this long has left. An inventory misses a weakly coupled
tag now and then (a body between tag and antenna); one passage must not alarm twice."""
ARRIVAL_ITEM_FRESH_S = 0.25
"""How long the item the supervisor's arrival lookup found stands in for a cache lookup of
the gate's own: a decision on the inventory that saw the tag arrive takes it (one SQLite
query fewer on the alarm's path); any later one asks the cache again."""
SECURITY_CHECK_ATTEMPTS = 3
"""Slow path: tries per visit to ask a tag its security state before giving up on it."""
INPUT_POLL_S = 0.1
"""Light-barrier poll period: a walker breaks a beam for 0.3-0.5 s, and the reader's change
latches catch shorter breaks between two polls."""
DIRECTION_WAIT_S = 2.0
"""How long a decision's events wait for the light barriers to give its direction: a walker
crosses a gate in about a second, and the tags are seen as the walker reaches it."""
MISMATCH_KIND = "gate_mismatch"
"""The journal kind of a mismatch queued for staff (ended at once: nothing to recover); its
id names the kind, the local day and the item, so an item is queued once a day."""
COUNT_PERIOD_S = 3600
"""People counts go out once per clock hour."""
LAST_ALARMS = 50
"""Alarms kept for the gate page (``snapshot``)."""
MAX_EVENT_ITEMS = 64
"""``GateAlarmData.items`` holds at most 64 tags; a larger burst becomes several events."""
MAX_TITLE_CHARS = 512

Action = Literal["alarm", "report", "mismatch", "ignore", "clear"]
Direction = Literal["in", "out", "unknown"]
Outputs = Literal["sounded", "failed", "unavailable", "off"]
"""What the alarm outputs did for one alarm (module docstring)."""
M = TypeVar("M", bound=Message)
T = TypeVar("T")
_FOREIGN_ACTIONS: dict[str, Action] = {"alarm": "alarm", "report": "report", "ignore": "ignore"}
_EventSpec = tuple[str, str, Message]
"""(topic kind, event type, data) of one event to record."""
_Sounding = asyncio.Task[bool] | None
"""An alarm's output command (its result: acknowledged), None when there are no outputs."""
_LOGGED: dict[Outputs, str] = {"sounded": "alarm", "failed": "alarm, the outputs failed",
                               "unavailable": "alarm, no outputs", "off": "reported, no alarm"}


def gate_inventory_afi(scheme: SecurityScheme) -> int | None:
    """The AFI the gate's presence inventory asks for: only secured tags answer (None: the
    scheme has no AFI, every tag answers and each one is asked for its EAS bit)."""
    return scheme.afi_secured if scheme.use_afi else None



# --- people counting -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LightBarriers:
    """The reader inputs (1-based, as ``InputState`` bit 0 = input 1) of the two beams."""

    inside: int = 1
    outside: int = 2

    def __post_init__(self) -> None:
        for name in ("inside", "outside"):
            if not 1 <= getattr(self, name) <= 8:
                raise ValueError(f"light barrier {name}: input {getattr(self, name)} is not 1..8")
        if self.inside == self.outside:
            raise ValueError(f"light barriers: inside and outside are both input {self.inside}")


class PassageCounter:
    """Passages through two light barriers, from successive input reads (no I/O here).

    A passage starts when a beam breaks while both were clear and ends when both are clear
    again; it counts only if both beams were broken on the way. The beam broken first gives the
    direction ("out" when the inside one); when both broke between two reads, "unknown".
    """

    def __init__(self, barriers: LightBarriers) -> None:
        self._inside = 1 << (barriers.inside - 1)
        self._outside = 1 << (barriers.outside - 1)
        self._seen = 0
        self._heading: Direction | None = None

    @property
    def heading(self) -> Direction | None:
        """Direction of the passage in progress (None: nobody in the gate)."""
        return self._heading

    def observe(self, state: InputState) -> Direction | None:
        """Feed one read; the direction of a passage that this read completed, else None."""
        both = self._inside | self._outside
        broken = state.inputs & both
        # A latch says the input changed since the last read: its beam was broken meanwhile.
        touched = (state.inputs | state.changed) & both
        if touched and not self._seen:
            self._heading = ("out" if touched == self._inside
                             else "in" if touched == self._outside else "unknown")
        self._seen |= touched
        if broken or not self._seen:
            return None
        done = self._heading if self._seen == both else None
        self._seen, self._heading = 0, None
        return done


# --- what the monitor remembers per tag ----------------------------------------------------


@dataclass(slots=True)
class _Visit:
    """One stay of a tag in the gate's field."""

    first_antenna: int | None
    absent_since: float | None = None
    decided_s: float | None = None
    secured: bool | None = None
    """Slow path: the tag's answer (None: not asked yet)."""
    afi: int | None = None
    eas: bool | None = None
    checks: int = 0
    checking: bool = False
    mismatch_sent: bool = False
    judge_failed: bool = False
    """A decision on this tag raised (logged once per visit; judged again next time)."""


@dataclass(slots=True)
class _Today:
    """The gate page's tallies of one local day: alarms, and the people counted in periods
    already recorded. Kept in the store (``GATE_TODAY``) in the transaction of the gate's
    events, so a restart keeps them; a crash loses what no event recorded yet (the passages
    of the current period, as central loses them)."""

    day: date | None = None
    alarms: int = 0
    entered: int = 0
    left: int = 0

    def of(self, day: date) -> _Today:
        """These tallies, restarted at zero when ``day`` is a later day; for a day already
        over (a decision booked after midnight that waited for its direction), tallies of
        their own that nothing keeps."""
        if self.day is not None and day < self.day:
            return _Today(day)
        if self.day is None or day > self.day:
            self.day, self.alarms, self.entered, self.left = day, 0, 0, 0
        return self

    def to_json(self) -> str:
        return json.dumps({"day": None if self.day is None else self.day.isoformat(),
                           "alarms": self.alarms, "entered": self.entered, "left": self.left},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: object) -> _Today:
        """ValueError or TypeError when ``text`` is not what :meth:`to_json` writes."""
        if not isinstance(text, str):
            raise TypeError(f"not text but {type(text).__name__}")
        values = json.loads(text)
        if not isinstance(values, dict):
            raise TypeError("not a JSON object")
        counts: list[int] = []
        for name in ("alarms", "entered", "left"):
            count = values.get(name)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ValueError(f"{name}: {count!r} is not a whole number >= 0")
            counts.append(count)
        day = values["day"]   # null: recorded before any alarm or count (a report)
        return cls(None if day is None else date.fromisoformat(day), *counts)


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The decision on one tag and the facts its events will carry, taken at decision time
    (the messages are built after the outputs were commanded)."""

    uid: Uid
    action: Action
    foreign: bool = False
    primary_item_id: str | None = None
    owner_institution: str | None = None
    afi: int | None = None
    eas: bool | None = None
    cached: CachedItem | None = None
    mismatch: bool = False
    """Also report the tag/catalog disagreement (first time on this visit)."""


class GateMonitor:
    """The gate workflow on one reader; see the module docstring."""

    def __init__(self, supervisor: DeviceSupervisor, *, store: Store, node: NodeConfig,
                 library: LibraryConfig, gate: GateConfig, scheme: SecurityScheme,
                 live: LiveEvents, wake_outbox: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utc_now,
                 alarm_outputs: Sequence[int] = ALARM_OUTPUTS,
                 antennas: tuple[int, int] = (INSIDE_ANTENNA, OUTSIDE_ANTENNA),
                 barriers: LightBarriers | None = None) -> None:
        _check_gate_name(supervisor.name)
        self.name = supervisor.name
        self._supervisor = supervisor
        self._store = store
        self._node = node
        self._library = library
        self._gate = gate
        self._scheme = scheme
        self._live = live
        self._wake_outbox = wake_outbox
        self._clock = clock
        self._outputs = tuple(alarm_outputs)
        self._antennas = antennas
        self._barriers = barriers
        self._passages = PassageCounter(barriers) if barriers is not None else None
        self._visits: dict[Uid, _Visit] = {}
        self._checks: asyncio.Queue[Uid] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._output_task: asyncio.Task[bool] | None = None
        self._warned: set[str] = set()
        self._running = False
        self._alarms: deque[dict[str, Any]] = deque(maxlen=LAST_ALARMS)
        self._today = _Today()
        self._today_key = GATE_TODAY.format(gate=self.name)
        self.counters: dict[str, int] = dict.fromkeys((
            "alarms", "reports", "mismatches", "ignored", "events_recorded", "events_failed",
            "alarms_without_outputs", "output_commands", "output_errors", "security_checks",
            "security_unknown", "cache_errors", "decision_errors", "input_errors",
            "passages_in", "passages_out", "passages_unknown_direction"), 0)
        self._period_start: datetime | None = None
        self._period_counts = [0, 0]
        self._period_polled = False
        self._undirected: list[tuple[list[_Verdict], _Sounding, datetime, float]] = []
        """Decisions waiting for the barriers' direction: (verdicts, their output command,
        time, loop deadline)."""

    @property
    def supervisor(self) -> DeviceSupervisor:
        """The reader this gate watches (a reload keeps the gate while it is the same)."""
        return self._supervisor

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen to the reader's field and start the background tasks."""
        if self._running:
            return
        self._running = True
        self._restore_today()
        self._supervisor.read_when = self._wants_memory
        self._supervisor.add_field_listener(self._on_field)
        self._workers.append(asyncio.create_task(self._check_security(),
                                                 name=f"libedge gate {self.name} security"))
        if self._passages is not None:
            self._workers.append(asyncio.create_task(self._count_passages(),
                                                     name=f"libedge gate {self.name} counts"))

    def _restore_today(self) -> None:
        """Today's tallies as the last recorded event left them (a restart keeps the page's
        'today'); anything unreadable starts them at zero, with a warning."""
        try:
            text = self._store.read_state(self._today_key)
            if text is None:
                return
            kept = _Today.from_json(text)
        except (StoreError, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s: today's alarm and people counts are not restored: %s",
                           self.name, exc, extra={"fields": {"device": self.name}})
            return
        if kept.day == self._local_day(self._clock()):
            self._today = kept

    @staticmethod
    def _local_day(moment: datetime) -> date:
        return moment.astimezone().date()

    async def stop(self) -> None:
        """Stop listening; let recorded events commit; record a partly counted period."""
        if not self._running:
            return
        self._running = False
        self._supervisor.remove_field_listener(self._on_field)
        if self._supervisor.read_when == self._wants_memory:
            self._supervisor.read_when = None
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if self._period_start is not None and any(self._period_counts):
            now = self._clock()
            self._record_counts(self._period_start, now)
            self._period_start, self._period_counts = now, [0, 0]   # recorded once only
            self._period_polled = False
        self._book_undirected("unknown", due_only=False)
        await asyncio.sleep(0)  # a decision's bookkeeping (call_soon) spawns its event task
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- the decision, on every inventory --------------------------------------------------------

    def _on_field(self, _device: str, field: Mapping[Uid, TagInField]) -> None:
        """The field listener: quick, no awaits; outputs and events go to tasks."""
        if not self._running:
            return
        now = time.monotonic()
        self._follow(field, now)
        verdicts: list[_Verdict] = []
        for uid, tag in field.items():
            visit = self._visits[uid]
            if visit.decided_s is not None and now - visit.decided_s < self._gate.realarm_s:
                continue
            try:
                verdict = self._judge(uid, tag, visit, now)
            except Exception:
                # One tag's bad data (a corrupt cache row) must not blind the gate to the
                # others in the field; this one is judged again at the next inventory.
                self.counters["decision_errors"] += 1
                if not visit.judge_failed:
                    visit.judge_failed = True
                    logger.exception("%s: no decision on tag %s", self.name, uid)
                continue
            if verdict is not None:
                visit.decided_s = now
                verdicts.append(verdict)
        if verdicts:
            self._act(verdicts)

    def _follow(self, field: Mapping[Uid, TagInField], now: float) -> None:
        """Start visits of arriving tags, end those of tags gone ``LEFT_FIELD_AFTER_S``."""
        for uid, tag in field.items():
            visit = self._visits.get(uid)
            if visit is None:
                self._visits[uid] = _Visit(tag.antenna)
            else:
                visit.absent_since = None
                if visit.first_antenna is None:
                    visit.first_antenna = tag.antenna
        for uid, visit in list(self._visits.items()):
            if uid in field:
                continue
            if visit.absent_since is None:
                visit.absent_since = now
            elif now - visit.absent_since >= LEFT_FIELD_AFTER_S:
                del self._visits[uid]

    def _judge(self, uid: Uid, tag: TagInField, visit: _Visit, now: float) -> _Verdict | None:
        """The verdict on one tag, or None while something is still to be learnt."""
        secured = self._secured(uid, visit)
        if secured is None:
            return None
        if not secured or is_patron_card(tag):
            # A library card is no item, secured or not: it never alarms, and its number (the
            # tag's "item id") is never named in an event, a page or a log.
            return _Verdict(uid, "clear")
        if tag.primary_item_id is None:
            if not tag.read and tag.read_error is None:
                return None  # the supervisor reads it before it notifies again
            action: Action = "alarm" if self._gate.unknown == "alarm" else "report"
            return self._verdict(uid, action, tag, visit, None)
        owner = tag.owner_institution or None
        cached = self._arrival_item(tag, owner, now) or self._cached(owner, tag.primary_item_id)
        if owner is not None and not self._library.ours(owner) \
                and not self._on_loan_to_us(tag, owner):
            if not tag.read and tag.read_error is None \
                    and self._supervisor.read_when == self._wants_memory:
                return None   # being read: its tag may say it is on loan to us
            action = _FOREIGN_ACTIONS[self._gate.foreign]
            return self._verdict(uid, action, tag, visit, cached, foreign=True)
        if cached is None or cached.security_expected:
            return self._verdict(uid, "alarm", tag, visit, cached)
        mismatch, visit.mismatch_sent = not visit.mismatch_sent, True
        action = "mismatch" if self._within_grace(cached) else "alarm"
        return self._verdict(uid, action, tag, visit, cached, mismatch=mismatch)

    def _verdict(self, uid: Uid, action: Action, tag: TagInField, visit: _Visit,
                 cached: CachedItem | None, *, foreign: bool = False,
                 mismatch: bool = False) -> _Verdict:
        return _Verdict(uid, action, foreign, tag.primary_item_id, tag.owner_institution or None,
                        self._observed_afi(tag, visit), visit.eas, cached, mismatch)

    @property
    def filtered(self) -> bool:
        """Whether the inventory itself proves security (AFI-filtered on ``afi_secured``)."""
        return (self._scheme.use_afi
                and self._supervisor.inventory_afi == self._scheme.afi_secured)

    def _secured(self, uid: Uid, visit: _Visit) -> bool | None:
        if self.filtered:
            return True
        if visit.secured is not None:
            return visit.secured
        if not visit.checking:
            visit.checking = True
            self._checks.put_nowait(uid)
        return None

    @staticmethod
    def _arrival_item(tag: TagInField, owner: str | None, now: float) -> CachedItem | None:
        """The item the supervisor's arrival lookup found, while fresh and for the same key."""
        item = tag.arrival_item
        if item is None or now - tag.arrived_s > ARRIVAL_ITEM_FRESH_S:
            return None
        # The cache keeps owners in upper case; a tag may spell its owner in any (ISO 15511).
        same = (same_isil(item.owner_institution, owner)
                and item.primary_item_id == tag.primary_item_id)
        return item if same else None

    def _cached(self, owner: str | None, primary_item_id: str) -> CachedItem | None:
        """The cached item; a tag without an owner is looked up under our ISILs."""
        owners = (owner,) if owner else (tuple(sorted(self._library.own_isils())) or ("",))
        try:
            for candidate in owners:
                cached = self._store.cache.get(candidate, primary_item_id)
                if cached is not None:
                    return cached
        except StoreError as exc:
            self.counters["cache_errors"] += 1
            self._warn_once("cache", "%s: cache unreadable, deciding without it: %s",
                            self.name, exc)
        return None

    def _wants_memory(self, tag: TagInField) -> bool:
        """Read an arriving tag the cache names as another library's item that no recorded
        loan covers: its ILL element (borrowing institution) is on the tag, not in the cache,
        so a second visit would otherwise be judged foreign."""
        owner = tag.owner_institution
        if not owner or self._library.ours(owner):
            return False
        return not self._on_loan_to_us(tag, owner)

    def _on_loan_to_us(self, tag: TagInField, owner: str) -> bool:
        """Whether another library's item is on interlibrary loan to us (module docstring)."""
        borrower = tag.ill_borrowing_institution
        if borrower and self._library.is_own_isil(borrower):
            return True
        try:
            return self._store.ill.on_loan(owner, tag.primary_item_id or "")
        except StoreError as exc:
            self.counters["cache_errors"] += 1
            self._warn_once("ill", "%s: ILL loans unreadable, deciding without them: %s",
                            self.name, exc)
            return False

    def _within_grace(self, cached: CachedItem) -> bool:
        """Whether the item went on loan within ``grace_s`` (as this box learnt it: a kiosk's
        checkout or a catalog delta); any other change of the cached row does not count."""
        if cached.unsecured_since is None:
            return False
        try:
            changed = datetime.fromisoformat(cached.unsecured_since)
        except ValueError:
            return False
        if changed.tzinfo is None:   # the store writes UTC with a Z; an outside writer may not
            changed = changed.replace(tzinfo=UTC)
        return self._clock() - changed <= timedelta(seconds=self._gate.grace_s)

    # -- what the events say ---------------------------------------------------------------------

    def _observed_afi(self, tag: TagInField, visit: _Visit) -> int | None:
        """The tag's AFI as far as it was observed: read from the tag on this visit, else the
        filter it answered (the cached AFI when that one matches the filter too)."""
        if not self.filtered:
            return visit.afi
        if tag.read and tag.afi is not None:
            return tag.afi
        wanted = self._scheme.afi_secured
        return tag.afi if tag.afi is not None and afi_matches(wanted, tag.afi) else wanted

    def _alarm_item(self, verdict: _Verdict) -> GateAlarmItem:
        cached, afi = verdict.cached, verdict.afi
        title = cached.title if cached is not None else None
        values: dict[str, Any] = {
            "uid": str(verdict.uid),
            "known": verdict.primary_item_id is not None,
            "primary_item_id": verdict.primary_item_id,
            "owner_institution": verdict.owner_institution or (
                cached.owner_institution if cached is not None else None) or None,
            "afi": None if afi is None else f"{afi:02X}",
            "eas": verdict.eas,
            "circulation_status": cached.circulation_status if cached is not None else None,
            "title": title[:MAX_TITLE_CHARS] if title else None,
        }
        return _valid(GateAlarmItem, values, f"{self.name}: tag {verdict.uid}")

    def _mismatch(self, verdict: _Verdict) -> SecurityMismatchData | None:
        cached, afi = verdict.cached, verdict.afi
        assert cached is not None  # only items the catalog says are on loan
        values: dict[str, Any] = {
            "primary_item_id": cached.primary_item_id,
            "circulation_status": cached.circulation_status,
            "security_expected": False,
            "remediation": "staff_alerted",
            "owner_institution": cached.owner_institution or None,
            "uid": str(verdict.uid),
            "observed_afi": None if afi is None else f"{afi:02X}",
            "observed_eas": verdict.eas,
        }
        try:
            return _valid(SecurityMismatchData, values, f"{self.name}: tag {verdict.uid}")
        except ContractError as exc:
            logger.warning("%s: tag %s: no mismatch event, the item cannot be named: %s",
                           self.name, verdict.uid, exc)
            return None

    def _direction(self, verdicts: Sequence[_Verdict]) -> Direction:
        inside, outside = self._antennas
        for verdict in verdicts:
            visit = self._visits.get(verdict.uid)
            antenna = visit.first_antenna if visit is not None else None
            if antenna == inside:
                return "out"
            if antenna == outside:
                return "in"
        heading = self._passages.heading if self._passages is not None else None
        return heading if heading in ("in", "out") else "unknown"

    # -- acting on the verdicts ------------------------------------------------------------------

    def _act(self, verdicts: list[_Verdict]) -> None:
        """Command the outputs first; build, record and show the events once the output
        command has answered (they say whether the alarm sounded)."""
        sounding = (self._sound() if any(verdict.action == "alarm" for verdict in verdicts)
                    else None)
        shown = [v for v in verdicts if v.action in ("alarm", "report")]
        direction = self._direction(shown)
        loop = asyncio.get_running_loop()
        if shown and direction == "unknown" and self._barriers_readable():
            self._undirected.append((verdicts, sounding, self._clock(),
                                     loop.time() + DIRECTION_WAIT_S))
            return
        loop.call_soon(self._book_sounded, verdicts, sounding, direction, self._clock())

    def _barriers_readable(self) -> bool:
        reader = self._supervisor.reader
        return (self._passages is not None and reader is not None
                and Capability.INPUTS in reader.capabilities)

    def _book_undirected(self, direction: Direction, *, due_only: bool) -> None:
        """Book the decisions waiting for a direction: all of them with ``direction``, or
        (``due_only``) those whose wait is over, with ``unknown``."""
        if not self._undirected:
            return
        if due_only:
            now = asyncio.get_running_loop().time()
            due = [d for d in self._undirected if d[3] <= now]
            self._undirected = [d for d in self._undirected if d[3] > now]
        else:
            due, self._undirected = self._undirected, []
        for verdicts, sounding, moment, _ in due:
            self._book_sounded(verdicts, sounding, direction, moment)

    def _book_sounded(self, verdicts: list[_Verdict], sounding: _Sounding,
                      direction: Direction, now: datetime) -> None:
        """Book the decision once its output command (if any) has answered."""
        if isinstance(sounding, asyncio.Task) and not sounding.done():
            sounding.add_done_callback(
                lambda _: self._book_sounded(verdicts, sounding, direction, now))
            return
        try:
            self._book(verdicts, direction, now, _outputs_of(sounding))
        except Exception:   # one decision's bug must not end counting or a stop
            self.counters["decision_errors"] += 1
            logger.exception("%s: a decision's events could not be booked", self.name,
                             extra={"fields": {"device": self.name}})

    def _book(self, verdicts: list[_Verdict], direction: Direction, now: datetime,
              outputs: Outputs) -> None:
        """The events of one decision: alarms and reports grouped per (action, foreign),
        one mismatch event per tag; recorded in one transaction. ``outputs``: what the alarm
        outputs did for this decision's alarms."""
        events: list[_EventSpec] = []
        for action, shown_as in (("alarm", outputs), ("report", "off")):
            for foreign in (False, True):
                members = [v for v in verdicts if v.action == action and v.foreign is foreign]
                for start in range(0, len(members), MAX_EVENT_ITEMS):
                    chunk = members[start:start + MAX_EVENT_ITEMS]
                    data = GateAlarmData(gate=self.name, direction=direction,
                                         items=tuple(self._alarm_item(v) for v in chunk),
                                         foreign=foreign)
                    events.append(("gate.alarm", "lib.gate.alarm.v1", data))
                    self._show_alarm(data, outputs=shown_as, now=now)
        for verdict in verdicts:
            mismatch = self._mismatch(verdict) if verdict.mismatch else None
            if mismatch is not None:
                events.append(("security", "lib.security.mismatch.v1", mismatch))
                self.counters["mismatches"] += 1
                sounded = verdict.action == "alarm" and outputs == "sounded"
                self._live.publish("gate.mismatch", {"gate": self.name, "sounded": sounded,
                                                     **mismatch.to_dict()})
        self.counters["ignored"] += sum(verdict.action == "ignore" for verdict in verdicts)
        if events:
            self._spawn(self._record(events, now))

    def _show_alarm(self, data: GateAlarmData, *, outputs: Outputs, now: datetime) -> None:
        """Count it, keep it for the gate page, tell the screens, log it (no patron data)."""
        entry = {"time": format_time(unix_ms(now)), "outputs": outputs,
                 "sounded": outputs == "sounded", **data.to_dict()}
        self._alarms.append(entry)
        self._live.publish("gate.alarm", entry)
        items = ", ".join(item.primary_item_id or item.uid for item in data.items)
        if outputs != "off":
            self.counters["alarms"] += 1
            self._today.of(self._local_day(now)).alarms += 1
        else:
            self.counters["reports"] += 1
        logger.info("%s: %s (%s%s): %s", self.name, _LOGGED[outputs], data.direction,
                    ", foreign" if data.foreign else "", items,
                    extra={"fields": {"device": self.name, "event": "gate.alarm"}})

    def _sound(self) -> _Sounding:
        """Command the alarm outputs now, in a task of its own that tells whether they
        sounded (None: the reader has no outputs)."""
        reader = self._supervisor.reader
        if reader is None or Capability.OUTPUTS not in reader.capabilities:
            self.counters["alarms_without_outputs"] += 1
            self._warn_once("outputs", "%s: the reader has no alarm outputs; alarms are "
                            "recorded as events only", self.name)
            return None
        if self._output_task is not None and not self._output_task.done():
            return self._output_task  # being switched on right now: this alarm shares them
        self._output_task = self._spawn(self._drive_outputs(reader))
        return self._output_task

    async def _drive_outputs(self, reader: Reader) -> bool:
        pulses = [OutputPulse(output, duration_s=self._gate.alarm_ms / 1000)
                  for output in self._outputs]
        try:
            await reader.set_outputs(pulses)
        except BridgeError as exc:
            self.counters["output_errors"] += 1
            logger.warning("%s: alarm outputs failed: %s", self.name, exc,
                           extra={"fields": {"device": self.name}})
            return False
        self.counters["output_commands"] += 1
        return True

    async def _record(self, events: list[_EventSpec], now: datetime) -> None:
        """All events of one decision in one writer transaction, with today's tallies as
        they are now, then wake the outbox."""
        today = self._today.to_json()

        def write(conn: WriteConnection) -> None:
            for kind, type_, data in events:
                event = record_event(conn, self._store.outbox, self._node, kind, type_, data,
                                     now=now, rand=os.urandom(10))
                if isinstance(data, SecurityMismatchData):
                    self._queue_for_staff(conn, data, event.id, now)
            write_state(conn, self._today_key, today)

        try:
            await self._store.writer.submit(write, name=f"gate {self.name} events")
        except StoreError:
            self.counters["events_failed"] += len(events)
            logger.exception("%s: %d gate event(s) not recorded", self.name, len(events),
                             extra={"fields": {"device": self.name}})
            return
        self.counters["events_recorded"] += len(events)
        self._wake_outbox()

    def _queue_for_staff(self, conn: WriteConnection, mismatch: SecurityMismatchData,
                         event_id: str, now: datetime) -> None:
        """The mismatch in the box's exception queue (the staff page's), ended at once so
        that no recovery takes it up: staff see it also when no central does (MQTT off).
        Once per item and local day (``data["event"]``: the day's first mismatch event)."""
        entry_id = (f"{MISMATCH_KIND}/{self._local_day(now).isoformat()}/"
                    f"{mismatch.owner_institution or ''}/{mismatch.primary_item_id}")
        detail = (f"Passed gate {self.name} still secured (tag {mismatch.uid}) while the "
                  "catalog has it on loan: set its security off at a staff station.")
        data = {"primary_item_id": mismatch.primary_item_id,
                "owner_institution": mismatch.owner_institution, "detail": detail,
                "gate": self.name, "event": event_id}
        try:
            journal_begin(conn, entry_id, MISMATCH_KIND, "needs_staff", data, now=now)
        except JournalError:   # queued already today
            return
        journal_end(conn, entry_id, "needs_staff", now=now)

    def _spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args, extra={"fields": {"device": self.name}})

    # -- the slow path: asking the tag -----------------------------------------------------------

    async def _check_security(self) -> None:
        """Ask queued tags their security state, one at a time (module docstring)."""
        while True:
            uid = await self._checks.get()
            visit = self._visits.get(uid)
            reader = self._supervisor.reader
            if visit is None or reader is None or uid not in self._supervisor.field:
                if visit is not None:
                    visit.checking = False
                continue
            self.counters["security_checks"] += 1
            final = True
            try:
                state = await reader.read_security(uid, self._scheme)
            except Unsupported as exc:
                secured: bool | None = None
                logger.debug("%s: tag %s cannot tell its security: %s", self.name, uid, exc)
            except BridgeError as exc:
                secured, final = None, False
                logger.debug("%s: tag %s did not answer the security check: %s", self.name,
                             uid, exc)
            else:
                secured, visit.afi, visit.eas = state.secured, state.afi, state.eas
            visit.checks += 1
            visit.checking = False
            if secured is None and (final or visit.checks >= SECURITY_CHECK_ATTEMPTS):
                self.counters["security_unknown"] += 1
                secured = False
            visit.secured = secured
            self._on_field(self.name, self._supervisor.field)  # decide now, not next inventory

    # -- people counting -------------------------------------------------------------------------

    async def _count_passages(self) -> None:
        assert self._passages is not None
        while True:
            await asyncio.sleep(INPUT_POLL_S)
            self._close_period(self._clock())
            self._book_undirected("unknown", due_only=True)
            reader = self._supervisor.reader
            if reader is None:
                continue
            if Capability.INPUTS not in reader.capabilities:
                self._warn_once("inputs", "%s: the reader has no inputs; no people counts",
                                self.name)
                continue
            try:
                state = await reader.get_inputs()
            except BridgeError as exc:
                self.counters["input_errors"] += 1
                logger.debug("%s: inputs unreadable: %s", self.name, exc)
                continue
            self._period_polled = True
            direction = self._passages.observe(state)
            heading = direction or self._passages.heading
            if heading in ("in", "out"):
                self._book_undirected(heading, due_only=False)
            if direction is not None:
                self._count(direction)

    def _count(self, direction: Direction) -> None:
        if direction == "unknown":
            self.counters["passages_unknown_direction"] += 1
        else:
            self.counters["passages_" + direction] += 1
            self._period_counts[0 if direction == "in" else 1] += 1
        self._live.publish("gate.count", {"gate": self.name, "direction": direction,
                                          **self._counts()})

    def _close_period(self, now: datetime) -> None:
        """Record the count of a period that has ended; start the current one. The first
        period starts when counting starts, not at the top of the hour: a restart mid-period
        must not give a second count for the time ``stop`` already recorded."""
        start = self._period_start
        if start is None:
            self._period_start = now
            return
        end = _period_floor(start) + timedelta(seconds=COUNT_PERIOD_S)
        if now < end:
            return
        if self._period_polled:
            self._record_counts(start, end)
        self._period_start = _period_floor(now)
        self._period_counts = [0, 0]
        self._period_polled = False

    def _record_counts(self, start: datetime, end: datetime) -> None:
        entered, left = self._period_counts
        day = self._local_day(start)
        if self._today.day is None or day >= self._today.day:   # not a day already over
            today = self._today.of(day)
            today.entered += entered
            today.left += left
        data = GateCountData(gate=self.name, entered=entered, left=left,
                             start=format_time(unix_ms(start)), end=format_time(unix_ms(end)))
        self._spawn(self._record([("gate.count", "lib.gate.count.v1", data)], end))

    def _counts(self) -> dict[str, Any]:
        if self._barriers is None:
            return {"available": False,
                    "reason": "no light barriers configured; the readers report no counters"}
        reader = self._supervisor.reader
        if reader is not None and Capability.INPUTS not in reader.capabilities:
            return {"available": False, "reason": "the reader has no inputs"}
        start = self._period_start
        today, this_day = self._local_day(self._clock()), self._today
        recorded = (this_day.entered, this_day.left) if this_day.day == today else (0, 0)
        current = self._period_counts if start is not None and \
            self._local_day(start) == today else [0, 0]
        return {"available": True,
                "entered": self.counters["passages_in"], "left": self.counters["passages_out"],
                "unknown_direction": self.counters["passages_unknown_direction"],
                "period_start": None if start is None else format_time(unix_ms(start)),
                "period_entered": self._period_counts[0], "period_left": self._period_counts[1],
                "today_entered": recorded[0] + current[0],
                "today_left": recorded[1] + current[1]}

    # -- for the API -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What the gate page shows: state, alarm totals, the last alarms (newest first)."""
        reader = self._supervisor.reader
        this_day = self._today
        outputs = ("unknown" if reader is None else "available"
                   if Capability.OUTPUTS in reader.capabilities else "unavailable")
        return {
            "gate": self.name,
            "state": self._supervisor.state if self._running else "stopped",
            "detection": "afi-filter" if self.filtered else "tag-check",
            "outputs": outputs,
            "alarms_total": self.counters["alarms"],
            "alarms_today": (this_day.alarms
                             if this_day.day == self._local_day(self._clock()) else 0),
            "reports_total": self.counters["reports"],
            "last_alarms": list(reversed(self._alarms)),
            "counts": self._counts(),
            "counters": dict(self.counters),
        }


def _outputs_of(sounding: _Sounding) -> Outputs:
    """What the outputs did, from an alarm's finished output command (None: none to drive)."""
    if sounding is None:
        return "unavailable"
    if sounding.cancelled() or sounding.exception() is not None or not sounding.result():
        return "failed"
    return "sounded"


def _period_floor(moment: datetime) -> datetime:
    """The start of the count period ``moment`` is in, on the box's local clock (the system
    time zone, as "alarms today"): in a half-hour zone an hour runs from :00 local, not UTC."""
    seconds = moment.timestamp()
    offset = moment.astimezone().utcoffset() or timedelta(0)
    local = seconds + offset.total_seconds()
    return datetime.fromtimestamp(seconds - local % COUNT_PERIOD_S, UTC)


def _valid(cls: type[M], values: dict[str, Any], where: str) -> M:
    """``cls(**values)``; an optional field the contract refuses (an item id with a space, an
    owner that is no ISIL) is left out with a warning rather than losing the whole event."""
    for _ in range(len(values)):
        try:
            return cls(**values)
        except ContractError as exc:
            name = (exc.field or "").split(".")[0]
            if values.get(name) is None or not _optional(cls, name):
                raise
            logger.warning("%s: %s left out of the event: %s", where, name, exc)
            values[name] = None
    return cls(**values)


def _optional(cls: type[Message], name: str) -> bool:
    return any(spec.name == name and not spec.required for spec in cls.field_specs())


def _check_gate_name(name: str) -> None:
    """The reader's name is the events' ``gate`` id: refuse one the contract would refuse."""
    moment = format_time(0)
    try:
        GateCountData(gate=name, entered=0, left=0, start=moment, end=moment)
    except ContractError as exc:
        raise ValueError(f"gate reader {name!r} cannot be an event's gate id: {exc}") from None
