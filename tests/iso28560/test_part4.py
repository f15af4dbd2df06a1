# SPDX-License-Identifier: Apache-2.0
"""ISO/TS 28560-4 (UHF): PC word, UII encoding, user bank; vectors, refusals, round trips, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import TagFormatError
from protocols.iso28560 import part4
from protocols.iso28560.isil import ISIL_CHARACTERS
from protocols.iso28560.model import LibraryTag, TagModel
from tests.conftest import H, load_vectors
from tests.iso28560.tag_strategies import TEXT, library_tags

VECTORS = load_vectors("iso28560")
EPC_BANK = H(str(VECTORS[10]["hex"]))       # ISO/TS 28560-4:2014 p.49, from the PC word on
USER_BANK = H(str(VECTORS[11]["hex"]))      # ISO/TS 28560-4:2014 p.52
PII_ONLY_EPC = H("1D C2") + part4.encode_uii("12345678")   # 3 words, UMI, T, AFI C2


def tag(**values: object) -> LibraryTag:
    return LibraryTag(model=TagModel.PART4, **values)  # type: ignore[arg-type]


# --- vectors ----------------------------------------------------------------------------------


def test_epc_bank_vector_decodes() -> None:
    decoded = part4.decode(EPC_BANK)
    assert decoded.model is TagModel.PART4
    assert decoded.unique_item_identifier == "CH-000134-1.12345678.31"
    assert decoded.owner_institution == "CH-000134-1"
    assert decoded.primary_item_id == "12345678.31"
    assert decoded.vendor("pc_afi") == 0xC2
    assert decoded.warnings == ()


def test_epc_bank_vector_encodes() -> None:
    # The vector's PC has UMI = 1, so the tag also has user-bank data (any element will do).
    epc_bank, user_bank = part4.encode(
        tag(unique_item_identifier="CH-000134-1.12345678.31", set_total=1, set_part=1)
    )
    assert epc_bank == EPC_BANK
    assert user_bank == H("06 02 01 40 14 01 0B 00")
    assert part4.encode(part4.decode(EPC_BANK).with_model(TagModel.PART4, set_total=1,
                                                         set_part=1))[0] == EPC_BANK


def test_pc_word_fields() -> None:
    epc_bank, user_bank = part4.encode(tag(primary_item_id="12345678"), afi=0x07)
    assert user_bank == b""
    assert epc_bank[:2] == H("19 07")  # 3 words, UMI 0, XPC 0, T 1, AFI 07


def test_user_bank_vector_decodes() -> None:
    decoded = part4.decode(PII_ONLY_EPC, USER_BANK)
    assert decoded.elements() == {
        "unique_item_identifier": "12345678",
        "primary_item_identifier": "12345678",
        "owner_institution": "US-InU-Mu",
        "set_information": "1203",
        "shelf_location": "QA268.L55",
    }
    assert decoded.warnings == ()


def test_user_bank_vector_encodes() -> None:
    """The owner is not in the UII, so it goes to MB11, last and in 7-bit (ISO/TS example)."""
    source = tag(primary_item_id="12345678", owner_institution="US-InU-Mu",
                 set_total=12, set_part=3, shelf_location="QA268.L55",
                 unique_item_identifier="12345678")
    epc_bank, user_bank = part4.encode(source)
    assert user_bank == USER_BANK
    assert epc_bank == PII_ONLY_EPC


@pytest.mark.parametrize(
    ("index", "uii"), [(12, "B.A12312345678"), (13, "CH-000134-1.12345678.31")]
)
def test_uii_vectors(index: int, uii: str) -> None:
    data = H(str(VECTORS[index]["hex"]))
    assert part4.encode_uii(uii) == data
    assert part4.decode_uii(data) == uii


@pytest.mark.parametrize(
    ("word", "text"),
    [(w, t) for w, t in VECTORS[13]["decoded"]["words"].items()],
)
def test_urn40_words(word: str, text: str) -> None:
    assert part4.decode_uii(H(word)) == text


@pytest.mark.parametrize(
    ("uii", "hex_"),
    [
        ("123456789", "FB 00 07 5B CD 15"),             # 9 digits: long numeric (dp2)
        ("12345678", "C6 E2 DA 1D ED 31"),             # 8 digits: URN Code 40
        ("012345678901", "C0 79 D3 B4 E6 EF F8 90"),  # leading zero: URN Code 40
        ("aB", "FC 61 0C 81"),                         # ISO 646 for a lower-case letter
        ("\u00e9", "FD C3 A9 00"),                     # 2-byte UTF-8
        ("\u4e2d", "FE E4 B8 AD"),                     # 3-byte UTF-8
    ],
)
def test_uii_forms(uii: str, hex_: str) -> None:
    assert part4.encode_uii(uii) == H(hex_)
    assert part4.decode_uii(H(hex_)) == uii


@pytest.mark.parametrize(
    ("uii", "parts"),
    [
        ("CH-000134-1.12345678.31", ("CH-000134-1", "12345678.31")),
        ("12345678.31", (None, "12345678.31")),       # no hyphen: not an ISIL
        ("DE-Heu1.", (None, "DE-Heu1.")),             # nothing after the dot
        ("ABCDE-1.2", (None, "ABCDE-1.2")),           # 5-character prefix
        ("DE-12345678901234.9", (None, "DE-12345678901234.9")),  # 17 characters
        ("12345678", (None, "12345678")),
    ],
)
def test_split_uii(uii: str, parts: tuple[str | None, str]) -> None:
    assert part4.split_uii(uii) == parts


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epc_bank", "user_bank", "offset", "match"),
    [
        ("45", "", 1, "shorter than the PC word"),
        ("44 C2 14 1C", "", 0, "toggle bit is 0"),
        ("45 C2 14 1C", "", 4, "8-word UII"),
        ("0D C2 FF 00", "", 2, "no meaning"),
        ("0D C2 FB 20", "", 2, "long numeric declares 4 bytes"),
        ("1D C2 FB 00 3B 9A CA 00", "", 2, "more than the 9 digits"),  # 10^9 in 9 digits
        ("0D C2 FC 80", "", 3, "ISO 646"),
        ("0D C2 FD C3", "", 2, "inside a character"),
        ("0D C2 FB 0F", "", 2, "19 bytes"),
        ("0D C2 FA 01", "", 2, "out of range"),
        ("0D C2 00 41", "", 2, "padding"),
        ("15 C2 FD C3 A9 41", "", 5, "inside a URN Code 40 word"),
        ("0D C2 10 E2", "07 02 01 40", 0, "DSFID 0x07"),
        ("0D C2 10 E2", "06 02 01 40 14 02 04", 5, "user bank: .*declares 2 data bytes"),
        ("0D C2 10 E2", "06 10 01 01", 1, "user bank: relative OID 0"),
    ],
)
def test_decoder_refuses(epc_bank: str, user_bank: str, offset: int, match: str) -> None:
    with pytest.raises(TagFormatError, match=match) as info:
        part4.decode(H(epc_bank), H(user_bank))
    assert info.value.offset == offset


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({}, "needs a primary item identifier"),
        ({"primary_item_id": "DE-1.23"}, "would read back as ISIL.PII"),
        ({"primary_item_id": "\U0001f600"}, "4 UTF-8 bytes"),
        ({"primary_item_id": "\ud800"}, "not encodable"),
        ({"primary_item_id": "X" * 94}, "needs 64 bytes"),
        ({"primary_item_id": "1", "unique_item_identifier": "2"}, "differs from the UII"),
        ({"owner_institution": "US-InU-Mu", "unique_item_identifier": "DE-1.2"},
         "differs from the UII's ISIL"),
        ({"primary_item_id": "1", "owner_institution": "US InU\u00a0" * 30},
         "at most 127|needs"),
    ],
)
def test_encoder_refuses(values: dict[str, object], match: str) -> None:
    with pytest.raises(TagFormatError, match=match):
        part4.encode(tag(**values))


@pytest.mark.parametrize("afi", [-1, 256])
def test_afi_must_be_one_byte(afi: int) -> None:
    with pytest.raises(TagFormatError, match="AFI"):
        part4.encode(tag(primary_item_id="1"), afi=afi)


# --- warnings and merging ---------------------------------------------------------------------


def test_owner_in_uii_and_user_bank_disagree() -> None:
    decoded = part4.decode(EPC_BANK, USER_BANK)
    assert decoded.owner_institution == "CH-000134-1"
    assert any("differs from the UII's" in w for w in decoded.warnings)


def test_umi_zero_with_user_data_warns() -> None:
    decoded = part4.decode(H("19 C2") + PII_ONLY_EPC[2:], USER_BANK)
    assert any("UMI 0" in w for w in decoded.warnings)


@pytest.mark.parametrize("user_bank", ["", "00 00", "00 00 00 00"])
def test_empty_user_bank(user_bank: str) -> None:
    decoded = part4.decode(PII_ONLY_EPC, H(user_bank))
    assert decoded.elements() == {
        "unique_item_identifier": "12345678", "primary_item_identifier": "12345678",
    }
    assert decoded.warnings == ()


def test_xpc_and_extra_epc_words() -> None:
    decoded = part4.decode(H("1F C2") + PII_ONLY_EPC[2:] + H("00 00 12 34"))
    assert decoded.primary_item_id == "12345678"
    assert decoded.vendor("pc_xpc") == 1


# --- round trips ------------------------------------------------------------------------------

UII_TEXT = st.text(
    alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=20
)


@settings(max_examples=500)
@given(UII_TEXT | st.from_regex(r"[A-Z0-9.:-]{0,40}", fullmatch=True))
def test_uii_round_trip(text: str) -> None:
    data = part4.encode_uii(text)
    assert len(data) % 2 == 0
    assert part4.decode_uii(data) == text


@st.composite
def part4_tags(draw: st.DrawFn) -> LibraryTag:
    pii = draw(st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]),
                       min_size=1, max_size=8).filter(lambda p: part4.split_uii(p)[0] is None))
    source = draw(library_tags(TagModel.PART4, isil_owner=False, pii=st.just(pii)))
    owner = draw(st.none() | TEXT | st.text(alphabet=sorted(ISIL_CHARACTERS), max_size=12))
    return source.with_model(TagModel.PART4, owner_institution=owner)


@settings(max_examples=300)
@given(part4_tags(), st.sampled_from([0x07, 0xC2]))
def test_round_trip(source: LibraryTag, afi: int) -> None:
    epc_bank, user_bank = part4.encode(source, afi=afi)
    assert len(user_bank) % 2 == 0
    decoded = part4.decode(epc_bank, user_bank)
    assert decoded.warnings == ()
    assert decoded.vendor_data == (("pc_afi", afi),)
    owner, pii = part4.split_uii(decoded.unique_item_identifier or "")
    assert pii == source.primary_item_id
    assert owner in (None, source.owner_institution)
    assert decoded.with_model(TagModel.PART4, unique_item_identifier=None, vendor_data=()) == source
    # Encoding the decoded tag (UII now set) gives the same banks.
    assert part4.encode(decoded, afi=afi) == (epc_bank, user_bank)


# --- fuzz -------------------------------------------------------------------------------------


@settings(max_examples=3000)
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_fuzz(epc_bank: bytes, user_bank: bytes) -> None:
    try:
        decoded = part4.decode(epc_bank, user_bank)
    except TagFormatError:
        return
    assert decoded.model is TagModel.PART4


@settings(max_examples=2000)
@given(st.binary(max_size=40))
def test_fuzz_uii(data: bytes) -> None:
    try:
        text = part4.decode_uii(data)
    except TagFormatError:
        return
    assert part4.decode_uii(part4.encode_uii(text)) == text
