# SPDX-License-Identifier: Apache-2.0
"""The transaction journal: what a running circulation transaction has done so far.

A self-check checkout is several steps on two systems (the ILS, then the tag); a crash between
them must not leave an item checked out in the ILS and secured on the tag, or the reverse. Each
step is written here *before* the next one starts, committed at once (``commit_now``), so that
after a restart the daemon knows exactly which transactions are unfinished and how far they got.

Contract:
- ``journal_begin``/``journal_advance``/``journal_end`` are the changes for use INSIDE a writer
  operation (a step's journal row and its outbox event commit together); :class:`Journal`'s
  awaitable methods are the same changes as their own committed operation.
- ``data`` is a JSON object merged key by key on every advance (a step adds what it learnt).
  It must never hold the patron's identifier: that goes to ``journal_patron`` (``patron=``),
  which the schema's trigger deletes when the transaction ends.
- An ended transaction cannot be advanced or ended again (:class:`JournalError`): a step that
  arrives late (a recovered task racing the live one) is refused instead of rewriting history.
- Reads (``get``, ``open_entries``, ``patron_of``) see committed data only.

Not responsible for: what the states mean (the workflows define them), recovery decisions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge_service.store.connection import ReadConnections
from edge_service.store.errors import StoreError
from edge_service.store.model import utc_now, utc_timestamp
from edge_service.store.writer import StoreWriter

__all__ = ["Journal", "JournalEntry", "JournalError", "journal_advance", "journal_begin",
           "journal_end"]


class JournalError(StoreError):
    """A journal step that contradicts the journal (unknown id, already ended, duplicate id)."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: str
    kind: str
    state: str
    data: dict[str, Any]
    created_at: str
    updated_at: str
    ended_at: str | None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


_COLUMNS = "id, kind, state, data, created_at, updated_at, ended_at"


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6])


def _json(data: Mapping[str, Any], where: str) -> str:
    try:
        return json.dumps(dict(data), separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise JournalError(f"{where}: journal data is not JSON: {exc}") from exc


def _open_row(conn: sqlite3.Connection, entry_id: str, where: str) -> JournalEntry:
    row = conn.execute(f"SELECT {_COLUMNS} FROM journal WHERE id = ?",  # noqa: S608 - constant
                       (entry_id,)).fetchone()
    if row is None:
        raise JournalError(f"{where}: no journal transaction {entry_id}")
    entry = _entry(row)
    if entry.ended:
        raise JournalError(f"{where}: journal transaction {entry_id} already ended "
                           f"({entry.state} at {entry.ended_at})")
    return entry


def journal_begin(conn: sqlite3.Connection, entry_id: str, kind: str, state: str,
                  data: Mapping[str, Any], *, now: datetime, patron: str | None = None) -> None:
    """Start transaction ``entry_id`` in the caller's writer transaction."""
    stamp = utc_timestamp(now)
    try:
        conn.execute("INSERT INTO journal (id, kind, state, data, created_at, updated_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (entry_id, kind, state, _json(data, "journal_begin"), stamp, stamp))
    except sqlite3.IntegrityError as exc:
        raise JournalError(f"journal_begin: transaction {entry_id} exists already") from exc
    if patron is not None:
        conn.execute("INSERT INTO journal_patron (journal_id, patron_identifier) VALUES (?, ?)",
                     (entry_id, patron))


def journal_advance(conn: sqlite3.Connection, entry_id: str, state: str,
                    data: Mapping[str, Any] | None = None, *, now: datetime) -> JournalEntry:
    """Move an open transaction to ``state``, merging ``data`` into what it holds."""
    entry = _open_row(conn, entry_id, "journal_advance")
    merged = {**entry.data, **(data or {})}
    stamp = utc_timestamp(now)
    conn.execute("UPDATE journal SET state = ?, data = ?, updated_at = ? WHERE id = ?",
                 (state, _json(merged, "journal_advance"), stamp, entry_id))
    return JournalEntry(entry.id, entry.kind, state, merged, entry.created_at, stamp, None)


def journal_end(conn: sqlite3.Connection, entry_id: str, state: str,
                data: Mapping[str, Any] | None = None, *, now: datetime) -> JournalEntry:
    """End an open transaction in ``state``; its patron identifier is deleted with it."""
    entry = _open_row(conn, entry_id, "journal_end")
    merged = {**entry.data, **(data or {})}
    stamp = utc_timestamp(now)
    conn.execute("UPDATE journal SET state = ?, data = ?, updated_at = ?, ended_at = ? "
                 "WHERE id = ?", (state, _json(merged, "journal_end"), stamp, stamp, entry_id))
    return JournalEntry(entry.id, entry.kind, state, merged, entry.created_at, stamp, stamp)


class Journal:
    """Reads of the journal, and its steps as committed writer operations."""

    def __init__(self, writer: StoreWriter, readers: ReadConnections, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._writer = writer
        self._readers = readers
        self._clock = clock

    # --- reads -------------------------------------------------------------------------------

    def get(self, entry_id: str) -> JournalEntry | None:
        row = self._read(f"SELECT {_COLUMNS} FROM journal WHERE id = ?",  # noqa: S608
                         (entry_id,), "reading a journal transaction")
        return None if row is None else _entry(row)

    def open_entries(self, kind: str | None = None) -> list[JournalEntry]:
        """Unfinished transactions, oldest first (what recovery after a restart looks at)."""
        sql = f"SELECT {_COLUMNS} FROM journal WHERE ended_at IS NULL"  # noqa: S608
        params: tuple[str, ...] = ()
        if kind is not None:
            sql += " AND kind = ?"
            params = (kind,)
        try:
            rows = self._readers.cursor().execute(sql + " ORDER BY created_at, id",
                                                  params).fetchall()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, "reading open journal transactions") from exc
        return [_entry(row) for row in rows]

    def in_states(self, states: tuple[str, ...], *, limit: int = 100) -> list[JournalEntry]:
        """Transactions (open or ended) now in one of ``states``, newest first."""
        marks = ", ".join("?" * len(states))
        sql = (f"SELECT {_COLUMNS} FROM journal WHERE state IN ({marks}) "  # noqa: S608
               "ORDER BY updated_at DESC, id LIMIT ?")
        try:
            rows = self._readers.cursor().execute(sql, (*states, limit)).fetchall()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, "reading journal transactions by state") from exc
        return [_entry(row) for row in rows]

    def open_offline_checkouts(self, patron_identifier: str, *,
                               besides_session: str | None = None) -> int:
        """How many off-line checkouts of this patron wait for their replay (open, of any
        kiosk or earlier session; those of ``besides_session`` not counted)."""
        row = self._read(
            "SELECT count(*) FROM journal AS j JOIN journal_patron AS p ON p.journal_id = j.id "
            "WHERE j.ended_at IS NULL AND j.kind = 'checkout' "
            "AND json_extract(j.data, '$.offline') = 1 AND p.patron_identifier = ? "
            "AND json_extract(j.data, '$.session') IS NOT ?",
            (patron_identifier, besides_session), "counting a patron's off-line checkouts")
        return 0 if row is None else int(row[0])

    def patron_of(self, entry_id: str) -> str | None:
        """The patron identifier an open transaction holds (None once it has ended)."""
        row = self._read("SELECT patron_identifier FROM journal_patron WHERE journal_id = ?",
                         (entry_id,), "reading a journal patron")
        return None if row is None else str(row[0])

    def _read(self, sql: str, params: tuple[Any, ...], doing: str) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self._readers.cursor().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, doing) from exc
        return row

    # --- steps as their own committed operations ---------------------------------------------

    async def prune(self, ended_before: datetime) -> int:
        """Delete transactions that ended before ``ended_before`` (never an open one); how
        many. Their patron identifiers went when they ended (the schema's trigger)."""
        stamp = utc_timestamp(ended_before)

        def prune(conn: sqlite3.Connection) -> int:
            cursor = conn.execute("DELETE FROM journal WHERE ended_at IS NOT NULL "
                                  "AND ended_at < ?", (stamp,))
            return max(cursor.rowcount, 0)

        return await self._writer.submit(prune, name="journal prune")

    async def begin(self, entry_id: str, kind: str, state: str, data: Mapping[str, Any], *,
                    patron: str | None = None) -> None:
        now = self._clock()
        await self._writer.submit(
            lambda conn: journal_begin(conn, entry_id, kind, state, data, now=now,
                                       patron=patron),
            name=f"journal begin {kind}", commit_now=True)

    async def advance(self, entry_id: str, state: str,
                      data: Mapping[str, Any] | None = None) -> JournalEntry:
        now = self._clock()
        return await self._writer.submit(
            lambda conn: journal_advance(conn, entry_id, state, data, now=now),
            name=f"journal {state}", commit_now=True)

    async def end(self, entry_id: str, state: str,
                  data: Mapping[str, Any] | None = None) -> JournalEntry:
        now = self._clock()
        return await self._writer.submit(
            lambda conn: journal_end(conn, entry_id, state, data, now=now),
            name=f"journal end {state}", commit_now=True)
