# SPDX-License-Identifier: Apache-2.0
"""Request/response exchanges over a transport, for protocols with checksummed frames.

A :class:`FrameSession` writes one request at a time and waits for the response that answers
it. Bytes that arrive while no request is pending are stale (a late reply to a request that
timed out) and are thrown away before the next request, as FEIG's own SDK and Amarok79's driver
do; a decoded frame that does not answer the pending request is counted as a late reply and
skipped. Garbage and bad checksums are left to the :class:`~protocols.framing.Reassembler`.

Neither FEIG nor 3M frames carry a request id, and a retry is usually the same command, so a
reply that comes after its timeout would pass for the retry's answer (and the retry's answer
for the next request's). After a timeout the session therefore settles before it sends the next
request: it discards input until the line has been quiet, since the timeout, for as long again
as the timeout was (0.05-1.5 s; 0.05 s when a garbled reply did come, since nothing more is on
its way), and for at most 3 s of a line that keeps talking. A next request that comes later than
that pays nothing; none at all (the caller gave up) pays nothing either.

Timeouts are the caller's, derived per command (tags, blocks, notification times); after an
inter-byte gap longer than ``inter_byte_timeout_s`` a stalled partial frame is expired.

Not responsible for: retries (the reader layer retries only transient failures) or deciding
what a status byte means (the driver does).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from firmware_bridge.errors import BridgeError, ReaderTimeout
from firmware_bridge.reader import HealthCounters
from firmware_bridge.transport import SerialTransport
from protocols.framing import Decoder, HeaderFinder, Reassembler

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")

READ_SLICE_S = 0.05
"""Longest single wait on the transport, so an expired partial frame is noticed promptly."""
SETTLE_QUIET_MIN_S = 0.05
SETTLE_QUIET_MAX_S = 1.5
"""After a timeout the line must be quiet for the timeout again, within these bounds."""
SETTLE_MAX_S = 3.0
"""However long bytes keep coming after a timeout, the settle ends after this."""


class FrameSession(Generic[RequestT, ResponseT]):
    """One outstanding request at a time; responses matched with ``answers(request, frame)``."""

    def __init__(
        self,
        transport: SerialTransport,
        *,
        encode: Callable[[RequestT], bytes],
        decode: Decoder[ResponseT],
        next_header: HeaderFinder,
        answers: Callable[[RequestT, ResponseT], bool],
        health: HealthCounters,
        inter_byte_timeout_s: float,
    ) -> None:
        self.transport = transport
        self._encode = encode
        self._answers = answers
        self._reassembler: Reassembler[ResponseT] = Reassembler(decode, next_header)
        self.health = health
        self.inter_byte_timeout_s = inter_byte_timeout_s
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._unsettled: tuple[float, float] | None = None
        """After a timeout: when it happened, and how long the line must then be quiet."""

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Keep the line for this task across several exchanges: no other task's request
        (a presence inventory) may come between them. For sequences a tag only accepts back to
        back, e.g. NXP GET RANDOM NUMBER then SET PASSWORD, which any other command voids."""
        async with self._lock:
            self._holder = asyncio.current_task()
            try:
                yield
            finally:
                self._holder = None

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._holder is not None and self._holder is asyncio.current_task():
            yield   # inside held(): the line is ours already
            return
        async with self._lock:
            yield

    async def exchange(self, request: RequestT, *, timeout_s: float) -> ResponseT:
        """Send ``request`` and return its response; ReaderTimeout (transient) if none comes."""
        async with self._turn():
            await self._settle()
            self._discard_stale()
            wire = self._encode(request)
            await self.transport.write(wire)
            self.health.frames_sent += 1
            garbled = self._garbled()
            try:
                return await self._await_response(request, wire, timeout_s)
            except ReaderTimeout:
                # A reply that came garbled (bad checksum, garbage, cut short) is all that will
                # come; silence may still end in a late reply. Frames skipped as late replies to
                # earlier requests say nothing about this one.
                came = self._garbled() != garbled or bool(self._reassembler.buffer)
                self._unsettled = (time.monotonic(), SETTLE_QUIET_MIN_S if came else timeout_s)
                raise
            finally:
                self._sync_counters()

    async def send_only(self, request: RequestT) -> None:
        """Send a request that the protocol never answers."""
        async with self._turn():
            await self._settle()
            self._discard_stale()
            await self.transport.write(self._encode(request))
            self.health.frames_sent += 1

    def _discard_stale(self) -> None:
        stale = self.transport.drain_input()
        pending = self._reassembler.feed(b"")
        if stale or pending or self._reassembler.buffer:
            self.health.late_replies += len(pending)
            self.health.garbage_bytes += stale + self._reassembler.discard_partial()

    def _garbled(self) -> tuple[int, int]:
        return self._reassembler.bad_frames, self._reassembler.garbage_bytes

    async def _settle(self) -> None:
        """After a timeout, before the next request: discard what arrives until the line has
        been quiet long enough since the timeout (module docstring), so that a late reply
        answers nothing. Frames read here are counted as late replies, other bytes as
        garbage; bytes read here count as arriving now (they may have waited in the buffer)."""
        if self._unsettled is None:
            return
        last_byte_at, quiet_s = self._unsettled
        self._unsettled = None
        quiet_s = min(max(quiet_s, SETTLE_QUIET_MIN_S), SETTLE_QUIET_MAX_S)
        started = time.monotonic()
        while (now := time.monotonic()) - last_byte_at < quiet_s and now - started < SETTLE_MAX_S:
            try:
                chunk = await self.transport.read(min(quiet_s - (now - last_byte_at), READ_SLICE_S))
            except BridgeError:  # the port went away: nothing late can come over it
                break
            if chunk:
                last_byte_at = time.monotonic()
                late = self._reassembler.feed(chunk)
                self.health.frames_received += len(late)
                self.health.late_replies += len(late)
        self.health.garbage_bytes += self._reassembler.discard_partial()

    async def _await_response(self, request: RequestT, wire: bytes, timeout_s: float) -> ResponseT:
        deadline = time.monotonic() + timeout_s
        last_byte_at = time.monotonic()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.health.timeouts += 1
                raise ReaderTimeout(
                    "no response from the reader", port=self.transport.url,
                    timeout_s=timeout_s, request=wire,
                )
            chunk = await self.transport.read(min(remaining, READ_SLICE_S))
            now = time.monotonic()
            if chunk:
                last_byte_at = now
                frames = self._reassembler.feed(chunk)
            elif self._reassembler.buffer and now - last_byte_at > self.inter_byte_timeout_s:
                # Nothing arrived for longer than the gap, so whatever is buffered is stalled:
                # expire header after header until a frame appears or nothing is left, rather
                # than one header per read slice.
                frames = []
                while not frames and self._reassembler.buffer:
                    frames = self._reassembler.expire_partial()
            else:
                continue
            for frame in frames:
                self.health.frames_received += 1
                if self._answers(request, frame):
                    return frame
                self.health.late_replies += 1

    def _sync_counters(self) -> None:
        self.health.garbage_bytes = max(self.health.garbage_bytes, self._reassembler.garbage_bytes)
        self.health.crc_errors = self._reassembler.bad_frames
