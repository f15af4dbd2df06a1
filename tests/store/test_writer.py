# SPDX-License-Identifier: Apache-2.0
"""StoreWriter: order, group commit, acknowledgement only after commit, one failing operation
isolated, a failing commit reported to its whole group, clean close."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from edge_service.store import (
    CommitFailed,
    InvalidRecord,
    StoreClosed,
    StoreWriter,
    WriteFailed,
)


def create_log(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS log (n INTEGER PRIMARY KEY, label TEXT)")


def logger_op(n: int):  # type: ignore[no-untyped-def]
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO log (label) VALUES (?)", (f"op{n}",))
        return n
    return op


def committed_labels(path: Path) -> list[str]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT label FROM log ORDER BY n")]
    finally:
        conn.close()


async def test_concurrent_submits_run_in_order_and_share_commits(db_path: Path) -> None:
    writer = await StoreWriter.open(db_path, max_delay_s=0.05, max_batch=64)
    try:
        await writer.submit(create_log, commit_now=True)
        commits_before = writer.counters.commits
        seen_after_ack: list[bool] = []

        async def one(n: int) -> int:
            result = await writer.submit(logger_op(n))
            # Acknowledged means committed: a separate read connection already sees it.
            seen_after_ack.append(f"op{n}" in committed_labels(db_path))
            return result

        results = await asyncio.gather(*(one(n) for n in range(300)))
        assert results == list(range(300))
        assert all(seen_after_ack)
        assert committed_labels(db_path) == [f"op{n}" for n in range(300)]
        commits = writer.counters.commits - commits_before
        assert commits < 300 / 4  # grouped: at most max_batch per commit, many per window
        assert writer.counters.largest_group <= 64
    finally:
        await writer.close()


async def test_one_failing_operation_is_rolled_back_alone(db_path: Path) -> None:
    writer = await StoreWriter.open(db_path, max_delay_s=0.2)
    try:
        await writer.submit(create_log, commit_now=True)

        def bad(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO log (label) VALUES ('bad')")
            raise ValueError("scanner said no")

        def refused(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO log (label) VALUES ('refused')")
            raise InvalidRecord("bad status", where="delta 5 item 2", field="circulation_status")

        outcomes = await asyncio.gather(
            writer.submit(logger_op(1)), writer.submit(bad, name="bad op"),
            writer.submit(refused), writer.submit(logger_op(2)), return_exceptions=True)
        assert outcomes[0] == 1
        assert outcomes[3] == 2
        failed = outcomes[1]
        assert isinstance(failed, WriteFailed)
        assert failed.operation == "bad op"
        assert "scanner said no" in str(failed)
        assert isinstance(failed.__cause__, ValueError)
        assert isinstance(outcomes[2], InvalidRecord)  # store errors pass through as raised
        assert committed_labels(db_path) == ["op1", "op2"]
        assert await writer.submit(logger_op(3)) == 3  # still running
    finally:
        await writer.close()


async def test_failing_commit_fails_its_whole_group_and_the_writer_goes_on(
        db_path: Path) -> None:
    writer = await StoreWriter.open(db_path, max_delay_s=0.2)
    try:
        await writer.submit(create_log, commit_now=True)

        def orphan_patron(conn: sqlite3.Connection) -> None:
            # A foreign-key violation that SQLite checks only at COMMIT.
            conn.execute("PRAGMA defer_foreign_keys = ON")
            conn.execute("INSERT INTO journal_patron VALUES ('no-such-journal', 'x')")

        outcomes = await asyncio.gather(
            writer.submit(logger_op(1)), writer.submit(orphan_patron, commit_now=True),
            return_exceptions=True)
        assert all(isinstance(o, CommitFailed) for o in outcomes)
        assert outcomes[0].operations == 2  # type: ignore[union-attr]
        assert "FOREIGN KEY" in str(outcomes[0])
        assert committed_labels(db_path) == []
        assert await writer.submit(logger_op(2)) == 2
        assert committed_labels(db_path) == ["op2"]
    finally:
        await writer.close()


async def test_commit_now_closes_the_window(db_path: Path) -> None:
    # A window far longer than the test's time limit: only commit_now can resolve this.
    writer = await StoreWriter.open(db_path, max_delay_s=3600)
    try:
        await asyncio.wait_for(writer.submit(create_log, commit_now=True), timeout=10)
    finally:
        await writer.close()


async def test_close_commits_what_was_queued_and_then_refuses(db_path: Path) -> None:
    writer = await StoreWriter.open(db_path, max_delay_s=0.01)
    await writer.submit(create_log)
    await writer.close()
    writer = await StoreWriter.open(db_path, max_delay_s=3600)
    pending = [asyncio.ensure_future(writer.submit(logger_op(n))) for n in range(5)]
    await asyncio.sleep(0)  # let them queue
    await asyncio.wait_for(writer.close(), timeout=10)
    assert [await p for p in pending] == list(range(5))
    assert committed_labels(db_path) == [f"op{n}" for n in range(5)]
    with pytest.raises(StoreClosed):
        await writer.submit(logger_op(9))
    await writer.close()  # idempotent


def test_bad_window_settings_are_refused(db_path: Path) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        StoreWriter(db_path, max_batch=0)
    with pytest.raises(ValueError, match="max_delay_s"):
        StoreWriter(db_path, max_delay_s=-1)
