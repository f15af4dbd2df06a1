# SPDX-License-Identifier: Apache-2.0
"""What every benchmark returns, and the timing loop they share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One measured figure, its budget and how it compares to a physical limit or a peer."""

    name: str
    value: float
    unit: str
    budget: str = ""
    ok: bool | None = None
    comparison: str = ""


def rate_per_second(operation: Callable[[], object], *, seconds: float = 1.0) -> float:
    """Calls per second of ``operation`` on this core, over at least ``seconds``."""
    batch = 1
    while True:  # grow the batch until one batch takes >= 10 ms, so timer overhead is noise
        start = time.perf_counter()
        for _ in range(batch):
            operation()
        elapsed = time.perf_counter() - start
        if elapsed >= 0.01:
            break
        batch *= 2
    calls, total = 0, 0.0
    while total < seconds:
        start = time.perf_counter()
        for _ in range(batch):
            operation()
        total += time.perf_counter() - start
        calls += batch
    return calls / total
