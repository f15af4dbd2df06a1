# SPDX-License-Identifier: Apache-2.0
"""SimulatedReader's serial pacing over a real pty: a request counts as arrived its line time
after the host wrote it, and the reply then takes the front-end's delay plus its own line time.

The front-end here is a stub on a deliberately slow line (1200 8N1, 8.33 ms per character) so
the paced times stand well clear of scheduling noise."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from firmware_bridge.pty import PtyEndpoint, make_raw
from firmware_bridge.simulator import RfField
from firmware_bridge.simulator.server import FrontEnd, SimulatedReader, WireReply
from firmware_bridge.transport import LineSettings

SLOW_LINE = LineSettings(1200, 8, "N", 1)
REQUEST = b"0123456789AB"  # 12 characters: 100 ms at 1200 8N1
REPLY = b"ok"  # 16.7 ms
FIRMWARE_S = 0.02


class _Echo(FrontEnd):
    """Answers every complete request (ending in 'B') after FIRMWARE_S; records when the
    request was handed over, on the simulator's clock."""

    protocol = "stub"
    line = SLOW_LINE

    def __init__(self, field: RfField) -> None:
        super().__init__(field)
        self.sim: SimulatedReader | None = None
        self.buffer = b""
        self.received_at: list[float] = []

    def receive(self, data: bytes) -> list[WireReply]:
        self.buffer += data
        if not self.buffer.endswith(b"B"):
            return []
        assert self.sim is not None
        self.received_at.append(self.sim.now)
        self.buffer = b""
        return [WireReply(REPLY, FIRMWARE_S)]

    def reboot(self) -> None:
        self.buffer = b""


async def _round_trip(tmp_path: Path, *, pace_serial: bool) -> tuple[float, float]:
    """When the front-end got the request and when the host had the whole reply, both in
    seconds after the host's write."""
    front_end = _Echo(RfField())
    async with PtyEndpoint(tmp_path / "stub") as endpoint:
        sim = SimulatedReader(front_end, endpoint, pace_serial=pace_serial)
        front_end.sim = sim
        task = asyncio.create_task(sim.serve())
        fd = os.open(endpoint.device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            make_raw(fd)
            written_at = sim.now
            start = time.perf_counter()
            os.write(fd, REQUEST)
            received = b""
            while len(received) < len(REPLY):
                await asyncio.sleep(0.001)
                with contextlib.suppress(BlockingIOError):
                    received += os.read(fd, 64)
            replied = time.perf_counter() - start
        finally:
            os.close(fd)
            sim.stop()
            await task
    assert received == REPLY
    (handed_over,) = front_end.received_at
    return handed_over - written_at, replied


async def test_request_is_complete_only_after_its_line_time(tmp_path: Path) -> None:
    handed_over, replied = await _round_trip(tmp_path, pace_serial=True)
    request_s = SLOW_LINE.line_time_s(len(REQUEST))
    reply_s = SLOW_LINE.line_time_s(len(REPLY))
    assert handed_over >= request_s
    assert replied >= request_s + FIRMWARE_S + reply_s
    assert replied < request_s + FIRMWARE_S + reply_s + 0.1  # paced once, not twice


async def test_without_pacing_the_request_is_handed_over_at_once(tmp_path: Path) -> None:
    handed_over, replied = await _round_trip(tmp_path, pace_serial=False)
    assert handed_over < SLOW_LINE.line_time_s(len(REQUEST)) / 2
    assert replied >= FIRMWARE_S
