# SPDX-License-Identifier: Apache-2.0
"""Typed payloads: round trips of every class, the field policy (required, optional, unknown
keys ignored, bad types refused with their path), the rules across fields, and commands under
MQTT 5 and 3.1.1."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.contract import (
    CentralStatus,
    CommandRequest,
    CommandResponse,
    ContractError,
    ContractRejectedData,
    DeviceInfo,
    GateCountData,
    Hold,
    ItemDelta,
    ItemRecord,
    Message,
    NodeMeta,
    NodeStatus,
    ResponseError,
    SetParts,
    SnapshotPage,
    TwinDesired,
    parse_topic,
    resolve_command,
)
from protocols.contract.fields import Integer, message, spec
from tests.contract.schema_tools import SCHEMA_OF
from tests.contract.strategies import messages

NODE = "lib/v1/DK-718500/DK-718501/kiosk-2"
CMD = parse_topic(f"{NODE}/cmd/door.unlock")
RECORD = {"primary_item_id": "30012345678", "owner_institution": "DK-718500",
          "version": "2026-10-01T10:15:02.123Z", "circulation_status": "03",
          "security_expected": True}


def raw(obj: object) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize("cls", sorted(SCHEMA_OF, key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_round_trip_of_every_payload_class(cls: type[Message]) -> None:
    @settings(max_examples=60, deadline=None)
    @given(messages(cls))
    def round_trip(value: Message) -> None:
        encoded = value.to_json()
        assert cls.from_json(encoded) == value
        assert cls.from_json(encoded).to_json() == encoded
        assert cls.from_dict(value.to_dict()) == value

    round_trip()


# --- field policy -----------------------------------------------------------------------------

def test_unknown_keys_are_ignored_at_every_level() -> None:
    record = dict(RECORD, hold={"here": True, "shelf": "H1"}, colour="red")
    delta = ItemDelta.from_json(raw({"seq": 7, "items": [record], "origin": "gateway-2"}))
    assert delta.items[0].hold == Hold(here=True)
    assert "colour" not in delta.to_dict()["items"][0]


def test_optional_fields_may_be_absent_or_null_and_are_always_written() -> None:
    absent = ItemRecord.from_json(raw(RECORD))
    null = ItemRecord.from_json(raw(dict(RECORD, title=None, hold=None)))
    assert absent == null
    assert absent.title is None
    written = json.loads(absent.to_json())
    assert written["title"] is None
    assert written["hold"] is None


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"primary_item_id": None}, "items[0].primary_item_id", "missing"),
    ({"primary_item_id": ""}, "items[0].primary_item_id", "1-64 characters"),
    ({"primary_item_id": "3001 234"}, "items[0].primary_item_id", "does not match"),
    ({"owner_institution": "DK_718500"}, "items[0].owner_institution", "does not match"),
    ({"version": True}, "items[0].version", "integer or a string"),
    ({"version": -1}, "items[0].version", "outside"),
    ({"version": 1.5}, "items[0].version", "integer or a string"),
    ({"version": ""}, "items[0].version", "1-64"),
    ({"circulation_status": "14"}, "items[0].circulation_status", "not one of"),
    ({"circulation_status": 3}, "items[0].circulation_status", "not one of"),
    ({"security_expected": "yes"}, "items[0].security_expected", "true or false"),
    ({"security_expected": 1}, "items[0].security_expected", "true or false"),
    ({"set_size": 0}, "items[0].set_size", "outside 1..255"),
    ({"set_size": "2"}, "items[0].set_size", "integer"),
    ({"title": ""}, "items[0].title", "characters"),
    ({"title": "x" * 513}, "items[0].title", "characters"),
    ({"hold": {"destination": "DK-1"}}, "items[0].hold.here", "missing"),
    ({"hold": "here"}, "items[0].hold", "object"),
])
def test_bad_types_and_values_are_refused_with_their_path(
        change: dict[str, Any], field: str, words: str) -> None:
    record = {k: v for k, v in {**RECORD, **change}.items() if v is not None}
    with pytest.raises(ContractError) as caught:
        ItemDelta.from_json(raw({"seq": 1, "items": [record]}))
    assert caught.value.field == field
    assert words in caught.value.reason


@pytest.mark.parametrize(("obj", "field"), [
    ({"items": []}, "seq"),
    ({"seq": 0, "items": []}, "seq"),
    ({"seq": 1, "items": {}}, "items"),
    ({"seq": 1, "items": [RECORD] * 1001}, "items"),
    ({"seq": 1, "items": ["x"]}, "items[0]"),
])
def test_delta_shape(obj: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError) as caught:
        ItemDelta.from_dict(obj)
    assert caught.value.field == field


def test_python_values_are_checked_too() -> None:
    with pytest.raises(ContractError) as caught:
        ItemDelta(seq=1, items=[ItemRecord.from_dict(RECORD)])  # type: ignore[arg-type]
    assert "tuple" in str(caught.value)
    with pytest.raises(ContractError):
        ItemRecord(**dict(RECORD, security_expected=1))  # type: ignore[arg-type]
    with pytest.raises(ContractError):
        ItemDelta(seq=1, items=({"primary_item_id": "1"},))  # type: ignore[arg-type]
    with pytest.raises(ContractError):
        TwinDesired(version=1, config={1: "a"})  # type: ignore[dict-item]
    with pytest.raises(ContractError):
        TwinDesired(version=1, config={"a": object()})


def test_a_field_without_spec_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match=r"Broken\.m has no spec"):
        @message
        class Broken(Message):
            n: int = spec(Integer())
            m: int = 0


# --- status, meta, device -------------------------------------------------------------------

def test_birth_and_will() -> None:
    birth = NodeStatus.birth(boot_seq=42, sw="0.1.0", since_ms=1_790_849_702_123)
    assert json.loads(birth.to_json()) == {"state": "online", "boot_seq": 42, "sw": "0.1.0",
                                           "since": "2026-10-01T10:15:02.123Z"}
    will = NodeStatus.will(boot_seq=42)
    assert NodeStatus.from_json(will.to_json()) == will
    with pytest.raises(ContractError) as caught:
        NodeStatus.from_json(b'{"state":"online","boot_seq":1,"since":"2026-10-01T10:15:02.123Z"}')
    assert caught.value.field == "sw"


def test_central_status() -> None:
    status = CentralStatus.from_json(b'{"online":true,"time":"2026-10-01T10:15:02.123Z"}')
    assert status.online


def test_meta_device_ids_are_unique() -> None:
    reader = DeviceInfo(dev="reader-1", kind="reader", model="FEIG ID CPR74")
    meta = NodeMeta(sw="0.1.0", roles=("kiosk",), capabilities=("sync.items",),
                    devices=(reader,), tag_models=("iso28560-2", "3m"))
    assert NodeMeta.from_json(meta.to_json()) == meta
    with pytest.raises(ContractError) as caught:
        NodeMeta(sw="0.1.0", roles=("kiosk",), capabilities=(), devices=(reader, reader),
                 tag_models=())
    assert caught.value.field == "devices"
    with pytest.raises(ContractError) as caught:
        NodeMeta.from_dict(dict(meta.to_dict(), tag_models=["blank"]))
    assert caught.value.field == "tag_models[0]"


# --- commands ---------------------------------------------------------------------------------

EXPIRES = "2026-10-01T10:16:00.000Z"


def test_mqtt311_fallback_takes_everything_from_the_payload() -> None:
    request = resolve_command(raw({"name": "door.unlock", "args": {"door": "main"},
                                   "corr": "c-1", "reply_to": f"{NODE}/res",
                                   "expires": EXPIRES}), CMD)
    assert (request.corr, request.reply_to, request.expires) == ("c-1", f"{NODE}/res", EXPIRES)
    assert not request.is_expired(1_790_849_759_999)
    assert request.is_expired(1_790_849_760_000)


def test_mqtt5_properties_fill_in_and_win() -> None:
    request = resolve_command(raw({"name": "door.unlock", "args": {}, "corr": "old"}), CMD,
                              response_topic_property=f"{NODE}/res",
                              correlation_data=b"c-2", expires_ms=1_790_849_760_000)
    assert (request.corr, request.reply_to, request.expires) == ("c-2", f"{NODE}/res", EXPIRES)


def test_reply_to_defaults_to_the_nodes_own_response_topic() -> None:
    request = resolve_command(raw({"name": "door.unlock", "args": {}}), CMD,
                              correlation_data=b"c-3", expires_ms=0)
    assert request.reply_to == f"{NODE}/res"


@pytest.mark.parametrize(("body", "kwargs", "field"), [
    ({"name": "door.unlock", "args": {}, "expires": EXPIRES}, {}, "corr"),
    ({"name": "door.unlock", "args": {}, "corr": "c"}, {}, "expires"),
    ({"name": "reboot", "args": {}, "corr": "c", "expires": EXPIRES}, {}, "name"),
    ({"name": "door.unlock", "args": {}, "corr": "c", "expires": EXPIRES,
      "reply_to": "lib/v1/DK-718500/DK-718501/kiosk-3/res"}, {}, "reply_to"),
    ({"name": "door.unlock", "args": {}, "corr": "c", "expires": EXPIRES,
      "reply_to": f"{NODE}/evt/circ"}, {}, "reply_to"),
    ({"name": "door.unlock", "args": {}, "corr": "c", "expires": EXPIRES},
     {"response_topic_property": "elsewhere/res"}, "reply_to"),
    ({"name": "door.unlock", "args": {}, "expires": EXPIRES},
     {"correlation_data": b"\xff\xfe"}, "correlation_data"),
    ({"name": "door.unlock", "args": {}, "expires": EXPIRES},
     {"correlation_data": b"has space"}, "correlation_data"),
    ({"name": "door.unlock", "corr": "c", "expires": EXPIRES}, {}, "args"),
    ({"name": "Door", "args": {}, "corr": "c", "expires": EXPIRES}, {}, "name"),
])
def test_incomplete_or_misdirected_commands_are_refused(
        body: dict[str, Any], kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError) as caught:
        resolve_command(raw(body), CMD, **kwargs)
    assert caught.value.field == field


def test_resolve_wants_a_command_topic() -> None:
    with pytest.raises(ContractError) as caught:
        resolve_command(b"{}", parse_topic(f"{NODE}/res"))
    assert caught.value.field == "topic"


def test_a_request_without_expiry_counts_as_expired() -> None:
    assert CommandRequest(name="reboot", args={}).is_expired(0)


def test_response_status_and_error_go_together() -> None:
    ok = CommandResponse(corr="c-1", status="ok", data={"synced": 120})
    failed = CommandResponse(corr="c-1", status="error",
                             error=ResponseError(code="expired", message="too late"))
    for response in (ok, failed):
        assert CommandResponse.from_json(response.to_json()) == response
    with pytest.raises(ContractError) as caught:
        CommandResponse(corr="c", status="error")
    assert caught.value.field == "error"
    with pytest.raises(ContractError) as caught:
        CommandResponse.from_dict({"corr": "c", "status": "ok",
                                   "error": {"code": "x", "message": "y"}})
    assert caught.value.field == "error"


# --- rules across fields ----------------------------------------------------------------------

def test_snapshot_page_is_within_pages() -> None:
    page = SnapshotPage(snapshot_id="snap-1", page=2, pages=2, seq_at_snapshot=0, items=())
    assert SnapshotPage.from_json(page.to_json()) == page
    with pytest.raises(ContractError) as caught:
        SnapshotPage.from_dict(dict(page.to_dict(), page=3))
    assert caught.value.field == "page"


def test_set_parts_rules() -> None:
    SetParts(n=2, of=2, seen=(1, 2))
    for kwargs, field in [({"n": 3, "of": 2, "seen": ()}, "n"),
                          ({"n": 1, "of": 2, "seen": (3,)}, "seen"),
                          ({"n": 1, "of": 2, "seen": (1, 1)}, "seen")]:
        with pytest.raises(ContractError) as caught:
            SetParts(**kwargs)
        assert caught.value.field == field


def test_gate_count_wire_names_and_period() -> None:
    count = GateCountData.from_json(raw({"gate": "gate-1", "in": 12, "out": 10,
                                         "from": "2026-10-01T10:00:00.000Z",
                                         "to": "2026-10-01T10:15:00.000Z"}))
    assert (count.entered, count.left) == (12, 10)
    assert set(json.loads(count.to_json())) == {"gate", "in", "out", "from", "to"}
    with pytest.raises(ContractError) as caught:
        GateCountData.from_dict(dict(count.to_dict(), to="2026-10-01T09:00:00.000Z"))
    assert caught.value.field == "to"


def test_a_rejection_record_cannot_carry_the_payload() -> None:
    names = {s.wire for s in ContractRejectedData.field_specs()}
    assert names == {"topic", "reason", "payload_bytes", "field", "payload_sha256"}
    assert "payload" not in ContractRejectedData.from_dict(
        {"topic": "x", "reason": "y", "payload_bytes": 3, "payload": "secret"}).to_dict()


@given(st.binary(max_size=300))
def test_any_bytes_give_a_message_or_a_contract_error(data: bytes) -> None:
    for cls in (ItemDelta, CommandRequest, NodeStatus):
        with contextlib.suppress(ContractError):
            cls.from_json(data)
