# SPDX-License-Identifier: Apache-2.0
"""Scenario files: which tags are in the field, and what happens to them over time.

The simplest scenario lists tags; UIDs are written E0-first as readers print them, memory is
hex from block 0 (shorter than the tag is padded with 00), everything else optional:

    {"tags": [{"uid": "E004015012345678", "memory": "11223344", "afi": "07", "eas": true,
               "dsfid": "00", "type": "slix2", "coupling": 1.0, "locked": [0, 1]}],
     "events": [{"at": 1.5, "add": {"uid": "E0040150AABBCCDD"}},
                {"at": 2.0, "coupling": {"uid": "E004015012345678", "value": 0.3}},
                {"at": 3.0, "remove": "E004015012345678"},
                {"at": 0, "fault": {"kind": "air_crc_error", "uid": "E004015012345678",
                                    "count": 1, "until": 5.0, "command": "21",
                                    "after_blocks": 2, "block": 3}}]}

``type`` is a key of ``tag.FAMILY_BY_KEY``; without it the UID's manufacturer picks one.
Every validation error is a :class:`ScenarioError` naming the JSON path, e.g.
``tags[2].memory: odd number of hex digits``.

Not responsible for: running the scenario (``Scenario.field()`` hands it to :class:`RfField`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.errors import FrameError
from protocols.iso15693 import Uid

from .faults import Fault, FaultKind
from .field import AddTag, Event, InjectFault, RemoveTag, RfField, SetCoupling
from .tag import DEFAULT_FAMILY_BY_MANUFACTURER, FAMILY_BY_KEY, TagFamily, TagSpec

_TOP_KEYS = frozenset({"tags", "events", "reader_faults", "description"})
_READER_FAULT_KEYS = frozenset({"kind", "at", "count", "duration"})
READER_FAULT_KINDS = ("garbage", "truncate", "silence", "late", "reboot", "vanish")
_TAG_KEYS = frozenset({"uid", "type", "memory", "afi", "dsfid", "eas", "coupling", "locked"})
_FAULT_KEYS = frozenset({"kind", "uid", "count", "until", "command", "after_blocks", "block"})
_EVENT_ACTIONS = ("add", "remove", "coupling", "fault")


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; ``path`` is where in the JSON (``tags[2].memory``)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


@dataclass(frozen=True, slots=True)
class ReaderFault:
    """A fault of the reader or its cable, not of the air (reader_protocols.md §4, last rows).

    ``garbage``: random bytes before the next ``count`` replies; ``truncate``: the next
    ``count`` replies cut short; ``silence``: the next ``count`` requests unanswered;
    ``late``: the next ``count`` replies come ``duration`` s later than the reader would send
    them (a busy reader, or a host timeout computed too short);
    ``reboot``: the reader restarts (RF off, state reset) and is deaf for ``duration`` s;
    ``vanish``: the device node disappears for ``duration`` s, then comes back.
    """

    kind: str
    at: float
    count: int = 1
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class Scenario:
    tags: tuple[TagSpec, ...]
    events: tuple[Event, ...]
    reader_faults: tuple[ReaderFault, ...] = ()

    def field(self, *, seed: int = 0) -> RfField:
        """A fresh field with these tags at time 0 and the events scheduled."""
        return RfField.with_tags(
            (spec.build() for spec in self.tags), events=self.events, seed=seed
        )


def load_scenario(source: str | os.PathLike[str] | Mapping[str, Any]) -> Scenario:
    """A scenario from a JSON file path or an already parsed mapping."""
    if isinstance(source, Mapping):
        document: object = source
    else:
        try:
            document = json.loads(Path(source).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ScenarioError("", f"{source}: not JSON ({exc})") from None
    return _scenario(document)


def _scenario(document: object) -> Scenario:
    top = _object(document, "")
    _no_unknown(top, _TOP_KEYS, "")
    tags = tuple(
        _tag(item, f"tags[{index}]")
        for index, item in enumerate(_list(top.get("tags", []), "tags"))
    )
    seen: dict[Uid, str] = {}
    for index, spec in enumerate(tags):
        if spec.uid in seen:
            raise ScenarioError(f"tags[{index}].uid", f"duplicate of {seen[spec.uid]}")
        seen[spec.uid] = f"tags[{index}]"
    events = [
        _event(item, f"events[{index}]")
        for index, item in enumerate(_list(top.get("events", []), "events"))
    ]
    known = set(seen) | {event.tag.uid for event in events if isinstance(event, AddTag)}
    for index, event in enumerate(events):
        uid = event.uid if isinstance(event, RemoveTag | SetCoupling) else None
        if uid is not None and uid not in known:
            raise ScenarioError(f"events[{index}]", f"no tag {uid} in the scenario")
    reader_faults = tuple(
        _reader_fault(item, f"reader_faults[{index}]")
        for index, item in enumerate(_list(top.get("reader_faults", []), "reader_faults"))
    )
    # Stable sort: events at the same time apply in file order.
    return Scenario(
        tags,
        tuple(sorted(events, key=lambda event: event.at)),
        tuple(sorted(reader_faults, key=lambda fault: fault.at)),
    )


def _reader_fault(value: object, path: str) -> ReaderFault:
    item = _object(value, path)
    _no_unknown(item, _READER_FAULT_KEYS, path)
    kind = item.get("kind")
    if kind not in READER_FAULT_KINDS:
        raise ScenarioError(_join(path, "kind"), f"{kind!r} is not one of {READER_FAULT_KINDS}")
    return ReaderFault(
        kind=str(kind),
        at=_number(item.get("at", 0), _join(path, "at"), low=0),
        count=_count(item.get("count", 1), _join(path, "count"), low=1),
        duration=_number(item.get("duration", 0), _join(path, "duration"), low=0),
    )


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(path, f"expected an object, got {type(value).__name__}")
    return value


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(path, f"expected a list, got {type(value).__name__}")
    return value


def _no_unknown(item: dict[str, Any], allowed: frozenset[str], path: str) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ScenarioError(_join(path, unknown[0]), f"unknown key (allowed: {sorted(allowed)})")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _uid(value: object, path: str) -> Uid:
    if not isinstance(value, str):
        raise ScenarioError(path, "a UID is a string of 16 hex digits, E0 first")
    try:
        uid = Uid.from_text(value)
    except FrameError as exc:
        raise ScenarioError(path, exc.reason) from None
    if not uid.is_iso15693:
        raise ScenarioError(path, f"{uid} does not start with E0 (written LSB first?)")
    return uid


def _byte(value: object, path: str) -> int:
    """A byte as hex text (``"07"``, as readers print AFI) or an int."""
    if isinstance(value, bool):
        raise ScenarioError(path, "expected a byte, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value, 16)
        except ValueError:
            raise ScenarioError(path, f"{value!r} is not hexadecimal") from None
    else:
        raise ScenarioError(path, f"expected a hex string or int, got {type(value).__name__}")
    if not 0 <= number <= 0xFF:
        raise ScenarioError(path, f"{value!r} is not a byte")
    return number


def _number(value: object, path: str, *, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(path, f"expected a number, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ScenarioError(path, f"{value} is outside {bounds}")
    return float(value)


def _count(value: object, path: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ScenarioError(path, f"expected an integer >= {low}")
    return value


def _family(item: dict[str, Any], uid: Uid, path: str) -> TagFamily:
    key = item.get("type")
    if key is None:
        family = DEFAULT_FAMILY_BY_MANUFACTURER.get(uid.manufacturer_code)
        if family is None:
            raise ScenarioError(
                _join(path, "type"),
                f"required for manufacturer {uid.manufacturer_code:#04x} "
                f"(choose one of {sorted(FAMILY_BY_KEY)})",
            )
        return family
    if not isinstance(key, str) or key.lower() not in FAMILY_BY_KEY:
        raise ScenarioError(
            _join(path, "type"), f"unknown tag type {key!r} (choose one of {sorted(FAMILY_BY_KEY)})"
        )
    return FAMILY_BY_KEY[key.lower()]


def _memory(value: object, family: TagFamily, path: str) -> bytes:
    if not isinstance(value, str):
        raise ScenarioError(path, "expected a hex string")
    digits = "".join(value.split())
    if len(digits) % 2:
        raise ScenarioError(path, "odd number of hex digits")
    try:
        memory = bytes.fromhex(digits)
    except ValueError:
        raise ScenarioError(path, "not hexadecimal") from None
    capacity = family.block_count * family.block_size
    if len(memory) > capacity:
        raise ScenarioError(
            path,
            f"{len(memory)} bytes do not fit in {family.block_count} "
            f"blocks of {family.block_size} bytes ({family.key})",
        )
    return memory


def _tag(value: object, path: str) -> TagSpec:
    item = _object(value, path)
    _no_unknown(item, _TAG_KEYS, path)
    if "uid" not in item:
        raise ScenarioError(_join(path, "uid"), "missing")
    uid = _uid(item["uid"], _join(path, "uid"))
    family = _family(item, uid, path)
    memory = _memory(item["memory"], family, _join(path, "memory")) if "memory" in item else b""
    eas = item.get("eas", False)
    if not isinstance(eas, bool):
        raise ScenarioError(_join(path, "eas"), "expected true or false")
    locked = _list(item.get("locked", []), _join(path, "locked"))
    blocks: list[int] = []
    for index, block in enumerate(locked):
        where = f"{_join(path, 'locked')}[{index}]"
        number = _count(block, where, low=0)
        if number >= family.block_count:
            raise ScenarioError(where, f"block {number} beyond the {family.block_count} blocks")
        blocks.append(number)
    return TagSpec(
        uid,
        family,
        memory,
        afi=_byte(item["afi"], _join(path, "afi")) if "afi" in item else 0,
        dsfid=_byte(item["dsfid"], _join(path, "dsfid")) if "dsfid" in item else 0,
        eas=eas,
        coupling=(
            _number(item["coupling"], _join(path, "coupling"), low=0.0, high=1.0)
            if "coupling" in item
            else 1.0
        ),
        locked_blocks=tuple(blocks),
    )


def _event(value: object, path: str) -> Event:
    item = _object(value, path)
    _no_unknown(item, frozenset({"at", *_EVENT_ACTIONS}), path)
    if "at" not in item:
        raise ScenarioError(_join(path, "at"), "missing")
    at = _number(item["at"], _join(path, "at"), low=0.0)
    actions = [key for key in _EVENT_ACTIONS if key in item]
    if len(actions) != 1:
        raise ScenarioError(path, f"needs exactly one of {list(_EVENT_ACTIONS)}")
    action = actions[0]
    where = _join(path, action)
    match action:
        case "add":
            return AddTag(at, _tag(item["add"], where))
        case "remove":
            return RemoveTag(at, _uid(item["remove"], where))
        case "coupling":
            change = _object(item["coupling"], where)
            _no_unknown(change, frozenset({"uid", "value"}), where)
            if "value" not in change or "uid" not in change:
                raise ScenarioError(where, "needs uid and value")
            return SetCoupling(
                at,
                _uid(change["uid"], _join(where, "uid")),
                _number(change["value"], _join(where, "value"), low=0.0, high=1.0),
            )
    return InjectFault(at, _fault(item["fault"], at, where))


def _fault(value: object, at: float, path: str) -> Fault:
    item = _object(value, path)
    _no_unknown(item, _FAULT_KEYS, path)
    kinds = {kind.value: kind for kind in FaultKind}
    if item.get("kind") not in kinds:
        raise ScenarioError(_join(path, "kind"), f"expected one of {sorted(kinds)}")
    until = None
    if "until" in item:
        until = _number(item["until"], _join(path, "until"), low=at)
    return Fault(
        kinds[item["kind"]],
        uid=_uid(item["uid"], _join(path, "uid")) if "uid" in item else None,
        start_s=at,
        end_s=until,
        count=_count(item["count"], _join(path, "count"), low=1) if "count" in item else None,
        command=_byte(item["command"], _join(path, "command")) if "command" in item else None,
        after_blocks=(
            _count(item["after_blocks"], _join(path, "after_blocks"), low=0)
            if "after_blocks" in item
            else 0
        ),
        block=_count(item["block"], _join(path, "block"), low=0) if "block" in item else None,
    )
