# SPDX-License-Identifier: Apache-2.0
"""One error shape for every error the API answers, and its OpenAPI declaration.

Every error response body is::

    {"error": {"code": "not_found", "message": "...", "field": null}}

- ``code``: stable, machine-readable (``unauthorized``, ``forbidden``, ``not_found``,
  ``method_not_allowed``, ``invalid_request``, ``internal_error``, and a workflow's own codes:
  ``no_session``, ``patron_refused``...). Clients branch on it, never on ``message``.
- ``message``: for the person at the screen or the integrator; names what and where; never a
  traceback, a file path or a patron identifier.
- ``field``: the request field at fault (``query.limit``, ``body.items[0].uid``), else null.

Sources, one handler each (:func:`install_error_handlers`): :class:`ApiError` and starlette's
``HTTPException`` (401 carries ``WWW-Authenticate: Bearer``, 405 ``Allow``);
:class:`~edge_service.workflows.WorkflowError` (its ``status``); request validation (422, the
first bad field named, the others counted); anything else is a 500 whose message gives a
reference, and whose details go to the log under that reference, with the route's template
(``/api/v1/items/{item_id}``), never the concrete path.

OpenAPI: routers declare their error statuses with :func:`error_responses`; the 422 FastAPI
documents by itself for a route with parameters is rewritten to this shape
(:func:`one_error_shape`), so a route added without declaring it is still documented right.

Not responsible for: deciding what is an error (the routes and workflows do).
"""

from __future__ import annotations

import http
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge_service.workflows import WorkflowError

__all__ = ["ApiError", "ErrorBody", "ErrorResponse", "error_json", "error_responses",
           "install_error_handlers", "one_error_shape"]

logger = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
         413: "too_large", 415: "unsupported_media_type", 421: "unknown_host",
         422: "invalid_request",
         429: "too_many_requests", 500: "internal_error", 503: "unavailable"}
"""The ``code`` of an error raised without one of its own."""

DESCRIPTIONS = {
    401: "No token, or not a known one: send `Authorization: Bearer <token>`.",
    403: "The token's role may not use this endpoint; `message` names the roles that may.",
    404: "Nothing here by that name.",
    409: "Conflicts with the current state (a workflow's `code` says which).",
    413: "The request body is larger than the box takes (`too_large`), whatever the endpoint.",
    421: "The request's `Host` is not a name of this box (`unknown_host`): see "
         "`[api] allowed_hosts`.",
    422: "A parameter or the body is invalid; `field` names it.",
    500: "Internal error; the daemon's log has the details under the reference in `message`.",
    503: "Temporarily unavailable; try again later.",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody


class ApiError(HTTPException):
    """An HTTP error with its ``code`` (and ``field``) chosen by the API, not the status."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.code = code
        self.field = field


def error_json(status: int, code: str, message: str, field: str | None = None,
               headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "field": field}}
    return JSONResponse(body, status_code=status, headers=headers)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a router or route: these statuses answer an :class:`ErrorResponse`."""
    return {status: {"model": ErrorResponse,
                     "description": DESCRIPTIONS.get(status, http.HTTPStatus(status).phrase)}
            for status in statuses}


UNPARSED_BODY = "There was an error parsing the body"
"""FastAPI's HTTPException detail for a body it could not decode."""


def _default_message(request: Request, exc: HTTPException) -> str:
    if exc.detail != http.HTTPStatus(exc.status_code).phrase:
        return str(exc.detail)
    if exc.status_code == 404:
        return "no endpoint at this path; the API is described at /docs"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{request.method} is not allowed here" + (f"; use {allowed}" if allowed else "")
    return str(exc.detail)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ApiError):
        return error_json(exc.status_code, exc.code, str(exc.detail), exc.field, exc.headers)
    if exc.status_code == 400 and exc.detail == UNPARSED_BODY:
        # FastAPI's words when the body could not even be decoded (not UTF-8 text, or JSON
        # nested deeper than the parser allows): say what and where, like a 422.
        return error_json(422, "invalid_request", "body: not valid JSON (not UTF-8 text, or "
                          "nested too deeply)", "body", exc.headers)
    code = CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_json(exc.status_code, code, _default_message(request, exc), None, exc.headers)


async def _workflow_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WorkflowError)
    return error_json(exc.status, exc.code, exc.message, exc.field)


def _field_path(location: Sequence[Any]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = list(exc.errors())
    if not problems:
        return error_json(422, "invalid_request", "the request is invalid")
    first = problems[0]
    location = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        # FastAPI places a JSON syntax error at ("body", character offset).
        field = "body"
        reason = (first.get("ctx") or {}).get("error", "invalid")
        message = f"body: not valid JSON ({reason}) at character {location[-1]}"
    else:
        field = _field_path(location)
        # The message never repeats the input: it may be a patron's card number.
        message = f"{field}: {first.get('msg', 'invalid')}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return error_json(422, "invalid_request", message, field or None)


class InternalErrors:
    """ASGI middleware: an unhandled exception becomes a 500 in the error shape.

    Installed inside starlette's ``ServerErrorMiddleware``, which would answer in plain text and
    re-raise (so uvicorn logs the traceback a second time, with less context)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:
                raise  # too late for an error body; the server closes the connection
            reference = secrets.token_hex(4)
            route = getattr(scope.get("route"), "path", "(no route)")
            logger.exception("api: unhandled error in %s %s (reference %s)",
                             scope.get("method"), route, reference)
            response = error_json(500, "internal_error",
                                  f"internal error (reference {reference}); "
                                  "the daemon's log has the details")
            await response(scope, receive, send)


ERROR_REFERENCE = "#/components/schemas/ErrorResponse"
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def one_error_shape(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite, in place, the 422 FastAPI documents by itself for every route with parameters
    (its own ``{"detail": [...]}`` shape) to the shape this API answers; idempotent."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422")
            content = (response or {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") == _FASTAPI_422:
                content["schema"] = {"$ref": ERROR_REFERENCE}
                response["description"] = DESCRIPTIONS[422]
    schemas = document.get("components", {}).get("schemas", {})
    if _FASTAPI_422 not in json.dumps(document.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return document


def install_error_handlers(app: FastAPI) -> None:
    """The handlers, the 500 middleware, and the OpenAPI document saying so."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(WorkflowError, _workflow_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(InternalErrors)

    def openapi() -> dict[str, Any]:
        return one_error_shape(FastAPI.openapi(app))

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point
