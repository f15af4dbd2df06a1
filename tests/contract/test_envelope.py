# SPDX-License-Identifier: Apache-2.0
"""The event envelope: round trips, deterministic bytes, each attribute rule naming its field,
the JSON rules (size, UTF-8, duplicate keys, NaN, huge numbers, depth), and fuzzing with hostile
payloads: any bytes give an Event or a ContractError, nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.contract import (
    MAX_DEPTH,
    MAX_PAYLOAD_BYTES,
    CirculationData,
    ContractError,
    Event,
    SetParts,
    check_event_topic,
    decode_event,
    encode_event,
    event_data,
    format_time,
    make_event,
    uuid7,
)
from protocols.contract.jsonio import dump_json
from protocols.contract.timefmt import MAX_TIME_MS, MIN_TIME_MS, parse_time
from tests.contract.strategies import events

FUZZ = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOURCE = "lib/v1/DK-718500/DK-718501/kiosk-2"
EVENT_ID = uuid7(1_790_849_702_123, bytes.fromhex("0123456789abcdef0123"))


def envelope(**changes: Any) -> dict[str, Any]:
    """A valid envelope as a dict (E3's example), with ``changes`` applied; None deletes."""
    obj: dict[str, Any] = {
        "specversion": "1.0", "id": EVENT_ID, "source": SOURCE, "type": "lib.circ.checkout.v1",
        "time": "2026-10-01T10:15:02.123Z", "offline": False, "seq": 18234,
        "data": {"primary_item_id": "30012345678", "owner_institution": "DK-718500",
                 "patron": "h:" + "5f" * 32, "result": "ok"},
    }
    for key, value in changes.items():
        if value is None:
            obj.pop(key)
        else:
            obj[key] = value
    return obj


def payload(obj: object) -> bytes:
    return json.dumps(obj).encode()


def refused(raw: bytes) -> ContractError:
    with pytest.raises(ContractError) as caught:
        decode_event(raw)
    return caught.value


# --- round trips --------------------------------------------------------------------------

def test_the_e3_example_decodes_and_its_data_is_typed() -> None:
    event = decode_event(payload(envelope()))
    assert event.type == "lib.circ.checkout.v1"
    assert event.seq == 18234
    assert event.time_ms == 1_790_849_702_123
    data = event_data(event)
    assert isinstance(data, CirculationData)
    assert data.patron == "h:" + "5f" * 32


@settings(max_examples=400, deadline=None)
@given(events())
def test_round_trip_and_deterministic_bytes(event: Event) -> None:
    raw = encode_event(event)
    assert decode_event(raw) == event
    assert encode_event(decode_event(raw)) == raw
    # compact, sorted keys, UTF-8 (not \\u escapes)
    obj = json.loads(raw)
    assert raw == json.dumps(obj, separators=(",", ":"), sort_keys=True,
                             ensure_ascii=False).encode()
    assert type(event_data(event)).from_dict(event.data, "data") == event_data(event)


def test_equal_events_are_equal_bytes_whatever_the_key_order() -> None:
    obj = envelope()
    reordered = dict(reversed(list(obj.items())))
    assert encode_event(decode_event(payload(obj))) == encode_event(
        decode_event(payload(reordered)))


def test_unknown_envelope_attributes_are_ignored() -> None:
    event = decode_event(payload(envelope(datacontenttype="application/json", traceparent="x")))
    assert event == decode_event(payload(envelope()))


def test_make_event_checks_the_data_class() -> None:
    parts = SetParts(n=1, of=2, seen=(1, 2))
    with pytest.raises(ContractError) as caught:
        make_event("lib.circ.checkout.v1", parts, id=EVENT_ID, source=SOURCE,
                   time=format_time(0), seq=0)
    assert caught.value.field == "data"
    with pytest.raises(ContractError) as caught:
        make_event("lib.circ.renew.v1", parts, id=EVENT_ID, source=SOURCE,
                   time=format_time(0), seq=0)
    assert caught.value.field == "type"


def test_event_data_of_an_unknown_type_or_bad_data_names_the_field() -> None:
    unknown = decode_event(payload(envelope(type="lib.circ.renew.v1")))   # a valid envelope
    with pytest.raises(ContractError) as caught:
        event_data(unknown)
    assert caught.value.field == "type"
    bad = decode_event(payload(envelope(data={"primary_item_id": "1", "result": "maybe"})))
    with pytest.raises(ContractError) as caught:
        event_data(bad)
    assert caught.value.field == "data.result"


def test_an_event_belongs_on_its_own_nodes_topic_of_its_kind() -> None:
    event = decode_event(payload(envelope()))
    check_event_topic(event, f"{SOURCE}/evt/circ")
    for topic, field in [
        ("lib/v1/DK-718500/DK-718501/kiosk-3/evt/circ", "source"),   # spoofed source
        (f"{SOURCE}/evt/gate.alarm", "type"),
        (f"{SOURCE}/status", "topic"),
        (f"{SOURCE}/evt/nope", "event_kind"),
    ]:
        with pytest.raises(ContractError) as caught:
            check_event_topic(event, topic)
        assert caught.value.field == field


# --- attribute rules ------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "field"), [
    ({"id": None}, "id"),
    ({"id": "not-a-uuid"}, "id"),
    ({"id": EVENT_ID.upper()}, "id"),
    ({"id": "017f22e2-79b0-4cc3-98c4-dc0c0c07398f"}, "id"),   # UUIDv4
    ({"id": 17}, "id"),
    ({"source": None}, "source"),
    ({"source": "lib/v1/DK-718500/DK-718501"}, "source"),
    ({"source": "lib/v1/DK-718500/DK-718501/items"}, "source"),
    ({"source": "lib/v1/DK-718500/central/kiosk-2"}, "source"),
    ({"source": "lib/v1/DK-718500/DK-718501/kiosk+2"}, "source"),
    ({"type": None}, "type"),
    ({"type": "lib.circ.checkout"}, "type"),
    ({"type": "lib.Circ.checkout.v1"}, "type"),
    ({"type": "circ.checkout.v1"}, "type"),
    ({"type": "lib.circ.checkout.v0"}, "type"),
    ({"type": "lib.v1"}, "type"),
    ({"time": None}, "time"),
    ({"time": "2026-10-01T10:15:02Z"}, "time"),
    ({"time": "2026-10-01T10:15:02.123+00:00"}, "time"),
    ({"time": "2026-02-30T10:15:02.123Z"}, "time"),
    ({"time": "0000-01-01T00:00:00.000Z"}, "time"),
    ({"time": 1790850902123}, "time"),
    ({"seq": None}, "seq"),
    ({"seq": -1}, "seq"),
    ({"seq": True}, "seq"),
    ({"seq": 1.0}, "seq"),
    ({"seq": "1"}, "seq"),
    ({"offline": None}, "offline"),
    ({"offline": "false"}, "offline"),
    ({"offline": 0}, "offline"),
    ({"data": None}, "data"),
    ({"data": []}, "data"),
    ({"data": "x"}, "data"),
    ({"specversion": "0.3"}, "specversion"),
    ({"data": {"patron": "30012345"}}, "data.patron"),
    ({"data": {"sip": {"card": 4711}}}, "data.sip.card"),
])
def test_each_attribute_rule_names_its_field(changes: dict[str, Any], field: str) -> None:
    assert refused(payload(envelope(**changes))).field == field


def test_specversion_is_required_on_the_wire_and_defaults_in_python() -> None:
    assert refused(payload(envelope(specversion=None))).field == "specversion"
    event = Event(id=EVENT_ID, source=SOURCE, type="lib.exception.v1",
                  time="2026-10-01T10:15:02.123Z", seq=1, offline=False, data={"kind": "other"})
    assert json.loads(encode_event(event))["specversion"] == "1.0"


def test_encode_refuses_what_decode_would() -> None:
    event = decode_event(payload(envelope()))
    with pytest.raises(ContractError):
        encode_event("not an event")  # type: ignore[arg-type]
    big = Event(id=EVENT_ID, source=SOURCE, type="lib.exception.v1", time=event.time, seq=1,
                offline=False, data={"detail": "x" * MAX_PAYLOAD_BYTES})
    with pytest.raises(ContractError) as caught:
        encode_event(big)
    assert "over the limit" in str(caught.value)
    with pytest.raises(ContractError) as caught:
        Event(id=EVENT_ID, source=SOURCE, type="lib.exception.v1", time=event.time, seq=1,
              offline=False, data={"x": float("nan")})
    assert caught.value.field == "data.x"


# --- the JSON rules ---------------------------------------------------------------------------

def test_size_limit_is_exact() -> None:
    base = payload(envelope(data={"pad": ""}))
    room = MAX_PAYLOAD_BYTES - len(base)
    exactly = payload(envelope(data={"pad": "x" * room}))
    assert len(exactly) == MAX_PAYLOAD_BYTES
    decode_event(exactly)
    over = payload(envelope(data={"pad": "x" * (room + 1)}))
    assert "over the limit" in str(refused(over))


@pytest.mark.parametrize(("raw", "words"), [
    (b"", "not JSON"),
    (b"   ", "not JSON"),
    (b"\xef\xbb\xbf{}", "not JSON"),                    # UTF-8 BOM
    (b'{"a":"\xff"}', "not UTF-8"),
    (b'{"a":"\xc3"}', "not UTF-8"),
    (b'{"a":"\xed\xa0\x80"}', "not UTF-8"),           # an encoded surrogate
    (b"[]", "not an array"[4:]),
    (b'"x"', "a string"),
    (b"null", "null"),
    (b'{"a":1} {"b":2}', "not JSON"),
    (b'{"a":1,"a":2}', "more than once"),
    (b'{"data":{"x":{"k":1,"k":1}}}', "more than once"),
    (b'{"a":NaN}', "NaN"),
    (b'{"a":Infinity}', "Infinity"),
    (b'{"a":-Infinity}', "-Infinity"),
    (b'{"a":1e400}', "beyond"),
    (b'{"a":9007199254740992}', "beyond"),
    (b'{"a":-9007199254740992}', "beyond"),
    (b'{"a":1' + b"0" * 5000 + b"}", "beyond"),
    (b'{"a":1.5e16}', "beyond"),
    (b'{"a":"\\ud800"}', "surrogate"),
    (b'{"\\udfff":1}', "surrogate"),
    (b'{"a":"x\x01"}', "not JSON"),                      # raw control character
])
def test_json_rules(raw: bytes, words: str) -> None:
    assert words in str(refused(raw))


def test_depth_limit() -> None:
    def nested(depth: int) -> bytes:   # the top object is level 1
        return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)

    with pytest.raises(ContractError) as caught:
        decode_event(nested(MAX_DEPTH))
    assert caught.value.field == "id"   # depth was fine; the envelope is not
    assert "deeper" in str(refused(nested(MAX_DEPTH + 1)))


@pytest.mark.parametrize("raw", [
    b"[" * 20000 + b"]" * 20000,                 # past the parser's own recursion limit
    b'{"a":' * 10000 + b"1" + b"}" * 10000,
    b"[" * 30000,                                # and unclosed
])
def test_very_deep_nesting_is_a_contract_error_not_a_crash(raw: bytes) -> None:
    assert len(raw) <= MAX_PAYLOAD_BYTES
    assert "deeper" in str(refused(raw))


def test_non_bytes_are_refused() -> None:
    with pytest.raises(ContractError):
        decode_event("{}")  # type: ignore[arg-type]


def test_memoryview_and_bytearray_are_bytes_too() -> None:
    raw = payload(envelope())
    assert decode_event(bytearray(raw)) == decode_event(memoryview(raw)) == decode_event(raw)


# --- hostile payloads -----------------------------------------------------------------------

def decodes_or_refuses(raw: bytes) -> None:
    try:
        event = decode_event(raw)
    except ContractError:
        return
    assert decode_event(encode_event(event)) == event


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes(raw: bytes) -> None:
    decodes_or_refuses(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=20,
)


@settings(max_examples=800, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "source", "type", "time", "seq", "offline",
                                        "data", "specversion", "x"]), json_values))
def test_any_json_object_with_envelope_keys(obj: dict[str, Any]) -> None:
    decodes_or_refuses(json.dumps(obj).encode())


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_payloads(data: st.DataObject) -> None:
    raw = bytearray(encode_event(data.draw(events())))
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if action == "flip" and where < len(raw):
            raw[where] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "cut":
            del raw[where:]
        elif action == "insert":
            raw[where:where] = data.draw(st.sampled_from(
                [b'"', b"{", b"[", b"\\", b",", b":", b"\xff", b"1e999", b'"patron":"1",']))
        elif where < len(raw):
            del raw[where]
    decodes_or_refuses(bytes(raw))


def test_the_encoder_refuses_what_json_cannot_carry() -> None:
    for value, words in [({"a": object()}, "cannot be written"), ({"a": "\ud800"}, "cannot"),
                         ({"a": float("inf")}, "cannot"), ({1: "a", "1": "b"}, "cannot")]:
        with pytest.raises(ContractError) as caught:
            dump_json(value)  # type: ignore[arg-type]
        assert words in str(caught.value)


@pytest.mark.parametrize("unix_ms", [True, 1.5, MIN_TIME_MS - 1, MAX_TIME_MS + 1])
def test_format_time_refuses_what_has_no_text(unix_ms: int) -> None:
    with pytest.raises(ContractError):
        format_time(unix_ms)


def test_time_format_edges() -> None:
    assert format_time(MIN_TIME_MS) == "0001-01-01T00:00:00.000Z"
    assert format_time(MAX_TIME_MS) == "9999-12-31T23:59:59.999Z"
    assert format_time(-1) == "1969-12-31T23:59:59.999Z"
    assert parse_time(format_time(MIN_TIME_MS)) == MIN_TIME_MS
