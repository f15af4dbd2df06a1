# SPDX-License-Identifier: Apache-2.0
"""Declarative message fields: each payload class lists its fields in one column, each with the
codec that checks and converts it, and the JSON object follows.

    @message
    class ItemRecord(Message):
        primary_item_id: str = spec(ITEM_ID)
        set_size: int | None = spec(Nullable(Integer(1, 255)), default=None)

One rule set serves both directions: :meth:`Message.from_dict` checks a decoded JSON object
(untrusted) and builds the instance; ``__post_init__`` checks values a Python caller passed;
:meth:`Message.to_dict` is the inverse of ``from_dict``. Policy:

- a required field must be present and not null; an optional (``Nullable``) field may be
  absent or null, both read as ``None``, and is always written (``null`` when ``None``);
- unknown keys are ignored (a newer minor version may add optional fields); a known key with
  a bad type or value is refused, naming its path (``items[3].circulation_status``);
- JSON integers are Python ``int`` (never ``bool``, never ``1.0``), arrays are tuples.

Not responsible for: bytes and JSON syntax (:mod:`protocols.contract.jsonio`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar, dataclass_transform, get_args

from protocols.contract.errors import ContractError, join_path
from protocols.contract.jsonio import (
    MAX_SAFE_INTEGER,
    check_json_tree,
    dump_json,
    json_type_name,
    load_json_object,
)
from protocols.contract.privacy import check_no_patron_identifiers
from protocols.contract.timefmt import parse_time


class Codec:
    """Checks one field. ``decode`` takes a JSON value, ``check`` a Python value; for scalars
    they are the same."""

    def decode(self, value: object, path: str) -> Any:
        raise NotImplementedError

    def check(self, value: object, path: str) -> None:
        self.decode(value, path)

    def encode(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Text(Codec):
    """A string of ``min_length``..``max_length`` characters (code points, as JSON Schema
    counts), matching ``pattern`` in full if one is given."""

    max_length: int
    pattern: str | None = None
    min_length: int = 1
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            object.__setattr__(self, "_regex", re.compile(self.pattern))

    def decode(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise ContractError(f"must be a string, not {json_type_name(value)}", field=path)
        if not self.min_length <= len(value) <= self.max_length:
            raise ContractError(
                f"must be {self.min_length}-{self.max_length} characters, not {len(value)}",
                field=path)
        if self._regex is not None and not self._regex.fullmatch(value):
            raise ContractError(f"{value!r} does not match {self.pattern}", field=path)
        return value


@dataclass(frozen=True)
class Integer(Codec):
    minimum: int = 0
    maximum: int = MAX_SAFE_INTEGER

    def decode(self, value: object, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ContractError(f"must be an integer, not {json_type_name(value)}", field=path)
        if not self.minimum <= value <= self.maximum:
            raise ContractError(f"{value} is outside {self.minimum}..{self.maximum}", field=path)
        return value


@dataclass(frozen=True)
class Boolean(Codec):
    def decode(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise ContractError(f"must be true or false, not {json_type_name(value)}", field=path)
        return value


@dataclass(frozen=True)
class Choice(Codec):
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    @classmethod
    def of(cls, literal: Any) -> Choice:
        """The choice of the values of a ``Literal[...]`` type."""
        return cls(tuple(get_args(literal)))

    def decode(self, value: object, path: str) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise ContractError(f"{value!r} is not one of {', '.join(self.values)}", field=path)
        return value


@dataclass(frozen=True)
class Timestamp(Codec):
    """A time in the contract's format (:mod:`protocols.contract.timefmt`), kept as text."""

    def decode(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise ContractError(f"must be a time string, not {json_type_name(value)}", field=path)
        parse_time(value, field=path)
        return value


@dataclass(frozen=True)
class Version(Codec):
    """An ILS record version: a non-negative integer, or a string of 1-64 characters."""

    max_length: int = 64

    def decode(self, value: object, path: str) -> int | str:
        if isinstance(value, str):
            return Text(self.max_length).decode(value, path)
        if isinstance(value, int) and not isinstance(value, bool):
            return Integer().decode(value, path)
        raise ContractError(f"must be an integer or a string, not {json_type_name(value)}",
                            field=path)


@dataclass(frozen=True)
class Nullable(Codec):
    """``inner`` or null; the field may also be absent."""

    inner: Codec

    def decode(self, value: object, path: str) -> Any:
        return None if value is None else self.inner.decode(value, path)

    def check(self, value: object, path: str) -> None:
        if value is not None:
            self.inner.check(value, path)

    def encode(self, value: Any) -> Any:
        return None if value is None else self.inner.encode(value)


@dataclass(frozen=True)
class Array(Codec):
    """A JSON array of ``inner``, a tuple in Python."""

    inner: Codec
    max_items: int
    min_items: int = 0
    unique: bool = False

    def _bounds(self, items: list[Any] | tuple[Any, ...], path: str) -> None:
        if not self.min_items <= len(items) <= self.max_items:
            raise ContractError(
                f"must have {self.min_items}-{self.max_items} entries, not {len(items)}",
                field=path)
        if self.unique and len(set(items)) != len(items):
            raise ContractError("entries must be unique", field=path)

    def decode(self, value: object, path: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise ContractError(f"must be an array, not {json_type_name(value)}", field=path)
        decoded = tuple(self.inner.decode(item, f"{path}[{i}]") for i, item in enumerate(value))
        self._bounds(decoded, path)
        return decoded

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, tuple):
            raise ContractError(f"must be a tuple, not {type(value).__name__}", field=path)
        for index, item in enumerate(value):
            self.inner.check(item, f"{path}[{index}]")
        self._bounds(value, path)

    def encode(self, value: Any) -> Any:
        return [self.inner.encode(item) for item in value]


@dataclass(frozen=True)
class Nested(Codec):
    """An object of the message class ``cls``."""

    cls: type[Message]

    def decode(self, value: object, path: str) -> Message:
        return self.cls.from_dict(value, path)

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, self.cls):
            raise ContractError(f"must be a {self.cls.__name__}, not {type(value).__name__}",
                                field=path)

    def encode(self, value: Any) -> Any:
        return value.to_dict()


@dataclass(frozen=True)
class JsonObject(Codec):
    """A free-form JSON object (configuration, command arguments, event data), kept as a dict.
    With ``privacy``, patron identifiers are refused at any depth
    (:func:`protocols.contract.privacy.check_no_patron_identifiers`)."""

    privacy: bool = False

    def decode(self, value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ContractError(f"must be an object, not {json_type_name(value)}", field=path)
        check_json_tree(value, path)
        if self.privacy:
            check_no_patron_identifiers(value, path)
        return value


@dataclass(frozen=True)
class Counters(Codec):
    """An object of named non-negative integer counters (``{"read_ok": 1200}``)."""

    key_pattern: str
    max_entries: int
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(self.key_pattern))

    def decode(self, value: object, path: str) -> dict[str, int]:
        if not isinstance(value, dict):
            raise ContractError(f"must be an object, not {json_type_name(value)}", field=path)
        if len(value) > self.max_entries:
            raise ContractError(f"has {len(value)} counters, over {self.max_entries}", field=path)
        assert self._regex is not None
        counter = Integer()
        for key, count in value.items():
            if not isinstance(key, str) or not self._regex.fullmatch(key):
                raise ContractError(f"counter name {key!r} does not match {self.key_pattern}",
                                    field=path)
            counter.decode(count, join_path(path, key))
        return value


# --- messages --------------------------------------------------------------------------------

_CODEC = "libedge.codec"
_WIRE = "libedge.wire"


def spec(codec: Codec, *, wire: str | None = None, default: Any = dataclasses.MISSING) -> Any:
    """A message field checked by ``codec``, written under ``wire`` (default: its name)."""
    metadata = {_CODEC: codec, _WIRE: wire}
    if default is dataclasses.MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    wire: str
    codec: Codec

    @property
    def required(self) -> bool:
        return not isinstance(self.codec, Nullable)


_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(spec,))
def message(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a frozen, keyword-only dataclass whose fields are all :func:`spec` fields."""
    built = dataclass(frozen=True, kw_only=True)(cls)
    for f in dataclasses.fields(built):  # type: ignore[arg-type]
        if _CODEC not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name} has no spec(...)")
    return built


class Message:
    """Base of every payload and nested object of the contract."""

    _specs: ClassVar[dict[type, tuple[FieldSpec, ...]]] = {}

    @classmethod
    def field_specs(cls) -> tuple[FieldSpec, ...]:
        """The fields in declaration order, each with its wire name and codec."""
        specs = Message._specs.get(cls)
        if specs is None:
            specs = tuple(
                FieldSpec(f.name, f.metadata[_WIRE] or f.name, f.metadata[_CODEC])
                for f in dataclasses.fields(cls))  # type: ignore[arg-type]
            Message._specs[cls] = specs
        return specs

    def __post_init__(self) -> None:
        for spec_ in self.field_specs():
            spec_.codec.check(getattr(self, spec_.name), spec_.wire)
        self.validate()

    def validate(self) -> None:
        """Rules across fields; subclasses raise ContractError naming the field."""

    def to_dict(self) -> dict[str, Any]:
        return {s.wire: s.codec.encode(getattr(self, s.name)) for s in self.field_specs()}

    @classmethod
    def from_dict(cls, obj: object, path: str = "") -> Self:
        """The instance for a decoded JSON object; ContractError naming the first bad field."""
        if not isinstance(obj, dict):
            raise ContractError(f"must be an object, not {json_type_name(obj)}", field=path or None)
        values: dict[str, Any] = {}
        for spec_ in cls.field_specs():
            where = join_path(path, spec_.wire)
            if spec_.wire in obj:
                values[spec_.name] = spec_.codec.decode(obj[spec_.wire], where)
            elif spec_.required:
                raise ContractError("is missing", field=where)
            else:
                values[spec_.name] = None
        # Every field was just checked by its codec: build without checking it again (the
        # dataclass __init__ would), then apply the rules across fields.
        instance = cls.__new__(cls)
        for name, value in values.items():
            object.__setattr__(instance, name, value)
        try:
            instance.validate()
        except ContractError as exc:
            raise exc.within(path) from None
        return instance

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, keys sorted."""
        return dump_json(self.to_dict())

    @classmethod
    def from_json(cls, payload: bytes) -> Self:
        """The message in ``payload``; ContractError for anything outside the contract."""
        return cls.from_dict(load_json_object(payload))

