# SPDX-License-Identifier: Apache-2.0
"""Per-ILS SIP2 quirk profiles: everything that differs between ILSs is configuration.

SIP2 is "sorta standard" (landscape.md §C.4): the line ending, the charset the checksum is
computed in, whether AY/AZ error detection is on (it must match the server's setting), what the
patron password field AD means (PIN or account password, FOLIO SIP2-89), which messages carry
it, which fields an ILS fills in and which it fills with noise. :class:`Sip2Profile` holds those
choices; :meth:`Sip2Profile.from_mapping` builds one from a TOML/JSON table with errors that
name the key.

Keys of the table (all optional except ``host``, ``port`` and ``institution_id``)::

    host, port, name, charset ("utf-8" | "latin-1" | ...), line_ending ("CR" | "CRLF"),
    error_detection (bool), require_checksum (bool), login_user, login_password, location_code,
    institution_id, terminal_password, patron_secret ("pin" | "password" | "none"),
    secret_in (list of message ids that carry AD), expect_fields ({response id: [codes]}),
    ignore_fields ([codes]), language, timeout_s, connect_timeout_s, resend_limit,
    heartbeat_s (0 = off), backoff_initial_s, backoff_max_s

Not responsible for: TLS material (the caller passes an ``ssl.SSLContext``) or secrets storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from edge_service.ils.errors import IlsConfigError
from protocols.sip2 import charset_problem

# The 3M spec leaves timing to the ACS's 98 "timeout period"; 10 s covers a busy Koha/FOLIO.
RESPONSE_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
# "retries allowed" in 98 is typically 3; two resends after the first try stay under it.
RESEND_LIMIT = 2
# Koha drops idle clients after client_timeout (600 s in its sample); clients poll every 5-7 min.
HEARTBEAT_S = 300.0
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 60.0

_LINE_ENDINGS = MappingProxyType({"CR": "\r", "CRLF": "\r\n"})


class PatronSecret(StrEnum):
    """What the ILS checks in AD: a PIN, the account password, or nothing (AD sent empty)."""

    PIN = "pin"
    PASSWORD = "password"  # noqa: S105 - the name of a mode, not a secret
    NONE = "none"


@dataclass(frozen=True)
class Sip2Profile:
    """How to talk SIP2 to one ILS. Immutable; build variants with ``dataclasses.replace``."""

    host: str = "127.0.0.1"
    port: int = 6001
    name: str = "generic"
    charset: str = "utf-8"
    line_ending: str = "\r"
    error_detection: bool = True
    require_checksum: bool = False
    login_user: str | None = None
    login_password: str = field(default="", repr=False)
    location_code: str | None = None
    institution_id: str = ""
    terminal_password: str = field(default="", repr=False)
    patron_secret: PatronSecret = PatronSecret.PIN
    secret_in: frozenset[str] = frozenset({"23", "63", "11", "29", "35"})
    expect_fields: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType({}))
    ignore_fields: frozenset[str] = frozenset()
    language: str = "000"
    timeout_s: float = RESPONSE_TIMEOUT_S
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    resend_limit: int = RESEND_LIMIT
    heartbeat_s: float = HEARTBEAT_S
    backoff_initial_s: float = BACKOFF_INITIAL_S
    backoff_max_s: float = BACKOFF_MAX_S

    def __post_init__(self) -> None:
        if (problem := charset_problem(self.charset)) is not None:
            raise IlsConfigError(f"profile key charset: {problem}")
        if self.line_ending not in _LINE_ENDINGS.values():
            raise IlsConfigError("profile key line_ending: CR or CRLF")
        if not 0 < self.port < 65536:
            raise IlsConfigError("profile key port: 1-65535")
        if self.resend_limit < 0:
            raise IlsConfigError("profile key resend_limit: >= 0")
        for key in ("timeout_s", "connect_timeout_s", "backoff_initial_s", "backoff_max_s"):
            if getattr(self, key) <= 0:
                raise IlsConfigError(f"profile key {key}: must be > 0")
        if self.heartbeat_s < 0:
            raise IlsConfigError("profile key heartbeat_s: >= 0 (0 = off)")

    def sends_secret(self, message_id: str) -> bool:
        return self.patron_secret is not PatronSecret.NONE and message_id in self.secret_in

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Sip2Profile:
        """Build from a configuration table; unknown keys and wrong types are named."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise IlsConfigError(f"profile: unknown keys {unknown}")
        values: dict[str, Any] = {}
        for key, value in table.items():
            values[key] = _convert(key, value)
        return cls(**values)


def _convert(key: str, value: Any) -> Any:
    def want(kind: type | tuple[type, ...], what: str) -> None:
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise IlsConfigError(f"profile key {key}: expected {what}")

    if key == "line_ending":
        if value not in _LINE_ENDINGS:
            raise IlsConfigError("profile key line_ending: 'CR' or 'CRLF'")
        return _LINE_ENDINGS[value]
    if key == "patron_secret":
        try:
            return PatronSecret(value)
        except ValueError:
            raise IlsConfigError("profile key patron_secret: pin, password or none") from None
    if key in ("secret_in", "ignore_fields"):
        want((list, tuple), "a list of strings")
        return frozenset(str(v) for v in value)
    if key == "expect_fields":
        want(dict, "a table {response id: [codes]}")
        return MappingProxyType({str(k): frozenset(map(str, v)) for k, v in value.items()})
    if key in ("error_detection", "require_checksum"):
        want(bool, "true or false")
    elif key in ("port", "resend_limit"):
        want(int, "an integer")
    elif key.endswith("_s"):
        want((int, float), "a number of seconds")
        return float(value)
    else:
        want(str, "a string")
    return value
