# SPDX-License-Identifier: Apache-2.0
"""Interlibrary loans on loan to us: what the staff station recorded when it received another
library's item, until it is returned.

Contract:
- One row per loan, keyed by the item's identity (owner institution = the lending library,
  in upper case as the item cache keeps it: ISILs compare without case; primary item id),
  with the tag's UID, the ILL transaction number, our borrowing institution
  and whether the tag itself carries the ILL elements (``tag_written``).
- ``write_ill_loan``/``delete_ill_loan`` are the changes for use INSIDE a writer operation, so a
  loan and its ``lib.ill.v1`` event commit together. A returned loan's row is deleted: the
  events are its history, and the gate asks only "is it on loan to us now".
- Reads see committed data only; ``on_loan`` is a point lookup cheap enough for the gate's
  field listener (the same order as ``ItemCache.get``).

Not responsible for: what the tag holds (the ILL workflow writes and verifies it).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from edge_service.store.reads import TableReads

__all__ = ["IllLoan", "IllLoans", "delete_ill_loan", "write_ill_loan"]

_COLUMNS = ("owner_institution, primary_item_id, uid, transaction_number, "
            "borrowing_institution, data_model, tag_written, received_at")


@dataclass(frozen=True, slots=True)
class IllLoan:
    owner_institution: str
    """The lending library (the item's owner)."""
    primary_item_id: str
    uid: str | None
    transaction_number: str | None
    borrowing_institution: str
    """Our ISIL, as written (or meant to be written) to the tag."""
    data_model: str | None
    tag_written: bool
    received_at: str

    def to_json(self) -> dict[str, Any]:
        return {"owner_institution": self.owner_institution,
                "primary_item_id": self.primary_item_id, "uid": self.uid,
                "transaction_number": self.transaction_number,
                "borrowing_institution": self.borrowing_institution,
                "data_model": self.data_model, "tag_written": self.tag_written,
                "received_at": self.received_at}


def _loan(row: tuple[Any, ...]) -> IllLoan:
    return IllLoan(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7])


def write_ill_loan(conn: sqlite3.Connection, loan: IllLoan) -> None:
    """Record (or replace: received again) a loan, in the caller's writer transaction."""
    conn.execute(f"INSERT OR REPLACE INTO ill_loan ({_COLUMNS}) "  # noqa: S608 - constant
                 "VALUES (upper(?), ?, ?, ?, ?, ?, ?, ?)",
                 (loan.owner_institution, loan.primary_item_id, loan.uid,
                  loan.transaction_number, loan.borrowing_institution, loan.data_model,
                  int(loan.tag_written), loan.received_at))


def delete_ill_loan(conn: sqlite3.Connection, owner_institution: str,
                    primary_item_id: str) -> bool:
    """End a loan (returned); False when there was none."""
    deleted = conn.execute("DELETE FROM ill_loan WHERE owner_institution = upper(?) AND "
                           "primary_item_id = ?", (owner_institution, primary_item_id)).rowcount
    return bool(deleted)


class IllLoans(TableReads):
    """Reads of the open loans."""

    def get(self, owner_institution: str, primary_item_id: str) -> IllLoan | None:
        row = self._one(f"SELECT {_COLUMNS} FROM ill_loan "  # noqa: S608 - constant
                        "WHERE owner_institution = upper(?) "
                        "AND primary_item_id = ?", (owner_institution, primary_item_id),
                        "reading an ILL loan")
        return None if row is None else _loan(row)

    def by_uid(self, uid: str) -> IllLoan | None:
        row = self._one(f"SELECT {_COLUMNS} FROM ill_loan WHERE uid = ?",  # noqa: S608
                        (uid,), "reading an ILL loan by tag")
        return None if row is None else _loan(row)

    def on_loan(self, owner_institution: str, primary_item_id: str) -> bool:
        """Whether the item is on loan to us now (the gate's question)."""
        return self._one("SELECT 1 FROM ill_loan WHERE owner_institution = upper(?) AND "
                         "primary_item_id = ?", (owner_institution, primary_item_id),
                         "looking up an ILL loan") is not None

    def open_loans(self, limit: int = 500) -> list[IllLoan]:
        """Open loans, newest first."""
        rows = self._all(f"SELECT {_COLUMNS} FROM ill_loan "  # noqa: S608 - constant
                         "ORDER BY received_at DESC LIMIT ?", (limit,), "listing ILL loans")
        return [_loan(row) for row in rows]
