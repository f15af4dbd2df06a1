# SPDX-License-Identifier: Apache-2.0
"""Tag data engine throughput per core, against the air-interface ceiling.

A gate reader delivers at most ~130 tags/s (reader_protocols.md §3.1) and a Raspberry Pi 4 core
is ~6x slower than a dev-machine core, so the share of one Pi core that decoding takes at the
air ceiling is ``130 * 6 / rate``. Budgets (issue #2): part 3 >= 50,000 decodes/s, part 2 >=
25,000/s on the dev machine, i.e. decoding stays under 2% of a Pi core.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from bench.common import Result, rate_per_second
from protocols.iso28560 import (
    LibraryTag,
    TagModel,
    decode_any,
    decode_uhf,
    legacy_3m,
    part2,
    part3,
    part4,
)

AIR_CEILING_TAGS_S = 130
PI_SLOWDOWN = 6

# Realistic images: Annex D-style part 2 (PII, set, shelf, owner), a full part-3 tag with a
# library supplement and a title block, a UHF tag with both banks, a 3M circulation tag.
PART2_TAG = LibraryTag(
    model=TagModel.PART2, primary_item_id="123456789012", owner_institution="US-InU-Mu",
    set_total=12, set_part=3, shelf_location="QA268.L55",
)
PART3_TAG = LibraryTag(
    model=TagModel.PART3, primary_item_id="5012345678", owner_institution="DK-718500",
    set_total=1, set_part=1, type_of_usage=0x10, shelf_location="839.8 KIE",
    title="Enten - Eller",
)
PART4_TAG = LibraryTag(
    model=TagModel.PART4, primary_item_id="12345678", owner_institution="CH-000134-1",
    shelf_location="QA268.L55",
)
THREE_M_TAG = LibraryTag(
    model=TagModel.LEGACY_3M, primary_item_id="1302003767", set_total=1, set_part=1,
    media_format=1,
)

BUDGETS = {"iso28560-2": 25_000, "iso28560-3": 50_000}


def _result(name: str, rate: float, budget: int | None) -> Result:
    share = AIR_CEILING_TAGS_S * PI_SLOWDOWN / rate
    return Result(
        name=name, value=rate, unit="/s",
        budget=f">= {budget:,}/s" if budget else "",
        ok=rate >= budget if budget else None,
        comparison=f"{share:.2%} of a Pi 4 core at the 130 tags/s air ceiling",
    )


def run(*, quick: bool = False) -> list[Result]:
    seconds = 0.2 if quick else 1.0
    p2 = part2.encode(PART2_TAG).memory
    p3 = part3.encode(PART3_TAG).memory
    epc, user = part4.encode(PART4_TAG)
    m3 = legacy_3m.encode(THREE_M_TAG).memory
    cases: list[tuple[str, Callable[[], object], int | None]] = [
        ("decode iso28560-2 (Annex D image)", lambda: part2.decode(p2), BUDGETS["iso28560-2"]),
        ("decode iso28560-3 (full, title block)", lambda: part3.decode(p3), BUDGETS["iso28560-3"]),
        ("decode iso28560-4 (EPC + user bank)", lambda: part4.decode(epc, user), None),
        ("decode 3M RFID501", lambda: legacy_3m.decode(m3), None),
        ("detect+decode iso28560-2", lambda: decode_any(p2), None),
        ("detect+decode iso28560-3", lambda: decode_any(p3), None),
        ("detect+decode iso28560-4", lambda: decode_uhf(epc, user), None),
        ("encode iso28560-2 (with lock plan)", lambda: part2.encode(PART2_TAG), None),
        ("encode iso28560-3", lambda: part3.encode(PART3_TAG), None),
        ("encode iso28560-4", lambda: part4.encode(PART4_TAG), None),
        ("encode 3M RFID501", lambda: legacy_3m.encode(THREE_M_TAG), None),
    ]
    results = [_result(name, rate_per_second(op, seconds=seconds), budget)
               for name, op, budget in cases]
    return results + run_cli(quick=quick)


def run_cli(*, quick: bool = False) -> list[Result]:
    """`libedge tag decode --stdin` end to end (process start, parsing, JSON) in lines/s."""
    lines = 5_000 if quick else 50_000
    images = [part2.encode(PART2_TAG).memory.hex(), part3.encode(PART3_TAG).memory.hex()]
    text = "\n".join(images[i % 2] for i in range(lines)) + "\n"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "edge_service", "tag", "decode", "--stdin"],
        input=text, capture_output=True, text=True, check=True,
    )
    elapsed = time.perf_counter() - start
    assert done.stdout.count("\n") == lines
    rate = lines / elapsed
    return [Result(
        name=f"libedge tag decode --stdin ({lines:,} lines, incl. start-up)", value=rate,
        unit="lines/s", comparison=f"{rate / AIR_CEILING_TAGS_S:,.0f}x the air ceiling",
    )]
