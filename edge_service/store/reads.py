# SPDX-License-Identifier: Apache-2.0
"""Reads on the store's read connections, with the store's errors: the small base the technical
services' tables (``acquisitions``, ``ill``, ``campaigns``) share.

Reads are synchronous calls on this thread's read-only connection and see committed data only
(see ``connection.ReadConnections``); a SQLite failure becomes a :class:`StoreError` naming
what was being read.

Not responsible for: writes (they run as operations of the one ``StoreWriter``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from edge_service.store.connection import ReadConnections
from edge_service.store.errors import InvalidRecord

__all__ = ["TableReads", "json_text"]


def json_text(data: Any, where: str) -> str:
    """``data`` as compact JSON text for a JSON column; InvalidRecord if it is not JSON."""
    try:
        return json.dumps(data, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"not JSON: {exc}", where=where) from exc


class TableReads:
    """``_one`` and ``_all`` on the read connections."""

    def __init__(self, readers: ReadConnections) -> None:
        self._readers = readers

    def _one(self, sql: str, params: tuple[Any, ...], doing: str) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self._readers.cursor().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, doing) from exc
        return row

    def _all(self, sql: str, params: tuple[Any, ...], doing: str) -> list[tuple[Any, ...]]:
        try:
            rows: list[tuple[Any, ...]] = self._readers.cursor().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, doing) from exc
        return rows

