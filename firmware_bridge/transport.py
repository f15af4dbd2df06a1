# SPDX-License-Identifier: Apache-2.0
"""SerialTransport: an asyncio byte pipe to one reader that reopens itself.

A pipe, without caring about the data. It moves bytes between the event loop and one device:

    url                                    link
    /dev/ttyUSB0, /dev/serial/by-id/...    pyserial opens and configures the port (exclusive lock,
    (any path, a pty slave included)       DTR/RTS, line settings); bytes move with os.read/os.write
                                           on its non-blocking fd, driven by loop.add_reader/writer
    socket://host:port                     asyncio streams (LAN readers, serial-to-Ethernet boxes)

Lifecycle::

    open() --> [probing: on_open hook runs] --> [open] --(unplug, EOF, reset, I/O error)--> [down]
                     ^                                                                    |
                     +---------- reopen after exponential back-off with jitter -----------+

- ``read(max_wait_s)`` returns whatever has arrived, waiting up to ``max_wait_s`` for the first
  byte; ``b""`` when nothing came. Deciding that a response is late is the caller's business.
- While the link is down, ``read``/``write`` raise :class:`PortUnavailable` (transient) and
  ``wait_open()`` waits for the next successful (re)open.
- The ``on_lost`` hook is called with the reason as soon as an open link is lost (before the
  reopen), so that the owner can show the device as not connected while callers still wait.
- The ``on_open`` hook runs after *every* open, before waiters are released, because a reader
  may have reset on the DTR blip or on re-enumeration (reference §5.1): the driver re-probes it
  there. If the hook raises, the port is closed and the open counts as failed.
- The device path is reopened by its name, so a ``/dev/serial/by-id/...`` link that udev
  re-points after a re-enumeration is followed; the link is resolved only for log lines.
- A minimum inter-frame gap (quiet line time before each write, counted from the end of the last
  byte either way, with the line time of the previous write estimated from the baud rate) serves
  readers that miss back-to-back frames (PN532: 1 ms; FEIG: PSST 5 ms; reference §5.10).
- Every byte is logged at TRACE and offered to the ``wire_tap`` hook.

Opening and configuring one connection lives in :mod:`firmware_bridge.links`.

Not responsible for: framing and resync (``protocols.framing``), matching responses to
requests, per-command timeouts, serialising callers (one session owns a transport; concurrent
``read`` calls are refused), the wedged-reader watchdog (USB reset / port power policy belongs to
the driver) and choosing a port (no probing of every port; the config names the device).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from firmware_bridge.errors import (
    ConfigurationError,
    PortClosed,
    PortUnavailable,
    WriteTimeout,
)
from firmware_bridge.links import (
    LineSettings,
    Link,
    LinkEvents,
    WriteStalled,
    open_serial_link,
    open_socket_link,
    parse_url,
)
from firmware_bridge.wiretap import Direction, WireTap, tap_bytes

__all__ = [
    "LineSettings",
    "SerialTransport",
    "TransportCounters",
    "TransportState",
    "reopen_delay_s",
]

logger = logging.getLogger(__name__)

# Reopen back-off. USB re-enumeration takes a few hundred milliseconds, so the first retry waits;
# the ceiling bounds how late a re-plugged reader is noticed. Jitter keeps many boxes that lost the
# same LAN reader (or one USB hub) from retrying in lock-step.
REOPEN_FIRST_DELAY_S = 0.5
REOPEN_MAX_DELAY_S = 30.0
REOPEN_BACKOFF_FACTOR = 2.0
REOPEN_JITTER_FRACTION = 0.2
"""Each delay is scaled by a uniform factor in [1 - f, 1 + f]."""

WRITE_TIMEOUT_S = 2.0
"""How long the device may refuse bytes (kernel buffer full, flow stopped) before a write fails."""

CONNECT_TIMEOUT_S = 5.0
"""TCP connect timeout for ``socket://`` readers."""

MAX_BUFFERED_BYTES = 65536
"""Received bytes nobody has read yet; beyond this the oldest are discarded and counted."""

OnOpen = Callable[[], Awaitable[None]]
OnLost = Callable[[str], None]


@dataclass(slots=True)
class TransportCounters:
    """Health counters of one transport; read by the daemon's device status and metrics."""

    bytes_in: int = 0
    bytes_out: int = 0
    opens: int = 0
    """Successful opens (hook included), the first one counted."""
    reopens: int = 0
    """Successful opens after the first."""
    link_losses: int = 0
    """Open link lost: unplug, EOF, connection reset, I/O error on read or write."""
    open_failures: int = 0
    """Failed open attempts, including a failing ``on_open`` hook."""
    write_timeouts: int = 0
    overflow_bytes: int = 0
    """Received bytes discarded because nobody read them (see ``MAX_BUFFERED_BYTES``)."""
    drained_bytes: int = 0
    """Stale bytes thrown away by ``drain_input()``."""
    last_error: str | None = None

    @property
    def errors(self) -> int:
        return self.link_losses + self.open_failures + self.write_timeouts


class TransportState(enum.StrEnum):
    CLOSED = "closed"
    PROBING = "probing"
    """Link up, ``on_open`` hook running; only the hook should do I/O."""
    OPEN = "open"
    DOWN = "down"
    """Opened once, now waiting to reopen (or opening for the first time in the background)."""


def reopen_delay_s(attempt: int, rng: random.Random) -> float:
    """Back-off before reopen attempt ``attempt`` (0 = first retry), jittered and capped."""
    base = REOPEN_FIRST_DELAY_S * REOPEN_BACKOFF_FACTOR ** min(attempt, 64)
    jitter = 1.0 + REOPEN_JITTER_FRACTION * rng.uniform(-1.0, 1.0)
    return min(REOPEN_MAX_DELAY_S, base * jitter)


class SerialTransport:
    """An asyncio byte pipe to one reader over a serial device or ``socket://host:port``.

    ``dtr``/``rts`` are set *before* the port is opened so that pyserial does not toggle them
    after the kernel's open (reference §5.1); ``hupcl=False`` clears HUPCL so closing the port
    does not drop DTR and reset readers that wire DTR to reset. ``low_latency`` asks the
    USB-serial driver for low-latency mode where it exists (FTDI: 16 ms -> ~1 ms, §3.3).
    ``rng`` makes the back-off jitter reproducible in tests.
    """

    def __init__(
        self,
        url: str,
        settings: LineSettings | None = None,
        *,
        exclusive: bool = True,
        dtr: bool = True,
        rts: bool = True,
        hupcl: bool = False,
        low_latency: bool = True,
        min_frame_gap_s: float = 0.0,
        on_open: OnOpen | None = None,
        on_lost: OnLost | None = None,
        wire_tap: WireTap | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if min_frame_gap_s < 0:
            raise ConfigurationError(f"min_frame_gap_s must be >= 0, got {min_frame_gap_s}")
        self.url = url
        self.settings = settings if settings is not None else LineSettings()
        self.exclusive = exclusive
        self.dtr = dtr
        self.rts = rts
        self.hupcl = hupcl
        self.low_latency = low_latency
        self.min_frame_gap_s = min_frame_gap_s
        self.on_open = on_open
        self.on_lost = on_lost
        self.wire_tap = wire_tap
        self.counters = TransportCounters()
        self._target = parse_url(url)
        # Jitter only spreads retries in time; it is not a security decision.
        self._rng = rng if rng is not None else random.Random()
        self._link: Link | None = None
        self._events = LinkEvents(data=self._on_link_data, lost=self._on_link_lost)
        self._dead_links: list[Link] = []
        self._buffer = bytearray()
        self._rx_waiter: asyncio.Future[None] | None = None
        self._write_lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False
        self._rx_at = 0.0
        self._tx_idle_at = 0.0

    def __repr__(self) -> str:
        return f"<SerialTransport {self.url} {self.state.value}>"

    async def __aenter__(self) -> SerialTransport:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def state(self) -> TransportState:
        if self._closed:
            return TransportState.CLOSED
        if self._ready.is_set():
            return TransportState.OPEN
        if self._link is not None:
            return TransportState.PROBING
        if self._supervisor is None:
            return TransportState.CLOSED
        return TransportState.DOWN

    @property
    def is_open(self) -> bool:
        return self.state is TransportState.OPEN

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self, *, keep_trying: bool = False) -> None:
        """Open the port and run the ``on_open`` hook; from then on, reopen after every loss.

        With ``keep_trying=False`` a failing first open raises (:class:`PortUnavailable`,
        :class:`PortBusy`, :class:`ConfigurationError` or whatever the hook raised) and leaves
        the transport closed. With ``keep_trying=True`` this returns at once and the first open
        is retried in the background like a reopen (a daemon started with the reader
        unplugged); use :meth:`wait_open`.
        """
        self._check_not_closed()
        if self._supervisor is not None:
            raise RuntimeError(f"{self.url}: open() called twice")
        if not keep_trying:
            try:
                await self._connect()
            except Exception as exc:
                if self._closed:
                    raise PortClosed("transport was closed while opening", port=self.url) from exc
                raise
            if self._closed:  # close() ran while the first open was in progress
                self._retire_current_link()
                await self._retire_dead_links()
                raise PortClosed("transport was closed while opening", port=self.url)
        self._supervisor = asyncio.create_task(
            self._supervise(connected=not keep_trying), name=f"libedge transport {self.url}"
        )

    async def close(self) -> None:
        """Close the port for good; pending and later calls raise :class:`PortClosed`."""
        if self._closed:
            return
        self._closed = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.wait([supervisor])
            if not supervisor.cancelled() and supervisor.exception() is not None:
                logger.error("%s: supervisor failed", self.url, exc_info=supervisor.exception())
        self._retire_current_link()
        await self._retire_dead_links()
        self._ready.set()  # release wait_open() callers; they see _closed
        self._wake_reader()
        logger.info("%s: closed", self.url)

    async def wait_open(self, timeout_s: float | None = None) -> None:
        """Return once the port is open and the hook has run; raise PortUnavailable on timeout."""
        self._check_not_closed()
        if self._supervisor is None:
            raise PortClosed("transport is not open; call open() first", port=self.url)
        try:
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        except TimeoutError:
            raise PortUnavailable(
                f"not open after {timeout_s} s", port=self.url, cause=self.counters.last_error
            ) from None
        self._check_not_closed()

    # -- I/O -------------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Send ``data`` once the inter-frame gap has passed; returns when the OS took it all.

        Raises :class:`PortUnavailable` when the link is down or fails now (a reopen is then
        scheduled) and :class:`WriteTimeout` when the device stops accepting bytes.
        """
        self._check_not_closed()
        if not data:
            return
        async with self._write_lock:
            await self._wait_frame_gap()
            link = self._require_link()
            try:
                await link.write(data, WRITE_TIMEOUT_S)
            except WriteStalled as stall:
                self._count_out(link, data[: stall.sent])
                self.counters.write_timeouts += 1
                error = WriteTimeout(
                    "device stopped accepting bytes",
                    port=self.url,
                    timeout_s=WRITE_TIMEOUT_S,
                    request=data,
                    sent=stall.sent,
                )
                self.counters.last_error = str(error)
                raise error from None
            except OSError as exc:
                self._on_link_lost(link, f"write failed: {exc}")
                raise PortUnavailable(
                    "write failed; reopening", port=self.url, cause=str(exc)
                ) from exc
            self._count_out(link, data)

    async def read(self, max_wait_s: float) -> bytes:
        """Everything received so far; waits up to ``max_wait_s`` for the first byte.

        Returns ``b""`` when nothing arrived in time. Bytes received before a link loss are
        still returned; after that, raises :class:`PortUnavailable` until the port is reopened.
        """
        self._check_not_closed()
        if not self._buffer:
            self._require_link()
            if max_wait_s > 0:
                await self._wait_for_data(max_wait_s)
                self._check_not_closed()
            if not self._buffer:
                self._require_link()
                return b""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def drain_input(self) -> int:
        """Throw away every received byte not yet read, including bytes queued in the kernel.

        Call before a request so a late answer to an earlier one cannot be taken for its
        response (reference §5.5, §5.6). Returns how many bytes were dropped; they were
        still logged and tapped.
        """
        self._check_not_closed()
        if self._link is not None:
            self._link.read_pending(MAX_BUFFERED_BYTES)
        dropped = len(self._buffer)
        self._buffer.clear()
        if dropped:
            self.counters.drained_bytes += dropped
            logger.debug("%s: drained %d stale bytes", self.url, dropped)
        return dropped

    # -- internals -------------------------------------------------------------------------

    def _on_link_data(self, link: Link, data: bytes) -> None:
        if link is not self._link:
            return
        self.counters.bytes_in += len(data)
        self._rx_at = asyncio.get_running_loop().time()
        tap_bytes(logger, self.wire_tap, self.url, Direction.RX, data)
        self._buffer += data
        overflow = len(self._buffer) - MAX_BUFFERED_BYTES
        if overflow > 0:
            del self._buffer[:overflow]
            self.counters.overflow_bytes += overflow
            logger.debug("%s: receive buffer full, discarded %d oldest bytes", self.url, overflow)
        self._wake_reader()

    def _on_link_lost(self, link: Link, reason: str) -> None:
        if link is not self._link:
            return
        self._retire_current_link()
        self.counters.link_losses += 1
        self.counters.last_error = reason
        logger.warning("%s: link lost (%s); will reopen", self.url, reason)
        self._lost.set()
        self._wake_reader()
        if self.on_lost is not None:
            try:
                self.on_lost(reason)
            except Exception:  # the owner's bug must not stop the reopen
                logger.exception("%s: on_lost hook failed", self.url)

    def _retire_current_link(self) -> None:
        link, self._link = self._link, None
        self._ready.clear()
        if link is not None:
            link.abort()
            self._dead_links.append(link)

    async def _retire_dead_links(self) -> None:
        while self._dead_links:
            await self._dead_links.pop().aclose()

    async def _supervise(self, *, connected: bool) -> None:
        """Owns reopening: wait for a loss, back off, reopen; until cancelled by close()."""
        attempt = -1  # -1: the next attempt is immediate (background first open)
        while True:
            if connected:
                await self._lost.wait()
                await self._retire_dead_links()
                attempt = 0
                connected = False
            if attempt >= 0:
                await asyncio.sleep(reopen_delay_s(attempt, self._rng))
            try:
                await self._connect()
            except Exception as exc:
                attempt += 1
                log = logger.warning if attempt == 1 else logger.debug
                log("%s: open attempt %d failed: %s", self.url, attempt, exc)
                continue
            if attempt > 0:
                logger.info("%s: reopened after %d failed attempts", self.url, attempt)
            connected = True

    async def _connect(self) -> None:
        """One open attempt: open the link, run the hook, release waiters; raise on failure."""
        try:
            link = await self._open_link()
        except Exception as exc:
            self.counters.open_failures += 1
            self.counters.last_error = str(exc)
            raise
        self._buffer.clear()
        self._lost.clear()
        self._link = link
        self._rx_at = self._tx_idle_at = asyncio.get_running_loop().time()
        try:
            if self.on_open is not None:
                await self.on_open()
        except BaseException as exc:
            await self._abandon(link, exc)
            raise
        if self._link is not link:
            lost = PortUnavailable(
                "link lost while the on_open hook ran",
                port=self.url,
                cause=self.counters.last_error,
            )
            await self._abandon(link, lost)
            raise lost
        self.counters.opens += 1
        if self.counters.opens > 1:
            self.counters.reopens += 1
        self._ready.set()

    async def _abandon(self, link: Link, exc: BaseException) -> None:
        """Close a link whose open did not complete, counting the failure."""
        if self._link is link:
            self._retire_current_link()
        await self._retire_dead_links()
        if isinstance(exc, Exception):
            self.counters.open_failures += 1
            self.counters.last_error = f"on_open hook failed: {exc}"

    async def _open_link(self) -> Link:
        if isinstance(self._target, tuple):
            host, tcp_port = self._target
            return await open_socket_link(
                host, tcp_port, self._events, where=self.url, timeout_s=CONNECT_TIMEOUT_S
            )
        return open_serial_link(
            self._target,
            self.settings,
            self._events,
            where=self.url,
            exclusive=self.exclusive,
            dtr=self.dtr,
            rts=self.rts,
            hupcl=self.hupcl,
            low_latency=self.low_latency,
        )

    def _count_out(self, link: Link, data: bytes) -> None:
        if not data:
            return
        self.counters.bytes_out += len(data)
        now = asyncio.get_running_loop().time()
        settings = link.line_settings
        self._tx_idle_at = now + (settings.line_time_s(len(data)) if settings else 0.0)
        tap_bytes(logger, self.wire_tap, self.url, Direction.TX, data)

    async def _wait_frame_gap(self) -> None:
        if self.min_frame_gap_s <= 0:
            return
        loop = asyncio.get_running_loop()
        while (
            delay := max(self._rx_at, self._tx_idle_at) + self.min_frame_gap_s - loop.time()
        ) > 0:
            await asyncio.sleep(delay)

    async def _wait_for_data(self, max_wait_s: float) -> None:
        if self._rx_waiter is not None:
            raise RuntimeError(f"{self.url}: concurrent read() calls on one transport")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rx_waiter = waiter
        try:
            # Awaiting the future itself: its result wakes this task in the next loop turn
            # (asyncio.wait would take two, and every turn is a chance to lose the GIL).
            async with asyncio.timeout(max_wait_s):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._rx_waiter = None
            waiter.cancel()

    def _wake_reader(self) -> None:
        if self._rx_waiter is not None and not self._rx_waiter.done():
            self._rx_waiter.set_result(None)

    def _require_link(self) -> Link:
        if self._link is None:
            raise PortUnavailable(
                "port is not open (reopening)" if self._supervisor else "port is not open",
                port=self.url,
                cause=self.counters.last_error,
            )
        return self._link

    def _check_not_closed(self) -> None:
        if self._closed:
            raise PortClosed("transport was closed", port=self.url)
