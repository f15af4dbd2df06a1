# SPDX-License-Identifier: Apache-2.0
"""Acquisitions receiving: the copies the catalog expects from suppliers, and the deliveries
read against them at a staff station.

Contract:
- ``expect`` stores expected copies (from the catalog's ``acq.expect`` command or an imported
  file), one row per copy keyed by the primary item id the catalog gave it. A copy not yet
  received is replaced by a newer word on it; a received copy is kept as it is (counted in
  ``ExpectResult.kept``): what was received cannot be un-received by a late message.
- ``write_delivery``, ``write_delivery_tag`` and ``write_received`` are the changes for use
  INSIDE a writer operation, so a delivery's state, a copy marked received and the receiving
  event commit together.
- Reads see committed data only.

Not responsible for: matching tags to copies or validating the catalog's values (the
acquisitions workflow does both), MQTT.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_service.store.connection import ReadConnections
from edge_service.store.model import utc_now, utc_timestamp
from edge_service.store.reads import TableReads, json_text
from edge_service.store.writer import StoreWriter

__all__ = ["AcquisitionsStore", "DeliveryRow", "DeliveryTagRow", "ExpectResult",
           "ExpectedCopy", "write_delivery", "write_delivery_tag", "write_received"]

_COPY_COLUMNS = ("primary_item_id, order_number, order_line, gs1_product_identifier, "
                 "supplier_identifier, title, type_of_usage, delivery_id, received_uid, "
                 "received_at")


@dataclass(frozen=True, slots=True)
class ExpectedCopy:
    """One copy a supplier should deliver, as the catalog described it."""

    primary_item_id: str
    """The library's id for the copy, written to its tag when it is received."""
    order_number: str
    order_line: str | None = None
    gs1_product_identifier: str | None = None
    supplier_identifier: str | None = None
    title: str | None = None
    type_of_usage: int | None = None
    """ISO 28560-1 type of usage to write (None: the library's default, circulating)."""
    delivery_id: str | None = None
    received_uid: str | None = None
    received_at: str | None = None

    @property
    def received(self) -> bool:
        return self.received_uid is not None

    def to_json(self) -> dict[str, Any]:
        return {"primary_item_id": self.primary_item_id, "order_number": self.order_number,
                "order_line": self.order_line,
                "gs1_product_identifier": self.gs1_product_identifier,
                "supplier_identifier": self.supplier_identifier, "title": self.title,
                "type_of_usage": self.type_of_usage, "delivery_id": self.delivery_id,
                "received_uid": self.received_uid, "received_at": self.received_at}


@dataclass(frozen=True, slots=True)
class ExpectResult:
    stored: int
    """Copies new or replaced."""
    kept: tuple[str, ...]
    """Copies already received, left as they were."""


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: str
    station: str
    state: str
    """``reading``, ``accepted`` or ``closed``."""
    data: dict[str, Any]
    opened_at: str
    closed_at: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryTagRow:
    uid: str
    outcome: str
    """``received`` (matched a copy), ``unexpected`` or ``duplicate``."""
    primary_item_id: str | None
    programmed: bool
    data: dict[str, Any] = field(default_factory=dict)


def _copy(row: tuple[Any, ...]) -> ExpectedCopy:
    return ExpectedCopy(*row)


def write_received(conn: sqlite3.Connection, primary_item_id: str, uid: str,
                   delivery_id: str, *, now: datetime) -> None:
    """Mark an expected copy received (by tag ``uid`` in ``delivery_id``)."""
    conn.execute("UPDATE acq_expected SET delivery_id = ?, received_uid = ?, received_at = ? "
                 "WHERE primary_item_id = ?",
                 (delivery_id, uid, utc_timestamp(now), primary_item_id))


def write_delivery(conn: sqlite3.Connection, row: DeliveryRow) -> None:
    """Create or update a delivery."""
    conn.execute("INSERT INTO acq_delivery (id, station, state, data, opened_at, closed_at) "
                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                 "state = excluded.state, data = excluded.data, closed_at = excluded.closed_at",
                 (row.id, row.station, row.state, json_text(row.data, "delivery"),
                  row.opened_at, row.closed_at))


def write_delivery_tag(conn: sqlite3.Connection, delivery_id: str, row: DeliveryTagRow, *,
                       now: datetime) -> None:
    """Create or update one tag of a delivery."""
    conn.execute("INSERT INTO acq_delivery_tag (delivery_id, uid, outcome, primary_item_id, "
                 "programmed, data, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                 "ON CONFLICT (delivery_id, uid) DO UPDATE SET outcome = excluded.outcome, "
                 "primary_item_id = excluded.primary_item_id, "
                 "programmed = excluded.programmed, data = excluded.data, "
                 "updated_at = excluded.updated_at",
                 (delivery_id, row.uid, row.outcome, row.primary_item_id, int(row.programmed),
                  json_text(row.data, "delivery tag"), utc_timestamp(now)))


class AcquisitionsStore(TableReads):
    """The expected copies and the deliveries; see the module docstring."""

    def __init__(self, writer: StoreWriter, readers: ReadConnections, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(readers)
        self._writer = writer
        self._clock = clock

    # --- expected copies ---------------------------------------------------------------------

    async def expect(self, copies: Iterable[ExpectedCopy], *, source: str) -> ExpectResult:
        """Store ``copies`` in one transaction (see the module docstring)."""
        batch = list(copies)
        stamp = utc_timestamp(self._clock())

        def store(conn: sqlite3.Connection) -> ExpectResult:
            kept: list[str] = []
            stored = 0
            for copy in batch:
                row = conn.execute("SELECT received_uid FROM acq_expected WHERE "
                                   "primary_item_id = ?", (copy.primary_item_id,)).fetchone()
                if row is not None and row[0] is not None:
                    kept.append(copy.primary_item_id)
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO acq_expected (primary_item_id, order_number, "
                    "order_line, gs1_product_identifier, supplier_identifier, title, "
                    "type_of_usage, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (copy.primary_item_id, copy.order_number, copy.order_line,
                     copy.gs1_product_identifier, copy.supplier_identifier, copy.title,
                     copy.type_of_usage, source, stamp))
                stored += 1
            return ExpectResult(stored, tuple(kept))

        return await self._writer.submit(store, name="expected copies", commit_now=True)

    def expected_copy(self, primary_item_id: str) -> ExpectedCopy | None:
        row = self._one(f"SELECT {_COPY_COLUMNS} FROM acq_expected "  # noqa: S608 - constant
                        "WHERE primary_item_id = ?", (primary_item_id,),
                        "reading an expected copy")
        return None if row is None else _copy(row)

    def expected_for(self, order_number: str, gs1_product_identifier: str | None
                     ) -> list[ExpectedCopy]:
        """The copies of an order's lines for one product (every copy of the order when the
        product is not given), in line then item id order."""
        sql = f"SELECT {_COPY_COLUMNS} FROM acq_expected WHERE order_number = ?"  # noqa: S608
        params: tuple[str, ...] = (order_number,)
        if gs1_product_identifier is not None:
            sql += " AND gs1_product_identifier = ?"
            params += (gs1_product_identifier,)
        rows = self._all(sql + " ORDER BY order_line, primary_item_id", params,
                         "reading an order's copies")
        return [_copy(row) for row in rows]

    def expected_of_orders(self, orders: Sequence[str]) -> list[ExpectedCopy]:
        if not orders:
            return []
        marks = ", ".join("?" * len(orders))
        rows = self._all(f"SELECT {_COPY_COLUMNS} FROM acq_expected "  # noqa: S608 - marks
                         f"WHERE order_number IN ({marks}) ORDER BY order_number, order_line, "
                         "primary_item_id", tuple(orders), "reading orders' copies")
        return [_copy(row) for row in rows]

    def expected_counts(self) -> tuple[int, int]:
        """(copies expected and not received, copies received)."""
        row = self._one("SELECT count(*) - count(received_uid), count(received_uid) "
                        "FROM acq_expected", (), "counting expected copies")
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    # --- deliveries --------------------------------------------------------------------------

    def open_delivery(self, station: str) -> DeliveryRow | None:
        """The station's delivery that is not closed (the newest, should there be several)."""
        row = self._one("SELECT id, station, state, data, opened_at, closed_at FROM acq_delivery "
                        "WHERE station = ? AND closed_at IS NULL ORDER BY opened_at DESC",
                        (station,), "reading the open delivery")
        return None if row is None else _delivery(row)

    def delivery(self, delivery_id: str) -> DeliveryRow | None:
        row = self._one("SELECT id, station, state, data, opened_at, closed_at FROM acq_delivery "
                        "WHERE id = ?", (delivery_id,), "reading a delivery")
        return None if row is None else _delivery(row)

    def delivery_tags(self, delivery_id: str) -> list[DeliveryTagRow]:
        rows = self._all("SELECT uid, outcome, primary_item_id, programmed, data FROM "
                         "acq_delivery_tag WHERE delivery_id = ? ORDER BY updated_at, uid",
                         (delivery_id,), "reading a delivery's tags")
        return [DeliveryTagRow(r[0], r[1], r[2], bool(r[3]), json.loads(r[4])) for r in rows]


def _delivery(row: tuple[Any, ...]) -> DeliveryRow:
    data: Mapping[str, Any] = json.loads(row[3])
    return DeliveryRow(row[0], row[1], row[2], dict(data), row[4], row[5])
