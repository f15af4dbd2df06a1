# SPDX-License-Identifier: Apache-2.0
"""Smoke test of bench/readers.py: a 3-item stack per protocol over a real pty, and the physical
floor it can never beat.

The check is failable: the simulator paces requests and replies by their line time and delays
replies by the modelled air time, so a driver that skipped work, a floor that counted too much
(or an air/serial model that stopped being applied) shows up as a measured time below the
floor. Not a performance gate: the 1.15x goal is the benchmark's to report.
"""

from __future__ import annotations

import pytest

from bench import readers


@pytest.mark.parametrize("protocol", readers.PROTOCOLS)
async def test_measured_stack_is_never_below_the_physical_floor(protocol: str) -> None:
    cases = await readers.measure_stack(protocol, 3)
    assert set(cases) == {"read", "secure", "unsecure"}
    for case in cases.values():
        (run,) = case.runs
        floor = case.floor
        assert floor.air_s > 0
        assert floor.serial_s > 0
        assert run.exchanges >= floor.exchanges, case.name
        assert run.wall_s >= floor.total_s, (
            f"{protocol} {case.name}: {run.wall_s * 1000:.1f} ms measured is below the "
            f"{floor.total_s * 1000:.1f} ms floor"
        )
        assert run.wall_s >= run.model_s, case.name


def test_floor_grows_with_the_stack() -> None:
    small = readers.floor_read("feig", readers.stack(3, scheme=readers.SCHEMES["feig"]))
    large = readers.floor_read("feig", readers.stack(6, scheme=readers.SCHEMES["feig"]))
    assert large.exchanges == small.exchanges + 3
    assert large.total_s > small.total_s


@pytest.mark.parametrize("protocol", readers.PROTOCOLS)
def test_inventory_frame_decodes_to_sixteen_sightings(protocol: str) -> None:
    decode = readers.inventory_decoder(protocol)
    sightings = decode(readers.inventory_frame(protocol))
    assert len({sighting.uid for sighting in sightings}) == readers.CPU_FRAME_TAGS
