# SPDX-License-Identifier: Apache-2.0
"""The ``libedge`` command line: one entry point, one sub-command module per concern.

Not responsible for: any protocol logic (that is in protocols/ and firmware_bridge/); this
package parses arguments, calls the libraries and prints results.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edge_service.cli import demo as demo_commands
from edge_service.cli import events as events_commands
from edge_service.cli import gateway as gateway_commands
from edge_service.cli import reader as reader_commands
from edge_service.cli import run as run_commands
from edge_service.cli import sim as sim_commands
from edge_service.cli import tag as tag_commands
from edge_service.cli import tokens as tokens_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="libedge",
        description="LibEdge: the open-source edge service for library RFID.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_commands.register(commands)
    gateway_commands.register(commands)
    events_commands.register(commands)
    reader_commands.register(commands)
    run_commands.register(commands)
    sim_commands.register(commands)
    tag_commands.register(commands)
    tokens_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except BrokenPipeError:  # `libedge tag decode --stdin | head` is normal use
        return 0
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
