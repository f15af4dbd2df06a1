# SPDX-License-Identifier: Apache-2.0
"""A real pseudo-terminal for hardware simulators, and hostile wires to run them over.

Contract: :class:`PtyEndpoint` owns one pty pair. The simulator works on the master side
through ``await read()`` / ``await write()``; the production ``SerialTransport`` opens the slave
by :attr:`PtyEndpoint.device_path`, exactly as it opens a USB reader, so tests exercise the real
serial path (pyserial, termios, exclusive lock, add_reader). The tty is put in raw mode (the
``cfmakeraw`` settings: no echo, no line editing, no CR/LF translation, 8 bit).

Device faults it models::

    vanish()      master closed, stable link removed: the client reads EOF and its writes fail
                  with EIO (USB unplug). A write issued before the client's reader runs is the
                  way to make the client see the *write-side* error.
    come_back()   a new pty pair; the stable link (``link_path``, like /dev/serial/by-id/...)
                  is re-pointed atomically at the new /dev/pts/N (USB re-enumeration).
    stall()       the device stops draining its input: the client's writes block, then time out
                  (wedged reader); resume() undoes it.

:class:`WireFaults` shapes what the simulator *sends* (device -> host): split into small or
one-byte chunks, random garbage between writes, bytes dropped, chunks delayed; all seeded, so a
failing run replays exactly.

Not responsible for: any reader protocol (simulators bring their codecs from ``protocols/``),
faults on the host -> device direction (a simulator can ignore or corrupt requests itself), or
non-Linux pty quirks (tested on Linux; macOS ptys differ in EOF behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import termios
from dataclasses import dataclass, field
from pathlib import Path

from firmware_bridge.errors import BridgeError, ConfigurationError, PortClosed
from firmware_bridge.wiretap import Direction, WireTap, tap_bytes

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 4096


@dataclass(frozen=True, slots=True)
class WireFaults:
    """What a hostile wire does to the device -> host bytes; ``name`` labels test ids.

    Applied per ``write()`` in this order: drop each data byte with ``drop_probability``; put
    1..``garbage_max_bytes`` random bytes in front of every write but the first; cut the result
    into chunks of 1..``max_chunk_bytes`` bytes (0: one chunk; 1: one byte at a time); sleep
    ``chunk_delay_s`` before each chunk (chunks are always separate OS writes with the event
    loop running in between, so the client gets a chance to read each on its own).
    """

    name: str = "perfect"
    max_chunk_bytes: int = 0
    garbage_max_bytes: int = 0
    drop_probability: float = 0.0
    chunk_delay_s: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_chunk_bytes < 0 or self.garbage_max_bytes < 0:
            raise ConfigurationError(f"{self.name}: byte counts must be >= 0")
        if not 0.0 <= self.drop_probability < 1.0:
            raise ConfigurationError(f"{self.name}: drop_probability must be in [0, 1)")
        if self.chunk_delay_s < 0:
            raise ConfigurationError(f"{self.name}: chunk_delay_s must be >= 0")

    @classmethod
    def perfect(cls) -> WireFaults:
        return cls()

    @classmethod
    def byte_by_byte(cls) -> WireFaults:
        return cls(name="byte-by-byte", max_chunk_bytes=1)

    @classmethod
    def garbage(cls, *, max_bytes: int = 8, seed: int = 1) -> WireFaults:
        return cls(name="garbage", garbage_max_bytes=max_bytes, seed=seed)

    @classmethod
    def lossy(cls, *, probability: float = 0.02, seed: int = 1) -> WireFaults:
        return cls(name="lossy", drop_probability=probability, seed=seed)

    @classmethod
    def delayed(
        cls, *, delay_s: float = 0.005, max_chunk_bytes: int = 4, seed: int = 1
    ) -> WireFaults:
        return cls(
            name="delayed", max_chunk_bytes=max_chunk_bytes, chunk_delay_s=delay_s, seed=seed
        )

    @classmethod
    def matrix(cls) -> tuple[WireFaults, ...]:
        """The hostile-transport matrix every driver runs through (DESIGN.md, quality bar)."""
        return (cls.perfect(), cls.byte_by_byte(), cls.garbage(), cls.lossy(), cls.delayed())

    def shaper(self) -> WireShaper:
        """A fresh, seeded shaper: two shapers of one ``WireFaults`` shape identically."""
        return WireShaper(self)


@dataclass
class WireShaper:
    """Applies :class:`WireFaults` to successive writes; holds the seeded random state."""

    faults: WireFaults
    writes: int = 0
    dropped_bytes: int = 0
    garbage_bytes: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Seeded noise for reproducible tests, not a security decision.
        self._rng = random.Random(self.faults.seed)

    def shape(self, data: bytes) -> list[bytes]:
        """The chunks that go on the wire, in order, for one write of ``data``."""
        faults, rng = self.faults, self._rng
        if faults.drop_probability:
            kept = bytes(b for b in data if rng.random() >= faults.drop_probability)
            self.dropped_bytes += len(data) - len(kept)
            data = kept
        if faults.garbage_max_bytes and self.writes:
            noise = rng.randbytes(rng.randint(1, faults.garbage_max_bytes))
            self.garbage_bytes += len(noise)
            data = noise + data
        self.writes += 1
        if not faults.max_chunk_bytes:
            return [data] if data else []
        chunks = []
        start = 0
        while start < len(data):
            size = rng.randint(1, faults.max_chunk_bytes)
            chunks.append(data[start : start + size])
            start += size
        return chunks


@dataclass(slots=True)
class EndpointCounters:
    bytes_in: int = 0
    """Bytes the client wrote (received by the simulator)."""
    bytes_out: int = 0
    """Bytes put on the wire towards the client, garbage included."""
    chunks_out: int = 0
    lost_while_absent: int = 0
    """Bytes the simulator wrote while vanished (nobody to receive them)."""
    vanishes: int = 0


def make_raw(fd: int) -> None:
    """Put a tty in raw mode; the settings of ``cfmakeraw(3)``."""
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(
        termios.IGNBRK
        | termios.BRKINT
        | termios.PARMRK
        | termios.ISTRIP
        | termios.INLCR
        | termios.IGNCR
        | termios.ICRNL
        | termios.IXON
    )
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB)
    cflag |= termios.CS8
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


class PtyEndpoint:
    """The device side of a real pty pair, for simulators and transport tests.

    ``link_path`` (optional) is a symlink the endpoint maintains to the current slave, the stable
    name a client should open; without it :attr:`device_path` is the slave itself and changes
    on :meth:`come_back`. Use inside a running event loop; ``async with`` opens and closes it.
    """

    def __init__(
        self,
        link_path: str | os.PathLike[str] | None = None,
        *,
        faults: WireFaults | None = None,
        wire_tap: WireTap | None = None,
        name: str = "pty",
    ) -> None:
        self.link_path = Path(link_path) if link_path is not None else None
        self.faults = faults if faults is not None else WireFaults.perfect()
        self.shaper = self.faults.shaper()
        self.wire_tap = wire_tap
        self.name = name
        self.counters = EndpointCounters()
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name = ""
        self._buffer = bytearray()
        self._rx_waiter: asyncio.Future[None] | None = None
        self._tx_waiter: asyncio.Future[None] | None = None
        self._write_lock = asyncio.Lock()
        self._stalled = False
        self._opened = False
        self._closed = False

    def __repr__(self) -> str:
        state = "present" if self.is_present else "absent"
        return f"<PtyEndpoint {self.name} {self.device_path or '-'} {state}>"

    async def __aenter__(self) -> PtyEndpoint:
        self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def device_path(self) -> str:
        """What the client opens: the stable link if there is one, else the current slave."""
        return str(self.link_path) if self.link_path is not None else self._slave_name

    @property
    def slave_name(self) -> str:
        """The current ``/dev/pts/N``; empty while vanished."""
        return self._slave_name if self.is_present else ""

    @property
    def is_present(self) -> bool:
        return self._master is not None

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Create the pty pair (and the stable link); needs a running event loop."""
        if self._closed:
            raise PortClosed("endpoint was closed", port=self.name)
        if self._opened:
            raise RuntimeError(f"{self.name}: open() called twice")
        self._opened = True
        self._plug_in()

    async def close(self) -> None:
        """Remove the pty and the link for good; a pending ``read()`` raises PortClosed."""
        if self._closed:
            return
        self._closed = True
        self._unplug()
        self._wake_reader()

    def vanish(self) -> None:
        """Unplug: close the master and remove the stable link; the client sees EOF / EIO."""
        self._check_open()
        if not self.is_present:
            return
        self._unplug()
        self.counters.vanishes += 1
        logger.debug("%s: vanished", self.name)

    def come_back(self) -> None:
        """Re-plug as a new /dev/pts/N; the stable link is re-pointed at it."""
        self._check_open()
        if self.is_present:
            return
        self._buffer.clear()
        self._plug_in()
        logger.debug("%s: came back as %s", self.name, self._slave_name)

    def stall(self) -> None:
        """Stop draining what the client writes (wedged reader); its writes block then fail."""
        self._check_open()
        self._stalled = True
        if self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)

    def resume(self) -> None:
        """Undo :meth:`stall`."""
        self._check_open()
        self._stalled = False
        if self._master is not None:
            asyncio.get_running_loop().add_reader(self._master, self._on_readable)

    # -- simulator-side I/O ------------------------------------------------------------------

    async def read(self, max_wait_s: float | None = None) -> bytes:
        """What the client wrote so far; waits up to ``max_wait_s`` (None: forever) for a byte.

        Returns ``b""`` on timeout. While vanished nothing arrives; reading just waits.
        """
        self._check_open()
        if not self._buffer:
            if self._rx_waiter is not None:
                raise RuntimeError(f"{self.name}: concurrent read() calls")
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._rx_waiter = waiter
            try:
                await asyncio.wait([waiter], timeout=max_wait_s)
            finally:
                self._rx_waiter = None
                waiter.cancel()
            self._check_open()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the client through the configured :class:`WireFaults`.

        While vanished the bytes are lost (counted), as they would be from an unplugged device.
        """
        self._check_open()
        async with self._write_lock:
            chunks = self.shaper.shape(data)
            for index, chunk in enumerate(chunks):
                if self.faults.chunk_delay_s:
                    await asyncio.sleep(self.faults.chunk_delay_s)
                elif index:
                    # Let the loop run so the client can read the previous chunk on its own.
                    await asyncio.sleep(0)
                await self._write_chunk(chunk)

    async def _write_chunk(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        sent = 0
        try:
            while sent < len(chunk):
                master = self._master
                if master is None:
                    self.counters.lost_while_absent += len(chunk) - sent
                    return
                try:
                    sent += os.write(master, view[sent:])
                except (BlockingIOError, InterruptedError):
                    await self._wait_writable(master)
                except OSError as exc:
                    raise BridgeError(f"pty master write failed: {exc}", port=self.name) from exc
        finally:
            if sent:
                self.counters.bytes_out += sent
                self.counters.chunks_out += 1
                tap_bytes(logger, self.wire_tap, self.name, Direction.TX, chunk[:sent])

    async def _wait_writable(self, master: int) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._tx_waiter = waiter

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        loop.add_writer(master, wake)
        try:
            await waiter
        finally:
            self._tx_waiter = None
            if self._master == master:
                loop.remove_writer(master)

    # -- internals -------------------------------------------------------------------------

    def _plug_in(self) -> None:
        master, slave = os.openpty()
        try:
            make_raw(slave)
            os.set_blocking(master, False)
            slave_name = os.ttyname(slave)
            if self.link_path is not None:
                self._point_link(slave_name)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        # The endpoint keeps its own slave fd open so the master never reads EIO while the client
        # has the port closed (between reopens).
        self._master, self._slave, self._slave_name = master, slave, slave_name
        if not self._stalled:
            asyncio.get_running_loop().add_reader(master, self._on_readable)

    def _unplug(self) -> None:
        master, slave = self._master, self._slave
        self._master = self._slave = None
        if master is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(master)
            loop.remove_writer(master)
            os.close(master)
        if slave is not None:
            os.close(slave)
        if self._tx_waiter is not None and not self._tx_waiter.done():
            self._tx_waiter.set_result(None)
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()

    def _point_link(self, target: str) -> None:
        assert self.link_path is not None
        staging = self.link_path.with_name(f".{self.link_path.name}.{os.getpid()}.new")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        staging.symlink_to(target)
        staging.replace(self.link_path)  # atomic: a client never sees the link missing mid-swap

    def _on_readable(self) -> None:
        master = self._master
        if master is None:
            return
        try:
            data = os.read(master, READ_CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # EIO on the master means no slave is open; we hold one, so this is unexpected.
            # Stop watching rather than spin on a permanently readable fd.
            logger.warning("%s: pty master read failed, no longer reading: %s", self.name, exc)
            asyncio.get_running_loop().remove_reader(master)
            return
        if not data:
            asyncio.get_running_loop().remove_reader(master)
            return
        self.counters.bytes_in += len(data)
        tap_bytes(logger, self.wire_tap, self.name, Direction.RX, data)
        self._buffer += data
        self._wake_reader()

    def _wake_reader(self) -> None:
        if self._rx_waiter is not None and not self._rx_waiter.done():
            self._rx_waiter.set_result(None)

    def _check_open(self) -> None:
        if self._closed:
            raise PortClosed("endpoint was closed", port=self.name)
        if not self._opened:
            raise RuntimeError(f"{self.name}: call open() first")
