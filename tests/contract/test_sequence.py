# SPDX-License-Identifier: Apache-2.0
"""The delta sequencer and version ordering: the documented tables, and a model of a lossy,
duplicating, reordering broker."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.contract import (
    ContractError,
    DeltaSequencer,
    SeqVerdict,
    format_time,
    is_newer,
)
from tests.contract.strategies import times_ms


@pytest.mark.parametrize(("last", "seq", "verdict"), [
    (None, 1, SeqVerdict.GAP),            # no snapshot yet
    (None, 0, SeqVerdict.GAP),
    (10, 11, SeqVerdict.APPLY),
    (10, 10, SeqVerdict.DUPLICATE),
    (10, 3, SeqVerdict.DUPLICATE),
    (10, 12, SeqVerdict.GAP),
    (0, 1, SeqVerdict.APPLY),
])
def test_classification(last: int | None, seq: int, verdict: SeqVerdict) -> None:
    assert DeltaSequencer(last).classify(seq) is verdict


def test_applied_advances_only_on_the_next_seq() -> None:
    sequencer = DeltaSequencer(10)
    sequencer.applied(11)
    assert sequencer.last_applied == 11
    for seq in (11, 13):
        with pytest.raises(ContractError) as caught:
            sequencer.applied(seq)
        assert caught.value.field == "seq"
    assert sequencer.last_applied == 11


def test_a_snapshot_resets_and_earlier_deltas_become_duplicates() -> None:
    sequencer = DeltaSequencer()
    assert sequencer.last_applied is None
    sequencer.reset(500)
    assert sequencer.classify(499) is SeqVerdict.DUPLICATE
    assert sequencer.classify(500) is SeqVerdict.DUPLICATE
    assert sequencer.classify(501) is SeqVerdict.APPLY


@pytest.mark.parametrize("bad", [-1, True, 1.0, "3"])
def test_bad_sequence_numbers(bad: object) -> None:
    with pytest.raises(ContractError):
        DeltaSequencer().classify(bad)  # type: ignore[arg-type]
    with pytest.raises(ContractError):
        DeltaSequencer(bad)  # type: ignore[arg-type]
    with pytest.raises(ContractError):
        DeltaSequencer().reset(bad)  # type: ignore[arg-type]


@given(st.lists(st.integers(1, 30), max_size=80), st.integers(0, 5))
def test_model_of_a_bad_broker(delivered: list[int], snapshot_at: int) -> None:
    """Whatever arrives in whatever order: the applied deltas are consecutive, none twice, and
    a gap is reported exactly when the next expected delta is not what arrived."""
    sequencer = DeltaSequencer(snapshot_at)
    applied: list[int] = []
    for seq in delivered:
        verdict = sequencer.classify(seq)
        expected = snapshot_at + len(applied) + 1
        assert (verdict is SeqVerdict.APPLY) == (seq == expected)
        assert (verdict is SeqVerdict.GAP) == (seq > expected)
        if verdict is SeqVerdict.APPLY:
            sequencer.applied(seq)
            applied.append(seq)
    assert applied == list(range(snapshot_at + 1, snapshot_at + 1 + len(applied)))


# --- versions ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("cached", "incoming", "newer"), [
    (7, 12, True),
    (12, 7, False),
    (7, 7, False),
    (9, 10, True),                                                  # numeric, not textual
    ("2026-10-01T10:15:02Z", "2026-10-01T10:15:03Z", True),
    ("2026-10-01T10:15:02Z", "2026-10-01T10:15:02.5Z", True),       # textually "." < "Z"
    ("2026-10-01T10:15:02.5Z", "2026-10-01T10:15:02Z", False),
    ("2026-10-01T10:15:02.123Z", "2026-10-01T10:15:02.123000Z", False),  # same instant
    ("2026-10-01T10:15:02Z", "2026-10-01T12:15:02+02:00", False),   # same instant
    ("2026-10-01T12:15:02+02:00", "2026-10-01T10:15:03Z", True),
    ("2026-10-01T10:15:02Z", "2026-10-01 10:15:03z", True),         # RFC 3339 allows both
    ("2016-12-31T23:59:60Z", "2017-01-01T00:00:00.5Z", True),       # leap second
    ("000123", "000124", True),                                     # not timestamps: text
    ("b", "a", False),
    ("2026-10-01T10:15:02", "2026-10-01T10:15:03", True),           # no zone: text
    ("2026-13-01T10:15:02Z", "2026-10-01T10:15:02Z", False),        # not a date: text
    (5, "2026-10-01T10:15:02Z", True),                              # scheme changed
    ("2026-10-01T10:15:02Z", 5, True),
])
def test_version_ordering(cached: int | str, incoming: int | str, newer: bool) -> None:
    assert is_newer(cached, incoming) is newer


@given(times_ms, times_ms)
def test_contract_times_order_as_instants(a: int, b: int) -> None:
    assert is_newer(format_time(a), format_time(b)) is (b > a)


@given(st.integers(0, 2**53) | st.text(max_size=30), st.integers(0, 2**53) | st.text(max_size=30))
def test_never_both_ways_for_one_kind(a: int | str, b: int | str) -> None:
    if type(a) is type(b):
        assert not (is_newer(a, b) and is_newer(b, a))


@pytest.mark.parametrize(("cached", "incoming", "field"), [
    (True, 1, "cached"), (1, None, "incoming"), (1.5, 2, "cached"),
])
def test_versions_are_ints_or_strings(cached: object, incoming: object, field: str) -> None:
    with pytest.raises(ContractError) as caught:
        is_newer(cached, incoming)  # type: ignore[arg-type]
    assert caught.value.field == field
