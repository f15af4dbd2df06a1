# SPDX-License-Identifier: Apache-2.0
"""``libedge demo``: LibEdge at work with no hardware, broker or library system.

``libedge demo`` runs the daemon with simulated readers (kiosk pad, staff pad, gate) on ptys,
the ILS simulator with its sample catalogue, and mosquitto with the catalog gateway when
mosquitto is installed (else the direct SIP2 backend); it prints the pages' URLs, each with its
role's token, and serves until Ctrl-C (``edge_service.demo``). Exit status: 0 after Ctrl-C,
1 when the demo cannot start (the message says why, e.g. a port in use).

``libedge demo --tour`` tours the tag data engine on sample tags from the field (every model, a
field variant, blanks, an unknown image), then encodes, converts and refuses a lossy conversion.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_service.cli.tag import decode_text
from protocols.iso28560 import (
    ConversionRefused,
    LibraryTag,
    TagModel,
    convert,
    encode_tag,
)

if TYPE_CHECKING:
    from edge_service.demo import RunningDemo


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


def _tour() -> int:
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


PAGE_TITLES = (("kiosk", "Kiosk"), ("staff", "Staff station"),
               ("services", "Technical services"), ("gate", "Gate monitor"),
               ("status", "Device status"))


def _print_running(demo: RunningDemo, *, removed: bool) -> None:
    backend = ("the catalog gateway over MQTT (mosquitto)" if demo.circulation == "gateway"
               else "direct SIP2 (install mosquitto to see the catalog gateway over MQTT)")
    print("LibEdge demo: the daemon with simulated readers (kiosk pad, staff pad, gate), the ILS "
          f"simulator, circulation through {backend}.\n")
    for page, title in PAGE_TITLES:
        print(f"  {title:<19} {demo.page_url(page)}")
    print(f"  {'All pages':<19} {demo.base_url}/")
    print(f"  {'API docs':<19} {demo.base_url}/docs\n")
    card, pin = demo.patron
    print("Try it: open the staff station and use its Demo controls to put books on the kiosk "
          f"pad;\nborrow them at the kiosk with card {card} and PIN {pin}; walk one through the "
          "gate.")
    for warning in demo.warnings:
        print(f"Note: {warning}.")
    where = " (removed at exit)" if removed else ""
    print(f"State: {demo.state_directory}{where}. Ctrl-C stops.", flush=True)


async def _serve(args: argparse.Namespace) -> int:
    # Imported here: `libedge demo --tour` and the other commands stay light.
    from edge_service.demo import DemoOptions, demo_stack  # noqa: PLC0415

    options = DemoOptions(host=args.host, port=args.port, mqtt=not args.no_mqtt,
                          state_directory=Path(args.state) if args.state else None,
                          log_level="info" if args.verbose else "warning")
    async with demo_stack(options) as demo:
        _print_running(demo, removed=args.state is None)
        return await demo.wait()


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.tour:
        return _tour()
    from edge_service.demo import DemoUnavailable  # noqa: PLC0415
    from edge_service.logs import configure_logging  # noqa: PLC0415

    configure_logging("info" if args.verbose else "warning")
    try:
        return asyncio.run(_serve(args))
    except DemoUnavailable as exc:
        print(f"libedge demo: {exc} (if port {args.port} is in use, --port 0 takes a free one)",
              file=sys.stderr)
        return 1
    except OSError as exc:   # a pty, a port of a simulator, the state directory
        print(f"libedge demo: cannot start: {exc}", file=sys.stderr)
        return 1


def register(commands: Any) -> None:
    demo = commands.add_parser("demo", help="see LibEdge at work with simulated everything")
    demo.add_argument("--tour", action="store_true",
                      help="tour the tag data engine on sample tags instead")
    demo.add_argument("--host", default="127.0.0.1", help="address the pages are served on")
    demo.add_argument("--port", type=int, default=8080,
                      help="port the pages are served on (0: any free port)")
    demo.add_argument("--no-mqtt", action="store_true",
                      help="direct SIP2 even when mosquitto is installed")
    demo.add_argument("--state", metavar="DIR",
                      help="keep the database, tokens and logs here (default: a temporary "
                           "directory, removed at exit)")
    demo.add_argument("--verbose", action="store_true", help="the daemon's info messages too")
    demo.set_defaults(handler=_cmd_demo)
