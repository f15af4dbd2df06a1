# SPDX-License-Identifier: Apache-2.0
"""DeviceSupervisor: one configured reader, kept open, polled for presence, never fatal.

Contract:
- ``run()`` (one task per configured reader) opens the driver named by the config
  (``firmware_bridge.drivers.reader_for``; a simulator's pty is just another path). While the
  device is absent it retries with exponential back-off (``OPEN_FIRST_DELAY_S`` doubling up to
  ``OPEN_MAX_DELAY_S``); once open, the driver's transport reopens a lost port by itself and
  this loop only reports the state: ``unreachable`` as soon as the transport says the link is
  lost (``Reader.on_link_lost``), ``connected`` again at the first inventory answered after.
  A port or driver option that can never work (a ``ConfigurationError`` while the driver is
  built: a bad ``socket://`` URL; an unknown protocol) is logged once and shown
  ``unreachable`` with the reason, and is not retried: the loop waits, alive, for a reload to
  replace the reader's configuration. Every error of the open itself is retried.
- Presence loop: an inventory every ``poll_interval_s`` (AFI-filtered when ``inventory_afi``
  is given: a gate asks only secured tags to answer), or at once when a workflow asks for one
  (``inventory_now``). A tag that arrives is identified from
  the cache (``by_uid``) or else by reading and decoding its memory (ISO 28560, any model); on
  a pad or staff reader its memory is always read (set parts, patron cards and the data model
  are on the tag, not in the cache). It is recorded through the store writer
  (``record_tag_seen``); a tag that stays is recorded again every ``LAST_SEEN_RESOLUTION_S``.
  A record the store refuses is counted (``record_errors``), logged once per visit of the tag
  and tried again after ``LAST_SEEN_RESOLUTION_S``.
  Tags without a primary item id (blank, unknown model) are counted, not stored.
- The field: ``field`` maps each tag in the field to a :class:`TagInField`. Field listeners
  (``add_field_listener``) are called synchronously after every inventory with the whole field,
  first with what the cache knows (a gate decides on that, before any tag read), then again
  after each arriving tag was read. A listener must be quick and must not raise (it is logged).
- ``reader`` is the open driver (None while absent): the workflows write tags through it; the
  driver's session serializes their commands with the presence loop's. A workflow that wrote a
  tag's memory hands over the verified read-back (``remember_written``: the tag stays in the
  field with its new data), or ``forget``s the tag after a failed write (read afresh). A
  security change needs no call: the driver reports every verified ``set_security``
  (``Reader.on_security_set``), whichever workflow asked, and the tag's entry shows that AFI
  and EAS from then on (inventories report neither), and its next observation records them.
- Every device error is caught, counted, kept as ``last_error`` and retried later (except the
  configuration errors above); nothing a reader does can end this task except cancellation
  (daemon stop or reload), and ``stop()`` never raises.
- The heartbeat beats once per loop turn and while waiting (every ``Liveness.tick_s``); a turn
  that hangs stops it, and the daemon then stops feeding the systemd watchdog.
- ``snapshot()`` gives the state and counters: the driver's ``HealthCounters`` and its
  transport's ``open_failures`` (every failed open and reopen attempt) and ``link_losses``,
  summed over every driver instance this supervisor opened (cumulative, as Prometheus counters
  must be), plus the presence loop's own counters.

Test-only fault hook: when the daemon was started with ``LIBEDGE_TEST_FREEZE_FILE=<path>`` and
that file exists, every presence loop stops turning (and beating) until it is removed, as a loop
stuck in a driver call would. Without the variable the hook costs nothing and cannot trigger.

Not responsible for: workflows on the tags (self-check, gate decisions: later issues), the
security scheme, choosing or probing ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn

from edge_service.config import ReaderConfig, poll_interval_s
from edge_service.health import DeviceSnapshot, Heartbeat, Liveness
from edge_service.logs import LOG_DEVICE
from edge_service.store import LAST_SEEN_RESOLUTION_S, CachedItem, Store, StoreError
from edge_service.tag_writer import WrittenImage
from firmware_bridge import (
    BridgeError,
    ConfigurationError,
    HealthCounters,
    Reader,
    SecurityScheme,
    SecurityState,
    TagSighting,
    TransientError,
)
from firmware_bridge.drivers import reader_for
from protocols.iso15693 import Uid
from protocols.iso28560 import LibraryTag, decode_any

__all__ = ["FREEZE_FILE_VARIABLE", "DeviceSupervisor", "FieldListener", "StateListener",
           "TagInField"]

logger = logging.getLogger(__name__)

FREEZE_FILE_VARIABLE = "LIBEDGE_TEST_FREEZE_FILE"

OPEN_FIRST_DELAY_S = 0.5
"""First wait after a failed open: USB re-enumeration takes a few hundred milliseconds."""
OPEN_MAX_DELAY_S = 30.0
"""Longest wait between open attempts of an absent reader: how late a plugged-in one is seen."""
ERROR_MAX_DELAY_S = 5.0
"""Longest pause of the presence loop after consecutive failed inventories."""
TIMEOUTS_UNTIL_UNREACHABLE = 3
"""Consecutive failed inventories after which an open port counts as unreachable."""
FREEZE_CHECK_S = 0.05

_HEALTH_FIELDS = tuple(f.name for f in fields(HealthCounters)
                       if f.name not in ("last_error", "extra"))
_LINK_FIELDS = ("open_failures", "link_losses")
"""Transport counters (``Reader.link_counters``) the device counters include."""

StateListener = Callable[[str, dict[str, object]], None]
"""Called with (device name, state dict) on every state change (the MQTT device-state topic)."""


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(slots=True)
class TagInField:
    """One tag a reader sees now, with what is known of it (see the module docstring)."""

    uid: Uid
    arrived_s: float
    """``time.monotonic()`` of the inventory that first saw it."""
    owner_institution: str | None = None
    primary_item_id: str | None = None
    afi: int | None = None
    """From the inventory, the system information read on arrival, or the security a workflow
    set since (verified)."""
    eas: bool | None = None
    """The EAS bit a workflow set on this visit (verified); None: not known (no inventory or
    memory read reports it)."""
    antenna: int | None = None
    read: bool = False
    """True once its memory was read and decoded on this visit."""
    model: str | None = None
    set_part: int | None = None
    set_total: int | None = None
    type_of_usage: int | None = None
    ill_borrowing_institution: str | None = None
    """ISO 28560-1 element 11, when the memory was read: the library it is on loan to."""
    memory: bytes | None = None
    dsfid: int | None = None
    read_error: str | None = None
    seen_s: float = 0.0
    """``time.monotonic()`` when the latest inventory that saw it began: a tag lifted after
    that is listed until the next inventory ends."""
    recorded_s: float = -LAST_SEEN_RESOLUTION_S
    """When it was last recorded in the store, or last tried (internal)."""
    record_failed: bool = False
    """Recording it failed on this visit, and was logged (internal): once per visit."""
    cached: bool = False
    """Known from the tag cache when it arrived (internal)."""
    arrival_item: CachedItem | None = None
    """The cached item the arrival lookup joined to the tag's last observation (internal):
    what the catalog said at the inventory that first saw the tag, so that a decision taken
    on that inventory (the gate's) needs no second lookup. Later decisions look again."""


PATRON_CARD_USAGE_CLASS = 0x8
"""ISO 28560-1 type of usage, high nibble 8: a patron card, not an item (iso28560.md §2)."""


def is_patron_card(tag: TagInField | LibraryTag) -> bool:
    """Whether the tag is a patron card: its "item id" is then a card number, which is never
    kept, recorded in an event or rewritten as an item."""
    return tag.type_of_usage is not None and tag.type_of_usage >> 4 == PATRON_CARD_USAGE_CLASS


FieldListener = Callable[[str, Mapping[Uid, TagInField]], None]
"""Called with (device name, field) after every inventory; see the module docstring."""


class DeviceSupervisor:
    """Keeps one reader open and polled; see the module docstring."""

    def __init__(self, config: ReaderConfig, store: Store, liveness: Liveness, *,
                 on_state: StateListener | None = None,
                 freeze_file: Path | None = None,
                 driver_options: Mapping[str, Any] | None = None,
                 inventory_afi: int | None = None) -> None:
        self.config = config
        self.name = config.name
        self.poll_interval_s = poll_interval_s(config)
        self._store = store
        self._liveness = liveness
        self._heartbeat: Heartbeat = liveness.register(f"reader {config.name}")
        self._on_state = on_state
        self._freeze_file = freeze_file
        self._driver_options = dict(driver_options or {})
        if config.baud:
            self._driver_options.setdefault("baudrate", config.baud)
        self._reader: Reader | None = None
        self._retired: dict[str, int] = dict.fromkeys(_HEALTH_FIELDS + _LINK_FIELDS, 0)
        self._own: dict[str, int] = {"inventories": 0, "inventory_errors": 0,
                                     "open_failures": 0, "tags_recorded": 0,
                                     "tags_unidentified": 0, "record_errors": 0}
        self._in_field: dict[Uid, TagInField] = {}
        self._field_listeners: list[FieldListener] = []
        self._inventory_asked = asyncio.Event()
        self._inventory_afi = inventory_afi
        self.read_on_arrival = config.role in ("pad", "staff")
        self.read_when: Callable[[TagInField], bool] | None = None
        """A workflow's wish to read an arriving tag the cache already names (the gate: another
        library's item, whose memory may say it is on interlibrary loan to us)."""
        self.state = "starting"
        self.model: str | None = None
        self.firmware: str | None = None
        self.last_error: str | None = None
        self.since = _utc_now()
        self.first_attempt = asyncio.Event()
        """Set once the first open attempt has succeeded or failed (the daemon's READY waits)."""
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"libedge reader {self.name}")
        return self._task

    async def stop(self) -> None:
        """Cancel the loop and close the driver; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                # run() ends only by cancellation; whatever ended it otherwise is reported
                # here, never raised into the daemon's stop or reload.
                logger.error("%s: reader loop had failed", self.name,
                             exc_info=task.exception(), extra={"fields": {"device": self.name}})
        self._liveness.unregister(self._heartbeat.name)
        self._set_state("stopped")

    @property
    def alive(self) -> bool:
        return (self._task is not None and not self._task.done()
                and self._heartbeat.age_s() <= self._liveness.stale_after_s)

    async def run(self) -> None:
        LOG_DEVICE.set(self.name)   # this task's lines, and its driver's, name the reader
        attempt = 0
        while True:
            try:
                reader = reader_for(self.config.protocol, self.config.port,
                                    **self._driver_options)
            except (ConfigurationError, ValueError, TypeError) as exc:
                self._own["open_failures"] += 1
                await self._unusable(exc)
            reader.on_link_lost = self._link_lost
            reader.on_security_set = self._security_set
            reader.on_security_failed = self._security_failed
            try:
                await reader.open()
            except Exception as exc:  # absent or not answering (or a driver bug): retried
                # Also a ConfigurationError here: pyserial reports a USB adapter that
                # re-enumerates mid-open (tcsetattr EIO) as one, and it passes.
                self._retire(reader, open_failed=True)
                if not isinstance(exc, (BridgeError, OSError)):
                    logger.exception("%s: open failed", self.name,
                                     extra={"fields": {"device": self.name}})
                self._lost(f"cannot open: {exc}", log=attempt == 0)
                self.first_attempt.set()
                await self._wait(min(OPEN_MAX_DELAY_S, OPEN_FIRST_DELAY_S * 2 ** attempt))
                attempt += 1
                continue
            attempt = 0
            self._reader = reader
            try:
                await self._identify(reader)
                self.first_attempt.set()
                await self._presence(reader)
            except (BridgeError, StoreError, OSError) as exc:
                self._lost(f"{type(exc).__name__}: {exc}", log=True)
            except Exception as exc:  # a driver bug must not take the daemon down
                logger.exception("%s: presence loop failed", self.name,
                                 extra={"fields": {"device": self.name}})
                self._lost(f"{type(exc).__name__}: {exc}", log=False)
            finally:
                self._reader = None
                self.first_attempt.set()
                with contextlib.suppress(Exception):
                    await reader.close()
                self._retire(reader)
            await self._wait(OPEN_FIRST_DELAY_S)

    async def _unusable(self, exc: Exception) -> NoReturn:
        """A port or driver option that can never open (a bad ``socket://`` URL, an unknown
        protocol): said once, shown as ``unreachable`` with the reason; the loop stays alive
        and beating, without retrying, until a reload replaces the reader's configuration."""
        reason = f"cannot open: {exc} (not retried: correct the reader's configuration and reload)"
        self.last_error = reason
        logger.error("%s: %s", self.name, reason,
                     extra={"fields": {"device": self.name, "event": "unreachable"}})
        self._set_state("unreachable")
        self.first_attempt.set()
        while True:
            await self._wait(self._liveness.tick_s)

    def _link_lost(self, reason: str) -> None:
        """The driver's transport lost the link (unplugged, reset, EOF): shown at once, not
        after the inventories time out; the transport reopens it and the next inventory that
        is answered shows the reader connected again."""
        if self.state != "connected":
            return
        self._lost(f"link lost: {reason}", log=True)

    # -- the presence loop ---------------------------------------------------------------------

    async def _identify(self, reader: Reader) -> None:
        about = await reader.info()
        self.model, self.firmware = about.model, about.firmware
        self.last_error = None
        self._set_state("connected")
        logger.info("%s: %s firmware %s on %s", self.name, about.model, about.firmware,
                    self.config.port, extra={"fields": {"device": self.name, "event": "connected"}})

    async def _presence(self, reader: Reader) -> None:
        failures = 0
        while True:
            await self._frozen()
            self._heartbeat.beat()
            self._inventory_asked.clear()
            began = time.monotonic()
            afi = self._inventory_afi
            try:
                sightings = await reader.inventory(afi=afi)
            except TransientError as exc:
                failures += 1
                self._own["inventory_errors"] += 1
                self.last_error = str(exc)
                if failures >= TIMEOUTS_UNTIL_UNREACHABLE and self.state == "connected":
                    self._lost(str(exc), log=True)
                await self._wait(min(ERROR_MAX_DELAY_S, self.poll_interval_s * 2 ** failures))
                continue
            self._own["inventories"] += 1
            if failures or self.state != "connected":
                failures = 0
                self.last_error = None
                self._set_state("connected")
                logger.info("%s: answering again", self.name,
                            extra={"fields": {"device": self.name, "event": "connected"}})
            if afi == self._inventory_afi:
                # Else the filter changed while it ran: its tags answered the other one.
                await self._record(reader, sightings, began)
            self._heartbeat.beat()
            await self._wait(self.poll_interval_s, cut_short=self._inventory_asked)

    async def _record(self, reader: Reader, sightings: list[TagSighting], began: float
                      ) -> None:
        now = time.monotonic()
        present = {s.uid: s for s in sightings}
        for gone in set(self._in_field) - set(present):
            del self._in_field[gone]
        arrived: list[TagInField] = []
        for uid, sighting in present.items():
            tag = self._in_field.get(uid)
            if tag is None:
                tag = self._in_field[uid] = self._from_cache(uid, now)
                arrived.append(tag)
            tag.seen_s = began
            if sighting.afi is not None:
                tag.afi = sighting.afi
            elif self._inventory_afi is not None:
                tag.afi = self._inventory_afi   # it answered the filter: that is its AFI now
            if sighting.antenna is not None:
                tag.antenna = sighting.antenna
        self._notify_field()
        to_read = [t for t in arrived if self.read_on_arrival or t.primary_item_id is None
                   or (self.read_when is not None and self.read_when(t))]
        for tag in to_read:
            await self._read_tag(reader, tag)
            if tag.cached and is_patron_card(tag):
                await self._forget_card(tag)
            if tag.uid in self._in_field:
                # Each tag as soon as it is known: a kiosk asks the ILS about the first item
                # while the reader is still reading the rest of the stack.
                self._notify_field()
        # A patron card's "item id" is the card number: never kept (it is used only while
        # its session needs it).
        due = [(present[uid], tag) for uid, tag in self._in_field.items()
               if tag.primary_item_id is not None and not is_patron_card(tag)
               and now - tag.recorded_s >= LAST_SEEN_RESOLUTION_S]
        if not due:
            return
        results = await asyncio.gather(
            *(self._store.cache.record_tag_seen(str(s.uid), tag.owner_institution or "",
                                                tag.primary_item_id or "", afi=tag.afi,
                                                eas=tag.eas)
              for s, tag in due), return_exceptions=True)
        for (sighting, tag), result in zip(due, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, StoreError):
                raise result
            # Recorded or refused, tried again after the resolution, not at every inventory
            # (a tag whose data the store refuses stays refused).
            tag.recorded_s = now
            if isinstance(result, StoreError):
                self._own["record_errors"] += 1   # every one counted, logged once per visit
                self.last_error = str(result)
                if not tag.record_failed:
                    tag.record_failed = True
                    logger.warning("%s: tag %s not recorded: %s", self.name, sighting.uid,
                                   result, extra={"fields": {"device": self.name}})
            else:
                self._own["tags_recorded"] += 1

    async def _forget_card(self, tag: TagInField) -> None:
        """A patron card the cache kept from before cards were left out: its row goes."""
        tag.cached = False
        try:
            await self._store.cache.forget_tag(str(tag.uid))
        except StoreError as exc:
            self._own["record_errors"] += 1
            logger.warning("%s: a patron card's cached row not deleted: %s", self.name, exc,
                           extra={"fields": {"device": self.name}})

    def _from_cache(self, uid: Uid, now: float) -> TagInField:
        known = self._store.cache.by_uid(str(uid))
        if known is None:
            return TagInField(uid, now)
        return TagInField(uid, now, known.owner_institution, known.primary_item_id,
                          afi=known.last_afi, cached=True, arrival_item=known.item)

    async def _read_tag(self, reader: Reader, tag: TagInField) -> None:
        try:
            memory, info = await reader.read_memory(tag.uid)
        except BridgeError as exc:
            # The tag may have left already; it is read again when it next arrives.
            logger.debug("%s: tag %s unreadable: %s", self.name, tag.uid, exc)
            self._own["tags_unidentified"] += 1
            tag.read_error = str(exc)
            return
        decoded = _fill(tag, memory, info.dsfid, info.afi)
        if not decoded.primary_item_id:
            self._own["tags_unidentified"] += 1
            logger.debug("%s: tag %s holds no item id (%s)", self.name, tag.uid, tag.model)

    # -- the field, for the workflows ------------------------------------------------------------

    @property
    def reader(self) -> Reader | None:
        """The open driver, or None while the reader is absent."""
        return self._reader

    @property
    def field(self) -> Mapping[Uid, TagInField]:
        return self._in_field

    @property
    def inventory_afi(self) -> int | None:
        """The AFI the inventories ask for (None: every tag answers)."""
        return self._inventory_afi

    @inventory_afi.setter
    def inventory_afi(self, afi: int | None) -> None:
        """A new filter forgets the field: a tag listed under the old one (unfiltered, before
        a gate's monitor set it) has not answered this one, and a gate takes every listed tag
        under its filter for secured. An inventory under way when it changes is not recorded."""
        if afi == self._inventory_afi:
            return
        self._inventory_afi = afi
        if self._in_field:
            self._in_field.clear()
            self._notify_field()

    def inventory_now(self) -> None:
        """Begin the next inventory now, not after the poll wait: a workflow wants the field as
        it is now (a kiosk session that opens), not as it was up to one poll ago."""
        self._inventory_asked.set()

    def add_field_listener(self, listener: FieldListener) -> None:
        self._field_listeners.append(listener)

    def remove_field_listener(self, listener: FieldListener) -> None:
        with contextlib.suppress(ValueError):
            self._field_listeners.remove(listener)

    def forget(self, uid: Uid) -> None:
        """Drop what is known of ``uid``: it is identified afresh at the next inventory (after a
        workflow rewrote its memory)."""
        self._in_field.pop(uid, None)

    def remember_written(self, uid: Uid, written: WrittenImage) -> None:
        """A workflow wrote ``uid`` through ``tag_writer`` and verified it: its entry shows
        the read-back now (beyond the blocks read back, the memory as it was read), so the tag
        stays in the field with its new data instead of vanishing until the next inventory
        reads it again. Every workflow that writes a tag's memory calls this after the write,
        or :meth:`forget` after a failed one. A tag not read yet is forgotten instead (a read
        of its old memory may be under way). The security set with it came through
        :meth:`_security_set`."""
        tag = self._in_field.get(uid)
        if tag is None or tag.memory is None:
            self.forget(uid)
            return
        read_back = written.written.raw
        _fill(tag, read_back + tag.memory[len(read_back):], written.dsfid, None)
        tag.arrival_item = None   # the catalog's word on the item the tag held before

    def _security_set(self, uid: Uid, state: SecurityState) -> None:
        """The driver set ``uid``'s security and read it back (``Reader.on_security_set``):
        its entry shows that AFI and EAS now, and its next due observation records them, so
        that neither the pad nor the cache's observation of the tag goes back to the security
        it had on arrival. A tag not read yet is forgotten instead (a read of its old system
        information may be under way)."""
        tag = self._in_field.get(uid)
        if tag is None or tag.memory is None:
            self.forget(uid)
            return
        # None: the site's scheme does not use that carrier, which was left as it was.
        if state.afi is not None:
            tag.afi = state.afi
        if state.eas is not None:
            tag.eas = state.eas
        # Not recorded at once: the observation is written when it is next due (a tag that
        # stays), now with this AFI; a write per security change would program one more
        # random page of the SD card for each kiosk item, for a field nothing decides on.

    def _security_failed(self, uid: Uid, scheme: SecurityScheme,
                         read_back: SecurityState | None) -> None:
        """A security write on ``uid`` failed (``Reader.on_security_failed``): its entry shows
        what was read back after it, or, when nothing could be read, no AFI/EAS for the
        carriers the write touched (it may have landed): never the security it had before, which
        the next attempt would report as its 'before'."""
        if read_back is not None:
            self._security_set(uid, read_back)
            return
        tag = self._in_field.get(uid)
        if tag is None:
            return
        if scheme.use_afi:
            tag.afi = None
        if scheme.use_eas:
            tag.eas = None

    def _notify_field(self) -> None:
        for listener in list(self._field_listeners):
            try:
                listener(self.name, self._in_field)
            except Exception:  # a workflow bug must not stop the presence loop
                logger.exception("%s: field listener failed", self.name)

    # -- waiting, state, counters --------------------------------------------------------------

    async def _wait(self, seconds: float, *, cut_short: asyncio.Event | None = None) -> None:
        """Sleep ``seconds`` while beating (a waiting loop is a live loop); less once
        ``cut_short`` is set."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self._heartbeat.beat()
            if cut_short is None:
                await asyncio.sleep(min(remaining, self._liveness.tick_s))
                continue
            if cut_short.is_set():
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, self._liveness.tick_s)):
                    await cut_short.wait()
        self._heartbeat.beat()

    async def _frozen(self) -> None:
        """The test-only freeze hook (module docstring): turn no more, beat no more."""
        if self._freeze_file is None:
            return
        if self._freeze_file.exists():
            logger.warning("%s: frozen by the test hook %s", self.name, self._freeze_file)
            while self._freeze_file.exists():
                await asyncio.sleep(FREEZE_CHECK_S)

    def _lost(self, reason: str, *, log: bool) -> None:
        self.last_error = reason
        if self._in_field:
            self._in_field.clear()
            self._notify_field()
        if log:
            logger.warning("%s: %s", self.name, reason,
                           extra={"fields": {"device": self.name, "event": "unreachable"}})
        self._set_state("unreachable")

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        self.since = _utc_now()
        if self._on_state is not None:
            try:
                self._on_state(self.name, self.public_state())
            except Exception:  # a listener (the MQTT link) must not break the reader loop
                logger.exception("%s: device-state listener failed", self.name)

    def _retire(self, reader: Reader, *, open_failed: bool = False) -> None:
        """Keep the counters of a driver instance that is done with (called once for each)."""
        for name in _HEALTH_FIELDS:
            self._retired[name] += getattr(reader.health, name)
        reader.health = HealthCounters()
        link = reader.link_counters()
        if link is None:
            self._own["open_failures"] += open_failed
            return
        for name in _LINK_FIELDS:
            self._retired[name] += getattr(link, name)

    def counters(self) -> dict[str, int]:
        """Cumulative over every driver instance: the driver's health counters, its
        transport's open failures (the first open's and every reopen attempt's) and link
        losses, and the presence loop's own counters."""
        reader = self._reader
        live = reader.health if reader is not None else None
        out = {name: self._retired[name] + (getattr(live, name) if live else 0)
               for name in _HEALTH_FIELDS}
        link = reader.link_counters() if reader is not None else None
        for name in _LINK_FIELDS:
            out[name] = self._retired[name] + (getattr(link, name) if link else 0)
        out.update({name: count for name, count in self._own.items()
                    if name not in _LINK_FIELDS})
        out["open_failures"] += self._own["open_failures"]
        return out

    def public_state(self) -> dict[str, object]:
        """The device-state document (no counters): what MQTT publishes on a change."""
        return {"name": self.name, "protocol": self.config.protocol, "role": self.config.role,
                "state": self.state, "connected": self.state == "connected",
                "model": self.model, "firmware": self.firmware, "last_error": self.last_error,
                "since": self.since}

    def snapshot(self) -> DeviceSnapshot:
        return DeviceSnapshot(
            name=self.name, protocol=self.config.protocol, role=self.config.role,
            port=self.config.port, state=self.state, connected=self.state == "connected",
            alive=self.alive, heartbeat_age_s=self._heartbeat.age_s(), model=self.model,
            firmware=self.firmware, last_error=self.last_error, since=self.since,
            tags_in_field=len(self._in_field), counters=self.counters())


def _fill(tag: TagInField, memory: bytes, dsfid: int | None, afi: int | None) -> LibraryTag:
    """``tag`` as read: its memory, decoded (ISO 28560, any model); the AFI when known."""
    decoded = decode_any(memory, dsfid=dsfid)
    tag.read, tag.read_error = True, None
    tag.memory, tag.dsfid = memory, dsfid
    tag.model = decoded.model.value
    tag.owner_institution = decoded.owner_institution
    tag.primary_item_id = decoded.primary_item_id
    tag.set_part, tag.set_total = decoded.set_part, decoded.set_total
    tag.type_of_usage = decoded.type_of_usage
    tag.ill_borrowing_institution = decoded.ill_borrowing_institution
    if afi is not None:
        tag.afi = afi
    return decoded
