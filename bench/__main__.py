# SPDX-License-Identifier: Apache-2.0
"""Run every benchmark module and print one table (Markdown, ready for README)."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys

from bench.common import Result

MODULES = ("bench.tag_codec", "bench.store", "bench.sip2", "bench.readers", "bench.selfcheck",
           "bench.daemon", "bench.mqtt", "bench.gateway",
           "bench.gate", "bench.receiving")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke test)")
    args = parser.parse_args()
    results: list[Result] = []
    for name in MODULES:
        module = importlib.import_module(name)
        results.extend(module.run(quick=args.quick))
    print(f"LibEdge benchmarks on {platform.machine()} / Python {platform.python_version()}\n")
    print("| benchmark | value | budget | ok | comparison |")
    print("|---|---|---|---|---|")
    failed = False
    for r in results:
        mark = "" if r.ok is None else ("yes" if r.ok else "NO")
        failed |= r.ok is False
        print(f"| {r.name} | {r.value:,.0f} {r.unit} | {r.budget} | {mark} | {r.comparison} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
