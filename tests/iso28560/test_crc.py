# SPDX-License-Identifier: Apache-2.0
"""CRC-16/CCITT-FALSE: check values, the part-3 vectors, and a bit-by-bit reference."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.iso28560.crc import INITIAL, POLYNOMIAL, crc16_ccitt_false
from protocols.iso28560.part3 import basic_block_crc
from tests.conftest import H, load_vectors

VECTORS = load_vectors("iso28560")


def reference_crc(data: bytes) -> int:
    """The textbook shift-register form, one bit at a time: independent of the library."""
    crc = INITIAL
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ POLYNOMIAL) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"123456789", 0x29B1, id="catalogue-check-value"),
        pytest.param(b"", 0xFFFF, id="empty-is-initial-value"),
    ],
)
def test_check_values(data: bytes, expected: int) -> None:
    assert crc16_ccitt_false(data) == expected


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        pytest.param(18, 0x1AEE, id="vector18-doc067-reference"),
        pytest.param(19, 0x0D2E, id="vector19-crc-below-0x1000"),
    ],
)
def test_crc_vectors(index: int, expected: int) -> None:
    vector = VECTORS[index]
    assert crc16_ccitt_false(H(vector["hex"])) == expected, vector["source"]


def test_vector17_32_bytes_of_ff_pad_bytes_32_33_with_zero() -> None:
    vector = VECTORS[17]
    memory = H(vector["hex"])
    assert len(memory) == 32
    assert basic_block_crc(memory) == 0x68F7
    assert memory[19:21] == H("F7 68"), vector["source"]


def test_continuation_equals_one_pass() -> None:
    data = b"RFID tag data model"
    assert crc16_ccitt_false(data[7:], crc16_ccitt_false(data[:7])) == 0x1AEE


@given(st.binary(max_size=64))
def test_matches_bitwise_reference(data: bytes) -> None:
    assert crc16_ccitt_false(data) == reference_crc(data)
