# SPDX-License-Identifier: Apache-2.0
"""The transaction journal on a real SQLite file: steps, merge, end, the patron rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge_service.store import (
    JournalError,
    Store,
    StoreConfig,
    WriteConnection,
    journal_begin,
    journal_end,
)


async def test_steps_merge_data_and_ending_forgets_the_patron(db_path: Path) -> None:
    async with await Store.open(StoreConfig(db_path)) as store:
        journal = store.journal
        await journal.begin("t1", "checkout", "started", {"item": "A1"}, patron="card-42")
        assert journal.patron_of("t1") == "card-42"
        entry = await journal.advance("t1", "ils_done", {"due": "2026-12-24"})
        assert entry.data == {"item": "A1", "due": "2026-12-24"}
        assert [e.id for e in journal.open_entries("checkout")] == ["t1"]
        ended = await journal.end("t1", "committed", {"verified": True})
        assert ended.ended
        assert journal.patron_of("t1") is None
        assert journal.open_entries() == []
        stored = journal.get("t1")
        assert stored is not None
        assert stored.state == "committed"
        assert stored.data == {"item": "A1", "due": "2026-12-24", "verified": True}


async def test_a_forgotten_patron_leaves_no_trace_in_the_database_file(db_path: Path) -> None:
    # Deleting a row leaves its bytes in the page's free space unless SQLite zeroes them
    # (secure_delete). Weak here: this machine's SQLite is built with SECURE_DELETE on, so
    # this passes without the writer's pragma too; it holds the property on other builds.
    card = "2000000017"
    async with await Store.open(StoreConfig(db_path)) as store:
        await store.journal.begin("t1", "checkout", "started", {"item": "A1"}, patron=card)
        await store.journal.end("t1", "committed")
        assert await store.writer.submit(
            lambda conn: conn.execute("PRAGMA secure_delete").fetchone()[0]) == 1
    # Closed: the last connection checkpointed the WAL into the file and removed it.
    assert not db_path.with_name(db_path.name + "-wal").exists()
    assert card.encode() not in db_path.read_bytes()


async def test_an_ended_transaction_refuses_late_steps(db_path: Path) -> None:
    async with await Store.open(StoreConfig(db_path)) as store:
        await store.journal.begin("t1", "checkout", "started", {})
        await store.journal.end("t1", "refused")
        with pytest.raises(JournalError, match="already ended"):
            await store.journal.advance("t1", "ils_done")
        with pytest.raises(JournalError, match="already ended"):
            await store.journal.end("t1", "committed")
        with pytest.raises(JournalError, match="no journal transaction t2"):
            await store.journal.advance("t2", "ils_done")
        with pytest.raises(JournalError, match="exists already"):
            await store.journal.begin("t1", "checkout", "started", {})


async def test_open_transactions_survive_a_reopen(db_path: Path) -> None:
    async with await Store.open(StoreConfig(db_path)) as store:
        await store.journal.begin("t1", "checkout", "started", {"n": 1}, patron="p")
        await store.journal.begin("t2", "checkin", "started", {"n": 2})
        await store.journal.end("t2", "committed")
    async with await Store.open(StoreConfig(db_path)) as store:
        entries = store.journal.open_entries()
        assert [(e.id, e.state, e.data) for e in entries] == [("t1", "started", {"n": 1})]
        assert store.journal.patron_of("t1") == "p"


async def test_data_that_is_not_json_is_refused_before_writing(db_path: Path) -> None:
    async with await Store.open(StoreConfig(db_path)) as store:
        with pytest.raises(JournalError, match="not JSON"):
            await store.journal.begin("t1", "checkout", "started", {"x": object()})
        assert store.journal.get("t1") is None


async def test_a_node_secret_is_made_once_and_kept(db_path: Path) -> None:
    async with await Store.open(StoreConfig(db_path)) as store:
        first = await store.node_secret("patron-salt")
        assert len(first) == 32
        assert await store.node_secret("patron-salt") == first
        assert await store.node_secret("other") != first
    async with await Store.open(StoreConfig(db_path)) as store:
        assert await store.node_secret("patron-salt") == first


async def test_prune_deletes_ended_transactions_before_the_bound_only(db_path: Path) -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    old, recent = now - timedelta(days=100), now - timedelta(days=10)

    def history(conn: WriteConnection) -> None:
        for entry_id, begun, ended in (("old", old, old), ("recent", old, recent),
                                       ("open", old, None)):
            journal_begin(conn, entry_id, "checkout", "started", {}, now=begun)
            if ended is not None:
                journal_end(conn, entry_id, "committed", now=ended)

    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        await store.writer.submit(history)
        assert await store.journal.prune(now - timedelta(days=90)) == 1
        assert store.journal.get("old") is None
        assert store.journal.get("recent") is not None
        assert store.journal.get("open") is not None   # never an open one, however old
        assert await store.journal.prune(now) == 1
        assert [e.id for e in store.journal.open_entries()] == ["open"]
