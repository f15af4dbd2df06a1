# SPDX-License-Identifier: Apache-2.0
"""Reporting a refused inbound message as a ``lib.contract.rejected.v1`` event.

The event carries the topic, why (the contract error, with quoted values masked: a hostile
payload could put a card number in a field the reason quotes) and the payload's size and
SHA-256, never the payload. It goes through the outbox like every event. At most
``MAX_REPORTS_PER_WINDOW`` reports per ``REPORT_WINDOW_S``: a flood of garbage must not fill
the outbox or the SD card; the rest are counted and logged.

Not responsible for: deciding what is malformed (the contract's codecs).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from edge_service.config import NodeConfig
from edge_service.store import Store, StoreError, WriteConnection
from edge_service.sync.events import record_event
from protocols.contract import ContractRejectedData

logger = logging.getLogger(__name__)

MAX_REPORTS_PER_WINDOW = 30
REPORT_WINDOW_S = 60.0
MAX_TOPIC_CHARS = 512
MAX_REASON_CHARS = 512
MAX_FIELD_CHARS = 256
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def mask_quoted(text: str) -> str:
    """``text`` with every quoted value replaced by ``'…'``."""
    return _QUOTED.sub("'…'", text)


@dataclass(slots=True)
class RejectionCounters:
    rejected: int = 0
    reported: int = 0
    suppressed: int = 0


class RejectionReporter:
    """Queues rejection events; ``wake`` is called after each one is committed."""

    def __init__(self, store: Store, node: NodeConfig, wake: Callable[[], None], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.node = node
        self.wake = wake
        self.counters = RejectionCounters()
        self._clock = clock
        self._window_start = clock()
        self._in_window = 0

    async def reject(self, topic: str, payload: bytes, reason: str,
                     field: str | None = None) -> None:
        self.counters.rejected += 1
        safe_reason = mask_quoted(reason)[:MAX_REASON_CHARS] or "rejected"
        logger.warning("rejected message on %r (%d bytes): %s%s", topic[:MAX_TOPIC_CHARS],
                       len(payload), f"{field}: " if field else "", safe_reason)
        now = self._clock()
        if now - self._window_start >= REPORT_WINDOW_S:
            self._window_start, self._in_window = now, 0
        if self._in_window >= MAX_REPORTS_PER_WINDOW:
            self.counters.suppressed += 1
            return
        self._in_window += 1
        data = ContractRejectedData(
            topic=topic[:MAX_TOPIC_CHARS], reason=safe_reason, payload_bytes=len(payload),
            field=None if field is None else mask_quoted(field)[:MAX_FIELD_CHARS],
            payload_sha256=hashlib.sha256(payload).hexdigest())

        def queue(conn: WriteConnection) -> None:
            record_event(conn, self.store.outbox, self.node, "contract",
                         "lib.contract.rejected.v1", data, now=datetime.now(UTC),
                         rand=os.urandom(10))

        try:
            await self.store.writer.submit(queue, name="contract rejected")
        except StoreError as exc:
            logger.warning("could not queue the rejection report: %s", exc)
            return
        self.counters.reported += 1
        self.wake()
