# SPDX-License-Identifier: Apache-2.0
"""SIP2 throughput: checkout/checkin round trips through the client against the simulator
(latency 0, 127.0.0.1), and the codec's encode/decode rate.

What the figures mean: a self-check kiosk does one checkout per item placed on the pad, a few
per second at most; a central gateway multiplexes many kiosks over a pool. The round-trip
figure is the client + codec + simulator + loopback TCP cost, i.e. the overhead LibEdge adds
on top of the ILS's own processing time (typically tens of ms for Koha/FOLIO).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from bench.common import Result, rate_per_second
from edge_service.ils import IlsSimulator, Sip2Client, Sip2Profile, load_simulator_data
from protocols.sip2 import CheckoutResponse, SipDate, decode, encode

SAMPLE = Path(__file__).parents[1] / "edge_service" / "ils" / "sample_catalog.json"
ITEMS = ("5012345601", "5012345602", "5012345603", "5012345604", "5012345605")
PATRON = "2000000001"
KIOSK_BUDGET_PER_S = 100  # >= 100 checkouts/s: far above any pad, leaves room for a gateway pool
NOW = datetime(2024, 5, 1, 10, 30, 0)  # noqa: DTZ001


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _round_trips(count: int) -> tuple[float, list[float]]:
    data = load_simulator_data(SAMPLE)
    async with IlsSimulator(data, clock=lambda: NOW) as sim:
        profile = Sip2Profile(port=sim.port, login_user="kiosk1", login_password="kiosk1-secret",
                              institution_id=data.institution_id, heartbeat_s=0)
        async with Sip2Client(profile, clock=lambda: NOW) as client:
            latencies: list[float] = []
            start = time.perf_counter()
            for n in range(count):
                item = ITEMS[n % len(ITEMS)]
                t0 = time.perf_counter()
                out = await client.checkout(item, PATRON)
                t1 = time.perf_counter()
                back = await client.checkin(item)
                t2 = time.perf_counter()
                if not (out.ok and back.ok):
                    raise RuntimeError("benchmark data must allow the loans")
                latencies += [t1 - t0, t2 - t1]
            elapsed = time.perf_counter() - start
    return 2 * count / elapsed, latencies


def run(*, quick: bool = False) -> list[Result]:
    count = 200 if quick else 2000
    rate, latencies = asyncio.run(_round_trips(count))
    us_per_s = 1_000_000
    p50, p99 = _percentile(latencies, 0.50) * us_per_s, _percentile(latencies, 0.99) * us_per_s
    reply = CheckoutResponse(
        ok=True, renewal_ok=False, magnetic_media=False, desensitize=True,
        transaction_date=SipDate(NOW), institution_id="DK-718500", patron_identifier=PATRON,
        item_identifier=ITEMS[0], title_identifier="Søren Kierkegaard: Enten - Eller",
        due_date="20240529    103000", media_type="001", screen_message=("Thank you",))
    wire = encode(reply, sequence=3)
    seconds = 0.2 if quick else 1.0
    encode_rate = rate_per_second(lambda: encode(reply, sequence=3), seconds=seconds)
    decode_rate = rate_per_second(lambda: decode(wire), seconds=seconds)
    return [
        Result("SIP2 checkout+checkin via client/simulator", rate, "req/s",
               budget=f">= {KIOSK_BUDGET_PER_S}/s", ok=rate >= KIOSK_BUDGET_PER_S,
               comparison="127.0.0.1, one session, latency 0"),
        Result("SIP2 round trip p50", p50, "us", comparison="checkout/checkin"),
        Result("SIP2 round trip p99", p99, "us", comparison="checkout/checkin"),
        Result("SIP2 encode 12 Checkout Response", encode_rate, "/s"),
        Result("SIP2 decode 12 Checkout Response", decode_rate, "/s",
               comparison=f"{len(wire)} bytes, AY/AZ checked"),
    ]
