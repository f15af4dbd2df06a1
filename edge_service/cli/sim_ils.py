# SPDX-License-Identifier: Apache-2.0
"""``libedge sim ils --port N --data FILE``: run the SIP2 ILS simulator in the foreground.

The data file format is documented in :mod:`edge_service.ils.simulator_data`; without
``--data`` the packaged sample catalogue is served. Faults can be set at start
(``--latency-ms``, ``--refuse-offline-replay``). Stops on Ctrl-C. Exit status: 0 on a clean stop,
1 when the data file is unusable or the port cannot be bound.

:func:`register` adds a ``sim`` command with ``ils`` below it; :func:`register_sim` adds
``ils`` to a ``sim`` command that another module already created.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import resources
from typing import Any

from edge_service.ils import IlsConfigError, IlsSimulator, SimFaults, load_simulator_data


def _sample_path() -> str:
    return str(resources.files("edge_service.ils").joinpath("sample_catalog.json"))


async def _serve(args: argparse.Namespace) -> int:
    data = load_simulator_data(args.data or _sample_path())
    faults = SimFaults(latency_ms=args.latency_ms,
                       refuse_offline_replay=args.refuse_offline_replay)
    simulator = IlsSimulator(data, faults=faults, host=args.host, port=args.port)
    port = await simulator.start()
    print(f"SIP2 ILS simulator for {data.institution_id} ({len(data.items)} items, "
          f"{len(data.patrons)} patrons) on {args.host}:{port}; Ctrl-C stops", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.close()
    return 0


def _cmd_ils(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
    except IlsConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1


def register_sim(sim_commands: Any) -> None:
    ils = sim_commands.add_parser("ils", help="a SIP2 ILS (ACS) with a catalogue and patrons")
    ils.add_argument("--port", type=int, default=6001, help="TCP port (0: any free port)")
    ils.add_argument("--host", default="127.0.0.1", help="address to listen on")
    ils.add_argument("--data", help="catalogue JSON (default: the packaged sample)")
    ils.add_argument("--latency-ms", type=int, default=0, help="delay before every reply")
    ils.add_argument("--refuse-offline-replay", action="store_true",
                     help="refuse checkouts with no block = Y")
    ils.set_defaults(handler=_cmd_ils)
