# SPDX-License-Identifier: Apache-2.0
"""RequestGuard: the ASGI middleware around the whole app that checks the Host a request names,
bounds request bodies and adds the security headers every response needs.

Contract:
- A request's ``Host`` must be an IP address (v4 or v6, with or without a port),
  ``localhost``, this machine's own host name (as the kernel has it, its first label, and
  that label's mDNS name ``<name>.local``) or one of the names the app was given (the
  daemon's ``[api] allowed_hosts`` and ``api.host``); case and a final dot aside. Any other
  is answered 421 ``unknown_host`` before anything else. This is the guard against DNS
  rebinding: a page from another site that gets its own name resolved to this box could
  otherwise read, from a browser on the box (the kiosk's), what needs no token (health,
  ``/metrics`` from loopback). A browser always sends the Host of its URL; a request without
  one (HTTP/1.0) cannot come from such a page and is let through.
- A request body is at most :data:`MAX_BODY_BYTES`. A ``Content-Length`` above it is answered
  413 ``too_large`` before anything is read (FastAPI reads and parses a body before the token
  is checked, so without this a client with no token could make the box hold any size of
  body). A body without a length (chunked) is counted as it is read and refused the same way
  once it passes the bound; the part read so far is dropped.
- Every response carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
  no-referrer``, ``X-Frame-Options: DENY`` and, unless it has a policy of its own (the pages,
  ``pages.PAGE_HEADERS``), ``Content-Security-Policy: frame-ancestors 'none'``: no other site
  may frame ``/docs`` or an API answer. API answers (``/api/``) that set no ``Cache-Control``
  get ``no-store``: sessions, receipts and accounts stay out of caches.

Not responsible for: authentication (``auth``), error bodies of the routes (``errors``).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge_service.api.errors import error_json

__all__ = ["MAX_BODY_BYTES", "RequestGuard"]

MAX_BODY_BYTES = 8 * 1024 * 1024
"""The largest request: a supplier's delivery CSV (``services.MAX_CSV_CHARS``, 4 million
characters) as a JSON string, escapes included."""

_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"))


TOO_LARGE = f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"
SHOWN_HOST_CHARS = 80
"""The most of a refused Host that its error message (and the log) repeats."""
LOGGED_REFUSED_HOSTS = 32
"""How many distinct refused hosts are logged (each once)."""

logger = logging.getLogger(__name__)


class _TooLarge(HTTPException):
    """The body passed :data:`MAX_BODY_BYTES` while it was read: an HTTP error, so that
    FastAPI's body parsing lets it through to the error handlers as a 413."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


class RequestGuard:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.host_names = frozenset({"localhost", *_machine_names(),
                                     *(_plain(name) for name in allowed_hosts)} - {""})
        self._refused_logged: set[str] = set()

    def _log_refused(self, host: str) -> None:
        """A warning the first time a host is refused (up to ``LOGGED_REFUSED_HOSTS`` of them):
        a kiosk screen gone blank after an upgrade shows why in the journal, and a page trying
        many names cannot fill it."""
        name = _host_of(host)[:SHOWN_HOST_CHARS]
        if name in self._refused_logged or len(self._refused_logged) >= LOGGED_REFUSED_HOSTS:
            return
        self._refused_logged.add(name)
        logger.warning("refused a request for host %r: not a name of this box; if the box is "
                       "reached by that name, add it to [api] allowed_hosts", name,
                       extra={"fields": {"event": "unknown_host"}})

    def answers_to(self, host: str) -> bool:
        """Whether a request naming ``host`` (a Host header's value) is for this box."""
        name = _host_of(host)
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return name in self.host_names
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secured = _secured(send, api=str(scope.get("path", "")).startswith("/api/"))
        host = _header(scope, b"host")
        if host is not None and not self.answers_to(host):
            self._log_refused(host)
            await error_json(421, "unknown_host", _unknown_host(host))(scope, receive, secured)
            return
        length = _content_length(scope)
        if length is not None and length > MAX_BODY_BYTES:
            await error_json(413, "too_large", TOO_LARGE)(scope, receive, secured)
            return
        read = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > MAX_BODY_BYTES:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await secured(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await error_json(413, "too_large", TOO_LARGE)(scope, receive, secured)


def _machine_names() -> frozenset[str]:
    """This machine's own names: its host name as the kernel has it, the first label of that,
    and the label's mDNS name (``<name>.local``, what Avahi announces)."""
    name = _plain(socket.gethostname())
    label = name.partition(".")[0]
    # Not socket.getfqdn(): a DNS lookup at start, which can hang for seconds on a box whose
    # network is down; a fully qualified name goes in [api] allowed_hosts.
    return frozenset(n for n in (name, label, f"{label}.local" if label else "") if n)


def _plain(name: str) -> str:
    """A host name as compared: lower case, without a final dot."""
    return name.strip().lower().removesuffix(".")


def _host_of(host: str) -> str:
    """The host of a Host header's value without its port: ``name[:port]``, ``v4[:port]``,
    ``[v6][:port]`` (a bare v6 address, which has colons of its own, as it is)."""
    value = host.strip()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return _plain(value.partition(":")[0])
    return _plain(value)


def _unknown_host(host: str) -> str:
    shown = host if len(host) <= SHOWN_HOST_CHARS else host[:SHOWN_HOST_CHARS] + "..."
    return (f"this box does not answer to the host {shown!r} (the request's Host header); "
            "if the box is reached by that name, add it to [api] allowed_hosts")


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value).decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _secured(send: Send, *, api: bool) -> Send:
    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            extra = [(name, value) for name, value in _HEADERS if name not in present]
            if b"content-security-policy" not in present:
                extra.append((b"content-security-policy", b"frame-ancestors 'none'"))
            if api and b"cache-control" not in present:
                extra.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers + extra}
        await send(message)
    return with_headers
