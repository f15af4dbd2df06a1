# SPDX-License-Identifier: Apache-2.0
"""Migrations: fresh file, upgrade from version 1, refusal of newer and non-database files,
a failing step rolled back, and the journal's patron-identifier rule."""

from __future__ import annotations

import sqlite3
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from edge_service.store import (
    SCHEMA_VERSION,
    DatabaseUnreadable,
    MigrationFailed,
    SchemaTooNew,
    Store,
    StoreConfig,
    WriteFailed,
    delete_ill_loan,
    write_ill_loan,
)
from edge_service.store import schema as schema_module
from edge_service.store.schema import MIGRATIONS, migrate, schema_version


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")}
    conn.close()
    return names


def test_migration_table_is_ordered_and_gapless() -> None:
    assert [version for version, _ in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1][0] == SCHEMA_VERSION


async def test_fresh_database_gets_every_table_wal_and_owner_only_mode(db_path: Path) -> None:
    store = await Store.open(StoreConfig(db_path))
    await store.close()
    assert {"items", "tag_uids", "outbox", "sync_state", "journal", "journal_patron"} <= tables(
        db_path)
    conn = sqlite3.connect(db_path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


async def test_upgrade_from_version_1_keeps_the_data(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        assert migrate(conn, target=1) == 0
        conn.execute("INSERT INTO items VALUES ('DK-718500', '1', '03', 1, 1, 'T', 'book', '7', "
                     "'2026-01-01T00:00:00.000Z')")
        assert schema_version(conn) == 1
        assert "journal" not in tables(db_path)
    finally:
        conn.close()
    store = await Store.open(StoreConfig(db_path))
    try:
        cached = store.cache.get("DK-718500", "1")
        assert cached is not None
        assert cached.catalog_version == "7"
        assert cached.unsecured_since is None   # v4's column: unknown for old rows
    finally:
        await store.close()
    assert "journal" in tables(db_path)
    conn = sqlite3.connect(db_path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
    finally:
        conn.close()


async def test_newer_database_is_refused_untouched(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(SchemaTooNew) as caught:
        await Store.open(StoreConfig(db_path))
    assert caught.value.found == SCHEMA_VERSION + 1
    assert caught.value.supported == SCHEMA_VERSION
    assert str(db_path) in str(caught.value)
    assert "newer" in str(caught.value)
    assert db_path.read_bytes() == before
    assert not Path(f"{db_path}-wal").exists()


@pytest.mark.parametrize("content", [b"this is a text file, not a database\n" * 200,
                                     b"SQLite format 3\x00" + b"\xff" * 4080])
async def test_non_database_file_is_a_clear_error(db_path: Path, content: bytes) -> None:
    db_path.write_bytes(content)
    with pytest.raises(DatabaseUnreadable) as caught:
        await Store.open(StoreConfig(db_path))
    assert str(db_path) in str(caught.value)
    assert "not a readable SQLite database" in str(caught.value)
    assert db_path.read_bytes() == content


def test_failing_step_rolls_back_to_the_old_version(db_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    broken_step = "CREATE TABLE extra (x);\nINSERT INTO nowhere VALUES (1);\n"
    broken = (*MIGRATIONS, (SCHEMA_VERSION + 1, broken_step))
    monkeypatch.setattr(schema_module, "MIGRATIONS", broken)
    monkeypatch.setattr(schema_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        migrate(conn, target=1)
        with pytest.raises(MigrationFailed) as caught:
            migrate(conn)
        assert caught.value.version == SCHEMA_VERSION + 1
        assert "nowhere" in str(caught.value)
        assert schema_version(conn) == 1
        assert "journal" not in tables(db_path)
        assert not conn.in_transaction
    finally:
        conn.close()


async def test_journal_patron_identifier_is_deleted_when_the_transaction_ends(
        db_path: Path) -> None:
    store = await Store.open(StoreConfig(db_path, max_delay_s=0.01))
    try:
        def begin(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO journal (id, kind, state, data, created_at, updated_at) "
                         "VALUES ('t1', 'checkout', 'ils_done', '{}', 'a', 'a')")
            conn.execute("INSERT INTO journal_patron VALUES ('t1', '23456789')")

        def end(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE journal SET state = 'committed', ended_at = 'b' WHERE id = 't1'")

        def patron_again(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO journal_patron VALUES ('t1', '23456789')")

        await store.writer.submit(begin)
        assert count(db_path, "journal_patron") == 1
        await store.writer.submit(end)
        assert count(db_path, "journal_patron") == 0
        assert count(db_path, "journal") == 1
        with pytest.raises(WriteFailed, match="journal transaction has ended"):
            await store.writer.submit(patron_again)
        assert count(db_path, "journal_patron") == 0
    finally:
        await store.close()


def count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


async def test_upgrade_to_version_5_keeps_queued_events_and_their_seq(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        migrate(conn, target=4)
        conn.executemany(
            "INSERT INTO outbox (event_id, topic, payload, created_at) VALUES (?, 't', ?, 'x')",
            [("018f0000-0000-7000-8000-000000000001", b"6"),
             ("018f0000-0000-7000-8000-000000000002", b"7")])
        conn.execute("INSERT INTO sync_state VALUES ('events.last_seq', 7)")
    finally:
        conn.close()
    store = await Store.open(StoreConfig(db_path, max_delay_s=0.01))
    try:
        assert [e.payload for e in store.outbox.peek(10)] == [b"6", b"7"]
        assert store.outbox.last_seq() == 7
        assert await store.writer.submit(store.outbox.next_seq) == 8
    finally:
        await store.close()


async def test_upgrade_to_version_6_keeps_one_row_per_owner_isil_the_newest(
        db_path: Path) -> None:
    """Owners were stored as written, so a file may hold one item twice (DK-718500 and
    dk-718500) from before owners compare without regard to case. The upgrade keeps one row in
    upper case: the newer catalog version (as a delta would), and of equal versions the upper
    case one. Versions the contract's rule calls newer both ways (an integer and a text) still
    leave one row."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        migrate(conn, target=5)
        conn.executemany("INSERT INTO items VALUES (?, ?, ?, 1, 1, 'T', 'book', ?, ?, NULL)", [
            ("DK-718500", "1", "03", "7", "2026-01-01T00:00:00.000Z"),
            ("dk-718500", "1", "04", "10", "2026-01-02T00:00:00.000Z"),   # newer: kept
            ("DK-718500", "2", "03", "9", "2026-01-01T00:00:00.000Z"),    # newer: kept
            ("dk-718500", "2", "04", "8", "2026-01-02T00:00:00.000Z"),
            ("Dk-718500", "2", "05", "7", "2026-01-03T00:00:00.000Z"),
            ("DK-718500", "3", "03", "7", "2026-01-01T00:00:00.000Z"),    # equal: upper kept
            ("dk-718500", "3", "04", "7", "2026-01-02T00:00:00.000Z"),
            ("dk-718500", "4", "04", "2026-01-02", "2026-01-02T00:00:00.000Z"),
            ("DK-718500", "4", "03", "5", "2026-01-01T00:00:00.000Z"),
            ("se-1234", "5", "10", "1", "2026-01-01T00:00:00.000Z"),      # alone: upper case
        ])
        conn.execute("INSERT INTO tag_uids VALUES ('E004010000000005', 'se-1234', '5', "
                     "'2026-01-01T00:00:00.000Z', 7, 1)")
    finally:
        conn.close()
    store = await Store.open(StoreConfig(db_path, max_delay_s=0.01))
    try:
        conn = sqlite3.connect(db_path)
        try:
            rows = conn.execute("SELECT owner_institution, primary_item_id, circulation_status, "
                                "catalog_version FROM items ORDER BY 2").fetchall()
        finally:
            conn.close()
        assert rows[:3] == [("DK-718500", "1", "04", "10"), ("DK-718500", "2", "03", "9"),
                            ("DK-718500", "3", "03", "7")]
        assert [row[:2] for row in rows[3:]] == [("DK-718500", "4"), ("SE-1234", "5")]
        seen = store.cache.by_uid("E004010000000005")
        assert seen is not None
        assert (seen.owner_institution, seen.item is not None) == ("SE-1234", True)
    finally:
        await store.close()


async def test_upgrade_to_version_7_keys_ill_loans_by_the_owner_in_upper_case(
        db_path: Path) -> None:
    """The gate asks for an ILL loan by the owner the cache gives (upper case since v6): a
    loan recorded as the tag spelled its owner (de-705) was not found, so the item was judged
    foreign whenever its tag could not be read. Found by a review. Loans that become one keep
    the latest received."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        migrate(conn, target=6)
        conn.executemany("INSERT INTO ill_loan VALUES (?, ?, NULL, ?, 'DK-718500', NULL, 0, ?)", [
            ("de-705", "1", "T1", "2026-01-01T00:00:00.000Z"),
            ("DE-705", "2", "old", "2026-01-01T00:00:00.000Z"),
            ("de-705", "2", "new", "2026-01-02T00:00:00.000Z"),     # later: kept
            ("DE-705", "3", "new", "2026-01-03T00:00:00.000Z"),     # later: kept
            ("De-705", "3", "old", "2026-01-02T00:00:00.000Z"),
        ])
    finally:
        conn.close()
    store = await Store.open(StoreConfig(db_path, max_delay_s=0.01))
    try:
        rows = [(loan.owner_institution, loan.primary_item_id, loan.transaction_number)
                for loan in sorted(store.ill.open_loans(), key=lambda x: x.primary_item_id)]
        assert rows == [("DE-705", "1", "T1"), ("DE-705", "2", "new"), ("DE-705", "3", "new")]
        assert store.ill.on_loan("DE-705", "1")
        assert store.ill.on_loan("de-705", "1")
        loan = store.ill.get("de-705", "2")
        assert loan is not None
        await store.writer.submit(lambda conn: write_ill_loan(conn, replace(
            loan, owner_institution="se-1234")), commit_now=True)
        assert store.ill.on_loan("SE-1234", "2")
        assert await store.writer.submit(
            lambda conn: delete_ill_loan(conn, "Se-1234", "2"), commit_now=True)
        assert not store.ill.on_loan("se-1234", "2")
    finally:
        await store.close()
