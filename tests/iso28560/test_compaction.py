# SPDX-License-Identifier: Apache-2.0
"""ISO 28560-2 compaction schemes and the ISIL compaction: vectors, refusals, round trips, fuzz."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import TagFormatError
from protocols.iso28560 import compaction as c
from protocols.iso28560.isil import ISIL_CHARACTERS, compact_isil, expand_isil
from tests.conftest import H, load_vectors

VECTORS = load_vectors("iso28560")
SCHEME_OF_MODEL = {
    "28560-2 integer compaction": c.INTEGER,
    "28560-2 6-bit compaction": c.SIX_BIT,
    "28560-2 7-bit compaction": c.SEVEN_BIT,
}


def _vectors(prefix: str) -> list[object]:
    return [
        pytest.param(v, id=f"v{i}") for i, v in enumerate(VECTORS) if v["model"].startswith(prefix)
    ]


# --- vectors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", _vectors("28560-2 ISIL compaction"))
def test_isil_vector(vector: dict[str, Any]) -> None:
    data, isil = H(str(vector["hex"])), vector["decoded"]["isil"]
    assert compact_isil(isil) == data
    assert expand_isil(data) == isil


@pytest.mark.parametrize(
    "vector", [p for model in SCHEME_OF_MODEL for p in _vectors(model)]
)
def test_scheme_vector(vector: dict[str, Any]) -> None:
    code = SCHEME_OF_MODEL[str(vector["model"])]
    data, text = H(str(vector["hex"])), vector["decoded"]["text"]
    assert c.compact(text, code) == data
    assert c.expand(data, code) == text
    assert c.choose_compaction(text) == code


@pytest.mark.parametrize(
    ("text", "code", "hex_"),
    [
        ("1203", c.INTEGER, "04 B3"),          # Annex D set information
        ("0123", c.NUMERIC, "01 23"),
        ("012", c.NUMERIC, "01 2F"),           # odd digit count: pad nibble F
        ("ABC", c.FIVE_BIT, "08 86"),          # 00001 00010 00011 + pad bit 0
        ("AB", c.FIVE_BIT, "08 80"),           # 10 bits + 6 pad bits 000000
        ("ABC", c.SIX_BIT, "04 20 E0"),        # 18 bits + pad 100000 (a whole space group)
        ("A", c.SEVEN_BIT, "83"),              # 1000001 + pad 1
        ("Caf\u00e9", c.OCTET, "43 61 66 E9"),
        ("\u4e2d", c.UTF8, "E4 B8 AD"),
    ],
)
def test_packing(text: str, code: int, hex_: str) -> None:
    assert c.compact(text, code) == H(hex_)
    assert c.expand(H(hex_), code) == text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("123456789012", c.INTEGER),
        ("7", c.INTEGER),                      # no dp2-style minimum length
        ("0123456", c.NUMERIC),                # leading zero: integer would lose it
        ("1" * 20, c.NUMERIC),                 # past the 19-digit integer cap
        ("ABC", c.FIVE_BIT),
        ("QA268.L55", c.SIX_BIT),
        ("US-InU-Mu", c.SEVEN_BIT),
        ("AB ", c.SEVEN_BIT),                  # trailing space: not 6-bit
        ("Caf\u00e9", c.OCTET),                # 8859-1 but not ASCII
        ("A\x7f", c.OCTET),                    # DEL: not 7-bit
        ("\u4e2d\u6587", c.UTF8),
        ("", c.FIVE_BIT),
    ],
)
def test_choose_compaction(text: str, code: int) -> None:
    assert c.choose_compaction(text) == code


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0123", c.INTEGER),
        ("12a", c.INTEGER),
        ("\u0661\u0662", c.INTEGER),           # Arabic-Indic digits are not ASCII digits
        ("1" * 20, c.INTEGER),
        ("", c.NUMERIC),
        ("Ab", c.FIVE_BIT),
        ("@", c.FIVE_BIT),
        ("ab", c.SIX_BIT),
        ("AB ", c.SIX_BIT),
        ("\x7f", c.SEVEN_BIT),
        ("\u00e9", c.SEVEN_BIT),
        ("\u20ac", c.OCTET),
        ("\ud800", c.UTF8),
        ("x", c.APPLICATION_DEFINED),
        ("x", 8),
    ],
)
def test_compact_refuses(text: str, code: int) -> None:
    with pytest.raises(TagFormatError):
        c.compact(text, code)


@pytest.mark.parametrize(
    ("data", "code", "why"),
    [
        ("", c.INTEGER, "no data"),
        ("1A", c.NUMERIC, "nibble above 9"),
        ("F1", c.NUMERIC, "pad nibble before the end"),
        ("08 81", c.FIVE_BIT, "pad bits not 0"),
        ("00 08", c.FIVE_BIT, "end marker, then a character"),
        ("08 00", c.FIVE_BIT, "8 or more pad bits"),
        ("04", c.SIX_BIT, "pad bits 00, not 10"),
        ("82", c.SEVEN_BIT, "pad bit not 1"),
        ("C3 28", c.UTF8, "invalid UTF-8"),
        ("00", c.APPLICATION_DEFINED, "not a text scheme"),
    ],
)
def test_expand_refuses(data: str, code: int, why: str) -> None:
    with pytest.raises(TagFormatError):
        c.expand(H(data), code, offset=10)


def test_expand_reports_offset() -> None:
    with pytest.raises(TagFormatError) as info:
        c.expand(H("41 C3 28"), c.UTF8, offset=10)
    assert info.value.offset == 11


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("E8", "Upper 11101 shift Lower, then 000 and no room for a character"),
        ("EF FF", "shift Lower, then 11111: a control code right after a shift"),
        ("08 7E", "pad bits not all 1"),
        ("08 FF FF", "a whole 0xFF byte past the padding"),
    ],
)
def test_expand_isil_refuses(data: str, why: str) -> None:
    with pytest.raises(TagFormatError):
        expand_isil(H(data))


@pytest.mark.parametrize("isil", ["US InU", "DE-\u00e4", "DE_1", "A.B"])
def test_compact_isil_refuses(isil: str) -> None:
    with pytest.raises(TagFormatError, match="ISIL"):
        compact_isil(isil)


def test_isil_shift_latch_choice_is_shortest() -> None:
    # 'n' between capitals: shift (5+5 bits) beats latch and latch back (5+5+5).
    assert expand_isil(compact_isil("US-InU-Mu")) == "US-InU-Mu"
    # Long lower-case run: one latch beats a shift per letter.
    assert len(compact_isil("DE-abcdefgh")) == 8  # 3*5 + 5 + 8*5 = 60 bits
    # '-' stays in the current set (standard's example 2), numeric run latched.
    assert compact_isil("CH-000134-1") == H("1A 01 E0 00 13 4A 1F")


# --- round trips ------------------------------------------------------------------------------

ALPHABETS = {
    c.INTEGER: st.from_regex(r"[1-9][0-9]{0,18}", fullmatch=True),
    c.NUMERIC: st.from_regex(r"[0-9]{1,40}", fullmatch=True),
    c.FIVE_BIT: st.text(alphabet=st.characters(min_codepoint=0x41, max_codepoint=0x5F)),
    c.SIX_BIT: st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x5F)).filter(
        lambda t: not t.endswith(" ")
    ),
    c.SEVEN_BIT: st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7E)),
    c.OCTET: st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF)),
    c.UTF8: st.text(alphabet=st.characters(exclude_categories=["Cs"])),
}


@pytest.mark.parametrize("code", sorted(ALPHABETS), ids=lambda code: c.SCHEME_NAMES[code])
@settings(max_examples=300)
@given(data=st.data())
def test_scheme_round_trip(code: int, data: st.DataObject) -> None:
    text = data.draw(ALPHABETS[code])
    assert c.fits(text, code)
    assert c.expand(c.compact(text, code), code) == text


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])) | ALPHABETS[c.SIX_BIT])
def test_chosen_scheme_round_trips_and_is_shortest(text: str) -> None:
    code = c.choose_compaction(text)
    packed = c.compact(text, code)
    assert c.expand(packed, code) == text
    for other in range(1, 8):
        if c.fits(text, other):
            assert len(packed) <= len(c.compact(text, other))


@settings(max_examples=500)
@given(st.text(alphabet=sorted(ISIL_CHARACTERS), max_size=40))
def test_isil_round_trip(isil: str) -> None:
    assert expand_isil(compact_isil(isil)) == isil


# --- fuzz -----------------------------------------------------------------------------------


@settings(max_examples=3000)
@given(st.binary(max_size=24), st.integers(min_value=0, max_value=7))
def test_expand_fuzz(data: bytes, code: int) -> None:
    try:
        text = c.expand(data, code)
    except TagFormatError:
        return
    assert isinstance(text, str)


@settings(max_examples=3000)
@given(st.binary(max_size=24))
def test_expand_isil_fuzz(data: bytes) -> None:
    try:
        isil = expand_isil(data)
    except TagFormatError:
        return
    assert set(isil) <= ISIL_CHARACTERS
    # Whatever decodes re-encodes to something that decodes the same (maybe shorter).
    assert expand_isil(compact_isil(isil)) == isil
