# SPDX-License-Identifier: Apache-2.0
"""Strict JSON for MQTT payloads: one decoder that never trusts its input, one encoder that only
writes what the decoder accepts.

Every payload of the contract is one UTF-8 JSON object. Before any field is looked at,
:func:`load_json_object` refuses, each with a :class:`ContractError`:

    rule                                        why
    more than MAX_PAYLOAD_BYTES bytes           bounded memory and time per message
    not UTF-8 (strict; a BOM is refused)        MQTT 5 payload format indicator 1 = UTF-8
    not JSON, or not an object at the top       one shape for every message
    a key twice in one object                   parsers disagree on which one wins (smuggling)
    NaN, Infinity, -Infinity                    not JSON (RFC 8259); Python would accept them
    a number beyond +-(2**53 - 1)               JavaScript and most JSON stacks lose precision
    objects/arrays nested deeper than MAX_DEPTH bounded recursion in every consumer
    a lone UTF-16 surrogate (``"\\ud800"``)     cannot be written back as UTF-8

:func:`dump_json` writes compact JSON with sorted keys (deterministic bytes for equal values)
and checks its own output with :func:`load_json_object`, so the edge never publishes what a
consumer following these rules would reject.

Not responsible for: the fields of a message (see :mod:`protocols.contract.fields`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from protocols.contract.errors import ContractError, join_path

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_SAFE_INTEGER = 2**53 - 1

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_MAX_INTEGER_DIGITS = len(str(MAX_SAFE_INTEGER))


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ContractError(f"key {key!r} appears more than once in one object")
        obj[key] = value
    return obj


def _refuse_constant(name: str) -> Any:
    raise ContractError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS or abs(int(text)) > MAX_SAFE_INTEGER:
        shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)"
        raise ContractError(f"number {shown} is beyond +-(2**53 - 1)")
    return int(text)


def _bounded_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_SAFE_INTEGER:
        shown = text if len(text) <= 24 else f"{text[:20]}..."
        raise ContractError(f"number {shown} is beyond +-(2**53 - 1)")
    return value


def _within_depth(root: dict[str, Any]) -> bool:
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


def check_json_tree(value: object, path: str = "") -> None:
    """ContractError naming the first place where ``value`` breaks the rules above: a type JSON
    does not have, a key that is not a string, a number that is not finite or beyond
    +-(2**53 - 1), a lone surrogate, nesting deeper than MAX_DEPTH. Walked without recursion;
    serves decoded payloads and values built in Python alike."""
    stack: list[tuple[object, int, str]] = [(value, 1, path)]
    while stack:
        item, depth, where = stack.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise ContractError("string holds a lone UTF-16 surrogate", field=where or None)
            continue
        if isinstance(item, int | float):
            if not math.isfinite(item) or abs(item) > MAX_SAFE_INTEGER:
                raise ContractError(f"number {item} is beyond +-(2**53 - 1)", field=where or None)
            continue
        if depth > MAX_DEPTH:
            raise ContractError(f"nested deeper than {MAX_DEPTH} levels", field=where or None)
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise ContractError(f"key {key!r} is not a string", field=where or None)
                if _SURROGATE.search(key):
                    raise ContractError("key holds a lone UTF-16 surrogate", field=where or None)
                stack.append((inner, depth + 1, join_path(where, key)))
        elif isinstance(item, list | tuple):
            stack.extend((inner, depth + 1, f"{where}[{i}]") for i, inner in enumerate(item))
        else:
            raise ContractError(f"{type(item).__name__} is not a JSON value", field=where or None)


def load_json_object(payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """The JSON object in ``payload``, or :class:`ContractError` by the rules above."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise ContractError(f"payload must be bytes, not {type(payload).__name__}")
    size = len(payload)
    if size > max_bytes:
        raise ContractError(f"payload is {size} bytes, over the limit of {max_bytes}")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"payload is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
        )
    except json.JSONDecodeError as exc:
        raise ContractError(f"payload is not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise ContractError(f"nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(value, dict):
        raise ContractError(f"payload must be a JSON object, not {json_type_name(value)}")
    # Strict UTF-8 cannot carry a surrogate; only a \uD800-\uDFFF escape can. The walk
    # that names a path runs only when there may be something to name.
    if _SURROGATE_ESCAPE.search(text) or not _within_depth(value):
        check_json_tree(value)
    return value


def dump_json(value: dict[str, Any], *, max_bytes: int = MAX_PAYLOAD_BYTES) -> bytes:
    """Compact UTF-8 JSON with sorted keys, checked to pass :func:`load_json_object`."""
    try:
        text = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        )
        payload = text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise ContractError(f"cannot be written as JSON: {exc}") from None
    load_json_object(payload, max_bytes=max_bytes)
    return payload


def json_type_name(value: object) -> str:
    """How a JSON value's type reads in an error message ("an array", "null")."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", tuple: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
