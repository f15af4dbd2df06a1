# SPDX-License-Identifier: Apache-2.0
"""The self-check benchmark measures what it claims: a real run is never below its floor, and
the floor is the pipeline bound it documents."""

from __future__ import annotations

import pytest

from bench import selfcheck


def test_the_floor_is_the_larger_of_tag_work_and_the_ils_chain() -> None:
    tags = selfcheck.catalog_stack(4)
    fast_ils, read, secure = selfcheck.floor_s(tags, 0.001)
    assert fast_ils == pytest.approx(read.total_s + secure.total_s)
    slow_ils, _, _ = selfcheck.floor_s(tags, 1.0)
    assert slow_ils > 4.0
    assert slow_ils < 4.0 + read.total_s + secure.total_s


async def test_a_real_run_checks_everything_out_and_is_not_below_the_floor() -> None:
    tags = selfcheck.catalog_stack(5)
    wall = await selfcheck.one_run(tags, 0.5)
    floor, _, _ = selfcheck.floor_s(tags, selfcheck.ILS_LATENCY_MS / 1000)
    assert wall >= floor
