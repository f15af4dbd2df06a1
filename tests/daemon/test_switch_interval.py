# SPDX-License-Identifier: Apache-2.0
"""The daemon runs with a short GIL switch interval and gives the old one back when it stops.

Why it is short: ``edge_service.daemon.GIL_SWITCH_INTERVAL_S`` (the gate's decision waits on the
GIL behind the store writer and paho's thread otherwise; bench/gate.py measures it).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from edge_service.config import ApiConfig, Config, StorageConfig
from edge_service.daemon import GIL_SWITCH_INTERVAL_S, Daemon, latency_switch_interval


def test_the_interval_is_set_inside_and_restored_after_an_error() -> None:
    before = sys.getswitchinterval()
    assert before != GIL_SWITCH_INTERVAL_S   # else the test proves nothing
    inside: list[float] = []

    def fail_inside() -> None:
        with latency_switch_interval():
            inside.append(sys.getswitchinterval())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()
    assert inside == [GIL_SWITCH_INTERVAL_S]
    assert sys.getswitchinterval() == before


def test_overlapping_holders_restore_the_first_interval_when_the_last_one_ends() -> None:
    before = sys.getswitchinterval()
    first, second = latency_switch_interval(), latency_switch_interval()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)       # the first daemon stops while the second runs
    assert sys.getswitchinterval() == GIL_SWITCH_INTERVAL_S
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


def test_a_running_daemon_holds_the_short_interval(tmp_path: Path) -> None:
    config = Config(storage=StorageConfig(path=str(tmp_path / "edge.db")),
                    api=ApiConfig(port=0))
    before = sys.getswitchinterval()

    async def scenario() -> tuple[float, int]:
        daemon = Daemon(config, environ={})
        running = asyncio.create_task(daemon.run())
        async with asyncio.timeout(20):
            while daemon.api_address is None:
                assert not running.done(), "the daemon stopped before it was ready"
                await asyncio.sleep(0.02)
        during = sys.getswitchinterval()
        daemon.request_stop()
        return during, await running

    during, code = asyncio.run(scenario())
    assert code == 0
    assert during == GIL_SWITCH_INTERVAL_S
    assert sys.getswitchinterval() == before
