# SPDX-License-Identifier: Apache-2.0
"""Opening SQLite connections the one way this project does, and per-thread read connections.

Contract:
- ``open_write_connection`` creates the file owner-only (0600: journal rows may hold a patron
  identifier while a transaction runs; SQLite gives ``-wal``/``-shm`` the same mode), refuses a
  file that is not a SQLite database with :class:`DatabaseUnreadable`, refuses a newer schema
  before changing anything, then sets WAL, ``synchronous``, the busy timeout and foreign keys,
  and migrates. Autocommit mode (``isolation_level=None``): the writer issues BEGIN/COMMIT itself.
- :class:`ReadConnections` hands each thread its own read-only connection (``mode=ro``), opened
  on first use; ``close()`` closes them all. Readers never write, so they never take the write
  lock and never meet "database is locked" (reference §2.2).

Not responsible for: transactions and group commit (``writer``), queries (``cache``, ``outbox``).
"""

from __future__ import annotations

import enum
import os
import sqlite3
import threading
from pathlib import Path

from edge_service.store.errors import (
    DatabaseUnreadable,
    SchemaTooNew,
    StoreBusy,
    StoreClosed,
    StoreError,
)
from edge_service.store.schema import (
    SCHEMA_VERSION,
    migrate,
    register_functions,
    schema_version,
)

BUSY_TIMEOUT_MS = 5000
"""How long a connection waits for another process's lock (an admin's sqlite3 shell) before
SQLITE_BUSY; the writer is the only writer of its own process, so this is the cross-process case."""

PAGE_SIZE_BYTES = 4096
"""Set once, when the file is created. 4 KiB matches the OS page and SD programming granularity:
a smaller page shrinks WAL frames but a random row update still dirties a whole 4 KiB OS page at
checkpoint time (measured in bench/store.py), and the 1M-item cache gets deeper b-trees."""

JOURNAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024
"""After a checkpoint the WAL file is truncated to this size, so one large bootstrap batch does not
leave a large WAL file on the card for good."""

READER_MMAP_BYTES = 0
"""Readers copy pages (``pread``) instead of mapping the file. Mapped, an I/O error on a page is
a SIGBUS that kills the daemon instead of an error code (sqlite.org mmap.html), and a failing
SD card is the failure this box meets most. And the gate's lookups of items it has not seen
for a while fault their mapped pages in: its alarm p99 (``bench/gate.py``) was 2.2-3.1 ms
with the outbox idle, 1.2-1.3 ms unmapped. Mapping (256 MiB) made warm point lookups ~10 %
faster (113,000 vs 105,000/s in ``bench/store.py``); ``StoreConfig.reader_mmap_bytes`` still
turns it on."""

class Synchronous(enum.StrEnum):
    """``PRAGMA synchronous`` for the writer (WAL mode), reference §2.1.

    NORMAL: a commit is appended to the WAL without fsync. It survives a process crash (kill -9)
    always; on a power cut or OS crash, commits since the WAL was last synced (at checkpoints, by
    default every ~1000 pages, or when the kernel writes its dirty pages back, ~30 s) may roll
    back. The database stays consistent. No fsync per commit: the cheap choice for SD cards.
    FULL: every group commit fsyncs the WAL, so an acknowledged operation survives a power cut
    (if the card honours flushes); what a power cut loses is bounded by the group-commit window
    (operations submitted but not yet acknowledged). Costs one fsync per group commit.
    """

    NORMAL = "NORMAL"
    FULL = "FULL"


def is_busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") in {"SQLITE_BUSY", "SQLITE_LOCKED"}


def store_error(exc: sqlite3.Error, *, path: str, doing: str) -> StoreError:
    """The store's error for a SQLite failure while ``doing`` something."""
    if is_busy(exc):
        return StoreBusy(f"{doing}: database is locked by another connection", path=path)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.IntegrityError | sqlite3.OperationalError | sqlite3.ProgrammingError):
        return DatabaseUnreadable(f"{doing}: not a readable SQLite database", path=path,
                                  cause=str(exc))
    return StoreError(f"{doing}: {exc}", path=path)


def open_write_connection(path: Path, synchronous: Synchronous) -> sqlite3.Connection:
    """The writer's connection, configured and migrated. Call it on the thread that will own it."""
    name = str(path)
    if not path.exists():
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise DatabaseUnreadable("cannot create the database file", path=name,
                                     cause=str(exc)) from exc
    try:
        conn = sqlite3.connect(name, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise DatabaseUnreadable("cannot open the database", path=name, cause=str(exc)) from exc
    try:
        _configure_writer(conn, path=name, synchronous=synchronous)
    except BaseException:
        conn.close()
        raise
    return conn


def _configure_writer(conn: sqlite3.Connection, *, path: str, synchronous: Synchronous) -> None:
    try:
        # The first read of the header: a non-database file fails here, before any write.
        version = schema_version(conn)
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.Error as exc:
        raise DatabaseUnreadable("not a readable SQLite database", path=path,
                                 cause=str(exc)) from exc
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(path=path, found=version, supported=SCHEMA_VERSION)
    try:
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE_BYTES}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise DatabaseUnreadable("cannot switch to WAL mode", path=path, cause=str(mode))
        conn.execute(f"PRAGMA synchronous = {Synchronous(synchronous).value}")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}")
        conn.execute("PRAGMA foreign_keys = ON")
        # Deleted rows are zeroed, not left in the pages' free space: a patron's card number,
        # kept only while a transaction needs it, must not stay readable in the file. Many
        # builds (Debian's) have this on by default; others do not.
        conn.execute("PRAGMA secure_delete = ON")
    except sqlite3.Error as exc:
        raise store_error(exc, path=path, doing="configuring the writer connection") from exc
    register_functions(conn)
    migrate(conn, path=path)


def open_read_connection(path: Path, *, mmap_bytes: int = READER_MMAP_BYTES) -> sqlite3.Connection:
    """A read-only connection (``mode=ro``); the file must exist and be migrated."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise DatabaseUnreadable("cannot open the database for reading", path=str(path),
                                 cause=str(exc)) from exc
    try:
        conn.execute(f"PRAGMA mmap_size = {int(mmap_bytes)}")
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise store_error(exc, path=str(path), doing="configuring a reader connection") from exc
    return conn


class ReadConnections:
    """One read-only connection per thread, opened on first use by that thread.

    ``check_same_thread`` is off only so that ``close()`` can close every thread's connection
    from the owner's thread at shutdown; a connection is still used by its own thread only.
    """

    def __init__(self, path: Path, *, mmap_bytes: int = READER_MMAP_BYTES) -> None:
        self.path = path
        self._mmap_bytes = mmap_bytes
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def error(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """The store's error for a read that failed while ``doing`` something: StoreClosed once
        these connections are closed, else as :func:`store_error` maps it."""
        if self._closed:
            return StoreClosed(f"{doing}: the store is closed", path=str(self.path))
        return store_error(exc, path=str(self.path), doing=doing)

    def cursor(self) -> sqlite3.Cursor:
        """This thread's cursor on this thread's connection (reused: a fresh cursor per lookup
        costs more than the lookup's b-tree descent)."""
        try:
            cursor: sqlite3.Cursor = self._local.cursor
        except AttributeError:
            cursor = self._open()
        return cursor

    def _open(self) -> sqlite3.Cursor:
        with self._lock:
            if self._closed:
                raise StoreClosed("read connections are closed", path=str(self.path))
            conn = open_read_connection(self.path, mmap_bytes=self._mmap_bytes)
            self._all.append(conn)
        self._local.cursor = cursor = conn.cursor()
        return cursor

    def close(self) -> None:
        """Close every thread's connection; later ``get()`` calls raise :class:`StoreClosed`."""
        with self._lock:
            self._closed = True
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()
        # This thread's slot would otherwise keep a closed connection; other threads' slots go
        # with their thread, and a closed connection there fails with ProgrammingError -> mapped.
        self._local = threading.local()
