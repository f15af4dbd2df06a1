# SPDX-License-Identifier: Apache-2.0
"""paho driven by the event loop (edge_service.sync.mqtt_client, Threading): no thread of its
own, and its housekeeping still runs, against a real mosquitto: an idle connection is kept
alive by PINGREQs, and a broker that stops answering is noticed by the missing PINGRESP."""

from __future__ import annotations

import asyncio
import signal
import threading

from tests.sync.broker import Mosquitto
from tests.sync.helpers import client

TOPIC = "lib/v1/DK-718500/DK-718501/loop-test/evt/x"


async def test_paho_runs_no_thread_of_its_own(broker: Mosquitto) -> None:
    async with client(broker.port, "loop-test", TOPIC) as (mqtt, collector):
        await mqtt.publish(TOPIC, b"one")
        await collector.wait_for(lambda: len(collector.others) == 1)
        assert [t.name for t in threading.enumerate()
                if t.name.startswith("paho-mqtt-client")] == []
        assert collector.others[0].payload == b"one"


async def test_an_idle_connection_is_kept_alive(broker: Mosquitto) -> None:
    """The broker closes a connection silent for 1.5 keepalives (mosquitto 2.0 checks every
    few seconds: ~5 s for a keepalive of 1 s); PINGREQs keep it open."""
    async with client(broker.port, "loop-test", TOPIC, keepalive_s=1) as (mqtt, collector):
        await asyncio.sleep(7.0)
        await mqtt.publish(TOPIC, b"still here")
        await collector.wait_for(lambda: len(collector.others) == 1)
        assert (mqtt.counters.connects, mqtt.counters.disconnects) == (1, 0)


async def test_a_broker_that_stops_answering_is_noticed(broker: Mosquitto) -> None:
    """A half-open connection (the broker frozen, TCP still up) ends when a PINGRESP is
    overdue, and the client connects again once the broker answers."""
    assert broker.process is not None
    async with client(broker.port, "loop-test", TOPIC, keepalive_s=1) as (mqtt, collector):
        broker.process.send_signal(signal.SIGSTOP)
        try:
            async with asyncio.timeout(10):
                while mqtt.counters.disconnects == 0:
                    await asyncio.sleep(0.1)
        finally:
            broker.process.send_signal(signal.SIGCONT)
        async with asyncio.timeout(10):
            await mqtt.wait_connected()
        await mqtt.publish(TOPIC, b"back")
        await collector.wait_for(lambda: any(m.payload == b"back" for m in collector.others))
        assert mqtt.counters.connects >= 2
