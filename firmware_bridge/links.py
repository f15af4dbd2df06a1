# SPDX-License-Identifier: Apache-2.0
"""One open connection to a reader: a serial fd or a TCP stream, driven by the event loop.

Contract: :func:`open_serial_link` and :func:`open_socket_link` open and configure a connection
and return a :class:`Link` that pushes received bytes and its own loss to :class:`LinkEvents`,
and writes with a deadline. A link lives from one open to one loss; it is never reopened, the
transport makes a new one. Internal to :mod:`firmware_bridge.transport`; other code uses that.

Serial specifics (reference §5): the port is opened by the configured name (a
``/dev/serial/by-id`` link is followed by the kernel, resolved here only for the log line);
``exclusive`` takes pyserial's flock; DTR/RTS are set *before* open so pyserial does not change
them after the kernel's open; HUPCL is cleared so closing does not drop DTR (readers that wire
DTR to reset); low-latency mode is requested where the driver supports it (FTDI, §3.3).

Not responsible for: reopening, buffering unread bytes, inter-frame gaps or counters (the
transport), and any meaning of the bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import select
import termios
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import serial

from firmware_bridge.errors import ConfigurationError, PortBusy, PortUnavailable

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 4096
"""Largest single read from the fd or socket."""

_PARITIES = frozenset("NEOMS")
_STOPBITS = (1, 1.5, 2)
_HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL


@dataclass(frozen=True, slots=True)
class LineSettings:
    """Serial line settings; each driver supplies its reader's (FEIG default: 38400 8E1)."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1

    def __post_init__(self) -> None:
        if self.baudrate <= 0:
            raise ConfigurationError(f"baudrate must be positive, got {self.baudrate}")
        if self.bytesize not in (5, 6, 7, 8):
            raise ConfigurationError(f"bytesize must be 5..8, got {self.bytesize}")
        if self.parity not in _PARITIES:
            raise ConfigurationError(f"parity must be one of N E O M S, got {self.parity!r}")
        if self.stopbits not in _STOPBITS:
            raise ConfigurationError(f"stopbits must be 1, 1.5 or 2, got {self.stopbits}")

    @property
    def bits_per_char(self) -> float:
        """Start bit + data bits + parity bit + stop bits (11 for 8E1)."""
        return 1 + self.bytesize + (self.parity != "N") + self.stopbits

    def line_time_s(self, nbytes: int) -> float:
        """Time the UART needs to shift ``nbytes`` out (reference §3.2)."""
        return nbytes * self.bits_per_char / self.baudrate


class WriteStalled(Exception):
    """The device stopped accepting bytes before the deadline; ``sent`` of them went out."""

    def __init__(self, sent: int) -> None:
        super().__init__(sent)
        self.sent = sent


@dataclass(frozen=True, slots=True)
class LinkEvents:
    """How a link reports to its transport; the link passes itself so stale links are ignored."""

    data: Callable[[Link, bytes], None]
    lost: Callable[[Link, str], None]


class Link(Protocol):
    """One open connection; replaced by a new object on every reopen."""

    line_settings: LineSettings | None
    """Set for serial links, so the transport can estimate line time; None for TCP."""

    async def write(self, data: bytes, timeout_s: float) -> None:
        """Raise ``OSError`` if the link failed, :class:`WriteStalled` if bytes were refused."""

    def read_pending(self, max_bytes: int) -> None:
        """Deliver bytes already queued in the kernel now (so they can be drained)."""

    def abort(self) -> None:
        """Release everything that can be released synchronously; idempotent."""

    async def aclose(self) -> None: ...


class SerialLink:
    """A pyserial port; I/O with os.read/os.write on its non-blocking fd, driven by the loop."""

    def __init__(self, port: serial.Serial, settings: LineSettings, events: LinkEvents) -> None:
        self.line_settings: LineSettings | None = settings
        self._port = port
        self._fd: int = port.fileno()
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._writable: asyncio.Future[None] | None = None
        self._closed = False
        self._loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> bool:
        """Read once; returns False when nothing was read (or the link was lost)."""
        try:
            data = os.read(self._fd, READ_CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._events.lost(self, f"read failed: {exc}")
            return False
        if data:
            self._events.data(self, data)
            return True
        # pyserial configures VMIN=0/VTIME=0, so an empty queue also reads as b"" (a readiness
        # event can go stale when drain_input() got there first). Only a hang-up is a loss;
        # it is what pyserial reports as "device reports readiness to read but returned no
        # data": unplugged, or the far end of a pty closed.
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        if any(events & _HANGUP for _, events in poller.poll(0)):
            self._events.lost(self, "end of file on read (device disconnected?)")
        return False

    def read_pending(self, max_bytes: int) -> None:
        for _ in range(max_bytes // READ_CHUNK_BYTES + 1):
            if self._closed or not self._on_readable():
                return

    async def write(self, data: bytes, timeout_s: float) -> None:
        deadline = self._loop.time() + timeout_s
        view = memoryview(data)
        sent = 0
        while sent < len(data):
            if self._closed:
                raise OSError(errno.EIO, "port closed while writing")
            with contextlib.suppress(BlockingIOError, InterruptedError):
                sent += os.write(self._fd, view[sent:])
            if sent < len(data) and not await self._wait_writable(deadline):
                raise WriteStalled(sent)

    async def _wait_writable(self, deadline: float) -> bool:
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._writable = waiter

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        self._loop.add_writer(self._fd, wake)
        try:
            await asyncio.wait([waiter], timeout=max(0.0, deadline - self._loop.time()))
        finally:
            self._writable = None
            if not self._closed:
                self._loop.remove_writer(self._fd)
        return waiter.done()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        try:
            self._port.close()
        except OSError as exc:
            logger.debug("closing %s: %s", self._port.port, exc)

    async def aclose(self) -> None:
        self.abort()


class SocketLink:
    """A TCP connection through asyncio streams; a pump task feeds received bytes."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        events: LinkEvents,
        where: str,
    ) -> None:
        self.line_settings: LineSettings | None = None
        self._reader = reader
        self._writer = writer
        self._events = events
        self._pump = asyncio.create_task(self._run_pump(), name=f"libedge link rx {where}")

    async def _run_pump(self) -> None:
        try:
            while data := await self._reader.read(READ_CHUNK_BYTES):
                self._events.data(self, data)
        except OSError as exc:
            self._events.lost(self, f"read failed: {exc}")
        else:
            self._events.lost(self, "connection closed by peer")

    def read_pending(self, max_bytes: int) -> None:
        """Nothing to do: the pump empties the socket as soon as bytes arrive."""

    async def write(self, data: bytes, timeout_s: float) -> None:
        if self._writer.is_closing():
            raise OSError(errno.ECONNRESET, "connection is closing")
        self._writer.write(data)
        try:
            async with asyncio.timeout(timeout_s):
                await self._writer.drain()
        except TimeoutError:
            buffered = self._writer.transport.get_write_buffer_size()
            raise WriteStalled(max(0, len(data) - buffered)) from None

    def abort(self) -> None:
        self._writer.close()
        self._pump.cancel()

    async def aclose(self) -> None:
        self.abort()
        await asyncio.wait([self._pump])
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


def parse_url(url: str) -> tuple[str, int] | str:
    """``(host, port)`` for ``socket://host:port``, else the device path."""
    if "://" not in url:
        if not url:
            raise ConfigurationError("empty device path")
        return url
    parts = urlsplit(url)
    if parts.scheme != "socket":
        raise ConfigurationError(
            f"unsupported transport URL scheme {parts.scheme!r}: use a device path or "
            "socket://host:port",
            port=url,
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError("socket:// URL takes only host:port", port=url)
    try:
        tcp_port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"bad TCP port: {exc}", port=url) from exc
    if not parts.hostname or tcp_port is None:
        raise ConfigurationError("socket:// URL needs host and port", port=url)
    return parts.hostname, tcp_port


async def open_socket_link(
    host: str, tcp_port: int, events: LinkEvents, *, where: str, timeout_s: float
) -> SocketLink:
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, tcp_port)
    except (OSError, TimeoutError) as exc:
        cause = str(exc) or f"no answer within {timeout_s} s"
        raise PortUnavailable("cannot connect", port=where, cause=cause) from exc
    logger.info("%s: connected", where)
    return SocketLink(reader, writer, events, where)


PTY_SLAVE_MAJORS = range(136, 144)
"""Linux device majors of Unix98 pty slaves (/dev/pts/N), Documentation/admin-guide/devices.txt."""


def is_pseudo_terminal(path: str) -> bool:
    """True when ``path`` (or what a by-id style symlink points at) is a pty slave."""
    try:
        return os.major(os.stat(path).st_rdev) in PTY_SLAVE_MAJORS
    except OSError:
        return False


def open_serial_link(
    path: str,
    settings: LineSettings,
    events: LinkEvents,
    *,
    where: str,
    exclusive: bool,
    dtr: bool,
    rts: bool,
    hupcl: bool,
    low_latency: bool,
) -> SerialLink:
    # pyserial's open is non-blocking (O_NONBLOCK, no DCD wait) and takes microseconds, so it
    # runs on the loop; a worker thread could leak the fd if the caller were cancelled.
    port = serial.Serial()
    try:
        port.port = path
        port.baudrate = settings.baudrate
        port.bytesize = settings.bytesize
        # A pseudo-terminal has no line: Linux 6.x rejects PARENB on a pty with EINVAL once
        # nothing else changes, so parity is only requested on real serial devices.
        port.parity = serial.PARITY_NONE if is_pseudo_terminal(path) else settings.parity
        port.stopbits = settings.stopbits
        port.exclusive = exclusive
        port.timeout = 0
        port.dtr = dtr  # before open(): applied once, no toggle afterwards (§5.1)
        port.rts = rts
        port.open()
    except serial.SerialException as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise PortBusy(
                "port is locked by another process (exclusive open); find it with fuser",
                port=where,
                cause=str(exc),
            ) from exc
        raise PortUnavailable("cannot open", port=where, cause=str(exc)) from exc
    except (ValueError, termios.error) as exc:
        raise ConfigurationError(f"line settings rejected: {exc}", port=where) from exc
    try:
        _tune(port, where=where, hupcl=hupcl, low_latency=low_latency)
        link = SerialLink(port, settings, events)
    except BaseException:
        port.close()
        raise
    real = os.path.realpath(path)
    logger.info("%s: opened %s", where, path if real == path else f"{path} -> {real}")
    return link


def _tune(port: serial.Serial, *, where: str, hupcl: bool, low_latency: bool) -> None:
    fd = port.fileno()
    if not hupcl:
        try:
            attrs = termios.tcgetattr(fd)
            attrs[2] &= ~termios.HUPCL
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except termios.error as exc:
            logger.debug("%s: cannot clear HUPCL: %s", where, exc)
    if low_latency:
        try:
            port.set_low_latency_mode(True)
        except (ValueError, OSError, AttributeError) as exc:
            # Only USB-serial and 8250-class drivers support it; a pty does not.
            logger.debug("%s: low-latency mode unavailable: %s", where, exc)
