# SPDX-License-Identifier: Apache-2.0
"""StoreWriter: the one writer of the database, with group commit.

Contract:
- A dedicated thread owns the write connection (WAL, ``synchronous`` per config, see
  :class:`~edge_service.store.connection.Synchronous`). Nothing else writes to the file.
- ``await writer.submit(operation)`` queues ``operation(conn)``; operations run in submission
  order, each inside its own SAVEPOINT within one ``BEGIN IMMEDIATE`` transaction per group.
- A group commits when ``max_batch`` operations have run, when ``max_delay_s`` has passed since
  its first operation, when an operation asks for ``commit_now``, or on ``close()``. The awaited
  call resolves (hopping back with ``loop.call_soon_threadsafe``) only AFTER the COMMIT that holds
  it: a caller that awaited it knows that its state change and its outbox event are durable
  together. Readers never see a change before it is committed.
- Loss bound: a process crash (kill -9) loses only operations not yet acknowledged, at most one
  window (``max_delay_s`` or ``max_batch``). A power cut loses the same with FULL; with NORMAL it
  may also roll back acknowledged commits not yet synced (see ``Synchronous``).
- An operation that raises is rolled back to its savepoint alone; its caller gets the error
  (a :class:`StoreError` as raised, anything else wrapped in :class:`WriteFailed`); the others in
  the group commit as usual and the writer keeps running. If the COMMIT itself fails, every
  operation of the group fails with :class:`CommitFailed`.
- ``close()`` commits what was queued before it, closes the connection and stops the thread.

Operations get the raw ``sqlite3.Connection`` (``WriteConnection``): they must not BEGIN, COMMIT
or ROLLBACK themselves, and they run on the writer thread, so they should be short: a long one
delays every other caller (bootstrap cuts its work into batches for that reason). Cancelling an
awaiting caller does not withdraw its operation.

Checkpoints run on this thread (SQLite's auto-checkpoint at commit), never on the event loop.

Not responsible for: what the operations do (``cache``, ``outbox``), retry policy, reads.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edge_service.store.connection import (
    Synchronous,
    is_busy,
    open_write_connection,
    store_error,
)
from edge_service.store.errors import (
    CommitFailed,
    StoreBusy,
    StoreClosed,
    StoreError,
    WriteFailed,
)

__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_DELAY_S", "StoreWriter", "WriteConnection",
           "WriterCounters"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

WriteConnection = sqlite3.Connection
"""What a write operation receives; named here so that no other package imports sqlite3."""

DEFAULT_MAX_DELAY_S = 1.0
"""Group-commit window: the longest an acknowledged-to-be operation waits for its commit, and the
loss bound of unacknowledged work on a crash. At busy moments (a gate, a bootstrap) one commit
carries many operations; at 1 event/s each window carries about one (bench/store.py measures
the bytes this costs per event)."""

DEFAULT_MAX_BATCH = 500
"""Operations per group commit; bounds the transaction and what one failed commit takes down."""

SAVEPOINT = "libedge_operation"


@dataclass(slots=True)
class WriterCounters:
    """Health counters; read by the daemon's status page and metrics."""

    commits: int = 0
    operations_committed: int = 0
    operations_failed: int = 0
    commits_failed: int = 0
    largest_group: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class _Job:
    operation: Callable[[sqlite3.Connection], Any]
    name: str
    commit_now: bool
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class _Stop:
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class _Group:
    done: list[tuple[_Job, Any]] = field(default_factory=list)
    executed: int = 0


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller gave up (cancelled); the operation ran anyway
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
            error: BaseException | None) -> None:
    try:
        loop.call_soon_threadsafe(_resolve, future, result, error)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        logger.debug("store writer: result for a closed event loop dropped")


class StoreWriter:
    """The one writer; see the module docstring. Create with ``await StoreWriter.open(path)``."""

    def __init__(self, path: Path, *, synchronous: Synchronous = Synchronous.NORMAL,
                 max_delay_s: float = DEFAULT_MAX_DELAY_S,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if not max_delay_s >= 0:
            raise ValueError(f"max_delay_s must be >= 0, got {max_delay_s!r}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch!r}")
        self.path = Path(path)
        self.synchronous = Synchronous(synchronous)
        self.max_delay_s = max_delay_s
        self.max_batch = max_batch
        self.counters = WriterCounters()
        self._queue: queue.SimpleQueue[_Job | _Stop] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._accepting = False

    @classmethod
    async def open(cls, path: Path, *, synchronous: Synchronous = Synchronous.NORMAL,
                   max_delay_s: float = DEFAULT_MAX_DELAY_S,
                   max_batch: int = DEFAULT_MAX_BATCH) -> StoreWriter:
        """Open (create, migrate) the database and start the writer thread."""
        writer = cls(path, synchronous=synchronous, max_delay_s=max_delay_s, max_batch=max_batch)
        await writer.start()
        return writer

    async def start(self) -> None:
        """Open the connection on the writer thread; raises what opening raised."""
        if self._thread is not None:
            raise StoreClosed("writer already started", path=str(self.path))
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(loop, ready),
                                        name="libedge-store-writer", daemon=True)
        self._thread.start()
        try:
            await ready
        except BaseException:
            await asyncio.to_thread(self._thread.join)
            raise
        self._accepting = True

    @property
    def running(self) -> bool:
        return self._accepting

    async def submit(self, operation: Callable[[sqlite3.Connection], T], *,
                     name: str | None = None, commit_now: bool = False) -> T:
        """Run ``operation(conn)`` on the writer; returns its result once it is committed.

        ``commit_now`` closes the window after this operation (a patron is waiting on it).
        """
        if not self._accepting:
            raise StoreClosed("the store writer is not running", path=str(self.path))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        label = name or getattr(operation, "__qualname__", None) or repr(operation)
        self._queue.put(_Job(operation, label, commit_now, future, loop))
        return await future

    async def close(self) -> None:
        """Commit everything queued so far, close the connection, stop the thread."""
        thread = self._thread
        if not self._accepting or thread is None:
            return
        self._accepting = False
        loop = asyncio.get_running_loop()
        stopped: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Stop(stopped, loop))
        if thread.is_alive():
            await stopped
        thread.join()

    # --- the writer thread -------------------------------------------------------------------

    def _run(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = open_write_connection(self.path, self.synchronous)
        except BaseException as exc:  # handed to the awaiting opener, not lost
            _settle(loop, ready, None, exc)
            return
        _settle(loop, ready, None, None)
        stop: _Stop | None = None
        try:
            stop = self._serve(conn)
        finally:
            conn.close()
            if stop is not None:
                _settle(stop.loop, stop.future, None, None)

    def _serve(self, conn: sqlite3.Connection) -> _Stop:
        while True:
            first = self._queue.get()  # blocks: an idle writer costs nothing
            if isinstance(first, _Stop):
                return first
            stop = self._run_group(conn, first)
            if stop is not None:
                return stop

    def _run_group(self, conn: sqlite3.Connection, first: _Job) -> _Stop | None:
        group = _Group()
        deadline = time.monotonic() + self.max_delay_s
        job = first
        stop: _Stop | None = None
        while True:
            self._execute(conn, job, group)
            if job.commit_now or group.executed >= self.max_batch:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                following = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if isinstance(following, _Stop):
                stop = following
                break
            job = following
        self._commit(conn, group)
        return stop

    def _execute(self, conn: sqlite3.Connection, job: _Job, group: _Group) -> None:
        group.executed += 1
        try:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"SAVEPOINT {SAVEPOINT}")
        except sqlite3.Error as exc:
            self._fail(job, store_error(exc, path=str(self.path),
                                        doing=f"starting operation {job.name!r}"))
            return
        try:
            result = job.operation(conn)
            conn.execute(f"RELEASE {SAVEPOINT}")
        except Exception as exc:  # one operation's failure is its caller's
            self._undo(conn, job, group, exc)
            return
        group.done.append((job, result))

    def _undo(self, conn: sqlite3.Connection, job: _Job, group: _Group, exc: Exception) -> None:
        try:
            conn.execute(f"ROLLBACK TO {SAVEPOINT}")
            conn.execute(f"RELEASE {SAVEPOINT}")
        except sqlite3.Error as undo_exc:
            logger.warning("store writer: rollback of %r failed: %s", job.name, undo_exc)
        if not conn.in_transaction:
            # SQLite abandoned the whole transaction (disk full, I/O error): the operations
            # before this one in the group are gone too.
            lost = CommitFailed(operations=len(group.done), path=str(self.path),
                                cause=f"transaction aborted by {job.name!r}: {exc}")
            for earlier, _ in group.done:
                self._fail(earlier, lost)
            group.done.clear()
        self._fail(job, self._operation_error(job, exc))

    def _operation_error(self, job: _Job, exc: Exception) -> StoreError:
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, sqlite3.Error) and is_busy(exc):
            error: StoreError = StoreBusy(f"operation {job.name!r}: database is locked",
                                          path=str(self.path))
        else:
            error = WriteFailed(operation=job.name, cause=f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error

    def _commit(self, conn: sqlite3.Connection, group: _Group) -> None:
        if not conn.in_transaction:
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error as rollback_exc:
                logger.warning("store writer: rollback after failed commit: %s", rollback_exc)
            self.counters.commits_failed += 1
            failed = CommitFailed(operations=len(group.done), cause=str(exc), path=str(self.path))
            failed.__cause__ = exc
            for job, _ in group.done:
                self._fail(job, failed)
            return
        self.counters.commits += 1
        self.counters.operations_committed += len(group.done)
        self.counters.largest_group = max(self.counters.largest_group, len(group.done))
        for job, result in group.done:
            _settle(job.loop, job.future, result, None)

    def _fail(self, job: _Job, error: StoreError) -> None:
        self.counters.operations_failed += 1
        self.counters.last_error = str(error)
        _settle(job.loop, job.future, None, error)
