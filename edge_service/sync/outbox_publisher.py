# SPDX-License-Identifier: Apache-2.0
"""Drains the store's outbox to the broker: in order, QoS 1, deleted only after the PUBACK.

    wait connected -> peek the oldest events -> publish them in outbox order, at most
    ``window`` unacknowledged -> each acknowledged prefix is deleted (one writer operation
    per ``DELETE_BATCH``) -> again; empty outbox: sleep until ``wake()``, deleting what was
    acknowledged once the oldest of it is ``DELETE_AFTER_S`` old

- At least once: an event is deleted only after its PUBACK, so a crash or a disconnect after
  the PUBACK but before the delete publishes it again; consumers de-duplicate by ``id``.
- Deletes are deferred: at a steady trickle (a gate, a kiosk) a DELETE per acknowledged
  event is one more commit per event, as many bytes on the SD card as the event's own
  (docs/storage-writes.md). Acknowledged rows wait for ``DELETE_BATCH`` more, for
  ``DELETE_AFTER_S``, for a disconnect met while publishing, or for ``run()`` to end;
  meanwhile peeks start after them, so they are not published twice. The newest of them
  stays until the last of these: while it is in the table no new row can get an id below
  the peek's start (SQLite reuses rowid 1 only in an emptied table). The cost: after a
  crash, up to ``DELETE_AFTER_S`` of acknowledged events are published again (de-duplicated
  by consumers, as above).
- In order: events go out in outbox order on one connection. After a disconnect everything not
  yet acknowledged is published again from the oldest, so a consumer may see a repeat of a
  recent event, but the first arrival of each event is in ``seq`` order.
- Never busy-polls: an empty outbox waits on an event set by ``wake()`` (the daemon calls it
  after committing an event) and by every reconnect.
- Waits while central says it is offline (retained ``central/status`` ``online: false``):
  the broker would only queue the events for nobody (contract README, durability rule 2).

Not responsible for: creating events (``events.record_event``), the connection (``mqtt_client``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from edge_service.store import Outbox, OutboxEntry, StoreError
from edge_service.sync.errors import NotConnected, PublishRefused
from edge_service.sync.mqtt_client import MqttClient

logger = logging.getLogger(__name__)

WINDOW = 100
"""Events published but not yet acknowledged. 100 keeps a LAN broker busy; a broker's lower
Receive Maximum throttles it further in the client (``mqtt_client``, in-flight window)."""
PEEK_BATCH = 200
"""Events read per peek (on the event loop: kept small so a draining backlog never holds the
loop for long; twice the window keeps publishing busy)."""
DELETE_BATCH = 500
"""Acknowledged events per DELETE: one writer operation per batch, not per event."""
MAX_UNDELETED = 5000
"""Acknowledged events whose DELETE has not committed yet. DELETEs wait for the writer's
group-commit window (``Outbox.delete`` does not commit at once), so several run concurrently
and share one commit; publishing goes on meanwhile, up to this many."""
YIELD_EVERY = 8
"""Publishes between two turns of the event loop. Awaiting a PUBACK that already came does
not yield, so after a burst of PUBACKs this task would publish a whole window (100) in one
step, ~5 ms of loop time in which a gate's reader response waits (``bench/gate.py``)."""
DELETE_AFTER_S = 30.0
"""How long acknowledged events may wait for their DELETE once the outbox is drained."""
STORE_RETRY_S = 1.0
"""Pause after a store error (the writer is busy or closing) before reading the outbox again."""


@dataclass(slots=True)
class PublisherCounters:
    published: int = 0
    acknowledged: int = 0
    deleted: int = 0
    refused: int = 0
    retries: int = 0


class OutboxPublisher:
    """See the module docstring. ``run()`` until cancelled."""

    def __init__(self, outbox: Outbox, client: MqttClient, *, window: int = WINDOW,
                 peek_batch: int = PEEK_BATCH, delete_batch: int = DELETE_BATCH,
                 delete_after_s: float = DELETE_AFTER_S) -> None:
        if window < 1 or peek_batch < window or delete_batch < 1 or delete_after_s < 0:
            raise ValueError("need window >= 1, peek_batch >= window, delete_batch >= 1, "
                             "delete_after_s >= 0")
        self.outbox = outbox
        self.client = client
        self.window = window
        self.peek_batch = peek_batch
        self.delete_batch = delete_batch
        self.delete_after_s = delete_after_s
        self.counters = PublisherCounters()
        self.central_online = True
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._deleting: deque[tuple[int, asyncio.Task[None]]] = deque()
        self._undeleted: list[int] = []
        self._undeleted_since = 0.0   # loop time of the oldest id in _undeleted
        self._acknowledged_to = 0     # outbox ids up to here are acknowledged (while undeleted)

    def wake(self) -> None:
        """Something was committed to the outbox (or the link came back): look again."""
        self._wake.set()

    def set_central_online(self, online: bool) -> None:
        self.central_online = online
        if online:
            self.wake()

    async def wait_idle(self) -> None:
        """Until every queued event was found acknowledged (after the last ``wake``); their
        DELETEs may still be deferred (``acknowledged_undeleted``)."""
        await self._idle.wait()

    @property
    def acknowledged_undeleted(self) -> int:
        """Rows still in the outbox whose events the broker acknowledged (DELETE deferred or
        on its way): a backlog figure subtracts them."""
        return self._rows_not_deleted()

    async def run(self) -> None:
        try:
            while True:
                await self.client.wait_connected()
                if not self.central_online:
                    self._wake.clear()
                    await self._wait_woken()
                    continue
                self._wake.clear()
                try:
                    drained = await self._drain()
                except NotConnected:
                    self.counters.retries += 1
                    continue
                except StoreError as exc:
                    logger.warning("outbox: %s; retrying", exc)
                    await asyncio.sleep(STORE_RETRY_S)
                    continue
                if drained:
                    self._idle.set()
                    await self._wait_woken()
                    self._idle.clear()
        finally:
            await self._delete_at_exit()

    async def _wait_woken(self) -> None:
        """Until ``wake()``; acknowledged rows are deleted when their time comes meanwhile."""
        while self._undeleted:
            due = self._undeleted_since + self.delete_after_s
            remaining = due - asyncio.get_running_loop().time()
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._wake.wait()
                        return
            try:
                await self._flush_deletes()
            except StoreError as exc:
                logger.warning("outbox: acknowledged events not deleted: %s; retrying", exc)
                self._undeleted_since = asyncio.get_running_loop().time()
        await self._wake.wait()

    async def _delete_at_exit(self) -> None:
        """Best effort: what is left is published again at the next start."""
        try:
            await self._flush_deletes()
        except StoreError as exc:
            logger.info("outbox: %d acknowledged events not deleted at exit (%s); they are "
                        "published again at the next start", self._rows_not_deleted(), exc)
        except asyncio.CancelledError:
            # Stopped again while deleting (asyncio.run cancels every task at shutdown). A
            # DELETE already handed to the writer may still commit.
            logger.info("outbox: stopped while deleting %d acknowledged events; those not "
                        "deleted are published again at the next start",
                        self._rows_not_deleted())
            raise

    async def _drain(self) -> bool:
        """Publish until every queued event is acknowledged (True) or the link drops
        (NotConnected)."""
        while True:
            # Acknowledged rows may still await their DELETE: the peek starts after them (a
            # rowid range scan; reading past them cost the gate's alarm path milliseconds of
            # event-loop time per peek while a backlog drained).
            entries = self.outbox.peek(self.peek_batch, after=self._acknowledged_to)
            if entries:
                await self._publish_in_order(entries)
                continue
            if self._undeleted:
                return True
            # Nothing is held back (the last acknowledged row was handed to a batch DELETE):
            # every acknowledged row may be gone, and an emptied table hands out rowid 1 again,
            # below the mark. Delete the rest, then look once more from the oldest row.
            looked_from_oldest = not self._acknowledged_to
            await self._flush_deletes()
            if looked_from_oldest:
                return True

    async def _publish_in_order(self, entries: list[OutboxEntry]) -> None:
        """Publish ``entries`` with at most ``window`` in flight, in order."""
        in_flight: deque[tuple[OutboxEntry, asyncio.Future[None]]] = deque()
        try:
            for count, entry in enumerate(entries, 1):
                if len(in_flight) >= self.window:
                    await self._settle_oldest(in_flight)
                in_flight.append((entry, self.client.publish_nowait(entry.topic, entry.payload)))
                self.counters.published += 1
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            while in_flight:
                await self._settle_oldest(in_flight)
        except BaseException as exc:
            # Failed by a disconnect, now or (its hop still queued) in a moment, or left behind
            # by a store error: retrieved, so that asyncio does not log each as an error nobody
            # handled.
            for _, future in in_flight:
                if future.done():
                    _retrieve(future)
                else:
                    future.add_done_callback(_retrieve)
            if isinstance(exc, NotConnected):
                try:
                    await self._flush_deletes()
                except StoreError as store_exc:   # kept; deleted at the next flush
                    logger.info("outbox: acknowledged events not deleted yet: %s", store_exc)
            raise

    async def _settle_oldest(
            self, in_flight: deque[tuple[OutboxEntry, asyncio.Future[None]]]) -> None:
        entry, future = in_flight.popleft()
        try:
            await future
        except PublishRefused as exc:
            # The ACL forbids the topic: retrying cannot help, and keeping it would block
            # every later event. Logged with its id so that it can be traced; dropped.
            self.counters.refused += 1
            logger.warning("outbox event %s dropped: %s", entry.event_id, exc)
        self.counters.acknowledged += 1
        if not self._undeleted:
            self._undeleted_since = asyncio.get_running_loop().time()
        self._undeleted.append(entry.id)
        self._acknowledged_to = entry.id
        if len(self._undeleted) > self.delete_batch:
            # The newest acknowledged row is held back: while it is in the table, every new
            # row's id is above the mark (only _flush_deletes deletes it, and resets the mark).
            ids, self._undeleted = self._undeleted[:-1], self._undeleted[-1:]
            self._undeleted_since = asyncio.get_running_loop().time()
            self._deleting.append(
                (len(ids), asyncio.create_task(self._delete_batch(ids), name="outbox delete")))
            while self._rows_not_deleted() > MAX_UNDELETED:
                await self._deleting.popleft()[1]

    def _rows_not_deleted(self) -> int:
        return len(self._undeleted) + sum(rows for rows, task in self._deleting
                                          if not task.done())

    async def _delete(self, ids: list[int]) -> None:
        self.counters.deleted += await self.outbox.delete(ids)

    async def _delete_batch(self, ids: list[int]) -> None:
        try:
            await self._delete(ids)
        except BaseException:
            self._undeleted[:0] = ids   # still acknowledged, still there: deleted later
            raise

    async def _flush_deletes(self) -> None:
        """Delete every acknowledged id and wait for the DELETEs to commit; the next peek
        starts from the oldest row (nothing acknowledged is left in the table)."""
        while self._deleting:
            await self._deleting.popleft()[1]
        ids, self._undeleted = self._undeleted, []
        if ids:
            await self._delete_batch(ids)
        self._acknowledged_to = 0


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
