# SPDX-License-Identifier: Apache-2.0
"""Outbox: the durable queue of events waiting for the broker's acknowledgement.

Contract (reference §1.4, DESIGN "Central sync"):
- ``next_seq(conn)`` and ``add(conn, topic, event_bytes, event_id, seq=...)`` run INSIDE a
  writer operation, on the writer's connection, so an event is queued in the same transaction
  as the state change it reports: both are committed, or neither. Called outside a transaction
  they refuse, because an event written alone is exactly what the outbox exists to prevent.
- ``next_seq`` gives the node's next per-event sequence number (envelope ``seq``) and ``add``
  stores it in the event's row; ``add`` refuses a seq that is not above every seq handed out
  before, so committed events' seqs are gap-free when each ``next_seq`` is followed by its
  ``add``, and are never reused. The last seq lives in the newest row; ``delete`` copies it
  to ``sync_state`` (in the DELETE's transaction) before rows go, so an emptied outbox, or
  one whose newest rows went first, still knows it. Why not a counter in ``sync_state``
  bumped per event: that is one more page in the WAL per commit (docs/storage-writes.md).
- ``peek(limit)`` returns the oldest events in publish order (rowid); ``mark_attempted`` counts a
  publish that was not acknowledged; ``delete(ids)`` removes events once acknowledged (a batch
  DELETE, not a ``sent`` flag: a flag doubles the writes, reference §2.5). Delivery is therefore
  at least once; consumers de-duplicate by ``event_id``. ``event_id`` has no UNIQUE index (one
  page per commit again); ids are UUIDv7 made per event, and consumers de-duplicate anyway.

Not responsible for: building envelopes (protocols/contract), publishing and matching PUBACKs
(the MQTT client), expiry of stale events (a policy for the sync layer).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from edge_service.store.connection import ReadConnections
from edge_service.store.errors import InvalidRecord, StoreError
from edge_service.store.model import OutboxEntry, utc_now, utc_timestamp
from edge_service.store.sync_state import EVENT_SEQ, read_int, write_state
from edge_service.store.writer import StoreWriter

MAX_EVENT_BYTES = 256 * 1024
"""Larger than any envelope we produce (a gate alarm with a full stack is a few KiB), far below
Mosquitto's message limits; a bigger payload is a bug upstream, refused here."""
MAX_TOPIC_CHARS = 512
MAX_PEEK = 10_000

_ADD_SQL = ("INSERT INTO outbox (event_id, seq, topic, payload, created_at) "
            "VALUES (?, ?, ?, ?, ?)")
_PEEK_SQL = ("SELECT id, event_id, topic, payload, created_at, attempts FROM outbox "
             "WHERE id > ? ORDER BY id LIMIT ?")
_LAST_SEQ_SQL = ("SELECT max(coalesce((SELECT seq FROM outbox ORDER BY id DESC LIMIT 1), 0), "
                 "coalesce((SELECT value FROM sync_state WHERE key = ?), 0))")
"""The last seq handed out, in one statement: the newest row's (the rowid b-tree's last leaf,
which the next INSERT changes anyway; NULL for a row queued before schema v5) or the one
``sync_state`` kept, whichever is higher. One statement, not two: it runs per event on the
writer thread, whose every statement competes with the event loop for the GIL
(``bench/gate.py``)."""


class Outbox:
    """The event outbox; ``add``/``next_seq`` inside writer operations, the rest standalone."""

    def __init__(self, writer: StoreWriter, readers: ReadConnections, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._writer = writer
        self._readers = readers
        self._clock = clock
        self._handed_out: int | None = None   # writer thread only: next_seq's last answer

    # --- inside a writer operation -----------------------------------------------------------

    def add(self, conn: sqlite3.Connection, topic: str, event_bytes: bytes,
            event_id: str, *, seq: int) -> int:
        """Queue one event with its envelope ``seq`` (from :meth:`next_seq`) in the caller's
        transaction; returns its outbox id (publish order)."""
        canonical = _check_event(topic, event_bytes, event_id)
        _require_transaction(conn, "Outbox.add")
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise InvalidRecord(f"seq {seq!r} is not an integer",
                                where=f"outbox event {canonical}", field="seq")
        # The seq next_seq has just handed out is above the last by construction; any other
        # is checked against the store.
        if seq != self._handed_out and seq <= (last := _last_seq(conn)):
            raise InvalidRecord(f"seq {seq!r} is not above the last one handed out ({last})",
                                where=f"outbox event {canonical}", field="seq")
        self._handed_out = None
        cursor = conn.execute(_ADD_SQL, (canonical, seq, topic, bytes(event_bytes),
                                         utc_timestamp(self._clock())))
        row_id = cursor.lastrowid
        assert row_id is not None  # an INSERT that succeeded always has one
        return row_id

    def next_seq(self, conn: sqlite3.Connection) -> int:
        """The per-node event sequence number (1, 2, ...) the next :meth:`add` in the caller's
        transaction carries. Nothing is written: the seq is kept by the row ``add`` writes."""
        _require_transaction(conn, "Outbox.next_seq")
        self._handed_out = _last_seq(conn) + 1
        return self._handed_out

    # --- standalone --------------------------------------------------------------------------

    def peek(self, limit: int = 100, *, after: int = 0) -> list[OutboxEntry]:
        """The ``limit`` oldest queued events with an outbox id above ``after``, oldest first
        (a range scan of the rowid: rows already published are skipped, not read)."""
        if not 1 <= limit <= MAX_PEEK:
            raise ValueError(f"peek limit must be 1..{MAX_PEEK}, got {limit}")
        try:
            rows = self._readers.cursor().execute(_PEEK_SQL, (after, limit)).fetchall()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, "reading the outbox") from exc
        return [OutboxEntry(*row) for row in rows]

    def count(self) -> int:
        try:
            row = self._readers.cursor().execute("SELECT count(*) FROM outbox").fetchone()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, "counting the outbox") from exc
        return int(row[0])

    def last_seq(self) -> int | None:
        """The last event seq handed out and committed, None before the first event."""
        try:
            return _last_seq(self._readers.cursor().connection) or None
        except sqlite3.Error as exc:
            raise self._readers.error(exc, "reading the event seq") from exc

    async def delete(self, ids: Iterable[int]) -> int:
        """Remove acknowledged events by outbox id; returns how many were still queued."""
        keys = _ids(ids)
        if not keys:
            return 0

        def delete(conn: sqlite3.Connection) -> int:
            # The newest row may be among them: its seq must outlive it.
            last = _last_seq(conn)
            if last and last != read_int(conn, EVENT_SEQ):   # the page only when it changes
                write_state(conn, EVENT_SEQ, last)
            cursor = conn.executemany("DELETE FROM outbox WHERE id = ?", [(k,) for k in keys])
            return max(cursor.rowcount, 0)

        return await self._writer.submit(delete, name=f"outbox delete {len(keys)}")

    async def mark_attempted(self, ids: Iterable[int]) -> None:
        """Count one more publish attempt for these events (published, not yet acknowledged)."""
        keys = _ids(ids)
        if not keys:
            return

        def mark(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?",
                             [(k,) for k in keys])

        await self._writer.submit(mark, name=f"outbox attempted {len(keys)}")


def _last_seq(conn: sqlite3.Connection) -> int:
    """The last seq handed out: the newest row's or the one ``sync_state`` kept, whichever is
    higher (a row older than a deleted one can be the newest left); 0 before the first event."""
    value = conn.execute(_LAST_SEQ_SQL, (EVENT_SEQ,)).fetchone()[0]
    return value if isinstance(value, int) else 0


def _require_transaction(conn: sqlite3.Connection, what: str) -> None:
    if not conn.in_transaction:
        raise StoreError(f"{what} must run inside a writer operation, in the same transaction "
                         "as the state change it reports")


def _check_event(topic: object, event_bytes: object, event_id: object) -> str:
    where = f"outbox event {event_id!r}"
    if not isinstance(event_id, str):
        raise InvalidRecord("expected a UUID string", where=where, field="event_id")
    try:
        canonical = str(uuid.UUID(event_id))
    except ValueError:
        raise InvalidRecord("not a UUID", where=where, field="event_id") from None
    if (not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_CHARS
            or "+" in topic or "#" in topic or "\0" in topic):
        raise InvalidRecord(f"{topic!r} is not a publishable MQTT topic (1..{MAX_TOPIC_CHARS} "
                            "characters, no wildcards, no NUL)", where=where, field="topic")
    if not isinstance(event_bytes, bytes | bytearray | memoryview):
        raise InvalidRecord(f"expected bytes, got {type(event_bytes).__name__}", where=where,
                            field="event_bytes")
    if not 0 < len(event_bytes) <= MAX_EVENT_BYTES:
        raise InvalidRecord(f"{len(event_bytes)} bytes, expected 1..{MAX_EVENT_BYTES}",
                            where=where, field="event_bytes")
    return canonical


def _ids(ids: Iterable[int]) -> list[int]:
    keys = list(ids)
    for key in keys:
        if isinstance(key, bool) or not isinstance(key, int):
            raise InvalidRecord(f"{key!r} is not an outbox id", where="outbox acknowledgement",
                                field="ids")
    return keys
