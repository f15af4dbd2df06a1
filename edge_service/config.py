# SPDX-License-Identifier: Apache-2.0
"""Daemon configuration: a TOML file plus ``LIBEDGE_*`` environment overrides, validated at start.

Every error names the key (``mqtt.port: expected an integer from 1 to 65535, got "x"``), and an
unknown key is an error that suggests the nearest known one, so a typo never silently falls back
to a default. Environment variables override file values: ``LIBEDGE_MQTT_HOST=broker`` sets
``mqtt.host``, and an error in such a value names the variable too (``mqtt.port (from
LIBEDGE_MQTT_PORT): ...``); readers are configured in the file only. The file's values must have
their TOML types (``port = 8080``, not ``"8080"``); only the environment's strings are converted.
The reference of every key is docs/configuration.md.

Validation also checks what would otherwise fail only later, with the box half-started: every
file the daemon will read (password, CA, client certificate and key files of the enabled
sections) is a readable regular file, at the path the daemon opens it by (as written: relative
to the working directory); a ``socket://host:port`` reader has a host and a TCP port; no two
readers share a port. A reader's device path is not checked: an unplugged reader is retried.

Not responsible for: acting on the configuration (the daemon does) or watching the file
(SIGHUP makes the daemon load it again, through :func:`load_config` as at start).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "LIBEDGE_"
MODES = ("kiosk", "gate", "staff", "all")
READER_ROLES = ("pad", "gate", "staff")
PROTOCOLS = ("feig", "3m", "trf7970a")
SECURITY_SCHEMES = ("iso", "3m", "eas", "iso+eas")
SYNC_MODES = ("normal", "full")
CIRCULATION_BACKENDS = ("sip2", "mqtt")
SIP2_LINE_ENDINGS = ("CR", "CRLF")
SIP2_PATRON_SECRETS = ("pin", "password", "none")
SET_POLICIES = ("allow", "warn", "refuse")
DATA_MODELS = ("iso28560-2", "iso28560-3")
READER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A reader's ``name``: it goes into URL paths (``/api/v1/gates/{gate}``, ``?kiosk=``), metric
labels and a kiosk token's ``kiosk:PAD`` field, so no blanks, colons or slashes."""
READER_NAME_RULE = "1-64 of A-Z a-z 0-9 _ . -, the first a letter or digit"
HOST_NAME = re.compile(r"(?=.{1,253}$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                       r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?")
"""A DNS host name as a browser sends it in ``Host``: dot-separated labels of 1-63 letters,
digits, ``-`` and ``_``, at most 253 characters, perhaps a final dot (an international name
in its ``xn--`` form)."""
ISIL_PATTERN = re.compile(r"[A-Za-z]{1,4}-[A-Za-z0-9:/-]{1,11}")
"""ISO 15511: a prefix (country code or other), a hyphen, then up to 11 characters."""
ISIL_RULE = "a prefix, a hyphen, then up to 11 characters: DK-718500"
POLL_INTERVAL_MS = {"pad": 300, "gate": 100, "staff": 1000}
"""Default presence inventory period per reader role: a gate must see a walking patron's items
several times in ~200-360 ms (reliability_perf.md 5.4); a pad and a desk pad can be slower."""

MQTT_KEEPALIVE_S = (1, 65535)
"""MQTT 3.1.2.10 / 5 3.1.2.10: Keep Alive is a two-byte integer. 0 (which turns keep-alive off)
is refused: the broker would then never notice a box that vanished without closing its TCP
connection (power cut, cable), and never publish its offline will (docs/mqtt/README.md)."""
MQTT_SESSION_EXPIRY_S = (0, 0xFFFF_FFFF)
"""MQTT 5 3.1.2.11.2: Session Expiry Interval is a four-byte integer; 0 ends the session with
the connection, 0xFFFFFFFF never expires it."""
TCP_PORTS = (1, 65535)

NOT_CONFIG_VARIABLES = frozenset({"LIBEDGE_TEST_FREEZE_FILE"})
"""``LIBEDGE_*`` variables that are not configuration (test hooks documented where read)."""
BOOLEAN_WORDS = {"1": True, "true": True, "yes": True, "on": True,
                 "0": False, "false": False, "no": False, "off": False}
"""What a ``LIBEDGE_*`` variable may say for a boolean (any case)."""


class ConfigError(ValueError):
    """A configuration value that cannot be used; ``key`` is the dotted path, ``variable`` the
    ``LIBEDGE_*`` environment variable the value came from (empty: the file)."""

    def __init__(self, key: str, reason: str, *, variable: str = "") -> None:
        self.key = key
        self.reason = reason
        self.variable = variable
        where = f"{key} (from {variable})" if variable else key
        super().__init__(f"{where}: {reason}" if key else reason)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    tenant: str = "XX-LOCAL"
    site: str = "XX-LOCAL"
    node: str = "edge-1"
    mode: str = "all"


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: str = "libedge.db"
    commit_window_ms: int = 50
    commit_max_batch: int = 256
    synchronous: str = "normal"
    journal_retention_days: int = 90


@dataclass(frozen=True, slots=True)
class MqttConfig:
    enabled: bool = False
    host: str = "localhost"
    port: int = 1883
    protocol: int = 5
    keepalive_s: int = 30
    session_expiry_s: int = 86_400
    username: str = ""
    password_file: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True, slots=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    tokens_file: str = ""
    allowed_hosts: str = ""
    """Comma-separated names a request's ``Host`` may name besides IP addresses, ``localhost``,
    this machine's own name and ``host``: the names browsers reach the box by."""

    def host_names(self) -> tuple[str, ...]:
        return tuple(name for name in (p.strip() for p in self.allowed_hosts.split(","))
                     if name)


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    scheme: str = "iso"


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    name: str = ""
    protocol: str = ""
    port: str = ""
    role: str = "pad"
    baud: int = 0
    poll_interval_ms: int = 0
    """Presence inventory period; 0 takes the role's default (``POLL_INTERVAL_MS``)."""


@dataclass(frozen=True, slots=True)
class CirculationConfig:
    """How the workflows reach the ILS: ``sip2`` (direct) or ``mqtt`` (the catalog gateway)."""

    backend: str = "mqtt"
    reply_timeout_ms: int = 10_000
    sip2_host: str = ""
    sip2_port: int = 6001
    sip2_tls: bool = False
    sip2_ca_file: str = ""
    sip2_profile: str = "generic"
    sip2_institution_id: str = ""
    sip2_location_code: str = ""
    sip2_login_user: str = ""
    sip2_password_file: str = ""
    sip2_charset: str = "utf-8"
    sip2_line_ending: str = "CR"
    sip2_error_detection: bool = True
    sip2_patron_secret: str = "pin"  # noqa: S105 - a mode name, not a secret
    sip2_timeout_ms: int = 10_000
    sip2_offline_no_block: bool = True


def same_isil(one: str | None, other: str | None) -> bool:
    """Whether two owner ISILs name one library: ISO 15511 says nothing of case, so a tag's
    ``dk-718500`` and the cache's ``DK-718500`` are the same; an absent ISIL matches only an
    absent one."""
    return (one or "").upper() == (other or "").upper()


@dataclass(frozen=True, slots=True)
class LibraryConfig:
    """Who "we" are on a tag: the owner ISIL this box writes and the ISILs it treats as its own."""

    isil: str = ""
    """Owner institution written to new tags and expected on circulating ones; empty: any."""
    also_ours: str = ""
    """Comma-separated further ISILs that are ours (branches, a consortium's members)."""
    data_model: str = "iso28560-2"

    def ours(self, owner_institution: str | None) -> bool:
        """Whether an item of ``owner_institution`` is ours. A tag naming no owner is ours:
        3M and many early ISO tags never carried one, and a library's own collection must not
        turn foreign for that; only a tag naming another ISIL is someone else's. ISILs compare
        without regard to case (ISO 15511: unique "without regard to case"; a tag's ``dk-718500``
        is ``DK-718500``)."""
        if not self.own_isils() or not owner_institution:
            return True
        return self.is_own_isil(owner_institution)

    def is_own_isil(self, isil: str) -> bool:
        """Whether ``isil`` is one of ours (``isil``, ``also_ours``), without regard to case."""
        return any(same_isil(isil, own) for own in self.own_isils())

    def own_isils(self) -> frozenset[str]:
        extra = (p.strip() for p in self.also_ours.split(","))
        return frozenset(x for x in (self.isil, *extra) if x)


@dataclass(frozen=True, slots=True)
class SelfCheckConfig:
    """Kiosk policy (docs/configuration.md#selfcheck)."""

    set_policy: str = "refuse"
    """An item whose parts are not all on the pad: ``allow``, ``warn`` (allow, tell the patron),
    ``refuse`` (wait for the missing parts)."""
    set_wait_ms: int = 1500
    """How long an item's parts may take to all appear before the set policy applies."""
    session_timeout_s: int = 90
    """Inactivity that ends a session (the patron walked away)."""
    put_back_attempts: int = 3
    """Security writes tried per item (each after the patron puts it back) before staff."""
    pin_required: bool = True
    """A check-out session needs the patron's PIN with the card, typed or on the pad, and the
    ILS's word that it is right (a card alone, found or left on the pad, must not open an
    account). False only where the library system uses no PINs."""
    offline_checkout: bool = False
    """Check-out while the ILS is unreachable (queued and replayed); off by default."""
    offline_checkin: bool = True
    offline_max_items: int = 5
    """Most items one patron may check out off-line until they are replayed (counted across
    sessions and kiosks)."""
    offline_max_hours: int = 24
    """Off-line check-out stops this long after the ILS was last reachable."""
    offline_card_pattern: str = ""
    """A regular expression a card number must match in full to open an off-line session
    (the ILS cannot check the card then: this refuses a mistyped or another library's card);
    empty: any card."""
    convert_at_checkin: bool = True
    """Returned items whose tags an active migration campaign converts are converted on the
    pad after their check-in (the patron is asked to leave them there meanwhile)."""


@dataclass(frozen=True, slots=True)
class GateConfig:
    """Security gate policy (docs/configuration.md#gate)."""

    foreign: str = "report"
    """A secured tag of another library: ``alarm``, ``report`` (event, no alarm), ``ignore``."""
    unknown: str = "alarm"
    """A secured tag this box cannot name an item for: ``alarm`` or ``report``."""
    grace_s: int = 120
    """Items checked out here within this window never alarm (their tag may be a beat late)."""
    alarm_ms: int = 3000
    """How long the alarm outputs (light, buzzer) stay on."""
    realarm_s: int = 10
    """The same tag alarms again only after this long in the field or after leaving it."""
    barrier_inputs: str = ""
    """Light barriers for people counting and direction: "INSIDE,OUTSIDE", the reader inputs
    (1-8) of the inside and the outside beam, e.g. "1,2"; empty: none (no counts)."""

    def barriers(self) -> tuple[int, int] | None:
        """(inside, outside) inputs, or None; the text was validated with the config."""
        if not self.barrier_inputs.strip():
            return None
        inside, outside = (int(p) for p in self.barrier_inputs.split(","))
        return inside, outside


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "info"


@dataclass(frozen=True, slots=True)
class Config:
    node: NodeConfig = field(default_factory=NodeConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    circulation: CirculationConfig = field(default_factory=CirculationConfig)
    library: LibraryConfig = field(default_factory=LibraryConfig)
    selfcheck: SelfCheckConfig = field(default_factory=SelfCheckConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    readers: tuple[ReaderConfig, ...] = ()


_SECTIONS: dict[str, type[Any]] = {
    "node": NodeConfig, "storage": StorageConfig, "mqtt": MqttConfig, "api": ApiConfig,
    "security": SecurityConfig, "circulation": CirculationConfig, "library": LibraryConfig,
    "selfcheck": SelfCheckConfig, "gate": GateConfig, "logging": LoggingConfig,
}


def _unknown(key: str, known: list[str]) -> ConfigError:
    near = difflib.get_close_matches(key.rsplit(".", 1)[-1], known, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(known)})"
    return ConfigError(key, f"unknown key{hint}")


@dataclass(frozen=True, slots=True)
class _Override:
    """A value from a ``LIBEDGE_*`` variable: text to convert to the key's type."""

    variable: str
    text: str


def _from_environment(key: str, text: str, default: Any) -> Any:
    """``text`` of an environment variable as the type of ``default``."""
    if isinstance(default, bool):
        if text.lower() in BOOLEAN_WORDS:
            return BOOLEAN_WORDS[text.lower()]
        raise ConfigError(key, f"expected true or false, got {text!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(key, f"expected an integer, got {text!r}") from None
    return text


def _from_file(key: str, value: Any, default: Any) -> Any:
    """``value`` of the TOML file, which must already have the type of ``default``: TOML has
    real booleans and integers, so a quoted one is a mistake (and was read inconsistently)."""
    quoted = " (in the file, write it without quotes)" if isinstance(value, str) else ""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(key, f"expected true or false, got {value!r}{quoted}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(key, f"expected an integer, got {value!r}{quoted}")
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {value!r}")
    return value


def _section(name: str, cls: type[Any], values: Mapping[str, Any]) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(name, f"expected a table, got {values!r}")
    defaults = cls()
    known = [f.name for f in fields(cls)]
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise _unknown(f"{name}.{key}", known)
        default = getattr(defaults, key)
        if isinstance(value, _Override):
            out[key] = _from_environment(f"{name}.{key}", value.text, default)
        else:
            out[key] = _from_file(f"{name}.{key}", value, default)
    return cls(**out)


def _check_range(key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigError(key, f"expected an integer from {low} to {high}, got {value}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(key, f"expected one of {', '.join(choices)}, got {value!r}")


def _validate(config: Config) -> None:
    for key in ("tenant", "site", "node"):
        value = getattr(config.node, key)
        if not value or any(c in value for c in "+#/\0 "):
            raise ConfigError(f"node.{key}", f"{value!r} cannot be an MQTT topic segment")
    _check_choice("node.mode", config.node.mode, MODES)
    _check_range("storage.commit_window_ms", config.storage.commit_window_ms, 0, 10_000)
    _check_range("storage.journal_retention_days", config.storage.journal_retention_days, 1,
                 3650)
    _check_range("storage.commit_max_batch", config.storage.commit_max_batch, 1, 100_000)
    _check_choice("storage.synchronous", config.storage.synchronous, SYNC_MODES)
    _check_range("mqtt.port", config.mqtt.port, *TCP_PORTS)
    _check_range("api.port", config.api.port, 0, 65535)
    for name in config.api.host_names():
        if not HOST_NAME.fullmatch(name):
            raise ConfigError("api.allowed_hosts", f"{name!r} is not a host name (like "
                              "kiosk.library.lan: no scheme, port, path or wildcard; an "
                              "international name in its xn-- form)")
    if config.mqtt.protocol not in (5, 311):
        raise ConfigError("mqtt.protocol", f"expected 5 or 311, got {config.mqtt.protocol}")
    _check_range("mqtt.keepalive_s", config.mqtt.keepalive_s, *MQTT_KEEPALIVE_S)
    _check_range("mqtt.session_expiry_s", config.mqtt.session_expiry_s, *MQTT_SESSION_EXPIRY_S)
    if bool(config.mqtt.cert_file) != bool(config.mqtt.key_file):
        raise ConfigError("mqtt.cert_file", "a client certificate needs cert_file and key_file")
    _check_choice("security.scheme", config.security.scheme, SECURITY_SCHEMES)
    _validate_circulation(config.circulation)
    _validate_workflows(config)
    _check_choice("logging.level", config.logging.level, ("trace", "debug", "info", "warning",
                                                         "error"))
    _validate_readers(config.readers)
    _validate_files(config)
    _validate_pin(config)


def _validate_readers(readers: tuple[ReaderConfig, ...]) -> None:
    names: set[str] = set()
    devices: dict[object, str] = {}
    for index, reader in enumerate(readers):
        where = f"readers[{index}]"
        if not reader.name:
            raise ConfigError(f"{where}.name", "every reader needs a name")
        if not READER_NAME.fullmatch(reader.name):
            raise ConfigError(f"{where}.name", f"{reader.name!r}: expected {READER_NAME_RULE}")
        if reader.name in names:
            raise ConfigError(f"{where}.name", f"duplicate reader name {reader.name!r}")
        names.add(reader.name)
        _check_choice(f"{where}.protocol", reader.protocol, PROTOCOLS)
        _check_choice(f"{where}.role", reader.role, READER_ROLES)
        if not reader.port:
            raise ConfigError(f"{where}.port", "give the device path (/dev/serial/by-id/...)")
        device = _device_identity(f"{where}.port", reader.port)
        if device in devices:
            raise ConfigError(f"{where}.port", f"{reader.port!r} is also the port of reader "
                              f"{devices[device]!r}: one port serves one reader")
        devices[device] = reader.name
        _check_range(f"{where}.baud", reader.baud, 0, 4_000_000)
        _check_range(f"{where}.poll_interval_ms", reader.poll_interval_ms, 0, 600_000)


def _socket_address(key: str, port: str) -> tuple[str, int] | None:
    """``(host, tcp_port)`` of a ``socket://host:port`` reader port; None for a device path.

    The rule of firmware_bridge's transport (``firmware_bridge.links.parse_url``), replicated:
    edge_service uses firmware_bridge only through its public package, which does not export
    it; tests/cli/test_config.py holds the two to the same answers. Stricter in one point: port
    0, which the transport would try to connect to, is refused."""
    if "://" not in port:
        return None
    parts = urlsplit(port)
    if parts.scheme != "socket":
        raise ConfigError(key, f"{port!r}: unsupported scheme {parts.scheme!r}, use a device "
                          "path or socket://host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(key, f"{port!r}: a socket:// URL takes only host:port")
    if not parts.hostname:
        raise ConfigError(key, f"{port!r}: socket:// needs a host (socket://host:port)")
    try:
        tcp_port = parts.port
    except ValueError:   # not digits, or beyond 65535
        tcp_port = None
    if tcp_port is None or not TCP_PORTS[0] <= tcp_port <= TCP_PORTS[1]:
        raise ConfigError(key, f"{port!r}: expected a TCP port from {TCP_PORTS[0]} to "
                          f"{TCP_PORTS[1]} after the host (socket://host:port)")
    return parts.hostname, tcp_port


def _device_identity(key: str, port: str) -> object:
    """What two readers must not share: a TCP endpoint (host as written, case aside), or a
    device path, resolved through symlinks when it exists now (``/dev/libedge/feig`` and the
    ``/dev/serial/by-id/...`` link udev points at the same tty are one device)."""
    address = _socket_address(key, port)
    if address is not None:
        return address
    path = Path(port)
    return ("path", str(path.resolve()) if path.exists() else port)


def _validate_files(config: Config) -> None:
    """Every file the daemon will read for an enabled section, checked now rather than when
    that section starts (a missing one would leave the box half-working with health 200)."""
    mqtt, circ = config.mqtt, config.circulation
    named: list[tuple[str, str]] = []
    if mqtt.enabled:
        named.append(("mqtt.password_file", mqtt.password_file))
        if mqtt.tls:
            named += [("mqtt.ca_file", mqtt.ca_file), ("mqtt.cert_file", mqtt.cert_file),
                      ("mqtt.key_file", mqtt.key_file)]
    if circ.backend == "sip2":
        named.append(("circulation.sip2_password_file", circ.sip2_password_file))
        if circ.sip2_tls:
            named.append(("circulation.sip2_ca_file", circ.sip2_ca_file))
    for key, path in named:
        if path:
            _check_readable_file(key, path)


def _check_readable_file(key: str, path: str) -> None:
    """``path`` as the daemon opens it (as written, so relative to the working directory) is a
    regular file this process can read; opened to know, as permissions and ACLs decide."""
    file = Path(path)
    try:
        if not stat.S_ISREG(file.stat().st_mode):
            raise ConfigError(key, f"{path} is not a regular file")
        with file.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror}") from None


def _validate_pin(config: Config) -> None:
    circ = config.circulation
    if (config.selfcheck.pin_required and circ.backend == "sip2"
            and circ.sip2_patron_secret == "none"):  # noqa: S105 - a mode name
        raise ConfigError("selfcheck.pin_required", "circulation.sip2_patron_secret = 'none' "
                          "sends no PIN to the ILS, so nobody would check the one the kiosk "
                          "asks for: set pin_required = false (the ILS uses no PINs), or the "
                          "secret the ILS checks")


def _validate_circulation(circ: CirculationConfig) -> None:
    _check_choice("circulation.backend", circ.backend, CIRCULATION_BACKENDS)
    _check_range("circulation.reply_timeout_ms", circ.reply_timeout_ms, 100, 600_000)
    _check_range("circulation.sip2_port", circ.sip2_port, 1, 65535)
    _check_range("circulation.sip2_timeout_ms", circ.sip2_timeout_ms, 100, 600_000)
    _check_sip2_charset("circulation.sip2_charset", circ.sip2_charset)
    _check_choice("circulation.sip2_line_ending", circ.sip2_line_ending, SIP2_LINE_ENDINGS)
    _check_choice("circulation.sip2_patron_secret", circ.sip2_patron_secret,
                  SIP2_PATRON_SECRETS)
    if circ.backend == "sip2":
        for key in ("sip2_host", "sip2_institution_id"):
            if not getattr(circ, key):
                raise ConfigError(f"circulation.{key}", "is required when backend is sip2")


def _check_sip2_charset(key: str, charset: str) -> None:
    """A charset the SIP2 codec can use (``protocols.sip2.charset_problem``, the rule
    ``edge_service.ils.Sip2Profile`` applies too)."""
    from protocols.sip2 import charset_problem  # noqa: PLC0415 - only when a config is loaded

    if (problem := charset_problem(charset)) is not None:
        raise ConfigError(key, f"{problem} (like utf-8, latin-1, cp1252)")


def _validate_workflows(config: Config) -> None:
    lib, kiosk, gate = config.library, config.selfcheck, config.gate
    for key, raw in (("library.isil", lib.isil), *(("library.also_ours", v)
                                                  for v in lib.also_ours.split(",") if v)):
        value = raw.strip()
        if value and not ISIL_PATTERN.fullmatch(value):
            raise ConfigError(key, f"{value!r} is not an ISIL ({ISIL_RULE})")
    _check_choice("library.data_model", lib.data_model, DATA_MODELS)
    _check_choice("selfcheck.set_policy", kiosk.set_policy, SET_POLICIES)
    _check_range("selfcheck.set_wait_ms", kiosk.set_wait_ms, 0, 60_000)
    _check_range("selfcheck.session_timeout_s", kiosk.session_timeout_s, 10, 3600)
    _check_range("selfcheck.put_back_attempts", kiosk.put_back_attempts, 1, 10)
    _check_range("selfcheck.offline_max_items", kiosk.offline_max_items, 0, 1000)
    _check_range("selfcheck.offline_max_hours", kiosk.offline_max_hours, 0, 24 * 30)
    if kiosk.offline_card_pattern:
        try:
            re.compile(kiosk.offline_card_pattern)
        except re.error as exc:
            raise ConfigError("selfcheck.offline_card_pattern",
                              f"not a regular expression: {exc}") from exc
    _check_choice("gate.foreign", gate.foreign, ("alarm", "report", "ignore"))
    _check_choice("gate.unknown", gate.unknown, ("alarm", "report"))
    _check_range("gate.grace_s", gate.grace_s, 0, 86_400)
    _check_range("gate.alarm_ms", gate.alarm_ms, 100, 60_000)
    _check_range("gate.realarm_s", gate.realarm_s, 1, 3600)
    if gate.barrier_inputs.strip():
        parts = [p.strip() for p in gate.barrier_inputs.split(",")]
        if len(parts) != 2 or not all(p.isdigit() and 1 <= int(p) <= 8 for p in parts) \
                or parts[0] == parts[1]:
            raise ConfigError("gate.barrier_inputs", "expected two different reader inputs "
                              f"1-8, inside then outside (like \"1,2\"), got "
                              f"{gate.barrier_inputs!r}")


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, _Override]]:
    out: dict[str, dict[str, _Override]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_CONFIG_VARIABLES:
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section, _, key = rest.partition("_")
        if section not in _SECTIONS or not key:
            known = ", ".join(_SECTIONS)
            raise ConfigError(name, f"not a configuration variable (sections: {known})")
        out.setdefault(section, {})[key] = _Override(name, value)
    return out


def parse_config(document: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """A validated :class:`Config` from a parsed TOML document and environment overrides."""
    sections: dict[str, dict[str, Any]] = {}
    for name, values in document.items():
        if name == "readers":
            continue
        if name not in _SECTIONS:
            raise _unknown(name, [*_SECTIONS, "readers"])
        if not isinstance(values, Mapping):
            raise ConfigError(name, f"expected a table, got {values!r}")
        sections[name] = dict(values)
    overrides = _env_overrides(environ if environ is not None else {})
    for name, values in overrides.items():
        sections.setdefault(name, {}).update(values)
    try:
        return _build(sections, document)
    except ConfigError as exc:
        # Whatever the check (type, unknown key, range), a value from the environment is
        # looked for in the file unless the error names its variable.
        variable = {f"{name}.{key}": o.variable
                    for name, keys in overrides.items() for key, o in keys.items()}.get(exc.key)
        if variable is None:
            raise
        raise ConfigError(exc.key, exc.reason, variable=variable) from None


def _build(sections: Mapping[str, Mapping[str, Any]], document: Mapping[str, Any]) -> Config:
    built = {name: _section(name, _SECTIONS[name], values) for name, values in sections.items()}
    readers_doc = document.get("readers", [])
    if not isinstance(readers_doc, list):
        raise ConfigError("readers", "expected an array of tables ([[readers]])")
    readers = tuple(_section(f"readers[{i}]", ReaderConfig, r) for i, r in enumerate(readers_doc))
    config = Config(**built, readers=readers)
    _validate(config)
    return config


def poll_interval_s(reader: ReaderConfig) -> float:
    """The reader's presence inventory period in seconds (its role's default when 0)."""
    return (reader.poll_interval_ms or POLL_INTERVAL_MS[reader.role]) / 1000


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read, parse and validate ``path`` with ``environ`` (default: this process's) overrides."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read {path}: {exc.strerror}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path} is not valid TOML: {exc}") from None
    return parse_config(document, os.environ if environ is None else environ)
