# SPDX-License-Identifier: Apache-2.0
"""A simulated reader served on a real pseudo-terminal.

:class:`SimulatedReader` joins a protocol :class:`FrontEnd` (bytes in, replies out, with the
reader's processing and air time) to a :class:`~firmware_bridge.pty.PtyEndpoint`, so the
production serial path is what tests, the demo and integrators exercise. It paces the line both
ways at the front-end's baud rate (a pty itself is instantaneous): a request counts as arrived
its line time after the host wrote it, and a reply leaves its line time after the reader
started sending it. It advances
the virtual field's clock with the wall clock (scenario events happen in real time), and plays
the scenario's reader-level faults: garbage, truncated replies, silence, late replies, reboot,
vanishing.

Not responsible for: what any byte means (front-ends) or the RF field (:class:`RfField`).
"""

from __future__ import annotations

import abc
import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from firmware_bridge.pty import PtyEndpoint
from firmware_bridge.simulator.field import RfField
from firmware_bridge.simulator.scenario import ReaderFault
from firmware_bridge.transport import LineSettings

GARBAGE_BYTES = 7
"""Random bytes put in front of a reply by a ``garbage`` fault."""


@dataclass(frozen=True, slots=True)
class WireReply:
    """Bytes the reader sends, ``delay_s`` after the request's last byte arrived (processing
    and air time; the serial line time of ``data`` is added by the server)."""

    data: bytes
    delay_s: float = 0.0


class FrontEnd(abc.ABC):
    """One reader protocol on top of the shared field. Subclasses reuse the protocol codecs
    (never a driver) and answer exactly as the real reader's firmware would."""

    protocol: ClassVar[str]
    line: ClassVar[LineSettings]

    def __init__(self, field: RfField) -> None:
        self.field = field

    @abc.abstractmethod
    def receive(self, data: bytes) -> list[WireReply]:
        """Bytes from the host; replies for every request they complete (may be none)."""

    @abc.abstractmethod
    def reboot(self) -> None:
        """Power-on state: partial input dropped, RF and settings at their defaults."""

    def idle(self) -> list[WireReply]:
        """Called when the line has been quiet for a while (spontaneous output, if any)."""
        return []


class SimulatedReader:
    """Serve ``front_end`` on ``endpoint`` until :meth:`stop` or cancellation."""

    def __init__(
        self,
        front_end: FrontEnd,
        endpoint: PtyEndpoint,
        *,
        reader_faults: tuple[ReaderFault, ...] = (),
        pace_serial: bool = True,
        clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ) -> None:
        self.front_end = front_end
        self.endpoint = endpoint
        self.pace_serial = pace_serial
        self._clock = clock
        self._start = clock()
        self._pending = list(reader_faults)
        self._garbage = 0
        self._truncate = 0
        self._silence = 0
        self._late = 0
        self._late_s = 0.0
        self._deaf_until = 0.0
        self._rx_done_at = 0.0
        self._rng = random.Random(seed)
        self._stopped = asyncio.Event()
        self.requests_seen = 0

    @property
    def now(self) -> float:
        """Seconds since the simulator started (the field's and the scenario's time)."""
        return self._clock() - self._start

    def stop(self) -> None:
        self._stopped.set()

    async def serve(self) -> None:
        while not self._stopped.is_set():
            data = await self.endpoint.read(max_wait_s=0.05)
            now = self.now
            await self._due_faults(now)
            if data and now >= self._deaf_until:
                now = await self._receive_line(data, now)
            self.front_end.field.at(now)
            if not data:
                replies = self.front_end.idle()
            elif now < self._deaf_until:
                continue
            else:
                replies = self.front_end.receive(data)
            for reply in replies:
                self.requests_seen += 1
                await self._send(reply)

    async def _receive_line(self, data: bytes, first_byte_at: float) -> float:
        """Wait until ``data`` has finished arriving over the serial line; returns that time.

        The pty hands over the host's bytes the moment they are written; a UART delivers the
        last of them ``line_time(len(data))`` after the first, and the reader can only act on a
        request once it is complete. Bytes written while earlier ones are still on the line
        queue behind them (one receive line). A read holding more than one request is paced as
        a whole: the host waits for each reply, so that happens only with noise or retries.
        """
        if not self.pace_serial:
            return first_byte_at
        start = max(first_byte_at, self._rx_done_at)
        self._rx_done_at = start + self.front_end.line.line_time_s(len(data))
        if (wait := self._rx_done_at - self.now) > 0:
            await asyncio.sleep(wait)
        return self.now

    async def _send(self, reply: WireReply) -> None:
        if self._silence:
            self._silence -= 1
            return
        data = reply.data
        if self._truncate and len(data) > 1:
            self._truncate -= 1
            data = data[: self._rng.randrange(1, len(data))]
        if self._garbage:
            self._garbage -= 1
            data = self._rng.randbytes(GARBAGE_BYTES) + data
        delay = reply.delay_s
        if self._late:
            self._late -= 1
            delay += self._late_s
        if self.pace_serial:
            delay += self.front_end.line.line_time_s(len(data))
        if delay > 0:
            await asyncio.sleep(delay)
        self.front_end.field.at(self.now)
        await self.endpoint.write(data)

    async def _due_faults(self, now: float) -> None:
        while self._pending and self._pending[0].at <= now:
            fault = self._pending.pop(0)
            if fault.kind == "garbage":
                self._garbage += fault.count
            elif fault.kind == "truncate":
                self._truncate += fault.count
            elif fault.kind == "silence":
                self._silence += fault.count
            elif fault.kind == "late":
                self._late += fault.count
                self._late_s = fault.duration
            elif fault.kind == "reboot":
                self.front_end.reboot()
                self.front_end.field.rf_reset()
                self._deaf_until = now + fault.duration
            elif fault.kind == "vanish":
                self.endpoint.vanish()
                await asyncio.sleep(fault.duration)
                self.front_end.reboot()
                self.endpoint.come_back()
