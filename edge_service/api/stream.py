# SPDX-License-Identifier: Apache-2.0
"""``GET /api/v1/events/stream``: the live bus (:class:`~edge_service.workflows.LiveEvents`) as
server-sent events, for the kiosk, gate and staff pages.

Wire format (text/event-stream), one block per message::

    id: 42
    event: gate.alarm
    data: {"gate": "gate-1", ...}

- The stream opens with ``retry: RETRY_MS`` (how long a browser waits before reconnecting).
- ``: heartbeat`` every :data:`HEARTBEAT_S` without a message: proxies keep the connection
  open, and a client that vanished without closing is found (the write fails) and dropped.
- ``event: resync`` (``data: {"missed": N, "reason": "slow"}``, no ``id``) comes before the
  next message when this stream lost N messages because its client read too slowly; the page
  reloads its state with a GET instead of showing a wrong one.
- What a token sees depends on its role (:data:`STREAM_KINDS`): kiosk ``pad``, ``session``,
  ``item``; gate ``gate.*``; staff and admin everything. A kiosk token bound to a pad sees
  only messages whose ``reader`` is that pad.
- ``Last-Event-ID`` is not replayed (the bus keeps no history; the outbox is the durable
  record). A client that reconnects with one that is not the latest id gets
  ``event: resync`` (``{"missed": null, "reason": "reconnected"}``) first.
- At most :data:`MAX_STREAMS` streams are open at once (503 beyond): the handler reserves a
  place before it answers (requests arriving together are counted together), and a reserved
  place whose stream never started (the client left at once) is free again after
  :data:`RESERVATION_S`. :meth:`EventStreams.close_all` ends them all (the server's stop, so a
  kiosk's open stream never holds a shutdown).
- A stream ends when its token is withdrawn from the tokens file: before each message or
  heartbeat it asks the token book whether the token is still in force.

Not responsible for: what is published (the workflows), durability (the outbox).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse

from edge_service.api.auth import ANY_ROLE, require
from edge_service.api.errors import ApiError, error_responses
from edge_service.api.tokens import Principal, TokenBook
from edge_service.workflows import LiveEvents, LiveMessage, Subscription

__all__ = ["HEARTBEAT_S", "MAX_STREAMS", "RETRY_MS", "STREAM_KINDS", "EventStreams",
           "events_router"]

logger = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
"""A comment line after this long without a message (well inside the 60 s idle timeout of
common proxies)."""
RETRY_MS = 3000
"""The ``retry:`` the stream opens with: a page reconnects 3 s after losing the box."""
MAX_STREAMS = 32
"""Open streams at once: a handful of pages per box; more is a page that leaks connections."""
RESERVATION_S = 10.0
"""How long a place reserved by the handler waits for its stream to start."""
STREAM_KINDS: dict[str, frozenset[str] | None] = {
    "kiosk": frozenset({"pad", "session", "item"}),
    "gate": frozenset({"gate"}),
    "staff": None,   # everything
    "admin": None,
}
"""The message kinds (prefixes, as ``LiveEvents.subscribe`` takes them) each role sees."""


class EventStreams:
    """The open streams of one app, so they can be counted, capped and closed."""

    def __init__(self, live: LiveEvents) -> None:
        self.live = live
        self._open: set[Subscription] = set()
        self._reserved: dict[object, float] = {}

    @property
    def count(self) -> int:
        return len(self._open)

    def reserve(self) -> object:
        """A place for a stream about to start (503 when there is none); :meth:`open` takes it."""
        now = time.monotonic()
        self._reserved = {key: at for key, at in self._reserved.items()
                          if now - at < RESERVATION_S}
        if len(self._open) + len(self._reserved) >= MAX_STREAMS:
            raise ApiError(503, "too_many_streams",
                           f"{MAX_STREAMS} event streams are open already; close one",
                           headers={"Retry-After": str(RETRY_MS // 1000)})
        place = object()
        self._reserved[place] = now
        return place

    def open(self, role: str, place: object) -> Subscription:
        self._reserved.pop(place, None)
        subscription = self.live.subscribe(STREAM_KINDS[role])
        self._open.add(subscription)
        return subscription

    def close(self, subscription: Subscription) -> None:
        self.live.unsubscribe(subscription)
        self._open.discard(subscription)

    def close_all(self) -> None:
        for subscription in list(self._open):
            self.close(subscription)


def _resync(missed: int | None, reason: str) -> str:
    return f"event: resync\ndata: {json.dumps({'missed': missed, 'reason': reason})}\n\n"


def _block(message: LiveMessage) -> str:
    data = json.dumps(message.data, separators=(",", ":"), allow_nan=False)
    return f"id: {message.id}\nevent: {message.kind}\ndata: {data}\n\n"


def _on_reconnect(last_event_id: str | None, latest: int) -> str | None:
    # The bus numbers its messages 1, 2, ... so the latest id is the count published.
    if last_event_id is None or last_event_id.strip() == str(latest):
        return None
    return _resync(None, "reconnected")


async def _blocks(streams: EventStreams, who: Principal, place: object, first: str | None,
                  in_force: Callable[[], bool]) -> AsyncIterator[str]:
    # Subscribed here, not in the handler: a response that is never sent (the client left at
    # once) never runs this generator, and so leaves no subscription behind.
    subscription = streams.open(who.role, place)
    pad = who.pad
    try:
        yield f"retry: {RETRY_MS}\n\n"
        if first is not None:
            yield first
        lost = 0
        while True:
            message = await subscription.next(HEARTBEAT_S)
            if not in_force():
                logger.info("event stream of %r ended: its token was withdrawn", who.name)
                return
            if message is None:
                if subscription.closed:
                    return
                yield ": heartbeat\n\n"
                continue
            lost += message.missed
            if pad is not None and message.data.get("reader") != pad:
                continue   # another pad's (or nobody's): not for a token bound to this pad
            try:
                block = _block(message)
            except (TypeError, ValueError):
                # A publisher's bug; the page resyncs rather than the stream dying.
                logger.error("live message %d (%s) is not JSON; skipped", message.id,  # noqa: TRY400
                             message.kind)
                lost += 1
                continue
            if lost:
                yield _resync(lost, "slow")
                lost = 0
            yield block
    finally:
        streams.close(subscription)


EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"type": "string", "minLength": 1},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer", "minimum": 0},
    },
    # A message has its id and kind; a resync has no id (Last-Event-ID stays a message's).
    "if": {"properties": {"event": {"const": "resync"}}, "required": ["event"]},
    "then": {"not": {"required": ["id"]}},
    "else": {"required": ["id", "event"]},
}
"""One event of the stream (OpenAPI 3.2 ``itemSchema`` for text/event-stream)."""

STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "Server-sent events: `id`, `event` (the kind), `data` (JSON) per message; "
                   "`: heartbeat` comments; `event: resync` (data `{\"missed\": N or null, "
                   "\"reason\": \"slow\" or \"reconnected\"}`) when messages were lost.",
    "content": {"text/event-stream": {"itemSchema": EVENT_SCHEMA}},
}}


def events_router(streams: EventStreams) -> APIRouter:
    router = APIRouter(tags=["events"])

    @router.get("/api/v1/events/stream", response_class=StreamingResponse,
                responses={**STREAM_RESPONSE, **error_responses(401, 403, 422, 500, 503)})
    async def event_stream(
            request: Request,
            principal: Annotated[Principal | None,
                                 Depends(require(*ANY_ROLE, query_token=True))],
            last_event_id: Annotated[str | None, Header(
                description="Not replayed: a stale id gets `event: resync` first.")] = None,
    ) -> StreamingResponse:
        """What happens now on this box, filtered by the token's role (kiosk: pad, session,
        item; gate: gate.*; staff and admin: everything). See the module docstring of
        ``edge_service.api.stream`` for the format."""
        assert principal is not None  # no loopback exemption here
        place = streams.reserve()
        first = _on_reconnect(last_event_id, streams.live.published)
        book: TokenBook | None = getattr(request.app.state, "tokens", None)
        holder = principal

        def in_force() -> bool:
            return book is not None and book.holds(holder)

        return StreamingResponse(_blocks(streams, principal, place, first, in_force),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    return router
