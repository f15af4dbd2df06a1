# SPDX-License-Identifier: Apache-2.0
"""Item downlink against a real broker, the test playing central: bootstrap from snapshot
pages, duplicates and out-of-order deltas, gaps healed by resync, newer versions only; and
hostile payloads rejected, reported as events, the cache unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

from edge_service.config import MqttConfig
from edge_service.store import Store, StoreConfig
from edge_service.sync import MqttSync, PublishProperties
from protocols.contract import (
    ContractRejectedData,
    command_topic,
    event_data,
    event_topic,
    items_delta_topic,
    request_topic,
    twin_desired_topic,
)
from tests.sync.broker import Mosquitto
from tests.sync.central import OWNER, Central, item, until
from tests.sync.conftest import NODE
from tests.sync.helpers import FAST_BACKOFF, Collector, client

REQ = request_topic(NODE.tenant, NODE.site, NODE.node, "sync.items")
DELTA = items_delta_topic(NODE.tenant, NODE.site)
CONTRACT_EVENTS = event_topic(NODE.tenant, NODE.site, NODE.node, "contract")


@contextlib.asynccontextmanager
async def node_and_central(tmp_path: Path, broker: Mosquitto, mqtt: MqttConfig
                           ) -> AsyncIterator[tuple[MqttSync, Store, Central, Collector]]:
    async with await Store.open(StoreConfig(tmp_path / "edge.db", max_delay_s=0.005)) as store, \
            client(broker.port, "central", REQ, CONTRACT_EVENTS) as (central_client, seen):
        central = Central(central_client, seen)
        # Central reads the node's sync.items requests.
        serving = asyncio.create_task(central.serve())
        sync = MqttSync(NODE, mqtt, store, software_version="t", resync_timeout_s=2.0,
                        **FAST_BACKOFF)
        try:
            yield sync, store, central, seen
        finally:
            await sync.stop()
            serving.cancel()
            await asyncio.wait([serving])


def cache_rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT owner_institution, primary_item_id, circulation_status, "
                            "catalog_version FROM items ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


async def test_bootstrap_duplicates_gaps_and_out_of_order_deltas_heal(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    async with node_and_central(tmp_path, broker, mqtt_config) as (sync, store, central, _):
        for number in range(10):        # history before the node existed: seq 1..5
            central.add(item(number, 1)) if number < 5 else None
        central.add(*(item(n, 2) for n in range(5, 10)))
        await sync.start()
        assert sync.downlink is not None
        await until(lambda: sync.downlink.last_applied == 6)   # type: ignore[union-attr]
        assert store.cache.count() == 10
        assert central.requests == 1

        seven = central.add(item(1, 3, "04"))
        await central.send(seven)
        await central.send(seven)                    # QoS 1 redelivery: duplicate
        await central.send(central.history[2])       # older than the snapshot: duplicate
        await until(lambda: sync.downlink.last_applied == 7)   # type: ignore[union-attr]
        central.add(item(2, 3, "04"))                # seq 8 is lost on the way ...
        await central.send(central.add(item(3, 3, "04")))       # ... 9 shows the gap
        await until(lambda: central.requests == 2 and sync.downlink.last_applied == 9)  # type: ignore[union-attr]

        ten, eleven = central.add(item(4, 3, "12")), central.add(item(4, 2, "03"))
        await central.send(eleven)                   # out of order: 11 before 10
        await central.send(ten)
        await until(lambda: sync.downlink.last_applied == 11)  # type: ignore[union-attr]
        await until(lambda: not sync.downlink.resyncing)        # type: ignore[union-attr]

        expected = sorted((OWNER, r.primary_item_id, r.circulation_status, str(r.version))
                          for r in central.state().values())
        assert (OWNER, "item-4", "12", "3") in expected   # delta 11 carried an older version
        assert cache_rows(tmp_path / "edge.db") == expected
        assert store.cache.last_delta_seq() == 11
        assert sync.downlink.counters.gaps >= 2
        assert sync.downlink.counters.deltas_duplicate >= 2


async def test_hostile_payloads_are_rejected_reported_and_change_nothing(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    async with node_and_central(tmp_path, broker, mqtt_config) as (sync, store, central, seen):
        central.add(item(1, 1), item(2, 1))
        await sync.start()
        await until(lambda: sync.downlink is not None and sync.downlink.last_applied == 1)
        before = cache_rows(tmp_path / "edge.db")
        cmd = command_topic(NODE.tenant, NODE.site, NODE.node, "reboot")
        bad = [
            (DELTA, b"\xff not json"),
            (DELTA, b'{"seq": "2", "items": []}'),
            (DELTA, (b'{"seq": 2, "items": [{"primary_item_id": "x", "owner_institution": "A",'
                     b' "version": 2, "circulation_status": "99", "security_expected": true}]}')),
            (DELTA, b'{"seq": 2, "items": [], "pad": "' + b"x" * 70_000 + b'"}'),
            (DELTA, b'{"seq": 2, "seq": 3, "items": []}'),
            (DELTA, b'{"seq": 2, "items": [{"patron": "1234567890"}]}'),
            (DELTA[: -len("delta")] + "snapshot/007", b'{"snapshot_id": "s"}'),
            (cmd[: -len("reboot")] + "Reboot", b'{"name": "reboot", "args": {}}'),
            (cmd, b'{"name": "reboot", "args": {}}'),            # no corr, no expiry
            (twin_desired_topic(NODE.tenant, NODE.site, NODE.node), b'{"version": "7"}'),
        ]
        assert central.client is not None
        for topic, payload in bad:
            await central.client.publish(topic, payload)
        await seen.wait_for(lambda: len(seen.events) >= len(bad))
        reasons = [event_data(e) for e in seen.events]
        assert all(isinstance(r, ContractRejectedData) for r in reasons)
        assert [r.topic for r in reasons] == [t for t, _ in bad]
        assert "1234567890" not in str([r.reason for r in reasons])   # quoted values masked
        assert cache_rows(tmp_path / "edge.db") == before
        assert store.cache.last_delta_seq() == 1

        # Unknown fields are ignored (a newer minor version may add some): applied.
        await central.client.publish(DELTA, b'{"seq": 2, "items": [], "hint": "new field"}')
        await until(lambda: store.cache.last_delta_seq() == 2)
        assert sync.connected



async def test_a_delta_beyond_every_snapshot_is_dropped_after_few_requests(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    """A delta far ahead of central's own snapshots (its sequence went back, or a stray
    publisher): the node asks a bounded number of times, drops and reports the delta, and
    follows central again; it never asks in a loop."""
    async with node_and_central(tmp_path, broker, mqtt_config) as (sync, store, central, seen):
        for number in range(5):
            central.add(item(number, 1))                       # seq 1..5
        await sync.start()
        await until(lambda: sync.downlink is not None and sync.downlink.last_applied == 5)
        assert sync.downlink is not None
        assert central.client is not None

        await central.client.publish(DELTA, b'{"seq": 20, "items": []}')
        await seen.wait_for(lambda: len(seen.events) >= 1)
        await until(lambda: not sync.downlink.resyncing)   # type: ignore[union-attr]
        assert central.requests == 2      # the bootstrap, then one snapshot judged the delta

        # A stray delta that arrives after the request might follow a lost delta: the node
        # asks once more, after a pause, and drops it when that snapshot does not place it.
        snapshot = central.snapshot
        strays = [b'{"seq": 30, "items": []}']

        async def stray_then_snapshot() -> None:
            if strays:
                await central.client.publish(DELTA, strays.pop())  # type: ignore[union-attr]
            await snapshot()

        central.snapshot = stray_then_snapshot   # type: ignore[method-assign]
        await central.client.publish(DELTA, b'{"seq": 25, "items": []}')
        await seen.wait_for(lambda: len(seen.events) >= 3, timeout=30)
        await until(lambda: not sync.downlink.resyncing, timeout=30)   # type: ignore[union-attr]
        await asyncio.sleep(0.5)
        assert central.requests == 4
        assert sync.downlink.counters.deltas_dropped == 3
        rejected = [event_data(e) for e in seen.events]
        assert all(isinstance(r, ContractRejectedData) and r.topic == DELTA and r.field == "seq"
                   for r in rejected)
        assert "delta 20 cannot follow the snapshot at seq 5" in str(rejected[0])

        await central.send(central.add(item(0, 2, "04")))    # seq 6: in step again
        await until(lambda: sync.downlink.last_applied == 6)   # type: ignore[union-attr]
        assert store.cache.last_delta_seq() == 6
        assert central.requests == 4


async def test_a_central_whose_sequence_went_back_is_followed(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    """Central restored from an older database: asked to resync, the node takes the lower
    seq of its snapshot and applies the deltas after it, also after the store is reopened."""
    async with node_and_central(tmp_path, broker, mqtt_config) as (sync, store, central, _):
        for number in range(20):
            central.add(item(number, 1))                       # seq 1..20
        await sync.start()
        await until(lambda: store.cache.last_delta_seq() == 20)
        del central.history[5:]                                # restored: seq 5 again
        assert central.client is not None
        await central.client.publish(
            command_topic(NODE.tenant, NODE.site, NODE.node, "sync.items"),
            b'{"name": "sync.items", "args": {}}',
            properties=PublishProperties(correlation_data=b"c-1", message_expiry_s=30))
        await until(lambda: central.requests == 2 and store.cache.last_delta_seq() == 5)
        await central.send(central.add(item(50, 1)))           # seq 6
        # The restored central has items 0-4 and now 50: the items it lost went with the
        # snapshot (the authority), the delta after it applied.
        await until(lambda: store.cache.count() == 6)
        assert store.cache.last_delta_seq() == 6
        history = central.history

    async with node_and_central(tmp_path, broker, mqtt_config) as (sync, store, central, _):
        central.history = history
        await sync.start()
        await until(lambda: sync.connected)
        await central.send(central.add(item(51, 1)))           # seq 7
        await until(lambda: store.cache.count() == 7)
        assert store.cache.last_delta_seq() == 7
        assert central.requests == 0
