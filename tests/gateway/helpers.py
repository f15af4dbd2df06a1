# SPDX-License-Identifier: Apache-2.0
"""An in-memory GatewayTransport and request builders for the gateway tests."""

from __future__ import annotations

import time
from typing import Any

from protocols.contract import (
    CheckoutRequest,
    CirculationReply,
    Message,
    format_time,
    request_topic,
)

T, S, N = "DK-718500", "DK-718501", "kiosk-2"
OWNER = "DK-718500"
EXPIRY_MS = 20_000


class MemoryTransport:
    """Records every publish as (topic, payload)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes) -> None:
        self.published.append((topic, payload))

    def on(self, suffix: str) -> list[bytes]:
        return [p for t, p in self.published if t.endswith(suffix)]

    def replies(self) -> list[CirculationReply]:
        return [CirculationReply.from_json(p) for p in self.on("/rsp")]


def expires(offset_ms: int = EXPIRY_MS) -> str:
    return format_time(time.time_ns() // 1_000_000 + offset_ms)


def checkout(corr: str, item: str, patron: str, **more: Any) -> CheckoutRequest:
    return CheckoutRequest(corr=corr, expires=expires(), primary_item_id=item,
                           owner_institution=OWNER, patron_id=patron, **more)


def topic_of(request: Message, node: str = N) -> str:
    return request_topic(T, S, node, type(request).NAME)  # type: ignore[attr-defined]
