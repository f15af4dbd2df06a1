# SPDX-License-Identifier: Apache-2.0
"""The ``sync_state`` key/value table: named keys and the two functions that read and write them.

Contract: every key the store uses is a constant here; values are integers, text or NULL.
``read_state`` works on any connection; ``write_state`` only inside a writer operation, so a key
changes in the same transaction as the data it describes (a delta's items and its seq).

Not responsible for: what the sync layer does with the values (gap detection, resync).
"""

from __future__ import annotations

import sqlite3

LAST_DELTA_SEQ = "delta.last_seq"
"""Seq of the last item delta applied (or the snapshot's seq after a bootstrap)."""
SNAPSHOT_SEQ = "snapshot.seq"
SNAPSHOT_PAGES_DONE = "snapshot.pages_done"
SNAPSHOT_ITEMS_DONE = "snapshot.items_done"
SNAPSHOT_COMPLETE = "snapshot.complete"
SNAPSHOT_PURGE = "snapshot.purge"
"""1 while the snapshot in progress began on a non-empty cache: its keys are kept
(``snapshot_keys``) and the items it does not name are deleted when it completes."""
EVENT_SEQ = "events.last_seq"
"""The node's per-event sequence number last handed out (envelope ``seq``)."""
GATE_TODAY = "gate.{gate}.today"
"""A gate's tallies of the box's local day (JSON text; ``workflows.gate``), written in the
transaction of the gate's events, so the gate page's "today" survives a restart."""

StateValue = int | str | None

_READ_SQL = "SELECT value FROM sync_state WHERE key = ?"
_WRITE_SQL = ("INSERT INTO sync_state (key, value) VALUES (?, ?) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value")


def read_state(conn: sqlite3.Connection, key: str) -> StateValue:
    row = conn.execute(_READ_SQL, (key,)).fetchone()
    if row is None:
        return None
    value: StateValue = row[0]
    return value


def read_int(conn: sqlite3.Connection, key: str) -> int | None:
    value = read_state(conn, key)
    return value if isinstance(value, int) else None


def write_state(conn: sqlite3.Connection, key: str, value: StateValue) -> None:
    conn.execute(_WRITE_SQL, (key, value))
