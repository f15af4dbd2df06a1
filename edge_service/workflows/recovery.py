# SPDX-License-Identifier: Apache-2.0
"""After a crash, and while the ILS was away: finishing what the journal says is unfinished.

``recover()`` runs once at start, before the kiosk takes a patron; ``run()`` then retries, every
``RETRY_INTERVAL_S`` while the ILS is reachable, what could not be settled yet (an ILS that was
down) and replays off-line transactions with their original time. The decisions, by journal
state (``selfcheck`` writes them):

    checkout started / ils_failed  the ILS may or may not have checked it out: item information
                                   decides. Not on loan: nothing happened ("abandoned"). On
                                   loan: we cannot tell to whom, so staff are told
                                   (``other`` exception, "needs_staff"); the tag was never
                                   touched, so it is still secured.
    checkout ils_done / securing / put_back / rollback_pending
                                   the patron never saw "done": the checkout is undone (ILS
                                   checkin) and a ``write_failed`` exception says so (for
                                   ``securing``: the tag may already be unsecured, staff check).
                                   A checkout that renewed the patron's own loan is not undone
                                   ("needs_staff", the exception says to check the tag).
    checkout offline / checkin offline (security not committed)
                                   nothing reached the ILS: "abandoned" (an off-line checkout
                                   whose write may have happened gets a ``write_failed`` event).
    checkin started / ils_failed   item information: still on loan means the return did not
                                   happen ("abandoned" + ``other`` exception for staff);
                                   otherwise the ILS has it back and the tag was not secured:
                                   ``lib.security.mismatch.v1`` to staff.
    checkin ils_done / securing / put_back
                                   the ILS has it back, the tag is not known to be secured:
                                   ``lib.security.mismatch.v1`` to staff ("needs_staff").
    offline_queued                 replayed when the ILS is reachable, with ``offline_at_ms``
                                   and the off-line event's id; a refusal ends it
                                   "replay_rejected" with an ``offline_rejected`` exception
                                   (the exception queue). Marked "replaying" (committed)
                                   before it is sent, and replayed in the order of the original
                                   transactions: an item's later transaction waits while an
                                   earlier one cannot be replayed yet.
    replaying                      a replay was cut short (restart, link lost) after it may have
                                   reached the ILS. Through the gateway, within its dedupe
                                   window, it is sent again with the same correlation id (the
                                   gateway answers a repeat from the window). Over SIP2 sending
                                   again could check out twice or return an item someone has
                                   borrowed since, so item information decides. Checkout: not
                                   on loan -> sent again; on loan to the patron (their loans)
                                   -> "replayed"; to someone else -> "replay_rejected";
                                   unknown (no loans without a PIN) -> "needs_staff". Return:
                                   not on loan -> "replayed"; on loan -> "needs_staff" (the
                                   patron handed the item in). Each with an
                                   ``offline_rejected`` exception when not "replayed". Left: a
                                   checkout cut short, then returned at a desk while the box
                                   was cut off, is sent again.
    any state, refused as invalid  (a request refused for what it holds: the contract or the
                                   gateway refuses it, SIP2 cannot carry it) "replay_rejected":
                                   repeating it changes nothing. Other failures (the ILS
                                   refuses the login, answers garbage) wait like an ILS that
                                   is away. A row that raises anything else is logged, told
                                   to staff once (``other`` exception) and tried every pass.

Nothing here ever gives up silently: what cannot be settled now stays open and is retried.

Not responsible for: the live kiosk session (``selfcheck``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from edge_service.circulation import (
    INVALID_REQUEST,
    CirculationError,
    CirculationFailed,
    ItemKey,
    TransientCirculationError,
)
from edge_service.store import JournalEntry, utc_now
from edge_service.workflows.selfcheck import LIFTED_MID_WRITE, RENEWAL, TAG_UNKNOWN, SelfCheck
from protocols.contract import ContractError, ExceptionData, parse_time
from protocols.iso15693 import Uid

__all__ = ["Recovery"]

logger = logging.getLogger(__name__)

RETRY_INTERVAL_S = 5.0
LINK_CHECK_S = 0.25
"""How often the loop looks at the ILS link between passes (a pass starts when it comes up)."""
CHARGED = "04"
"""SIP2 circulation status "charged": the item is on loan."""


def _key(entry: JournalEntry) -> ItemKey:
    return ItemKey(str(entry.data.get("owner_institution") or ""),
                   str(entry.data.get("primary_item_id") or ""))


def _uids(entry: JournalEntry) -> list[Uid]:
    return [Uid.from_text(u) for u in entry.data.get("uids", []) if isinstance(u, str)]


class Recovery:
    """Settles the journal's unfinished transactions; see the module docstring."""

    def __init__(self, selfcheck: SelfCheck, *, retry_interval_s: float = RETRY_INTERVAL_S,
                 live_journal_ids: Callable[[], set[str]] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.kiosk = selfcheck
        """The kiosk whose circulation link replays and settles (one link per box)."""
        self.store = selfcheck.store
        self._live = live_journal_ids or selfcheck.live_journal_ids
        """The transactions some session still owns, on every kiosk of the box: a box with
        two pads must not settle the other pad's item while its patron is at it."""
        self.retry_interval_s = retry_interval_s
        self._task: asyncio.Task[None] | None = None
        self.settled: dict[str, int] = {}
        self._failing: set[str] = set()
        self._clock = clock

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="libedge journal recovery")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        """A pass every ``retry_interval_s``, and at once when the ILS link comes up: items
        waiting on an unsettled transaction (``SelfCheck._interrupted_before``) should not
        wait a whole interval after the link is back."""
        was_online = self.kiosk.online()
        due = 0.0
        loop = asyncio.get_running_loop()
        while True:
            online = self.kiosk.online()
            if loop.time() >= due or (online and not was_online):
                try:
                    await self.settle()
                except Exception:  # a bug here must not end retries for good
                    logger.exception("journal recovery pass failed")
                due = loop.time() + self.retry_interval_s
            was_online = online
            await asyncio.sleep(LINK_CHECK_S)

    async def recover(self) -> int:
        """One pass at start (the ILS may be down: what needs it stays open)."""
        return await self.settle()

    async def settle(self) -> int:
        """One pass over the open transactions not owned by a live session; how many ended."""
        live = self.live_journal_ids()
        ended = 0
        waiting: set[ItemKey] = set()
        for entry in self.store.journal.open_entries():   # oldest first
            key = _key(entry)
            if entry.id in live or key in waiting:
                # Owned by a session (maybe on another pad), or behind an earlier transaction
                # on this item that waits: a later one must not overtake it.
                waiting.add(key)
                continue
            try:
                done = await self._settle(entry)
            except CirculationError as exc:
                waiting.add(key)
                logger.info("journal %s (%s %s) waits for the ILS: %s", entry.id, entry.kind,
                            entry.state, exc.reason)
                continue
            except Exception as exc:
                # A bug or bad data in one row must not stop every other item's settling.
                # Only the type is logged: the message may quote a card number.
                waiting.add(key)
                if entry.id not in self._failing:
                    self._failing.add(entry.id)
                    logger.error(  # noqa: TRY400 - no traceback: it may quote a card number
                        "journal %s (%s %s) could not be settled: %s", entry.id, entry.kind,
                        entry.state, type(exc).__name__)
                    await self._tell_staff_stuck(entry, key, type(exc).__name__)
                continue
            if not done:
                waiting.add(key)
                continue
            ended += 1
            self.settled[entry.state] = self.settled.get(entry.state, 0) + 1
        return ended

    def live_journal_ids(self) -> set[str]:
        """The open transactions recovery leaves alone: a session still owns them."""
        return self._live()

    async def _settle(self, entry: JournalEntry) -> bool:
        offline = bool(entry.data.get("offline"))
        if entry.state == "offline_queued":
            return await self._replay(entry) if self.kiosk.online() else False
        if entry.state == "replaying":
            return await self._settle_replay(entry) if self.kiosk.online() else False
        if entry.state == "offline" or (offline and entry.state in ("securing", "put_back")):
            return await self._abandon_offline(entry)
        if entry.kind == "checkout":
            return await self._settle_checkout(entry)
        if entry.kind == "checkin":
            return await self._settle_checkin(entry)
        logger.warning("journal %s: unknown kind %r left open", entry.id, entry.kind)
        return False

    async def _settle_checkout(self, entry: JournalEntry) -> bool:
        key = _key(entry)
        if entry.state in ("started", "ils_failed"):
            if not self.kiosk.online():
                return False
            info = await self.kiosk.backend().item_info(key)
            if info.circulation_status != CHARGED:
                await self._end(entry, "abandoned", None)
                return True
            await self._end(entry, "needs_staff", ExceptionData(
                kind="other", primary_item_id=key.primary_item_id,
                owner_institution=key.owner_institution or None,
                detail="a checkout was interrupted by a restart and the ILS shows the item on "
                       "loan: check who has it; its tag is still secured"))
            return True
        if not self.kiosk.online():
            return False
        lifted = [Uid.from_text(text) for text in entry.data.get(TAG_UNKNOWN) or ()
                  if isinstance(text, str)]
        why = ("the checkout was interrupted while its tag was being written (the tag may be "
               "unsecured: check it)" if entry.state == "securing"
               else LIFTED_MID_WRITE if lifted else "security could not be switched off")
        done = await self.kiosk.rollback_checkout(entry.id, key, offline=False,
                                                  uids=_uids(entry), why=why)
        if done and lifted and entry.data.get(RENEWAL) is not True:
            await self.kiosk.alert_tag_unknown(key, lifted)
        return done

    async def _settle_checkin(self, entry: JournalEntry) -> bool:
        key = _key(entry)
        if entry.state in ("started", "ils_failed"):
            if not self.kiosk.online():
                return False
            info = await self.kiosk.backend().item_info(key)
            if info.circulation_status == CHARGED:
                await self._end(entry, "abandoned", ExceptionData(
                    kind="other", primary_item_id=key.primary_item_id,
                    owner_institution=key.owner_institution or None,
                    detail="a return was interrupted by a restart; the item is still on loan"))
                return True
        await self.kiosk.alert_unsecured_checkin(entry.id, key, _uids(entry))
        return True

    async def _abandon_offline(self, entry: JournalEntry) -> bool:
        key = _key(entry)
        exception = None
        if entry.kind == "checkout" and entry.state != "offline":
            exception = ExceptionData(
                kind="write_failed", primary_item_id=key.primary_item_id,
                owner_institution=key.owner_institution or None,
                uid=str(_uids(entry)[0]) if _uids(entry) else None,
                detail="an off-line checkout was interrupted while its tag was being written; "
                       "nothing was checked out (the tag may be unsecured: check it)")
        await self._end(entry, "abandoned", exception)
        return True

    async def _settle_replay(self, entry: JournalEntry) -> bool:
        """A replay that may or may not have reached the ILS: see the module docstring."""
        key = _key(entry)
        backend = self.kiosk.backend()
        marked_s = self._clock().timestamp() - parse_time(entry.updated_at) / 1000
        if marked_s < backend.replay_dedupe_s:
            # Sent again with the same correlation id: the gateway answers a repeat from its
            # dedupe window instead of running it twice.
            return await self._replay(entry)
        on_loan = (await backend.item_info(key)).circulation_status == CHARGED
        if entry.kind == "checkout":
            if not on_loan:
                return await self._replay(entry)
            lent_to_patron = await self._lent_to_patron(entry, key)
            if lent_to_patron:
                await self._end(entry, "replayed", None)
            elif lent_to_patron is False:
                await self._end(entry, "replay_rejected", self._rejected(
                    entry, key, "was cut short while it was replayed and the ILS lends the "
                                "item to another patron"))
            else:
                await self._end(entry, "needs_staff", self._rejected(
                    entry, key, "was cut short while it was replayed; the ILS shows the item "
                                "on loan and would not say to whom: check the loan"))
            return True
        if not on_loan:
            await self._end(entry, "replayed", None)
            return True
        await self._end(entry, "needs_staff", self._rejected(
            entry, key, "was cut short while it was replayed and the ILS still shows the item "
                        "on loan: check the item in if it is on the shelf"))
        return True

    async def _tell_staff_stuck(self, entry: JournalEntry, key: ItemKey, error: str) -> None:
        """An exception event for a row recovery cannot settle (it holds its item on the pad
        while the ILS is reachable); the row stays open and is tried again every pass."""
        try:
            now = self.store.journal.get(entry.id)   # the row as it is (the pass may have moved it)
            if now is None or now.ended:
                return
            await self.kiosk.end_transaction(
                entry.id, now.state, {"detail": f"recovery cannot settle it ({error})"},
                ExceptionData(kind="other", primary_item_id=key.primary_item_id or None,
                              owner_institution=key.owner_institution or None,
                              detail=f"the {entry.kind} cannot be settled automatically "
                                     f"({error}); the item waits until staff settle it"),
                keep_open=True, name="recovery")
        except Exception as exc:   # the log line above already says it
            logger.error("journal %s: staff could not be told: %s", entry.id,  # noqa: TRY400
                         type(exc).__name__)

    async def _lent_to_patron(self, entry: JournalEntry, key: ItemKey) -> bool | None:
        """Whether the item is among the loans of the transaction's patron (None: unknown,
        e.g. the ILS lists loans only with the PIN, which an off-line session never has)."""
        patron = self.store.journal.patron_of(entry.id)
        if patron is None:
            return None
        loans = await self.kiosk.backend().patron_loans(patron)
        if not loans.ok or loans.loans is None:
            return None
        if key.primary_item_id in loans.loans:
            return True
        if loans.charged_count is not None and loans.charged_count <= len(loans.loans):
            return False   # the whole list, and it is not there
        return None

    async def _replay(self, entry: JournalEntry) -> bool:
        key = _key(entry)
        backend = self.kiosk.backend()
        at_ms = parse_time(entry.created_at)
        related = entry.data.get("event")
        related_event = related if isinstance(related, str) else None
        patron = None
        if entry.kind == "checkout":
            patron = self.store.journal.patron_of(entry.id)
            if patron is None:
                await self._end(entry, "replay_rejected", self._rejected(
                    entry, key, "the patron identifier needed to replay it is missing"))
                return True
        # Committed before the ILS hears it: a restart between the ILS's answer and the end
        # of this row must not send it again blindly (_settle_replay decides instead).
        if entry.state != "replaying":
            await self.store.journal.advance(entry.id, "replaying")
        try:
            if patron is not None:
                outcome = await backend.checkout(key, patron, offline_at_ms=at_ms,
                                                 related_event=related_event)
            else:
                outcome = await backend.checkin(key, offline_at_ms=at_ms,
                                                related_event=related_event)
        except TransientCirculationError as exc:
            if not exc.sent and entry.state == "offline_queued":
                # This send certainly never left, and no earlier one did: queued as before.
                await self.store.journal.advance(entry.id, "offline_queued")
            raise
        except CirculationFailed as exc:
            if exc.code != INVALID_REQUEST:
                raise   # the ILS refused the login, answered garbage...: it waits, "replaying"
            await self._reject_invalid(entry, key)
            return True
        except ContractError:
            await self._reject_invalid(entry, key)
            return True
        if outcome.ok:
            await self._end(entry, "replayed", None)
        else:
            await self._end(entry, "replay_rejected",
                            self._rejected(entry, key, "refused by the ILS on replay"))
        return True

    async def _reject_invalid(self, entry: JournalEntry, key: ItemKey) -> None:
        """A request refused for what it holds (a card number typed with a space, characters
        SIP2 cannot carry): the same request never works, and its item would wait for it on
        the pad forever."""
        await self._end(entry, "replay_rejected", self._rejected(
            entry, key, "could not be replayed: the request was refused as invalid"))

    def _rejected(self, entry: JournalEntry, key: ItemKey, why: str) -> ExceptionData:
        related = entry.data.get("event")
        return ExceptionData(kind="offline_rejected", primary_item_id=key.primary_item_id,
                             owner_institution=key.owner_institution or None,
                             uid=str(_uids(entry)[0]) if _uids(entry) else None,
                             related_event=related if isinstance(related, str) else None,
                             detail=f"off-line {entry.kind} {why}")

    async def _end(self, entry: JournalEntry, state: str,
                   exception: ExceptionData | None) -> None:
        # The exception queue (GET /api/v1/exceptions) shows the row's detail: say why there.
        data = {"detail": exception.detail} if exception is not None and exception.detail \
            else None
        await self.kiosk.end_transaction(entry.id, state, data, exception, name="recovery")
        logger.info("journal %s (%s) settled: %s", entry.id, entry.kind, state)

