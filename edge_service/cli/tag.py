# SPDX-License-Identifier: Apache-2.0
"""``libedge tag {decode,encode,convert}``: the tag data engine for people and scripts.

Hex images are block 0 first; spaces are allowed. A UHF (ISO 28560-4) tag is written as its two
banks, ``EPC/USER`` (EPC/UII bank from the PC word, then the user bank).
Exit status: 0 success, 1 a tag could not be decoded/encoded/converted, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edge_service.tag_json import tag_to_json
from protocols import ProtocolError, TagFormatError
from protocols.iso28560 import (
    BY_NAME,
    ConversionRefused,
    LibraryTag,
    TagModel,
    ValueKind,
    convert,
    decode_any,
    decode_uhf,
    encode_tag,
    parse_set_information,
)

_ENCODABLE = [m.value for m in (TagModel.PART2, TagModel.PART3, TagModel.PART4, TagModel.LEGACY_3M)]


def parse_hex(text: str, *, what: str = "tag image") -> bytes:
    """Hex digits (spaces allowed) to bytes, with an error that says where it went wrong."""
    digits = "".join(text.split())
    for index, char in enumerate(digits):
        if char not in "0123456789abcdefABCDEF":
            raise TagFormatError(f"{what}: {char!r} at hex digit {index} is not a hex digit")
    if len(digits) % 2:
        raise TagFormatError(f"{what}: odd number of hex digits ({len(digits)})")
    return bytes.fromhex(digits)


def hex_byte(text: str) -> int:
    """An argparse type: one byte in hex ("06"), refused with a usage error otherwise."""
    try:
        value = int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hex (00-FF)") from None
    if not 0 <= value <= 0xFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not one byte (00-FF)")
    return value


MAX_TAG_BYTES = 8192
"""Largest HF user memory LibEdge writes: 256 blocks of 32 bytes, above every ISO 15693 tag."""


def tag_size(text: str) -> int:
    """An argparse type for --size: whole 4-byte blocks, 4..MAX_TAG_BYTES."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bytes") from None
    if not 4 <= value <= MAX_TAG_BYTES or value % 4:
        raise argparse.ArgumentTypeError(
            f"{value} is not a whole number of 4-byte blocks from 4 to {MAX_TAG_BYTES}"
        )
    return value


def decode_text(text: str, *, dsfid: int | None = None) -> LibraryTag:
    """Decode one image as typed by a person: HF memory, or ``EPC/USER`` for UHF."""
    if "/" in text:
        epc, _, user = text.partition("/")
        return decode_uhf(parse_hex(epc, what="EPC bank"), parse_hex(user, what="user bank"))
    return decode_any(parse_hex(text), dsfid=dsfid)


def _print_human(tag: LibraryTag) -> None:
    print(f"model: {tag.model.value}")
    for name, value in tag.elements().items():
        shown = f"0x{value:02X}" if isinstance(value, int) else value
        print(f"  {name}: {shown}")
    for key, value in tag.vendor_data:
        print(f"  ({tag.model.value}) {key}: {value}")
    for unknown in tag.unknown_data:
        print(f"  kept verbatim: {unknown.kind} {unknown.key}: {unknown.data.hex().upper()}")
    for warning in tag.warnings:
        print(f"  warning: {warning}")


def _cmd_decode(args: argparse.Namespace) -> int:
    dsfid = args.dsfid
    if args.stdin:
        if args.hex:
            raise SystemExit("libedge tag decode: give HEX or --stdin, not both")
        return _decode_stream(dsfid)
    if not args.hex:
        raise SystemExit("libedge tag decode: give HEX or --stdin")
    try:
        tag = decode_text(args.hex, dsfid=dsfid)
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(tag_to_json(tag, include_raw=True)))
    else:
        _print_human(tag)
    return 0


def _decode_stream(dsfid: int | None) -> int:
    """One hex image per line in, one JSON object per line out; bad lines do not stop the batch,
    but make the exit status 1 (a script notices without parsing every line)."""
    out = sys.stdout
    failed = 0
    for number, line in enumerate(sys.stdin, start=1):
        text = line.strip()
        if not text:  # answered too, so output line N still belongs to input line N
            out.write(json.dumps({"line": number, "error": "empty line"}))
            out.write("\n")
            continue
        try:
            record = tag_to_json(decode_text(text, dsfid=dsfid))
        except ProtocolError as exc:
            record = {"line": number, "error": str(exc)}
            failed += 1
        out.write(json.dumps(record))
        out.write("\n")
    out.flush()
    if failed:
        print(f"libedge tag decode: {failed} line(s) not decoded", file=sys.stderr)
    return 1 if failed else 0


def _element_value(name: str, text: str) -> tuple[str, Any]:
    spec = BY_NAME.get(name)
    if spec is None or spec.kind is ValueKind.BITMAP:
        known = ", ".join(n for n, s in BY_NAME.items() if s.kind is not ValueKind.BITMAP)
        raise TagFormatError(f"--element {name}: unknown element; known: {known}")
    if spec.kind is ValueKind.CODE:
        try:
            return spec.attribute, int(text, 0)
        except ValueError:
            raise TagFormatError(f"--element {name}={text}: not a number") from None
    return spec.attribute, text


def tag_from_args(args: argparse.Namespace) -> LibraryTag:
    """The tag described by the options of :func:`add_encode_options`."""
    if not args.item_id.strip():
        raise TagFormatError("--item-id: the primary item identifier cannot be empty")
    values: dict[str, Any] = {"primary_item_id": args.item_id}
    if args.owner:
        values["owner_institution"] = args.owner
    if (args.set_total is None) != (args.set_part is None):
        raise TagFormatError("--set-total and --set-part go together")
    if args.set_total is not None:
        values["set_total"], values["set_part"] = args.set_total, args.set_part
    if args.type_of_usage is not None:
        try:
            values["type_of_usage"] = hex_byte(args.type_of_usage)
        except argparse.ArgumentTypeError:
            raise TagFormatError(
                f"--type-of-usage {args.type_of_usage}: give two hex digits, e.g. 10"
            ) from None
    for item in args.element or []:
        name, sep, text = item.partition("=")
        if not sep:
            raise TagFormatError(f"--element {item}: expected NAME=VALUE")
        if name == "set_information":
            values["set_total"], values["set_part"] = parse_set_information(text)
            continue
        attribute, value = _element_value(name, text)
        if attribute == "primary_item_id":
            raise TagFormatError("--element primary_item_identifier: give it with --item-id")
        values[attribute] = value
    return LibraryTag(model=TagModel(args.model), **values)


def _cmd_encode(args: argparse.Namespace) -> int:
    try:
        tag = tag_from_args(args)
        encoded = encode_tag(tag, size=args.size)
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        lock_map = encoded.image.lock_map() if encoded.image else None
        print(json.dumps({"model": tag.model.value, "hex": encoded.hex(), "lock_map": lock_map}))
    else:
        print(encoded.hex())
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    overrides = {"owner_institution": args.owner} if args.owner else None
    try:
        source = decode_text(args.hex)
        result = convert(source, TagModel(args.to), allow_loss=args.allow_loss,
                         overrides=overrides)
    except ConversionRefused as exc:
        print(f"refused: {exc}; add --allow-loss to convert anyway", file=sys.stderr)
        return 1
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({
            "from": source.model.value,
            "to": result.tag.model.value,
            "hex": result.image.memory.hex().upper(),
            "lock_map": result.image.lock_map(),
            "dropped": list(result.dropped),
            "tag": tag_to_json(result.tag),
        }))
    else:
        print(result.image.memory.hex().upper())
        for name in result.dropped:
            print(f"dropped: {name}", file=sys.stderr)
    return 0


def add_encode_options(parser: argparse.ArgumentParser) -> None:
    """The options that describe a tag to encode (shared by ``tag encode`` and ``reader write``)."""
    parser.add_argument("--model", required=True, choices=_ENCODABLE)
    parser.add_argument("--item-id", required=True, help="primary item identifier (barcode)")
    parser.add_argument("--owner", help="owner institution ISIL, e.g. DK-718500")
    parser.add_argument("--set-total", type=int, help="number of parts in the item")
    parser.add_argument("--set-part", type=int, help="this part's ordinal number")
    parser.add_argument("--type-of-usage", help="two hex digits, ISO 28560-1 Annex C (10)")
    parser.add_argument("--element", action="append", metavar="NAME=VALUE",
                        help="any other ISO 28560-1 element by snake_case name (repeatable)")


def register(commands: Any) -> None:
    tag = commands.add_parser("tag", help="decode, encode and convert library tag memory")
    sub = tag.add_subparsers(dest="tag_command", required=True, metavar="ACTION")

    decode = sub.add_parser("decode", help="decode a tag memory image (any model)")
    decode.add_argument("hex", nargs="?", help="memory image in hex (UHF: EPC/USER)")
    decode.add_argument("--stdin", action="store_true",
                        help="one image per line on standard input, one JSON object per line out")
    decode.add_argument("--json", action="store_true", help="print JSON")
    decode.add_argument("--dsfid", type=hex_byte,
                        help="the tag's DSFID in hex (00-FF), if the reader reported it")
    decode.set_defaults(handler=_cmd_decode)

    encode = sub.add_parser("encode", help="print the memory image for the given data")
    add_encode_options(encode)
    encode.add_argument("--size", type=tag_size,
                        help="tag user memory in bytes (refuse if the data needs more)")
    encode.add_argument("--json", action="store_true", help="print JSON with the lock map")
    encode.set_defaults(handler=_cmd_encode)

    conv = sub.add_parser("convert", help="convert a tag image to another data model")
    conv.add_argument("hex", help="memory image in hex")
    conv.add_argument("--to", required=True,
                      choices=[TagModel.PART2.value, TagModel.PART3.value,
                               TagModel.LEGACY_3M.value])
    conv.add_argument("--owner", help="owner ISIL to write (e.g. when the source has none)")
    conv.add_argument("--allow-loss", action="store_true",
                      help="convert even if the target cannot carry some of the data")
    conv.add_argument("--json", action="store_true", help="print JSON")
    conv.set_defaults(handler=_cmd_convert)
