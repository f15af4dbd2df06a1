# SPDX-License-Identifier: Apache-2.0
"""Store: the one SQLite file of a box, opened as a whole (writer, readers, cache, outbox).

Contract: ``async with await Store.open(config) as store`` (or ``await store.close()``) owns
every connection and the writer thread; the daemon's lifespan holds one. Closing flushes the
writer (everything already submitted is committed) and then closes every reader connection.

Not responsible for: where the file lives and the config's validation (``edge_service.config``
builds a :class:`StoreConfig`), what is stored (``cache``, ``outbox``).
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from edge_service.store.acquisitions import AcquisitionsStore
from edge_service.store.cache import ItemCache
from edge_service.store.campaigns import Campaigns
from edge_service.store.connection import (
    READER_MMAP_BYTES,
    ReadConnections,
    Synchronous,
)
from edge_service.store.ill import IllLoans
from edge_service.store.journal import Journal
from edge_service.store.outbox import Outbox
from edge_service.store.sync_state import StateValue, read_state, write_state
from edge_service.store.writer import DEFAULT_MAX_BATCH, DEFAULT_MAX_DELAY_S, StoreWriter


@dataclass(frozen=True, slots=True)
class StoreConfig:
    path: Path
    synchronous: Synchronous = Synchronous.NORMAL
    max_delay_s: float = DEFAULT_MAX_DELAY_S
    """Group-commit window; the documented loss bound (see ``StoreWriter``)."""
    max_batch: int = DEFAULT_MAX_BATCH
    reader_mmap_bytes: int = READER_MMAP_BYTES


class Store:
    """The opened database: ``writer``, ``cache``, ``outbox``, ``journal``, the technical
    services' tables (``acquisitions``, ``ill``, ``campaigns``) and the read connections."""

    def __init__(self, writer: StoreWriter, readers: ReadConnections) -> None:
        self.writer = writer
        self.readers = readers
        self.cache = ItemCache(writer, readers)
        self.outbox = Outbox(writer, readers)
        self.journal = Journal(writer, readers)
        self.acquisitions = AcquisitionsStore(writer, readers)
        self.ill = IllLoans(readers)
        self.campaigns = Campaigns(readers)

    @classmethod
    async def open(cls, config: StoreConfig) -> Store:
        """Create or open the file, refuse a newer schema, migrate, start the writer."""
        writer = await StoreWriter.open(config.path, synchronous=config.synchronous,
                                        max_delay_s=config.max_delay_s,
                                        max_batch=config.max_batch)
        return cls(writer, ReadConnections(config.path, mmap_bytes=config.reader_mmap_bytes))

    async def node_secret(self, name: str, size: int = 32) -> bytes:
        """A random secret of this box, made once and kept in the file (e.g. the salt of the
        patron hashes: stable across restarts, never leaves the box)."""
        key = f"secret.{name}"

        def read_or_make(conn: sqlite3.Connection) -> str:
            value = read_state(conn, key)
            if isinstance(value, str) and len(value) == size * 2:
                return value
            made = secrets.token_hex(size)
            write_state(conn, key, made)
            return made

        return bytes.fromhex(await self.writer.submit(read_or_make, name=f"secret {name}",
                                                      commit_now=True))

    def read_state(self, key: str) -> StateValue:
        """A ``sync_state`` value as committed (None when unset), read on this thread's read
        connection; a SQLite failure is a :class:`StoreError`."""
        try:
            return read_state(self.readers.cursor().connection, key)
        except sqlite3.Error as exc:
            raise self.readers.error(exc, f"reading {key!r}") from exc

    async def close(self) -> None:
        await self.writer.close()
        self.readers.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()
