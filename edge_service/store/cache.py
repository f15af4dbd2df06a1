# SPDX-License-Identifier: Apache-2.0
"""ItemCache: the item-status cache and the tag observations, read fast and written through the
one writer.

Contract:
- Reads (``get``, ``by_uid``, ...) are plain synchronous calls on this thread's read-only
  connection: a point lookup is a few microseconds (bench/store.py), cheaper than any hop to a
  thread, so the gate's hot path calls them inline on the event loop. They see committed data
  only.
- Writes are awaitable and run as operations of the :class:`StoreWriter`; each resolves after
  its commit. The ``write_*`` functions are the same changes for use INSIDE a writer operation,
  so a workflow can commit a state change and its outbox event in one transaction::

      def checkout(conn):
          write_security_expected(conn, owner, item_id, False, now=now)
          seq = outbox.next_seq(conn)
          outbox.add(conn, topic, envelope(seq), event_id, seq=seq)
      await writer.submit(checkout)

- Conflict rules (landscape §E4): the catalog is authoritative for circulation, so a record
  replaces the cached row only if its ``catalog_version`` is newer (``catalog_version_newer``);
  the edge is authoritative for physical observations (``tag_uids``: last seen, AFI, EAS), which
  no delta touches. ``set_security_expected`` records the edge's own knowledge after a local
  checkout without bumping the version, so the next newer delta wins.
- ``apply_delta`` records the delta's seq in the same transaction as its items; a seq at or
  below the recorded one applies nothing (a redelivery). It commits at once (``commit_now``).
- ``bootstrap`` loads a paged snapshot. Fast path: pages are gathered into batches of
  ``BOOTSTRAP_BATCH_ITEMS`` rows, each sorted by key (appends to the clustered b-tree instead of
  random inserts) and written with one ``executemany`` in its own transaction, committed at once
  rather than waiting out the window; snapshot progress is recorded with each batch, so a crash
  resumes at the last committed page. Building the next batch overlaps writing the previous one.
  The last batch also sets the recorded delta seq to the snapshot's, lower or higher: deltas
  continue from the snapshot. A resync (a snapshot begun on a non-empty cache) then deletes
  the items it did not name, ``BOOTSTRAP_BATCH_ITEMS`` cached keys per transaction.
- Owners are one key whatever their case (ISO 15511: an ISIL is unique without regard to
  case): every statement that stores or looks up an owner puts it in upper case with SQL
  ``upper()`` (ASCII letters; schema step 6 brought older rows to that form). The lookup's
  ``upper(?)`` is a constant of the statement, so the key's b-tree is still searched, and
  bootstrap adds no Python call per row. Reads answer the owner in that form.
- ``record_tag_seen`` skips the write when the same tag was seen with the same AFI/EAS within
  ``last_seen_resolution_s``: a gate reads each tag many times per passage, and every skipped
  write is a page the SD card does not program.

Not responsible for: items deleted centrally between two snapshots (the delta contract has no
tombstone yet; the next resync removes them), gap detection and resync (the sync layer reads
``last_delta_seq``), what the codes mean.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from datetime import datetime, timedelta

from edge_service.store.connection import ReadConnections
from edge_service.store.errors import InvalidRecord
from edge_service.store.model import (
    MAX_OWNER_INSTITUTION_CHARS,
    MAX_PRIMARY_ITEM_ID_CHARS,
    CachedItem,
    DeltaResult,
    ItemRecord,
    SnapshotProgress,
    TagObservation,
    check_text,
    normalize_uid,
    utc_now,
    utc_timestamp,
)
from edge_service.store.sync_state import (
    LAST_DELTA_SEQ,
    SNAPSHOT_COMPLETE,
    SNAPSHOT_ITEMS_DONE,
    SNAPSHOT_PAGES_DONE,
    SNAPSHOT_PURGE,
    SNAPSHOT_SEQ,
    read_int,
    write_state,
)
from edge_service.store.writer import StoreWriter

BOOTSTRAP_BATCH_ITEMS = 50_000
"""Rows per bootstrap transaction: large enough that per-commit cost vanishes, small enough that
the writer serves other callers between batches (~0.1 s each) and a crash repeats little."""

LAST_SEEN_RESOLUTION_S = 60.0
"""A tag seen again within this time with unchanged AFI/EAS is not written again."""

_GET_ITEM_SQL = (
    "SELECT owner_institution, primary_item_id, circulation_status, security_expected, "
    "set_size, title, media, catalog_version, updated_at, unsecured_since FROM items "
    "WHERE owner_institution = upper(?) AND primary_item_id = ?"
)
_BY_UID_SQL = (
    "SELECT t.uid, t.owner_institution, t.primary_item_id, t.last_seen, t.last_afi, t.last_eas, "
    "i.circulation_status, i.security_expected, i.set_size, i.title, i.media, "
    "i.catalog_version, i.updated_at, i.unsecured_since "
    "FROM tag_uids AS t LEFT JOIN items AS i "
    "ON i.owner_institution = t.owner_institution AND i.primary_item_id = t.primary_item_id "
    "WHERE t.uid = ?"
)
_UPSERT_ITEM_SQL = (
    "INSERT INTO items (owner_institution, primary_item_id, circulation_status, "
    "security_expected, set_size, title, media, catalog_version, updated_at) "
    "VALUES (upper(?), ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (owner_institution, primary_item_id) DO UPDATE SET "
    "circulation_status = excluded.circulation_status, "
    "security_expected = excluded.security_expected, set_size = excluded.set_size, "
    "title = excluded.title, media = excluded.media, "
    "catalog_version = excluded.catalog_version, updated_at = excluded.updated_at, "
    # The right-hand sides see the row as it was: the time is taken when loaned turns on.
    "unsecured_since = CASE WHEN excluded.security_expected THEN NULL "
    "WHEN items.security_expected THEN excluded.updated_at ELSE items.unsecured_since END "
    # schema.register_functions registers it on the writer connection.
    "WHERE catalog_version_newer(excluded.catalog_version, items.catalog_version)"
)
_SNAPSHOT_KEY_SQL = "INSERT OR IGNORE INTO snapshot_keys VALUES (upper(?), ?)"
_PURGE_BOUND_SQL = (   # the last key of the next BOOTSTRAP_BATCH_ITEMS items after the bound
    "SELECT owner_institution, primary_item_id FROM items "
    "WHERE (owner_institution, primary_item_id) > (?, ?) "
    "ORDER BY owner_institution, primary_item_id LIMIT 1 OFFSET ?"
)
# The items the snapshot did not name in the key range (lower, upper], or above lower (the
# last range): two statements, as an optional bound would keep the index from using it.
_PURGE_RANGE_SQL = (
    "DELETE FROM items WHERE (owner_institution, primary_item_id) > (?, ?) "
    "AND (owner_institution, primary_item_id) <= (?, ?) "
    "AND NOT EXISTS (SELECT 1 FROM snapshot_keys AS named "
    "WHERE named.owner_institution = items.owner_institution "
    "AND named.primary_item_id = items.primary_item_id)"
)
_PURGE_REST_SQL = (
    "DELETE FROM items WHERE (owner_institution, primary_item_id) > (?, ?) "
    "AND NOT EXISTS (SELECT 1 FROM snapshot_keys AS named "
    "WHERE named.owner_institution = items.owner_institution "
    "AND named.primary_item_id = items.primary_item_id)"
)
_SET_SECURITY_SQL = (
    "UPDATE items SET security_expected = ?1, updated_at = ?2, "
    "unsecured_since = CASE WHEN ?1 THEN NULL WHEN security_expected THEN ?2 "
    "ELSE unsecured_since END "
    "WHERE owner_institution = upper(?3) AND primary_item_id = ?4")
_TAG_SEEN_SQL = (
    "INSERT INTO tag_uids (uid, owner_institution, primary_item_id, last_seen, last_afi, last_eas) "
    "VALUES (?, upper(?), ?, ?, ?, ?) "
    "ON CONFLICT (uid) DO UPDATE SET owner_institution = excluded.owner_institution, "
    "primary_item_id = excluded.primary_item_id, last_seen = excluded.last_seen, "
    "last_afi = excluded.last_afi, last_eas = excluded.last_eas "
    "WHERE tag_uids.owner_institution IS NOT excluded.owner_institution "
    "OR tag_uids.primary_item_id IS NOT excluded.primary_item_id "
    "OR tag_uids.last_afi IS NOT excluded.last_afi "
    "OR tag_uids.last_eas IS NOT excluded.last_eas "
    "OR tag_uids.last_seen < ?"
)

ItemRow = tuple[str, str, str, bool, int, str | None, str | None, str, str]
Pages = AsyncIterable[Sequence[ItemRecord]] | Iterable[Sequence[ItemRecord]]


def _item_row(record: object, *, now: str, where: str) -> ItemRow:
    if not isinstance(record, ItemRecord):
        raise InvalidRecord(f"expected an ItemRecord, got {type(record).__name__}", where=where)
    return (record.owner_institution, record.primary_item_id, record.circulation_status,
            record.security_expected, record.set_size, record.title, record.media,
            record.catalog_version, now)


def _check_key(owner_institution: object, primary_item_id: object, *, where: str) -> None:
    for field, value, limit, empty_ok in (
            ("owner_institution", owner_institution, MAX_OWNER_INSTITUTION_CHARS, True),
            ("primary_item_id", primary_item_id, MAX_PRIMARY_ITEM_ID_CHARS, False)):
        reason = check_text(value, max_chars=limit, empty_ok=empty_ok)
        if reason is not None:
            raise InvalidRecord(reason, where=where, field=field)


def write_item_records(conn: sqlite3.Connection, rows: Sequence[ItemRow]) -> int:
    """Insert or replace-if-newer; returns how many rows changed. Inside a writer operation."""
    cursor = conn.executemany(_UPSERT_ITEM_SQL, rows)
    return max(cursor.rowcount, 0)


def write_security_expected(conn: sqlite3.Connection, owner_institution: str,
                            primary_item_id: str, expected: bool, *, now: datetime) -> bool:
    """Set the edge's expectation of the security state; False when the item is not cached."""
    _check_key(owner_institution, primary_item_id, where="set_security_expected")
    cursor = conn.execute(_SET_SECURITY_SQL, (bool(expected), utc_timestamp(now),
                                              owner_institution, primary_item_id))
    return cursor.rowcount > 0


def write_tag_seen(conn: sqlite3.Connection, uid: str, owner_institution: str,
                   primary_item_id: str, *, afi: int | None, eas: bool | None, now: datetime,
                   resolution_s: float = LAST_SEEN_RESOLUTION_S) -> bool:
    """Record a tag observation; False when skipped as unchanged within ``resolution_s``."""
    where = "record_tag_seen"
    uid = normalize_uid(uid, where=where)
    _check_key(owner_institution, primary_item_id, where=f"{where} uid {uid}")
    if afi is not None and (isinstance(afi, bool) or not isinstance(afi, int)
                            or not 0 <= afi <= 0xFF):
        raise InvalidRecord(f"{afi!r} is not a byte", where=f"{where} uid {uid}", field="afi")
    if eas is not None and not isinstance(eas, bool):
        raise InvalidRecord(f"{eas!r} is not true/false", where=f"{where} uid {uid}", field="eas")
    stale_before = utc_timestamp(now - timedelta(seconds=resolution_s))
    cursor = conn.execute(_TAG_SEEN_SQL, (uid, owner_institution, primary_item_id,
                                          utc_timestamp(now), afi, eas, stale_before))
    return cursor.rowcount > 0


class ItemCache:
    """Item status and tag observations: fast reads here, writes through ``writer``."""

    def __init__(self, writer: StoreWriter, readers: ReadConnections, *,
                 clock: Callable[[], datetime] = utc_now,
                 last_seen_resolution_s: float = LAST_SEEN_RESOLUTION_S) -> None:
        self._writer = writer
        self._readers = readers
        self._clock = clock
        self.last_seen_resolution_s = last_seen_resolution_s

    # --- reads -------------------------------------------------------------------------------

    def get(self, owner_institution: str, primary_item_id: str) -> CachedItem | None:
        """The cached item, or None when the catalog has not told us about it."""
        try:
            row = self._readers.cursor().execute(
                _GET_ITEM_SQL, (owner_institution, primary_item_id)).fetchone()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, "reading an item") from exc
        if row is None:
            return None
        return CachedItem(row[0], row[1], row[2], row[3] == 1, row[4], row[5], row[6], row[7],
                          row[8], row[9])

    def by_uid(self, uid: str) -> TagObservation | None:
        """The last observation of tag ``uid`` with its cached item, or None if never seen."""
        key = normalize_uid(uid, where="by_uid")
        try:
            row = self._readers.cursor().execute(_BY_UID_SQL, (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, "reading a tag observation") from exc
        if row is None:
            return None
        item = None if row[6] is None else CachedItem(
            row[1], row[2], row[6], row[7] == 1, row[8], row[9], row[10], row[11], row[12],
            row[13])
        return TagObservation(row[0], row[1], row[2], row[3], row[4],
                              None if row[5] is None else row[5] == 1, item)

    def count(self) -> int:
        return self._scalar_int("SELECT count(*) FROM items", "counting items") or 0

    def last_delta_seq(self) -> int | None:
        """Seq of the last delta applied (or of the snapshot bootstrapped), None if none yet."""
        return self._state_int(LAST_DELTA_SEQ)

    def snapshot_progress(self) -> SnapshotProgress:
        return SnapshotProgress(
            snapshot_seq=self._state_int(SNAPSHOT_SEQ),
            pages_done=self._state_int(SNAPSHOT_PAGES_DONE) or 0,
            items_done=self._state_int(SNAPSHOT_ITEMS_DONE) or 0,
            complete=bool(self._state_int(SNAPSHOT_COMPLETE)),
        )

    def _state_int(self, key: str) -> int | None:
        try:
            return read_int(self._readers.cursor().connection, key)
        except sqlite3.Error as exc:
            raise self._readers.error(exc, f"reading sync state {key!r}") from exc

    def _scalar_int(self, sql: str, doing: str) -> int | None:
        try:
            row = self._readers.cursor().execute(sql).fetchone()
        except sqlite3.Error as exc:
            raise self._readers.error(exc, doing) from exc
        return None if row is None else int(row[0])

    # --- writes ------------------------------------------------------------------------------

    async def apply_delta(self, records: Sequence[ItemRecord], seq: int) -> DeltaResult:
        """Apply one item delta: newer versions only, seq recorded in the same transaction."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidRecord(f"{seq!r} is not a delta sequence number", where="item delta",
                                field="seq")
        now = utc_timestamp(self._clock())
        rows = [_item_row(record, now=now, where=f"item delta {seq} record {index}")
                for index, record in enumerate(records)]

        def apply(conn: sqlite3.Connection) -> DeltaResult:
            last = read_int(conn, LAST_DELTA_SEQ)
            if last is not None and seq <= last:
                return DeltaResult(seq=seq, received=len(rows), applied=0, stale_seq=True,
                                   gap_before=False)
            applied = write_item_records(conn, rows)
            write_state(conn, LAST_DELTA_SEQ, seq)
            return DeltaResult(seq=seq, received=len(rows), applied=applied, stale_seq=False,
                               gap_before=last is not None and seq > last + 1)

        # A delta is already a batch and the sync layer applies them one after another:
        # waiting out the window per delta would only add latency.
        return await self._writer.submit(apply, name=f"apply_delta seq {seq}", commit_now=True)

    async def bootstrap(self, pages: Pages, *, snapshot_seq: int,
                        first_page: int = 0) -> SnapshotProgress:
        """Load a paged snapshot taken at delta ``snapshot_seq``; ``pages`` start at
        ``first_page`` (0, or ``snapshot_progress().pages_done`` to resume the same snapshot).

        The snapshot is the catalog's whole item set for the site: a snapshot begun on a
        non-empty cache (a resync) deletes, once its last page is committed, the cached items
        it did not name (``items_removed``), in transactions of ``BOOTSTRAP_BATCH_ITEMS``
        cached items; one naming no item at all deletes nothing."""
        if isinstance(snapshot_seq, bool) or not isinstance(snapshot_seq, int) or snapshot_seq < 0:
            raise InvalidRecord(f"{snapshot_seq!r} is not a sequence number", where="snapshot",
                                field="snapshot_seq")
        progress = self.snapshot_progress()
        if first_page and (first_page != progress.pages_done
                           or progress.snapshot_seq != snapshot_seq or progress.complete):
            raise InvalidRecord(
                f"cannot resume at page {first_page}: recorded progress is {progress}",
                where=f"snapshot {snapshot_seq}", field="first_page")
        items_done = progress.items_done if first_page else 0
        pages_done = first_page
        fresh = first_page == 0   # the first write of a new snapshot decides about the purge
        batch: list[ItemRow] = []
        in_flight: asyncio.Task[int] | None = None
        try:
            async for page in _pages(pages):
                now = utc_timestamp(self._clock())
                batch.extend(_item_row(record, now=now,
                                       where=f"snapshot page {pages_done} item {index}")
                             for index, record in enumerate(page))
                pages_done += 1
                if len(batch) >= BOOTSTRAP_BATCH_ITEMS:
                    items_done += len(batch)
                    if in_flight is not None:
                        await in_flight
                    # Write this batch while the next one is being built.
                    in_flight = asyncio.ensure_future(self._write_snapshot_batch(
                        batch, snapshot_seq=snapshot_seq, pages_done=pages_done,
                        items_done=items_done, complete=False, fresh=fresh))
                    batch, fresh = [], False
        finally:
            if in_flight is not None:
                # Never leave a batch unawaited, also when the pages failed: its error (if any)
                # wins over nothing, and a pages error still propagates after it.
                await asyncio.wait([in_flight])
                if not in_flight.cancelled():
                    in_flight.exception()  # marks it retrieved; result() below re-raises it
        if in_flight is not None:
            in_flight.result()
        items_done += len(batch)
        purge = await self._write_snapshot_batch(
            batch, snapshot_seq=snapshot_seq, pages_done=pages_done, items_done=items_done,
            complete=True, fresh=fresh)
        removed = await self._purge_unnamed(snapshot_seq) if purge else 0
        return SnapshotProgress(snapshot_seq=snapshot_seq, pages_done=pages_done,
                                items_done=items_done, complete=True, items_removed=removed)

    async def _write_snapshot_batch(self, rows: list[ItemRow], *, snapshot_seq: int,
                                    pages_done: int, items_done: int, complete: bool,
                                    fresh: bool) -> bool:
        """Write one batch; True when the snapshot completed and the cached items it did not
        name are to be deleted (``_purge_unnamed``)."""
        rows.sort(key=lambda row: (row[0], row[1]))

        def write(conn: sqlite3.Connection) -> bool:
            if fresh:
                conn.execute("DELETE FROM snapshot_keys")   # of a snapshot never completed
                replaces = conn.execute("SELECT EXISTS (SELECT 1 FROM items)").fetchone()[0]
                write_state(conn, SNAPSHOT_PURGE, int(bool(replaces)))
            purging = read_int(conn, SNAPSHOT_PURGE) == 1
            if purging:
                conn.executemany(_SNAPSHOT_KEY_SQL, [(row[0], row[1]) for row in rows])
            write_item_records(conn, rows)
            write_state(conn, SNAPSHOT_SEQ, snapshot_seq)
            write_state(conn, SNAPSHOT_PAGES_DONE, pages_done)
            write_state(conn, SNAPSHOT_ITEMS_DONE, items_done)
            write_state(conn, SNAPSHOT_COMPLETE, int(complete))
            if complete:
                # The snapshot is the authority, also when central's sequence went back (a
                # restored gateway database): later deltas follow on from its seq, not ours.
                write_state(conn, LAST_DELTA_SEQ, snapshot_seq)
            if not (complete and purging):
                return False
            if items_done:
                return True
            # A snapshot naming no item is a central whose database is empty or lost (one
            # empty page), not a catalog without items: it must not wipe every box's cache.
            conn.execute("DELETE FROM snapshot_keys")
            write_state(conn, SNAPSHOT_PURGE, 0)
            return False

        return await self._writer.submit(write, name=f"bootstrap snapshot {snapshot_seq}",
                                         commit_now=True)

    async def _purge_unnamed(self, snapshot_seq: int) -> int:
        """Delete the cached items the completed snapshot did not name; the count.

        One writer transaction per ``BOOTSTRAP_BATCH_ITEMS`` cached items in key order, as
        the batches were written: one statement over a 1M-item cache would hold the writer
        (and every kiosk waiting on it) for several batches' time. No delta is applied in
        between (the sync layer holds them until ``bootstrap`` returns), and a crash
        in between leaves the rest until the next resync, as before such purges existed."""
        def purge(conn: sqlite3.Connection, lower: tuple[str, str]
                  ) -> tuple[int, tuple[str, str] | None]:
            """Keys above ``lower``, up to the next batch's last: the count, and that key
            (None when this was the last range: the snapshot's keys go then)."""
            row = conn.execute(_PURGE_BOUND_SQL, (*lower, BOOTSTRAP_BATCH_ITEMS - 1)).fetchone()
            upper = None if row is None else (str(row[0]), str(row[1]))
            if upper is not None:
                return max(conn.execute(_PURGE_RANGE_SQL, (*lower, *upper)).rowcount, 0), upper
            count = max(conn.execute(_PURGE_REST_SQL, lower).rowcount, 0)
            conn.execute("DELETE FROM snapshot_keys")
            write_state(conn, SNAPSHOT_PURGE, 0)
            return count, None

        removed = 0
        after: tuple[str, str] | None = ("", "")   # below every key: item ids are never empty
        while after is not None:
            count, after = await self._writer.submit(
                functools.partial(purge, lower=after),
                name=f"bootstrap snapshot {snapshot_seq} purge", commit_now=True)
            removed += count
        return removed

    async def record_tag_seen(self, uid: str, owner_institution: str, primary_item_id: str, *,
                              afi: int | None = None, eas: bool | None = None) -> bool:
        """Record that tag ``uid`` (naming this item) was read; False if skipped as unchanged."""
        now = self._clock()
        normalize_uid(uid, where="record_tag_seen")  # refuse bad input before queueing

        def write(conn: sqlite3.Connection) -> bool:
            return write_tag_seen(conn, uid, owner_institution, primary_item_id, afi=afi,
                                  eas=eas, now=now, resolution_s=self.last_seen_resolution_s)

        return await self._writer.submit(write, name="record_tag_seen")

    async def forget_tag(self, uid: str) -> bool:
        """Delete what was observed of tag ``uid`` (a patron card cached before cards were
        left out); False if nothing was kept."""
        key = normalize_uid(uid, where="forget_tag")

        def write(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM tag_uids WHERE uid = ?", (key,)).rowcount > 0

        return await self._writer.submit(write, name="forget_tag")

    async def set_security_expected(self, owner_institution: str, primary_item_id: str,
                                    expected: bool) -> bool:
        """Record what security state the item should have now; False if it is not cached."""
        now = self._clock()
        _check_key(owner_institution, primary_item_id, where="set_security_expected")

        def write(conn: sqlite3.Connection) -> bool:
            return write_security_expected(conn, owner_institution, primary_item_id, expected,
                                           now=now)

        return await self._writer.submit(write, name="set_security_expected")


async def _pages(pages: Pages) -> AsyncIterable[Sequence[ItemRecord]]:
    if isinstance(pages, AsyncIterable):
        async for page in pages:
            yield page
    else:
        for page in pages:
            yield page
