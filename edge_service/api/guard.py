# SPDX-License-Identifier: Apache-2.0
"""RequestGuard: the ASGI middleware around the whole app that bounds request bodies and adds
the security headers every response needs.

Contract:
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


class _TooLarge(HTTPException):
    """The body passed :data:`MAX_BODY_BYTES` while it was read: an HTTP error, so that
    FastAPI's body parsing lets it through to the error handlers as a 413."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


class RequestGuard:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secured = _secured(send, api=str(scope.get("path", "")).startswith("/api/"))
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


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
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
