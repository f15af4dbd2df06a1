# SPDX-License-Identifier: Apache-2.0
"""WorkflowError: a request a workflow cannot carry out, said so a person understands it.

``code`` is stable and machine-readable (``no_session``, ``session_active``, ``patron_refused``,
``forbidden_item``, ``device_unavailable``, ``ils_unreachable``, ``not_found``, ``conflict``...);
``message`` is shown to the person at the screen (kind, no internals); ``status`` is the HTTP
status the API answers with.
"""

from __future__ import annotations

__all__ = ["WorkflowError"]


class WorkflowError(Exception):
    def __init__(self, code: str, message: str, *, status: int = 409,
                 field: str | None = None) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.field = field
        super().__init__(f"{code}: {message}")
