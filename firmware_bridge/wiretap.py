# SPDX-License-Identifier: Apache-2.0
"""Raw-byte visibility: the TRACE log level and the wire-tap hook.

Contract: every byte that a transport or simulator endpoint moves is offered, in order, to an
optional wire tap (a callable receiving the direction and the bytes) and logged at
:data:`TRACE`, a level below DEBUG, so captures can be taken without drowning DEBUG logs in hex.

Not responsible for: registering the level name with :mod:`logging` (the daemon's logging set-up
calls ``logging.addLevelName(TRACE, "TRACE")``; doing it here would be an import-time side
effect) or writing capture files (a tap does that).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

TRACE = 5
"""Log level for raw bytes on the wire; below ``logging.DEBUG`` (10)."""


class Direction(enum.StrEnum):
    """Which way bytes went, seen from the side that owns the tap."""

    RX = "rx"
    TX = "tx"


WireTap = Callable[[Direction, bytes], None]
"""Receives every chunk of bytes in the order it crossed the wire. Must not block."""


def tap_bytes(
    logger: logging.Logger,
    tap: WireTap | None,
    where: str,
    direction: Direction,
    data: bytes,
) -> None:
    """Log ``data`` at TRACE and hand it to ``tap``; a failing tap is logged, never propagated."""
    if logger.isEnabledFor(TRACE):
        logger.log(TRACE, "%s %s %s", where, direction.value, data.hex(" ").upper())
    if tap is None:
        return
    try:
        tap(direction, data)
    except Exception:
        # A capture hook must never break the I/O path it observes.
        logger.exception("%s: wire tap failed on %d %s bytes", where, len(data), direction.value)
