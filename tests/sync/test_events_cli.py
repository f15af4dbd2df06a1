# SPDX-License-Identifier: Apache-2.0
"""``libedge events tail`` against a real broker: events printed once each (by id); events
that do not belong on their topic shown as rejected."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from edge_service.store import Store, StoreConfig
from edge_service.sync import OutboxPublisher
from protocols.contract import ExceptionData, encode_event, event_topic, node_prefix, uuid7
from tests.sync.broker import Mosquitto
from tests.sync.conftest import NODE
from tests.sync.helpers import client, produce

ROOT = Path(__file__).resolve().parent.parent.parent


@contextlib.asynccontextmanager
async def tailing(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``libedge events tail ARGS`` as a child process, killed if the test fails first (a
    failed assertion used to leave it running)."""
    tail = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_service", "events", "tail", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        yield tail
    finally:
        if tail.returncode is None:
            tail.kill()
            await tail.communicate()


async def test_events_tail_prints_each_event_once(tmp_path: Path, broker: Mosquitto) -> None:
    async with tailing("--host", "127.0.0.1", "--port", str(broker.port), "--tenant",
                       NODE.tenant, "--site", NODE.site, "--json", "--count", "3") as tail:
        assert tail.stderr is not None
        assert (await tail.stderr.readline()).startswith(b"connecting to 127.0.0.1:")
        assert (await tail.stderr.readline()).startswith(b"MQTT connected to 127.0.0.1:")
        assert (await tail.stderr.readline()).startswith(b"listening on lib/v1/")
        async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
                client(broker.port, "node") as (node_client, _):
            events = [await produce(store, NODE, n) for n in range(3)]
            publisher = OutboxPublisher(store.outbox, node_client)
            entries = store.outbox.peek(10)
            await node_client.publish(entries[0].topic, entries[0].payload)   # a duplicate
            draining = asyncio.create_task(publisher.run())
            publisher.wake()
            out, err = await asyncio.wait_for(tail.communicate(), 10)
            draining.cancel()
            await asyncio.wait([draining])
    assert tail.returncode == 0, err
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [line["id"] for line in lines] == [e.id for e in events]


async def test_events_tail_rejects_events_that_do_not_belong_on_their_topic(
        tmp_path: Path, broker: Mosquitto) -> None:
    async with tailing("--host", "127.0.0.1", "--port", str(broker.port), "--tenant",
                       NODE.tenant, "--site", NODE.site, "--json", "--count", "1") as tail:
        assert tail.stderr is not None
        for _line in range(3):   # connecting, connected, listening
            await tail.stderr.readline()
        async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
                client(broker.port, "node") as (node_client, _):
            real = await produce(store, NODE, 1)
            gate_count = store.outbox.peek(1)[0].topic
            other_node = dataclasses.replace(
                real, id=uuid7(1_000, os.urandom(10)),
                source=node_prefix(NODE.tenant, NODE.site, "kiosk-9"))
            wrong_kind = dataclasses.replace(
                real, id=uuid7(2_000, os.urandom(10)), type="lib.exception.v1",
                data=ExceptionData(kind="other").to_dict())
            circ = event_topic(NODE.tenant, NODE.site, NODE.node, "circ")
            await node_client.publish(gate_count, encode_event(other_node))
            await node_client.publish(circ, encode_event(wrong_kind))
            await node_client.publish(gate_count, encode_event(real))
            out, err = await asyncio.wait_for(tail.communicate(), 10)
    assert tail.returncode == 0, err
    assert [json.loads(line)["id"] for line in out.decode().splitlines()] == [real.id]
    said = err.decode().splitlines()
    assert (f"rejected event {other_node.id} on {gate_count}: source: '{other_node.source}' "
            f"differs from the topic's node '{real.source}'") in said
    assert (f"rejected event {wrong_kind.id} on {circ}: type: lib.exception.v1 belongs on "
            "evt/exception, not evt/circ") in said


async def test_events_tail_says_why_nothing_comes_when_the_broker_is_away() -> None:
    with socket.socket() as unused:   # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with tailing("--host", "127.0.0.1", "--port", str(port), "--tenant", NODE.tenant,
                       "--site", NODE.site) as tail:
        assert tail.stderr is not None
        first = await asyncio.wait_for(tail.stderr.readline(), 10)
        second = await asyncio.wait_for(tail.stderr.readline(), 10)
        tail.send_signal(signal.SIGINT)
        await tail.communicate()
    said = f"connecting to 127.0.0.1:{port} (retried until it answers; Ctrl-C stops)\n"
    assert first == said.encode()
    assert second.startswith(f"MQTT connect to 127.0.0.1:{port} failed: ".encode()), second
    assert b"refused" in second
