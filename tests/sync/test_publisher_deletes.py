# SPDX-License-Identifier: Apache-2.0
"""The outbox publisher defers the DELETE of acknowledged events (one commit per event at a
trickle is what it saves, docs/storage-writes.md): acknowledged rows stay until their time,
are never published twice meanwhile, go when the time comes or when the publisher stops,
an outbox emptied by them (SQLite then reuses rowid 1) still has its next event found, a second
stop during the exit DELETE says what is left, and a
DELETE that fails loses nothing and makes no seq come twice.
Real store file, real mosquitto, a real subscriber counting what arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import pytest

from edge_service.store import Store, StoreConfig, StoreError
from edge_service.sync import OutboxPublisher
from protocols.contract import event_topic
from tests.sync.broker import Mosquitto
from tests.sync.conftest import NODE
from tests.sync.helpers import Collector, client, produce

EVENTS = event_topic(NODE.tenant, NODE.site, NODE.node, "gate.count")


async def _produce(store: Store, publisher: OutboxPublisher, first: int, count: int) -> None:
    for number in range(first, first + count):
        await produce(store, NODE, number)
        publisher.wake()


async def _arrived(seen: Collector, count: int) -> None:
    await seen.wait_for(lambda: len(seen.events) >= count)


async def test_acknowledged_events_stay_until_their_time_and_are_not_sent_twice(
        tmp_path: Path, broker: Mosquitto) -> None:
    async with await Store.open(StoreConfig(tmp_path / "edge.db", max_delay_s=0.01)) as store, \
            client(broker.port, "central", EVENTS) as (_, seen), \
            client(broker.port, "node") as (node_client, _):
        publisher = OutboxPublisher(store.outbox, node_client, delete_after_s=1.0)
        running = asyncio.create_task(publisher.run())
        try:
            await _produce(store, publisher, 0, 3)
            await _arrived(seen, 3)
            await publisher.wait_idle()
            assert store.outbox.count() == 3          # acknowledged, DELETE deferred
            assert publisher.acknowledged_undeleted == 3
            await _produce(store, publisher, 3, 2)      # new drains start after them
            await _arrived(seen, 5)
            async with asyncio.timeout(5):
                while store.outbox.count():
                    await asyncio.sleep(0.05)
            assert publisher.acknowledged_undeleted == 0
            # The emptied table hands out rowid 1 again: the next event is still found.
            await _produce(store, publisher, 5, 1)
            await _arrived(seen, 6)
        finally:
            running.cancel()
            await asyncio.wait([running])
        await asyncio.sleep(0.3)   # anything sent twice would have arrived by now
    assert [e.seq for e in seen.events] == [1, 2, 3, 4, 5, 6]
    assert seen.duplicates == 0
    assert publisher.counters.published == 6


async def test_stopping_deletes_what_was_acknowledged(tmp_path: Path, broker: Mosquitto) -> None:
    async with await Store.open(StoreConfig(tmp_path / "edge.db", max_delay_s=0.01)) as store, \
            client(broker.port, "central", EVENTS) as (_, seen), \
            client(broker.port, "node") as (node_client, _):
        publisher = OutboxPublisher(store.outbox, node_client, delete_after_s=3600.0)
        running = asyncio.create_task(publisher.run())
        await _produce(store, publisher, 0, 4)
        await _arrived(seen, 4)
        await publisher.wait_idle()
        assert store.outbox.count() == 4
        running.cancel()
        await asyncio.wait([running])
        assert store.outbox.count() == 0
        assert store.outbox.last_seq() == 4


async def test_a_second_stop_during_the_exit_delete_says_what_is_left(
        tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    async with await Store.open(StoreConfig(tmp_path / "edge.db", max_delay_s=0.01)) as store, \
            client(broker.port, "central", EVENTS) as (_, seen), \
            client(broker.port, "node") as (node_client, _):
        delete = store.outbox.delete
        deleting = asyncio.Event()

        async def slow(ids: Iterable[int]) -> int:
            deleting.set()
            await asyncio.sleep(3600)
            return await delete(ids)

        publisher = OutboxPublisher(store.outbox, node_client, delete_after_s=3600.0)
        running = asyncio.create_task(publisher.run())
        await _produce(store, publisher, 0, 3)
        await _arrived(seen, 3)
        await publisher.wait_idle()
        monkeypatch.setattr(store.outbox, "delete", slow)
        caplog.set_level("INFO", logger="edge_service.sync.outbox_publisher")
        running.cancel()
        await deleting.wait()
        running.cancel()   # as asyncio.run does at shutdown
        await asyncio.wait([running])
        assert running.cancelled()
        assert store.outbox.count() == 3
    assert "stopped while deleting 3 acknowledged events" in caplog.text


async def test_a_failed_batch_delete_loses_nothing_and_reuses_no_seq(
        tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Store.open(StoreConfig(tmp_path / "edge.db", max_delay_s=0.01)) as store, \
            client(broker.port, "central", EVENTS) as (_, seen), \
            client(broker.port, "node") as (node_client, _):
        delete = store.outbox.delete
        failures = [StoreError("injected: disk I/O error, rolled back")]

        async def failing_once(ids: Iterable[int]) -> int:
            if failures:
                raise failures.pop()
            return await delete(ids)

        monkeypatch.setattr(store.outbox, "delete", failing_once)
        publisher = OutboxPublisher(store.outbox, node_client, window=2, peek_batch=2,
                                    delete_batch=2, delete_after_s=1.0)
        running = asyncio.create_task(publisher.run())
        try:
            await _produce(store, publisher, 0, 4)     # the first batch DELETE fails
            await _arrived(seen, 4)
            await _produce(store, publisher, 4, 1)
            await _arrived(seen, 5)
            async with asyncio.timeout(5):
                while store.outbox.count():
                    await asyncio.sleep(0.05)
            await _produce(store, publisher, 5, 1)
            await _arrived(seen, 6)
        finally:
            running.cancel()
            await asyncio.wait([running])
        await asyncio.sleep(0.3)
    assert not failures
    assert [e.seq for e in seen.events] == [1, 2, 3, 4, 5, 6]
    assert seen.duplicates == 0
