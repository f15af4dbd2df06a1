# SPDX-License-Identifier: Apache-2.0
"""The JSON shape of a decoded tag, shared by the CLI, the local API and events.

Keys: ``model``, ``primary_item_id``, ``owner_institution``, ``set_total``, ``set_part``,
``type_of_usage``, ``elements`` (every element by snake_case ISO 28560-1 name), ``warnings``
(corrections a lenient decoder made, or why no model fitted), and, where present,
``vendor_data``, ``unknown_data`` and ``raw`` (hex).
"""

from __future__ import annotations

from typing import Any

from protocols.iso28560 import LibraryTag


def tag_to_json(tag: LibraryTag, *, include_raw: bool = False) -> dict[str, Any]:
    """A JSON-ready dict for ``tag``."""
    out: dict[str, Any] = {
        "model": tag.model.value,
        "primary_item_id": tag.primary_item_id,
        "owner_institution": tag.owner_institution,
        "set_total": tag.set_total,
        "set_part": tag.set_part,
        "type_of_usage": tag.type_of_usage,
        "elements": tag.elements(),
        "warnings": list(tag.warnings),
    }
    if tag.vendor_data:
        out["vendor_data"] = dict(tag.vendor_data)
    if tag.unknown_data:
        out["unknown_data"] = [
            {"kind": u.kind, "key": u.key, "hex": u.data.hex().upper()} for u in tag.unknown_data
        ]
    if include_raw:
        out["raw"] = tag.raw.hex().upper()
    return out
