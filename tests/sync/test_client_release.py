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

from edge_service.sync.mqtt_client import MqttClient
from tests.sync.broker import Mosquitto
from tests.sync.helpers import client


def test_a_closed_client_frees_its_paho_client_without_the_collector(
        broker: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[weakref.ref[Any]] = []
    new_client = MqttClient._new_client

    def recording(self: MqttClient) -> Any:
        paho_client = new_client(self)
        made.append(weakref.ref(paho_client))
        return paho_client

    monkeypatch.setattr(MqttClient, "_new_client", recording)

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
