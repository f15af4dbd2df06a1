# SPDX-License-Identifier: Apache-2.0
"""Broker outage: the broker is stopped during a stream of events and started again; every
event arrives, once after de-duplication by id, in per-node seq order; retained birth and
will behave."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from edge_service.config import MqttConfig
from edge_service.store import Store, StoreConfig
from edge_service.sync import MqttSync
from protocols.contract import (
    NodeStatus,
    command_topic,
    event_topic,
    format_time,
    response_topic,
    status_topic,
)
from tests.sync.broker import Mosquitto
from tests.sync.conftest import NODE
from tests.sync.helpers import FAST_BACKOFF, client, produce

BEFORE, DURING, AFTER = 40, 80, 40
EVENTS = event_topic(NODE.tenant, NODE.site, NODE.node, "gate.count").rsplit("/", 1)[0] + "/+"


async def test_every_event_arrives_once_in_order_across_an_outage(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    async with await Store.open(StoreConfig(tmp_path / "edge.db", max_delay_s=0.005)) as store:
        sync = MqttSync(NODE, mqtt_config, store, software_version="1.2.3", **FAST_BACKOFF)
        async with client(broker.port, "central", EVENTS, persistent=True) as (_, seen):
            await sync.start()
            try:
                for number in range(BEFORE):
                    await produce(store, NODE, number)
                    sync.wake_outbox()
                await asyncio.to_thread(broker.stop)
                for number in range(BEFORE, BEFORE + DURING):
                    await produce(store, NODE, number)
                    sync.wake_outbox()
                assert store.outbox.count() > 0   # held while the broker is away
                await asyncio.to_thread(broker.start)
                for number in range(BEFORE + DURING, BEFORE + DURING + AFTER):
                    await produce(store, NODE, number)
                    sync.wake_outbox()
                total = BEFORE + DURING + AFTER
                try:
                    await seen.wait_for(lambda: len(seen.events) >= total)
                except TimeoutError:
                    raise AssertionError(
                        f"{len(seen.events)} of {total} events, outbox {store.outbox.count()}, "
                        f"{sync.publisher.counters if sync.publisher else None}, "
                        f"{[e.seq for e in seen.events][-5:]}") from None
            finally:
                await sync.stop()
        assert [e.seq for e in seen.events] == list(range(1, total + 1))
        assert store.outbox.count() == 0
        assert sync.client is None


async def test_birth_is_retained_and_stop_says_offline(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    status = status_topic(NODE.tenant, NODE.site, NODE.node)
    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store:
        for boot in (1, 2):
            sync = MqttSync(NODE, mqtt_config, store, software_version="1.2.3", **FAST_BACKOFF)
            await sync.start()
            async with client(broker.port, f"watch-{boot}", status) as (_, seen):
                # The watcher may first get the previous boot's retained "offline" (under load
                # the new birth can land after the subscription); wait for this boot's birth.
                def this_boot(boot: int = boot) -> bool:
                    return any(NodeStatus.from_json(m.payload).boot_seq == boot
                               for m in seen.others)
                await seen.wait_for(this_boot)
                birth = NodeStatus.from_json(seen.others[-1].payload)
                assert (birth.state, birth.boot_seq, birth.sw) == ("online", boot, "1.2.3")
                async with client(broker.port, f"late-{boot}", status) as (_, late):
                    await late.wait_for(lambda: bool(late.others))
                    assert late.others[0].retain
                    assert late.others[0].payload == seen.others[-1].payload
                before_stop = len(seen.others)
                await sync.stop()
                await seen.wait_for(lambda n=before_stop: len(seen.others) > n)
                offline = NodeStatus.from_json(seen.others[-1].payload)
                assert (offline.state, offline.boot_seq) == ("offline", boot)


async def test_mqtt_311_drains_the_outbox_and_answers_commands_from_the_payload(
        tmp_path: Path, broker: Mosquitto) -> None:
    mqtt = MqttConfig(enabled=True, host="127.0.0.1", port=broker.port, protocol=311)
    res = response_topic(NODE.tenant, NODE.site, NODE.node)
    async with await Store.open(StoreConfig(tmp_path / "edge.db", max_delay_s=0.005)) as store, \
            client(broker.port, "central", EVENTS, res, protocol=311) as (central, seen):
        sync = MqttSync(NODE, mqtt, store, software_version="t", **FAST_BACKOFF)
        await sync.start()
        try:
            for number in range(5):
                await produce(store, NODE, number)
            sync.wake_outbox()
            await seen.wait_for(lambda: len(seen.events) == 5)
            request = {"name": "no.such", "args": {}, "corr": "c-311", "reply_to": res,
                       "expires": format_time(4_000_000_000_000)}
            await central.publish(command_topic(NODE.tenant, NODE.site, NODE.node, "no.such"),
                                  json.dumps(request).encode())
            await seen.wait_for(lambda: any(b'"c-311"' in m.payload for m in seen.others))
        finally:
            await sync.stop()
    assert [e.seq for e in seen.events] == [1, 2, 3, 4, 5]
