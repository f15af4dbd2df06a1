# SPDX-License-Identifier: Apache-2.0
"""UUIDv7 (RFC 9562): the layout bit by bit, the RFC's own example, time order, monotonic
sequences, refusals."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.contract import ContractError, Uuid7Sequence, is_uuid7, uuid7, uuid7_time_ms

millis = st.integers(0, 2**48 - 1)
rands = st.binary(min_size=10, max_size=10)


def rand_bytes(rand_a: int, rand_b: int) -> bytes:
    """The 10 bytes whose first 74 bits are rand_a (12 bits) then rand_b (62 bits)."""
    return (((rand_a << 62) | rand_b) << 6).to_bytes(10, "big")


def test_rfc9562_appendix_a6_example() -> None:
    # RFC 9562 A.6: unix_ts_ms 0x017F22E279B0 (2022-02-22 19:22:22 UTC), rand_a 0xCC3,
    # rand_b 0x18C4DC0C0C07398F -> 017F22E2-79B0-7CC3-98C4-DC0C0C07398F.
    made = uuid7(0x017F22E279B0, rand_bytes(0xCC3, 0x18C4DC0C0C07398F))
    assert made == "017f22e2-79b0-7cc3-98c4-dc0c0c07398f"
    assert uuid7_time_ms(made) == 0x017F22E279B0


@given(millis, rands)
def test_layout(unix_ms: int, rand: bytes) -> None:
    text = uuid7(unix_ms, rand)
    parsed = uuid.UUID(text)
    assert str(parsed) == text                     # canonical lowercase 8-4-4-4-12
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122         # variant bits 10
    value = parsed.int
    assert value >> 80 == unix_ms                  # 48-bit big-endian timestamp first
    rand74 = int.from_bytes(rand, "big") >> 6
    assert (value >> 64) & 0xFFF == rand74 >> 62   # rand_a
    assert value & ((1 << 62) - 1) == rand74 & ((1 << 62) - 1)   # rand_b
    assert is_uuid7(text)
    assert uuid7_time_ms(text) == unix_ms


@given(millis, millis, rands, rands)
def test_ids_sort_by_time_as_strings(a_ms: int, b_ms: int, a_rand: bytes, b_rand: bytes) -> None:
    a, b = uuid7(a_ms, a_rand), uuid7(b_ms, b_rand)
    if a_ms < b_ms:
        assert a < b
    elif a_ms > b_ms:
        assert a > b


@given(st.lists(st.tuples(st.integers(1_700_000_000_000, 1_700_000_000_010), rands),
                min_size=1, max_size=200))
def test_a_sequence_is_strictly_increasing_whatever_the_clock_does(
        calls: list[tuple[int, bytes]]) -> None:
    sequence = Uuid7Sequence()
    made = [sequence.next(unix_ms, rand) for unix_ms, rand in calls]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(is_uuid7(m) for m in made)
    # never earlier than the clock said, and only ahead of it when it stepped back
    for m, (unix_ms, _) in zip(made, calls, strict=True):
        assert uuid7_time_ms(m) >= unix_ms


def test_a_sequence_carries_into_the_time_when_the_random_part_is_exhausted() -> None:
    sequence = Uuid7Sequence()
    first = sequence.next(1000, b"\xff" * 10)
    second = sequence.next(1000, b"\x00" * 10)
    assert uuid7_time_ms(first) == 1000
    assert uuid7_time_ms(second) == 1001
    assert first < second
    sequence.next(2**48 - 1, b"\xff" * 10)
    with pytest.raises(ContractError):
        sequence.next(2**48 - 1, b"\x00" * 10)


@pytest.mark.parametrize(("unix_ms", "rand", "field"), [
    (-1, bytes(10), "unix_ms"),
    (2**48, bytes(10), "unix_ms"),
    (True, bytes(10), "unix_ms"),
    (1.5, bytes(10), "unix_ms"),
    (0, bytes(9), "rand"),
    (0, bytes(11), "rand"),
    (0, "0123456789", "rand"),
])
def test_bad_inputs_are_refused(unix_ms: int, rand: bytes, field: str) -> None:
    with pytest.raises(ContractError) as caught:
        uuid7(unix_ms, rand)
    assert caught.value.field == field


@pytest.mark.parametrize("text", [
    "017F22E2-79B0-7CC3-98C4-DC0C0C07398F",      # upper case: ids compare as strings
    "{017f22e2-79b0-7cc3-98c4-dc0c0c07398f}",
    "017f22e279b07cc398c4dc0c0c07398f",
    "017f22e2-79b0-4cc3-98c4-dc0c0c07398f",      # version 4
    "017f22e2-79b0-7cc3-c8c4-dc0c0c07398f",      # variant 110
    "017f22e2-79b0-7cc3-98c4-dc0c0c07398f\n",
    "",
])
def test_only_canonical_uuid7_text_is_a_uuid7(text: str) -> None:
    assert not is_uuid7(text)
    with pytest.raises(ContractError):
        uuid7_time_ms(text)
