# SPDX-License-Identifier: Apache-2.0
"""The receiving benchmark measures what it claims: its floor adds up the exchanges it lists,
and a real run receives every item and is never below that floor."""

from __future__ import annotations

from bench import receiving
from bench.readers import floor_read, floor_security


def test_the_floor_is_the_arrival_read_the_new_data_and_the_security() -> None:
    [spec] = receiving.supplier_cart(1)
    new_data = receiving.floor_new_data(spec)
    # write + read back + one [0x22] per run of the part 2 lock plan + the status read
    _, plan = receiving.circulation_image()
    assert new_data.exchanges == 2 + len(receiving.lock_runs(plan)) + 1
    assert new_data.air_s > 0
    assert new_data.serial_s > 0
    total = receiving.floor_per_item(spec)
    assert total.total_s == (floor_read("feig", [spec]) + new_data
                             + floor_security("feig", [spec], True)).total_s


async def test_a_real_run_receives_every_item_and_is_not_below_the_floor() -> None:
    tags = receiving.supplier_cart(3)
    wall = await receiving.one_run(tags)   # raises unless every tag holds its copy, secured
    floor = sum(receiving.floor_per_item(spec).total_s for spec in tags)
    assert wall >= floor
