# SPDX-License-Identifier: Apache-2.0
"""Self-check: a patron's session at the kiosk, and each item's journaled, verified transaction.

A session is opened with the patron's card (and PIN where the ILS wants one), checked by the
ILS. While it is open, every item on the pad is processed once:

    checkout:  journal "started" -> ILS checkout -> "ils_done" -> "securing" -> security off,
               read back -> commit (journal ended "committed" + cache + outbox event, ONE
               transaction)
    checkin:   the same with ILS checkin and security on (sort bin / destination shown)

Every journal step is committed before the next step starts (``commit_now``), so a crash
leaves an exact record (``recovery``). Rules the patron can rely on:

- The session's stack is what the pad's inventories begun after it opened see: items put
  down before the card are processed, one lifted just before (still listed by the inventory
  before) is not.
- An item is processed once per session; putting it back down does not check it out twice.
- An item already on loan to the patron is renewed by its checkout (SIP2 renewal ok): the
  patron is told so, with the new due date (screen and receipt).
- An item whose previous transaction was cut short by a restart waits ("Reading…") until the
  journal's ``recovery`` has settled that one, so the settling (an ILS checkin undoing a
  half-done checkout) cannot cancel the new loan.
- Sets: an item whose tags say "part n of m" waits ``set_wait_ms`` for its parts, then follows
  ``selfcheck.set_policy`` (``refuse``: it waits for the parts, an ``incomplete_set``
  exception event is recorded when the session ends without them; ``warn``/``allow``: it is
  processed, ``warn`` tells the patron).
- A security write that fails after the reader's own verified retries asks the patron to lift
  the item and put it back; it is tried again when the item is re-placed (or after
  ``PUT_BACK_RETRY_S`` while it stays), ``put_back_attempts`` times in all. An item whose
  security cannot be set is never reported done: when the session ends its ILS checkout is
  undone (checkin), so the ILS and the tag agree, and a ``write_failed`` exception event tells
  staff; not a checkout that renewed a loan the patron already had: that loan stays (a checkin
  would end it while the patron keeps the item), the tag is not secured again, and the
  exception tells staff to check the tag. One lifted during its write may be unsecured all the
  same (the write may have landed before it left): its exception says so, and a security
  mismatch event names its tag.
- Off-line (the ILS link is not connected): check-in per ``offline_checkin``; check-out only with
  ``offline_checkout``, at most ``offline_max_items`` per patron until the replay (across
  sessions and kiosks) and not later than
  ``offline_max_hours`` after the ILS was last reachable (never while the ILS has not been
  reachable since the daemon started: the outage's length is unknown). An off-line session is
  opened
  *unverified*: the card cannot be checked and a PIN is never accepted blindly (it is not used
  and not stored); the replay checks the patron, and a rejection becomes an
  ``offline_rejected`` exception event. Off-line transactions keep their journal row (and the
  patron identifier the replay needs) until replayed with their original time.
- Patron identifiers live in memory for the session and in ``journal_patron`` while a
  transaction needs them; events carry only a salted hash (``patron_hash``).

A returned item whose tag a migration campaign converts (``after_checkin``) is shown
"updating the tag" after its check-in committed, until the conversion is over.

Not responsible for: reading the pad (``devices``), the ILS protocol (``circulation``), HTTP
(``api``), crash recovery and replay (``recovery``), converting tags (``campaign_checkin``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from edge_service.circulation import (
    CirculationBackend,
    CirculationError,
    IlsLink,
    ItemKey,
    TransientCirculationError,
)
from edge_service.config import LibraryConfig, NodeConfig, SelfCheckConfig, same_isil
from edge_service.devices import DeviceSupervisor, TagInField
from edge_service.store import (
    Store,
    WriteConnection,
    journal_advance,
    journal_end,
    utc_now,
    write_security_expected,
)
from edge_service.sync.events import record_event
from edge_service.workflows.account import patron_loans
from edge_service.workflows.errors import WorkflowError
from edge_service.workflows.live import LiveEvents
from edge_service.workflows.pad import ItemOnPad, PadContents, group_items
from firmware_bridge import BridgeError, SecurityScheme
from protocols.contract import (
    CirculationData,
    CirculationOutcome,
    ExceptionData,
    SecurityMismatchData,
    SecurityOutcome,
    SetParts,
    SipOutcome,
)
from protocols.iso15693 import Uid

__all__ = ["ItemState", "KioskSession", "SelfCheck", "SessionItem", "patron_hash"]

logger = logging.getLogger(__name__)

ILS_REFUSED = "refused by the ILS"
"""The ``reason`` of a refusal event: never the ILS's screen text, which may name a patron
(e.g. whose hold it is)."""

Mode = Literal["checkout", "checkin"]

LOOP_TICK_S = 0.25
"""How often the session loop looks at timeouts and put-back retries without a pad change."""
PUT_BACK_RETRY_S = 6.0
"""A failed item left where it is is tried again after this long (coupling may have changed):
long enough for the patron to read the request to lift it and put it back, and to do so (a
re-placed item is tried again at once)."""
RENEWAL = "renewal"
"""Journal data key: the checkout renewed a loan the patron already had (never undone)."""
TAG_UNKNOWN = "tag_unknown"
"""Journal data key: the UIDs of an item's tags that left the pad during its security write
(their security is unknown)."""
LIFTED_MID_WRITE = ("the item left the pad during its security write, so its tag may be "
                    "unsecured: check it")
TAG_BACK_WAIT_S = 30.0
"""How long a kiosk waits for a returned item whose tag update was cut to be put back."""
TAG_BACK_POLL_S = 0.1
"""How often it looks at the pad meanwhile (the pad's own inventories set the pace)."""


def patron_hash(salt: bytes, patron_id: str) -> str:
    """The only form of a patron identifier that may leave the box (``h:<32 hex>``)."""
    digest = hmac.new(salt, patron_id.encode(), hashlib.sha256).hexdigest()
    return f"h:{digest[:32]}"


def _afi_text(value: int | None) -> str | None:
    return None if value is None else f"{value:02X}"


class ItemState(enum.StrEnum):
    WAITING = "waiting"              # on the pad, not processed yet (maybe waiting for parts)
    INCOMPLETE = "incomplete_set"    # parts missing, policy refuse: waiting for them
    PROCESSING = "processing"
    UPDATING_TAG = "updating_tag"    # returned; a migration campaign converts its tag
    TAG_PUT_BACK = "tag_put_back"    # returned; the conversion was cut: put the item back
    DONE = "done"
    REFUSED = "refused"              # the ILS said no (its message is shown)
    PUT_BACK = "put_back"            # security write failed: put the item back on the pad
    NEEDS_STAFF = "needs_staff"
    NOT_OURS = "not_ours"            # another library's item


FINAL_STATES = frozenset({ItemState.DONE, ItemState.REFUSED, ItemState.NEEDS_STAFF,
                          ItemState.NOT_OURS})

class CheckinHook(Protocol):
    """What a kiosk asks of whatever converts returned items (``campaign_checkin``)."""

    def wants(self, tags: Sequence[TagInField]) -> bool:
        """Whether any of an item's tags is one to convert (decided from the pad's read)."""
        ...

    async def convert(self, tags: Sequence[TagInField]) -> None: ...

    def unfinished(self, tags: Sequence[TagInField]) -> list[Uid]:
        """Those of ``tags`` the conversion left mid-write (the item must come back)."""
        ...


PATRON_TEXT = {
    ItemState.WAITING: "Reading…",
    ItemState.INCOMPLETE: "Please put all parts of this item on the pad",
    ItemState.PROCESSING: "Working…",
    ItemState.UPDATING_TAG: "Updating the tag: please leave this item on the pad",
    ItemState.TAG_PUT_BACK: "Please put this item back on the pad to finish updating its tag",
    ItemState.DONE: "Done",
    ItemState.REFUSED: "This item cannot be processed here",
    ItemState.PUT_BACK: "Please lift this item and put it back on the pad",
    ItemState.NEEDS_STAFF: "Please take this item to the staff desk",
    ItemState.NOT_OURS: "This item belongs to another library: please see staff",
}


@dataclass(slots=True)
class SessionItem:
    """One item as this session knows it (what the kiosk screen lists)."""

    key: ItemKey
    uids: list[Uid]
    state: ItemState = ItemState.WAITING
    message: str = PATRON_TEXT[ItemState.WAITING]
    title: str | None = None
    due: str | None = None
    sort_bin: str | None = None
    destination: str | None = None
    warning: str | None = None
    parts_seen: list[int] = field(default_factory=list)
    set_total: int | None = None
    journal_id: str | None = None
    attempts: int = 0
    asked_back_s: float = 0.0
    """When the patron was last asked to put it back (``PUT_BACK_RETRY_S`` runs from then)."""
    arrived_s: float = 0.0
    offline: bool = False
    ils_done: bool = False
    renewed: bool = False
    """It was already on loan to this patron: the ILS renewed it (SIP2 renewal ok)."""
    desensitize: bool = True
    outcome: CirculationOutcome | None = None

    def set(self, state: ItemState, message: str | None = None) -> None:
        self.state = state
        self.message = message or PATRON_TEXT[state]

    def to_json(self) -> dict[str, Any]:
        return {"owner_institution": self.key.owner_institution or None,
                "primary_item_id": self.key.primary_item_id, "uids": [str(u) for u in self.uids],
                "state": self.state.value, "message": self.message, "title": self.title,
                "due": self.due, "sort_bin": self.sort_bin, "destination": self.destination,
                "warning": self.warning, "parts_seen": self.parts_seen,
                "set_total": self.set_total, "offline": self.offline,
                "renewed": self.renewed}


@dataclass(slots=True)
class KioskSession:
    id: str
    """The session's capability: whoever knows it reads the patron's loans and receipt, so
    only the kiosk that opened the session gets it (the answer to its POST); never
    broadcast."""
    mode: Mode
    patron_id: str | None
    """Kept in memory for the session only (and in journal_patron while a transaction needs
    it); never logged, never in an event."""
    pin: str | None
    patron_ref: str | None
    """The salted hash: the only patron form in events."""
    offline: bool
    started_at: datetime
    last_activity_s: float
    screen_message: tuple[str, ...] = ()
    items: dict[ItemKey, SessionItem] = field(default_factory=dict)
    ended_at: datetime | None = None
    end_reason: str | None = None
    offline_items: int = 0
    ref: str = field(default_factory=lambda: os.urandom(8).hex())
    """The public name: what the live stream and GET /pad show (every kiosk token sees
    those), so pages can tell their own session's messages; it opens nothing."""
    opened_s: float = field(default_factory=time.monotonic)
    """When it opened: its stack is what inventories begun since saw (``_schedule``)."""

    @property
    def open(self) -> bool:
        return self.ended_at is None

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for item in self.items.values():
            counts[item.state.value] = counts.get(item.state.value, 0) + 1
        return {"id": self.id, "ref": self.ref, "mode": self.mode, "offline": self.offline,
                "open": self.open, "started_at": _iso(self.started_at),
                "ended_at": _iso(self.ended_at) if self.ended_at else None,
                "end_reason": self.end_reason, "screen_message": list(self.screen_message),
                "items": [i.to_json() for i in self.items.values()], "counts": counts}

    def public_json(self) -> dict[str, Any]:
        """What any kiosk token may see of it (GET /pad): no id, no patron, no items."""
        return {"ref": self.ref, "mode": self.mode, "offline": self.offline,
                "open": self.open, "started_at": _iso(self.started_at)}

    def receipt(self, library_name: str) -> dict[str, Any]:
        done = [i for i in self.items.values() if i.state is ItemState.DONE]
        other = [i for i in self.items.values() if i.state is not ItemState.DONE]
        verb = "Checked out" if self.mode == "checkout" else "Returned"
        lines = [library_name, _iso(self.ended_at or self.started_at), ""]
        lines.append(f"{verb}: {len(done)} item(s)")
        for item in done:
            due = f"  due {_day(item.due)}" if item.due else ""
            renewed = "  (already on loan to you: renewed)" if item.renewed else ""
            lines.append(f"  {item.title or item.key.primary_item_id}{due}{renewed}")
        if other:
            lines += ["", "Please take these to the desk:"]   # as the page says
            lines += [f"  {i.title or i.key.primary_item_id}: {i.message}" for i in other]
        if self.offline:
            lines += ["", "Processed off-line: the library system confirms it later."]
        return {"session": self.id, "mode": self.mode, "text": "\n".join(lines),
                "items": [i.to_json() for i in done],
                "not_processed": [i.to_json() for i in other]}


def _day(due: str) -> str:
    """A due date for a person: ``2027-01-02`` from the ILS's SIP2 timestamp
    (``20270102    160540``); any other text as it is."""
    if len(due) >= 8 and due[:8].isdigit():
        return f"{due[:4]}-{due[4:6]}-{due[6:8]}"
    return due


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")



class SelfCheck:
    """The kiosk workflow on one pad reader; see the module docstring."""

    def __init__(self, pad: DeviceSupervisor, *, store: Store, node: NodeConfig,
                 link: Callable[[], IlsLink | None], scheme: SecurityScheme,
                 policy: SelfCheckConfig, library: LibraryConfig, live: LiveEvents,
                 salt: bytes, wake_outbox: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.pad = pad
        self.store = store
        self.node = node
        self._link = link
        self.scheme = scheme
        self.policy = policy
        self.library = library
        self.live = live
        self._salt = salt
        self.wake_outbox = wake_outbox
        self._clock = clock
        self.session: KioskSession | None = None
        self.last_session: KioskSession | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._ils_turn = asyncio.Lock()
        self._tag_turn = asyncio.Lock()
        self._session_lock = asyncio.Lock()
        self._field_signature: tuple[Any, ...] = ()
        self.after_checkin: CheckinHook | None = None
        """Set by the runtime when returned items may be converted (migration campaigns)."""
        self.counters = {"checkouts": 0, "checkins": 0, "refused": 0, "put_back": 0,
                         "rolled_back": 0, "offline": 0, "sessions": 0}

    @property
    def tag_lock(self) -> asyncio.Lock:
        """Held by every tag write of this kiosk: other work on its pad takes turns with it."""
        return self._tag_turn

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self.pad.add_field_listener(self._on_field)
        self._task = asyncio.create_task(self._loop(), name=f"libedge selfcheck {self.pad.name}")

    async def stop(self) -> None:
        self.pad.remove_field_listener(self._on_field)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for running in list(self._running):
            running.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    # --- what the pad shows -----------------------------------------------------------------

    def pad_contents(self) -> PadContents:
        return group_items(self.pad.field)

    def pad_json(self) -> dict[str, Any]:
        contents = self.pad_contents()
        session = self.session
        items = []
        for key, on_pad in contents.items.items():
            known = session.items.get(key) if session else None
            cached = self.store.cache.get(key.owner_institution, key.primary_item_id)
            items.append({
                "owner_institution": key.owner_institution or None,
                "primary_item_id": key.primary_item_id, "uids": [str(u) for u in on_pad.uids],
                "parts_seen": sorted(on_pad.parts_seen), "set_total": on_pad.set_total,
                "title": (known.title if known else None) or (cached.title if cached else None),
                "state": known.state.value if known else None})
        return {"reader": self.pad.name, "connected": self.pad.reader is not None,
                "items": items, "patron_card": bool(contents.patron_cards),
                "unidentified": [str(t.uid) for t in contents.unidentified],
                "reading": contents.pending}

    def patron_card_on_pad(self) -> str | None:
        cards = self.pad_contents().patron_cards
        return cards[0].primary_item_id if cards and cards[0].primary_item_id else None

    # --- sessions ---------------------------------------------------------------------------

    def online(self) -> bool:
        link = self._link()
        return link is not None and link.backend is not None and link.state == "connected"

    def backend(self) -> CirculationBackend:
        link = self._link()
        if link is None or link.backend is None:
            raise TransientCirculationError("circulation", "no circulation backend", sent=False)
        return link.backend

    async def open_session(self, patron_id: str | None, pin: str | None = None,
                           mode: Mode = "checkout") -> KioskSession:
        """Open a session for ``patron_id`` (None: the patron card on the pad). Check-in
        sessions need no patron."""
        async with self._session_lock:
            if self.session is not None and self.session.open:
                raise WorkflowError("session_active", "A session is already open on this kiosk.")
            if mode == "checkin":
                session = self._new_session(mode, None, None, (), offline=not self.online())
            else:
                session = await self._checked_patron(patron_id, pin)
            self.session = session
            self.counters["sessions"] += 1
        self.pad.inventory_now()   # the session's stack, read afresh without waiting a poll
        self.live.publish("session", {"event": "opened", "session": session.ref,
                                      "mode": session.mode, "offline": session.offline,
                                      "reader": self.pad.name})
        self._wake.set()
        return session

    async def _checked_patron(self, patron_id: str | None, pin: str | None) -> KioskSession:
        patron_id = (patron_id or "").strip() or self.patron_card_on_pad()
        if not patron_id:
            # 409, not 422: the request is well formed, the pad just holds no patron card.
            raise WorkflowError("patron_required", "Please scan or type your library card.",
                                field="patron")
        if not self.online():
            if not self.policy.offline_checkout:
                raise WorkflowError(
                    "ils_unreachable", "Borrowing is not possible right now. Please see staff.",
                    status=503)
            # Off-line: the card cannot be checked and the PIN is not accepted blindly;
            # the replay asks the ILS (module docstring). Its form can be checked.
            pattern = self.policy.offline_card_pattern
            if pattern and re.fullmatch(pattern, patron_id) is None:
                raise WorkflowError("patron_refused", "This card number cannot be used right "
                                    "now. Please check it or see staff.", status=403,
                                    field="patron")
            return self._new_session("checkout", patron_id, None, (), offline=True)
        if self.policy.pin_required and not pin:
            raise WorkflowError("pin_required", "Please type your PIN.", status=403,
                                field="pin")
        try:
            outcome = await self.backend().patron_check(patron_id, pin=pin or None)
        except CirculationError as exc:
            logger.warning("patron check failed: %s", exc.reason)
            raise WorkflowError("ils_unreachable", "The library system did not answer. "
                                "Please try again or see staff.", status=503) from exc
        if outcome.valid is False:
            raise WorkflowError("patron_refused", "This card is not valid here. Please see staff.",
                                status=403)
        if outcome.pin_ok is False:
            raise WorkflowError("pin_wrong", "The PIN is not right. Please try again.",
                                status=403, field="pin")
        if self.policy.pin_required and outcome.pin_ok is not True:
            # The ILS said nothing of the PIN (no CQ): an unchecked PIN is no PIN at all.
            logger.warning("the ILS did not say whether the PIN is right; session refused "
                           "(selfcheck.pin_required)")
            raise WorkflowError("pin_unchecked", "The PIN could not be checked. Please see "
                                "staff.", status=503, field="pin")
        if not outcome.ok or outcome.may_borrow is False:
            raise WorkflowError("patron_refused", _first(outcome.screen_message)
                                or "You cannot borrow right now. Please see staff.", status=403)
        return self._new_session("checkout", patron_id, pin, outcome.screen_message,
                                 offline=False)

    def _new_session(self, mode: Mode, patron_id: str | None, pin: str | None,
                     screen: tuple[str, ...], *, offline: bool) -> KioskSession:
        ref = patron_hash(self._salt, patron_id) if patron_id else None
        return KioskSession(uuid.uuid4().hex, mode, patron_id, pin, ref, offline,
                            self._clock(), time.monotonic(), screen)

    def get_session(self, session_id: str) -> KioskSession:
        for session in (self.session, self.last_session):
            if session is not None and session.id == session_id:
                return session
        raise WorkflowError("not_found", "No such session.", status=404)

    async def end_session(self, session_id: str, reason: str = "patron") -> KioskSession:
        """End the session: wait for running transactions, undo what could not be finished,
        record incomplete sets, forget the patron."""
        session = self.get_session(session_id)
        if not session.open:
            return session
        session.ended_at = self._clock()
        session.end_reason = reason
        await asyncio.gather(*self._running, return_exceptions=True)
        for item in session.items.values():
            await self._finish_unresolved(session, item)
        session.patron_id = session.pin = None
        if self.session is session:
            self.session, self.last_session = None, session
        self.live.publish("session", {"event": "ended", "session": session.ref,
                                      "reason": reason, "counts": session.to_json()["counts"],
                                      "reader": self.pad.name})
        return session

    def live_journal_ids(self) -> set[str]:
        """Journal ids of the items of the session at this pad, also while it is ending (it
        still waits for their transactions): journal recovery leaves them alone."""
        session = self.session
        if session is None:
            return set()
        return {i.journal_id for i in session.items.values() if i.journal_id}

    def touch(self, session_id: str) -> None:
        self.get_session(session_id).last_activity_s = time.monotonic()

    # --- the loop ---------------------------------------------------------------------------

    def _on_field(self, name: str, field_now: Mapping[Uid, TagInField]) -> None:
        # The first inventory begun after a session opened changes the signature too: the
        # session takes the tags it saw at once, not at the loop's next tick.
        opened_s = self.session.opened_s if self.session is not None else 0.0
        signature = tuple(sorted((str(t.uid), t.read, t.arrived_s, t.seen_s >= opened_s)
                                 for t in field_now.values()))
        if signature != self._field_signature:
            self._field_signature = signature
            self.live.publish("pad", {"reader": name, "tags": len(field_now)})
            self._wake.set()

    async def _loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the event is set, and stop() would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LOOP_TICK_S):
                    await self._wake.wait()
            self._wake.clear()
            session = self.session
            if session is None or not session.open:
                continue
            idle = time.monotonic() - session.last_activity_s
            if idle > self.policy.session_timeout_s and not self._running:
                await self.end_session(session.id, "timeout")
                continue
            try:
                self._schedule(session)
            except Exception:  # a bug here must not stop the kiosk
                logger.exception("self-check: scheduling failed")

    def _schedule(self, session: KioskSession) -> None:
        # Only tags an inventory begun after the opening saw: the field lags by up to one
        # poll, and would still list an item the previous patron has just lifted.
        contents = group_items({uid: tag for uid, tag in self.pad.field.items()
                                if tag.seen_s >= session.opened_s})
        now = time.monotonic()
        if contents.items:
            latest = max(i.arrived_s for i in contents.items.values())
            session.last_activity_s = max(session.last_activity_s, latest)
        handled = {uid for i in session.items.values()
                   if i.state not in (ItemState.WAITING, ItemState.INCOMPLETE) for uid in i.uids}
        for key, on_pad in contents.items.items():
            item = session.items.get(key)
            if item is None and handled.intersection(on_pad.uids):
                # A tag this session already handled, read afresh under another key: its
                # conversion after check-in gave a 3M tag the owner's ISIL. Not a new item.
                continue
            if item is None:
                item = session.items[key] = SessionItem(key, list(on_pad.uids),
                                                        arrived_s=on_pad.arrived_s)
                self._publish_item(session, item)
            item.uids = list(on_pad.uids)
            item.parts_seen, item.set_total = sorted(on_pad.parts_seen), on_pad.set_total
            if item.state in (ItemState.WAITING, ItemState.INCOMPLETE):
                self._consider(session, item, on_pad, now)
            elif item.state is ItemState.PUT_BACK:
                replaced = on_pad.arrived_s > item.arrived_s
                if replaced or now - item.asked_back_s >= PUT_BACK_RETRY_S:
                    item.arrived_s = on_pad.arrived_s
                    # PROCESSING before the task starts, as _consider does: the next pass
                    # must not start a second attempt.
                    item.set(ItemState.PROCESSING)
                    self._publish_item(session, item)
                    self._run(session, item, self._secure_again(session, item))
        # Items that left the pad before anything was done are forgotten.
        for key in [k for k, i in session.items.items()
                    if k not in contents.items and i.state in (ItemState.WAITING,
                                                               ItemState.INCOMPLETE)]:
            if session.items[key].state is ItemState.WAITING:
                del session.items[key]

    def _consider(self, session: KioskSession, item: SessionItem, on_pad: ItemOnPad,
                  now: float) -> None:
        if not self.library.ours(item.key.owner_institution or None):
            item.set(ItemState.NOT_OURS)
            self._publish_item(session, item)
            return
        if not on_pad.complete:
            if now - on_pad.first_arrived_s < self.policy.set_wait_ms / 1000:
                self._wake_later(self.policy.set_wait_ms / 1000)
                return
            missing = ", ".join(map(str, on_pad.missing_parts))
            if self.policy.set_policy == "refuse":
                if item.state is not ItemState.INCOMPLETE:
                    item.set(ItemState.INCOMPLETE, f"Please put all parts of this item on the "
                             f"pad (missing part {missing} of {on_pad.set_total})")
                    self._publish_item(session, item)
                return
            if self.policy.set_policy == "warn":
                item.warning = f"Part {missing} of {on_pad.set_total} is not on the pad"
        if self._interrupted_before(session, item.key):
            return   # stays WAITING; looked at again on every tick of the loop
        item.set(ItemState.PROCESSING)
        self._publish_item(session, item)
        step = self._checkout(session, item) if session.mode == "checkout" else \
            self._checkin(session, item)
        self._run(session, item, step)

    def _interrupted_before(self, session: KioskSession, key: ItemKey) -> bool:
        """Whether another transaction on this item was cut short (a restart) and ``recovery``
        has not settled it yet. Acting first would let that settling undo this one: its ILS
        checkin would cancel the loan the patron is about to be given. Off-line transactions
        waiting for their replay (or cut short in it) count only while the ILS is reachable:
        off-line, this one is queued after them and the replay keeps their order; on-line it
        would reach the ILS first (a return replayed after it would cancel this checkout), so
        it waits for the replay, which recovery starts as soon as the link is up."""
        live = {i.journal_id for i in session.items.values() if i.journal_id}
        queued_count = self.online()
        return any(entry.id not in live
                   and (entry.state not in ("offline_queued", "replaying") or queued_count)
                   and entry.data.get("primary_item_id") == key.primary_item_id
                   and (entry.data.get("owner_institution") or "") == key.owner_institution
                   for entry in self.store.journal.open_entries())

    def _wake_later(self, delay_s: float) -> None:
        asyncio.get_running_loop().call_later(delay_s, self._wake.set)

    def _run(self, session: KioskSession, item: SessionItem, step: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(step, name=f"libedge item {item.key}")
        self._running.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._running.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                logger.error("self-check: item transaction failed: %r", finished.exception())
                item.set(ItemState.NEEDS_STAFF)
                self._publish_item(session, item)
            self._wake.set()

        task.add_done_callback(done)

    def _publish_item(self, session: KioskSession, item: SessionItem) -> None:
        self.live.publish("item", {"session": session.ref, **item.to_json(),
                                   "reader": self.pad.name})

    # --- checkout ---------------------------------------------------------------------------

    async def _checkout(self, session: KioskSession, item: SessionItem) -> None:
        online = self.online()
        if not online and not self._offline_checkout_allowed(session):
            item.set(ItemState.NEEDS_STAFF, "The library system cannot be reached. "
                     "Please see staff.")
            self._publish_item(session, item)
            return
        if not online:
            session.offline_items += 1   # counted before any await: concurrent items see it
        item.journal_id = uuid.uuid4().hex
        item.offline = not online
        await self.store.journal.begin(
            item.journal_id, "checkout", "started" if online else "offline",
            self._journal_data(session, item), patron=session.patron_id)
        if online and not await self._ils_checkout(session, item):
            return
        await self._secure(session, item, secured=False)

    def _offline_checkout_allowed(self, session: KioskSession) -> bool:
        if not self.policy.offline_checkout or session.patron_id is None:
            return False
        # The cap holds per patron for the whole outage: a new session (here or at another
        # kiosk) starts from what this patron already borrowed off-line.
        earlier = self.store.journal.open_offline_checkouts(session.patron_id,
                                                            besides_session=session.id)
        if earlier + session.offline_items >= self.policy.offline_max_items:
            return False
        link = self._link()
        last_up = link.last_connected_s if link is not None else None
        if last_up is None:
            # Not reachable once since the daemon started: how long the ILS has been down is
            # not known, so the time cap cannot be kept (a restart mid-outage used to lift it).
            return False
        return (time.monotonic() - last_up) / 3600 <= self.policy.offline_max_hours

    async def _ils_checkout(self, session: KioskSession, item: SessionItem) -> bool:
        """The ILS step; True when the ILS checked the item out."""
        assert item.journal_id is not None
        assert session.patron_id is not None
        parts = len(item.parts_seen) if item.set_total else None
        try:
            async with self._ils_turn:
                outcome = await self.backend().checkout(
                    item.key, session.patron_id, pin=session.pin, set_parts_present=parts)
        except CirculationError as exc:
            return await self._checkout_unanswered(session, item, exc)
        item.outcome = outcome
        item.title = outcome.title or item.title
        if not outcome.ok:
            self.counters["refused"] += 1
            # The event says only that the ILS refused: its screen text may name a patron
            # (protocols.contract.privacy); the patron at the pad sees it.
            await self._record_circulation(session, item, "refused", ended_state="refused",
                                           reason=ILS_REFUSED)
            item.set(ItemState.REFUSED, _first(outcome.screen_message))
            self._publish_item(session, item)
            return False
        item.ils_done = True
        item.due = outcome.due
        item.renewed = outcome.renewal is True
        item.desensitize = outcome.desensitize != "N"
        await self.store.journal.advance(item.journal_id, "ils_done",
                                         {"due": outcome.due, "title": outcome.title,
                                          RENEWAL: item.renewed})
        return True

    async def _checkout_unanswered(self, session: KioskSession, item: SessionItem,
                                   exc: CirculationError) -> bool:
        """The ILS gave no answer. Certainly not sent: nothing happened, so the item goes
        off-line if the policy allows (True: go on to the tag). Maybe sent: the journal stays
        open for recovery to ask the ILS what happened."""
        assert item.journal_id is not None
        unsent = isinstance(exc, TransientCirculationError) and not exc.sent
        if unsent and self._offline_checkout_allowed(session):
            session.offline_items += 1
            item.offline = True
            await self.store.journal.advance(item.journal_id, "offline",
                                             {"offline": True, "reason": exc.reason[:200]})
            return True
        if unsent:
            await self._end(item, "abandoned", {"reason": exc.reason[:200]}, None)
        else:
            maybe_sent = isinstance(exc, TransientCirculationError)
            await self._end(item, "ils_failed", {"reason": exc.reason[:200]},
                            ExceptionData(kind="other", primary_item_id=item.key.primary_item_id,
                                          owner_institution=item.key.owner_institution or None,
                                          detail=f"checkout not confirmed by the ILS: "
                                                 f"{exc.reason}"[:512]),
                            keep_open=maybe_sent)
        item.set(ItemState.NEEDS_STAFF, "The library system did not answer. Please see staff.")
        self._publish_item(session, item)
        return False

    # --- checkin ----------------------------------------------------------------------------

    async def _checkin(self, session: KioskSession, item: SessionItem) -> None:
        online = self.online()
        if not online and not self.policy.offline_checkin:
            item.set(ItemState.NEEDS_STAFF, "Returns are not possible right now. "
                     "Please see staff.")
            self._publish_item(session, item)
            return
        item.journal_id = uuid.uuid4().hex
        item.offline = not online
        await self.store.journal.begin(item.journal_id, "checkin",
                                       "started" if online else "offline",
                                       self._journal_data(session, item))
        if online:
            try:
                async with self._ils_turn:
                    outcome = await self.backend().checkin(item.key)
            except CirculationError as exc:
                unsent = isinstance(exc, TransientCirculationError) and not exc.sent
                if not (unsent and self.policy.offline_checkin):
                    await self._end(item, "ils_failed", {"reason": exc.reason[:200]}, None,
                                    keep_open=isinstance(exc, TransientCirculationError)
                                    and exc.sent)
                    item.set(ItemState.NEEDS_STAFF, "The library system did not answer. "
                             "Please see staff.")
                    self._publish_item(session, item)
                    return
                # Certainly not sent: the return is taken off-line (module docstring).
                item.offline = True
                await self.store.journal.advance(item.journal_id, "offline",
                                                 {"offline": True, "reason": exc.reason[:200]})
                await self._secure(session, item, secured=True)
                return
            item.outcome = outcome
            item.title = outcome.title or item.title
            if not outcome.ok:
                self.counters["refused"] += 1
                await self._record_circulation(session, item, "refused", ended_state="refused",
                                               reason=ILS_REFUSED)
                item.set(ItemState.REFUSED, _first(outcome.screen_message))
                self._publish_item(session, item)
                return
            item.ils_done = True
            item.sort_bin, item.destination = outcome.sort_bin, outcome.destination
            item.desensitize = outcome.resensitize is not False
            await self.store.journal.advance(item.journal_id, "ils_done",
                                             {"sort_bin": outcome.sort_bin})
        await self._secure(session, item, secured=True)

    # --- the security step ------------------------------------------------------------------

    async def _secure(self, session: KioskSession, item: SessionItem, *, secured: bool) -> None:
        assert item.journal_id is not None
        if not item.desensitize:
            # The ILS said not to touch security (desensitize N / resensitize N): honoured.
            await self._commit(session, item, None)
            return
        await self.store.journal.advance(item.journal_id, "securing")
        outcome = await self._write_security(item, secured=secured)
        if outcome is None:
            self.counters["put_back"] += 1
            await self.store.journal.advance(item.journal_id, "put_back",
                                             {"attempts": item.attempts})
            if item.attempts >= self.policy.put_back_attempts:
                item.set(ItemState.NEEDS_STAFF)
            else:
                item.set(ItemState.PUT_BACK)
                item.asked_back_s = time.monotonic()
            self._publish_item(session, item)
            return
        await self._commit(session, item, outcome)

    async def _secure_again(self, session: KioskSession, item: SessionItem) -> None:
        await self._secure(session, item, secured=session.mode == "checkin")

    async def _write_security(self, item: SessionItem, *, secured: bool
                              ) -> SecurityOutcome | None:
        """Every tag of the item, verified; None (and ``attempts`` counted) on failure."""
        item.attempts += 1
        reader = self.pad.reader
        if reader is None:
            return None
        before: int | None = None
        after: int | None = None
        try:
            async with self._tag_turn:
                for uid in item.uids:
                    before = before if before is not None else _field_afi(self.pad, uid)
                    state = await reader.set_security(uid, secured, self.scheme)
                    after = state.afi
        except BridgeError as exc:
            logger.info("self-check: security write on %s failed (attempt %d): %s",
                        item.key.primary_item_id, item.attempts, exc)
            return None
        method: Literal["afi", "eas", "both"] = (
            "both" if self.scheme.use_afi and self.scheme.use_eas
            else "afi" if self.scheme.use_afi else "eas")
        return SecurityOutcome(method=method, verified=True, attempts=item.attempts,
                               before=_afi_text(before), after=_afi_text(after))

    # --- commit, end ------------------------------------------------------------------------

    async def _commit(self, session: KioskSession, item: SessionItem,
                      security: SecurityOutcome | None) -> None:
        result: Literal["ok", "queued_offline"] = "queued_offline" if item.offline else "ok"
        # Off-line transactions stay open (with the patron) until replayed.
        state = "offline_queued" if item.offline else "committed"
        await self._record_circulation(session, item, result, ended_state=state,
                                       security=security, keep_open=item.offline)
        self.counters["offline" if item.offline else
                      ("checkouts" if session.mode == "checkout" else "checkins")] += 1
        if session.mode == "checkin" and not await self._convert_checked_in(session, item):
            item.set(ItemState.NEEDS_STAFF, "Returned. Please take this item to the staff "
                     "desk: its tag needs repair")
            self._publish_item(session, item)
            return
        message = None
        if session.mode == "checkin" and (item.sort_bin or item.destination):
            message = f"Done: please put it in {item.sort_bin or item.destination}"
        elif not item.desensitize:
            message = "Done: please show this item at the staff desk on your way out"
        elif item.renewed:
            message = "Already on loan to you: renewed" + (f", now due {_day(item.due)}"
                                                           if item.due else "")
        item.set(ItemState.DONE, message)
        self._publish_item(session, item)

    async def _convert_checked_in(self, session: KioskSession, item: SessionItem) -> bool:
        """A migration campaign's conversion of a returned item, after its check-in is
        committed (so it never races the security write) and before the item is shown done
        (so the patron leaves it on the pad). A write the patron cut short by lifting the item
        is finished when it is put back (``put_back_attempts`` times, while the session is
        open); False when the tag is left half-written (the station recorded ``write_failed``).
        The conversion's outcome is the campaign's, not the check-in's."""
        hook = self.after_checkin
        if hook is None:
            return True
        tags = self._tags_of(item)
        if not hook.wants(tags):
            return True
        for attempt in range(1, self.policy.put_back_attempts + 1):
            item.set(ItemState.UPDATING_TAG)
            self._publish_item(session, item)
            try:
                await hook.convert(tags)
            except Exception:   # the return is done: a conversion bug must not undo that
                logger.exception("self-check: converting %s after check-in failed",
                                 item.key.primary_item_id)
                return True
            cut = hook.unfinished(tags)
            if not cut:
                return True
            if attempt == self.policy.put_back_attempts:
                break   # asking for the item back would lead to nothing more
            item.set(ItemState.TAG_PUT_BACK)
            self._publish_item(session, item)
            back = await self._back_on_pad(session, cut, tags)
            if back is None:
                break
            tags = back
        return False

    def _tags_of(self, item: SessionItem) -> list[TagInField]:
        return [tag for uid in item.uids if (tag := self.pad.field.get(uid)) is not None]

    async def _back_on_pad(self, session: KioskSession, uids: Sequence[Uid],
                           before: Sequence[TagInField]) -> list[TagInField] | None:
        """The tags once ``uids`` are on the pad again (put back, or still there after
        ``PUT_BACK_RETRY_S``); None when the session ends or ``TAG_BACK_WAIT_S`` passes."""
        arrived = {t.uid: t.arrived_s for t in before}
        deadline = time.monotonic() + TAG_BACK_WAIT_S
        retry_at = time.monotonic() + PUT_BACK_RETRY_S
        while session.open and time.monotonic() < deadline:
            now_on_pad = {uid: self.pad.field.get(uid) for uid in uids}
            if all(t is not None and t.read for t in now_on_pad.values()):
                back = any(t is not None and t.arrived_s > arrived.get(uid, 0.0)
                           for uid, t in now_on_pad.items())
                if back or time.monotonic() >= retry_at:
                    return [t for t in now_on_pad.values() if t is not None]
            await asyncio.sleep(TAG_BACK_POLL_S)
        return None

    async def _record_circulation(
            self, session: KioskSession, item: SessionItem,
            result: Literal["ok", "refused", "queued_offline", "needs_staff"], *,
            ended_state: str, security: SecurityOutcome | None = None,
            reason: str | None = None, keep_open: bool = False) -> None:
        assert item.journal_id is not None
        outcome = item.outcome
        data = CirculationData(
            primary_item_id=item.key.primary_item_id, result=result,
            owner_institution=item.key.owner_institution or None,
            uid=str(item.uids[0]) if item.uids else None,
            parts=SetParts(n=1, of=item.set_total, seen=tuple(item.parts_seen))
            if item.set_total and item.set_total > 1 else None,
            patron=session.patron_ref,
            sip=SipOutcome(ok=outcome.ok, desensitize=outcome.desensitize,
                           resensitize=None if outcome.resensitize is None
                           else ("Y" if outcome.resensitize else "N"),
                           due=outcome.due, alert=outcome.alert, alert_type=outcome.alert_type,
                           sort_bin=outcome.sort_bin, destination=outcome.destination)
            if outcome is not None else None,
            security=security, reason=reason[:256] if reason else None)
        kind = "lib.circ.checkout.v1" if session.mode == "checkout" else "lib.circ.checkin.v1"
        secured_now = session.mode == "checkin"
        now = self._clock()
        journal_id = item.journal_id
        offline = item.offline
        changes_security = result in ("ok", "queued_offline")

        def commit(conn: WriteConnection) -> None:
            if changes_security:
                write_security_expected(conn, item.key.owner_institution,
                                        item.key.primary_item_id, secured_now, now=now)
            event = record_event(conn, self.store.outbox, self.node, "circ", kind, data,
                                 now=now, rand=os.urandom(10), offline=offline)
            if keep_open:
                journal_advance(conn, journal_id, ended_state, {"event": event.id}, now=now)
            else:
                journal_end(conn, journal_id, ended_state, {"event": event.id}, now=now)

        await self.store.writer.submit(commit, name=f"self-check {ended_state}",
                                       commit_now=True)
        self.wake_outbox()

    async def _end(self, item: SessionItem, state: str, data: dict[str, Any],
                   exception: ExceptionData | None, *, keep_open: bool = False) -> None:
        assert item.journal_id is not None
        await self.end_transaction(item.journal_id, state, data, exception,
                                   keep_open=keep_open)

    async def end_transaction(self, journal_id: str, state: str,
                              data: dict[str, Any] | None, exception: ExceptionData | None,
                              *, keep_open: bool = False, name: str = "self-check") -> None:
        """End (or, for recovery to look at, advance) a journal transaction with an optional
        exception event, in one transaction (``recovery`` settles with it too)."""
        now = self._clock()

        def write(conn: WriteConnection) -> None:
            if exception is not None:
                record_event(conn, self.store.outbox, self.node, "exception",
                             "lib.exception.v1", exception, now=now, rand=os.urandom(10))
            if keep_open:
                journal_advance(conn, journal_id, state, data, now=now)
            else:
                journal_end(conn, journal_id, state, data, now=now)

        await self.store.writer.submit(write, name=f"{name} {state}", commit_now=True)
        if exception is not None:
            self.wake_outbox()

    async def _finish_unresolved(self, session: KioskSession, item: SessionItem) -> None:
        """At the end of a session: nothing may stay half-done (module docstring)."""
        if item.state is ItemState.INCOMPLETE:
            await self._exception_only(ExceptionData(
                kind="incomplete_set", primary_item_id=item.key.primary_item_id,
                owner_institution=item.key.owner_institution or None,
                uid=str(item.uids[0]) if item.uids else None,
                detail=f"parts {item.parts_seen} of {item.set_total} were on the pad"))
            return
        if item.journal_id is None or item.state not in (ItemState.PUT_BACK,
                                                         ItemState.NEEDS_STAFF):
            return
        entry = self.store.journal.get(item.journal_id)
        if entry is None or entry.ended:
            return
        if session.mode == "checkout":
            # A set whose first tag was unsecured before the second failed: put the first back
            # as the ILS will have it (secured), while it is still on the pad.
            gone = [uid for uid in item.uids if uid not in self.pad.field]
            if not item.renewed:   # a renewed loan stays: its tag must not be secured
                await self._resecure_what_is_here(item)
            if not gone:
                await self.rollback_checkout(item.journal_id, item.key,
                                             offline=item.offline, uids=item.uids)
            else:
                # Lifted during its write: the write may have landed (a reader cannot tell a
                # tag that left after the write from one that left before it), so the tag
                # may be unsecured while the ILS has the item back. Staff are told to check
                # it, and the cache expects it secured (the gate's check of the item).
                # Kept in the journal too: if the ILS cannot take the item back now, the
                # recovery loop undoes the checkout later and tells staff the same.
                await self.store.journal.advance(item.journal_id, entry.state,
                                                 {TAG_UNKNOWN: [str(uid) for uid in gone]})
                if await self.rollback_checkout(item.journal_id, item.key,
                                                offline=item.offline, uids=item.uids,
                                                why=LIFTED_MID_WRITE) and not item.renewed:
                    await self.alert_tag_unknown(item.key, gone)
        else:
            await self.alert_unsecured_checkin(item.journal_id, item.key, item.uids,
                                               offline=item.offline)
        item.set(ItemState.NEEDS_STAFF)

    async def _resecure_what_is_here(self, item: SessionItem) -> None:
        reader = self.pad.reader
        if reader is None:
            return
        for uid in item.uids:
            if uid not in self.pad.field:
                continue
            try:
                async with self._tag_turn:
                    await reader.set_security(uid, True, self.scheme)
            except BridgeError as exc:
                logger.info("self-check: tag %s of %s could not be secured again: %s", uid,
                            item.key.primary_item_id, exc)

    async def rollback_checkout(self, journal_id: str, key: ItemKey, *, offline: bool,
                                uids: list[Uid], why: str = "security could not be switched off"
                                ) -> bool:
        """Undo an ILS checkout whose tag could not be unsecured; False when the ILS could not
        be asked (the journal stays ``rollback_pending`` for the recovery loop). A checkout
        that renewed a loan the patron already had is not undone (a checkin would end that
        loan while the patron keeps the item): staff are told to check the tag."""
        entry = self.store.journal.get(journal_id)
        ils_done = entry is not None and entry.state not in ("started", "offline")
        if ils_done and entry is not None and entry.data.get(RENEWAL) is True:
            detail = (f"{why}; the item was already on loan to the patron and stays on loan "
                      "(renewed): check its tag")
            await self.end_transaction(journal_id, "needs_staff", {"detail": detail},
                                       ExceptionData(kind="write_failed",
                                                     primary_item_id=key.primary_item_id,
                                                     owner_institution=key.owner_institution
                                                     or None,
                                                     uid=str(uids[0]) if uids else None,
                                                     detail=detail))
            return True
        if ils_done and not offline:
            try:
                async with self._ils_turn:
                    await self.backend().checkin(key)
            except CirculationError as exc:
                logger.warning("self-check: undoing checkout of %s failed: %s",
                               key.primary_item_id, exc.reason)
                now = self._clock()
                await self.store.writer.submit(
                    lambda conn: _advance(conn, journal_id, "rollback_pending", now),
                    name="self-check rollback pending", commit_now=True)
                return False
        self.counters["rolled_back"] += 1
        detail = (f"{why}; the checkout was undone" if ils_done and not offline
                  else f"{why}; nothing was checked out")
        exception = ExceptionData(kind="write_failed", primary_item_id=key.primary_item_id,
                                  owner_institution=key.owner_institution or None,
                                  uid=str(uids[0]) if uids else None, detail=detail)
        await self.end_transaction(journal_id, "rolled_back", {"detail": detail}, exception)
        return True

    async def alert_unsecured_checkin(self, journal_id: str, key: ItemKey,
                                      uids: list[Uid], *, offline: bool = False) -> None:
        """A returned item whose tag could not be secured: the ILS has it back, the tag does
        not say so. Staff are told; the item is marked security-expected in the cache.

        Taken off-line, the ILS does not have it back yet: the return stays queued for the
        replay (the item was handed in; dropping the return would leave it on the patron's
        account), and staff are told about the tag all the same."""
        now = self._clock()

        def write(conn: WriteConnection) -> None:
            self._staff_check_security(conn, key, uids, now)
            if offline:
                journal_advance(conn, journal_id, "offline_queued",
                                {"detail": "tag not secured"}, now=now)
            else:
                journal_end(conn, journal_id, "needs_staff", {"detail": "tag not secured"},
                            now=now)

        await self.store.writer.submit(write, name="self-check checkin alert", commit_now=True)
        self.wake_outbox()

    async def alert_tag_unknown(self, key: ItemKey, uids: list[Uid]) -> None:
        """An item the ILS has back whose tag's security is unknown (it left mid-write): a
        mismatch event for staff, and the item marked security-expected in the cache."""
        now = self._clock()
        await self.store.writer.submit(
            lambda conn: self._staff_check_security(conn, key, uids, now),
            name="self-check tag unknown", commit_now=True)
        self.wake_outbox()

    def _staff_check_security(self, conn: WriteConnection, key: ItemKey, uids: list[Uid],
                              now: datetime) -> None:
        """Inside a writer operation: the ILS has the item (available) while its tag may not
        be secured; the cache expects it secured and a mismatch event tells staff."""
        mismatch = SecurityMismatchData(
            primary_item_id=key.primary_item_id, circulation_status="03",
            security_expected=True, remediation="staff_alerted",
            owner_institution=key.owner_institution or None,
            uid=str(uids[0]) if uids else None)
        write_security_expected(conn, key.owner_institution, key.primary_item_id, True, now=now)
        record_event(conn, self.store.outbox, self.node, "security", "lib.security.mismatch.v1",
                     mismatch, now=now, rand=os.urandom(10))

    async def _exception_only(self, exception: ExceptionData) -> None:
        now = self._clock()
        await self.store.writer.submit(
            lambda conn: record_event(conn, self.store.outbox, self.node, "exception",
                                      "lib.exception.v1", exception, now=now,
                                      rand=os.urandom(10)),
            name="self-check exception", commit_now=True)
        self.wake_outbox()

    def _journal_data(self, session: KioskSession, item: SessionItem) -> dict[str, Any]:
        return {"session": session.id, "owner_institution": item.key.owner_institution,
                "primary_item_id": item.key.primary_item_id,
                "uids": [str(u) for u in item.uids], "patron": session.patron_ref,
                "parts_seen": item.parts_seen, "set_total": item.set_total,
                "reader": self.pad.name, "offline": item.offline}

    # --- renew ------------------------------------------------------------------------------

    def _patron_asks_ils(self, session_id: str, unreachable: str) -> KioskSession:
        """The open, on-line check-out session a patron's own request to the ILS (renew, the
        account view) needs, its inactivity timer restarted; ``unreachable`` says what cannot
        be done while the ILS is not."""
        session = self.get_session(session_id)
        if not session.open or session.mode != "checkout" or session.patron_id is None:
            raise WorkflowError("no_session", "Please start a session with your card first.")
        if session.offline or not self.online():
            raise WorkflowError("ils_unreachable", unreachable, status=503)
        session.last_activity_s = time.monotonic()
        return session

    async def renew(self, session_id: str, key: ItemKey) -> dict[str, Any]:
        session = self._patron_asks_ils(session_id, "Renewing is not possible right now.")
        assert session.patron_id is not None   # checked by _patron_asks_ils
        if not key.owner_institution:
            # The account view names our loans by our ISIL; a request without one means ours
            # (the MQTT contract needs an owner: left empty it was a 500 through the gateway).
            if not self.library.isil:
                raise WorkflowError("invalid_request", "Name the item's owner library.",
                                    status=422, field="owner_institution")
            key = ItemKey(self.library.isil, key.primary_item_id)
        if any(item.state is ItemState.PROCESSING
               or (item.ils_done and item.state is not ItemState.DONE and not item.renewed)
               for here, item in session.items.items()
               if here.primary_item_id == key.primary_item_id
               and same_isil(here.owner_institution or self.library.isil,
                             key.owner_institution)):
            # Its checkout in this session is not finished: undone if its security cannot be
            # set, and the renewal with it ("Renewed" would not be true). Not a checkout that
            # renewed the patron's own loan: that loan stays whatever its tag.
            raise WorkflowError("loan_unfinished", "This item is not lent to you yet, so it "
                                "cannot be renewed: please see what the screen says about it.")
        try:
            async with self._ils_turn:
                outcome = await self.backend().renew(key, session.patron_id, pin=session.pin)
        except CirculationError as exc:
            raise WorkflowError("ils_unreachable", "The library system did not answer. "
                                "Please try again.", status=503) from exc
        return {"primary_item_id": key.primary_item_id, "renewed": outcome.ok,
                "due": outcome.due, "title": outcome.title,
                "message": _first(outcome.screen_message)
                or ("Renewed" if outcome.ok else "This item cannot be renewed"),
                "screen_message": list(outcome.screen_message)}

    # --- the account view -------------------------------------------------------------------

    async def account(self, session_id: str) -> dict[str, Any]:
        """The patron's loans in an open check-out session: the first ``ACCOUNT_LOANS`` the
        ILS lists, each with title, due date, whether overdue and whether it was on the pad in
        this session (``in_session``); ``charged_count`` and ``more`` say how many there are
        in all (:mod:`edge_service.workflows.account`)."""
        session = self._patron_asks_ils(session_id, "Your loans cannot be shown right now.")
        assert session.patron_id is not None   # checked by _patron_asks_ils
        try:
            listed = await patron_loans(self.backend(), self._ils_turn, session.patron_id,
                                        pin=session.pin, owner_institution=self.library.isil)
        except CirculationError as exc:
            raise WorkflowError("ils_unreachable", "The library system did not answer. "
                                "Please try again.", status=503) from exc
        if not session.open:   # ended (timed out) while the ILS answered: not for the next one
            raise WorkflowError("no_session", "Please start a session with your card first.")
        session.last_activity_s = time.monotonic()   # a long list is not the patron idling
        if not listed.ok:   # the card or PIN no longer accepted; never the ILS's words (names)
            raise WorkflowError("patron_refused", "Your loans cannot be shown. Please see staff.",
                                status=403)
        here = {key.primary_item_id for key, item in session.items.items()
                if item.state is ItemState.DONE}   # lent in this visit, not merely seen
        count = listed.charged_count
        return {"session": session.id, "charged_count": count,
                "more": count is not None and count > len(listed.loans),
                "loans": [{"primary_item_id": loan.key.primary_item_id,
                           "owner_institution": loan.key.owner_institution or None,
                           "title": loan.title, "due": loan.due, "overdue": loan.overdue,
                           "in_session": loan.key.primary_item_id in here}
                          for loan in listed.loans]}


def _advance(conn: WriteConnection, journal_id: str, state: str, now: datetime) -> None:
    journal_advance(conn, journal_id, state, None, now=now)


def _field_afi(pad: DeviceSupervisor, uid: Uid) -> int | None:
    tag = pad.field.get(uid)
    return tag.afi if tag is not None else None


def _first(lines: tuple[str, ...]) -> str | None:
    return lines[0] if lines else None

