# SPDX-License-Identifier: Apache-2.0
"""Inventory (shelf reading): what a reader saw on one shelf, against what should be there.

An :class:`InventorySession` is started with the shelf ``location`` being read and, optionally,
the items expected (pushed by the catalog or given by staff: owner ISIL, item id, shelf
location). While it runs it listens to the reader's field and remembers every tag seen, with
what the tag says (item, owner, its ISO 28560-1 shelf location element).

``report()`` sorts what was seen:

- ``seen``: items identified and known (in the item cache or in the expected list);
- ``missing``: expected here (the entry's location is this shelf, or names none) and not seen;
  while a tag that could not be read waits to be read again (put back), none is listed (it may
  be any of them), until the session is finished;
- ``misplaced``: seen here but belonging elsewhere: the expected list's location when it lists
  the item (the catalog is authoritative), else the tag's own shelf location element;
  locations compare without case and with runs of spaces as one;
- ``unknown`` (one entry per tag): tags naming no item (blank, unknown model, unreadable), and
  tags of items neither the cache nor the expected list knows, or whose id cannot be sent to
  the catalog. A patron card is listed as one, without its number (never kept or shown).

Parts of one item (set information) count as one item, with every tag UID listed.

``finish()`` stops listening and records ``lib.inventory.v1`` (seen and unknown counts, the
misplaced items, the location) in one writer transaction, then wakes the outbox. The contract
carries at most ``MAX_MISPLACED_PER_EVENT`` misplaced items per event: a longer list is
recorded as several events of the same session (same transaction), the counts on the first and
0 on the others, so sums over a session are right. ``missing`` has no field in the v1 event:
it is in the report only. Progress goes to the screens as ``staff.inventory`` messages.

Not responsible for: reading tags (``devices``), fetching the expected list from the catalog,
acting on the findings (re-shelving, marking items missing in the ILS).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from edge_service.config import ISIL_PATTERN, ISIL_RULE, NodeConfig
from edge_service.devices import DeviceSupervisor, TagInField, is_patron_card
from edge_service.store import Store, StoreError, WriteConnection, utc_now
from edge_service.sync.events import record_event, unix_ms
from edge_service.workflows.errors import WorkflowError
from edge_service.workflows.live import LiveEvents
from protocols.contract import ContractError, InventoryData, ItemRef, uuid7
from protocols.iso15693 import Uid
from protocols.iso28560 import decode_any

__all__ = ["MAX_MISPLACED_PER_EVENT", "ExpectedItem", "InventoryReport", "InventorySession"]

logger = logging.getLogger(__name__)

MAX_MISPLACED_PER_EVENT = 500
"""``InventoryData.misplaced`` holds at most this many items (contract v1)."""
UNREAD = "the tag could not be read (it left the field, or did not answer)"
UNREADABLE = f"{UNREAD}: put it back; until it is read, no expected item is listed missing"
"""The ``unknown`` reason of a tag whose memory could not be read (the reader's own error,
naming its device, is in the supervisor's log, not for the desk)."""
PATRON_CARD = "a library card (patron card), not an item"
"""The ``unknown`` reason of a patron card: its number (the tag's "item id") is not shown."""



def same_location(a: str | None, b: str | None) -> bool:
    """Whether two shelf locations name the same place (case and spacing aside)."""
    return _norm(a) == _norm(b)


def _norm(location: str | None) -> str:
    return " ".join((location or "").split()).casefold()


@dataclass(frozen=True, slots=True)
class ExpectedItem:
    """One item that should be somewhere: the catalog's or staff's word."""

    primary_item_id: str
    owner_institution: str | None = None
    """None: any owner (a list that never names one)."""
    shelf_location: str | None = None
    """None: this shelf (the list is for the location being read)."""

    def to_json(self) -> dict[str, Any]:
        return {"primary_item_id": self.primary_item_id,
                "owner_institution": self.owner_institution,
                "shelf_location": self.shelf_location}


@dataclass(slots=True)
class _Sighting:
    """One tag as the session saw it (updated while the supervisor learns more)."""

    uid: Uid
    owner_institution: str | None = None
    primary_item_id: str | None = None
    shelf_location: str | None = None
    model: str | None = None
    read_error: str | None = None
    memory: bytes | None = None
    patron_card: bool = False
    """Its "item id" is a card number: neither kept nor shown."""

    @property
    def unreadable(self) -> bool:
        """Its memory could not be read (the supervisor reads it again when it comes back),
        and nothing else names its item."""
        return (self.read_error is not None and self.model is None
                and not self.primary_item_id and not self.patron_card)


@dataclass(frozen=True, slots=True)
class InventoryItem:
    """An item in a report; ``belongs_at`` and ``source`` only for misplaced ones."""

    primary_item_id: str
    owner_institution: str | None
    uids: tuple[str, ...] = ()
    tag_location: str | None = None
    belongs_at: str | None = None
    source: str | None = None
    """Where ``belongs_at`` comes from: ``expected`` (the list) or ``tag`` (its element)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"primary_item_id": self.primary_item_id,
                               "owner_institution": self.owner_institution,
                               "uids": list(self.uids), "tag_location": self.tag_location}
        if self.belongs_at is not None:
            out |= {"belongs_at": self.belongs_at, "source": self.source}
        return out


@dataclass(frozen=True, slots=True)
class UnknownTag:
    uid: str
    reason: str
    primary_item_id: str | None = None
    owner_institution: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"uid": self.uid, "reason": self.reason, "primary_item_id": self.primary_item_id,
                "owner_institution": self.owner_institution}


@dataclass(frozen=True, slots=True)
class InventoryReport:
    session_id: str
    location: str | None
    seen: tuple[InventoryItem, ...]
    missing: tuple[ExpectedItem, ...]
    misplaced: tuple[InventoryItem, ...]
    unknown: tuple[UnknownTag, ...]
    finished: bool = False
    event_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "location": self.location,
                "finished": self.finished, "event_ids": list(self.event_ids),
                "counts": {"seen": len(self.seen), "missing": len(self.missing),
                           "misplaced": len(self.misplaced), "unknown": len(self.unknown)},
                "seen": [i.to_json() for i in self.seen],
                "missing": [i.to_json() for i in self.missing],
                "misplaced": [i.to_json() for i in self.misplaced],
                "unknown": [u.to_json() for u in self.unknown]}


@dataclass(slots=True)
class _Sorted:
    """The report's lists while they are built."""

    seen: list[InventoryItem] = field(default_factory=list)
    misplaced: list[InventoryItem] = field(default_factory=list)
    unknown: list[UnknownTag] = field(default_factory=list)


class InventorySession:
    """One shelf-reading session on one reader; see the module docstring."""

    def __init__(self, supervisor: DeviceSupervisor, *, store: Store, node: NodeConfig,
                 live: LiveEvents, location: str | None = None,
                 expected: Iterable[ExpectedItem | tuple[str | None, str, str | None]] = (),
                 session_id: str | None = None,
                 wake_outbox: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utc_now,
                 rand: Callable[[int], bytes] = os.urandom) -> None:
        self.supervisor = supervisor
        self.store = store
        self.node = node
        self.live = live
        self.location = location.strip() if location and location.strip() else None
        self.wake_outbox = wake_outbox
        self._clock = clock
        self._rand = rand
        self.session_id = session_id or f"inv-{uuid7(unix_ms(clock()), rand(10))}"
        self._check_session()
        self.expected = _expected_list(expected)
        self._by_key = {(e.owner_institution, e.primary_item_id): e for e in self.expected}
        self._sightings: dict[Uid, _Sighting] = {}
        self._listening = False
        self._finished: InventoryReport | None = None

    @property
    def finished(self) -> bool:
        return self._finished is not None

    def _check_session(self) -> None:
        try:
            InventoryData(session_id=self.session_id, seen=0, unknown=0, misplaced=(),
                          location=self.location)
        except ContractError as exc:
            where = "location" if exc.field == "location" else "session_id"
            raise WorkflowError("invalid_request", f"{where}: {exc.reason}", status=422,
                                field=where) from None

    # -- listening ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start counting what the reader sees (the tags already in its field too)."""
        if self._finished is not None:
            raise WorkflowError("session_finished", "This inventory session is finished.")
        if not self._listening:
            self._listening = True
            self.supervisor.add_field_listener(self.on_field)
            self.on_field(self.supervisor.name, self.supervisor.field)

    def on_field(self, _name: str, field_now: Mapping[Uid, TagInField]) -> None:
        """The field listener (``DeviceSupervisor.add_field_listener``): remember every tag."""
        grew = False
        for uid, tag in field_now.items():
            sighting = self._sightings.get(uid)
            if sighting is None:
                sighting = self._sightings[uid] = _Sighting(uid)
                grew = True
            grew = _learn(sighting, tag) or grew
        if grew:
            self.live.publish("staff.inventory", {"reader": self.supervisor.name,
                                                  "session_id": self.session_id,
                                                  "location": self.location,
                                                  "tags": len(self._sightings)})

    # -- the report --------------------------------------------------------------------------

    def report(self) -> InventoryReport:
        """What was seen so far, sorted (see the module docstring)."""
        if self._finished is not None:
            return self._finished
        return self._report(final=False)

    def _report(self, *, final: bool) -> InventoryReport:
        lists = _Sorted()
        seen_keys: set[tuple[str | None, str]] = set()
        for key, sightings in self._items(lists.unknown, final=final).items():
            entry = self._expected_entry(*key)
            item = self._classify(key, sightings, entry, lists)
            if item is not None:
                seen_keys.add(key)
                if entry is not None:
                    seen_keys.add((entry.owner_institution, entry.primary_item_id))
        # An unread tag may be any expected item: none is declared missing while one waits to
        # be read again, unless the session is over.
        pending = not final and any(s.unreadable for s in self._sightings.values())
        missing = () if pending else tuple(
            e for e in self.expected if (e.owner_institution, e.primary_item_id) not in seen_keys
            and self._belongs_here(e.shelf_location))
        return InventoryReport(self.session_id, self.location, tuple(lists.seen), missing,
                               tuple(lists.misplaced), tuple(lists.unknown))

    def _items(self, unknown: list[UnknownTag], *, final: bool
               ) -> dict[tuple[str | None, str], list[_Sighting]]:
        """The identified tags grouped by item; the others go to ``unknown``."""
        items: dict[tuple[str | None, str], list[_Sighting]] = {}
        for uid, sighting in sorted(self._sightings.items()):
            if sighting.patron_card:
                unknown.append(UnknownTag(str(uid), PATRON_CARD))
            elif sighting.primary_item_id:
                key = (_isil(sighting.owner_institution), sighting.primary_item_id)
                items.setdefault(key, []).append(sighting)
            elif sighting.unreadable:
                unknown.append(UnknownTag(str(uid), UNREAD if final else UNREADABLE))
            elif sighting.model is not None:
                unknown.append(UnknownTag(str(uid), f"holds no item ({sighting.model})"))
            # else: not read yet; it is counted once the supervisor has read it
        return items

    def _classify(self, key: tuple[str | None, str], sightings: list[_Sighting],
                  entry: ExpectedItem | None, lists: _Sorted) -> InventoryItem | None:
        owner, item_id = key
        uids = tuple(str(s.uid) for s in sightings)
        tag_location = next((s.shelf_location for s in sightings if s.shelf_location), None)
        nameable = _nameable(owner, item_id)
        as_tagged = next((s.owner_institution for s in sightings), owner)   # the cache's key
        known, why = (True, "") if entry is not None else self._in_cache(as_tagged, item_id)
        if nameable is not None or not known:
            reason = nameable or why
            lists.unknown.extend(UnknownTag(uid, reason, item_id, owner) for uid in uids)
            return None
        item = InventoryItem(item_id, owner, uids, tag_location)
        lists.seen.append(item)
        belongs_at, source = self._home(entry, tag_location)
        if belongs_at is not None:
            lists.misplaced.append(InventoryItem(item_id, owner, uids, tag_location, belongs_at,
                                                 source))
        return item

    def _home(self, entry: ExpectedItem | None, tag_location: str | None
              ) -> tuple[str | None, str | None]:
        """Where the item belongs when that is not here, and who says so; (None, None) when
        it belongs here or nobody can tell."""
        if self.location is None:
            return None, None
        if entry is not None:
            if entry.shelf_location and not same_location(entry.shelf_location, self.location):
                return entry.shelf_location, "expected"
            return None, None
        if tag_location and not same_location(tag_location, self.location):
            return tag_location, "tag"
        return None, None

    def _in_cache(self, owner: str | None, item_id: str) -> tuple[bool, str]:
        try:
            cached = self.store.cache.get(owner or "", item_id)
        except StoreError as exc:
            logger.warning("inventory %s: item cache unreadable: %s", self.session_id, exc)
            return False, "the item cache could not be read"
        return cached is not None, "not in the item cache or the expected list"

    def _expected_entry(self, owner: str | None, item_id: str) -> ExpectedItem | None:
        """The list's entry for the item: same owner, or an entry naming none, or (for a tag
        naming no owner) any entry of that item id."""
        entry = self._by_key.get((owner, item_id)) or self._by_key.get((None, item_id))
        if entry is None and owner is None:
            entry = next((e for e in self.expected if e.primary_item_id == item_id), None)
        return entry

    def _belongs_here(self, location: str | None) -> bool:
        return location is None or self.location is None or same_location(location,
                                                                             self.location)

    # -- finishing ---------------------------------------------------------------------------

    async def finish(self) -> InventoryReport:
        """Stop listening, record the session's event(s), return the final report."""
        if self._finished is not None:
            raise WorkflowError("session_finished", "This inventory session is finished.")
        self.supervisor.remove_field_listener(self.on_field)
        self._listening = False
        report = self._report(final=True)
        parts = self._event_data(report)
        now, rands = self._clock(), [self._rand(10) for _ in parts]

        def commit(conn: WriteConnection) -> tuple[str, ...]:
            return tuple(record_event(conn, self.store.outbox, self.node, "inventory",
                                      "lib.inventory.v1", data, now=now, rand=rand).id
                         for data, rand in zip(parts, rands, strict=True))

        try:
            event_ids = await self.store.writer.submit(commit, name="inventory finished",
                                                       commit_now=True)
        except StoreError as exc:
            self.start()  # still open: finishing can be tried again, nothing is lost
            raise WorkflowError("store_failed", "The inventory could not be saved; try "
                                "finishing it again.", status=503) from exc
        self.wake_outbox()
        self._finished = InventoryReport(report.session_id, report.location, report.seen,
                                         report.missing, report.misplaced, report.unknown,
                                         finished=True, event_ids=event_ids)
        logger.info("inventory %s at %s: %d seen, %d missing, %d misplaced, %d unknown",
                    self.session_id, self.location, len(report.seen), len(report.missing),
                    len(report.misplaced), len(report.unknown),
                    extra={"fields": {"device": self.supervisor.name, "event": "inventory"}})
        self.live.publish("staff.inventory", {"reader": self.supervisor.name, "finished": True,
                                              **self._finished.to_json()["counts"],
                                              "session_id": self.session_id})
        return self._finished

    def _event_data(self, report: InventoryReport) -> list[InventoryData]:
        refs = [ItemRef(primary_item_id=i.primary_item_id, owner_institution=i.owner_institution)
                for i in report.misplaced]
        chunks = [refs[at:at + MAX_MISPLACED_PER_EVENT]
                  for at in range(0, len(refs), MAX_MISPLACED_PER_EVENT)] or [[]]
        return [InventoryData(session_id=self.session_id,
                              seen=len(report.seen) if index == 0 else 0,
                              unknown=len(report.unknown) if index == 0 else 0,
                              misplaced=tuple(chunk), location=self.location)
                for index, chunk in enumerate(chunks)]


# --- helpers ----------------------------------------------------------------------------------

def _learn(sighting: _Sighting, tag: TagInField) -> bool:
    """Update ``sighting`` from the supervisor's view of the tag; True if it learned more."""
    before = (sighting.primary_item_id, sighting.model, sighting.read_error,
              sighting.patron_card)
    if is_patron_card(tag):
        sighting.patron_card = True
        sighting.primary_item_id = sighting.owner_institution = None
    elif tag.primary_item_id:
        sighting.primary_item_id = tag.primary_item_id
        sighting.owner_institution = tag.owner_institution
    if tag.read and tag.memory is not None:
        sighting.model = tag.model
        sighting.read_error = None
        if tag.memory != sighting.memory:
            sighting.memory = tag.memory
            sighting.shelf_location = decode_any(tag.memory, dsfid=tag.dsfid).shelf_location
    elif tag.read_error and sighting.model is None:
        sighting.read_error = tag.read_error
    return before != (sighting.primary_item_id, sighting.model, sighting.read_error,
                      sighting.patron_card)


def _nameable(owner: str | None, item_id: str) -> str | None:
    """Why the item cannot be named in an event (None: it can)."""
    try:
        ItemRef(primary_item_id=item_id, owner_institution=owner)
    except ContractError as exc:
        return f"cannot be reported to the catalog ({exc})"
    return None


def _expected_list(entries: Iterable[ExpectedItem | tuple[str | None, str, str | None]]
                   ) -> tuple[ExpectedItem, ...]:
    out: dict[tuple[str | None, str], ExpectedItem] = {}
    for index, given in enumerate(entries):
        item = _expected_item(given, f"expected[{index}]")
        out.setdefault((item.owner_institution, item.primary_item_id), item)
    return tuple(out.values())


def _expected_item(given: ExpectedItem | tuple[str | None, str, str | None], where: str
                   ) -> ExpectedItem:
    """An entry checked as a program's input is (the item id an event can carry, the owner an
    ISIL as the configuration's), its owner in upper case (``_isil``)."""
    if isinstance(given, ExpectedItem):
        item = given
    elif isinstance(given, tuple | list) and len(given) == 3:
        owner, item_id, location = given
        item = ExpectedItem(item_id, owner or None, location or None)
    else:
        raise WorkflowError("invalid_request", f"{where}: give (owner, item id, shelf location)",
                            status=422, field=where)
    item_id = item.primary_item_id
    if not isinstance(item_id, str) or not item_id.strip():
        raise WorkflowError("invalid_request", f"{where}.primary_item_id: the item id is empty",
                            status=422, field=f"{where}.primary_item_id")
    try:
        ItemRef(primary_item_id=item_id)
    except ContractError as exc:
        raise WorkflowError("invalid_request", f"{where}.primary_item_id: {exc.reason}",
                            status=422, field=f"{where}.primary_item_id") from None
    owner = item.owner_institution
    if owner is not None and not (isinstance(owner, str) and ISIL_PATTERN.fullmatch(owner)):
        raise WorkflowError("invalid_request", f"{where}.owner_institution: not an ISIL "
                            f"({ISIL_RULE})",
                            status=422, field=f"{where}.owner_institution")
    return replace(item, owner_institution=_isil(owner))


def _isil(owner: str | None) -> str | None:
    """An owner ISIL as the session compares it: in upper case. The references say nothing of
    case in ISO 15511; a list's ``dk-718500`` and a tag's ``DK-718500`` are one library."""
    return owner.upper() if owner else None
