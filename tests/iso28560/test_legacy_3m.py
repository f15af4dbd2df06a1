# SPDX-License-Identifier: Apache-2.0
"""3M RFID 501: the Biblio-RFID vectors byte-exact, blanks, signature, refusals, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import TagFormatError
from protocols.iso28560 import legacy_3m
from protocols.iso28560.model import LibraryTag, TagModel, UnknownData
from tests.conftest import H, load_vectors

VECTORS = load_vectors("iso28560")

BOOK = H(
    "04 11 00 01"                                        # block 0    marker, 1 of 1, 00, book
    "31 33 30 32 30 30 33 37 36 37 00 00 00 00 00 00"    # block 1-4  barcode "1302003767"
    "00 00 00 00"                                        # block 5    branch 0, library 0
    "00 00 00 00"                                        # block 6    custom 0
    "00 00 00 00"                                        # block 7
)


def tag(**elements: object) -> LibraryTag:
    return LibraryTag(model=TagModel.LEGACY_3M, **elements)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("index", "barcode", "media_format", "vendor"),
    [
        pytest.param(21, "200901010123", None,
                     {"3m_item_type": 0, "3m_branch": 4095, "3m_library": 1048575,
                      "3m_custom": 2147483647}, id="vector21-other-all-ones-location"),
        pytest.param(22, "1302003767", 1,
                     {"3m_item_type": 1, "3m_branch": 0, "3m_library": 0, "3m_custom": 0},
                     id="vector22-book"),
    ],
)
def test_biblio_rfid_vectors(
    index: int, barcode: str, media_format: int | None, vendor: dict[str, int]
) -> None:
    vector = VECTORS[index]
    memory = H(vector["hex"])
    assert legacy_3m.looks_like_3m(memory)
    decoded = legacy_3m.decode(memory)
    assert decoded.model is TagModel.LEGACY_3M
    assert decoded.primary_item_id == barcode
    assert (decoded.set_total, decoded.set_part) == (1, 1)
    assert decoded.media_format == media_format
    assert dict(decoded.vendor_data) == vendor
    assert decoded.warnings == ()
    image = legacy_3m.encode(decoded)
    assert image.memory == memory, vector["source"]
    assert image.block_size == 4
    assert image.locked_blocks == ()


def test_vector21_custom_value_is_signed() -> None:
    memory = bytearray(H(VECTORS[21]["hex"]))
    memory[24:28] = H("FF FF FF FE")
    assert legacy_3m.decode(bytes(memory)).vendor("3m_custom") == -2


def test_vector23_factory_blank() -> None:
    vector = VECTORS[23]
    memory = H(vector["hex"])
    assert legacy_3m.is_factory_blank(memory), vector["source"]
    assert not legacy_3m.is_zero_blank(memory)
    assert not legacy_3m.looks_like_3m(memory)
    with pytest.raises(TagFormatError, match="marker") as caught:
        legacy_3m.decode(memory)
    assert caught.value.offset == 0


def test_zero_blank() -> None:
    assert legacy_3m.is_zero_blank(bytes(32))
    assert not legacy_3m.is_zero_blank(b"")
    assert not legacy_3m.is_zero_blank(BOOK)
    assert not legacy_3m.is_factory_blank(bytes(32))


def test_set_nibbles_part_high_total_low() -> None:
    memory = H("04 23") + BOOK[2:]
    decoded = legacy_3m.decode(memory)
    assert (decoded.set_total, decoded.set_part) == (3, 2)
    assert legacy_3m.encode(decoded).memory == memory


@pytest.mark.parametrize("set_byte", ["00", "32", "10"])
def test_impossible_set_is_absent_and_reencodes_unchanged(set_byte: str) -> None:
    memory = H("04") + H(set_byte) + BOOK[2:]
    decoded = legacy_3m.decode(memory)
    assert decoded.set_total is None
    assert decoded.vendor("3m_set") == H(set_byte)[0]
    assert "byte 1" in decoded.warnings[0]
    assert legacy_3m.encode(decoded).memory == memory


@pytest.mark.parametrize(
    ("memory", "offset"),
    [
        pytest.param(BOOK[:27], 27, id="shorter-than-blocks-0-6"),
        pytest.param(H("05") + BOOK[1:], 0, id="marker"),
        pytest.param(BOOK[:2] + H("01") + BOOK[3:], 2, id="byte-2"),
        pytest.param(BOOK[:6] + H("09") + BOOK[7:], 6, id="barcode-control-character"),
        pytest.param(BOOK[:10] + H("C3") + BOOK[11:], 10, id="barcode-not-ascii"),
    ],
)
def test_decode_refusals(memory: bytes, offset: int) -> None:
    with pytest.raises(TagFormatError) as caught:
        legacy_3m.decode(memory)
    assert caught.value.offset == offset


def test_signature_rejects_part3_and_empty_barcode() -> None:
    assert not legacy_3m.looks_like_3m(H(VECTORS[14]["hex"]))
    assert not legacy_3m.looks_like_3m(BOOK[:4] + bytes(28))
    assert not legacy_3m.looks_like_3m(BOOK[:20])


@pytest.mark.parametrize(
    ("media_format", "item_type"),
    [
        pytest.param(None, 0, id="absent-is-other"),
        pytest.param(1, 1, id="book"),
        pytest.param(2, 6, id="cd-dvd"),
        pytest.param(3, 4, id="magnetic-tape"),
        pytest.param(0, 0, id="undefined-is-other"),
    ],
)
def test_item_type_from_media_format(media_format: int | None, item_type: int) -> None:
    image = legacy_3m.encode(tag(primary_item_id="1", media_format=media_format)).memory
    assert image[3] == item_type


@pytest.mark.parametrize(
    ("elements", "fragment"),
    [
        pytest.param({"owner_institution": "DK-1"}, "owner_institution", id="no-owner-field"),
        pytest.param({"primary_item_id": "12345678901234567"}, "16", id="barcode-too-long"),
        pytest.param({"primary_item_id": "ø"}, "ASCII", id="barcode-not-ascii"),
        pytest.param({"set_total": 16, "set_part": 1}, "nibble", id="set-above-15"),
        # "careful handling" has no 3M item type: refused rather than written as "other".
        pytest.param({"media_format": 5}, "no 3M item type", id="media-format-without-type"),
        pytest.param({"vendor_data": (("3m_branch", 4096),)}, "3m_branch", id="branch-12-bits"),
        pytest.param({"vendor_data": (("3m_custom", "x"),)}, "3m_custom", id="custom-not-int"),
        pytest.param({"media_format": 2, "vendor_data": (("3m_item_type", 1),)}, "contradicts",
                     id="media-vs-item-type"),
        pytest.param({"unknown_data": (UnknownData("part3-extension-block", 9, b"x"),)},
                     "unknown", id="unknown-data"),
    ],
)
def test_encode_refusals(elements: dict[str, object], fragment: str) -> None:
    with pytest.raises(TagFormatError, match=fragment):
        legacy_3m.encode(tag(**elements))


def test_encode_size() -> None:
    assert len(legacy_3m.encode(tag(primary_item_id="1"), size=28).memory) == 28
    with pytest.raises(TagFormatError, match="28 bytes"):
        legacy_3m.encode(tag(primary_item_id="1"), size=24)


@given(
    barcode=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=16),
    total=st.integers(1, 15),
    data=st.data(),
    item_type=st.integers(0, 255),
    branch=st.integers(0, 4095),
    library=st.integers(0, 0xFFFFF),
    custom=st.integers(-(1 << 31), (1 << 31) - 1),
)
def test_round_trip(
    barcode: str, total: int, data: st.DataObject, item_type: int, branch: int, library: int,
    custom: int,
) -> None:
    original = tag(
        primary_item_id=barcode or None,
        set_total=total,
        set_part=data.draw(st.integers(1, total)),
        media_format=legacy_3m.MEDIA_FORMAT_BY_ITEM_TYPE.get(item_type),
        vendor_data=(("3m_item_type", item_type), ("3m_branch", branch),
                     ("3m_library", library), ("3m_custom", custom)),
    )
    image = legacy_3m.encode(original).memory
    decoded = legacy_3m.decode(image)
    assert decoded == original
    assert legacy_3m.encode(decoded).memory == image


@settings(max_examples=3000)
@given(st.binary(max_size=40), st.booleans())
def test_fuzz_any_bytes(memory: bytes, signed: bool) -> None:
    if signed and len(memory) >= 3:
        memory = H("04") + memory[1:2] + H("00") + memory[3:]
    try:
        decoded = legacy_3m.decode(memory)
    except TagFormatError as exc:
        refusal = exc
    else:
        assert legacy_3m.looks_like_3m(memory) or decoded.primary_item_id is None
        assert legacy_3m.encode(decoded).memory[:28] == memory[:28]
        return
    assert refusal.offset is not None   # every decoder refusal says where
