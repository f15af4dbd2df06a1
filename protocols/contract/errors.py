# SPDX-License-Identifier: Apache-2.0
"""The error of the MQTT message contract."""

from __future__ import annotations

from protocols.errors import ProtocolError


class ContractError(ProtocolError):
    """A topic or payload outside the LibEdge v1 MQTT contract, or a value that cannot be sent.

    ``reason`` says what is wrong; ``field`` names where: a topic segment (``"node"``), or a
    dotted path into the payload (``"items[3].circulation_status"``); ``None`` when the problem
    is the payload as a whole (size, encoding, JSON syntax).
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.reason if self.field is None else f"{self.field}: {self.reason}"

    def within(self, prefix: str) -> ContractError:
        """The same error with ``field`` placed under ``prefix`` (a nested object's path)."""
        if not prefix:
            return self
        field = prefix if self.field is None else join_path(prefix, self.field)
        return ContractError(self.reason, field=field)


def join_path(prefix: str, key: str) -> str:
    """``prefix.key``, or ``key`` at the top; list indexes (``[3]``) attach without a dot."""
    if not prefix:
        return key
    return f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}"
