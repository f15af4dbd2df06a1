# SPDX-License-Identifier: Apache-2.0
"""ApiServer: uvicorn serving the app as a task of the daemon's event loop (no second process).

Contract:
- ``await start()`` binds the listening socket itself (so a busy port is an
  :class:`ApiUnavailable` naming ``api.host``/``api.port`` instead of uvicorn's ``sys.exit``),
  starts ``uvicorn.Server.serve`` as a task and returns once it accepts connections;
  ``address`` is then the bound (host, port), useful with ``api.port = 0``.
- The daemon owns signals: uvicorn's own SIGINT/SIGTERM capture is disabled, and ``stop()``
  asks the server to finish its requests and waits for it.
- ``stop()`` first ends the app's open event streams (``stream.EventStreams``): an open kiosk
  page would otherwise hold the shutdown for the whole grace period.
- uvicorn runs with ``lifespan="off"`` (the daemon is the lifespan), its own logging set-up off
  (the daemon's handler formats its records) and no access log (per-request lines would flood an
  SD card; metrics count instead).

Not responsible for: TLS (the API listens on localhost or the kiosk VLAN, firewalled by the
unit's IPAddressAllow=), authentication (``auth``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from edge_service.api.stream import EventStreams

__all__ = ["ApiServer", "ApiUnavailable"]

SHUTDOWN_TIMEOUT_S = 5.0
"""Longest wait for open requests at stop; the daemon's stop must stay well inside
systemd's TimeoutStopSec."""
TRUSTED_PROXIES = ["127.0.0.1", "::1"]
"""Whose ``X-Forwarded-For`` is believed: a reverse proxy on the box itself, and nobody else
(fixed: the environment's ``FORWARDED_ALLOW_IPS`` is not consulted)."""


class ApiUnavailable(OSError):
    """The API could not listen; ``key`` is the configuration key to look at."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.key = "api.port"
        self.host = host
        self.port = port
        super().__init__(f"api.host/api.port {host}:{port}: {reason}")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The daemon's loop.add_signal_handler owns SIGINT/SIGTERM/SIGHUP.
        yield


class ApiServer:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.address: tuple[str, int] | None = None
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            sock = socket.create_server((self.host, self.port), family=family)
        except OSError as exc:
            raise ApiUnavailable(self.host, self.port, exc.strerror or str(exc)) from exc
        self._socket = sock
        bound = sock.getsockname()
        self.address = (bound[0], int(bound[1]))
        config = uvicorn.Config(self.app, lifespan="off", log_config=None, access_log=False,
                                http="h11", ws="none",
                                timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT_S),
                                # Not uvicorn's default, which $FORWARDED_ALLOW_IPS can widen
                                # to '*': then anyone could claim a loopback address and read
                                # /metrics without a token (auth.require's loopback rule).
                                proxy_headers=True, forwarded_allow_ips=TRUSTED_PROXIES)
        server = self._server = _Server(config)
        task = self._task = asyncio.create_task(server.serve(sockets=[sock]),
                                                name="libedge api")
        while not server.started:
            if task.done():
                task.result()  # raises what uvicorn raised
                raise ApiUnavailable(self.host, self.port, "server stopped while starting")
            await asyncio.sleep(0.005)

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def stop(self) -> None:
        streams = getattr(self.app.state, "event_streams", None)
        if isinstance(streams, EventStreams):
            streams.close_all()
        server, task = self._server, self._task
        self._server = self._task = None
        if server is not None and task is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await task
        if self._socket is not None:
            self._socket.close()
            self._socket = None
