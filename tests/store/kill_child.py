# SPDX-License-Identifier: Apache-2.0
"""Child process of test_kill9: writes state changes with their outbox events through the real
writer and prints each id once its submit has resolved (= committed), until it is killed.

Usage: python kill_child.py DB_PATH FIRST_ID
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import sys
import uuid
from pathlib import Path

from edge_service.store import Store, StoreConfig, write_tag_seen
from edge_service.store.model import utc_now

OWNER = "DK-718500"
TOPIC = "lib/v1/test/site/node/evt/tag.seen"
WORKERS = 6


def event_id(number: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, str(number)))


def uid(number: int) -> str:
    return f"{number:016X}"


async def main(path: Path, first: int) -> None:
    store = await Store.open(StoreConfig(path, max_delay_s=0.003, max_batch=8))
    numbers = itertools.count(first)

    async def worker() -> None:
        while True:
            number = next(numbers)

            def change(conn: sqlite3.Connection, number: int = number) -> None:
                write_tag_seen(conn, uid(number), OWNER, str(number), afi=0xC2, eas=False,
                               now=utc_now())
                seq = store.outbox.next_seq(conn)
                store.outbox.add(conn, TOPIC, f"{seq}".encode(), event_id(number), seq=seq)

            await store.writer.submit(change)
            sys.stdout.write(f"{number}\n")
            sys.stdout.flush()

    print("ready", flush=True)
    await asyncio.gather(*(worker() for _ in range(WORKERS)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
