# SPDX-License-Identifier: Apache-2.0
"""Outbox: events commit with their state change or not at all; seq, order, acknowledgement."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from edge_service.store import (
    InvalidRecord,
    Store,
    StoreConfig,
    StoreError,
    WriteFailed,
    write_security_expected,
)
from edge_service.store.model import utc_now
from tests.store.conftest import OWNER, item

TOPIC = "lib/v1/DK-718500/DK-718501/kiosk-2/evt/checkout"


async def opened(db_path: Path) -> Store:
    store = await Store.open(StoreConfig(db_path, max_delay_s=0.01))
    await store.cache.apply_delta([item(1)], seq=1)
    return store


async def emit(store: Store, *, commit_now: bool = False) -> tuple[int, int]:
    """Queue one event whose payload is its seq, in a writer operation of its own; its
    (outbox id, seq) once committed."""
    def operation(conn: sqlite3.Connection) -> tuple[int, int]:
        seq = store.outbox.next_seq(conn)
        return store.outbox.add(conn, TOPIC, str(seq).encode(), str(uuid.uuid4()), seq=seq), seq

    return await store.writer.submit(operation, commit_now=commit_now)


async def test_event_and_state_change_commit_together(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        event_id = str(uuid.uuid4())

        def checkout(conn: sqlite3.Connection) -> int:
            write_security_expected(conn, OWNER, "0000000001", False, now=utc_now())
            seq = store.outbox.next_seq(conn)
            store.outbox.add(conn, TOPIC, f'{{"seq":{seq}}}'.encode(), event_id, seq=seq)
            return seq

        assert await store.writer.submit(checkout) == 1
        cached = store.cache.get(OWNER, "0000000001")
        assert cached is not None
        assert cached.security_expected is False
        [entry] = store.outbox.peek(10)
        assert (entry.event_id, entry.topic, entry.payload, entry.attempts) == (
            event_id, TOPIC, b'{"seq":1}', 0)
    finally:
        await store.close()


async def test_failing_state_change_leaves_no_event(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        def checkout_then_fail(conn: sqlite3.Connection) -> None:
            store.outbox.add(conn, TOPIC, b"{}", str(uuid.uuid4()),
                             seq=store.outbox.next_seq(conn))
            write_security_expected(conn, OWNER, "0000000001", False, now=utc_now())
            raise RuntimeError("tag write failed")

        with pytest.raises(WriteFailed, match="tag write failed"):
            await store.writer.submit(checkout_then_fail)
        assert store.outbox.count() == 0
        cached = store.cache.get(OWNER, "0000000001")
        assert cached is not None
        assert cached.security_expected is True
        assert store.outbox.last_seq() is None
    finally:
        await store.close()


async def test_failing_event_leaves_no_state_change(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        await store.writer.submit(
            lambda conn: store.outbox.add(conn, TOPIC, b"1", str(uuid.uuid4()), seq=1))

        def checkout(conn: sqlite3.Connection) -> None:
            write_security_expected(conn, OWNER, "0000000001", False, now=utc_now())
            store.outbox.add(conn, TOPIC, b"2", str(uuid.uuid4()), seq=1)  # seq reused: refused

        with pytest.raises(InvalidRecord) as caught:
            await store.writer.submit(checkout)
        assert caught.value.field == "seq"
        cached = store.cache.get(OWNER, "0000000001")
        assert cached is not None
        assert cached.security_expected is True
        assert [e.payload for e in store.outbox.peek(10)] == [b"1"]
    finally:
        await store.close()


async def test_seq_order_acknowledgement_and_reopen(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        assert [(await emit(store))[1] for _ in range(5)] == [1, 2, 3, 4, 5]
        entries = store.outbox.peek(3)
        assert [e.payload for e in entries] == [b"1", b"2", b"3"]
        await store.outbox.mark_attempted([entries[0].id])
        assert store.outbox.peek(1)[0].attempts == 1
        assert await store.outbox.delete([e.id for e in entries]) == 3
        assert await store.outbox.delete([entries[0].id]) == 0  # acknowledged twice: harmless
        assert store.outbox.count() == 2
    finally:
        await store.close()
    store = await Store.open(StoreConfig(db_path, max_delay_s=0.01))
    try:
        assert store.outbox.last_seq() == 5
        assert [e.payload for e in store.outbox.peek(10)] == [b"4", b"5"]
        assert (await emit(store))[1] == 6
    finally:
        await store.close()


async def test_bad_events_are_refused_with_a_clear_error(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            with pytest.raises(StoreError, match="inside a writer operation"):
                store.outbox.add(conn, TOPIC, b"{}", str(uuid.uuid4()), seq=1)
        finally:
            conn.close()
        cases = [
            (TOPIC, b"{}", "not-a-uuid", "event_id"),
            ("lib/v1/+/x", b"{}", str(uuid.uuid4()), "topic"),
            (TOPIC, b"", str(uuid.uuid4()), "event_bytes"),
            (TOPIC, "text", str(uuid.uuid4()), "event_bytes"),
        ]
        for topic, payload, event_id, field in cases:
            with pytest.raises(InvalidRecord) as caught:
                await store.writer.submit(
                    lambda c, t=topic, p=payload, e=event_id: store.outbox.add(c, t, p, e, seq=1))
            assert caught.value.field == field
        assert store.outbox.count() == 0
    finally:
        await store.close()


async def test_seq_outlives_an_emptied_outbox_and_a_reused_rowid(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        first = [await emit(store) for _ in range(3)]
        assert await store.outbox.delete([row for row, _ in first]) == 3
        assert store.outbox.count() == 0
        assert store.outbox.last_seq() == 3
    finally:
        await store.close()
    store = await Store.open(StoreConfig(db_path, max_delay_s=0.01))
    try:
        assert store.outbox.last_seq() == 3
        row, seq = await emit(store)
        assert (row, seq) == (1, 4)   # the emptied table hands out rowid 1 again; seq goes on
        assert [await emit(store) for _ in range(2)] == [(2, 5), (3, 6)]
        assert await store.outbox.delete([1]) == 1    # the oldest only: the newest keeps 6
        assert store.outbox.last_seq() == 6
    finally:
        await store.close()


async def test_a_commit_that_queues_an_event_writes_one_page(db_path: Path) -> None:
    """The outbox's share of the bytes written per event (docs/storage-writes.md): one WAL
    frame, the table's last leaf; no event-id index leaf and no seq counter page."""
    store = await opened(db_path)
    try:
        await emit(store)   # the table's first leaf exists from now on
        other = sqlite3.connect(db_path)
        try:
            page_size = other.execute("PRAGMA page_size").fetchone()[0]
            assert other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        finally:
            other.close()
        wal = db_path.with_name(db_path.name + "-wal")
        assert wal.stat().st_size == 0
        await emit(store, commit_now=True)
        assert wal.stat().st_size == 32 + (24 + page_size)   # WAL header + one frame
    finally:
        await store.close()


async def test_seq_is_not_reused_when_the_newest_rows_go_first(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        rows = [(await emit(store))[0] for _ in range(4)]
        assert await store.outbox.delete(rows[2:]) == 2   # an older DELETE failed meanwhile
        assert store.outbox.last_seq() == 4
        await emit(store)
        assert [e.payload for e in store.outbox.peek(10)] == [b"1", b"2", b"5"]
    finally:
        await store.close()
