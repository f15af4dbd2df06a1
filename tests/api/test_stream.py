# SPDX-License-Identifier: Apache-2.0
"""The live event stream through the daemon's real server (uvicorn) and a real HTTP client
reading it line by line; messages are published on the server's loop, as the workflows do."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from edge_service.api import append_token
from edge_service.api import stream as stream_module
from edge_service.api import tokens as tokens_module
from edge_service.api.server import SHUTDOWN_TIMEOUT_S
from edge_service.api.stream import EventStreams
from edge_service.daemon import Daemon
from edge_service.workflows import LiveEvents
from tests.api.helpers import REMOTE, Served, error_of, make_app, serve

STREAM = "/api/v1/events/stream"
KINDS = ("pad", "gate.alarm", "session", "device", "item", "gate.count", "staff")
WAIT_S = 5.0


@dataclass
class Block:
    """One SSE block: its fields, in order, and its comment lines."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return next((value for key, value in self.fields if key == name), None)

    @property
    def data(self) -> Any:
        data = self.get("data")
        return None if data is None else json.loads(data)


def read_block(response: http.client.HTTPResponse) -> Block:
    block = Block()
    while True:
        raw = response.readline()
        assert raw, "the stream ended"
        line = raw.decode("utf-8").rstrip("\n")
        if not line:
            if block.fields or block.comments:
                return block
            continue
        if line.startswith(":"):
            block.comments.append(line[1:].strip())
        else:
            key, _, value = line.partition(": ")
            block.fields.append((key, value))


def next_message(response: http.client.HTTPResponse) -> Block:
    """The next block that is not only a comment (heartbeats are skipped)."""
    while not (block := read_block(response)).fields:
        pass
    return block


@dataclass
class Rig:
    server: Served
    daemon: Daemon
    tokens: dict[str, str]
    app: FastAPI
    active: int = 0
    """Streams this rig holds open; the server's count must agree once it has caught up."""

    @property
    def live(self) -> LiveEvents:
        return self.daemon.live

    def open_streams(self) -> int:
        streams: EventStreams = self.app.state.event_streams
        return self.server.call(lambda: streams.count)

    def publish(self, *messages: tuple[str, dict[str, Any]]) -> None:
        """Publish in one go on the server's loop (no reader runs in between)."""
        def run() -> None:
            for kind, data in messages:
                self.live.publish(kind, data)
        self.server.call(run)

    @contextmanager
    def stream(self, role: str | None = "admin", *, query: str = "",
               headers: dict[str, str] | None = None) -> Iterator[http.client.HTTPResponse]:
        """An open stream, once the server has subscribed it to the bus; once the block ends,
        the server has dropped it."""
        connection = self.server.connection(WAIT_S)
        all_headers = {**REMOTE, **(headers or {})}
        if role is not None:
            all_headers["Authorization"] = f"Bearer {self.tokens[role]}"
        connection.request("GET", STREAM + query, headers=all_headers)
        response = connection.getresponse()
        try:
            assert response.status == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            opening = read_block(response)
            assert opening.fields == [("retry", str(stream_module.RETRY_MS))]
            self.active += 1
            wait_until(lambda: self.open_streams() == self.active)
            yield response
        finally:
            connection.close()
        self.active -= 1
        wait_until(lambda: self.open_streams() == self.active)


def wait_until(condition: Any, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    app, daemon, tokens = make_app(tmp_path)
    with serve(app) as server:
        yield Rig(server, daemon, tokens, app)


def test_messages_arrive_with_id_event_and_json_data(rig: Rig) -> None:
    with rig.stream("admin") as response:
        rig.publish(("pad", {"uids": ["E004015012345678"], "pad": "pad"}),
                    ("gate.alarm", {"gate": "gate-1", "item": "11223344"}))
        first, second = next_message(response), next_message(response)
    assert first.fields == [("id", "1"), ("event", "pad"),
                            ("data", '{"uids":["E004015012345678"],"pad":"pad"}')]
    assert (second.get("id"), second.get("event")) == ("2", "gate.alarm")
    assert second.data == {"gate": "gate-1", "item": "11223344"}


@pytest.mark.parametrize(("role", "sees"), [
    ("kiosk", ["pad", "session", "item"]),
    ("gate", ["gate.alarm", "gate.count"]),
    ("staff", list(KINDS)),
    ("admin", list(KINDS)),
])
def test_each_role_sees_its_kinds_only(rig: Rig, role: str, sees: list[str]) -> None:
    with rig.stream(role) as response:
        rig.publish(*((kind, {"n": n}) for n, kind in enumerate(KINDS)))
        # The last kind this role sees comes last: anything leaked would arrive before it.
        got = [next_message(response).get("event") for _ in sees]
    assert got == sees


def test_a_kiosk_token_bound_to_a_pad_sees_that_pad_only(
        rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "RELOAD_CHECK_S", 0.0)
    rig.tokens["kiosk:pad-b"] = append_token(tmp_path / "api-tokens", "kiosk", pad="pad-b")
    with rig.stream("kiosk:pad-b") as response:
        rig.publish(("pad", {"reader": "pad-a", "tags": 2}),
                    ("session", {"reader": "pad-a", "event": "opened"}),
                    ("item", {"n": 3}),                      # names no pad: not shown either
                    ("gate.alarm", {"reader": "pad-b"}),     # not a kiosk's kind
                    ("item", {"reader": "pad-b", "n": 5}))
        # The one message for pad-b comes last: anything leaked would arrive before it.
        assert next_message(response).data == {"reader": "pad-b", "n": 5}


def test_query_token_opens_the_stream_for_eventsource(rig: Rig) -> None:
    with rig.stream(None, query=f"?token={rig.tokens['gate']}") as response:
        rig.publish(("pad", {}), ("gate.count", {"in": 1}))
        assert next_message(response).get("event") == "gate.count"


def test_heartbeat_comment_when_quiet(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "HEARTBEAT_S", 0.05)
    with rig.stream("kiosk") as response:
        block = read_block(response)
        assert block == Block(comments=["heartbeat"])
        rig.publish(("item", {"n": 1}))
        assert next_message(response).data == {"n": 1}


def test_slow_reader_gets_resync_with_the_missed_count(rig: Rig) -> None:
    limit = 256   # LiveEvents' queue per subscriber
    with rig.stream("staff") as response:
        rig.publish(*(("item", {"n": n}) for n in range(limit + 44)))
        resync = next_message(response)
        assert resync.fields[0] == ("event", "resync")
        assert resync.get("id") is None   # Last-Event-ID stays that of a real message
        assert resync.data == {"missed": 44, "reason": "slow"}
        first = next_message(response)
        assert (first.get("id"), first.data) == ("45", {"n": 44})
        rest = [next_message(response).data["n"] for _ in range(limit - 1)]
    assert rest == list(range(45, limit + 44))


def test_unencodable_message_is_skipped_and_counted(rig: Rig) -> None:
    with rig.stream("staff") as response:
        rig.publish(("item", {"weight": float("nan")}), ("item", {"n": 2}))
        assert next_message(response).data == {"missed": 1, "reason": "slow"}
        assert next_message(response).data == {"n": 2}


def test_last_event_id_is_not_replayed_but_announced(rig: Rig) -> None:
    rig.publish(("item", {"n": 1}), ("item", {"n": 2}))
    with rig.stream("staff", headers={"Last-Event-ID": "1"}) as response:
        resync = next_message(response)
        assert (resync.get("event"), resync.data) == ("resync",
                                                      {"missed": None, "reason": "reconnected"})
        rig.publish(("item", {"n": 3}))
        assert next_message(response).get("id") == "3"   # 2 is not replayed
    with rig.stream("staff", headers={"Last-Event-ID": "3"}) as response:
        rig.publish(("item", {"n": 4}))
        assert next_message(response).get("id") == "4"   # up to date: no resync
    with rig.stream("staff", headers={"Last-Event-ID": "not a number"}) as response:
        assert next_message(response).get("event") == "resync"


def test_client_leaving_ends_its_subscription(rig: Rig) -> None:
    with rig.stream("kiosk"), rig.stream("gate"):
        assert rig.server.call(lambda: rig.live.subscribers) == 2
    # rig.stream waited for the server to drop each one.
    assert rig.server.call(lambda: rig.live.subscribers) == 0


def test_too_many_streams_is_503_in_the_error_shape(rig: Rig,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "MAX_STREAMS", 1)
    with rig.stream("kiosk"):
        status, headers, body = rig.server.request("GET", STREAM, token=rig.tokens["staff"])
        assert status == 503
        assert headers["retry-after"] == "3"
        assert error_of(body)["code"] == "too_many_streams"


def test_streams_asked_for_together_are_held_to_the_bound(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    # The handler answers before the stream starts: a check at the start alone let most of a
    # burst through (76 of 120 against a bound of 32).
    monkeypatch.setattr(stream_module, "MAX_STREAMS", 3)
    request = (f"GET {STREAM} HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 192.0.2.7\r\n"
               f"Authorization: Bearer {rig.tokens['staff']}\r\n\r\n").encode()
    burst = [socket.create_connection((rig.server.host, rig.server.port), WAIT_S)
             for _ in range(40)]
    try:
        for sock in burst:   # all sent before any answer is read
            sock.sendall(request)
        statuses = [int(sock.makefile("rb").readline().split()[1]) for sock in burst]
    finally:
        for sock in burst:
            sock.close()
    assert sorted(statuses) == [200] * 3 + [503] * 37


def test_a_withdrawn_token_ends_its_open_stream(
        tmp_path: Path, rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "RELOAD_CHECK_S", 0.0)
    tokens_file = tmp_path / "api-tokens"
    withdrawn = append_token(tokens_file, "staff", "desk 2")
    rig.tokens["desk 2"] = withdrawn
    with rig.stream("desk 2") as response, rig.stream("gate") as staying:
        tokens_file.write_text("".join(line + "\n" for line in tokens_file.read_text()
                                       .splitlines() if withdrawn not in line))
        rig.publish(("gate.count", {"in": 1}))
        assert next_message(staying).data == {"in": 1}   # the others go on
        with pytest.raises(AssertionError, match="the stream ended"):
            next_message(response)   # ended, and nothing more was sent to it


def test_server_stop_ends_open_streams_at_once(tmp_path: Path) -> None:
    app, daemon, tokens = make_app(tmp_path)
    with serve(app) as server:
        connection = server.connection(WAIT_S)
        try:
            connection.request("GET", STREAM,
                               headers={"Authorization": f"Bearer {tokens['gate']}"})
            response = connection.getresponse()
            assert response.status == 200
            wait_until(lambda: server.call(lambda: daemon.live.subscribers) == 1)
        except BaseException:
            connection.close()
            raise
        stopping = time.monotonic()
    try:
        # Without closing the streams, uvicorn would wait out its grace period for this one.
        assert time.monotonic() - stopping < SHUTDOWN_TIMEOUT_S
        rest = response.read()   # the stream ended: the read returns instead of waiting
        assert rest == f"retry: {stream_module.RETRY_MS}\n\n".encode()
        assert daemon.live.subscribers == 0
    finally:
        connection.close()
