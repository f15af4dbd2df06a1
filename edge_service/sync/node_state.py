# SPDX-License-Identifier: Apache-2.0
"""What the sync layer remembers across restarts, in the store's ``sync_state`` table:

    key                 value
    mqtt.boot_seq       births of this node so far (status ``boot_seq``, Sparkplug bdSeq)
    twin.version        version of the last applied ``twin/desired``
    twin.config         its effective configuration (JSON text), re-reported after reconnects

Writes run as writer operations (committed at once); reads use the store's read connections.
The store does not export helpers for its key/value table, so this adapter holds the two SQL
statements (reported as a request: ``read_state``/``write_state`` in ``edge_service.store``).

Not responsible for: the delta sequence and the event seq (the store's ``cache``/``outbox``).
"""

from __future__ import annotations

import json
from typing import Any

from edge_service.store import Store, WriteConnection

BOOT_SEQ = "mqtt.boot_seq"
TWIN_VERSION = "twin.version"
TWIN_CONFIG = "twin.config"

_READ_SQL = "SELECT value FROM sync_state WHERE key = ?"
_WRITE_SQL = ("INSERT INTO sync_state (key, value) VALUES (?, ?) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value")


def _read(conn: Any, key: str) -> object:
    row = conn.execute(_READ_SQL, (key,)).fetchone()
    return None if row is None else row[0]


async def next_boot_seq(store: Store) -> int:
    """Count one more birth and return it (1 on the first start)."""

    def bump(conn: WriteConnection) -> int:
        last = _read(conn, BOOT_SEQ)
        boot_seq = (last if isinstance(last, int) else 0) + 1
        conn.execute(_WRITE_SQL, (BOOT_SEQ, boot_seq))
        return boot_seq

    return await store.writer.submit(bump, name="mqtt boot_seq", commit_now=True)


def twin_state(store: Store) -> tuple[int | None, dict[str, Any] | None]:
    """(version, effective config) of the last applied desired twin, or (None, None)."""
    conn = store.readers.cursor().connection
    version, config = _read(conn, TWIN_VERSION), _read(conn, TWIN_CONFIG)
    if not isinstance(version, int) or not isinstance(config, str):
        return None, None
    loaded = json.loads(config)
    return version, loaded if isinstance(loaded, dict) else {}


async def save_twin(store: Store, version: int, config: dict[str, Any]) -> None:
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))

    def write(conn: WriteConnection) -> None:
        conn.execute(_WRITE_SQL, (TWIN_VERSION, version))
        conn.execute(_WRITE_SQL, (TWIN_CONFIG, text))

    await store.writer.submit(write, name=f"twin version {version}", commit_now=True)
