# SPDX-License-Identifier: Apache-2.0
"""docs/mqtt/asyncapi.yaml describes the contract the code implements: every channel of the
table with its QoS and retain flag, every event type, every schema file; every example passes
both the schema and the Python codec."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
import yaml

from protocols.contract import (
    CHANNELS,
    EVENT_KINDS,
    EVENT_TYPES,
    CommandRequest,
    Event,
    NodeStatus,
    event_data,
    parse_topic,
)
from tests.contract.schema_tools import (
    DOCS,
    SCHEMA_OF,
    all_schemas,
    event_schema_file,
    schema_errors,
)

SCHEMA_FORMAT = "application/schema+json;version=draft-07"
CLASS_OF = {name: cls for cls, name in SCHEMA_OF.items()}


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    return loaded


def resolve(pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = document()
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def walk_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in walk_refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in walk_refs(value)]
    return []


def message_schema_file(message: dict[str, Any]) -> str:
    payload = message["payload"]
    assert payload["schemaFormat"] == SCHEMA_FORMAT
    ref = payload["schema"]["$ref"]
    assert ref.startswith("./schemas/"), ref
    return str(ref.removeprefix("./schemas/"))


def test_it_is_asyncapi_3() -> None:
    assert document()["asyncapi"] == "3.0.0"
    assert document()["info"]["version"] == "1.0.0"


def test_every_internal_reference_resolves() -> None:
    for ref in walk_refs(document()):
        if ref.startswith("#/"):
            resolve(ref)
        else:
            assert (DOCS / ref).is_file(), ref


def test_every_schema_file_is_referenced() -> None:
    referenced: set[str] = set()
    pending = [r.removeprefix("./schemas/") for r in walk_refs(document())
               if r.startswith("./schemas/")]
    while pending:
        name = pending.pop().split("#")[0]
        if not name or name in referenced:
            continue
        referenced.add(name)
        pending += [r for r in walk_refs(all_schemas()[name]) if not r.startswith("#")]
    assert referenced == set(all_schemas())
    # and every message-level file directly
    direct = {message_schema_file(m) for m in document()["components"]["messages"].values()}
    assert direct == set(SCHEMA_OF.values()) - {"item-record.json", "envelope.json"} - {
        n for n in all_schemas() if n.startswith("data-")} | {
        event_schema_file(t) for t in EVENT_TYPES}


def test_channels_are_the_channel_table() -> None:
    channels = document()["channels"]
    by_address = {c["address"]: name for name, c in channels.items()}
    assert set(by_address) == {c.template for c in CHANNELS.values()}
    for channel in CHANNELS.values():
        described = channels[by_address[channel.template]]
        assert set(described["parameters"]) == set(channel.placeholders)
        for name, ref in described["parameters"].items():
            assert ref == {"$ref": f"#/components/parameters/{name}"}


def test_operations_have_the_tables_direction_qos_and_retain() -> None:
    channels = document()["channels"]
    kind_of = {f"#/channels/{name}": next(
        k for k, c in CHANNELS.items() if c.template == ch["address"])
        for name, ch in channels.items()}
    seen = set()
    for name, operation in document()["operations"].items():
        kind = kind_of[operation["channel"]["$ref"]]
        channel = CHANNELS[kind]
        assert operation["action"] == ("send" if channel.direction == "up" else "receive"), name
        binding = operation["bindings"]["mqtt"]
        assert (binding["qos"], binding["retain"]) == (channel.qos, channel.retain), name
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            resolve(ref["$ref"])
        seen.add(kind)
    assert seen == set(CHANNELS)


def test_the_event_channel_carries_every_event_type_and_kind() -> None:
    channel = document()["channels"]["events"]
    assert resolve("#/components/parameters/event_kind")["enum"] == list(EVENT_KINDS)
    names = {}
    for ref in channel["messages"].values():
        message = resolve(ref["$ref"])
        names[message["name"]] = message_schema_file(message)
    assert names == {t: event_schema_file(t) for t in EVENT_TYPES}


def test_commands_reply_on_the_response_channel_with_correlation() -> None:
    operation = document()["operations"]["receiveCommand"]
    assert operation["reply"]["channel"]["$ref"] == "#/channels/response"
    assert operation["reply"]["address"]["location"] == "$message.payload#/reply_to"
    request = resolve("#/components/messages/commandRequest")
    assert request["correlationId"]["location"] == "$message.payload#/corr"
    assert "messageExpiryInterval" in operation["bindings"]["mqtt"]


def test_server_security_and_session() -> None:
    schemes = document()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"X509", "userPassword"}
    server = document()["servers"]["consortium"]
    assert server["protocol"] == "secure-mqtt"
    assert server["host"].endswith(":8883")
    assert {r["$ref"] for r in server["security"]} == {
        f"#/components/securitySchemes/{name}" for name in schemes}
    mqtt = server["bindings"]["mqtt"]
    assert mqtt["cleanSession"] is False
    assert mqtt["sessionExpiryInterval"] > 0
    will = mqtt["lastWill"]
    assert will["topic"] == CHANNELS[parse_topic("lib/v1/t/s/n/status").kind].template
    assert (will["qos"], will["retain"]) == (1, True)
    assert NodeStatus.from_json(will["message"].encode()).state == "offline"


def examples() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for name, message in document()["components"]["messages"].items():
        for index, example in enumerate(message.get("examples", [])):
            found.append((f"{name}[{index}]", message_schema_file(message), example["payload"]))
    return found


@pytest.mark.parametrize(("where", "schema", "payload"), examples(), ids=[e[0] for e in examples()])
def test_every_example_passes_schema_and_codec(where: str, schema: str,
                                               payload: dict[str, Any]) -> None:
    for draft in ("2020-12", "draft-07"):
        assert schema_errors(schema, payload, draft) == [], (where, draft)
    raw = json.dumps(payload).encode()
    if schema.startswith("event-"):
        event = Event.from_json(raw)
        assert event_schema_file(event.type) == schema
        event_data(event)
    else:
        CLASS_OF[schema].from_json(raw)


def test_every_message_has_an_example() -> None:
    for name, message in document()["components"]["messages"].items():
        assert message.get("examples"), name


def test_the_mqtt5_command_example_needs_its_properties() -> None:
    example = resolve("#/components/messages/commandRequest")["examples"][0]["payload"]
    request = CommandRequest.from_dict(example)
    assert request.corr is None
    assert request.expires is None


def test_no_patron_identifier_in_any_example() -> None:
    text = (DOCS / "asyncapi.yaml").read_text()
    for match in re.finditer(r"patron: (\S+)", text):
        assert match.group(1).startswith("h:")
