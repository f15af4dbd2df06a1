# SPDX-License-Identifier: Apache-2.0
"""The catalog gateway's own state in one SQLite file: per-site delta sequence numbers, the item
records it has published (for snapshots), and the dedupe window of answered requests.

Contract: several gateway processes may open the same file (one host, or a shared volume with
working locks); every change is one ``BEGIN IMMEDIATE`` transaction, so sequence numbers are
handed out exactly once and grow by one, and a request id is claimed by one process only.
Calls are async: each runs on this object's one worker thread (sqlite3 connections are not
shared between threads), so the event loop never waits on a disk write.

Values are opaque here: item records and replies are JSON text the gateway built and checked.
Moving this state to a shared database (PostgreSQL) for larger setups: docs/gateway.md.

Not responsible for: what a record or a reply means (``edge_service.gateway``), MQTT.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from edge_service.store.errors import StoreClosed, WriteFailed

BUSY_TIMEOUT_MS = 10_000
"""Another gateway process holds the write lock for one short transaction at a time."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS site_seq (site TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS item (
    site TEXT NOT NULL, owner TEXT NOT NULL, item_id TEXT NOT NULL,
    version INTEGER NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (site, owner, item_id));
CREATE TABLE IF NOT EXISTS request (
    requester TEXT NOT NULL, corr TEXT NOT NULL, claimed_ms INTEGER NOT NULL,
    reply BLOB, PRIMARY KEY (requester, corr));
CREATE INDEX IF NOT EXISTS request_age ON request (claimed_ms);
"""

T = TypeVar("T")
Claim = Literal["new", "running"]


@dataclass(frozen=True, slots=True)
class ItemChange:
    """One item the gateway saw change: ``record(version)`` renders its JSON text."""

    site: str
    owner: str
    item_id: str
    record: Callable[[int], str]


class GatewayState:
    """Open with ``await GatewayState.open(path)``; ``await close()`` at the end."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-state")
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: str | Path) -> GatewayState:
        state = cls(path)
        try:
            await state._run(state._open)
        except BaseException:
            state._executor.shutdown(wait=True)
            raise
        return state

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=True)

    # --- thread side -------------------------------------------------------------------------

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    def _write(self, function: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreClosed("the gateway state is closed", path=str(self.path))
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = function(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise WriteFailed(operation="gateway state", cause=str(exc)) from exc
        return result

    def _read(self, function: Callable[[sqlite3.Connection], T]) -> T:
        # One read transaction, so a snapshot's rows and its seq agree.
        return self._write(function)

    # --- requests ----------------------------------------------------------------------------

    async def claim_request(self, requester: str, corr: str, now_ms: int) -> Claim | bytes:
        """``"new"``: this caller runs it; ``"running"``: another instance (or an earlier
        delivery) is running it; bytes: the stored reply of an answered one."""
        def claim(conn: sqlite3.Connection) -> Claim | bytes:
            row = conn.execute("SELECT reply FROM request WHERE requester = ? AND corr = ?",
                               (requester, corr)).fetchone()
            if row is None:
                conn.execute("INSERT INTO request (requester, corr, claimed_ms) VALUES (?, ?, ?)",
                             (requester, corr, now_ms))
                return "new"
            return "running" if row[0] is None else bytes(row[0])
        return await self._run(lambda: self._write(claim))

    async def store_reply(self, requester: str, corr: str, reply: bytes) -> None:
        await self._run(lambda: self._write(lambda conn: conn.execute(
            "UPDATE request SET reply = ? WHERE requester = ? AND corr = ?",
            (reply, requester, corr))))

    async def release_request(self, requester: str, corr: str) -> None:
        """Forget a claim whose run failed transiently, so a redelivery runs it again."""
        await self._run(lambda: self._write(lambda conn: conn.execute(
            "DELETE FROM request WHERE requester = ? AND corr = ? AND reply IS NULL",
            (requester, corr))))

    async def prune_requests(self, older_than_ms: int) -> int:
        def prune(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM request WHERE claimed_ms < ?",
                                (older_than_ms,)).rowcount
        return await self._run(lambda: self._write(prune))

    # --- items and sequences -----------------------------------------------------------------

    async def record_changes(self, site: str, changes: Iterable[ItemChange]
                             ) -> tuple[int, list[str]]:
        """Store the changed items of ``site`` with version = old + 1 and take the site's next
        delta seq, in one transaction: (seq, the records' JSON)."""
        batch = list(changes)

        def record(conn: sqlite3.Connection) -> tuple[int, list[str]]:
            rendered = []
            for change in batch:
                row = conn.execute(
                    "SELECT version FROM item WHERE site = ? AND owner = ? AND item_id = ?",
                    (site, change.owner, change.item_id)).fetchone()
                version = 1 if row is None else int(row[0]) + 1
                text = change.record(version)
                conn.execute(
                    "INSERT INTO item (site, owner, item_id, version, record) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (site, owner, item_id) DO UPDATE SET "
                    "version = excluded.version, record = excluded.record",
                    (site, change.owner, change.item_id, version, text))
                rendered.append(text)
            return _next(conn, "site_seq", "site", site), rendered
        return await self._run(lambda: self._write(record))

    async def snapshot(self, site: str) -> tuple[int, list[str]]:
        """(the site's current delta seq, every item record of the site), consistent."""
        def read(conn: sqlite3.Connection) -> tuple[int, list[str]]:
            row = conn.execute("SELECT seq FROM site_seq WHERE site = ?", (site,)).fetchone()
            records = [r[0] for r in conn.execute(
                "SELECT record FROM item WHERE site = ? ORDER BY owner, item_id", (site,))]
            return (0 if row is None else int(row[0])), records
        return await self._run(lambda: self._read(read))

    async def site_seq(self, site: str) -> int:
        seq, _ = await self._run(lambda: self._read(lambda conn: (
            _current(conn, "site_seq", "site", site), None)))
        return seq


def _current(conn: sqlite3.Connection, table: str, key: str, value: str) -> int:
    row = conn.execute(f"SELECT seq FROM {table} WHERE {key} = ?",  # noqa: S608 - constants
                       (value,)).fetchone()
    return 0 if row is None else int(row[0])


def _next(conn: sqlite3.Connection, table: str, key: str, value: str) -> int:
    seq = _current(conn, table, key, value) + 1
    conn.execute(f"INSERT INTO {table} ({key}, seq) VALUES (?, ?) "  # noqa: S608 - constants
                 f"ON CONFLICT ({key}) DO UPDATE SET seq = excluded.seq", (value, seq))
    return seq
