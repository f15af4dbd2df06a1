# SPDX-License-Identifier: Apache-2.0
"""The storage layer against its budgets (reference_perf (b) P3/P4, issue budgets).

- bootstrap: a 1,000,000-item snapshot into an empty cache, through ``ItemCache.bootstrap``
  (record construction and validation included); budget <= 60 s. Peer: sqlite-utils'
  ``insert_all`` into the same schema, same rows, same run.
- delta apply: deltas of 1,000 newer records onto the full cache; budget >= 20,000 items/s.
- point lookups: ``ItemCache.get`` on random keys of the 1M cache, one core; budget >= 100,000/s
  and p99 <= 0.2 ms. Peer: sqlite-utils ``Table.get`` on the same file.
- bytes per event at a steady 1 event/s: an event is a checkout's state change (one random item)
  plus its event, committed through the writer, published to a real mosquitto and deleted
  after the PUBACK (``bytes_per_event``); ``/proc/self/io`` write_bytes over the run plus a
  final TRUNCATE checkpoint (so the WAL's pages reach the database file), per event; budget
  <= 1 KiB. Run with the daemon's default window and with a 5 s window (Mosquitto's choice).

Quick mode shrinks the counts (100,000 items, 5 events) and reports the same rates.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from bench.common import Result, rate_per_second
from bench.mqtt import start_broker, stop_broker
from edge_service.config import MqttConfig, NodeConfig, StorageConfig
from edge_service.store import (
    ItemRecord,
    Store,
    StoreConfig,
    WriteConnection,
    write_security_expected,
)
from edge_service.store.model import utc_now
from edge_service.sync import MqttSync, record_event
from protocols.contract import CirculationData, encode_event
from tests.sync.broker import free_port

OWNER = "DK-718500"
PAGE_ITEMS = 1000
BOOTSTRAP_BUDGET_S = 60.0
BOOTSTRAP_BUDGET_ITEMS = 1_000_000
DELTA_BUDGET_ITEMS_S = 20_000
LOOKUP_BUDGET_S = 100_000
LOOKUP_P99_BUDGET_MS = 0.2
BYTES_PER_EVENT_BUDGET = 1024
EVENT_INTERVAL_S = 1.0
EVENT_NODE = NodeConfig(tenant="DK-718500", site="DK-718501", node="kiosk-1", mode="kiosk")


def item_id(number: int) -> str:
    return f"{number:012d}"


def record(number: int, version: int = 1) -> ItemRecord:
    return ItemRecord(owner_institution=OWNER, primary_item_id=item_id(number),
                      circulation_status="03", security_expected=True,
                      catalog_version=str(version), title=f"A title of item {number}, volume 2",
                      media="book")


def pages(count: int) -> Iterator[list[ItemRecord]]:
    for start in range(0, count, PAGE_ITEMS):
        yield [record(n) for n in range(start, min(start + PAGE_ITEMS, count))]


def write_bytes() -> int:
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/self/io")


async def bootstrap_and_deltas(path: Path, items: int) -> tuple[float, float]:
    async with await Store.open(StoreConfig(path)) as store:
        start = time.perf_counter()
        await store.cache.bootstrap(pages(items), snapshot_seq=1)
        bootstrap_s = time.perf_counter() - start
        rng = random.Random(1)
        deltas, delta_items = 20, 1000
        batches = [[record(rng.randrange(items), version=2 + d) for _ in range(delta_items)]
                   for d in range(deltas)]
        start = time.perf_counter()
        for seq, batch in enumerate(batches, start=2):
            await store.cache.apply_delta(batch, seq=seq)
        delta_rate = deltas * delta_items / (time.perf_counter() - start)
    return bootstrap_s, delta_rate


def peer_insert_all(path: Path, items: int) -> float:
    """sqlite-utils' bulk path on the same schema (created by our migrations) and rows."""
    db = sqlite_utils.Database(path)
    try:
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        rows = ({"owner_institution": r.owner_institution, "primary_item_id": r.primary_item_id,
                 "circulation_status": r.circulation_status, "security_expected": 1,
                 "set_size": 1, "title": r.title, "media": r.media,
                 "catalog_version": r.catalog_version, "updated_at": "2026-01-01T00:00:00.000Z"}
                for page in pages(items) for r in page)
        start = time.perf_counter()
        db.table("items").insert_all(rows, batch_size=PAGE_ITEMS)
        return time.perf_counter() - start
    finally:
        db.close()


async def lookups(path: Path, items: int, seconds: float) -> tuple[float, float, float]:
    """(ours per second, our p99 in ms, sqlite-utils Table.get per second)."""
    rng = random.Random(2)
    keys = [item_id(rng.randrange(items)) for _ in range(100_000)]
    async with await Store.open(StoreConfig(path)) as store:
        get = store.cache.get
        position = iter(range(10**12))

        def one() -> object:
            return get(OWNER, keys[next(position) % len(keys)])

        rate = rate_per_second(one, seconds=seconds)
        samples = []
        clock = time.perf_counter_ns
        for key in keys[:50_000]:
            before = clock()
            get(OWNER, key)
            samples.append(clock() - before)
        samples.sort()
        p99_ms = samples[int(len(samples) * 0.99)] / 1e6
    db = sqlite_utils.Database(path)
    try:
        table = db.table("items")
        peer = rate_per_second(lambda: table.get((OWNER, keys[next(position) % len(keys)])),
                               seconds=seconds)
    finally:
        db.close()
    return rate, p99_ms, peer


async def bytes_per_event(directory: Path, *, events: int,
                          max_delay_s: float) -> tuple[float, float, float]:
    """Steady 1 event/s through the daemon's own path, bytes written by this process per event:
    at commit and delete time (WAL), and with the final checkpoint (the database file).

    Each event is a checkout as a workflow commits it: the item's security expectation and its
    ``lib.circ.checkout.v1`` event (``record_event``: envelope, UUIDv7 id, seq) in one writer
    operation; the outbox publisher (``MqttSync``) publishes it to a real mosquitto and deletes
    it after the PUBACK, deferred as in the daemon. Measured from the first event until the
    link is stopped (the last DELETEs included). A kiosk's checkout also ends its journal row,
    one more page: not in this figure. The third figure returned is the event's mean size."""
    catalog = 10_000
    path = directory / f"events-{max_delay_s:g}.sqlite"
    port = free_port()
    broker = await asyncio.to_thread(start_broker, directory, port)
    try:
        async with await Store.open(StoreConfig(path, max_delay_s=max_delay_s)) as store:
            await store.cache.bootstrap(pages(catalog), snapshot_seq=1)
            sync = MqttSync(EVENT_NODE, MqttConfig(enabled=True, host="127.0.0.1", port=port),
                            store, software_version="bench")
            await sync.start()
            assert sync.client is not None
            assert sync.publisher is not None
            await sync.client.wait_connected()
            checkpoint(path)
            rng = random.Random(3)
            before = write_bytes()
            pending = []
            sizes: list[int] = []
            for _ in range(events):
                number = rng.randrange(catalog)
                data = CirculationData(primary_item_id=item_id(number), result="ok",
                                       owner_institution=OWNER)

                def checkout(conn: WriteConnection, number: int = number,
                             data: CirculationData = data) -> None:
                    now = utc_now()
                    write_security_expected(conn, OWNER, item_id(number), False, now=now)
                    event = record_event(conn, store.outbox, EVENT_NODE, "circ",
                                         "lib.circ.checkout.v1", data, now=now,
                                         rand=os.urandom(10))
                    sizes.append(len(encode_event(event)))

                # Nobody waits for the commit here (as a gate would not), so the window can
                # gather events; the run still paces them at 1/s.
                future = asyncio.ensure_future(store.writer.submit(checkout))
                future.add_done_callback(lambda _: sync.wake_outbox())
                pending.append(future)
                await asyncio.sleep(EVENT_INTERVAL_S)
            await asyncio.gather(*pending)
            await sync.publisher.wait_idle()
            await sync.stop()
            if store.outbox.count():
                raise RuntimeError(f"{store.outbox.count()} events left in the outbox")
            committed = write_bytes()
    finally:
        await asyncio.to_thread(stop_broker, broker)
    checkpoint(path)
    return ((committed - before) / events, (write_bytes() - before) / events,
            sum(sizes) / len(sizes))


async def create_schema(path: Path) -> None:
    store = await Store.open(StoreConfig(path))
    await store.close()


def checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def run(*, quick: bool = False) -> list[Result]:
    items = 100_000 if quick else BOOTSTRAP_BUDGET_ITEMS
    peer_items = 50_000 if quick else 200_000
    events = 5 if quick else 40
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="libedge-bench-") as tmp:
        cache_path = Path(tmp) / "cache.sqlite"
        bootstrap_s, delta_rate = asyncio.run(bootstrap_and_deltas(cache_path, items))
        peer_path = Path(tmp) / "peer.sqlite"
        asyncio.run(create_schema(peer_path))
        peer_s = peer_insert_all(peer_path, peer_items)
        ours_rate, peer_rate = items / bootstrap_s, peer_items / peer_s
        projected_s = BOOTSTRAP_BUDGET_ITEMS / ours_rate
        results.append(Result(
            name=f"bootstrap {items:,} items (snapshot pages of {PAGE_ITEMS:,})",
            value=ours_rate, unit="items/s",
            budget=f"1M in <= {BOOTSTRAP_BUDGET_S:.0f} s",
            ok=projected_s <= BOOTSTRAP_BUDGET_S,
            comparison=(f"{bootstrap_s:.1f} s, 1M in {projected_s:.1f} s; sqlite-utils "
                        f"insert_all {peer_rate:,.0f} items/s ({ours_rate / peer_rate:.1f}x)")))
        results.append(Result(
            name="apply item deltas (1,000 newer records each)", value=delta_rate,
            unit="items/s", budget=f">= {DELTA_BUDGET_ITEMS_S:,}/s",
            ok=delta_rate >= DELTA_BUDGET_ITEMS_S))
        rate, p99_ms, peer = asyncio.run(lookups(cache_path, items, 0.3 if quick else 1.0))
        results.append(Result(
            name=f"cache point lookup, {items:,} items, one core", value=rate, unit="/s",
            budget=f">= {LOOKUP_BUDGET_S:,}/s, p99 <= {LOOKUP_P99_BUDGET_MS} ms",
            ok=rate >= LOOKUP_BUDGET_S and p99_ms <= LOOKUP_P99_BUDGET_MS,
            comparison=(f"p99 {p99_ms * 1000:.1f} us; sqlite-utils Table.get {peer:,.0f}/s "
                        f"({rate / peer:.1f}x)")))
        for window in (StorageConfig().commit_window_ms / 1000, 5.0):
            wal, per_event, size = asyncio.run(bytes_per_event(Path(tmp), events=events,
                                                               max_delay_s=window))
            results.append(Result(
                name=(f"bytes written per event at 1 event/s, window {window:g} s "
                      f"({events} events, incl. checkpoint)"),
                value=per_event, unit="B", budget=f"<= {BYTES_PER_EVENT_BUDGET} B",
                ok=per_event <= BYTES_PER_EVENT_BUDGET,
                comparison=(f"{wal:,.0f} B at commit (WAL) + {per_event - wal:,.0f} B at "
                            f"checkpoint; {per_event / size:.0f}x the event's "
                            f"{size:.0f} B")))
    return results
