# SPDX-License-Identifier: Apache-2.0
"""Catalog gateway throughput and added latency, end to end through a real Mosquitto and SIP2.

One run: the ILS simulator (latency 0) on TCP, a Mosquitto on a free port, one gateway
instance with a SIP2 pool, and an edge's MqttBackend. Measured:

- requests/s: item-information requests, ``CONCURRENCY`` in flight, edge -> broker -> gateway
  -> SIP2 -> simulator -> back;
- p50/p99 of one request at a time through the gateway, and of the same SIP2 call made
  directly on a Sip2Client in the same run; the difference is what the gateway adds (two
  broker hops, JSON, the dedupe claim and reply in SQLite).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Result
from edge_service.circulation import ItemKey, Sip2Backend
from edge_service.gateway import running
from edge_service.ils import IlsSimulator, Sip2Client, load_simulator_data
from tests.gateway.broker import mosquitto
from tests.gateway.helpers import OWNER
from tests.gateway.test_end_to_end import edge, service, until_answered
from tests.ils.helpers import SAMPLE, profile_for

CONCURRENCY = 32
ADDED_P50_BUDGET_MS = 10.0
ITEM = "5012345601"


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(quick: bool) -> list[Result]:
    rounds = 200 if quick else 2000
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp)) as port:
        async with IlsSimulator(load_simulator_data(SAMPLE)) as sim:
            settings = service(port, sim.port, Path(tmp) / "gw.db", "bench")
            settings = type(settings)(**{**settings.__dict__, "pool_size": 4})
            async with running(settings), edge(port) as backend:
                await until_answered(backend)
                key = ItemKey(OWNER, ITEM)
                via: list[float] = []
                for _ in range(rounds // 4):
                    start = time.perf_counter()
                    await backend.item_info(key)
                    via.append((time.perf_counter() - start) * 1000)
                slots = asyncio.Semaphore(CONCURRENCY)

                async def one() -> None:
                    async with slots:
                        await backend.item_info(key)
                start = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(rounds)))
                rate = rounds / (time.perf_counter() - start)
            async with Sip2Client(profile_for(sim)) as client:
                direct_backend = Sip2Backend(client)
                direct: list[float] = []
                for _ in range(rounds // 4):
                    start = time.perf_counter()
                    await direct_backend.item_info(ItemKey(OWNER, ITEM))
                    direct.append((time.perf_counter() - start) * 1000)
    added_p50 = statistics.median(via) - statistics.median(direct)
    return [
        Result("gateway throughput (item info, mosquitto + SIP2, 1 instance)", rate, "req/s",
               comparison=f"{CONCURRENCY} in flight, simulator latency 0"),
        Result("gateway request p50", statistics.median(via) * 1000, "us",
               comparison=f"direct SIP2 p50 {statistics.median(direct) * 1000:,.0f} us"),
        Result("gateway request p99", _percentile(via, 0.99) * 1000, "us",
               comparison=f"direct SIP2 p99 {_percentile(direct, 0.99) * 1000:,.0f} us"),
        Result("gateway added latency p50", added_p50 * 1000, "us",
               budget=f"< {ADDED_P50_BUDGET_MS:.0f} ms", ok=added_p50 < ADDED_P50_BUDGET_MS),
    ]


def run(*, quick: bool = False) -> list[Result]:
    return asyncio.run(_measure(quick))
