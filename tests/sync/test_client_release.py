# SPDX-License-Identifier: Apache-2.0
"""A closed MqttClient lets go of its paho client at once (no reference cycle left for the
garbage collector): paho closes its wake-up socket pair only in ``__del__``, and a collector
that finalized those sockets first raised ResourceWarnings, errors under the tests' filters."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from edge_service.sync.mqtt_client import ClientSettings, MqttClient
from tests.sync.broker import Mosquitto
from tests.sync.helpers import FAST_BACKOFF, client

REFUSED = b"\x20\x02\x00\x05"
"""CONNACK, return code 5: not authorized (a wrong password, an ACL)."""


def _record_paho_clients(monkeypatch: pytest.MonkeyPatch) -> list[weakref.ref[Any]]:
    made: list[weakref.ref[Any]] = []
    new_client = MqttClient._new_client

    def recording(self: MqttClient) -> Any:
        paho_client = new_client(self)
        made.append(weakref.ref(paho_client))
        return paho_client

    monkeypatch.setattr(MqttClient, "_new_client", recording)
    return made


def test_a_closed_client_frees_its_paho_client_without_the_collector(
        broker: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    made = _record_paho_clients(monkeypatch)

    async def scenario() -> None:
        async with client(broker.port, "release-test", "lib/v1/#"):
            pass

    gc.collect()
    gc.disable()
    try:
        asyncio.run(scenario())
        assert len(made) == 1
        assert made[0]() is None, "the paho client is still referenced after close"
    finally:
        gc.enable()


def test_refused_connections_free_their_paho_clients_without_the_collector(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made = _record_paho_clients(monkeypatch)

    async def scenario() -> int:
        refusals = 0

        async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal refusals
            await reader.read(1024)            # the CONNECT
            writer.write(REFUSED)
            await writer.drain()
            refusals += 1
            writer.close()

        server = await asyncio.start_server(refuse, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        mqtt = MqttClient(ClientSettings(host="127.0.0.1", port=port, client_id="refused",
                                         protocol=311, **FAST_BACKOFF))  # type: ignore[arg-type]
        running = asyncio.create_task(mqtt.run())
        async with asyncio.timeout(10):
            while refusals < 2:                # refused, retried, refused again
                await asyncio.sleep(0.01)
        await mqtt.close()
        await running
        server.close()
        await server.wait_closed()
        return refusals

    gc.collect()
    gc.disable()
    try:
        assert asyncio.run(scenario()) >= 2
        assert len(made) >= 2
        assert [ref() for ref in made] == [None] * len(made), \
            "a refused connection's paho client is still referenced"
    finally:
        gc.enable()
