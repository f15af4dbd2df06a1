# SPDX-License-Identifier: Apache-2.0
"""The errors of the catalog gateway: one root; each names the key, file or line."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error raised by :mod:`edge_service.gateway`."""


class GatewayConfigError(GatewayError):
    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}" if key else reason)


class ImportFormatError(GatewayError):
    """A bulk import file that cannot be read; ``where`` is ``file:line`` or a record number."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")
