# SPDX-License-Identifier: Apache-2.0
"""LiveEvents: what the screens watch (the API's server-sent event stream), in process only.

The durable record is the outbox (MQTT); this bus is for the kiosk, staff and gate pages that
show what happens *now*: an item appearing on the pad, a checkout finishing, a gate alarm.

Contract:
- ``publish(kind, data)`` never blocks and never fails: each subscriber has a bounded queue; a
  subscriber too slow to keep up loses its oldest messages and its next message says how many
  (``missed``), so a page knows to reload its state instead of showing a wrong one.
- ``data`` is JSON-ready and, like events, carries no patron identifier (the kiosk page learns
  its patron's name from its own session call, never from the shared stream).
- Each message has a per-process ``id`` (1, 2, ...): the SSE ``id:`` line.

Not responsible for: durability (the outbox), authorization (the API filters by role).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LiveEvents", "LiveMessage", "Subscription"]

DEFAULT_QUEUE = 256


@dataclass(frozen=True, slots=True)
class LiveMessage:
    id: int
    kind: str
    """``pad``, ``session``, ``item``, ``gate.alarm``, ``gate.count``, ``device``, ``staff``..."""
    data: dict[str, Any]
    missed: int = 0
    """Messages this subscriber lost before this one (it was too slow)."""


@dataclass(eq=False)
class Subscription:
    kinds: frozenset[str] | None
    limit: int
    _queue: deque[LiveMessage] = field(default_factory=deque)
    _missed: int = 0
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def _offer(self, message: LiveMessage) -> None:
        if self.kinds is not None and not any(
                message.kind == k or message.kind.startswith(k + ".") for k in self.kinds):
            return
        if len(self._queue) >= self.limit:
            self._queue.popleft()
            self._missed += 1
        self._queue.append(message)
        self._ready.set()

    async def next(self, timeout_s: float | None = None) -> LiveMessage | None:
        """The next message, or None after ``timeout_s`` without one (or once closed)."""
        while not self._queue:
            if self.closed:
                return None
            self._ready.clear()
            try:
                async with asyncio.timeout(timeout_s):   # not wait_for: see selfcheck._loop
                    await self._ready.wait()
            except TimeoutError:
                return None
        message = self._queue.popleft()
        if self._missed:
            message = LiveMessage(message.id, message.kind, message.data, self._missed)
            self._missed = 0
        return message

    def __aiter__(self) -> AsyncIterator[LiveMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[LiveMessage]:
        while (message := await self.next()) is not None:
            yield message


class LiveEvents:
    """The in-process broadcast bus; see the module docstring."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._subscribers: set[Subscription] = set()
        self.published = 0

    def publish(self, kind: str, data: dict[str, Any]) -> LiveMessage:
        message = LiveMessage(next(self._ids), kind, data)
        self.published += 1
        for subscriber in self._subscribers:
            subscriber._offer(message)
        return message

    def subscribe(self, kinds: frozenset[str] | None = None, *,
                  limit: int = DEFAULT_QUEUE) -> Subscription:
        """A new subscription (``kinds``: prefixes like ``gate``; None: everything)."""
        subscription = Subscription(kinds, limit)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.closed = True
        subscription._ready.set()
        self._subscribers.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
