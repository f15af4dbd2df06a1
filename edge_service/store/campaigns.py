# SPDX-License-Identifier: Apache-2.0
"""Migration campaigns: which collection is being converted to the library's data model, and
what happened to each tag that passed a reader taking part.

Contract:
- ``campaign`` rows: name, the source models to convert, an estimate of the collection's size
  (for "pending by estimate"), whether data the target cannot hold may be dropped, the state
  (``active`` until finished).
- ``campaign_tag`` rows, one per tag per campaign: the outcome (``converted``, ``failed``,
  ``already`` in the target model, ``skipped``: blank, unknown or another model), attempts, the
  tag health survey (JSON) and the last failure's text.
- ``write_campaign``/``write_campaign_tag`` are the changes for use INSIDE a writer operation.
- Reads see committed data only; ``counts`` is one aggregate query, cheap enough to run on every
  progress message.

Not responsible for: converting or surveying tags (``workflows.campaigns``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_service.store.model import utc_timestamp
from edge_service.store.reads import TableReads, json_text

__all__ = ["CampaignRow", "CampaignTagRow", "Campaigns", "write_campaign",
           "write_campaign_tag"]

_CAMPAIGN = "id, name, source_models, estimate, allow_loss, state, created_at, finished_at"
_TAG = "uid, outcome, source_model, primary_item_id, attempts, health, detail, updated_at"


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: str
    name: str
    source_models: tuple[str, ...]
    estimate: int | None
    allow_loss: bool
    state: str
    created_at: str
    finished_at: str | None = None


@dataclass(frozen=True, slots=True)
class CampaignTagRow:
    uid: str
    outcome: str
    source_model: str | None
    primary_item_id: str | None
    attempts: int
    health: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None
    updated_at: str = ""


def write_campaign(conn: sqlite3.Connection, row: CampaignRow) -> None:
    conn.execute(f"INSERT INTO campaign ({_CAMPAIGN}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
                 "ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                 "finished_at = excluded.finished_at",
                 (row.id, row.name, json_text(list(row.source_models), "campaign"),
                  row.estimate, int(row.allow_loss), row.state, row.created_at,
                  row.finished_at))


def write_campaign_tag(conn: sqlite3.Connection, campaign_id: str, row: CampaignTagRow, *,
                       now: datetime) -> None:
    conn.execute(f"INSERT OR REPLACE INTO campaign_tag (campaign_id, {_TAG}) "  # noqa: S608
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (campaign_id, row.uid, row.outcome, row.source_model, row.primary_item_id,
                  row.attempts, json_text(row.health, "campaign tag"), row.detail,
                  utc_timestamp(now)))


def _campaign(row: tuple[Any, ...]) -> CampaignRow:
    return CampaignRow(row[0], row[1], tuple(json.loads(row[2])), row[3], bool(row[4]),
                       row[5], row[6], row[7])


def _tag(row: tuple[Any, ...]) -> CampaignTagRow:
    return CampaignTagRow(row[0], row[1], row[2], row[3], int(row[4]), json.loads(row[5]),
                          row[6], row[7])


class Campaigns(TableReads):
    """Reads of the campaigns and their tags."""

    def get(self, campaign_id: str) -> CampaignRow | None:
        row = self._one(f"SELECT {_CAMPAIGN} FROM campaign WHERE id = ?",  # noqa: S608
                        (campaign_id,), "reading a campaign")
        return None if row is None else _campaign(row)

    def all(self) -> list[CampaignRow]:
        """Every campaign, newest first."""
        rows = self._all(f"SELECT {_CAMPAIGN} FROM campaign ORDER BY created_at DESC, id",  # noqa: S608
                         (), "listing campaigns")
        return [_campaign(row) for row in rows]

    def tag(self, campaign_id: str, uid: str) -> CampaignTagRow | None:
        row = self._one(f"SELECT {_TAG} FROM campaign_tag WHERE campaign_id = ? "  # noqa: S608
                        "AND uid = ?", (campaign_id, uid), "reading a campaign's tag")
        return None if row is None else _tag(row)

    def tags(self, campaign_id: str) -> list[CampaignTagRow]:
        rows = self._all(f"SELECT {_TAG} FROM campaign_tag WHERE campaign_id = ? "  # noqa: S608
                         "ORDER BY updated_at, uid", (campaign_id,), "reading a campaign's tags")
        return [_tag(row) for row in rows]

    def counts(self, campaign_id: str) -> dict[str, int]:
        """Tags per outcome (every outcome present, 0 when none)."""
        rows = self._all("SELECT outcome, count(*) FROM campaign_tag WHERE campaign_id = ? "
                         "GROUP BY outcome", (campaign_id,), "counting a campaign's tags")
        counts = dict.fromkeys(("converted", "failed", "already", "skipped"), 0)
        counts.update({outcome: int(n) for outcome, n in rows})
        return counts
