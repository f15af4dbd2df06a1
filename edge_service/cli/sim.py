# SPDX-License-Identifier: Apache-2.0
"""``libedge sim reader``: a simulated reader on a real pseudo-terminal, for people and tests.

The first line printed is ``pty: <path>``: open that path with any LibEdge driver (or with the
vendor's own software, since the bytes are the real protocol). Serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from edge_service.cli.sim_ils import register_sim as register_sim_ils
from firmware_bridge import PtyEndpoint
from firmware_bridge.simulator import ScenarioError, SimulatedReader, load_scenario
from firmware_bridge.simulator.frontends import FRONT_ENDS, front_end_for


async def serve_reader(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario) if args.scenario else load_scenario({"tags": []})
    field = scenario.field(seed=args.seed)
    front_end = front_end_for(args.protocol, field)
    async with PtyEndpoint(args.link, name=f"sim-{args.protocol}") as endpoint:
        server = SimulatedReader(
            front_end, endpoint, reader_faults=scenario.reader_faults,
            pace_serial=not args.no_pacing, seed=args.seed,
        )
        print(f"pty: {endpoint.device_path}", flush=True)
        print(
            f"{args.protocol} reader simulator, {len(scenario.tags)} tag(s) in the field at start; "
            "Ctrl-C to stop", file=sys.stderr, flush=True,
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.stop)
        try:
            await server.serve()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(signum)
    return 0


def _cmd_sim_reader(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(serve_reader(args))
    except ScenarioError as exc:
        print(f"scenario {args.scenario}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.scenario and exc.filename == args.scenario:
            print(f"scenario {args.scenario}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"error: {exc}", file=sys.stderr)
        return 1


def register(commands: Any) -> None:
    sim = commands.add_parser("sim", help="hardware and library-system simulators")
    sub = sim.add_subparsers(dest="sim_command", required=True, metavar="WHAT")
    reader = sub.add_parser("reader", help="serve a simulated RFID reader on a pty")
    reader.add_argument("--protocol", required=True, choices=sorted(FRONT_ENDS))
    reader.add_argument("--scenario", help="scenario JSON: tags in the field, events, faults")
    reader.add_argument("--link", help="also make this symlink point at the pty (stable name)")
    reader.add_argument("--seed", type=int, default=0, help="seed for simulated noise")
    reader.add_argument("--no-pacing", action="store_true",
                        help="answer at once instead of at the real serial line speed")
    reader.set_defaults(handler=_cmd_sim_reader)
    register_sim_ils(sub)
