# SPDX-License-Identifier: Apache-2.0
"""Role checks: which token may call which endpoint.

A route declares the roles it admits with the dependency ``require(*roles)``; ``admin`` is
admitted everywhere. Roles do not nest otherwise: a kiosk token opens kiosk routes only, a gate
token gate routes only; a route the staff station may read as well as the gate monitor admits
both (``require(*GATE_READ)``). The admitted roles are the scopes of the operation's security
requirement in the OpenAPI document (:func:`operation_roles` reads them back; the tests' role
matrix walks every operation that way).

- The token comes in ``Authorization: Bearer <token>``. Only routes built with
  ``require(..., query_token=True)`` (the event stream: a browser's ``EventSource`` cannot set
  headers) also accept ``?token=``; the header wins when both are sent.
- No token, or an unknown one: 401 with ``WWW-Authenticate: Bearer``. A known token whose role
  is not admitted: 403 naming the roles that are.
- ``require(..., loopback=True)`` (``/metrics``) admits requests from a loopback address without
  any token, so a collector on the box scrapes without holding one; from anywhere else it needs
  an admitted role's token. A reverse proxy on the box must send ``X-Forwarded-For`` (believed
  from 127.0.0.1 and ::1 only, ``server.TRUSTED_PROXIES``); otherwise every client it forwards
  counts as loopback.
- The dependency's value is the :class:`Principal` (role and the token's name; None for an
  anonymous loopback request), for routes that record who acted.

Not responsible for: the tokens file (``tokens``), TLS, rate limits.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge_service.api.errors import ApiError
from edge_service.api.tokens import ROLES, Principal, TokenBook, check_role

__all__ = ["ANY_ROLE", "BEARER", "GATE_READ", "RoleCheck", "operation_roles", "require"]

ANY_ROLE = ROLES
GATE_READ = ("gate", "staff")
"""What the gate monitor shows, the staff station may read too."""

BEARER = HTTPBearer(auto_error=False, scheme_name="roleToken",
                    description="A role token from the tokens file (api.tokens_file). An "
                                "operation's security scopes are the roles it admits.")
QUERY_TOKEN = Query(None, description="The role token, for clients that cannot send the "
                                      "Authorization header (a browser's EventSource). "
                                      "The header wins when both are sent.")


def _unauthorized(message: str, *, invalid: bool = False) -> ApiError:
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:   # not an address: a Unix socket, a test client
        return False
    # On a dual-stack listener an IPv4 client shows as ::ffff:127.0.0.1.
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


class RoleCheck:
    """The check :func:`require` builds; ``roles`` are what the route declared."""

    def __init__(self, roles: tuple[str, ...], *, loopback: bool = False) -> None:
        self.roles = frozenset(check_role(role) for role in roles)
        self.admitted = self.roles | {"admin"}
        self.loopback = loopback

    def check(self, request: Request, credentials: HTTPAuthorizationCredentials | None,
              query_token: str | None = None) -> Principal | None:
        token = credentials.credentials if credentials is not None else query_token
        if token is None:
            if self.loopback and _is_loopback(request):
                return None
            if "authorization" in request.headers:
                raise _unauthorized("the Authorization header must be 'Bearer <token>'")
            raise _unauthorized("this endpoint needs a role token: "
                                "send 'Authorization: Bearer <token>'")
        book: TokenBook | None = getattr(request.app.state, "tokens", None)
        principal = book.identify(token) if book is not None else None
        if principal is None:
            raise _unauthorized("unknown token", invalid=True)
        if principal.role not in self.admitted:
            needed = " or ".join(sorted(self.admitted, key=ROLES.index))
            raise ApiError(403, "forbidden", f"this endpoint needs the {needed} role; "
                                             f"the token has the {principal.role} role")
        return principal


def require(*roles: str, query_token: bool = False,
            loopback: bool = False) -> Callable[..., Awaitable[Principal | None]]:
    """A dependency admitting ``roles`` (and admin); see the module docstring.

    The admitted roles are the scopes of the operation's security requirement, so OpenAPI
    documents them (OpenAPI 3.1: "a list of role names which are required")."""
    if not roles:
        raise ValueError("require() needs at least one role")
    check = RoleCheck(roles, loopback=loopback)
    admitted = Security(BEARER, scopes=sorted(check.admitted, key=ROLES.index))

    async def with_header(request: Request,
                          credentials: HTTPAuthorizationCredentials | None = admitted,
                          ) -> Principal | None:
        return check.check(request, credentials)

    async def with_header_or_query(request: Request,
                                   credentials: HTTPAuthorizationCredentials | None = admitted,
                                   token: str | None = QUERY_TOKEN) -> Principal | None:
        return check.check(request, credentials, token)

    return with_header_or_query if query_token else with_header


def operation_roles(operation: Mapping[str, Any]) -> frozenset[str] | None:
    """The roles an OpenAPI operation admits (admin included), or None: no token needed."""
    requirements = operation.get("security")
    if not requirements:
        return None
    return frozenset(role for requirement in requirements
                     for role in requirement.get(BEARER.scheme_name, ()))
