# SPDX-License-Identifier: Apache-2.0
"""The outbox publisher shares the event loop: a draining backlog never publishes more than
``YIELD_EVERY`` events in one turn of the loop, so a reader's response (the gate's alarm path)
waits at most that long behind it; and a link lost in the middle of a window leaves no
publish error unhandled. Real store file; a real broker where a connection is needed."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from edge_service.store import Store, StoreConfig
from edge_service.sync import OutboxPublisher
from edge_service.sync.errors import NotConnected
from edge_service.sync.outbox_publisher import WINDOW, YIELD_EVERY
from tests.sync.broker import Mosquitto
from tests.sync.conftest import NODE
from tests.sync.helpers import client, produce

EVENTS = 3 * WINDOW


async def test_a_draining_backlog_yields_the_loop_between_small_bursts(
        tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    turn = 0

    def tick() -> None:   # runs once per turn of the loop
        nonlocal turn
        turn += 1
        loop.call_soon(tick)

    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
            client(broker.port, "node") as (node_client, _):
        await asyncio.gather(*(produce(store, NODE, n) for n in range(EVENTS)))
        per_turn: Counter[int] = Counter()
        publish = node_client.publish_nowait

        def counting(*args: Any, **kwargs: Any) -> Any:
            per_turn[turn] += 1
            return publish(*args, **kwargs)

        monkeypatch.setattr(node_client, "publish_nowait", counting)
        publisher = OutboxPublisher(store.outbox, node_client)
        loop.call_soon(tick)
        draining = asyncio.create_task(publisher.run())
        publisher.wake()
        async with asyncio.timeout(20):
            await publisher.wait_idle()
        draining.cancel()
        await asyncio.wait([draining])
    assert sum(per_turn.values()) == EVENTS
    assert max(per_turn.values()) <= YIELD_EVERY


class _DroppingClient:
    """Accepts ``accepted`` publishes, then the link is gone (paho's NO_CONN): what the
    publisher meets when it resumes after a yield while the disconnect's hop is still queued."""

    def __init__(self, accepted: int) -> None:
        self.accepted = accepted
        self.futures: list[asyncio.Future[None]] = []

    def publish_nowait(self, topic: str, payload: bytes) -> asyncio.Future[None]:
        if len(self.futures) == self.accepted:
            raise NotConnected(f"publishing to {topic!r}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


async def test_a_link_lost_mid_window_leaves_no_unhandled_publish_error(
        tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store:
        await asyncio.gather(*(produce(store, NODE, n) for n in range(20)))
        dropping = _DroppingClient(accepted=10)
        publisher = OutboxPublisher(store.outbox, dropping)  # type: ignore[arg-type]
        with pytest.raises(NotConnected):
            await publisher._publish_in_order(store.outbox.peek(20))
        for future in dropping.futures:   # the disconnect's hop arrives: each one fails
            future.set_exception(NotConnected("publishing"))
        del future
        dropping.futures.clear()
        await asyncio.sleep(0)
        gc.collect()
    assert unhandled == []
