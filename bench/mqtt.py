# SPDX-License-Identifier: Apache-2.0
"""Outbox drain to a local mosquitto after an outage (issue budget >= 3,000 events/s).

50,000 events (quick: 5,000) are recorded through ``record_event`` (state change + event, one
writer transaction each, as workflows do) while no broker runs; then mosquitto starts and
``MqttSync``'s outbox publisher drains them: QoS 1, in order, deleted after their PUBACKs in
batches of ``DELETE_BATCH``. Measured: from the first connect until every event is
acknowledged (the last batch's DELETE may still be on its way; the outbox is checked empty
once the link is stopped). Peer, same run, same broker, same
payloads: raw paho publishing QoS 1 with the same in-flight window, no outbox (a lower bound
on what any durable drain can cost on this machine); the ratio is reported.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench.common import Result
from edge_service.config import MqttConfig, NodeConfig, StorageConfig
from edge_service.store import Store, StoreConfig, WriteConnection
from edge_service.sync import MqttSync, record_event
from edge_service.sync.outbox_publisher import WINDOW
from protocols.contract import GateCountData
from tests.sync.broker import MOSQUITTO, free_port

EVENTS = 50_000
QUICK_EVENTS = 5_000
BUDGET_EVENTS_S = 3_000
RECORD_BATCH = 500
NODE = NodeConfig(tenant="DK-718500", site="DK-718501", node="bench-1", mode="gate")


def start_broker(directory: Path, port: int) -> subprocess.Popen[bytes]:
    conf = directory / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    f"user {getpass.getuser()}\nmax_inflight_messages {WINDOW}\n")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            if time.monotonic() > deadline:
                broker.kill()
                raise
            time.sleep(0.01)
        else:
            return broker


def stop_broker(broker: subprocess.Popen[bytes]) -> None:
    broker.send_signal(signal.SIGTERM)
    broker.wait(10)


async def _fill(store: Store, count: int) -> None:
    data = GateCountData(gate="gate-1", entered=3, left=1, start="2026-10-01T10:00:00.000Z",
                         end="2026-10-01T10:05:00.000Z")
    for start in range(0, count, RECORD_BATCH):
        now = datetime.now(UTC)

        def batch(conn: WriteConnection, n: int = min(RECORD_BATCH, count - start),
                  now: datetime = now) -> None:
            for _ in range(n):
                record_event(conn, store.outbox, NODE, "gate.count", "lib.gate.count.v1",
                             data, now=now, rand=os.urandom(10))

        await store.writer.submit(batch, commit_now=True)


async def _drain(directory: Path, port: int, count: int) -> tuple[float, list[tuple[str, bytes]]]:
    storage = StorageConfig()   # the daemon's defaults: its commit window bounds DELETEs
    config = StoreConfig(directory / "edge.db", max_delay_s=storage.commit_window_ms / 1000,
                         max_batch=storage.commit_max_batch)
    async with await Store.open(config) as store:
        await _fill(store, count)
        payloads = [(e.topic, e.payload) for e in store.outbox.peek(min(count, 10_000))]
        sync = MqttSync(NODE, MqttConfig(enabled=True, host="127.0.0.1", port=port), store,
                        software_version="bench", backoff_base_s=0.05, backoff_cap_s=0.2)
        await sync.start()   # the broker is still down: the outage
        broker = await asyncio.to_thread(start_broker, directory, port)
        try:
            assert sync.client is not None
            assert sync.publisher is not None
            await sync.client.wait_connected()
            start = time.perf_counter()
            await sync.publisher.wait_idle()   # every event acknowledged
            elapsed = time.perf_counter() - start
            await sync.stop()                  # the deferred DELETEs done
            assert store.outbox.count() == 0
        finally:
            stop_broker(broker)
    return elapsed, payloads


def _raw_paho(port: int, payloads: list[tuple[str, bytes]], count: int) -> float:
    done = threading.Event()
    acked = 0

    def on_publish(*_args: object) -> None:
        nonlocal acked
        acked += 1
        if acked == count:
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw",
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.max_inflight_messages_set(WINDOW)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.perf_counter()
    for index in range(count):
        topic, payload = payloads[index % len(payloads)]
        client.publish(topic, payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return elapsed


def run(*, quick: bool = False) -> list[Result]:
    count = QUICK_EVENTS if quick else EVENTS
    with tempfile.TemporaryDirectory(prefix="libedge-bench-mqtt-") as tmp:
        directory = Path(tmp)
        port = free_port()
        elapsed, payloads = asyncio.run(_drain(directory, port, count))
        broker = start_broker(directory, port)
        try:
            raw = _raw_paho(port, payloads, count)
        finally:
            stop_broker(broker)
    rate, raw_rate = count / elapsed, count / raw
    return [Result(
        name=(f"outbox drain after an outage ({count:,} events, QoS 1, deleted after PUBACK "
              "in batches)"),
        value=rate, unit="events/s", budget=f">= {BUDGET_EVENTS_S:,}/s",
        ok=rate >= BUDGET_EVENTS_S,
        comparison=f"raw paho QoS 1, no outbox: {raw_rate:,.0f}/s (outbox at "
                   f"{rate / raw_rate:.0%} of it)")]


if __name__ == "__main__":
    for result in run():
        print(result)
