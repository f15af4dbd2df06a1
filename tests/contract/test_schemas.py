# SPDX-License-Identifier: Apache-2.0
"""The JSON Schema files and the Python codec agree.

- Valid values generated from the Python types validate against their schema file, under
  2020-12 and under draft-07 (what AsyncAPI 3.0 tools must understand).
- Mutated payloads (a key dropped, a value replaced by one of another type, an unknown key
  added) get the same verdict from the schema and from the codec.
- Values just outside each field's bounds are refused by both.
- The rules a schema cannot express are listed, and each is tested as a known difference.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, Draft202012Validator

from protocols.contract import (
    EVENT_TYPES,
    ContractError,
    Event,
    ItemRecord,
    Message,
    decode_event,
    event_data,
)
from protocols.contract.fields import (
    Array,
    Choice,
    Codec,
    Counters,
    Integer,
    Nested,
    Nullable,
    Text,
    Version,
)
from protocols.contract.jsonio import MAX_SAFE_INTEGER
from protocols.contract.privacy import PATRON_KEY_PATTERN
from protocols.contract.timefmt import TIME_PATTERN
from tests.contract.schema_tools import (
    SCHEMA_OF,
    all_schemas,
    event_schema_file,
    schema_errors,
)
from tests.contract.strategies import events, messages

AGREE = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLASSES = sorted(SCHEMA_OF, key=lambda c: c.__name__)
DRAFTS = ("2020-12", "draft-07")


def codec_accepts(cls: type[Message], obj: object) -> bool:
    try:
        if cls is Event:
            decode_event(json.dumps(obj).encode())
        else:
            cls.from_json(json.dumps(obj).encode())
    except ContractError:
        return False
    return True


def schema_accepts(name: str, obj: object, draft: str = "2020-12") -> bool:
    return not schema_errors(name, obj, draft)


# --- the files themselves ---------------------------------------------------------------------

def test_every_file_is_a_valid_schema_in_both_drafts() -> None:
    for name, schema in all_schemas().items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        # No $id: references are relative to the file's own location, which every validator
        # that loads schemas from files resolves (a relative $id would replace that base).
        assert "$id" not in schema, name
        Draft202012Validator.check_schema(schema)
        Draft7Validator.check_schema({k: v for k, v in schema.items() if k != "$schema"})


DRAFT7_SAFE = {
    "$schema", "$ref", "$defs", "$comment", "title", "description", "type", "enum",
    "const", "properties", "required", "additionalProperties", "patternProperties",
    "propertyNames", "items", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength",
    "pattern", "minimum", "maximum", "maxProperties", "anyOf", "allOf", "if", "then", "else",
}
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs"}


def _walk(node: Any, where: str) -> Any:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            if key in _SCHEMA_MAPS:
                for name, sub in value.items():
                    yield from _walk(sub, f"{where}/{key}/{name}")
            elif key not in ("enum", "const", "required"):
                yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{where}/{index}")


def test_the_files_use_only_keywords_that_mean_the_same_in_draft_07() -> None:
    for name, schema in all_schemas().items():
        for where, node in _walk(schema, name):
            assert set(node) <= DRAFT7_SAFE, (where, set(node) - DRAFT7_SAFE)
            if "$ref" in node:   # draft-07 ignores keywords beside $ref: annotations only
                assert set(node) <= {"$ref", "description", "title", "$comment"}, where


def test_patterns_are_anchored_and_use_no_class_that_differs_between_dialects() -> None:
    for name, schema in all_schemas().items():
        for where, node in _walk(schema, name):
            patterns = [node["pattern"]] if "pattern" in node else []
            patterns += list(node.get("patternProperties", {}))
            patterns += [node["propertyNames"]["pattern"]] if "propertyNames" in node else []
            for pattern in patterns:
                assert pattern.startswith("^(?:"), (where, pattern)
                assert pattern.endswith(")$"), (where, pattern)
                # \d \w \b match more than ASCII in Python but not in ECMA-262
                assert not re.search(r"\\[dDwWbB]", pattern), (where, pattern)


def test_shared_patterns_are_the_codes_patterns() -> None:
    defs = all_schemas()["common.json"]["$defs"]
    assert defs["time"]["pattern"] == f"^(?:{TIME_PATTERN})$"
    key_pattern = next(iter(defs["privacySafe"]["patternProperties"]))
    # The schema spells each letter as [Xx]; folding it back gives the codec's pattern.
    folded = re.sub(r"\[([A-Z])([a-z])\]", lambda m: m.group(2), key_pattern)
    any_char = r"[\s\S]"   # ECMA-262 "." stops at newlines; the codec's "." is DOTALL
    assert folded == "^(?:" + PATRON_KEY_PATTERN.replace(".", any_char) + ")$"


def test_every_file_is_used() -> None:
    referenced: set[str] = set()
    for schema in all_schemas().values():
        for _, node in _walk(schema, ""):
            ref = node.get("$ref", "")
            if ref and not ref.startswith("#"):
                referenced.add(ref.split("#")[0])
    top = set(SCHEMA_OF.values()) | {event_schema_file(t) for t in EVENT_TYPES}
    assert referenced | top == set(all_schemas())
    assert referenced <= set(all_schemas())


# --- valid values from the Python types ------------------------------------------------------

@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_generated_values_validate(cls: type[Message]) -> None:
    @AGREE
    @given(messages(cls))
    def check(value: Message) -> None:
        obj = json.loads(value.to_json())
        for draft in DRAFTS:
            assert schema_errors(SCHEMA_OF[cls], obj, draft) == [], draft

    check()


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_generated_events_validate_against_their_type_file(type_name: str) -> None:
    @AGREE
    @given(events(type_name))
    def check(event: Event) -> None:
        obj = json.loads(event.to_json())
        for draft in DRAFTS:
            assert schema_errors(event_schema_file(type_name), obj, draft) == [], draft
        assert type(event_data(event)) is EVENT_TYPES[type_name].data

    check()


def test_an_event_file_rejects_another_types_data() -> None:
    obj = json.loads(Event(
        id="017f22e2-79b0-7cc3-98c4-dc0c0c07398f", source="lib/v1/t/s/n",
        type="lib.gate.count.v1", time="2026-10-01T10:15:02.123Z", seq=0, offline=False,
        data={"gate": "g", "in": 1, "out": 1, "from": "2026-10-01T10:15:02.123Z",
              "to": "2026-10-01T10:15:02.123Z"}).to_json())
    assert schema_accepts("event-gate-count.json", obj)
    assert not schema_accepts("event-gate-alarm.json", obj)
    assert not schema_accepts("event-gate-count.json", dict(obj, data={"gate": "g"}))


# --- mutations: the same verdict ------------------------------------------------------------

OTHER_VALUES = [None, True, 0, -1, 1.5, MAX_SAFE_INTEGER + 1, "", " ", [], {}, [1], {"k": 1}]


def _locations(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _locations(value, (*path, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            found += _locations(value, (*path, index))
    return found


def _mutate(obj: Any, path: tuple[Any, ...], how: str, value: object) -> Any:
    if not path:
        return value if how == "replace" else obj
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        copied = dict(obj)
        if not rest and how == "delete":
            copied.pop(head)
        elif not rest and how == "add" and isinstance(copied[head], dict):
            copied[head] = dict(copied[head], zz_unknown=value)
        else:
            copied[head] = _mutate(obj[head], rest, how, value)
        return copied
    copied_list = list(obj)
    if not rest and how == "delete":
        del copied_list[head]
    else:
        copied_list[head] = _mutate(obj[head], rest, how, value)
    return copied_list


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_mutated_payloads_get_the_same_verdict(cls: type[Message]) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(messages(cls), st.data())
    def check(value: Message, data: st.DataObject) -> None:
        obj = json.loads(value.to_json())
        path = data.draw(st.sampled_from(_locations(obj)[1:] or [()]))
        how = data.draw(st.sampled_from(["replace", "delete", "add"]))
        mutated = _mutate(obj, path, how, data.draw(st.sampled_from(OTHER_VALUES)))
        verdict = codec_accepts(cls, mutated)
        for draft in DRAFTS:
            assert schema_accepts(SCHEMA_OF[cls], mutated, draft) is verdict, (draft, mutated)

    check()


# --- just outside each bound: both refuse -----------------------------------------------------

def _outside(codec: Codec) -> list[object]:
    """Values just outside what ``codec`` accepts (and of the right JSON type where possible)."""
    if isinstance(codec, Nullable):
        return [v for v in _outside(codec.inner) if v is not None]
    if isinstance(codec, Text):
        bad = ["x" * (codec.max_length + 1)]
        if codec.min_length > 0:
            bad.append("")
        if codec.pattern:
            bad += [" ", "x y", "\u00e9" * codec.min_length]
        return bad
    if isinstance(codec, Integer):
        return [codec.minimum - 1, codec.maximum + 1, 1.0, True, "1"]
    if isinstance(codec, Choice):
        return ["zz", codec.values[0].upper() + "?", 1]
    if isinstance(codec, Array):
        return ["x", {}, [None]]
    if isinstance(codec, Counters):
        return [{"Bad Name": 1}, {"ok": -1}, {f"c{i}": 0 for i in range(codec.max_entries + 1)}]
    if isinstance(codec, Nested):
        return ["x", [], 1]
    if isinstance(codec, Version):
        return [[], True, -1, 1.5, "", "x" * (codec.max_length + 1)]
    return [[], "x", 1]


def _known_difference(value: object) -> bool:
    return value == 1.0 and type(value) is float   # see test_known_differences


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_values_just_outside_each_field_are_refused_by_both(cls: type[Message]) -> None:
    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(messages(cls))
    def check(value: Message) -> None:
        obj = json.loads(value.to_json())
        for spec_ in cls.field_specs():
            for bad in _outside(spec_.codec):
                mutated = dict(obj, **{spec_.wire: bad})
                assert not codec_accepts(cls, mutated), (spec_.wire, bad)
                if not _known_difference(bad):
                    assert not schema_accepts(SCHEMA_OF[cls], mutated), (spec_.wire, bad)

    check()


# --- what a schema cannot say ---------------------------------------------------------------

RECORD = {"primary_item_id": "1", "owner_institution": "DK-1", "version": 1,
          "circulation_status": "03", "security_expected": True}


def test_known_differences() -> None:
    """Each rule the codec enforces beyond the schema files (README, "Schema and codec")."""
    # 1. JSON Schema counts 1.0 as an integer; the codec wants an integer literal.
    obj = dict(RECORD, set_size=1.0)
    assert schema_accepts("item-record.json", obj)
    assert not codec_accepts(ItemRecord, obj)
    # 2. Calendar validity of times.
    status = {"online": True, "time": "2026-02-30T10:00:00.000Z"}
    assert schema_accepts("central-status.json", status)
    with pytest.raises(ContractError):
        SCHEMA_OF_CLASS["central-status.json"].from_dict(status)
    # 3. Rules across fields: page <= pages, from <= to, n <= of, unique device ids,
    #    start <= end of a loans window.
    page = {"snapshot_id": "s", "page": 3, "pages": 2, "seq_at_snapshot": 0, "items": []}
    assert schema_accepts("snapshot-page.json", page)
    assert not codec_accepts(SCHEMA_OF_CLASS["snapshot-page.json"], page)
    loans = {"corr": "c-1", "expires": "2026-10-01T10:15:12.123Z", "patron_id": "2000000001",
             "start": 5, "end": 4}
    assert schema_accepts("circ-loans-request.json", loans)
    assert not codec_accepts(SCHEMA_OF_CLASS["circ-loans-request.json"], loans)
    assert codec_accepts(SCHEMA_OF_CLASS["circ-loans-request.json"], dict(loans, end=5))
    # 4. A Python validator's "$" also matches before a final newline; the codec does not.
    obj = dict(RECORD, primary_item_id="1\n")
    assert schema_accepts("item-record.json", obj)
    assert not codec_accepts(ItemRecord, obj)
    # 5. Payload-level rules: size, duplicate keys, depth (jsonio), checked before any schema.


SCHEMA_OF_CLASS = {name: cls for cls, name in SCHEMA_OF.items()}
