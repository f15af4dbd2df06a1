# SPDX-License-Identifier: Apache-2.0
"""ISO 28560-3 (Danish data model): vectors, field variants, strict refusals, round trips, fuzz."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import TagFormatError
from protocols.iso28560 import part3
from protocols.iso28560.model import LibraryTag, TagModel, UnknownData
from tests.conftest import H, load_vectors

VECTORS = load_vectors("iso28560")


def with_crc(memory: bytes) -> bytes:
    """``memory`` with bytes 19-20 set to its basic-block CRC, LSB first."""
    crc = part3.basic_block_crc(memory)
    return memory[:19] + struct.pack("<H", crc) + memory[21:]


def ext(block_id: int, body: str) -> bytes:
    """An extension block around ``body`` (hex), with length and a correct XOR."""
    data = H(body)
    block = bytearray(struct.pack("<BHB", 4 + len(data), block_id, 0)) + data
    checksum = 0
    for byte in block:
        checksum ^= byte
    block[3] = checksum
    return bytes(block)


BASIC_DK = with_crc(H(
    "11 01 01"                                           # 0-2    version 1 class 1, 1 of 1
    "31 32 33 34 00 00 00 00 00 00 00 00 00 00 00 00"    # 3-18   PII "1234"
    "00 00"                                              # 19-20  CRC (filled in)
    "44 4B 37 31 30 31 30 30 00 00 00 00 00"             # 21-33  owner "DK" + "710100"
))


def tag(**elements: object) -> LibraryTag:
    return LibraryTag(model=TagModel.PART3, **elements)  # type: ignore[arg-type]


# --- vectors ----------------------------------------------------------------------------------

def test_vector14_libdanrfid_truncated_32_byte_tag() -> None:
    vector = VECTORS[14]
    memory = H(vector["hex"])
    for lenient in (True, False):
        decoded = part3.decode(memory, lenient=lenient)
        assert decoded.model is TagModel.PART3
        assert decoded.primary_item_id == "11223344"
        assert decoded.owner_institution == "DE-705"
        assert (decoded.set_total, decoded.set_part) == (1, 1)
        assert decoded.type_of_usage == 0x10
        assert decoded.warnings == ()
        assert decoded.raw == memory
    assert part3.encode(decoded, size=32).memory == memory, vector["source"]


def test_vector15_th_wildau_owner_without_hyphen() -> None:
    vector = VECTORS[15]
    memory = H(vector["hex"])
    decoded = part3.decode(memory, lenient=False)
    assert decoded.elements() == {
        "primary_item_identifier": "foobar",
        "owner_institution": "DE-526",
        "set_information": "11",
        "type_of_usage": 0x10,
    }
    image = part3.encode(decoded).memory
    # 34-byte basic block + end-of-data byte, zero-filled to the next 4-byte block
    assert image == memory + H("00"), vector["source"]


def test_vector16_library_extension_with_media_format_only() -> None:
    vector = VECTORS[16]
    memory = H(vector["hex"])
    decoded = part3.decode(memory, lenient=False)
    assert decoded.primary_item_id is None
    assert decoded.owner_institution == "DE-526"
    assert decoded.media_format == 1
    assert decoded.unknown_data == ()
    assert part3.encode(decoded).memory == memory, vector["source"]


def test_vector17_crc_of_32_bytes_ff_is_valid() -> None:
    vector = VECTORS[17]
    assert part3.crc_valid(H(vector["hex"])), vector["source"]


def test_vector20_fki_reversed_blocks_lenient_decodes_with_warning() -> None:
    vector = VECTORS[20]
    memory = H(vector["hex"])
    assert not part3.crc_valid(memory)
    assert part3.crc_valid(part3.reverse_blocks(memory))
    assert part3.reverse_blocks(memory) == H(vector["decoded"]["after_reversing_each_4_byte_block"])
    decoded = part3.decode(memory)
    assert decoded.primary_item_id == "11223344"
    assert decoded.owner_institution == "DE-705"
    assert len(decoded.warnings) == 1
    assert "reversed" in decoded.warnings[0]
    assert decoded.raw == memory  # as read, not as repaired


def test_vector20_fki_reversed_blocks_strict_refuses() -> None:
    with pytest.raises(TagFormatError, match="reversed") as caught:
        part3.decode(H(VECTORS[20]["hex"]), lenient=False)
    assert caught.value.offset == 19


def test_reverse_blocks_leaves_partial_block_and_undoes_itself() -> None:
    assert part3.reverse_blocks(H("01 02 03 04 05 06")) == H("04 03 02 01 05 06")
    memory = bytes(range(40))
    assert part3.reverse_blocks(part3.reverse_blocks(memory)) == memory


# --- basic block ------------------------------------------------------------------------------

def test_two_of_three_set_item_total_at_byte_1_part_at_byte_2() -> None:
    image = part3.encode(
        tag(primary_item_id="1234", owner_institution="DK-710100", set_total=3, set_part=2,
            type_of_usage=0x10),
        size=34,
    ).memory
    assert image == H(
        "11 03 02 31 32 33 34 00 00 00 00 00 00 00 00 00 00 00 00 B0 28 44 4B 37 31 30 31 30 30 "
        "00 00 00 00 00"
    )
    decoded = part3.decode(image, lenient=False)
    assert (decoded.set_total, decoded.set_part) == (3, 2)
    assert decoded.set_information == "32"


def test_crc_below_0x1000_is_written_as_two_bytes_lsb_first() -> None:
    image = part3.encode(
        tag(primary_item_id="1204", owner_institution="DK-710100", set_total=1, set_part=1,
            type_of_usage=0x10),
        size=32,
    ).memory
    # CRC 0x0048: low byte 48 at byte 19, high byte 00 at byte 20; nothing shifted after it
    assert image == H(
        "11 01 01"
        "31 32 30 34 00 00 00 00 00 00 00 00 00 00 00 00"
        "48 00"
        "44 4B 37 31 30 31 30 30 00 00 00"
    )
    assert part3.decode(image, lenient=False).owner_institution == "DK-710100"


def test_crc_mismatch_is_refused_at_byte_19_in_both_modes() -> None:
    damaged = bytearray(BASIC_DK)
    damaged[5] ^= 0x01
    for lenient in (True, False):
        with pytest.raises(TagFormatError, match="CRC") as caught:
            part3.decode(bytes(damaged), lenient=lenient)
        assert caught.value.offset == 19


def test_too_short_for_a_basic_block() -> None:
    with pytest.raises(TagFormatError, match="32 bytes") as caught:
        part3.decode(BASIC_DK[:31])
    assert caught.value.offset == 31


def test_unknown_version_is_refused_at_byte_0() -> None:
    memory = with_crc(H("35") + BASIC_DK[1:])
    with pytest.raises(TagFormatError, match="version 3") as caught:
        part3.decode(memory)
    assert caught.value.offset == 0


@pytest.mark.parametrize(
    ("byte0", "type_of_usage"),
    [
        pytest.param("21", 0x20, id="bibliotheca-not-for-circulation"),
        pytest.param("71", 0x70, id="bibliotheca-discarded"),
        pytest.param("01", 0x00, id="bibliotheca-acquisition"),
    ],
)
def test_nibble_swapped_byte0(byte0: str, type_of_usage: int) -> None:
    memory = with_crc(H(byte0) + BASIC_DK[1:])
    decoded = part3.decode(memory)
    assert decoded.type_of_usage == type_of_usage
    assert decoded.primary_item_id == "1234"
    assert any("nibble-swapped" in warning for warning in decoded.warnings)
    with pytest.raises(TagFormatError, match="nibble-swapped") as caught:
        part3.decode(memory, lenient=False)
    assert caught.value.offset == 0


@pytest.mark.parametrize(
    ("owner_field", "isil"),
    [
        pytest.param("44 45 35 32 36", "DE-526", id="country+library-gets-hyphen"),
        pytest.param("44 45 2D 35 32 36", "DE-526", id="hyphen-already-there"),
        pytest.param("37 31 30 31 30 30", "710100", id="no-country-verbatim"),
        pytest.param("44 4B", "DK", id="country-alone-verbatim"),
    ],
)
def test_owner_institution_field_to_isil(owner_field: str, isil: str) -> None:
    memory = with_crc(BASIC_DK[:21] + H(owner_field).ljust(13, b"\x00"))
    decoded = part3.decode(memory, lenient=False)
    assert decoded.owner_institution == isil
    assert decoded.warnings == ()


@pytest.mark.parametrize(
    "owner_field",
    [
        pytest.param("44 45 44 45 37 30 35", id="DEDE705"),
        pytest.param("44 45 44 45 2D 37 30 35", id="DEDE-705"),
    ],
)
def test_country_code_repeated_in_isil(owner_field: str) -> None:
    memory = with_crc(BASIC_DK[:21] + H(owner_field).ljust(13, b"\x00"))
    decoded = part3.decode(memory)
    assert decoded.owner_institution == "DE-705"
    assert any("repeated" in warning for warning in decoded.warnings)
    with pytest.raises(TagFormatError, match="repeated") as caught:
        part3.decode(memory, lenient=False)
    assert caught.value.offset == 23


@pytest.mark.parametrize(
    ("parts_part", "expected", "fragment"),
    [
        pytest.param("02 03", (3, 2), "swapped", id="pyrfidgeek-order"),
        pytest.param("00 00", (None, None), "zero", id="zero-zero"),
        pytest.param("03 00", (None, None), "zero", id="part-zero"),
    ],
)
def test_implausible_set_information(
    parts_part: str, expected: tuple[int | None, int | None], fragment: str
) -> None:
    memory = with_crc(BASIC_DK[:1] + H(parts_part) + BASIC_DK[3:])
    decoded = part3.decode(memory)
    assert (decoded.set_total, decoded.set_part) == expected
    assert any(fragment in warning for warning in decoded.warnings)
    with pytest.raises(TagFormatError) as caught:
        part3.decode(memory, lenient=False)
    assert caught.value.offset == 1


def test_nul_inside_pii_and_non_utf8_text_are_lenient_fixes() -> None:
    memory = with_crc(BASIC_DK[:3] + H("31 32 00 33 E9").ljust(16, b"\x00") + BASIC_DK[19:])
    decoded = part3.decode(memory)
    assert decoded.primary_item_id == "123\u00e9"
    assert len(decoded.warnings) == 2
    with pytest.raises(TagFormatError, match="NUL") as caught:
        part3.decode(memory, lenient=False)
    assert caught.value.offset == 5


# --- extension blocks -------------------------------------------------------------------------

def test_title_and_acquisition_blocks_decode() -> None:
    memory = (
        BASIC_DK
        + ext(2, "53 55 50 00 00 4F 31 00 00 00 05")           # SUP, -, O1, -, -, stage 5
        + ext(4, "48 61 6D 6C 65 74")                          # title "Hamlet"
        + H("00")
    )
    decoded = part3.decode(memory, lenient=False)
    assert decoded.title == "Hamlet"
    assert decoded.supplier_identifier == "SUP"
    assert decoded.product_identifier_local is None
    assert decoded.order_number == "O1"
    assert decoded.supply_chain_stage == 5
    assert part3.encode(decoded).memory[: len(memory)] == memory


def test_block_stops_after_last_non_empty_field() -> None:
    image = part3.encode(tag(shelf_location="QA268")).memory
    # block 3: length 9, ID 0003 LE, XOR 26, "QA268", no separators after it; end of data
    assert image[34:] == H("09 03 00 26 51 41 32 36 38 00")


def test_extension_block_with_bad_xor() -> None:
    block = bytearray(ext(4, "48 61 6D 6C 65 74"))
    block[3] ^= 0xFF
    memory = BASIC_DK + bytes(block) + H("00")
    decoded = part3.decode(memory)
    assert decoded.title is None
    assert decoded.unknown_data == (UnknownData("part3-extension-block", 4, bytes(block)),)
    assert any("XOR" in warning for warning in decoded.warnings)
    with pytest.raises(TagFormatError, match="XOR") as caught:
        part3.decode(memory, lenient=False)
    assert caught.value.offset == 37


def test_unknown_block_is_kept_and_reencoded_verbatim() -> None:
    unstructured = ext(0x0065, "DE AD BE EF")   # ID 101: an unstructured block
    memory = BASIC_DK + unstructured + H("00")
    decoded = part3.decode(memory, lenient=False)
    assert decoded.unknown_data == (UnknownData("part3-extension-block", 101, unstructured),)
    assert decoded.warnings == ()
    assert part3.encode(decoded).memory[: len(memory)] == memory


def test_second_block_with_same_id_is_kept_verbatim() -> None:
    again = ext(4, "42")
    memory = BASIC_DK + ext(4, "41") + again + H("00")
    decoded = part3.decode(memory, lenient=False)
    assert decoded.title == "A"
    assert decoded.unknown_data == (UnknownData("part3-extension-block", 4, again),)
    assert part3.encode(decoded).memory[: len(memory)] == memory


def test_fields_beyond_the_table_keep_the_block_verbatim() -> None:
    block = ext(4, "41 00 42")   # title block with a second field
    decoded = part3.decode(BASIC_DK + block)
    assert decoded.title is None
    assert decoded.unknown_data == (UnknownData("part3-extension-block", 4, block),)
    with pytest.raises(TagFormatError, match="after its last field"):
        part3.decode(BASIC_DK + block, lenient=False)


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param("02 04 00", id="length-below-header"),
        pytest.param("10 04 00 14 41", id="length-past-end"),
    ],
)
def test_broken_block_length_keeps_the_rest_unparsed(tail: str) -> None:
    memory = BASIC_DK + ext(4, "41") + H(tail)
    decoded = part3.decode(memory)
    assert decoded.title == "A"
    assert decoded.unknown_data == (UnknownData("part3-unparsed", 39, H(tail)),)
    with pytest.raises(TagFormatError) as caught:
        part3.decode(memory, lenient=False)
    assert caught.value.offset == 39
    with pytest.raises(TagFormatError, match="part3-unparsed"):
        part3.encode(decoded)


def test_stale_bytes_after_end_of_data_are_ignored() -> None:
    decoded = part3.decode(BASIC_DK + H("00 07 01 00 FF 41 42 43"), lenient=False)
    assert decoded.unknown_data == ()


# --- long PII and the library extension block -------------------------------------------------

def test_long_pii_goes_to_library_extension_block() -> None:
    pii = "12345678901234567890"
    image = part3.encode(tag(primary_item_id=pii, owner_institution="DK-710100")).memory
    assert image[3:19] == H("01") + bytes(15)
    # block 1: length 25, ID 0001, XOR 18, media format 00 (undefined), the PII; end of data
    assert image[34:] == H("19 01 00 18 00") + pii.encode() + H("00")
    decoded = part3.decode(image, lenient=False)
    assert decoded.primary_item_id == pii
    assert decoded.alternative_item_identifier is None


def test_short_pii_block1_item_field_is_alternative_item_identifier() -> None:
    decoded = part3.decode(BASIC_DK + ext(1, "01 41 4C 54") + H("00"), lenient=False)
    assert decoded.primary_item_id == "1234"
    assert decoded.alternative_item_identifier == "ALT"
    assert decoded.media_format == 1


def test_long_pii_flag_without_block() -> None:
    memory = with_crc(BASIC_DK[:3] + H("01").ljust(16, b"\x00") + BASIC_DK[19:])
    decoded = part3.decode(memory)
    assert decoded.primary_item_id is None
    assert any("0x01" in warning for warning in decoded.warnings)
    with pytest.raises(TagFormatError, match="0x01") as caught:
        part3.decode(memory, lenient=False)
    assert caught.value.offset == 3


def test_long_pii_flag_with_bytes_after_it() -> None:
    memory = with_crc(BASIC_DK[:3] + H("01 39").ljust(16, b"\x00") + BASIC_DK[19:])
    memory += ext(1, "00 4C 4F 4E 47") + H("00")      # item field "LONG"
    decoded = part3.decode(memory)
    assert decoded.primary_item_id == "LONG"
    assert any("bytes 4-18" in warning for warning in decoded.warnings)
    with pytest.raises(TagFormatError, match="bytes 4-18") as caught:
        part3.decode(memory, lenient=False)
    assert caught.value.offset == 4


def test_isil_without_country_prefix_goes_to_library_extension_block() -> None:
    image = part3.encode(tag(owner_institution="ZDB-1")).memory
    assert image[21:34] == bytes(13)
    decoded = part3.decode(image, lenient=False)
    assert decoded.owner_institution == "ZDB-1"
    assert decoded.alternative_owner_institution is None


def test_alternative_owner_with_owner_in_basic_block() -> None:
    image = part3.encode(tag(owner_institution="DE-526", alternative_owner_institution="X1")).memory
    assert image[21:26] == b"DE526"
    decoded = part3.decode(image, lenient=False)
    assert (decoded.owner_institution, decoded.alternative_owner_institution) == ("DE-526", "X1")


# --- encoder refusals and plans ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("elements", "fragment"),
    [
        pytest.param({"type_of_usage": 0x11}, "sub-qualifier", id="sub-qualifier"),
        pytest.param({"local_data_a": "x"}, "local_data_a", id="no-home"),
        pytest.param({"title": "T" * 252}, "at most 255", id="block-too-long"),
        pytest.param({"primary_item_id": "a\x00b"}, "NUL", id="nul-in-text"),
        pytest.param({"primary_item_id": "\ud800"}, "UTF-8", id="surrogate"),
        pytest.param({"primary_item_id": "P" * 17, "alternative_item_identifier": "A"},
                     "alternative item identifier", id="long-pii-and-alternative"),
        pytest.param({"owner_institution": "ZDB-1", "alternative_owner_institution": "A"},
                     "alternative owner", id="long-owner-and-alternative"),
        pytest.param({"alternative_owner_institution": "A"}, "without an owner",
                     id="alternative-owner-alone"),
    ],
)
def test_encoder_refuses_what_part3_cannot_hold(elements: dict[str, object], fragment: str) -> None:
    with pytest.raises(TagFormatError, match=fragment):
        part3.encode(tag(**elements))


def test_encoder_names_bytes_needed_and_available() -> None:
    with pytest.raises(TagFormatError, match="needs 54 bytes, the tag holds 40"):
        part3.encode(tag(title="T" * 16), size=40)


def test_truncated_tag_refuses_extension_data() -> None:
    with pytest.raises(TagFormatError, match="32-byte tag"):
        part3.encode(tag(title="T"), size=32)
    with pytest.raises(TagFormatError, match="32-byte tag"):
        part3.encode(tag(owner_institution="DE-123456789012"), size=32)


def test_refuses_foreign_unknown_data() -> None:
    foreign = tag(unknown_data=(UnknownData("part2-element", 27, H("0B 01 00")),))
    with pytest.raises(TagFormatError, match="part2-element"):
        part3.encode(foreign)


def test_media_format_undefined_is_not_written() -> None:
    assert part3.encode(tag(media_format=0), size=34).memory == part3.encode(tag(), size=34).memory


@pytest.mark.parametrize(
    "data",
    [pytest.param(H("05 65 00 60"), id="length-byte-says-5"), pytest.param(b"", id="empty")],
)
def test_refuses_kept_block_whose_length_byte_lies(data: bytes) -> None:
    with pytest.raises(TagFormatError, match="length byte"):
        part3.encode(tag(unknown_data=(UnknownData("part3-extension-block", 101, data),)))


def test_refuses_block_size_zero() -> None:
    with pytest.raises(TagFormatError, match="block size"):
        part3.encode(tag(), block_size=0)


def test_crc_valid_needs_32_bytes() -> None:
    assert not part3.crc_valid(BASIC_DK[:31])
    assert part3.crc_valid(BASIC_DK[:32])


@pytest.mark.parametrize("size", [0, 31, 33])
def test_refuses_memory_without_room_for_a_basic_block(size: int) -> None:
    with pytest.raises(TagFormatError, match="memory"):
        part3.encode(tag(), size=size)


def test_absent_values_get_their_documented_defaults() -> None:
    image = part3.encode(tag(), size=34).memory
    assert image[:3] == H("16 01 01")   # class 6 "no information", single item 1 of 1
    decoded = part3.decode(image, lenient=False)
    assert decoded.type_of_usage == 0x60
    assert decoded.set_information == "11"


@pytest.mark.parametrize(
    ("block_size", "lock", "locked", "size"),
    [
        pytest.param(4, False, (), 36, id="default-locks-nothing"),
        pytest.param(4, True, tuple(range(8)), 36, id="4-byte-blocks-0-7"),
        pytest.param(8, True, tuple(range(4)), 40, id="8-byte-blocks-0-3"),
    ],
)
def test_lock_plan(block_size: int, lock: bool, locked: tuple[int, ...], size: int) -> None:
    image = part3.encode(
        part3.decode(BASIC_DK), block_size=block_size, lock_basic_block=lock
    )
    assert image.locked_blocks == locked
    assert len(image.memory) == size
    assert image.memory[34] == 0x00   # end of data


# --- properties -------------------------------------------------------------------------------

CHARACTERS = st.characters(codec="utf-8", exclude_characters="\x00")
TEXT = st.text(CHARACTERS, min_size=1, max_size=10)      # 5 of them still fit one block
LONG_TEXT = st.text(CHARACTERS, min_size=17, max_size=40)
COUNTRY_ISIL = st.builds(                                # "DK-7a:-1": fits bytes 21-33
    "{}-{}{}".format,
    st.sampled_from(["DE", "DK", "NO", "FI", "SE"]),
    st.sampled_from("0123456789abcxyz"),
    st.text("0123456789abcxyz:/-", max_size=7),
)


@st.composite
def part3_tags(draw: st.DrawFn) -> LibraryTag:
    total = draw(st.integers(1, 255))
    pii = draw(st.none() | TEXT | LONG_TEXT)
    long_pii = pii is not None and (len(pii.encode()) > 16 or pii.startswith("\x01"))
    owner_kind = draw(st.sampled_from(["none", "country", "other"]))
    owner = {"none": st.none(), "country": COUNTRY_ISIL, "other": TEXT}[owner_kind]
    return tag(
        primary_item_id=pii,
        owner_institution=draw(owner),
        set_total=total,
        set_part=draw(st.integers(1, total)),
        type_of_usage=draw(st.integers(0, 15)) << 4,
        alternative_item_identifier=None if long_pii else draw(st.none() | TEXT),
        alternative_owner_institution=draw(st.none() | TEXT) if owner_kind == "country" else None,
        media_format=draw(st.none() | st.integers(1, 255)),
        supplier_identifier=draw(st.none() | TEXT),
        product_identifier_local=draw(st.none() | TEXT),
        order_number=draw(st.none() | TEXT),
        supplier_invoice_number=draw(st.none() | TEXT),
        gs1_product_identifier=draw(st.none() | TEXT),
        supply_chain_stage=draw(st.none() | st.integers(0, 255)),
        shelf_location=draw(st.none() | TEXT),
        marc_media_format=draw(st.none() | TEXT),
        onix_media_format=draw(st.none() | TEXT),
        subsidiary_of_owner_institution=draw(st.none() | TEXT),
        title=draw(st.none() | st.text(CHARACTERS, min_size=1, max_size=60)),
        ill_borrowing_institution=draw(st.none() | TEXT),
        ill_borrowing_transaction_number=draw(st.none() | TEXT),
        alternative_ill_borrowing_institution=draw(st.none() | TEXT),
    )


@settings(max_examples=300)
@given(part3_tags(), st.sampled_from([4, 8]))
def test_round_trip_encode_then_decode(original: LibraryTag, block_size: int) -> None:
    image = part3.encode(original, size=2048, block_size=block_size)
    assert len(image.memory) % block_size == 0
    decoded = part3.decode(image.memory, lenient=False)
    assert decoded.elements() == original.elements()
    assert decoded.unknown_data == ()
    assert decoded.warnings == ()
    assert part3.encode(decoded, size=2048, block_size=block_size) == image


def decode_or_refuse(memory: bytes, *, lenient: bool) -> None:
    """Any input gives a LibraryTag or a TagFormatError, and a decoded tag re-encodes or refuses."""
    try:
        decoded = part3.decode(memory, lenient=lenient)
    except TagFormatError as exc:
        refusal = exc
    else:
        assert decoded.model is TagModel.PART3
        with contextlib.suppress(TagFormatError):
            part3.encode(decoded, size=max(len(memory), 34))
        return
    assert refusal.offset is not None   # every decoder refusal says where


@settings(max_examples=3000)
@given(st.binary(max_size=120), st.booleans())
def test_fuzz_any_bytes(memory: bytes, lenient: bool) -> None:
    decode_or_refuse(memory, lenient=lenient)


@settings(max_examples=2000)
@given(st.binary(min_size=32, max_size=120), st.booleans(), st.booleans())
def test_fuzz_any_content_behind_a_valid_crc(memory: bytes, lenient: bool, fki: bool) -> None:
    memory = with_crc(memory)
    decode_or_refuse(part3.reverse_blocks(memory) if fki else memory, lenient=lenient)


@settings(max_examples=2000)
@given(
    st.lists(
        st.tuples(st.integers(0, 8), st.binary(max_size=20), st.booleans(), st.booleans()),
        max_size=5,
    ),
    st.binary(max_size=6),
    st.booleans(),
)
def test_fuzz_extension_blocks(
    blocks: list[tuple[int, bytes, bool, bool]], tail: bytes, lenient: bool
) -> None:
    area = b""
    for block_id, body, bad_xor, bad_length in blocks:
        block = bytearray(ext(block_id, body.hex()))
        block[3] ^= 0x5A if bad_xor else 0
        block[0] = (block[0] + 7) & 0xFF if bad_length else block[0]
        area += block
    decode_or_refuse(BASIC_DK + area + tail, lenient=lenient)
