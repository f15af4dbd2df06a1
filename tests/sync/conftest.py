# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the sync tests: a real mosquitto per test, node settings, a store file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_service.config import MqttConfig, NodeConfig
from tests.sync.broker import Mosquitto

NODE = NodeConfig(tenant="DK-718500", site="DK-718501", node="kiosk-2", mode="kiosk")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    directory = tmp_path / "broker"
    directory.mkdir()
    mosquitto = Mosquitto(directory)
    mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


@pytest.fixture
def mqtt_config(broker: Mosquitto) -> MqttConfig:
    return MqttConfig(enabled=True, host="127.0.0.1", port=broker.port, keepalive_s=5)
