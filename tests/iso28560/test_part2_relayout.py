# SPDX-License-Identifier: Apache-2.0
"""ISO 28560-2 images rewritten around locked data sets (``part2_relayout``): the ILL elements
added to and removed from tags whose lock plan put the owner's locked group after the free
elements, with every locked block byte-identical and the tag decoding to what was meant.
Tags come from the real encoder (``part2.encode`` with its lock plan); Hypothesis draws tags,
lock plans and changes."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.errors import TagFormatError
from protocols.iso28560 import LibraryTag, TagModel, part2
from protocols.iso28560 import relayout_part2 as relayout
from tests.iso28560.tag_strategies import ISIL_TEXT, library_tags

MEMORY = 28 * 4   # an NXP SLIX
ILL = ("ill_borrowing_institution", "ill_borrowing_transaction_number")
LENDER = LibraryTag(TagModel.PART2, primary_item_id="5012345601", owner_institution="DE-705",
                    type_of_usage=0x10, set_total=1, set_part=1)


def locked_bytes(memory: bytes, blocks: tuple[int, ...]) -> list[bytes]:
    return [memory[4 * b:4 * b + 4] for b in blocks]


def test_ill_elements_go_after_the_locked_owner_group_and_come_off_again() -> None:
    original = part2.encode(LENDER, memory_size=MEMORY)
    assert original.locked_blocks   # the default plan: PII and owner locked
    on_loan = dataclasses.replace(LENDER, ill_borrowing_institution="DK-718500",
                                  ill_borrowing_transaction_number="ILL-2026-0042")
    # A fresh encoding would move the locked group: that is why relayout exists.
    fresh = part2.encode(on_loan, memory_size=MEMORY)
    assert locked_bytes(fresh.memory, original.locked_blocks) != locked_bytes(
        original.memory, original.locked_blocks)

    image = relayout(original.memory, on_loan, locked_blocks=original.locked_blocks,
                     block_size=4, changed=ILL)
    assert locked_bytes(image.memory, original.locked_blocks) == locked_bytes(
        original.memory, original.locked_blocks)
    assert part2.decode(image.memory) == on_loan
    assert len(image.memory) == MEMORY

    back = relayout(image.memory, LENDER, locked_blocks=original.locked_blocks, block_size=4,
                    changed=ILL)
    assert part2.decode(back.memory) == LENDER
    assert back.memory == original.memory   # nothing of the loan left behind


def test_a_locked_element_cannot_change() -> None:
    original = part2.encode(LENDER, memory_size=MEMORY)
    moved = dataclasses.replace(LENDER, owner_institution="DE-1")
    with pytest.raises(TagFormatError, match="owner_institution is in a locked block"):
        relayout(original.memory, moved, locked_blocks=original.locked_blocks, block_size=4,
                 changed=["owner_institution"])


def test_no_room_after_the_locked_group_is_refused() -> None:
    original = part2.encode(LENDER, memory_size=8 * 4)   # a small tag, filled to the end
    end = part2.decode_data_sets(original.memory)[1]
    room = len(original.memory) - end
    on_loan = dataclasses.replace(LENDER, ill_borrowing_transaction_number="X" * (room + 1))
    with pytest.raises(TagFormatError, match="bytes"):
        relayout(original.memory, on_loan, locked_blocks=original.locked_blocks, block_size=4,
                 changed=ILL)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(tag=library_tags(), lock=st.lists(st.sampled_from(
           ["primary_item_identifier", "owner_institution", "set_information",
            "type_of_usage", "title"]), unique=True),
       institution=st.none() | ISIL_TEXT.filter(bool), number=st.none() | st.text(
           alphabet="0123456789-ABCXYZ", min_size=1, max_size=20))
def test_relayout_keeps_locked_blocks_or_refuses(tag: LibraryTag, lock: list[str],
                                                 institution: str | None,
                                                 number: str | None) -> None:
    """Whatever the tag and plan: either a refusal, or an image whose locked blocks are
    byte-identical and which decodes to exactly the new tag."""
    if tag.primary_item_id is None:
        tag = dataclasses.replace(tag, primary_item_id="1")
    try:
        original = part2.encode(tag, memory_size=MEMORY, lock=lock)
    except TagFormatError:
        return   # does not fit the tag at all
    new = dataclasses.replace(tag, ill_borrowing_institution=institution,
                              ill_borrowing_transaction_number=number)
    try:
        image = relayout(original.memory, new, locked_blocks=original.locked_blocks,
                         block_size=4, changed=ILL)
    except TagFormatError:
        return
    assert locked_bytes(image.memory, original.locked_blocks) == locked_bytes(
        original.memory, original.locked_blocks)
    decoded = part2.decode(image.memory)
    # A locked data set is copied as it was, with whatever the decoder remarked on it.
    assert set(decoded.warnings) <= set(part2.decode(original.memory).warnings)
    assert dataclasses.replace(decoded, warnings=()) == new


@settings(max_examples=300)
@given(memory=st.binary(min_size=8, max_size=MEMORY).map(lambda b: b[:len(b) - len(b) % 4]),
       locked=st.lists(st.integers(min_value=0, max_value=27), unique=True))
def test_any_tag_memory_is_refused_cleanly_or_kept_where_locked(memory: bytes,
                                                               locked: list[int]) -> None:
    """Hostile memory (what a tag may hold): a TagFormatError naming why, or an image that
    keeps every locked block; never another exception."""
    blocks = tuple(b for b in locked if b < len(memory) // 4)
    on_loan = dataclasses.replace(LENDER, ill_borrowing_institution="DK-718500")
    try:
        image = relayout(memory, on_loan, locked_blocks=blocks, block_size=4, changed=ILL)
    except TagFormatError:
        return
    assert locked_bytes(image.memory, blocks) == locked_bytes(memory, blocks)
