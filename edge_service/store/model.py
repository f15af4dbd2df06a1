# SPDX-License-Identifier: Apache-2.0
"""What the store holds, in the library's words: item records, cached items, tag observations,
outbox entries, and the catalog-version rule that decides which of two records is newer.

Contract: an :class:`ItemRecord` is the catalog's word about one item (ILS authoritative for
circulation, landscape §E4); it validates itself on construction and names the bad field.
:class:`CachedItem`, :class:`TagObservation` and :class:`OutboxEntry` are what reads return
(named tuples: they are built on the lookup hot path, where a tuple is several times cheaper
than a frozen dataclass).

Catalog versions (``catalog_version_newer``): the MQTT contract's rule
(:func:`protocols.contract.is_newer`), so the cache and the sync layer always agree: integers
(stored as ASCII digits) compare numerically, two RFC 3339 times with a zone compare as instants
(``10:00+02:00`` is older than ``09:00Z``), anything else as text, code point by code point.

Not responsible for: parsing MQTT payloads into records (the sync layer) or the SIP2 meaning of a
circulation status (the SIP2 layer); here a status is one of the codes '01'..'13'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from edge_service.store.errors import InvalidRecord
from protocols.contract import is_newer

CIRCULATION_STATUS_CODES = frozenset(f"{code:02d}" for code in range(1, 14))
"""SIP2 circulation status codes (SIP2 2.00, item information response): 01 other .. 13 missing."""

MAX_OWNER_INSTITUTION_CHARS = 16
"""ISIL is at most 16 characters (ISO 15511); '' means the tag carried no owner."""
MAX_PRIMARY_ITEM_ID_CHARS = 64
MAX_CATALOG_VERSION_CHARS = 64
MAX_TITLE_CHARS = 1000
MAX_MEDIA_CHARS = 64
MAX_SET_SIZE = 255
"""ISO 28560-1 set information counts parts in one byte."""
MAX_UID_HEX_CHARS = 64
"""An ISO 15693 UID is 16 hex digits; UHF EPCs are longer."""


def catalog_version_newer(candidate: str, current: str) -> bool:
    """True when ``candidate`` is strictly newer than ``current`` (rule in the module docstring)."""
    return is_newer(_typed(current), _typed(candidate))


def _typed(version: str) -> int | str:
    """A stored version as the contract types it: digits are an integer version."""
    return int(version) if version.isascii() and version.isdigit() else version


def utc_timestamp(moment: datetime) -> str:
    """The one text form of times in the store: ISO-8601 UTC, milliseconds, ``Z``; it sorts."""
    if moment.tzinfo is None:
        raise InvalidTimestamp(moment)
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def utc_now() -> datetime:
    return datetime.now(UTC)


class InvalidTimestamp(ValueError):
    """A naive datetime: the store cannot know which zone it meant."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        super().__init__(f"timestamp {moment.isoformat()} has no time zone")


def check_text(value: object, *, max_chars: int, empty_ok: bool) -> str | None:
    """Why ``value`` is not acceptable store text, or None when it is."""
    if not isinstance(value, str):
        return f"expected text, got {type(value).__name__}"
    if not value and not empty_ok:
        return "must not be empty"
    if len(value) > max_chars:
        return f"{len(value)} characters, at most {max_chars}"
    if not value.isprintable():
        return "contains control characters"
    return None


def normalize_uid(uid: object, *, where: str) -> str:
    """A tag UID as upper-case hex, or :class:`InvalidRecord` naming ``where``."""
    if not isinstance(uid, str):
        raise InvalidRecord(f"expected hex text, got {type(uid).__name__}", where=where,
                            field="uid")
    text = uid.upper()
    if not text or len(text) > MAX_UID_HEX_CHARS or len(text) % 2:
        raise InvalidRecord(f"{uid!r} is not an even number of 2..{MAX_UID_HEX_CHARS} hex digits",
                            where=where, field="uid")
    if not all(c in "0123456789ABCDEF" for c in text):
        raise InvalidRecord(f"{uid!r} is not hex", where=where, field="uid")
    return text


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """The catalog's word about one item, as a delta or snapshot carries it."""

    owner_institution: str
    """ISIL of the owning library ('' when the tag carries none)."""
    primary_item_id: str
    circulation_status: str
    """SIP2 circulation status code '01'..'13'."""
    security_expected: bool
    """True when the item should leave the building only with security set (not checked out)."""
    catalog_version: str
    set_size: int = 1
    title: str | None = None
    media: str | None = None

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem is not None:
            field, reason = problem
            raise InvalidRecord(reason, where=f"item {self.primary_item_id!r}", field=field)

    def problem(self) -> tuple[str, str] | None:
        """(field, reason) of the first invalid field, or None."""
        checks: list[tuple[str, str | None]] = [
            ("owner_institution", check_text(self.owner_institution,
                                             max_chars=MAX_OWNER_INSTITUTION_CHARS, empty_ok=True)),
            ("primary_item_id", check_text(self.primary_item_id,
                                           max_chars=MAX_PRIMARY_ITEM_ID_CHARS, empty_ok=False)),
            ("catalog_version", check_text(self.catalog_version,
                                           max_chars=MAX_CATALOG_VERSION_CHARS, empty_ok=False)),
        ]
        if self.title is not None:
            checks.append(("title", check_text(self.title, max_chars=MAX_TITLE_CHARS,
                                               empty_ok=True)))
        if self.media is not None:
            checks.append(("media", check_text(self.media, max_chars=MAX_MEDIA_CHARS,
                                               empty_ok=True)))
        for field, reason in checks:
            if reason is not None:
                return field, reason
        if self.circulation_status not in CIRCULATION_STATUS_CODES:
            return "circulation_status", (
                f"{self.circulation_status!r} is not a SIP2 circulation status '01'..'13'")
        if not isinstance(self.security_expected, bool):
            return "security_expected", "expected true or false"
        if (not isinstance(self.set_size, int) or isinstance(self.set_size, bool)
                or not 1 <= self.set_size <= MAX_SET_SIZE):
            return "set_size", f"{self.set_size!r} is not a set size 1..{MAX_SET_SIZE}"
        return None


class CachedItem(NamedTuple):
    """One row of the item-status cache as a read returns it."""

    owner_institution: str
    primary_item_id: str
    circulation_status: str
    security_expected: bool
    set_size: int
    title: str | None
    media: str | None
    catalog_version: str
    updated_at: str
    """When this box last changed the row (``utc_timestamp`` form)."""
    unsecured_since: str | None = None
    """When this box learnt the item went on loan (``utc_timestamp`` form; schema v4), None
    while it is expected secured or when that is unknown."""


class TagObservation(NamedTuple):
    """What the edge last observed of one tag (edge authoritative), with the item it names."""

    uid: str
    owner_institution: str
    primary_item_id: str
    last_seen: str
    last_afi: int | None
    last_eas: bool | None
    item: CachedItem | None
    """The cached item, or None when the catalog has not told us about it (e.g. a foreign tag)."""


class OutboxEntry(NamedTuple):
    """One queued event, in publish order (``id`` ascending)."""

    id: int
    event_id: str
    topic: str
    payload: bytes
    created_at: str
    attempts: int


@dataclass(frozen=True, slots=True)
class DeltaResult:
    """What ``apply_delta`` did with one delta message."""

    seq: int
    received: int
    applied: int
    """Records inserted or replacing an older version."""
    stale_seq: bool
    """The seq was not after the recorded one: nothing applied (a redelivery)."""
    gap_before: bool
    """The seq skipped numbers after the recorded one: the sync layer should resync."""


@dataclass(frozen=True, slots=True)
class SnapshotProgress:
    """How far a paged snapshot (bootstrap) has been committed; resumable after a crash."""

    snapshot_seq: int | None
    pages_done: int
    items_done: int
    complete: bool
    items_removed: int = 0
    """Cached items the completed snapshot did not name, deleted (0 while not complete, and
    for a bootstrap into an empty cache)."""
