# SPDX-License-Identifier: Apache-2.0
"""ItemCache: lookups, deltas newer-only with their seq, bootstrap of 10,000 items, tag
observations, the catalog-version rule."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_service.store import (
    InvalidRecord,
    ItemCache,
    ItemRecord,
    Store,
    StoreClosed,
    StoreConfig,
    catalog_version_newer,
)
from edge_service.store import cache as cache_module
from tests.store.conftest import OWNER, item


@pytest.mark.parametrize(("candidate", "current", "newer"), [
    ("10", "9", True),  # integers numerically, not as text
    ("9", "10", False),
    ("7", "7", False),
    ("0010", "9", True),
    ("2026-10-01T10:15:02.123Z", "2026-09-30T23:00:00.000Z", True),
    ("2026-09-30T23:00:00.000Z", "2026-10-01T10:15:02.123Z", False),
    ("10", "2026-01-01", True),  # mixed kinds: the contract's rule counts it as newer
    ("2026-10-01T09:00:00Z", "2026-10-01T10:00:00+02:00", True),  # instants, not text
    ("\u0661\u0662", "5", True),  # Arabic-Indic digits are not integers here: text order
])
def test_catalog_version_rule(candidate: str, current: str, newer: bool) -> None:
    assert catalog_version_newer(candidate, current) is newer


@given(st.integers(0, 10**30), st.integers(0, 10**30))
def test_integer_versions_compare_numerically(a: int, b: int) -> None:
    assert catalog_version_newer(str(a), str(b)) is (a > b)
    assert not (catalog_version_newer(str(a), str(b)) and catalog_version_newer(str(b), str(a)))


def test_item_record_names_the_bad_field() -> None:
    with pytest.raises(InvalidRecord) as caught:
        item(1, circulation_status="14")
    assert caught.value.field == "circulation_status"
    assert "'0000000001'" in str(caught.value)
    with pytest.raises(InvalidRecord, match="set_size"):
        item(1, set_size=0)
    with pytest.raises(InvalidRecord, match="primary_item_id"):
        item(1, primary_item_id="")
    with pytest.raises(InvalidRecord, match="control characters"):
        item(1, title="bad\x00title")


async def test_delta_applies_only_newer_versions_and_records_its_seq(db_path: Path) -> None:
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        cache = store.cache
        first = await cache.apply_delta([item(1, catalog_version="9"), item(2)], seq=10)
        assert (first.applied, first.stale_seq, first.gap_before) == (2, False, False)
        assert cache.last_delta_seq() == 10
        result = await cache.apply_delta([
            item(1, catalog_version="10", circulation_status="04", security_expected=False),
            item(2, catalog_version="1", circulation_status="12"),  # same version: kept
            item(3, catalog_version="5"),
        ], seq=11)
        assert result.applied == 2
        one, two = cache.get(OWNER, "0000000001"), cache.get(OWNER, "0000000002")
        assert one is not None
        assert (one.circulation_status, one.security_expected, one.catalog_version) == (
            "04", False, "10")
        assert two is not None
        assert two.circulation_status == "03"
        assert cache.count() == 3
        older = await cache.apply_delta([item(1, catalog_version="8")], seq=12)
        assert older.applied == 0
        assert cache.last_delta_seq() == 12
        redelivered = await cache.apply_delta([item(4)], seq=12)
        assert redelivered.stale_seq
        assert cache.get(OWNER, "0000000004") is None
        gap = await cache.apply_delta([item(4)], seq=20)
        assert gap.gap_before
        assert cache.last_delta_seq() == 20


async def test_bad_delta_is_refused_whole_naming_the_record(db_path: Path) -> None:
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        with pytest.raises(InvalidRecord, match="item delta 3 record 1"):
            await store.cache.apply_delta([item(1), "not a record"], seq=3)  # type: ignore[list-item]
        assert store.cache.count() == 0
        assert store.cache.last_delta_seq() is None
        with pytest.raises(InvalidRecord, match="seq"):
            await store.cache.apply_delta([item(1)], seq=-1)


def pages_of(count: int, size: int, version: str = "1") -> list[list[ItemRecord]]:
    return [[item(n, catalog_version=version) for n in range(start, min(start + size, count))]
            for start in range(0, count, size)]


async def test_bootstrap_of_10000_items(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "BOOTSTRAP_BATCH_ITEMS", 3000)  # several batches

    async def arriving(
            pages: Sequence[Sequence[ItemRecord]]) -> AsyncIterator[Sequence[ItemRecord]]:
        for page in pages:
            yield page

    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        progress = await store.cache.bootstrap(arriving(pages_of(10_000, 1000)), snapshot_seq=77)
        assert (progress.pages_done, progress.items_done, progress.complete) == (10, 10_000, True)
        assert store.cache.count() == 10_000
        assert store.cache.snapshot_progress() == progress
        assert store.cache.last_delta_seq() == 77
        last = store.cache.get(OWNER, "0000009999")
        assert last is not None
        assert last.title == "Title 9999"


async def test_bootstrap_resumes_after_a_failed_page(db_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "BOOTSTRAP_BATCH_ITEMS", 100)
    pages = pages_of(500, 100)

    def broken() -> object:
        yield from pages[:3]
        raise ConnectionError("broker went away")

    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        with pytest.raises(ConnectionError):
            await store.cache.bootstrap(broken(), snapshot_seq=5)  # type: ignore[arg-type]
        progress = store.cache.snapshot_progress()
        assert (progress.pages_done, progress.items_done, progress.complete) == (3, 300, False)
        with pytest.raises(InvalidRecord, match="cannot resume"):
            await store.cache.bootstrap(pages[2:], snapshot_seq=5, first_page=2)
        done = await store.cache.bootstrap(pages[3:], snapshot_seq=5, first_page=3)
        assert (done.pages_done, done.items_done, done.complete) == (5, 500, True)
        assert store.cache.count() == 500


async def test_snapshot_sets_the_delta_seq_also_when_lower(db_path: Path) -> None:
    """A central restored from an older database: its snapshot is the authority, so the
    deltas after it apply, also after the store is opened again."""
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        await store.cache.apply_delta([item(1, catalog_version="3")], seq=20)
        await store.cache.bootstrap([[item(1, catalog_version="4")]], snapshot_seq=5)
        assert store.cache.last_delta_seq() == 5
        six = await store.cache.apply_delta([item(2)], seq=6)
        assert (six.stale_seq, six.applied) == (False, 1)
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        assert store.cache.last_delta_seq() == 6
        seven = await store.cache.apply_delta([item(3)], seq=7)
        assert (seven.stale_seq, seven.applied) == (False, 1)
        assert store.cache.count() == 3


def cached_ids(store: Store) -> set[int]:
    rows = store.readers.cursor().execute("SELECT primary_item_id FROM items").fetchall()
    return {int(row[0]) for row in rows}


def kept_keys(store: Store) -> int:
    return int(store.readers.cursor().execute("SELECT count(*) FROM snapshot_keys").fetchone()[0])


async def test_a_resync_snapshot_removes_the_items_it_does_not_name(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "BOOTSTRAP_BATCH_ITEMS", 20)   # several transactions
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        await store.cache.apply_delta([item(n, catalog_version="5") for n in range(100)], seq=3)
        # Central withdrew items 50-99 and added 100-109; the copies it still has keep their
        # version (so the upsert leaves their rows as they are), one spells its owner in lower
        # case (one library, ISO 15511).
        named = [item(n, catalog_version="5") for n in range(1, 50)] + \
            [item(0, catalog_version="5", owner_institution=OWNER.lower())] + \
            [item(n) for n in range(100, 110)]
        done = await store.cache.bootstrap([named[i:i + 7] for i in range(0, len(named), 7)],
                                           snapshot_seq=9)
        assert (done.items_done, done.items_removed) == (60, 50)
        assert cached_ids(store) == set(range(50)) | set(range(100, 110))
        assert kept_keys(store) == 0      # kept only while a snapshot runs
        # The next snapshot naming everything removes nothing.
        again = await store.cache.bootstrap([named], snapshot_seq=10)
        assert again.items_removed == 0
        assert store.cache.count() == 60


async def test_only_the_completed_snapshot_s_keys_count(db_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "BOOTSTRAP_BATCH_ITEMS", 10)
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        await store.cache.apply_delta([item(n) for n in range(40)], seq=1)
        pages = pages_of(30, 10)

        def failing() -> object:
            yield from pages[:2]
            raise ConnectionError("broker went away")

        # A snapshot that names 0-19 and fails; resumed, its first pages still count.
        with pytest.raises(ConnectionError):
            await store.cache.bootstrap(failing(), snapshot_seq=2)  # type: ignore[arg-type]
        assert store.cache.count() == 40      # nothing removed before it completes
        resumed = await store.cache.bootstrap(pages[2:], snapshot_seq=2, first_page=2)
        assert resumed.items_removed == 10
        assert cached_ids(store) == set(range(30))
        # A new snapshot after a failed one starts its keys afresh: 0-19 named only by the
        # failed attempt are removed by the one that completes.
        with pytest.raises(ConnectionError):
            await store.cache.bootstrap(failing(), snapshot_seq=3)  # type: ignore[arg-type]
        fresh = await store.cache.bootstrap([pages[2]], snapshot_seq=3)
        assert fresh.items_removed == 20
        assert cached_ids(store) == set(range(20, 30))


async def test_the_purge_holds_the_writer_one_batch_at_a_time(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One DELETE over a 1M-item cache held the writer (and the kiosks waiting on it) for
    several batches' time: the items not named go in transactions of a batch of keys each."""
    monkeypatch.setattr(cache_module, "BOOTSTRAP_BATCH_ITEMS", 10)
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        await store.cache.apply_delta([item(n) for n in range(95)], seq=1)
        named = [item(n) for n in range(0, 95, 2)] + [item(n) for n in range(200, 205)]
        purges: list[int] = []
        submit = store.writer.submit

        async def counting(operation: Any, *, name: str | None = None,
                           commit_now: bool = False) -> Any:
            before = store.cache.count()
            result = await submit(operation, name=name, commit_now=commit_now)
            if name is not None and name.endswith("purge"):
                purges.append(before - store.cache.count())
            return result

        monkeypatch.setattr(store.writer, "submit", counting)
        done = await store.cache.bootstrap([named[i:i + 7] for i in range(0, len(named), 7)],
                                           snapshot_seq=2)
        assert done.items_removed == sum(purges) == 47
        assert len(purges) >= 10
        assert max(purges) <= 10
        assert cached_ids(store) == set(range(0, 95, 2)) | set(range(200, 205))
        assert kept_keys(store) == 0


async def test_an_empty_snapshot_removes_nothing(db_path: Path) -> None:
    """A snapshot naming no item at all is what a gateway with an empty or lost database
    answers (one empty page): taken as the catalog's whole item set it would wipe the cache
    of every box of the site. It only sets the seq."""
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        await store.cache.apply_delta([item(n) for n in range(10)], seq=3)
        done = await store.cache.bootstrap([[]], snapshot_seq=4)
        assert (done.items_done, done.items_removed) == (0, 0)
        assert (store.cache.count(), kept_keys(store)) == (10, 0)
        assert store.cache.last_delta_seq() == 4


async def test_a_bootstrap_into_an_empty_cache_keeps_no_keys(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "BOOTSTRAP_BATCH_ITEMS", 10)
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        def failing() -> object:
            yield from pages_of(20, 10)
            raise ConnectionError("broker went away")

        with pytest.raises(ConnectionError):
            await store.cache.bootstrap(failing(), snapshot_seq=1)  # type: ignore[arg-type]
        assert (store.cache.count(), kept_keys(store)) == (20, 0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_tag_observations_skip_unchanged_rereads(db_path: Path) -> None:
    clock = Clock()
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        cache = ItemCache(store.writer, store.readers, clock=clock, last_seen_resolution_s=60)
        await cache.apply_delta([item(1)], seq=1)
        uid = "e0040150a1b2c3d4"
        assert await cache.record_tag_seen(uid, OWNER, "0000000001", afi=0x07, eas=True)
        seen = cache.by_uid(uid.upper())
        assert seen is not None
        assert (seen.last_afi, seen.last_eas, seen.last_seen) == (
            0x07, True, "2026-10-01T10:00:00.000Z")
        assert seen.item is not None
        assert seen.item.title == "Title 1"
        clock.now += timedelta(seconds=30)
        assert not await cache.record_tag_seen(uid, OWNER, "0000000001", afi=0x07, eas=True)
        assert await cache.record_tag_seen(uid, OWNER, "0000000001", afi=0xC2, eas=False)
        clock.now += timedelta(seconds=61)
        assert await cache.record_tag_seen(uid, OWNER, "0000000001", afi=0xC2, eas=False)
        seen = cache.by_uid(uid)
        assert seen is not None
        assert (seen.last_afi, seen.last_eas, seen.last_seen) == (
            0xC2, False, "2026-10-01T10:01:31.000Z")
        # A foreign library's tag: observed, no cached item.
        assert await cache.record_tag_seen("E0040150FFFFFFFF", "SE-1234", "77")
        foreign = cache.by_uid("E0040150FFFFFFFF")
        assert foreign is not None
        assert foreign.item is None
        assert cache.by_uid("E004015000000000") is None
        with pytest.raises(InvalidRecord, match="uid"):
            await cache.record_tag_seen("not hex", OWNER, "1")
        with pytest.raises(InvalidRecord, match="afi"):
            await cache.record_tag_seen(uid, OWNER, "1", afi=300)


async def test_security_expected_is_the_edges_word_until_a_newer_delta(db_path: Path) -> None:
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        cache = store.cache
        await cache.apply_delta([item(1, catalog_version="5")], seq=1)
        assert await cache.set_security_expected(OWNER, "0000000001", expected=False)
        cached = cache.get(OWNER, "0000000001")
        assert cached is not None
        assert cached.security_expected is False
        assert not await cache.set_security_expected(OWNER, "unknown", expected=False)
        await cache.apply_delta([item(1, catalog_version="6", security_expected=True)], seq=2)
        cached = cache.get(OWNER, "0000000001")
        assert cached is not None
        assert cached.security_expected is True


async def test_unsecured_since_is_when_the_expectation_turned_off(db_path: Path) -> None:
    """The gate's grace window counts from it: set when security is no longer expected (the
    edge's checkout or a delta), kept by any other change, cleared when expected again."""
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        cache, key = store.cache, (OWNER, "0000000001")

        def since() -> str | None:
            cached = cache.get(*key)
            assert cached is not None
            return cached.unsecured_since

        await cache.apply_delta([item(1, security_expected=False)], seq=1)
        assert since() is None                   # new to this box already lent: unknown
        await cache.apply_delta([item(1, catalog_version="2")], seq=2)
        assert since() is None                   # expected secured
        assert await cache.set_security_expected(*key, expected=False)
        first = since()
        assert first is not None
        assert first == cache.get(*key).updated_at  # type: ignore[union-attr]
        assert await cache.set_security_expected(*key, expected=False)
        await cache.apply_delta([item(1, catalog_version="3", security_expected=False,
                                      circulation_status="04", title="Retitled")], seq=3)
        assert since() == first                  # neither repeating it nor the delta restarts
        await cache.apply_delta([item(1, catalog_version="4")], seq=4)
        assert since() is None                   # returned
        await cache.apply_delta([item(1, catalog_version="5", security_expected=False)], seq=5)
        assert since() is not None               # lent at a desk: the delta starts it
        observation_key = "E004010000000001"
        await cache.record_tag_seen(observation_key, *key)
        observed = cache.by_uid(observation_key)
        assert observed is not None
        assert observed.item is not None
        assert observed.item.unsecured_since == since()


async def test_reads_after_close_are_refused(db_path: Path) -> None:
    store = await Store.open(StoreConfig(db_path, max_delay_s=0.01))
    assert store.cache.get(OWNER, "1") is None
    await store.close()
    with pytest.raises(StoreClosed):
        store.cache.get(OWNER, "1")
    with pytest.raises(StoreClosed):
        await store.cache.set_security_expected(OWNER, "1", expected=True)


async def test_an_owner_isil_is_one_key_whatever_its_case(db_path: Path) -> None:
    """ISILs compare without regard to case (ISO 15511), but the cache keyed items by the owner
    as written: an item bootstrapped under DK-718500 was not found for a tag saying dk-718500,
    and a delta naming dk-718500 made a second row. Found by a review."""
    async with await Store.open(StoreConfig(db_path, max_delay_s=0.01)) as store:
        cache, lower = store.cache, OWNER.lower()
        await cache.bootstrap([[item(1, catalog_version="5"), item(2)]], snapshot_seq=1)
        found = cache.get(lower, "0000000001")
        assert found is not None
        assert (found.owner_institution, found.catalog_version) == (OWNER, "5")
        delta = await cache.apply_delta([item(1, owner_institution=lower, catalog_version="6",
                                              circulation_status="04")], seq=2)
        assert delta.applied == 1
        assert cache.count() == 2
        assert cache.get(OWNER, "0000000001") == cache.get("Dk-718500", "0000000001")
        assert cache.get(OWNER, "0000000001").circulation_status == "04"  # type: ignore[union-attr]
        assert await cache.set_security_expected(lower, "0000000002", expected=False)
        assert cache.get(OWNER, "0000000002").security_expected is False  # type: ignore[union-attr]
        await cache.record_tag_seen("E004010000000002", lower, "0000000002")
        seen = cache.by_uid("E004010000000002")
        assert seen is not None
        assert seen.owner_institution == OWNER
        assert seen.item is not None
        assert seen.item.primary_item_id == "0000000002"
        # A snapshot naming an owner in lower case is stored under the one form too (and it
        # names items 1 and 2 again: what a snapshot does not name is removed).
        await cache.bootstrap([[item(n, owner_institution=lower, catalog_version="7")
                                for n in (1, 2, 3)]], snapshot_seq=3)
        assert cache.get(OWNER, "0000000003") is not None
        assert cache.count() == 3
