# SPDX-License-Identifier: Apache-2.0
"""Commands over a real broker: MQTT 5 Response Topic + Correlation Data, the 3.1.1 payload
fallback, an expired command not executed (by either expiry), an unknown command answered, a
refused command answered when it says where; the twin applied, stored and reported, or refused
by a node that takes no configuration from central."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from edge_service.config import MqttConfig
from edge_service.store import Store, StoreConfig
from edge_service.sync import CommandFailed, InboundMessage, MqttSync, PublishProperties
from protocols.contract import (
    CommandResponse,
    TwinDesired,
    TwinReported,
    command_topic,
    format_time,
    response_topic,
    twin_desired_topic,
    twin_reported_topic,
)
from tests.sync.broker import Mosquitto
from tests.sync.central import until
from tests.sync.conftest import NODE
from tests.sync.helpers import FAST_BACKOFF, client

RES = response_topic(NODE.tenant, NODE.site, NODE.node)
REPORTED = twin_reported_topic(NODE.tenant, NODE.site, NODE.node)


def cmd(name: str) -> str:
    return command_topic(NODE.tenant, NODE.site, NODE.node, name)


def responses(messages: list[InboundMessage]) -> dict[str, CommandResponse]:
    out = {}
    for message in messages:
        body = json.loads(message.payload)
        if "status" in body:
            out[body["corr"]] = CommandResponse.from_json(message.payload)
    return out


def error_of(response: CommandResponse) -> tuple[str, str]:
    assert response.error is not None
    return response.error.code, response.error.message


def mqtt5(corr: bytes, expiry_s: int = 30) -> PublishProperties:
    return PublishProperties(response_topic=RES, correlation_data=corr, message_expiry_s=expiry_s)


@contextlib.asynccontextmanager
async def echo_node(tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig
                    ) -> AsyncIterator[tuple[MqttSync, Any, Any, list[dict[str, Any]]]]:
    """A connected node answering ``test.echo`` (the args of each run kept in the list), and
    central's client with what it has seen."""
    runs: list[dict[str, Any]] = []

    async def echo(args: dict[str, Any]) -> dict[str, Any]:
        runs.append(args)
        return {}

    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
            client(broker.port, "central", RES) as (central, seen):
        sync = MqttSync(NODE, mqtt_config, store, software_version="t", **FAST_BACKOFF)
        sync.register_command("test.echo", echo)
        await sync.start()
        try:
            await until(lambda: sync.connected)
            yield sync, central, seen, runs
        finally:
            await sync.stop()


async def test_refused_commands_are_answered_when_they_say_where(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    async with echo_node(tmp_path, broker, mqtt_config) as (sync, central, seen, runs):
        no_expiry = {"name": "test.echo", "args": {}, "corr": "r-1", "reply_to": RES}
        await central.publish(cmd("test.echo"), json.dumps(no_expiry).encode())
        await central.publish(cmd("test.echo"), b'{"name": "door.unlock", "args": {}}',
                              properties=mqtt5(b"r-2"))
        await central.publish(cmd("test.echo"), b'{"name": "test.echo"}',
                              properties=mqtt5(b"r-3"))
        await central.publish(cmd("test.echo"), b'{"name": "test.echo", "args": [1]}',
                              properties=mqtt5(b"r-4"))
        await central.publish(cmd("test.echo"), b'{"name": "test.echo", "args": ',
                              properties=mqtt5(b"r-5"))
        # Correlation Data the contract cannot repeat in ``corr``: no answer (docs/mqtt).
        await central.publish(cmd("test.echo"),
                              b'{"name": "test.echo", "args": {}, "corr": "r-6"}',
                              properties=mqtt5(b"r" * 129))
        elsewhere = response_topic(NODE.tenant, NODE.site, "kiosk-9")
        await central.publish(cmd("test.echo"),
                              b'{"name": "test.echo", "args": {}, "corr": "r-7"}',
                              properties=PublishProperties(
                                  response_topic=elsewhere, correlation_data=b"r-7",
                                  message_expiry_s=30))
        await central.publish(cmd("no.such"), b'{"name": "no.such", "args": {}}',
                              properties=mqtt5(b"r-8"))
        await seen.wait_for(lambda: "r-8" in responses(seen.others))
        await until(lambda: sync.rejections is not None
                    and sync.rejections.counters.rejected == 7)
    got = responses(seen.others)
    assert sorted(got) == ["r-1", "r-2", "r-3", "r-4", "r-5", "r-8"]
    assert error_of(got["r-1"]) == (
        "invalid_request", "refused: expires: is missing (no Message Expiry either)")
    code, message = error_of(got["r-2"])
    assert code == "invalid_request"
    assert message.startswith("refused: name: '…' differs from the topic")   # values masked
    assert error_of(got["r-3"]) == ("invalid_args", "refused: args: is missing")
    assert error_of(got["r-4"])[0] == "invalid_args"
    code, message = error_of(got["r-5"])
    assert code == "invalid_request"
    assert "JSON" in message
    r2 = next(m for m in seen.others if b'"r-2"' in m.payload)
    assert r2.correlation_data == b"r-2"
    assert runs == []


async def test_the_earlier_of_two_expiries_applies(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    async with echo_node(tmp_path, broker, mqtt_config) as (_, central, seen, runs):
        past = {"name": "test.echo", "args": {"x": 1}, "expires": format_time(1_000)}
        await central.publish(cmd("test.echo"), json.dumps(past).encode(),
                              properties=mqtt5(b"e-1", expiry_s=60))
        later = {"name": "test.echo", "args": {"x": 2},
                 "expires": format_time(4_000_000_000_000)}
        await central.publish(cmd("test.echo"), json.dumps(later).encode(),
                              properties=mqtt5(b"e-2", expiry_s=60))
        await seen.wait_for(lambda: len(responses(seen.others)) >= 2)
    got = responses(seen.others)
    assert error_of(got["e-1"])[0] == "expired"
    assert got["e-2"].status == "ok"
    assert runs == [{"x": 2}]


async def test_commands_answer_with_correlation_and_expired_ones_do_not_run(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    runs: list[dict[str, Any]] = []

    async def echo(args: dict[str, Any]) -> dict[str, Any]:
        runs.append(args)
        return {"echo": args["x"]}

    async def refuse(args: dict[str, Any]) -> dict[str, Any]:
        raise CommandFailed("invalid_args", "no door here")

    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
            client(broker.port, "central", RES) as (central, seen):
        sync = MqttSync(NODE, mqtt_config, store, software_version="t", **FAST_BACKOFF)
        sync.register_command("test.echo", echo)
        sync.register_command("door.unlock", refuse)
        await sync.start()
        try:
            await until(lambda: sync.connected)
            late = {"name": "test.echo", "args": {"x": 2}, "corr": "c-2",
                    "expires": format_time(1_000)}     # 3.1.1 style, long expired
            await central.publish(cmd("test.echo"), json.dumps(late).encode())
            await central.publish(cmd("test.echo"), b'{"name": "test.echo", "args": {"x": 1}}',
                                  properties=PublishProperties(
                                      response_topic=RES, correlation_data=b"c-1",
                                      message_expiry_s=30))
            fresh = {"name": "door.unlock", "args": {}, "corr": "c-3", "reply_to": RES,
                     "expires": format_time(4_000_000_000_000)}
            await central.publish(cmd("door.unlock"), json.dumps(fresh).encode())
            await central.publish(cmd("no.such"), b'{"name": "no.such", "args": {}}',
                                  properties=PublishProperties(correlation_data=b"c-4",
                                                               message_expiry_s=30))

            def responses() -> dict[str, CommandResponse]:
                out = {}
                for message in seen.others:
                    body = json.loads(message.payload)
                    if "status" in body:
                        out[body["corr"]] = CommandResponse.from_json(message.payload)
                return out

            await seen.wait_for(lambda: len(responses()) >= 4)
        finally:
            await sync.stop()
    got = responses()
    assert got["c-1"].status == "ok"
    assert got["c-1"].data == {"echo": 1}
    assert got["c-2"].error is not None
    assert got["c-2"].error.code == "expired"
    assert got["c-3"].error is not None
    assert got["c-3"].error.code == "invalid_args"
    assert got["c-4"].error is not None
    assert got["c-4"].error.code == "unknown_command"
    assert runs == [{"x": 1}]    # the expired one never ran
    c1 = next(m for m in seen.others if b'"c-1"' in m.payload)
    assert c1.correlation_data == b"c-1"   # MQTT 5 property echoed


async def test_twin_desired_is_applied_stored_and_reported(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    applied: list[dict[str, Any]] = []

    async def apply(config: dict[str, Any]) -> dict[str, Any]:
        applied.append(config)
        return {**config, "effective": True}

    desired = twin_desired_topic(NODE.tenant, NODE.site, NODE.node)
    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
            client(broker.port, "central", REPORTED) as (central, seen):
        await central.publish(desired, TwinDesired(version=3, config={"gate": "strict"}
                                                   ).to_json(), retain=True)
        for _boot in range(2):    # the second start re-reports without applying again
            sync = MqttSync(NODE, mqtt_config, store, software_version="t",
                            twin_handler=apply, **FAST_BACKOFF)
            await sync.start()
            count = len(seen.others)
            await seen.wait_for(lambda c=count: len(seen.others) > c)
            await sync.stop()
    reported = TwinReported.from_json(seen.others[-1].payload)
    assert (reported.version, reported.config) == (3, {"gate": "strict", "effective": True})
    assert applied == [{"gate": "strict"}]


async def test_a_node_without_a_twin_handler_refuses_desired_config(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    desired = twin_desired_topic(NODE.tenant, NODE.site, NODE.node)
    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
            client(broker.port, "central", REPORTED) as (central, seen):
        await central.publish(desired, TwinDesired(version=9, config={"anything": 1}
                                                   ).to_json(), retain=True)
        for _boot in range(2):    # refused again after a restart, never stored as applied
            sync = MqttSync(NODE, mqtt_config, store, software_version="t", **FAST_BACKOFF)
            await sync.start()
            count = len(seen.others)
            await seen.wait_for(lambda c=count: len(seen.others) > c)
            await sync.stop()
    for message in seen.others:
        reported = TwinReported.from_json(message.payload)
        assert (reported.version, reported.config) == (0, {})
        assert reported.error is not None
        assert (reported.error.version, reported.error.code) == (9, "not_supported")
        assert "local TOML file" in reported.error.message
