# SPDX-License-Identifier: Apache-2.0
"""``libedge reader ...``: one reader, one operation, for staff and integrators.

``info``, ``inventory``, ``read`` (the tag decoded, same JSON as ``libedge tag decode``),
``write`` (program a tag from the ``tag encode`` options, verified by read-back, then its DSFID:
the image's, or 00 when a part 2 tag (DSFID 06) is rewritten in another model; ``--lock`` locks
the model's lock plan and reads the lock status back; a tag that already holds data is only
overwritten with ``--force``), ``secure`` / ``unsecure`` (AFI and/or EAS per ``--security``,
verified). Without ``--uid`` the one tag in the field is used; two or more tags stop the
operation, so a write never lands on the wrong item.
Exit status: 0 done, 1 the reader or tag refused or failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from edge_service.cli.tag import add_encode_options, hex_byte, tag_from_args
from edge_service.tag_json import tag_to_json
from edge_service.tag_writer import locked_blocks, write_image
from firmware_bridge import SECURITY_PRESETS, BridgeError, Reader, TagSighting
from firmware_bridge.drivers import DRIVERS, reader_for
from protocols import ProtocolError
from protocols.iso15693 import Uid
from protocols.iso28560 import TagModel, decode_any, encode_tag


class UsageProblem(Exception):
    """Something the person must change in the command (not a device failure)."""


def _parse_uid(uid_text: str) -> Uid:
    try:
        uid = Uid.from_text(uid_text)
    except ProtocolError as exc:
        raise UsageProblem(f"--uid: {exc}") from None
    if not uid.is_iso15693:
        raise UsageProblem(
            f"--uid {uid_text}: an ISO 15693 UID starts with E0 as readers print it "
            "(is it written least significant byte first?)"
        )
    return uid


async def _pick_tag(reader: Reader, given: Uid | None) -> Uid:
    if given is not None:
        return given
    seen = await reader.inventory()
    if len(seen) != 1:
        listed = ", ".join(str(s.uid) for s in seen) or "none"
        raise UsageProblem(f"{len(seen)} tags in the field ({listed}); put one tag or give --uid")
    return seen[0].uid


def _sighting_json(s: TagSighting) -> dict[str, Any]:
    return {
        "uid": str(s.uid),
        "afi": None if s.afi is None else f"{s.afi:02X}",
        "dsfid": None if s.dsfid is None else f"{s.dsfid:02X}",
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"baudrate": args.baud} if args.baud else {}
    scheme = SECURITY_PRESETS[args.security]
    given = _parse_uid(args.uid) if getattr(args, "uid", None) else None
    if args.reader_command == "write":
        _check_write_arguments(args)
    async with reader_for(args.protocol, args.port, **options) as reader:
        action = args.reader_command
        if action == "info":
            about = await reader.info()
            return {"protocol": about.protocol, "model": about.model, "firmware": about.firmware,
                    "capabilities": str(about.capabilities)}
        if action == "inventory":
            return {"tags": [_sighting_json(s) for s in await reader.inventory(afi=args.afi)]}
        uid = await _pick_tag(reader, given)
        if action == "read":
            memory, info = await reader.read_memory(uid)
            tag = decode_any(memory, dsfid=info.dsfid)
            security = await reader.read_security(uid, scheme)
            return {"uid": str(uid), **tag_to_json(tag, include_raw=True),
                    "afi": None if security.afi is None else f"{security.afi:02X}",
                    "eas": security.eas, "secured": security.secured}
        if action == "write":
            return await _write(reader, uid, args)
        secured = action == "secure"
        state = await reader.set_security(uid, secured, scheme)
        return {"uid": str(uid), "secured": state.secured, "verified": True,
                "afi": None if state.afi is None else f"{state.afi:02X}", "eas": state.eas}


def _check_write_arguments(args: argparse.Namespace) -> None:
    """Bad write options are the person's to fix: say so before any tag is touched."""
    if args.model == TagModel.PART4.value:
        raise UsageProblem("UHF (iso28560-4) tags are not written through HF readers")
    try:
        encode_tag(tag_from_args(args))
    except ProtocolError as exc:
        raise UsageProblem(str(exc)) from None


async def _write(reader: Reader, uid: Uid, args: argparse.Namespace) -> dict[str, Any]:
    memory, info = await reader.read_memory(uid)
    current = decode_any(memory, dsfid=info.dsfid)
    if current.model is not TagModel.BLANK and not args.force:
        raise UsageProblem(
            f"tag {uid} already holds {current.model.value} data "
            f"(item {current.primary_item_id}); add --force to overwrite it"
        )
    encoded = encode_tag(tag_from_args(args), size=len(memory) or None)
    assert encoded.image is not None  # UHF refused by _check_write_arguments
    await _refuse_locked(reader, uid, len(encoded.image.memory),
                         info.block_size or encoded.image.block_size)
    done = await write_image(reader, uid, encoded.image, info=info, lock=args.lock)
    result: dict[str, Any] = {"uid": str(uid), "verified": True,
                              "dsfid": None if done.dsfid is None else f"{done.dsfid:02X}"}
    if args.lock and not done.lock_plan:
        result["lock"] = f"no lock plan for {encoded.model.value}"
    return {**result, "locked_blocks": list(done.locked_blocks),
            "tag": tag_to_json(done.written)}


async def _refuse_locked(reader: Reader, uid: Uid, data_bytes: int, block_size: int) -> None:
    """Before anything is written (the DSFID goes first): a locked block in the way would stop
    the write part way, the tag's DSFID already changed. A reader that cannot tell: the write
    itself finds out."""
    locked = await locked_blocks(reader, uid, data_bytes, block_size)
    if locked:
        raise UsageProblem(f"tag {uid} has locked blocks ({', '.join(map(str, locked))}), "
                           "so it cannot be rewritten; use a new tag")


def _cmd_reader(args: argparse.Namespace) -> int:
    try:
        result = asyncio.run(_run(args))
    except UsageProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BridgeError, ProtocolError) as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        _print_human(result)
    return 0


def _print_human(result: dict[str, Any]) -> None:
    if "tags" in result:
        for tag in result["tags"]:
            extra = "".join(f" {k}={v}" for k, v in tag.items() if k != "uid" and v is not None)
            print(f"{tag['uid']}{extra}")
        if not result["tags"]:
            print("no tags in the field")
        return
    for key, value in result.items():
        print(f"{key}: {json.dumps(value) if isinstance(value, dict | list) else value}")


def register(commands: Any) -> None:
    reader = commands.add_parser("reader", help="talk to one RFID reader")
    sub = reader.add_subparsers(dest="reader_command", required=True, metavar="ACTION")
    helps = {
        "info": "reader model, firmware and capabilities",
        "inventory": "the tags in the field",
        "read": "read and decode a tag",
        "write": "program a tag (verified by read-back)",
        "secure": "switch security on (verified)",
        "unsecure": "switch security off (verified)",
    }
    for action, text in helps.items():
        p = sub.add_parser(action, help=text)
        p.add_argument("--port", required=True, help="device path or socket://host:port")
        p.add_argument("--protocol", required=True, choices=sorted(DRIVERS))
        p.add_argument("--baud", type=int, help="line speed if not the protocol's default")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--security", default="iso", choices=sorted(SECURITY_PRESETS),
                       help="security scheme: iso (AFI 07/C2), 3m (D7/DA), eas, iso+eas")
        if action == "inventory":
            p.add_argument("--afi", type=hex_byte, help="only tags with this AFI (hex, 00-FF)")
        if action not in ("info", "inventory"):
            p.add_argument("--uid", help="tag UID as readers print it (E004...)")
        if action == "write":
            add_encode_options(p)
            p.add_argument("--force", action="store_true", help="overwrite a programmed tag")
            p.add_argument("--lock", action="store_true", help="lock blocks per the lock plan")
        p.set_defaults(handler=_cmd_reader)
