# SPDX-License-Identifier: Apache-2.0
"""The test plays central: a history of item deltas for one site, answering each node's
``sync.items`` request (``{node}/req/sync.items``) with snapshot pages at the current seq."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_service.sync import MqttClient
from protocols.contract import (
    ItemDelta,
    ItemRecord,
    SnapshotPage,
    SyncItemsRequest,
    is_newer,
    items_delta_topic,
    items_snapshot_topic,
)
from tests.sync.conftest import NODE
from tests.sync.helpers import Collector

OWNER = "DK-718500"
PAGE_ITEMS = 4


def item(number: int, version: int, status: str = "03") -> ItemRecord:
    return ItemRecord(primary_item_id=f"item-{number}", owner_institution=OWNER,
                      version=version, circulation_status=status,
                      security_expected=status == "03", title=f"Title {number}")


@dataclass
class Central:
    client: MqttClient
    inbox: Collector
    history: list[ItemDelta] = field(default_factory=list)
    requests: int = 0
    snapshots: int = 0

    def add(self, *items: ItemRecord) -> ItemDelta:
        delta = ItemDelta(seq=len(self.history) + 1, items=items)
        self.history.append(delta)
        return delta

    def state(self) -> dict[str, ItemRecord]:
        out: dict[str, ItemRecord] = {}
        for delta in self.history:
            for record in delta.items:
                known = out.get(record.primary_item_id)
                if known is None or is_newer(known.version, record.version):
                    out[record.primary_item_id] = record
        return out

    async def send(self, delta: ItemDelta) -> None:
        await self.client.publish(items_delta_topic(NODE.tenant, NODE.site), delta.to_json())

    async def snapshot(self) -> None:
        self.snapshots += 1
        records = sorted(self.state().values(), key=lambda r: r.primary_item_id)
        chunks = [records[i:i + PAGE_ITEMS] for i in range(0, len(records), PAGE_ITEMS)] or [[]]
        for number, chunk in enumerate(chunks, 1):
            page = SnapshotPage(snapshot_id=f"snap-{self.snapshots}", page=number,
                                pages=len(chunks), seq_at_snapshot=len(self.history),
                                items=tuple(chunk))
            await self.client.publish(items_snapshot_topic(NODE.tenant, NODE.site, number),
                                      page.to_json())

    async def serve(self) -> None:
        """Answer every sync.items request with a snapshot."""
        handled = 0
        while True:
            await self.inbox.wait_for(lambda h=handled: len(self.inbox.others) > h,
                                      timeout=None)
            message = self.inbox.others[handled]
            handled += 1
            if message.topic.endswith("/req/sync.items"):
                SyncItemsRequest.from_json(message.payload)
                self.requests += 1
                await self.snapshot()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition of the node under test (tests only: the node has no hook)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
