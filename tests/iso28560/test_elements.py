# SPDX-License-Identifier: Apache-2.0
"""Walk the ISO 28560-1 element catalogue: complete, unique, and wired to LibraryTag."""

from __future__ import annotations

import dataclasses

import pytest

from protocols import TagFormatError
from protocols.iso28560 import BY_NAME, BY_OID, ELEMENTS, LibraryTag, TagModel, ValueKind
from protocols.iso28560.elements import MAX_RELATIVE_OID
from protocols.iso28560.model import ELEMENT_ATTRIBUTES, element_name


def test_relative_oids_0_to_26_each_appear_once() -> None:
    oids = [spec.oid for spec in ELEMENTS]
    assert oids == sorted(set(oids))
    assert oids == list(range(27))  # 27-31 are reserved (ISO 28560-1 4.2.27-4.2.31)
    assert MAX_RELATIVE_OID == 31


def test_names_are_unique_snake_case() -> None:
    names = [spec.name for spec in ELEMENTS]
    assert len(names) == len(set(names))
    assert all(name == name.lower() and " " not in name for name in names)
    assert BY_NAME.keys() == set(names)
    assert BY_OID.keys() == {spec.oid for spec in ELEMENTS}


def test_every_element_but_the_content_parameter_has_a_libarytag_home() -> None:
    fields = {f.name for f in dataclasses.fields(LibraryTag)}
    for spec in ELEMENTS:
        if spec.kind is ValueKind.BITMAP:
            assert spec.attribute == ""
        elif spec.kind is ValueKind.SET:
            assert hasattr(LibraryTag, spec.attribute)  # a property over set_total/set_part
        else:
            assert spec.attribute in fields, spec
    homes = {s.attribute for s in ELEMENTS if s.kind not in (ValueKind.BITMAP, ValueKind.SET)}
    assert homes == ELEMENT_ATTRIBUTES


def test_one_byte_codes_are_the_three_the_standard_defines() -> None:
    codes = {spec.name for spec in ELEMENTS if spec.kind is ValueKind.CODE}
    assert codes == {"type_of_usage", "media_format", "supply_chain_stage"}


def test_reserved_oids_get_a_name_that_says_so() -> None:
    assert element_name(17) == "title"
    assert element_name(29) == "reserved_29"


def test_elements_view_is_in_oid_order_with_iso_names() -> None:
    tag = LibraryTag(
        model=TagModel.PART2, title="T", primary_item_id="1", set_total=2, set_part=1,
        media_format=1,
    )
    assert list(tag.elements()) == [
        "primary_item_identifier", "set_information", "title", "media_format",
    ]


@pytest.mark.parametrize(("total", "part"), [(0, 0), (3, 4), (256, 1), (2, None)])
def test_impossible_set_information_is_refused(total: int, part: int | None) -> None:
    with pytest.raises(TagFormatError, match="set information"):
        LibraryTag(model=TagModel.PART2, set_total=total, set_part=part)
