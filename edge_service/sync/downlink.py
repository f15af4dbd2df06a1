# SPDX-License-Identifier: Apache-2.0
"""The item-status downlink: deltas in sequence, and resync from a paged snapshot.

    delta arrives -> decode (contract) -> DeltaSequencer against the stored last seq:
        DUPLICATE  ignored (QoS 1 redelivery, or older than the snapshot)
        APPLY      cache.apply_delta: newer record versions only, seq in the same transaction
        GAP        kept aside; resync: publish a ``sync.items`` request, take the first
                   snapshot whose page 1 arrives after it, bootstrap pages 1..pages in order,
                   continue after ``seq_at_snapshot`` with the deltas kept aside
    no baseline    (empty cache) the same resync, at the first connect

Deltas arriving during a resync are kept (up to ``MAX_HELD_DELTAS``) and judged against the
snapshot: those it covers are duplicates, those that follow on from it are applied. One still
beyond ``seq_at_snapshot + 1`` that was kept before the request went out cannot be placed: the
snapshot was taken after central published it, so central's sequence went back (a restored
gateway database) or the delta is not the site's. It is dropped and rejected (reported as an
event). One that arrived after the request may follow a delta that was lost: the node asks
again, after a jittered backoff, and judges it against that snapshot. A resync that does not
complete (no page within ``PAGE_TIMEOUT_S``) is also requested again after the backoff, so
resync requests never follow each other without a pause and every delta is placed or dropped
within two snapshots. A malformed delta or page is rejected (reported as an event) and changes
nothing.

The request is the contract's ``SyncItemsRequest`` on ``{node}/req/sync.items``; the gateway
publishes the pages on the site's ``items/snapshot/{page}`` (its ``rsp`` reply, naming the
snapshot, is not needed: the first snapshot whose page 1 arrives after the request is used,
whichever node asked for it).

Not responsible for: the cache's write rules (``edge_service.store``), the MQTT connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from edge_service.config import NodeConfig
from edge_service.store import InvalidRecord, ItemRecord, Store, StoreError
from edge_service.sync.errors import NotConnected
from edge_service.sync.mqtt_client import MqttClient, PublishProperties, backoff_delay
from edge_service.sync.rejections import RejectionReporter
from protocols.contract import (
    ContractError,
    DeltaSequencer,
    ItemDelta,
    SeqVerdict,
    SnapshotPage,
    SyncItemsRequest,
    format_time,
    request_topic,
)
from protocols.contract import ItemRecord as ContractItem

logger = logging.getLogger(__name__)

FIRST_PAGE_TIMEOUT_S = 30.0
"""From the ``sync.items`` request to page 1 of a snapshot."""
PAGE_TIMEOUT_S = 30.0
"""Between two pages of one snapshot."""
RESYNC_BACKOFF_CAP_S = 300.0
"""Upper bound of the pause between two resync requests; the first is up to twice
``FIRST_PAGE_TIMEOUT_S``, doubling per attempt."""
MAX_HELD_DELTAS = 10_000
MAX_HELD_PAGES = 64
"""Pages that arrived ahead of the next one needed; more means a broken sender."""


def store_record(item: ContractItem) -> ItemRecord:
    """The store's record for a contract record (version as text, set size 1 when unknown)."""
    return ItemRecord(owner_institution=item.owner_institution,
                      primary_item_id=item.primary_item_id,
                      circulation_status=item.circulation_status,
                      security_expected=item.security_expected,
                      catalog_version=str(item.version), set_size=item.set_size or 1,
                      title=item.title, media=item.media)


@dataclass(frozen=True, slots=True)
class _HeldDelta:
    """A delta kept during a resync, with the message it came in (for a rejection report)."""

    delta: ItemDelta
    topic: str
    payload: bytes


@dataclass(slots=True)
class DownlinkCounters:
    deltas_applied: int = 0
    deltas_duplicate: int = 0
    deltas_held: int = 0
    deltas_dropped: int = 0
    gaps: int = 0
    resyncs: int = 0
    resync_requests: int = 0
    snapshot_items: int = 0
    pages_ignored: int = 0


class _SnapshotError(Exception):
    """A resync attempt that cannot complete (timeout, inconsistent pages)."""


class ItemDownlink:
    """Deltas and snapshots of one site for one node; see the module docstring."""

    def __init__(self, node: NodeConfig, store: Store, client: MqttClient,
                 rejections: RejectionReporter, *,
                 first_page_timeout_s: float = FIRST_PAGE_TIMEOUT_S,
                 page_timeout_s: float = PAGE_TIMEOUT_S,
                 rng: random.Random | None = None) -> None:
        self.node = node
        self.store = store
        self.client = client
        self.rejections = rejections
        self.first_page_timeout_s = first_page_timeout_s
        self.page_timeout_s = page_timeout_s
        self.counters = DownlinkCounters()
        self.request_topic = request_topic(node.tenant, node.site, node.node, "sync.items")
        self._rng = rng or random.Random()
        self._sequencer = DeltaSequencer(store.cache.last_delta_seq())
        self._held: dict[int, _HeldDelta] = {}
        self._held_at_request: set[int] = set()
        self._resync: asyncio.Task[None] | None = None
        self._request_sent = False
        self._snapshot_id: str | None = None
        self._pages: dict[int, SnapshotPage] = {}
        self._page_arrived = asyncio.Event()

    @property
    def last_applied(self) -> int | None:
        return self._sequencer.last_applied

    @property
    def resyncing(self) -> bool:
        return self._resync is not None

    async def on_connected(self) -> None:
        """A node without a baseline starts with a snapshot."""
        if self._sequencer.last_applied is None:
            self.start_resync("bootstrap")

    def start_resync(self, reason: str) -> None:
        if self._resync is None:
            self.counters.resyncs += 1
            self._resync = asyncio.create_task(self._run_resync(reason), name="items resync")

    async def close(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            await asyncio.wait([self._resync])
            self._resync = None

    # --- deltas ------------------------------------------------------------------------------

    async def on_delta(self, topic: str, payload: bytes) -> None:
        try:
            delta = ItemDelta.from_json(payload)
            records = [store_record(item) for item in delta.items]
        except ContractError as exc:
            await self.rejections.reject(topic, payload, exc.reason, exc.field)
            return
        except InvalidRecord as exc:
            await self.rejections.reject(topic, payload, str(exc))
            return
        if self._resync is not None:
            self._hold(delta, topic, payload)
            return
        verdict = self._sequencer.classify(delta.seq)
        if verdict is SeqVerdict.DUPLICATE:
            self.counters.deltas_duplicate += 1
        elif verdict is SeqVerdict.APPLY:
            await self._apply(delta.seq, records)
        else:
            self.counters.gaps += 1
            logger.info("item delta %d after %s: gap, resync", delta.seq,
                        self._sequencer.last_applied)
            self._hold(delta, topic, payload)
            self.start_resync("gap")

    def _hold(self, delta: ItemDelta, topic: str, payload: bytes) -> None:
        if len(self._held) < MAX_HELD_DELTAS:
            self._held[delta.seq] = _HeldDelta(delta, topic, payload)
            self.counters.deltas_held += 1

    async def _apply(self, seq: int, records: Sequence[ItemRecord]) -> None:
        result = await self.store.cache.apply_delta(records, seq)
        if not result.stale_seq:
            self._sequencer.applied(seq)
            self.counters.deltas_applied += 1
        else:
            self.counters.deltas_duplicate += 1

    async def _replay_held(self, seq_at_snapshot: int) -> bool:
        """Judge the held deltas against the snapshot just loaded (module docstring); False
        when some wait for a missing delta and deserve another snapshot."""
        waiting = False
        for seq in sorted(self._held):
            verdict = self._sequencer.classify(seq)
            if verdict is SeqVerdict.GAP and seq not in self._held_at_request:
                waiting = True
                continue
            held = self._held.pop(seq)
            if verdict is SeqVerdict.APPLY:
                await self._apply(seq, [store_record(item) for item in held.delta.items])
            elif verdict is SeqVerdict.DUPLICATE:
                self.counters.deltas_duplicate += 1
            else:
                self.counters.deltas_dropped += 1
                await self.rejections.reject(
                    held.topic, held.payload,
                    f"delta {seq} cannot follow the snapshot at seq {seq_at_snapshot} taken "
                    "after it arrived: the site's sequence went back or skipped it", "seq")
        return not waiting

    # --- resync ------------------------------------------------------------------------------

    async def _run_resync(self, reason: str) -> None:
        attempt = 0
        try:
            while True:
                try:
                    seq_at_snapshot = await self._resync_once(reason)
                    if await self._replay_held(seq_at_snapshot):
                        return
                    reason = "gap"
                    self.counters.gaps += 1
                    logger.info("items resync: deltas from %d on still follow a missing one",
                                min(self._held))
                except (_SnapshotError, TimeoutError, NotConnected) as exc:
                    logger.warning("items resync attempt failed: %r", exc)
                except StoreError as exc:
                    logger.warning("items resync: store error: %s", exc)
                attempt += 1
                await asyncio.sleep(backoff_delay(attempt, self._rng,
                                                  base_s=self.first_page_timeout_s,
                                                  cap_s=RESYNC_BACKOFF_CAP_S))
        finally:
            self._held_at_request.clear()
            self._request_sent = False
            self._snapshot_id = None
            self._pages.clear()
            self._resync = None

    async def _resync_once(self, reason: str) -> int:
        """One snapshot requested and loaded; its ``seq_at_snapshot``."""
        self._snapshot_id = None
        self._pages.clear()
        await self.client.wait_connected()
        await self._send_request(reason)
        first = await self._next_page(1, self.first_page_timeout_s)
        self.counters.snapshot_items += len(first.items)
        progress = await self.store.cache.bootstrap(self._pages_from(first),
                                                    snapshot_seq=first.seq_at_snapshot)
        self._sequencer.reset(first.seq_at_snapshot)
        if not progress.items_done and self.store.cache.count():
            logger.warning("items resync: snapshot %s names no item; the cached items are "
                           "kept (is central's item database empty?)", first.snapshot_id)
        logger.info("items resync complete: snapshot %s, %d items, seq %d, %d cached items "
                    "it did not name removed", first.snapshot_id, progress.items_done,
                    first.seq_at_snapshot, progress.items_removed)
        return first.seq_at_snapshot

    async def _send_request(self, reason: str) -> None:
        corr = uuid.uuid4().hex
        expires_s = int(self.first_page_timeout_s) + 1
        request = SyncItemsRequest(
            corr=corr, expires=format_time(time.time_ns() // 1_000_000 + expires_s * 1000))
        logger.info("items resync (%s): requesting a snapshot after seq %s", reason,
                    self._sequencer.last_applied)
        self._request_sent = True
        self._held_at_request = set(self._held)
        self.counters.resync_requests += 1
        await self.client.publish(self.request_topic, request.to_json(), properties=(
            PublishProperties(correlation_data=corr.encode(), message_expiry_s=expires_s)))

    async def _pages_from(self, first: SnapshotPage) -> AsyncIterator[list[ItemRecord]]:
        yield [store_record(item) for item in first.items]
        for number in range(2, first.pages + 1):
            page = await self._next_page(number, self.page_timeout_s)
            if page.pages != first.pages or page.seq_at_snapshot != first.seq_at_snapshot:
                raise _SnapshotError(f"snapshot {first.snapshot_id} page {number} disagrees "
                                     "with page 1 on pages/seq_at_snapshot")
            self.counters.snapshot_items += len(page.items)
            yield [store_record(item) for item in page.items]

    async def _next_page(self, number: int, timeout_s: float) -> SnapshotPage:
        async with asyncio.timeout(timeout_s):
            while number not in self._pages:
                self._page_arrived.clear()
                await self._page_arrived.wait()
        return self._pages.pop(number)

    async def on_snapshot_page(self, topic: str, payload: bytes) -> None:
        try:
            page = SnapshotPage.from_json(payload)
            for item in page.items:
                store_record(item)
        except ContractError as exc:
            await self.rejections.reject(topic, payload, exc.reason, exc.field)
            return
        except InvalidRecord as exc:
            await self.rejections.reject(topic, payload, str(exc))
            return
        if not self._request_sent:
            self.counters.pages_ignored += 1   # another node's snapshot, or a late one
            return
        if self._snapshot_id is None:
            if page.page != 1:
                self.counters.pages_ignored += 1   # joined mid-snapshot: wait for a whole one
                return
            self._snapshot_id = page.snapshot_id
        if page.snapshot_id != self._snapshot_id or len(self._pages) >= MAX_HELD_PAGES:
            self.counters.pages_ignored += 1
            return
        self._pages[page.page] = page
        self._page_arrived.set()
