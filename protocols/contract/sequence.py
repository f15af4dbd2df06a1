# SPDX-License-Identifier: Apache-2.0
"""Ordering rules for the item-status downlink: the per-site delta sequence, and record versions.

**Delta sequence.** Central numbers the deltas of one site 1, 2, 3, ... (``ItemDelta.seq``).
:class:`DeltaSequencer` holds the last applied number and classifies each arriving delta:

    seq <= last        DUPLICATE  already applied (QoS 1 redelivery, or older than the snapshot)
    seq == last + 1    APPLY      apply it, then call applied(seq)
    seq >  last + 1    GAP        deltas were lost: resync (command sync.items / snapshot), then
                                  reset(seq_at_snapshot); never trust the broker queue instead
    no baseline yet    GAP        a node without a snapshot starts with one

**Record versions.** Each ``ItemRecord.version`` is the catalog's own version of the record;
a record is applied only if :func:`is_newer` (cached, incoming):

    both integers          numerically                         7 < 12
    both strings, both     by the instant they name, whatever  "2026-10-01T10:15:02.5Z" after
      RFC 3339 date-times  the offset and fraction digits      "2026-10-01T12:15:02+02:00"
      with a zone
    other strings          by Unicode code point (Python <)   "000123" < "000124"; use
                                                               fixed-width versions
    integer vs string      incoming is newer: the catalog changed its versioning scheme, and
                           the catalog is authoritative for circulation state
    equal                  not newer (a duplicate changes nothing)

Not responsible for: storing the sequence (the daemon's cache), fetching a snapshot.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from fractions import Fraction

from protocols.contract.errors import ContractError

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.]([0-9]{1,12}))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SeqVerdict(StrEnum):
    APPLY = "apply"
    DUPLICATE = "duplicate"
    GAP = "gap"


def _check_seq(seq: object, what: str) -> int:
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ContractError(f"must be a non-negative integer, not {seq!r}", field=what)
    return seq


class DeltaSequencer:
    """The delta sequence of one site as seen by one node. Pure state; the caller stores
    ``last_applied`` with the cache, in the same transaction as the applied delta."""

    def __init__(self, last_applied: int | None = None) -> None:
        self._last = None if last_applied is None else _check_seq(last_applied, "last_applied")

    @property
    def last_applied(self) -> int | None:
        """The last applied seq; None before the first snapshot."""
        return self._last

    def classify(self, seq: int) -> SeqVerdict:
        _check_seq(seq, "seq")
        if self._last is None:
            return SeqVerdict.GAP
        if seq <= self._last:
            return SeqVerdict.DUPLICATE
        return SeqVerdict.APPLY if seq == self._last + 1 else SeqVerdict.GAP

    def applied(self, seq: int) -> None:
        """Record that the delta ``seq`` (classified APPLY) was applied."""
        verdict = self.classify(seq)
        if verdict is not SeqVerdict.APPLY:
            raise ContractError(f"delta {seq} is a {verdict}, not the next after {self._last}",
                                field="seq")
        self._last = seq

    def reset(self, seq_at_snapshot: int) -> None:
        """Start again from a snapshot taken when the site's sequence stood at this value."""
        self._last = _check_seq(seq_at_snapshot, "seq_at_snapshot")


def _instant(text: str) -> tuple[int, Fraction] | None:
    """(whole seconds since the epoch, fraction of a second) of an RFC 3339 date-time."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac, zulu, sign, off_h, off_m = match.groups()[6:]
    if zulu:
        zone = UTC
    else:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(offset if sign == "+" else -offset)
    try:
        # RFC 3339 allows second 60 (a leap second); it orders as the next second's start.
        leap = second == 60
        moment = datetime(year, month, day, hour, minute, 59 if leap else second, tzinfo=zone)
    except ValueError:
        return None
    seconds = (moment - _EPOCH) // timedelta(seconds=1) + (1 if leap else 0)
    return seconds, Fraction(int(frac), 10 ** len(frac)) if frac else Fraction(0)


def is_newer(cached: int | str, incoming: int | str) -> bool:
    """Whether a record of version ``incoming`` replaces one of version ``cached`` (rules in
    the module docstring)."""
    for value, what in ((cached, "cached"), (incoming, "incoming")):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ContractError(f"a version is an integer or a string, not {value!r}",
                                field=what)
    if isinstance(cached, int) and isinstance(incoming, int):
        return incoming > cached
    if isinstance(cached, str) and isinstance(incoming, str):
        old, new = _instant(cached), _instant(incoming)
        if old is not None and new is not None:
            return new > old
        return incoming > cached
    return True
