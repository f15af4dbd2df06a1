# SPDX-License-Identifier: Apache-2.0
"""Gate decision latency (reliability_perf.md P2): from the last byte of a reader response to
the alarm command written, p99, budget <= 3 ms, with 1,000,000 items cached and the outbox
draining.

Set-up, the daemon's real parts in this process, the reader in another:

- the reader: ``libedge sim reader --protocol feig`` in a child process (its own event loop and
  CPU, as a real reader is), serving a pty. Its scenario walks ``passages`` secured items
  through the gate one after another: each tag is added to the field, stays ``DWELL_S`` and
  leaves; a new item every ``SPACING_S``.
- the daemon side: a real :class:`Store` file with 1,000,000 items (``ItemCache.bootstrap``, the
  fast path) and 1,000,000 tag observations (every item's tag seen before, so the UID lookup runs
  on a full table); the :class:`DeviceSupervisor` polling the reader every 100 ms (the gate
  default) with the AFI-filtered inventory, and the :class:`GateMonitor` on it.
- the outbox draining: :class:`MqttSync` to a real mosquitto, starting with a 20,000-event
  backlog and fed ``LOAD_EVENTS_S`` more events per second (recorded through the writer as
  workflows do) for the whole walk, so the publisher, the writer and paho's thread are busy
  while the gate decides. The events published during the walk are reported.

How it is measured: a wire tap on the driver's serial transport timestamps every chunk of bytes
the daemon reads from and writes to the pty (``time.perf_counter`` in the tap, called by the
transport the moment it read or wrote them). For each alarm, the latency is from the last chunk
of the inventory response that carried the tag (checked: a [0xB0] response holding the tag's
UID) to the first [0x71] (set output) frame written after it. It includes the driver's decoding,
the supervisor's cache lookup, the gate's decision and the task hop to the output command. It
does not include the kernel's pty transfer (microseconds) nor the reader's own time.

Three walks, each with fresh items: (1) the outbox idle, (2) the outbox draining: the
budgeted figure, reported with (1) for P5's "moves by <= 20%", (3) draining with FEIG's PSST
kept. FEIG's host protocol forbids the host to send within 5 ms of the reader's last byte (PSST,
reader_protocols.md §5.10) and the driver keeps that gap, so on the wire no implementation can
beat 5 ms on a FEIG reader: walks (1) and (2) set the gap to 0 in this process (the daemon's
own share, what the 3 ms budget is for), walk (3) is what a FEIG gate does on the wire.

Where the time went (dev machine, 1M items): median ~0.65 ms. ~0.19 ms from the last byte to
the supervisor (one loop turn, FEIG decode), ~0.15 ms for the UID lookup (a tag_uids + items
join; the gate takes the item it joined instead of asking the cache again), ~0.05 ms for the
gate's decision, ~0.09 ms for the task hop to the output command and ~0.14 ms to build and
write it.

The tail, 2026-12-05, found by timing each stage and every event-loop callback of the slow
passages (a wrapper around ``asyncio.Handle._run``) and per-thread rusage around the lookup:

- outbox idle, p99 2.2-3.1 ms: the slow lookups had 1-2 major page faults each. The readers
  mapped the cache file; a lookup of an item not seen for a while faulted its pages in. Read
  through ``pread`` instead (``READER_MMAP_BYTES = 0``): idle p99 1.2-1.3 ms.
- draining, p99 3.3-4.2 ms: inside the lookup the loop thread waited for the GIL (sqlite3
  releases it at every step) behind paho's network thread, which took it for every PUBACK and
  woke for every publish. paho now runs on the event loop (``sync.mqtt_client``). That moved
  the wait into the loop: the outbox publisher, resuming after a burst of PUBACKs, published a
  whole window of 100 in one task step (~5 ms); it now yields every 8 publishes.
- the writer thread's statements per recorded event: the outbox seq (schema v5) first took
  four statements per event (newest row and sync_state, twice); one statement now. Draining
  p99 the same day: 1.74 ms before the v5 outbox, 3.21 / 2.32 / 2.25 ms with four
  statements, 1.40 / 1.39 ms with one (and draining then moves the idle p99 by 16-18 %).
- left, in the slowest passages: the store writer's thread still takes the GIL during the
  lookup (the load records 1,000 events/s through it), and paho reads a burst of up to 100
  PUBACKs in one loop callback (1-3 ms). Preemption on 2 cores shows now and then (a lookup
  with 3 involuntary switches). Not tried again: real-time scheduling, smaller switch
  intervals (0.1 ms was worse than 0.5 ms in one run with paho on the loop, before the
  publisher yielded and with the cache mapped: 3.7 vs 2.8 ms).
- 2026-12-05, five single runs (d265ec8 and four later commits; the second, 469f3b4, changes
  nothing on the gate's path): draining p99 1.24, 3.16, 2.41, 2.45, 2.10 ms (idle 1.15-1.50).
  The 4-7 ms stalls that set the draining p99 vary far more between runs than the two runs
  above showed: one run says little; the budget is not reliably met (README).
- 2026-12-05 (later), the stalls probed, draining walks only (a gc callback and a wrapper
  timing every loop callback over 0.3 ms; p99 5.15 and 2.25 ms in two runs):
  - not the garbage collector: no slow passage overlapped a collection. Draining runs
    ~750 gen0, ~70 gen1 and 6 gen2 collections per walk; the gen2 ones take 23-31 ms and
    would make a max, not the p99 (they cover ~0.1 % of the walk). ``gc.freeze()`` was not
    tried: the bench process tracks only ~43,000 objects at the start.
  - not the 1,000 events/s the writer records: a walk draining a large backlog with no
    events recorded during it (``--quick``, 30 passages) had a 3.84 ms max too.
  - seen in the slow passages: the decision's own task step taking 2 ms (0.7 ms usually:
    the loop thread waiting for the GIL inside the lookup), and before it long loop callbacks
    of paho: ``loop_read`` 1-3 ms (a burst of PUBACKs: paho reads every packet it expects in
    one call, a few one-byte ``recv`` each) and ``loop_write`` up to 7 ms (every queued
    PUBLISH written in one call). paho's public API bounds neither (``loop_read`` ignores
    ``max_packets`` in 2.x); bounding them means driving paho's private packet functions or
    a smaller in-flight window, which the outbox drain's margin (3,700/s against 3,000/s)
    does not allow. Left there.

- 2026-12-06, walks paired in one process (an ad-hoc script alternating configurations on
  one 1M-item store, 300 passages each, the broker at ``max_inflight_messages 100``): paho's
  own in-flight window, which scans every unacknowledged message at each PUBACK (~9 us at
  100), against the client's own (``sync.mqtt_client``, now): draining p99 4.27, 2.92, 3.77,
  4.57 ms against 3.07, 2.40, 3.67, 3.04 ms. A window of 32 with peeks of 64 on top: 3.13 and
  2.80 ms, no clearer gain, not kept. ``python -m bench.gate`` the same day: draining p99
  4.22 ms, idle 2.34 ms (idle 1.15-1.50 ms the day before: the machine was noisier).

Earlier changes that moved it: the [0x71] payload built once instead of by construct per
alarm, the command timeout computed from the body the driver holds instead of parsing the
request back (0.26 -> 0.09 ms to the write); one loop turn fewer per received chunk; and the
daemon's GIL switch interval of 0.5 ms (``edge_service.daemon``, applied here too).

Last run (dev machine, 300 passages a walk, ``python -m bench.gate``, 2026-12-05): (1) idle
p99 1.20 ms, median 0.65 ms; (2) draining p99 1.39 ms, median 0.85 ms, max 1.50 ms; (3) on
the wire with PSST p99 6.9 ms, median 5.46 ms. Draining p99 over the two runs of this code:
1.40, 1.39 ms (the previous session's code: 1.70, 1.84, 2.67, 1.82 and today 1.74 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Result
from edge_service.config import (
    GateConfig,
    LibraryConfig,
    MqttConfig,
    NodeConfig,
    ReaderConfig,
    StorageConfig,
)
from edge_service.daemon import latency_switch_interval
from edge_service.devices import DeviceSupervisor
from edge_service.health import Liveness
from edge_service.store import ItemRecord, Store, StoreConfig, WriteConnection, write_tag_seen
from edge_service.sync import MqttSync, record_event
from edge_service.workflows import LiveEvents
from edge_service.workflows.gate import GateMonitor, gate_inventory_afi
from firmware_bridge import SECURITY_PRESETS, Direction
from protocols.contract import GateCountData
from protocols.iso28560 import LibraryTag, TagModel, encode_tag
from protocols.readers import feig
from tests.sync.broker import Mosquitto

BUDGET_MS = 3.0
OWNER = "DK-718500"
NODE = NodeConfig(tenant="DK-718500", site="DK-718501", node="bench-gate", mode="gate")
ITEMS = 1_000_000
QUICK_ITEMS = 100_000
PASSAGES = 300
"""Alarms per walk: the p99 of 300 is the 3rd-worst, of 150 it was the 2nd-worst alone."""
QUICK_PASSAGES = 30
PAGE_ITEMS = 1000
TAG_BATCH = 50_000
FIRST_PASSAGE_S = 4.0
"""Scenario time of the first passage: the supervisor has connected by then."""
SPACING_S = 0.4
DWELL_S = 0.25
"""A walker's tag is in a gate's field for 0.2-0.4 s (reliability_perf.md 5.4): two or three
inventories at the gate's 100 ms period."""
BACKLOG_EVENTS = 20_000
LOAD_EVENTS_S = 1000
LOAD_BATCH = 50
SET_OUTPUT = 0x71
INVENTORY = 0xB0
SCHEME = SECURITY_PRESETS["iso"]


def item_id(number: int) -> str:
    return f"{number:012d}"


def uid_text(number: int) -> str:
    return f"E0040100{number:08X}"


def pages(count: int) -> Iterator[list[ItemRecord]]:
    for start in range(0, count, PAGE_ITEMS):
        yield [ItemRecord(owner_institution=OWNER, primary_item_id=item_id(n),
                          circulation_status="03", security_expected=True, catalog_version="1",
                          title=f"A title of item {n}, volume 2", media="book")
               for n in range(start, min(start + PAGE_ITEMS, count))]


async def build_store(path: Path, items: int) -> float:
    """The cache (bootstrap fast path) and one tag observation per item; seconds taken."""
    start = time.perf_counter()
    async with await Store.open(StoreConfig(path)) as store:
        await store.cache.bootstrap(pages(items), snapshot_seq=1)
        now = datetime.now(UTC)
        for first in range(0, items, TAG_BATCH):
            def seen(conn: WriteConnection, first: int = first) -> None:
                for n in range(first, min(first + TAG_BATCH, items)):
                    write_tag_seen(conn, uid_text(n), OWNER, item_id(n), afi=0x07, eas=None,
                                   now=now)

            await store.writer.submit(seen, commit_now=True)
    return time.perf_counter() - start


def scenario(numbers: list[int]) -> dict[str, object]:
    """Secured items walking through the gate one after another."""
    events: list[dict[str, object]] = []
    for index, number in enumerate(numbers):
        image = encode_tag(LibraryTag(TagModel.PART2, primary_item_id=item_id(number),
                                      owner_institution=OWNER, type_of_usage=0x10),
                           size=112).image
        assert image is not None
        at = FIRST_PASSAGE_S + index * SPACING_S
        events.append({"at": at, "add": {"uid": uid_text(number), "afi": "07",
                                         "memory": image.memory.hex(), "type": "slix"}})
        events.append({"at": at + DWELL_S, "remove": uid_text(number)})
    return {"description": "bench: secured items through a gate", "events": events}


@dataclass(slots=True)
class WireLog:
    """Every chunk the daemon read or wrote, with its time: the wire tap."""

    chunks: list[tuple[float, Direction, bytes]] = field(default_factory=list)

    def __call__(self, direction: Direction, data: bytes) -> None:
        self.chunks.append((time.perf_counter(), direction, bytes(data)))

    def alarm_latencies(self, uids: dict[bytes, int]) -> tuple[list[float], int]:
        """Seconds from each inventory response's last chunk to the first [0x71] written after
        it, for responses carrying one of ``uids``; and how many [0x71] had no such response."""
        latencies: list[float] = []
        unmatched = 0
        response = bytearray()
        last_rx = 0.0
        previous_tx = -1
        for at, direction, data in self.chunks:
            if direction is Direction.RX:
                response += data
                last_rx = at
                continue
            command = data[2] if len(data) > 2 else -1
            if command == SET_OUTPUT and previous_tx != SET_OUTPUT:
                if (len(response) > 2 and response[2] == INVENTORY
                        and any(uid in response for uid in uids)):
                    latencies.append(at - last_rx)
                else:
                    unmatched += 1
            previous_tx = command
            response.clear()
        return latencies, unmatched


async def _simulator(directory: Path, numbers: list[int]) -> tuple[subprocess.Popen[str], str]:
    path = directory / "scenario.json"
    path.write_text(json.dumps(scenario(numbers)))
    link = directory / "sim-gate"
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_service", "sim", "reader", "--protocol", "feig",
         "--scenario", str(path), "--link", str(link)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = await asyncio.to_thread(process.stdout.readline)
    if not line.startswith("pty: "):
        process.kill()
        raise RuntimeError("the gate reader simulator did not start")
    return process, str(link)


@contextlib.asynccontextmanager
async def _outbox_load(store: Store, *, drain: bool) -> AsyncIterator[None]:
    """A backlog, then events recorded through the writer at ``LOAD_EVENTS_S``, as busy
    workflows would (nothing when not ``drain``)."""
    if not drain:
        yield
        return
    data = GateCountData(gate="gate-2", entered=1, left=0, start="2026-10-01T10:00:00.000Z",
                         end="2026-10-01T10:05:00.000Z")

    def batch(conn: WriteConnection, count: int) -> None:
        now = datetime.now(UTC)
        for _ in range(count):
            record_event(conn, store.outbox, NODE, "gate.count", "lib.gate.count.v1", data,
                         now=now, rand=os.urandom(10))

    committing: set[asyncio.Future[None]] = set()

    async def feed() -> None:
        while True:  # paced by the clock, not by the commits (nobody waits on them)
            future = asyncio.ensure_future(store.writer.submit(
                lambda conn: batch(conn, LOAD_BATCH)))
            committing.add(future)
            future.add_done_callback(committing.discard)
            await asyncio.sleep(LOAD_BATCH / LOAD_EVENTS_S)

    await store.writer.submit(lambda conn: batch(conn, BACKLOG_EVENTS), commit_now=True)
    task = asyncio.create_task(feed())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.gather(*committing)


@dataclass(frozen=True, slots=True)
class Run:
    latencies_s: list[float]
    alarms: int
    unmatched: int
    published: int

    def p99_ms(self) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def measure(directory: Path, db: Path, broker_port: int, numbers: list[int], *,
                  drain: bool) -> Run:
    """One walk of ``numbers`` through the gate; latencies from the wire tap."""
    simulator, port = await _simulator(directory, numbers)
    storage = StorageConfig()
    tap = WireLog()
    try:
        async with await Store.open(StoreConfig(
                db, max_delay_s=storage.commit_window_ms / 1000,
                max_batch=storage.commit_max_batch)) as store:
            sync = MqttSync(NODE, MqttConfig(enabled=True, host="127.0.0.1", port=broker_port),
                            store, software_version="bench")
            async with _outbox_load(store, drain=drain):
                await sync.start()
                reader = ReaderConfig(name="gate", protocol="feig", port=port, role="gate")
                supervisor = DeviceSupervisor(reader, store, Liveness(30.0),
                                              driver_options={"wire_tap": tap},
                                              inventory_afi=gate_inventory_afi(SCHEME))
                monitor = GateMonitor(supervisor, store=store, node=NODE,
                                      library=LibraryConfig(isil=OWNER), gate=GateConfig(),
                                      scheme=SCHEME, live=LiveEvents(),
                                      wake_outbox=sync.wake_outbox)
                supervisor.start()
                monitor.start()
                published = 0
                try:
                    await asyncio.sleep(FIRST_PASSAGE_S + len(numbers) * SPACING_S + 1.0)
                    assert sync.publisher is not None
                    published = sync.publisher.counters.acknowledged
                finally:
                    await monitor.stop()
                    await supervisor.stop()
                    await sync.stop()
                alarms = monitor.counters["alarms"]
    finally:
        simulator.terminate()
        await asyncio.to_thread(simulator.wait, 10)
        if simulator.stdout is not None:
            simulator.stdout.close()
    uids = {bytes.fromhex(uid_text(n)): n for n in numbers}
    latencies, unmatched = tap.alarm_latencies(uids)
    return Run(latencies, alarms, unmatched, published)


@dataclass(frozen=True, slots=True)
class Runs:
    build_s: float
    idle: Run
    """PSST off, outbox idle: the baseline."""
    draining: Run
    """PSST off, outbox draining: the budgeted figure."""
    wire: Run
    """PSST kept, outbox draining: what a FEIG gate does on the wire."""


async def _run_all(directory: Path, items: int, passages: int) -> Runs:
    db = directory / "gate.sqlite"
    build_s = await build_store(db, items)
    rng = random.Random(6)
    walks = [rng.sample(range(items), passages) for _ in range(3)]
    broker = Mosquitto(directory, extra="max_inflight_messages 100")   # as docs/mqtt advise
    broker.start()
    try:
        psst = feig.PSST_S
        feig.PSST_S = 0.0  # read when a driver is built: this process's drivers only
        try:
            # Idle first: a backlog left by a draining run would drain during it.
            idle = await measure(directory, db, broker.port, walks[0], drain=False)
            draining = await measure(directory, db, broker.port, walks[1], drain=True)
        finally:
            feig.PSST_S = psst
        wire = await measure(directory, db, broker.port, walks[2], drain=True)
    finally:
        broker.stop()
    return Runs(build_s, idle, draining, wire)


def _result(run_: Run, *, name: str, budget: str, ok: bool | None, note: str,
            context: str) -> Result:
    measured = len(run_.latencies_s)
    if not measured:
        return Result(name=name, value=0, unit="us", budget=budget, ok=False,
                      comparison=f"no alarm measured; {context}")
    ordered = sorted(run_.latencies_s)
    median_ms, max_ms = statistics.median(ordered) * 1000, ordered[-1] * 1000
    unmatched = (f"; {run_.unmatched} alarm commands without a matching response"
                 if run_.unmatched else "")
    return Result(
        name=name, value=run_.p99_ms() * 1000, unit="us", budget=budget,
        ok=ok if run_.unmatched == 0 else False,
        comparison=f"{note}; median {median_ms:.2f} ms, max {max_ms:.2f} ms; {context}; "
                   f"{run_.alarms} alarms, {measured} measured, {run_.published:,} events "
                   f"published to mosquitto during the run{unmatched}")


def run(*, quick: bool = False) -> list[Result]:
    items = QUICK_ITEMS if quick else ITEMS
    passages = QUICK_PASSAGES if quick else PASSAGES
    # The GIL switch interval as the daemon runs (edge_service.daemon).
    with tempfile.TemporaryDirectory(prefix="libedge-bench-gate-") as tmp, \
            latency_switch_interval():
        runs = asyncio.run(_run_all(Path(tmp), items, passages))
    context = (f"{items:,} items + {items:,} tag UIDs cached (built in {runs.build_s:.0f} s), "
               f"{passages} passages")
    idle_p99 = runs.idle.p99_ms()
    draining = runs.draining.p99_ms()
    idle_median = statistics.median(runs.idle.latencies_s) * 1000 if runs.idle.latencies_s else 0
    return [
        _result(runs.draining, name="gate: last response byte -> alarm command written, p99, "
                "outbox draining (PSST gap off: the daemon's share)",
                budget=f"<= {BUDGET_MS:g} ms", ok=draining <= BUDGET_MS,
                note=f"outbox idle: p99 {idle_p99:.2f} ms, median {idle_median:.2f} ms "
                f"({runs.idle.alarms} alarms); draining moves the p99 by "
                f"{draining / idle_p99 - 1:+.0%} (P5 allows +20%)", context=context),
        _result(runs.wire, name="gate: last response byte -> alarm command written, p99, "
                "outbox draining (FEIG, PSST gap kept)", budget="floor 5 ms (PSST)", ok=None,
                note="includes the 5 ms quiet time the FEIG protocol requires before a host "
                "frame", context=context),
    ]


if __name__ == "__main__":
    for result in run(quick="--quick" in sys.argv):
        print(result)
