# SPDX-License-Identifier: Apache-2.0
"""``libedge gateway --config FILE``: run the catalog gateway in the foreground (Ctrl-C stops);
``libedge gateway import --config FILE --site S FILE.csv|FILE.mrc``: publish a bulk import as
item deltas (the whole file is read and checked first: a bad row publishes nothing; no SIP2
login, no share of the edges' requests). Exit status: 0 ok, 1 runtime failure (broker
unreachable), 2 unusable settings, site or import file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from edge_service.gateway import (
    GatewayError,
    ImportFormatError,
    load_settings,
    publishing,
    read_items,
    running,
)
from edge_service.ils import IlsError
from protocols.contract import ContractError, items_delta_topic


async def _serve(config: str) -> int:
    settings = load_settings(config)
    async with running(settings):
        print(f"catalog gateway for {settings.gateway.tenant} ({settings.instance}) running; "
              "Ctrl-C stops", flush=True)
        await asyncio.Event().wait()
    return 0


async def _import(config: str, site: str, path: Path, owner: str | None) -> int:
    settings = load_settings(config)
    try:
        items_delta_topic(settings.gateway.tenant, site)   # checks the site id
    except ContractError as exc:
        raise ImportFormatError("--site", str(exc)) from None
    items = list(read_items(path, owner=owner))   # read all first: a bad line publishes nothing
    if not items:
        print(f"{path}: no items (nothing published)")
        return 0
    async with publishing(settings) as gateway:
        seqs = await gateway.import_items(site, items)
    print(f"{len(items)} items published to site {site} in {len(seqs)} deltas "
          f"(seq {seqs[0]}..{seqs[-1]})")
    return 0


def _run(args: argparse.Namespace) -> int:
    if not args.config:
        print("error: --config FILE is required", file=sys.stderr)
        return 2
    try:
        if getattr(args, "file", None) is not None:
            return asyncio.run(_import(args.config, args.site, Path(args.file), args.owner))
        return asyncio.run(_serve(args.config))
    except KeyboardInterrupt:
        return 0
    except (GatewayError, ImportFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (IlsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def register(commands: Any) -> None:
    gateway = commands.add_parser("gateway", help="run the central catalog gateway")
    gateway.add_argument("--config", help="gateway settings (TOML); required")
    gateway.set_defaults(handler=_run, file=None)
    sub = gateway.add_subparsers(dest="gateway_command", metavar="COMMAND")
    imp = sub.add_parser("import", help="publish items from a CSV or MARC 21 file")
    imp.add_argument("--config", required=True, help="gateway settings (TOML)")
    imp.add_argument("--site", required=True, help="site id whose nodes get the deltas")
    imp.add_argument("--owner", help="owner ISIL for records that do not name one")
    imp.add_argument("file", help=".csv, or MARC 21 (.mrc, .marc, .iso)")
    imp.set_defaults(handler=_run)
