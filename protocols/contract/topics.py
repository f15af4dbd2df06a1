# SPDX-License-Identifier: Apache-2.0
"""Topics of the LibEdge v1 MQTT contract: build, parse, and the broker ACL that follows.

Every topic starts ``lib/v1/{tenant}/{site}``. A node (one daemon, one MQTT client) owns the
prefix ``lib/v1/{tenant}/{site}/{node}``; its devices (reader, gate, printer, pad) are
sub-entities under ``dev/{device}``. The table :data:`CHANNELS` is the contract; every function
here (builders, :func:`parse_topic`, the ACL) is derived from it:

    kind            topic (after lib/v1/{tenant}/{site})   dir   QoS  retain
    STATUS          {node}/status                          up    1    yes   birth; will = offline
    META            {node}/meta                            up    1    yes
    DEVICE_STATE    {node}/dev/{device}/state              up    1    yes
    TWIN_DESIRED    {node}/twin/desired                    down  1    yes
    TWIN_REPORTED   {node}/twin/reported                   up    1    yes
    EVENT           {node}/evt/{event_kind}                up    1    no    from the outbox
    COMMAND         {node}/cmd/{command}                   down  1    no    expires
    RESPONSE        {node}/res                             up    1    no
    REQUEST         {node}/req/{request}                   up    1    no    expires; to the gateway
    REPLY           {node}/rsp                             down  1    no    the gateway's answer
    ITEMS_DELTA     items/delta                            down  1    no    per-site seq
    ITEMS_SNAPSHOT  items/snapshot/{page}                  down  1    no
    CENTRAL_STATUS  lib/v1/{tenant}/central/status         down  1    yes   (no site)
    GATEWAY_STATUS  lib/v1/{tenant}/central/gateway/{instance}/status
                                                           down  1    yes   birth; will = offline

Segments:

- ``tenant``, ``site``, ``node``, ``device`` are ids: 1-64 characters from ``A-Z a-z 0-9 . _ :
  -``, the first a letter or digit (ISILs such as ``DK-718500`` fit; an ISIL with ``/`` must be
  given an id without it). Ids are case-sensitive, as MQTT topics are. ``+``, ``#``, ``/``,
  NUL, spaces and every other character are refused, so an id can never widen a subscription
  or an ACL. Reserved: node ids ``items`` and ``central`` (site downlink and central host) and
  site id ``central``.
- ``event_kind`` is one of :data:`EVENT_KINDS`; an unknown kind is outside the contract.
- ``command`` is a lowercase dotted name, 1-64 characters (``sync.items``, ``door.unlock``):
  ``[a-z][a-z0-9_-]*`` words joined by ``.``. The set of commands is open; a node answers a
  command it does not know with an error response (``unknown_command``).
- ``request`` is a circulation request name (``circ.checkout``), the same rule as ``command``;
  the set is open and the gateway answers one it does not know with ``unknown_request``. The
  gateway reads every node's requests with one shared subscription
  (:func:`gateway_request_filter`), so several gateway instances share the work.
- ``page`` is a snapshot page number 1..99999 in decimal without leading zeros.
- ``instance`` is a catalog gateway instance's id (an id, as above). Each instance keeps its own
  retained status, since several share the requests: a node takes the gateway for down only
  when every instance that left a status says offline.

Not responsible for: payloads (:mod:`protocols.contract.messages`), MQTT sessions and
properties (the daemon's client).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from protocols.contract.errors import ContractError

PREFIX = "lib/v1"
MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 64
MAX_SNAPSHOT_PAGES = 99_999
MAX_TOPIC_LENGTH = 512
ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"
NAME_PATTERN = "[a-z][a-z0-9_-]*(?:[.][a-z][a-z0-9_-]*)*"
PAGE_PATTERN = "[1-9][0-9]{0,4}"
RESERVED_NODE_IDS = frozenset({"items", "central"})
RESERVED_SITE_IDS = frozenset({"central"})
# lib/v1/{tenant}/{site}/{node} as one pattern, reserved ids excluded by lookahead (ECMA-262
# and Python alike; the JSON Schema files use it for an event's source and a reply topic).
NODE_PREFIX_PATTERN = (
    f"lib/v1/{ID_PATTERN}/(?!central(?:/|$)){ID_PATTERN}/(?!(?:items|central)(?:/|$)){ID_PATTERN}"
)
RESPONSE_TOPIC_PATTERN = NODE_PREFIX_PATTERN + "/res"
EVENT_KINDS = (
    "circ", "security", "gate.alarm", "gate.count", "tag.write", "inventory", "exception",
    "contract", "acq", "ill", "campaign",
)

_ID = re.compile(ID_PATTERN)
_NAME = re.compile(NAME_PATTERN)
_PAGE = re.compile(PAGE_PATTERN)
_FORBIDDEN = (("+", "'+'"), ("#", "'#'"), ("/", "'/'"), ("\0", "NUL"))

Direction = Literal["up", "down"]
Access = Literal["read", "write"]


class TopicKind(StrEnum):
    STATUS = "status"
    META = "meta"
    DEVICE_STATE = "device_state"
    TWIN_DESIRED = "twin_desired"
    TWIN_REPORTED = "twin_reported"
    EVENT = "event"
    COMMAND = "command"
    RESPONSE = "response"
    REQUEST = "request"
    REPLY = "reply"
    ITEMS_DELTA = "items_delta"
    ITEMS_SNAPSHOT = "items_snapshot"
    CENTRAL_STATUS = "central_status"
    GATEWAY_STATUS = "gateway_status"


@dataclass(frozen=True)
class Channel:
    """One row of the contract: where a message goes and how it is published."""

    kind: TopicKind
    template: str
    direction: Direction   # up = node -> central, down = central -> node(s)
    qos: int
    retain: bool

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.template.split("/"))

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(s[1:-1] for s in self.segments if s.startswith("{"))


_NODE = PREFIX + "/{tenant}/{site}/{node}"
CHANNELS: dict[TopicKind, Channel] = {c.kind: c for c in (
    Channel(TopicKind.STATUS, _NODE + "/status", "up", 1, True),
    Channel(TopicKind.META, _NODE + "/meta", "up", 1, True),
    Channel(TopicKind.DEVICE_STATE, _NODE + "/dev/{device}/state", "up", 1, True),
    Channel(TopicKind.TWIN_DESIRED, _NODE + "/twin/desired", "down", 1, True),
    Channel(TopicKind.TWIN_REPORTED, _NODE + "/twin/reported", "up", 1, True),
    Channel(TopicKind.EVENT, _NODE + "/evt/{event_kind}", "up", 1, False),
    Channel(TopicKind.COMMAND, _NODE + "/cmd/{command}", "down", 1, False),
    Channel(TopicKind.RESPONSE, _NODE + "/res", "up", 1, False),
    Channel(TopicKind.REQUEST, _NODE + "/req/{request}", "up", 1, False),
    Channel(TopicKind.REPLY, _NODE + "/rsp", "down", 1, False),
    Channel(TopicKind.ITEMS_DELTA, PREFIX + "/{tenant}/{site}/items/delta", "down", 1, False),
    Channel(TopicKind.ITEMS_SNAPSHOT, PREFIX + "/{tenant}/{site}/items/snapshot/{page}",
            "down", 1, False),
    Channel(TopicKind.CENTRAL_STATUS, PREFIX + "/{tenant}/central/status", "down", 1, True),
    Channel(TopicKind.GATEWAY_STATUS, PREFIX + "/{tenant}/central/gateway/{instance}/status",
            "down", 1, True),
)}


def _check_segment(value: object, what: str, regex: re.Pattern[str], max_length: int,
                   rule: str) -> str:
    if not isinstance(value, str):
        raise ContractError(f"must be a string, not {type(value).__name__}", field=what)
    if not value:
        raise ContractError("is empty", field=what)
    for char, name in _FORBIDDEN:
        if char in value:
            raise ContractError(f"{value!r} contains {name}", field=what)
    if len(value) > max_length:
        raise ContractError(f"is {len(value)} characters, over {max_length}", field=what)
    if not regex.fullmatch(value):
        raise ContractError(f"{value!r} {rule}", field=what)
    return value


def check_id(value: object, what: str) -> str:
    """``value`` if it is a valid id for segment ``what``; else ContractError naming it."""
    _check_segment(value, what, _ID, MAX_ID_LENGTH,
                   "has characters outside A-Z a-z 0-9 . _ : - "
                   "or does not start with a letter or digit")
    reserved = RESERVED_NODE_IDS if what == "node" else RESERVED_SITE_IDS if what == "site" else ()
    if value in reserved:
        raise ContractError(f"{value!r} is reserved", field=what)
    return str(value)


def check_name(value: object, what: str) -> str:
    """``value`` if it is a valid lowercase dotted name (command names)."""
    return _check_segment(value, what, _NAME, MAX_NAME_LENGTH,
                          "is not lowercase words of a-z 0-9 _ - joined by '.'")


def _check_event_kind(value: object, what: str) -> str:
    if value not in EVENT_KINDS:
        raise ContractError(
            f"{value!r} is not an event kind of v1 ({', '.join(EVENT_KINDS)})", field=what)
    return str(value)


def _check_page(value: object, what: str) -> int:
    if isinstance(value, str):
        if not _PAGE.fullmatch(value):
            raise ContractError(
                f"{value!r} is not a page number 1..{MAX_SNAPSHOT_PAGES}", field=what)
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 1 <= value <= MAX_SNAPSHOT_PAGES:
        raise ContractError(f"{value!r} is not a page number 1..{MAX_SNAPSHOT_PAGES}", field=what)
    return value


_CHECKS = {"tenant": check_id, "site": check_id, "node": check_id, "device": check_id,
           "event_kind": _check_event_kind, "command": check_name, "request": check_name,
           "instance": check_id}
_PLACEHOLDERS = ("tenant", "site", "node", "device", "event_kind", "command", "request", "page",
                 "instance")


@dataclass(frozen=True)
class Topic:
    """A parsed topic: which channel, and the value of each of its placeholders (others None)."""

    kind: TopicKind
    tenant: str
    site: str | None = None
    node: str | None = None
    device: str | None = None
    event_kind: str | None = None
    command: str | None = None
    page: int | None = None
    request: str | None = None
    instance: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CHANNELS:
            raise ContractError(f"{self.kind!r} is not a topic kind", field="kind")
        kind = TopicKind(self.kind)
        wanted = CHANNELS[kind].placeholders
        for name in _PLACEHOLDERS:
            value = getattr(self, name)
            if name not in wanted:
                if value is not None:
                    raise ContractError(f"a {kind} topic has no {name}", field=name)
            elif name == "page":
                _check_page(value, name)
            else:
                _CHECKS[name](value, name)

    @property
    def channel(self) -> Channel:
        return CHANNELS[self.kind]

    def __str__(self) -> str:
        return self.channel.template.format(
            **{name: getattr(self, name) for name in self.channel.placeholders})


def parse_topic(topic: str) -> Topic:
    """The :class:`Topic` for ``topic``, or ContractError for anything outside the contract."""
    if not isinstance(topic, str):
        raise ContractError(f"topic must be a string, not {type(topic).__name__}", field="topic")
    if len(topic) > MAX_TOPIC_LENGTH:
        raise ContractError(f"topic is {len(topic)} characters, over {MAX_TOPIC_LENGTH}",
                            field="topic")
    segments = topic.split("/")
    if segments[:1] != ["lib"] or len(segments) < 2:
        raise ContractError(f"{topic!r} does not start with {PREFIX}/", field="topic")
    if segments[1] != "v1":
        raise ContractError(f"{topic!r} is not contract v1", field="topic")
    refused: ContractError | None = None
    for channel in CHANNELS.values():
        pattern = channel.segments
        if len(pattern) != len(segments) or any(
                not p.startswith("{") and p != s for p, s in zip(pattern, segments, strict=True)):
            continue
        values = {p[1:-1]: s for p, s in zip(pattern, segments, strict=True) if p.startswith("{")}
        page = values.pop("page", None)
        try:
            return Topic(channel.kind, page=None if page is None else _check_page(page, "page"),
                         **values)
        except ContractError as exc:
            # A gateway instance called "evt" has the shape of an event topic of site
            # "central" (reserved): try the other channels before refusing.
            refused = refused or exc
    if refused is not None:
        raise refused
    raise ContractError(f"{topic!r} is not a topic of contract v1", field="topic")


# --- builders ------------------------------------------------------------------------------

def node_prefix(tenant: str, site: str, node: str) -> str:
    """``lib/v1/{tenant}/{site}/{node}``: a node's own prefix, and its events' ``source``."""
    ids = check_id(tenant, "tenant"), check_id(site, "site"), check_id(node, "node")
    return "/".join((PREFIX, *ids))


def parse_source(source: str) -> tuple[str, str, str]:
    """(tenant, site, node) of a node prefix such as an event's ``source``."""
    segments = source.split("/") if isinstance(source, str) else []
    if len(segments) != 5 or segments[:2] != ["lib", "v1"]:
        raise ContractError(f"{source!r} is not a node prefix lib/v1/tenant/site/node",
                            field="source")
    tenant, site, node = segments[2:]
    try:
        return check_id(tenant, "tenant"), check_id(site, "site"), check_id(node, "node")
    except ContractError as exc:
        raise exc.within("source") from None


def status_topic(tenant: str, site: str, node: str) -> str:
    return str(Topic(TopicKind.STATUS, tenant, site, node))


def meta_topic(tenant: str, site: str, node: str) -> str:
    return str(Topic(TopicKind.META, tenant, site, node))


def device_state_topic(tenant: str, site: str, node: str, device: str) -> str:
    return str(Topic(TopicKind.DEVICE_STATE, tenant, site, node, device=device))


def twin_desired_topic(tenant: str, site: str, node: str) -> str:
    return str(Topic(TopicKind.TWIN_DESIRED, tenant, site, node))


def twin_reported_topic(tenant: str, site: str, node: str) -> str:
    return str(Topic(TopicKind.TWIN_REPORTED, tenant, site, node))


def event_topic(tenant: str, site: str, node: str, event_kind: str) -> str:
    return str(Topic(TopicKind.EVENT, tenant, site, node, event_kind=event_kind))


def command_topic(tenant: str, site: str, node: str, command: str) -> str:
    return str(Topic(TopicKind.COMMAND, tenant, site, node, command=command))


def response_topic(tenant: str, site: str, node: str) -> str:
    return str(Topic(TopicKind.RESPONSE, tenant, site, node))


def request_topic(tenant: str, site: str, node: str, request: str) -> str:
    """``{node}/req/{request}``: a node's circulation request to the catalog gateway."""
    return str(Topic(TopicKind.REQUEST, tenant, site, node, request=request))


def reply_topic(tenant: str, site: str, node: str) -> str:
    """``{node}/rsp``: where the gateway answers the node's requests."""
    return str(Topic(TopicKind.REPLY, tenant, site, node))


def gateway_request_filter(tenant: str, *, group: str = "gateway") -> str:
    """The shared subscription every gateway instance of ``tenant`` makes:
    ``$share/{group}/lib/v1/{tenant}/+/+/req/+``; the broker hands each request to one of them
    (MQTT 5 section 4.8.2, supported by Mosquitto 2 under 3.1.1 as well)."""
    check_id(tenant, "tenant")
    check_id(group, "group")
    return f"$share/{group}/" + _pattern(CHANNELS[TopicKind.REQUEST], tenant=tenant)


def items_delta_topic(tenant: str, site: str) -> str:
    return str(Topic(TopicKind.ITEMS_DELTA, tenant, site))


def items_snapshot_topic(tenant: str, site: str, page: int) -> str:
    return str(Topic(TopicKind.ITEMS_SNAPSHOT, tenant, site, page=page))


def central_status_topic(tenant: str) -> str:
    return str(Topic(TopicKind.CENTRAL_STATUS, tenant))


def gateway_status_topic(tenant: str, instance: str) -> str:
    """``lib/v1/{tenant}/central/gateway/{instance}/status``: one gateway instance's retained
    birth and will."""
    return str(Topic(TopicKind.GATEWAY_STATUS, tenant, instance=instance))


def gateway_status_filter(tenant: str) -> str:
    """Every gateway instance's status, as a node subscribes to it."""
    check_id(tenant, "tenant")
    return _pattern(CHANNELS[TopicKind.GATEWAY_STATUS], tenant=tenant)


# --- broker ACL ------------------------------------------------------------------------------

def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` this level and below; MQTT 3.1.1
    section 4.7), including the rule that wildcards at the first level never match ``$...``."""
    filter_levels = topic_filter.split("/")
    levels = topic.split("/")
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):
        return False
    for index, want in enumerate(filter_levels):
        if want == "#":
            return True
        if index >= len(levels) or (want != "+" and want != levels[index]):
            return False
    return len(levels) == len(filter_levels)


def _pattern(channel: Channel, **known: str) -> str:
    return channel.template.format(**{
        name: known.get(name, "+") for name in channel.placeholders})


def acl_patterns(tenant: str, site: str, node: str) -> list[tuple[Access, str]]:
    """What one node may do: write each of its own uplink topics; read its own commands and
    desired twin, its site's downlink, the central status and the gateway instances'. Nothing
    else."""
    node_prefix(tenant, site, node)   # validates the three ids
    ids = {"tenant": tenant, "site": site, "node": node}
    writes: list[tuple[Access, str]] = []
    reads: list[tuple[Access, str]] = []
    for channel in CHANNELS.values():
        if channel.direction == "up":
            writes.append(("write", _pattern(channel, **ids)))
        else:
            reads.append(("read", _pattern(channel, **ids)))
    return writes + reads


def central_acl_patterns(tenant: str) -> list[tuple[Access, str]]:
    """What the central host (catalog gateway, consumers) may do within one tenant: read every
    uplink topic, write every downlink topic."""
    check_id(tenant, "tenant")
    return [("read" if c.direction == "up" else "write", _pattern(c, tenant=tenant))
            for c in CHANNELS.values()]


_USERNAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,256}")


def render_mosquitto_acl(tenant: str, site: str, node: str, *, username: str) -> str:
    """A mosquitto ``acl_file`` block for one node's ``username`` (the MQTT username, or the
    certificate CN with ``use_identity_as_username``). Whitespace and control characters in
    the username are refused: a newline would inject ACL lines."""
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise ContractError("must be 1-256 characters without whitespace or control characters",
                            field="username")
    lines = [f"# LibEdge node {tenant}/{site}/{node}: MQTT contract v1",
             f"user {username}"]
    lines += [f"topic {access} {pattern}" for access, pattern in acl_patterns(tenant, site, node)]
    return "\n".join(lines) + "\n"
