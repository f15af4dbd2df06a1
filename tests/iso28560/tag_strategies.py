# SPDX-License-Identifier: Apache-2.0
"""Hypothesis strategies for LibraryTag values the ISO 28560-2/-4 encoders must carry."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from protocols.iso28560.elements import ELEMENTS, ValueKind
from protocols.iso28560.isil import ISIL_CHARACTERS
from protocols.iso28560.model import LibraryTag, TagModel, UnknownData

# Any text a data set can hold: no lone surrogates, at most 30 characters (<= 120 UTF-8 bytes,
# inside the 127-byte data-set limit).
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)
ISIL_TEXT = st.text(alphabet=sorted(ISIL_CHARACTERS), max_size=16)
CODE = st.integers(min_value=0, max_value=255)


@st.composite
def set_information(draw: st.DrawFn) -> dict[str, int]:
    total = draw(st.integers(min_value=1, max_value=255))
    return {"set_total": total, "set_part": draw(st.integers(min_value=1, max_value=total))}


@st.composite
def reserved_elements(draw: st.DrawFn) -> tuple[UnknownData, ...]:
    """Unknown part-2 elements on reserved OIDs 27-31, in OID order (as a decoder lists them)."""
    oids = draw(st.lists(st.integers(min_value=27, max_value=31), unique=True, max_size=3))
    return tuple(
        UnknownData("part2-element", oid, draw(st.binary(max_size=20)),
                    draw(st.integers(min_value=0, max_value=7)))
        for oid in sorted(oids)
    )


@st.composite
def library_tags(
    draw: st.DrawFn,
    model: TagModel = TagModel.PART2,
    *,
    isil_owner: bool = True,
    pii: st.SearchStrategy[str] | None = None,
) -> LibraryTag:
    """A tag with a random subset of the ISO 28560-1 elements (never OID 0).

    ``isil_owner`` draws the owner and ILL institutions from the ISIL repertoire (part 2 writes
    them in the ISIL compaction); ``pii`` replaces the PII strategy (it is then always present).
    """
    values: dict[str, Any] = {}
    for spec in ELEMENTS:
        if spec.oid == 0 or spec.kind in (ValueKind.BITMAP, ValueKind.SET):
            continue
        if spec.oid == 1 and pii is not None:
            values[spec.attribute] = draw(pii)
            continue
        strategy: st.SearchStrategy[Any]
        if spec.kind is ValueKind.CODE:
            strategy = CODE
        elif spec.kind is ValueKind.ISIL and isil_owner:
            strategy = ISIL_TEXT
        else:
            strategy = TEXT
        if draw(st.integers(min_value=0, max_value=3)) == 0:  # each element present 1 in 4
            values[spec.attribute] = draw(strategy)
    if draw(st.booleans()):
        values |= draw(set_information())
    return LibraryTag(model=model, unknown_data=draw(reserved_elements()), **values)
