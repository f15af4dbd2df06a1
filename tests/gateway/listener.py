# SPDX-License-Identifier: Apache-2.0
"""A test's own MQTT subscriber on the real broker: what the gateway published, by topic."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

from edge_service.sync.mqtt_client import ClientSettings, InboundMessage, MqttClient

WAIT_S = 10.0
PROBE = b"probe"


class Listener:
    def __init__(self, client: MqttClient) -> None:
        self.client = client
        self.received: list[InboundMessage] = []

    async def next_on(self, suffix: str) -> InboundMessage:
        """The first message (received earlier or later) whose topic ends with ``suffix``."""
        async with asyncio.timeout(WAIT_S):
            seen = 0
            while True:
                for message in self.received[seen:]:
                    if message.topic.endswith(suffix) and message.payload != PROBE:
                        self.received.remove(message)
                        return message
                seen = len(self.received)
                self.received.append(await one_message(self.client))


async def one_message(client: MqttClient) -> InboundMessage:
    messages = cast(AsyncGenerator[InboundMessage, None], client.messages())
    try:
        return await anext(messages)
    finally:
        await messages.aclose()


@contextlib.asynccontextmanager
async def listening(port: int, topic_filter: str, probe_topic: str) -> AsyncIterator[Listener]:
    """Subscribed to ``topic_filter``; yields once a probe on ``probe_topic`` came back (a
    SUBACK is not reported to the caller, a delivered message proves the subscription)."""
    client = MqttClient(ClientSettings(host="127.0.0.1", port=port, client_id="test-listener",
                                       persistent_session=False))
    client.subscribe(topic_filter, 1)
    connection = asyncio.create_task(client.run())
    listener = Listener(client)
    try:
        async with asyncio.timeout(WAIT_S):
            await client.wait_connected()
            while True:
                await client.publish(probe_topic, PROBE)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        while (await one_message(client)).payload != PROBE:
                            pass
                        break
        yield listener
    finally:
        await client.close()
        connection.cancel()
        await asyncio.gather(connection, return_exceptions=True)
