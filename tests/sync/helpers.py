# SPDX-License-Identifier: Apache-2.0
"""Test helpers: a consumer that de-duplicates events by id, a node's event producer."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypedDict

from edge_service.config import NodeConfig
from edge_service.store import Store, WriteConnection, write_tag_seen
from edge_service.sync import ClientSettings, InboundMessage, MqttClient, record_event
from protocols.contract import ContractError, Event, GateCountData, decode_event


class Backoff(TypedDict):
    backoff_base_s: float
    backoff_cap_s: float


FAST_BACKOFF: Backoff = {"backoff_base_s": 0.05, "backoff_cap_s": 0.3}


@dataclass
class Collector:
    """Subscriber: every distinct event once, in first-arrival order."""

    events: list[Event] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    others: list[InboundMessage] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, message: InboundMessage) -> None:
        try:
            event = decode_event(message.payload) if "/evt/" in message.topic else None
        except ContractError:
            event = None
        if event is None:
            self.others.append(message)
        else:
            if event.id in self.ids:
                self.duplicates += 1
            else:
                self.ids.add(event.id)
                self.events.append(event)
        self.changed.set()

    async def wait_for(self, predicate: object, timeout: float | None = 20.0) -> None:
        assert callable(predicate)
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def client(port: int, client_id: str, *filters: str, persistent: bool = False,
                 keepalive_s: int = 5, **settings: object
                 ) -> AsyncIterator[tuple[MqttClient, Collector]]:
    """A connected client (subscribed to ``filters``) feeding a Collector."""
    mqtt = MqttClient(ClientSettings(host="127.0.0.1", port=port, client_id=client_id,
                                     persistent_session=persistent, keepalive_s=keepalive_s,
                                     **FAST_BACKOFF, **settings))  # type: ignore[arg-type]
    collector = Collector()
    for topic_filter in filters:
        mqtt.subscribe(topic_filter, 1)
    run = asyncio.create_task(mqtt.run())

    async def pump() -> None:
        async for message in mqtt.messages():
            collector.add(message)

    pumping = asyncio.create_task(pump())
    try:
        async with asyncio.timeout(10):
            await mqtt.wait_connected()
        yield mqtt, collector
    finally:
        pumping.cancel()
        await mqtt.close()
        await asyncio.wait([run, pumping])


async def produce(store: Store, node: NodeConfig, number: int) -> Event:
    """One state change (a tag seen) and its event, committed together."""
    now = datetime.now(UTC)

    def change(conn: WriteConnection) -> Event:
        write_tag_seen(conn, f"{number:016X}", "DK-718500", f"item-{number}", afi=0x07,
                       eas=None, now=now)
        return record_event(conn, store.outbox, node, "gate.count", "lib.gate.count.v1",
                            GateCountData(gate="gate-1", entered=number, left=0,
                                          start="2026-10-01T10:00:00.000Z",
                                          end="2026-10-01T10:00:00.000Z"),
                            now=now, rand=os.urandom(10))

    return await store.writer.submit(change)
