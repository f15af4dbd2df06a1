# SPDX-License-Identifier: Apache-2.0
"""What is on the kiosk pad, as items rather than tags.

A patron puts a stack down; the reader sees tags. ``group_items`` turns the supervisor's field
into items: tags naming the same (owner ISIL, primary item id) are one item (a set: a book and
its CD), with the parts seen so far. Patron cards (ISO 28560 type of usage 8x) and tags that
name no item (blank, unreadable, an unknown model) are listed apart, so the kiosk can say
"see staff" for them instead of ignoring them.

Completeness of a set: an item whose tags say "part n of m" is complete when every part
1..m is on the pad. An item with no set information is one part.

Not responsible for: what to do with an item (``selfcheck``), reading tags (``devices``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from edge_service.circulation import ItemKey
from edge_service.devices import TagInField, is_patron_card
from protocols.iso15693 import Uid

__all__ = ["ItemOnPad", "PadContents", "group_items", "is_patron_card"]

@dataclass(slots=True)
class ItemOnPad:
    key: ItemKey
    uids: list[Uid] = field(default_factory=list)
    parts_seen: set[int] = field(default_factory=set)
    set_total: int | None = None
    arrived_s: float = 0.0
    """When its latest tag arrived (a re-placed item arrives again)."""
    first_arrived_s: float = 0.0

    @property
    def complete(self) -> bool:
        if self.set_total is None or self.set_total <= 1:
            return True
        return self.parts_seen >= set(range(1, self.set_total + 1))

    @property
    def missing_parts(self) -> list[int]:
        if self.set_total is None:
            return []
        return sorted(set(range(1, self.set_total + 1)) - self.parts_seen)


@dataclass(slots=True)
class PadContents:
    items: dict[ItemKey, ItemOnPad] = field(default_factory=dict)
    patron_cards: list[TagInField] = field(default_factory=list)
    unidentified: list[TagInField] = field(default_factory=list)
    """Read, but naming no item (blank or unknown data), or not readable."""
    pending: int = 0
    """Tags still being read."""


def group_items(field_now: Mapping[Uid, TagInField]) -> PadContents:
    contents = PadContents()
    for tag in field_now.values():
        if not tag.read:
            if tag.read_error is not None:
                contents.unidentified.append(tag)
            else:
                contents.pending += 1
            continue
        if is_patron_card(tag):
            contents.patron_cards.append(tag)
            continue
        if not tag.primary_item_id:
            contents.unidentified.append(tag)
            continue
        key = ItemKey(tag.owner_institution or "", tag.primary_item_id)
        item = contents.items.get(key)
        if item is None:
            item = contents.items[key] = ItemOnPad(key, first_arrived_s=tag.arrived_s)
        item.uids.append(tag.uid)
        item.parts_seen.add(tag.set_part or 1)
        if tag.set_total is not None:
            item.set_total = max(item.set_total or 0, tag.set_total)
        item.arrived_s = max(item.arrived_s, tag.arrived_s)
        item.first_arrived_s = min(item.first_arrived_s, tag.arrived_s)
    for item in contents.items.values():
        item.uids.sort(key=str)
    return contents
