# SPDX-License-Identifier: Apache-2.0
"""The local HTTP API: health, devices, the live event stream and Prometheus metrics, served
inside the daemon, behind role tokens.

The only package that imports FastAPI/starlette (and, with the daemon, uvicorn). ``create_app``
builds the app around a :class:`~edge_service.health.DaemonView` and a :class:`TokenBook`;
:class:`ApiServer` serves it with uvicorn as a task of the daemon's own event loop. Routes
declare their roles with :func:`require` and answer errors in one shape (``errors``).
"""

from edge_service.api.app import create_app
from edge_service.api.auth import ANY_ROLE, GATE_READ, operation_roles, require
from edge_service.api.errors import ApiError, ErrorResponse, error_responses
from edge_service.api.metrics import DaemonCollector, metrics_registry
from edge_service.api.server import ApiServer, ApiUnavailable
from edge_service.api.tokens import (
    ROLES,
    Principal,
    TokenBook,
    TokensFileError,
    append_token,
    named_tokens,
    open_token_book,
)

__all__ = ["ANY_ROLE", "GATE_READ", "ROLES", "ApiError", "ApiServer", "ApiUnavailable",
           "DaemonCollector", "ErrorResponse", "Principal", "TokenBook", "TokensFileError",
           "append_token", "create_app", "error_responses", "metrics_registry",
           "named_tokens", "open_token_book", "operation_roles", "require"]
