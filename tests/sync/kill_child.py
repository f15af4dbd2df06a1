# SPDX-License-Identifier: Apache-2.0
"""Child process of test_kill9: opens the store and MqttSync, then records events in a loop,
printing each event id once its transaction has committed; or, with ``drain``, waits until
the outbox is empty and prints ``drained``.

Usage: python -m tests.sync.kill_child DB_PATH PORT produce|drain
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edge_service.config import MqttConfig
from edge_service.store import Store, StoreConfig
from edge_service.sync import MqttSync
from tests.sync.conftest import NODE
from tests.sync.helpers import FAST_BACKOFF, produce


async def main(path: Path, port: int, mode: str) -> None:
    store = await Store.open(StoreConfig(path, max_delay_s=0.002, max_batch=8))
    sync = MqttSync(NODE, MqttConfig(enabled=True, host="127.0.0.1", port=port), store,
                    software_version="test", **FAST_BACKOFF)
    await sync.start()
    print("ready", flush=True)
    if mode == "drain":
        assert sync.publisher is not None
        async with asyncio.timeout(20):
            await sync.client.wait_connected()  # type: ignore[union-attr]
            sync.wake_outbox()
            await sync.publisher.wait_idle()
        await sync.stop()
        await store.close()
        print("drained", flush=True)
        return
    number = 0
    while True:
        event = await produce(store, NODE, number)
        sys.stdout.write(f"{event.id}\n")
        sys.stdout.flush()
        sync.wake_outbox()
        number += 1


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
