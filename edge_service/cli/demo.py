# SPDX-License-Identifier: Apache-2.0
"""``libedge demo``: LibEdge at work with no hardware, broker or library system.

Today it tours the tag data engine on sample tags from the field (every model, a field variant,
blanks, an unknown image), then encodes, converts and refuses a lossy conversion. Later issues
extend it with simulated readers, the daemon and the web pages.
"""

from __future__ import annotations

import argparse
from importlib import resources
from typing import Any

from edge_service.cli.tag import decode_text
from protocols.iso28560 import (
    ConversionRefused,
    LibraryTag,
    TagModel,
    convert,
    encode_tag,
)


def sample_tags() -> list[tuple[str, str]]:
    """(label, hex) pairs from the packaged sample file."""
    text = resources.files("edge_service.samples").joinpath("tags.txt").read_text("utf-8")
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            label, _, image = line.rpartition("|")
            pairs.append((label.strip(), image.strip()))
    return pairs


def _show(tag: LibraryTag) -> None:
    print(f"   model: {tag.model.value}")
    for name, value in tag.elements().items():
        print(f"   {name}: {f'0x{value:02X}' if isinstance(value, int) else value}")
    for warning in tag.warnings:
        print(f"   note: {warning}")


def _cmd_demo(args: argparse.Namespace) -> int:
    print("LibEdge tag data engine demo: decoding tags met in libraries\n")
    for number, (label, image) in enumerate(sample_tags(), start=1):
        print(f"{number}. {label}")
        _show(decode_text(image))
        print()
    item = LibraryTag(
        model=TagModel.PART2, primary_item_id="5012345678", owner_institution="DK-718500",
        type_of_usage=0x10, title="Enten - Eller",
    )
    encoded = encode_tag(item)
    lock = encoded.image.lock_map() if encoded.image else ""
    print(f"Encoding item 5012345678 of DK-718500 as ISO 28560-2:\n   {encoded.hex()}")
    print(f"   lock plan per 4-byte block: {lock} (l = lock after writing)\n")
    three_m = decode_text(sample_tags()[5][1])
    print("Converting the 3M book to ISO 28560-3 for owner DK-718500:")
    done = convert(three_m, TagModel.PART3, overrides={"owner_institution": "DK-718500"})
    print(f"   {done.image.memory.hex().upper()} (verified by decoding it again)")
    print("Converting the Annex D tag to 3M, which has no place for the owner or shelf:")
    try:
        convert(decode_text(sample_tags()[0][1]), TagModel.LEGACY_3M)
    except ConversionRefused as refused:
        print(f"   refused: {refused}")
    print("\nTry it yourself: libedge tag decode HEX | libedge tag encode --help")
    return 0


def register(commands: Any) -> None:
    demo = commands.add_parser("demo", help="see LibEdge at work with simulated everything")
    demo.set_defaults(handler=_cmd_demo)
