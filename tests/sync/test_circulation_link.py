# SPDX-License-Identifier: Apache-2.0
"""``MqttSync.circulation_link``: the gateway-mode circulation backend publishes on the node's
client and gets its ``rsp`` replies through the node's one inbound stream (real mosquitto; a
plain client stands in for the catalog gateway)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from edge_service.circulation import ItemKey, MqttBackend, TransientCirculationError
from edge_service.config import MqttConfig
from edge_service.store import Store, StoreConfig
from edge_service.sync import ClientSettings, MqttClient, MqttSync
from protocols.contract import (
    CirculationOutcome,
    CirculationReply,
    ItemInfoRequest,
    reply_topic,
    request_topic,
)
from tests.sync.broker import Mosquitto
from tests.sync.central import until
from tests.sync.conftest import NODE
from tests.sync.helpers import FAST_BACKOFF

ANSWER_WAIT_S = 10.0


@contextlib.asynccontextmanager
async def fake_gateway(port: int) -> AsyncIterator[list[str]]:
    """Answers every item request of NODE with its title; yields the corrs it answered."""
    gateway = MqttClient(ClientSettings(host="127.0.0.1", port=port, client_id="fake-gateway",
                                        persistent_session=False, **FAST_BACKOFF))
    gateway.subscribe(request_topic(NODE.tenant, NODE.site, NODE.node, "circ.item"), 1)
    answered: list[str] = []

    async def answer() -> None:
        async for message in gateway.messages():
            request = ItemInfoRequest.from_json(message.payload)
            outcome = CirculationOutcome(ok=True, screen_message=(), title="Kalevala")
            reply = CirculationReply(corr=request.corr, request="circ.item", status="ok",
                                     outcome=outcome)
            await gateway.publish(reply_topic(NODE.tenant, NODE.site, NODE.node),
                                  reply.to_json())
            answered.append(request.corr)

    tasks = [asyncio.create_task(gateway.run()), asyncio.create_task(answer())]
    try:
        await gateway.wait_connected()
        yield answered
    finally:
        tasks[1].cancel()
        await gateway.close()
        tasks[0].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_replies_reach_the_gateway_mode_backend(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    late: list[bytes] = []
    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
            fake_gateway(broker.port) as answered:
        sync = MqttSync(NODE, mqtt_config, store, software_version="t", **FAST_BACKOFF)
        await sync.start()
        try:
            def on_reply(payload: bytes) -> None:
                if not backend.handle_reply(payload):
                    late.append(payload)

            backend = MqttBackend(sync.circulation_link(on_reply), tenant=NODE.tenant,
                                  site=NODE.site, node=NODE.node, timeout_s=0.5)
            await until(lambda: sync.connected)
            async with asyncio.timeout(ANSWER_WAIT_S):
                while True:   # the fake gateway's subscription is not acknowledged to us
                    try:
                        outcome = await backend.item_info(ItemKey("DK-718500", "5012345601"))
                    except TransientCirculationError:
                        continue
                    break
        finally:
            await sync.stop()
    assert outcome.title == "Kalevala"
    assert len(answered) == 1 + len(late)   # each answer reached the backend, late or not
