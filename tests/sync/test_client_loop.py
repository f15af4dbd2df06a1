# SPDX-License-Identifier: Apache-2.0
"""paho driven by the event loop (edge_service.sync.mqtt_client, Threading): no thread of its
own, and its housekeeping still runs, against a real mosquitto: an idle connection is kept
alive by PINGREQs, a broker that stops answering is noticed by the missing PINGRESP, and
``close()`` during a connect leaves the client to the thread connecting it."""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Any

import pytest

from edge_service.sync.mqtt_client import ClientSettings, MqttClient, Will
from tests.sync.broker import Mosquitto
from tests.sync.helpers import FAST_BACKOFF, client

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


@pytest.mark.parametrize("how", ["close", "cancel"])
async def test_stopping_while_connecting_leaves_paho_to_the_connecting_thread(
        broker: Mosquitto, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """paho is not thread-safe: neither ``close()`` nor cancelling ``run()`` during the worker
    thread's blocking connect may call into the same client; once the connect returns, the
    connection ends with a clean DISCONNECT (no will) and its socket is closed."""
    will = Will(topic=f"{TOPIC}-will", payload=b"gone", retain=False)
    mqtt = MqttClient(ClientSettings(host="127.0.0.1", port=broker.port,
                                     client_id="closing-test", will=will, **FAST_BACKOFF))
    entered, release = threading.Event(), threading.Event()
    connect = mqtt._blocking_connect
    disconnects_while_connecting: list[bool] = []
    clients: list[Any] = []

    def slow_connect(paho_client: Any) -> None:   # a slow DNS/TCP/TLS, made to order
        disconnect = paho_client.disconnect

        def watched(*args: Any, **kwargs: Any) -> Any:
            disconnects_while_connecting.append(not release.is_set())
            return disconnect(*args, **kwargs)

        paho_client.disconnect = watched
        clients.append(paho_client)
        entered.set()
        release.wait(10)
        connect(paho_client)

    monkeypatch.setattr(mqtt, "_blocking_connect", slow_connect)
    async with client(broker.port, "watcher", will.topic) as (_, collector):
        running = asyncio.create_task(mqtt.run())
        assert await asyncio.to_thread(entered.wait, 10)
        stopping = asyncio.create_task(mqtt.close()) if how == "close" else None
        if how == "cancel":
            running.cancel()
        await asyncio.sleep(0.2)
        release.set()
        async with asyncio.timeout(5):
            await asyncio.wait([t for t in (running, stopping) if t is not None])
            while (sock := clients[0].socket()) is not None and sock.fileno() != -1:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)   # a will would have come by now
    assert disconnects_while_connecting == [False]
    assert collector.others == []
