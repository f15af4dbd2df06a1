# SPDX-License-Identifier: Apache-2.0
"""detect()/decode_any() name the model or say unknown; convert() refuses silent data loss."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import TagFormatError
from protocols.iso28560 import (
    ConversionRefused,
    LibraryTag,
    TagModel,
    convert,
    decode_any,
    detect,
    encode_tag,
    legacy_3m,
    part2,
    part3,
)
from tests.conftest import H, load_vectors

VECTORS = load_vectors("iso28560")
EXPECTED_MODEL = {
    "28560-2": TagModel.PART2,
    "28560-3": TagModel.PART3,
    "28560-3 (byte-reversed 4-byte blocks)": TagModel.PART3,
    "3M": TagModel.LEGACY_3M,
    "3M blank": TagModel.BLANK,
}
MEMORY_VECTORS = [(i, v) for i, v in enumerate(VECTORS) if v["model"] in EXPECTED_MODEL]


@pytest.mark.parametrize(
    ("index", "vector"), MEMORY_VECTORS, ids=[f"v{i}" for i, _ in MEMORY_VECTORS]
)
def test_detect_names_the_model_of_every_memory_vector(index: int, vector: dict[str, str]) -> None:
    assert detect(H(vector["hex"])) is EXPECTED_MODEL[vector["model"]], vector["source"]


def test_reversed_block_variant_is_reported_not_silently_fixed() -> None:
    vector = VECTORS[20]
    tag = decode_any(H(vector["hex"]))
    assert tag.primary_item_id == "11223344"
    assert tag.warnings, "the FKI correction must be reported"


@pytest.mark.parametrize("memory", [b"", bytes(32), bytes(112)])
def test_all_zero_memory_is_blank(memory: bytes) -> None:
    assert decode_any(memory).model is TagModel.BLANK


def test_unknown_keeps_raw_bytes_and_says_why() -> None:
    memory = H("DE AD BE EF 00 11 22 33")
    tag = decode_any(memory)
    assert tag.model is TagModel.UNKNOWN
    assert tag.raw == memory
    assert tag.warnings


def test_part3_crc_outranks_a_part2_looking_first_byte() -> None:
    # A part-3 tag whose byte 0 (0x11) is also a valid part-2 precursor for OID 1.
    memory = H(VECTORS[14]["hex"])
    assert memory[0] == 0x11
    assert detect(memory) is TagModel.PART3


def test_dsfid_06_admits_part2_without_the_precursor_signature() -> None:
    memory = part2.encode(LibraryTag(model=TagModel.PART2, primary_item_id="AB-12")).memory
    assert detect(memory, dsfid=0x06) is TagModel.PART2


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=160), st.one_of(st.none(), st.integers(0, 255)))
def test_decode_any_never_raises(memory: bytes, dsfid: int | None) -> None:
    tag = decode_any(memory, dsfid=dsfid)
    assert isinstance(tag.model, TagModel)
    if tag.model is TagModel.UNKNOWN:
        assert tag.raw == memory


ANNEX_D = H(VECTORS[0]["hex"])


def test_part2_to_part3_keeps_every_element() -> None:
    source = decode_any(ANNEX_D)
    result = convert(source, TagModel.PART3)
    again = part3.decode(result.image.memory)
    for name in ("primary_item_id", "owner_institution", "set_total", "set_part",
                 "shelf_location"):
        assert getattr(again, name) == getattr(source, name), name
    assert result.dropped == ()


def test_conversion_to_3m_is_refused_when_it_would_drop_data() -> None:
    with pytest.raises(ConversionRefused) as refused:
        convert(decode_any(ANNEX_D), TagModel.LEGACY_3M)
    assert set(refused.value.lost) == {"owner_institution", "shelf_location"}
    assert "owner_institution" in str(refused.value)


def test_allow_loss_drops_exactly_what_was_refused() -> None:
    result = convert(decode_any(ANNEX_D), TagModel.LEGACY_3M, allow_loss=True)
    assert set(result.dropped) == {"owner_institution", "shelf_location"}
    assert legacy_3m.decode(result.image.memory).primary_item_id == "123456789012"


def test_3m_to_part2_needs_allow_loss_for_branch_and_library_numbers() -> None:
    source = decode_any(H(VECTORS[21]["hex"]))  # branch 4095, library 1048575, custom 2^31-1
    with pytest.raises(ConversionRefused) as refused:
        convert(source, TagModel.PART2)
    assert set(refused.value.lost) == {"vendor:3m_branch", "vendor:3m_library", "vendor:3m_custom"}


def test_3m_book_converts_with_media_format_carrying_the_item_type() -> None:
    source = decode_any(H(VECTORS[22]["hex"]))  # item type 1 = book, no branch/library
    result = convert(source, TagModel.PART3, overrides={"owner_institution": "DK-718500"})
    assert result.tag.media_format == 1
    assert result.tag.owner_institution == "DK-718500"
    assert result.tag.primary_item_id == "1302003767"


@pytest.mark.parametrize("model", [TagModel.BLANK, TagModel.UNKNOWN])
def test_nothing_to_convert_from_blank_or_unknown(model: TagModel) -> None:
    with pytest.raises(TagFormatError):
        convert(LibraryTag(model=model), TagModel.PART2)


def test_encode_tag_part4_prints_both_banks() -> None:
    tag = LibraryTag(
        model=TagModel.PART4, primary_item_id="12345678", owner_institution="CH-000134-1"
    )
    encoded = encode_tag(tag)
    assert "/" in encoded.hex()
    with pytest.raises(TagFormatError):
        encode_tag(tag, size=112)


def test_part2_images_carry_dsfid_06_for_system_memory() -> None:
    image = part2.encode(LibraryTag(model=TagModel.PART2, primary_item_id="1"))
    assert image.dsfid == 0x06
    assert part3.encode(LibraryTag(model=TagModel.PART3, primary_item_id="1")).dsfid is None


def test_a_media_format_3m_cannot_hold_is_refused_by_name() -> None:
    source = LibraryTag(model=TagModel.PART2, primary_item_id="31234", media_format=6)
    with pytest.raises(ConversionRefused) as refused:
        convert(source, TagModel.LEGACY_3M)
    assert refused.value.lost == ("media_format",)
    assert convert(source, TagModel.LEGACY_3M, allow_loss=True).dropped == ("media_format",)


def test_undefined_media_format_and_empty_text_carry_no_information() -> None:
    source = LibraryTag(model=TagModel.PART2, primary_item_id="7", media_format=0, title="")
    result = convert(source, TagModel.PART3)
    assert result.dropped == ()
    assert result.tag.primary_item_id == "7"


def test_a_set_too_large_for_the_3m_nibble_is_refused() -> None:
    source = LibraryTag(model=TagModel.PART2, primary_item_id="7", set_total=20, set_part=2)
    with pytest.raises(ConversionRefused, match="set_information"):
        convert(source, TagModel.LEGACY_3M)
