# SPDX-License-Identifier: Apache-2.0
"""sd_notify(3) without libsystemd: one datagram per state change to ``$NOTIFY_SOCKET``.

Contract:
- :meth:`Notifier.from_environ` reads ``NOTIFY_SOCKET`` (a filesystem path, or ``@name`` for the
  Linux abstract namespace) and ``WATCHDOG_USEC``/``WATCHDOG_PID``. Without ``NOTIFY_SOCKET``
  every call is a no-op, so the daemon runs the same way outside systemd.
- :meth:`Notifier.send` writes ``KEY=value`` lines as one ``AF_UNIX``/``SOCK_DGRAM`` datagram
  (the protocol of ``sd_notify``); ``ready``, ``status``, ``stopping``, ``reloading`` and
  ``watchdog`` are the messages LibEdge uses. A send that fails (systemd restarting, socket
  gone) is logged once per kind and never raised: losing a STATUS line must not stop a reader.
- :attr:`Notifier.watchdog_interval_s` is half of ``WATCHDOG_USEC`` (systemd.service(5): "every
  half of the time"), or None when the watchdog is off or meant for another process.

Not responsible for: deciding WHEN the watchdog is fed. The daemon pings only while the reader
loops and the storage writer show fresh heartbeats (``edge_service.health``); a bare timer here
would keep a wedged daemon alive.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

__all__ = ["Notifier"]

logger = logging.getLogger(__name__)

WATCHDOG_PING_FRACTION = 0.5
"""Ping at this fraction of ``WATCHDOG_USEC`` (sd_watchdog_enabled(3) recommends half)."""


def _address(value: str) -> str | bytes:
    """The socket address: ``@name`` is the abstract namespace (a leading NUL byte)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """Messages to the service manager; every method is a no-op when ``address`` is None."""

    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        self.address = address or None
        self.watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._socket: socket.socket | None = None
        self._failed: set[str] = set()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        usec: int | None = None
        pid = env.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process the watchdog is meant for; a child started with our
        # environment (a helper, a test) must not take the pings over.
        if not pid or pid == str(os.getpid()):
            try:
                usec = int(env.get("WATCHDOG_USEC", ""))
            except ValueError:
                usec = None
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_usec=usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        if self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 1e6 * WATCHDOG_PING_FRACTION

    @property
    def watchdog_timeout_s(self) -> float | None:
        return None if self.watchdog_usec is None else self.watchdog_usec / 1e6

    def send(self, **fields: str) -> bool:
        """Send ``KEY=value`` lines (keyword names are the keys) as one datagram."""
        if self.address is None:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        kind = ",".join(fields)
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX,
                                             socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message, _address(self.address))
        except OSError as exc:
            if kind not in self._failed:
                self._failed.add(kind)
                logger.warning("sd_notify %s to %s failed: %s", kind, self.address, exc)
            return False
        self._failed.discard(kind)
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY="1", STATUS=status)

    def status(self, status: str) -> bool:
        return self.send(STATUS=status)

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets Type=notify-reload (systemd 253+) match READY to this reload.
        return self.send(RELOADING="1", MONOTONIC_USEC=str(time.monotonic_ns() // 1000))

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING="1", STATUS=status)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG="1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
