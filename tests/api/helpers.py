# SPDX-License-Identifier: Apache-2.0
"""Real parts for the API tests: the app served by the daemon's own ApiServer (uvicorn) on a
free loopback port, in a thread with its own event loop, and plain HTTP (http.client) to it.

The app's view is a real, unstarted :class:`~edge_service.daemon.Daemon` (no readers, storage
not open: health answers 503, devices an empty list), carrying the real live bus. Tokens come
from a real 0600 file written by ``create_tokens_file``."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI

from edge_service.api import ApiServer, TokenBook, create_app
from edge_service.api.tokens import create_tokens_file
from edge_service.config import Config
from edge_service.daemon import Daemon

T = TypeVar("T")

REMOTE = {"X-Forwarded-For": "192.0.2.7"}
"""uvicorn trusts X-Forwarded-For from 127.0.0.1 (its default): the request counts as coming
from another host (TEST-NET-1), as a kiosk's would."""
HTTP_TIMEOUT_S = 5.0


def tokens_of(path: Path) -> dict[str, str]:
    """role -> token of a generated tokens file (one per role)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            role, token = line.split()[:2]
            out.setdefault(role, token)
    return out


def make_app(tmp_path: Path, *, allowed_hosts: tuple[str, ...] = (),
             ) -> tuple[FastAPI, Daemon, dict[str, str]]:
    """An app around an unstarted daemon, with one generated token per role; requests may
    name ``allowed_hosts`` besides addresses, localhost and this machine (the ``guard``)."""
    path = tmp_path / "api-tokens"
    create_tokens_file(path)
    daemon = Daemon(Config(), environ={})
    return (create_app(daemon, tokens=TokenBook.load(path), allowed_hosts=allowed_hosts),
            daemon, tokens_of(path))


@dataclass
class Served:
    host: str
    port: int
    loop: asyncio.AbstractEventLoop

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the server's loop (the live bus is not thread-safe)."""
        async def run() -> T:
            return function()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(HTTP_TIMEOUT_S)

    def connection(self, timeout_s: float = HTTP_TIMEOUT_S) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)

    def request(self, method: str, path: str, *, token: str | None = None,
                headers: Mapping[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def get_json(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, _, body = self.request("GET", path, **kwargs)
        return status, json.loads(body)


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[Served]:
    """``app`` on 127.0.0.1:<free port>, through the daemon's ApiServer, until the block ends."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="api test loop", daemon=True)
    thread.start()
    server = ApiServer(app, "127.0.0.1", 0)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(HTTP_TIMEOUT_S)
        assert server.address is not None
        yield Served(server.address[0], server.address[1], loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(3 * HTTP_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(HTTP_TIMEOUT_S)
        loop.close()


def error_of(body: bytes) -> dict[str, Any]:
    """The ``error`` object of an error body, after checking the body has exactly the shape."""
    document = json.loads(body)
    assert set(document) == {"error"}, document
    error: dict[str, Any] = document["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["field"] is None or isinstance(error["field"], str)
    return error
