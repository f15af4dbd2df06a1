# SPDX-License-Identifier: Apache-2.0
"""The client's in-flight window on a real Mosquitto: at most ``max_inflight`` QoS 1 messages
unacknowledged, lowered to the broker's Receive Maximum (Mosquitto sends its
``max_inflight_messages`` as the Receive Maximum to MQTT 5 clients); what waits beyond the
window goes out in order; a disconnect fails what waits too."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge_service.sync import NotConnected
from edge_service.sync.mqtt_client import MqttClient, Will
from tests.sync.broker import Mosquitto
from tests.sync.helpers import client

TOPIC = "lib/v1/DK-718500/DK-718501/window-test/evt/x"
MESSAGES = 60


def track_in_flight(mqtt: MqttClient, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The connection's in-flight count after every hand-over to paho."""
    seen: list[int] = []
    hand_over = MqttClient._hand_over

    def counting(self: MqttClient, conn: object, message: object) -> None:
        hand_over(self, conn, message)  # type: ignore[arg-type]
        seen.append(conn.in_flight)  # type: ignore[attr-defined]

    monkeypatch.setattr(MqttClient, "_hand_over", counting)
    return seen


@pytest.mark.parametrize(("broker_inflight", "ours", "window"), [
    (5, 100, 5),      # the broker's Receive Maximum is lower: it wins
    (100, 3, 3),      # ours is lower
])
async def test_the_window_holds_and_what_waits_goes_out_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker_inflight: int, ours: int,
        window: int) -> None:
    broker = Mosquitto(tmp_path, extra=f"max_inflight_messages {broker_inflight}")
    broker.start()
    try:
        async with client(broker.port, "window-reader", TOPIC) as (_, collector), \
                client(broker.port, "window-test", max_inflight=ours) as (mqtt, _):
            seen = track_in_flight(mqtt, monkeypatch)
            futures = [mqtt.publish_nowait(TOPIC, str(n).encode()) for n in range(MESSAGES)]
            assert seen == list(range(1, window + 1))   # the rest wait for PUBACKs
            await asyncio.gather(*futures)
            await collector.wait_for(lambda: len(collector.others) == MESSAGES)
    finally:
        broker.stop()
    assert max(seen) == window
    assert len(seen) == MESSAGES
    assert [m.payload for m in collector.others] == [str(n).encode() for n in range(MESSAGES)]


async def test_a_disconnect_fails_the_messages_waiting_beyond_the_window(
        tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        async with client(broker.port, "window-test", max_inflight=2) as (mqtt, _):
            futures = [mqtt.publish_nowait(TOPIC, b"x") for _ in range(10)]
            broker.stop()
            results = await asyncio.gather(*futures, return_exceptions=True)
    finally:
        broker.stop()
    failed = [r for r in results if isinstance(r, NotConnected)]
    assert len(failed) >= 8   # at least every message that waited; none left hanging
    assert all(r is None or isinstance(r, NotConnected) for r in results)


def test_a_window_below_one_is_refused() -> None:
    from edge_service.sync.mqtt_client import ClientSettings  # noqa: PLC0415
    with pytest.raises(ValueError, match="max_inflight must be at least 1"):
        MqttClient(ClientSettings(host="127.0.0.1", port=1, client_id="x", max_inflight=0))


async def test_a_message_paho_refuses_while_it_waits_fails_alone(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        async with client(broker.port, "window-reader", TOPIC) as (_, collector), \
                client(broker.port, "window-test", max_inflight=1) as (mqtt, _):
            first = mqtt.publish_nowait(TOPIC, b"first")
            bad = mqtt.publish_nowait(TOPIC + "/+", b"a wildcard in a topic name")
            last = mqtt.publish_nowait(TOPIC, b"last")   # waits behind the bad one
            await first
            with pytest.raises(ValueError, match="wildcard"):
                await bad
            await last
            await collector.wait_for(lambda: len(collector.others) == 2)
    finally:
        broker.stop()
    assert [m.payload for m in collector.others] == [b"first", b"last"]


@pytest.mark.parametrize("protocol", [5, 311])
async def test_close_can_have_the_broker_send_the_will(tmp_path: Path, protocol: int) -> None:
    """For a goodbye that could not be published (the gateway's presence)."""
    will_topic = "lib/v1/DK-718500/central/gateway/gw-1/status"
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        async with client(broker.port, "will-reader", will_topic) as (_, collector):
            async with client(broker.port, "will-test", protocol=protocol,
                              will=Will(will_topic, b"gone", retain=False)) as (mqtt, _):
                await mqtt.close(send_will=True)
            await collector.wait_for(lambda: len(collector.others) == 1)
            async with client(broker.port, "will-test", protocol=protocol,
                              will=Will(will_topic, b"gone again", retain=False)):
                pass   # a plain close: no will
            await asyncio.sleep(0.5)
    finally:
        broker.stop()
    assert [m.payload for m in collector.others] == [b"gone"]
