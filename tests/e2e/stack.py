# SPDX-License-Identifier: Apache-2.0
"""The whole stack for the end-to-end tests, every part a real process:

    simulated pad (`libedge sim reader`, a pty) --> `libedge run` (kiosk, gate, journal, outbox)
        --> mosquitto --> `libedge gateway` --> SIP2 --> `libedge sim ils`

A gate (or any further reader) is added to the running daemon by a reload (``add_reader``), so
its scenario's timeline starts once the daemon is up. The daemon can be stopped, killed and
started again on the same files; the broker stopped and started again on the same port.

    with running_stack(tmp_path, pad=[catalog_tag(b) for b in BOOKS]) as stack:
        session = stack.open_session(SOREN, PINS[SOREN])
        stack.wait_session(session["id"], lambda s: s["counts"].get("done") == 3, "done")
        stack.tap.wait_events(lambda events: ..., "3 checkouts")   # as mosquitto delivered them
        stack.stop_daemon()
        stack.pad_afis()                                   # the tags, read over the pty
        stack.ils_items([...])                             # the ILS, over SIP2

Each side is read the way its owner would: the events from the broker (``BrokerTap``, a paho
MQTT 5 session of its own, subscribed to ``lib/v1/#`` before the daemon starts), the ILS over
SIP2 (``Sip2Client``, as another self-check would), the tags through ``libedge reader`` on the
pad's pty once the daemon has let go of it, the journal and outbox from the SQLite file.

Not responsible for: the scenarios and their verdicts (the ``test_*`` modules).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_service.ils import ItemInformationResult, Sip2Client, Sip2Profile
from protocols.contract import (
    CheckoutRequest,
    CirculationOutcome,
    CirculationReply,
    ContractError,
    Event,
    ItemInfoRequest,
    decode_event,
    format_time,
    node_prefix,
    reply_topic,
    request_topic,
)
from tests.daemon.harness import (
    PYTHON,
    ROOT,
    Notifications,
    api_base,
    api_token,
    get_json,
    notify_socket,
    send_json,
    start_daemon,
    stop,
    write_config,
)
from tests.sync.broker import Mosquitto

T = TypeVar("T")

TENANT, SITE, NODE = "DK-718500", "DK-718501", "kiosk-1"
OWNER = "DK-718500"
SOURCE = node_prefix(TENANT, SITE, NODE)
START_TIMEOUT_S = 20.0
LINK_TIMEOUT_S = 20.0
WAIT_S = 20.0
PROBE_EVERY_S = 2.0
NOTIFY_DRAIN_S = 0.05
ILS_LOGIN = ("kiosk1", "kiosk1-secret")
"""The sample catalogue's self-check account: the test reads the ILS as another kiosk would."""
GATEWAY_LOGIN = ("gateway", "gateway-secret")


def until(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """``probe()`` once it gives something true (not None, False, empty)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


# --- the broker, as a central consumer sees it ------------------------------------------------


class BrokerTap:
    """Everything published under ``lib/v1/`` on the broker, as received (duplicates too).

    An MQTT 5 session with ``clean_start`` false and a session expiry: while the broker restarts
    it queues QoS 1 messages for this session (mosquitto persists them), so an outage loses
    nothing here that the broker accepted.
    """

    def __init__(self, port: int, client_id: str = "e2e-tap") -> None:
        self.received: list[tuple[str, bytes]] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=properties)
        self.client.loop_start()
        assert self._subscribed.wait(START_TIMEOUT_S), "the tap's subscription was not acked"

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe("lib/v1/#", qos=1)

    def _on_message(self, _client: mqtt.Client, _userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.received.append((message.topic, bytes(message.payload)))
            self._changed.notify_all()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def topics(self) -> list[str]:
        with self._changed:
            return [topic for topic, _ in self.received]

    def payloads(self, suffix: str) -> list[bytes]:
        with self._changed:
            return [payload for topic, payload in self.received if topic.endswith(suffix)]

    def events(self, source: str | None = SOURCE) -> list[Event]:
        """Events (of ``source``; None: of every node), de-duplicated by id, in first-arrival
        order. A payload on an ``evt`` topic that is no contract event fails the test."""
        seen: dict[str, Event] = {}
        with self._changed:
            messages = list(self.received)
        for topic, payload in messages:
            if "/evt/" not in topic:
                continue
            try:
                event = decode_event(payload)
            except ContractError as exc:
                raise AssertionError(f"{topic}: not a contract event: {exc}") from None
            assert topic.startswith(event.source + "/evt/"), (topic, event.source)
            if (source is None or event.source == source) and event.id not in seen:
                seen[event.id] = event
        return list(seen.values())

    def wait_events(self, predicate: Callable[[list[Event]], bool], what: str,
                    timeout_s: float = WAIT_S, source: str | None = SOURCE) -> list[Event]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate(events := self.events(source)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}; events: "
                                         f"{[(e.seq, e.type) for e in events]}")
                self._changed.wait(min(remaining, 0.2))
        return events


def in_seq_order(events: Sequence[Event]) -> bool:
    """Whether the first arrivals of each source came in that source's ``seq`` order."""
    last: dict[str, int] = {}
    for event in events:
        if event.seq <= last.get(event.source, 0):
            return False
        last[event.source] = event.seq
    return True


def items_of(events: Sequence[Event], type_: str) -> list[str]:
    return sorted(str(e.data["primary_item_id"]) for e in events if e.type == type_)


# --- the ILS over SIP2 -------------------------------------------------------------------------


def _profile(port: int) -> Sip2Profile:
    user, password = ILS_LOGIN
    return Sip2Profile(host="127.0.0.1", port=port, name="e2e", login_user=user,
                       login_password=password, location_code="MAIN", institution_id=OWNER,
                       timeout_s=10.0, heartbeat_s=0)


def ils_items(port: int, items: Sequence[str]) -> dict[str, ItemInformationResult]:
    """SIP2 item information (17/18) for each item, from the ILS itself."""
    async def ask() -> dict[str, ItemInformationResult]:
        async with Sip2Client(_profile(port)) as client:
            return {item: await client.item_information(item) for item in items}
    return asyncio.run(ask())


def ils_loans(port: int, patron: str, pin: str) -> set[str]:
    """The items the ILS has on loan to ``patron`` (SIP2 patron information, charged items)."""
    async def ask() -> set[str]:
        async with Sip2Client(_profile(port)) as client:
            info = await client.patron_information(patron, pin=pin,
                                                   summary="charged items", end_item=100)
            return set(info.charged_items)
    return asyncio.run(ask())


CHARGED = 4
"""SIP2 circulation status 04: charged (on loan)."""


# --- the child processes -----------------------------------------------------------------------


def _first_line(process: subprocess.Popen[str], what: str, expect: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if expect not in line:
        stop(process)
        raise AssertionError(f"{what} did not start: {line!r}")
    return line


@contextlib.contextmanager
def ils_simulator(latency_ms: int = 0) -> Iterator[int]:
    """``libedge sim ils`` with the packaged sample catalogue; yields its SIP2 port."""
    process = subprocess.Popen(
        [PYTHON, "-m", "edge_service", "sim", "ils", "--port", "0",
         "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        line = _first_line(process, "the ILS simulator", " on 127.0.0.1:")
        yield int(line.split(" on 127.0.0.1:")[1].split(";")[0])
    finally:
        stop(process)


@dataclass
class GatewayProcess:
    """``libedge gateway`` as a child process, which a test may kill and start again."""

    config: Path
    log: Path
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        with self.log.open("a") as err:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "edge_service", "gateway", "--config", str(self.config)],
                stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        _first_line(self.process, f"the gateway (see {self.log})", "catalog gateway for")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        stop(self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@contextlib.contextmanager
def gateway(tmp_path: Path, mqtt_port: int, sip2_port: int,
            offline_policy: str = "no_block") -> Iterator[GatewayProcess]:
    """``libedge gateway`` (MQTT -> SIP2) for the tenant, started."""
    user, password = GATEWAY_LOGIN
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\ntenant = "{TENANT}"\nstate_path = "{tmp_path / "gateway.db"}"\n'
        f'instance = "e2e"\npool_size = 2\ndefault_offline_policy = "{offline_policy}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\n\n'
        f'[sip2]\nhost = "127.0.0.1"\nport = {sip2_port}\ninstitution_id = "{OWNER}"\n'
        f'login_user = "{user}"\nlogin_password = "{password}"\nlocation_code = "MAIN"\n'
        'heartbeat_s = 0\ntimeout_s = 10\n')
    process = GatewayProcess(config, tmp_path / "gateway.log")
    try:
        process.start()
        yield process
    finally:
        process.stop()


@contextlib.contextmanager
def simulated_reader(tmp_path: Path, name: str, scenario: Mapping[str, Any],
                     protocol: str = "feig") -> Iterator[str]:
    """``libedge sim reader`` on a pty from a scenario file; yields the stable link path.
    The scenario's clock (its ``events`` timeline) starts when this returns."""
    scenario_file = tmp_path / f"{name}.json"
    scenario_file.write_text(json.dumps(scenario))
    link = tmp_path / name
    process = subprocess.Popen(
        [PYTHON, "-m", "edge_service", "sim", "reader", "--protocol", protocol,
         "--scenario", str(scenario_file), "--link", str(link), "--no-pacing"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        _first_line(process, f"the {name} simulator", "pty: ")
        yield str(link)
    finally:
        stop(process)


def _expires(after_s: float) -> str:
    return format_time(int((time.time() + after_s) * 1000))


def probe_gateway(tap: BrokerTap) -> None:
    """Ask the gateway one question over the broker until it answers: it is subscribed."""
    node = "e2e-probe"
    answers = reply_topic(TENANT, SITE, node)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not tap.payloads(answers):
        assert time.monotonic() < deadline, "the gateway never answered over MQTT"
        # Short-lived: probes sent before the gateway subscribed must not queue up for the ILS.
        request = ItemInfoRequest(corr=uuid.uuid4().hex, expires=_expires(PROBE_EVERY_S),
                                  primary_item_id="5012345601", owner_institution=OWNER)
        tap.publish(request_topic(TENANT, SITE, node, request.NAME), request.to_json())
        asked = time.monotonic()
        while not tap.payloads(answers) and time.monotonic() - asked < PROBE_EVERY_S:
            time.sleep(0.05)


def desk_checkout(tap: BrokerTap, item: str, patron: str, pin: str,
                  node: str = "desk-1") -> CirculationOutcome:
    """A checkout by barcode at another node of the site (a staff desk: no tag is touched),
    asked of the gateway over the broker as that node would."""
    request = CheckoutRequest(corr=uuid.uuid4().hex, expires=_expires(WAIT_S),
                              primary_item_id=item, owner_institution=OWNER, patron_id=patron,
                              pin=pin)
    tap.publish(request_topic(TENANT, SITE, node, request.NAME), request.to_json())

    def answer() -> CirculationReply | None:
        for payload in tap.payloads(reply_topic(TENANT, SITE, node)):
            reply = CirculationReply.from_json(payload)
            if reply.corr == request.corr:
                return reply
        return None
    reply = until(answer, WAIT_S, f"the gateway's answer to the desk checkout of {item}")
    assert reply.status == "ok", reply
    assert reply.outcome is not None
    return reply.outcome


# --- the daemon's live stream (what the gate monitor page shows) -------------------------------


class LiveStream:
    """``GET /api/v1/events/stream`` read on a socket of its own in a thread: every message
    as (event name, data). HTTP/1.0, so the body is the bare text/event-stream."""

    def __init__(self, base: str, token: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._sock = socket.create_connection((host, int(port)), timeout=5)
        self._sock.sendall(f"GET /api/v1/events/stream HTTP/1.0\r\nHost: {host}\r\n"
                           f"Authorization: Bearer {token}\r\n"
                           "Accept: text/event-stream\r\n\r\n".encode())
        self._sock.settimeout(None)   # quiet stretches are normal; close() ends the read
        self._status = b""
        self._head = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._head.wait(5), "the event stream did not answer"
        assert self._status.startswith(b"HTTP/1.1 200"), self._status

    def _read(self) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while chunk := self._sock.recv(65536):
                buffer += chunk
                if not self._head.is_set() and b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    self._status = head.split(b"\r\n", 1)[0]
                    self._head.set()
                while self._head.is_set() and b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    self._parse(block.decode())

    def _parse(self, block: str) -> None:
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if "event" in fields and "data" in fields:
            self.messages.append((fields["event"], json.loads(fields["data"])))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [data for name, data in list(self.messages) if name == event]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)


# --- the daemon --------------------------------------------------------------------------------


def daemon_config(tmp_path: Path, mqtt_port: int, pad: str, *, selfcheck: str = "",
                  gate: str = "") -> Path:
    """``[circulation] backend = "mqtt"`` through the broker, the pad reader, our ISIL."""
    extra = (f'[node]\ntenant = "{TENANT}"\nsite = "{SITE}"\nnode = "{NODE}"\n\n'
             f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mqtt_port}\n'
             'keepalive_s = 5\n\n'
             '[circulation]\nbackend = "mqtt"\nreply_timeout_ms = 10000\n\n'
             f'[library]\nisil = "{OWNER}"\n\n'
             f'[selfcheck]\nset_wait_ms = 300\n{selfcheck}\n'
             f'[gate]\n{gate}\n')
    return write_config(tmp_path / "libedge.toml",
                        [{"name": "pad", "protocol": "feig", "port": pad, "role": "pad"}],
                        db=tmp_path / "libedge.db", extra=extra)


@dataclass
class Stack:
    tmp_path: Path
    broker: Mosquitto
    tap: BrokerTap
    sip2_port: int
    pad: str
    config: Path
    notes: Notifications
    gateway: GatewayProcess
    daemon: subprocess.Popen[Any] | None = None
    base: str = ""
    starts: int = 0
    logs: list[Path] = field(default_factory=list)
    readers: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def db(self) -> Path:
        return self.tmp_path / "libedge.db"

    def token(self, role: str) -> str:
        return api_token(self.tmp_path, role)

    # --- the daemon's life ---------------------------------------------------------------------

    def spawn_daemon(self) -> float:
        """``libedge run`` on the stack's configuration, not waited for; when it was started."""
        assert self.daemon is None or self.daemon.poll() is not None
        self.starts += 1
        log = self.tmp_path / f"daemon-{self.starts}.log"
        self.logs.append(log)
        # A READY=1 an earlier (killed) daemon sent must not pass for this one's.
        self.notes.pump(NOTIFY_DRAIN_S)
        started = time.monotonic()
        self.daemon = start_daemon(self.config, log, NOTIFY_SOCKET=self.notes.address)
        return started

    def start_daemon(self) -> None:
        """``libedge run``, READY, and its ILS link (the broker) connected."""
        started = self.spawn_daemon()
        ready = self.notes.wait_for(lambda f: f.get("READY") == "1", START_TIMEOUT_S,
                                    after=started)
        self.base = api_base(ready)
        self.wait_ils("connected")

    def stop_daemon(self) -> None:
        """SIGTERM: open sessions are ended (unfinished items undone), the store flushed."""
        assert self.daemon is not None
        assert stop(self.daemon) == 0, self.log_tail()

    def kill_daemon(self) -> None:
        assert self.daemon is not None
        self.daemon.send_signal(signal.SIGKILL)
        assert self.daemon.wait(10) == -signal.SIGKILL
        stop(self.daemon)

    def reload(self) -> None:
        """SIGHUP: the configuration file again; returns once the readers were tried."""
        assert self.daemon is not None
        asked = time.monotonic()
        self.daemon.send_signal(signal.SIGHUP)
        self.notes.wait_for(lambda f: f.get("READY") == "1", START_TIMEOUT_S, after=asked)

    def add_reader(self, name: str, role: str, scenario: Mapping[str, Any]) -> str:
        """Start a simulated FEIG reader, configure it and reload: its timeline starts now."""
        link = self.readers.enter_context(simulated_reader(self.tmp_path, name, scenario))
        self.config.write_text(self.config.read_text() + (
            f'\n[[readers]]\nname = "{name}"\nprotocol = "feig"\nport = "{link}"\n'
            f'role = "{role}"\n'))
        self.reload()
        return link

    def log_tail(self, chars: int = 3000) -> str:
        return "\n".join(p.read_text(errors="replace")[-chars:] for p in self.logs[-1:])

    def health(self) -> dict[str, Any]:
        status, body = get_json(f"{self.base}/api/v1/health")
        assert status == 200, body
        result: dict[str, Any] = body
        return result

    def wait_ils(self, state: str, timeout_s: float = LINK_TIMEOUT_S) -> None:
        until(lambda: self.health()["ils"]["state"] == state, timeout_s,
              f"the ILS link to be {state}")

    # --- the kiosk, over HTTP ------------------------------------------------------------------

    def wait_pad(self, count: int) -> dict[str, Any]:
        def full() -> dict[str, Any] | None:
            _, pad = get_json(f"{self.base}/api/v1/pad", self.token("kiosk"))
            return pad if len(pad["items"]) == count and not pad["reading"] else None
        return until(full, WAIT_S, f"{count} items on the pad")

    def open_session(self, patron: str | None, pin: str | None = None,
                     mode: str = "checkout") -> dict[str, Any]:
        body = {"mode": mode, **({"patron": patron} if patron else {}),
                **({"pin": pin} if pin else {})}
        status, session = send_json(f"{self.base}/api/v1/sessions", body, self.token("kiosk"))
        assert status == 201, session
        result: dict[str, Any] = session
        return result

    def session(self, session_id: str) -> dict[str, Any]:
        status, body = get_json(f"{self.base}/api/v1/sessions/{session_id}",
                                self.token("kiosk"))
        assert status == 200, body
        result: dict[str, Any] = body
        return result

    def wait_session(self, session_id: str, predicate: Callable[[dict[str, Any]], bool],
                     what: str, timeout_s: float = WAIT_S) -> dict[str, Any]:
        def matching() -> dict[str, Any] | None:
            session = self.session(session_id)
            return session if predicate(session) else None
        return until(matching, timeout_s, what)

    def end_session(self, session_id: str) -> dict[str, Any]:
        status, receipt = send_json(f"{self.base}/api/v1/sessions/{session_id}/end", {},
                                    self.token("kiosk"))
        assert status == 200, receipt
        result: dict[str, Any] = receipt
        return result

    def exceptions(self) -> list[dict[str, Any]]:
        status, body = get_json(f"{self.base}/api/v1/exceptions", self.token("staff"))
        assert status == 200, body
        result: list[dict[str, Any]] = body["exceptions"]
        return result

    # --- the ILS, over SIP2 --------------------------------------------------------------------

    def ils_items(self, items: Sequence[str]) -> dict[str, ItemInformationResult]:
        return ils_items(self.sip2_port, items)

    def ils_loans(self, patron: str, pin: str) -> set[str]:
        return ils_loans(self.sip2_port, patron, pin)

    # --- the catalogue, as the gateway publishes it -------------------------------------------

    def import_items(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """``libedge gateway import`` of (item, title, circulation status) rows: item deltas
        for the site, as a library loads its catalogue."""
        csv = self.tmp_path / "items.csv"
        csv.write_text("owner_institution,primary_item_id,title,media,circulation_status,"
                       "set_size,sort_bin\n"
                       + "".join(f"{OWNER},{item},{title},book,{status},1,\n"
                                 for item, title, status in rows))
        result = subprocess.run(
            [PYTHON, "-m", "edge_service", "gateway", "import", "--config",
             str(self.tmp_path / "gateway.toml"), "--site", SITE, str(csv)],
            capture_output=True, text=True, timeout=30, cwd=ROOT, check=False)
        assert result.returncode == 0, result.stderr

    def cached(self, item: str) -> dict[str, Any] | None:
        """The daemon's cache row of one of our items (None: not known)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM items WHERE owner_institution = ? AND "
                               "primary_item_id = ?", (OWNER, item)).fetchone()
        return dict(row) if row is not None else None

    def live(self, role: str) -> LiveStream:
        return LiveStream(self.base, self.token(role))

    # --- the SQLite file -----------------------------------------------------------------------

    def journal(self) -> list[dict[str, Any]]:
        """Every journal row, oldest first, ``data`` parsed."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT id, kind, state, data, ended_at FROM journal "
                                "ORDER BY created_at, id").fetchall()
        return [{"id": r[0], "kind": r[1], "state": r[2], "data": json.loads(r[3]),
                 "ended": r[4] is not None} for r in rows]

    def outbox_ids(self) -> set[str]:
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            return {r[0] for r in conn.execute("SELECT event_id FROM outbox")}

    def integrity(self) -> str:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])

    # --- the tags, over the pad's pty (only while the daemon is stopped) ------------------------

    def pad_afis(self) -> dict[str, str]:
        """UID -> AFI of the pad's tags in our two security states (07 secured, C2 not), by an
        AFI-filtered inventory through ``libedge reader`` on the pty."""
        assert self.daemon is None or self.daemon.poll() is not None, "the daemon has the pty"
        afis: dict[str, str] = {}
        for afi in ("07", "C2"):
            result = subprocess.run(
                [PYTHON, "-m", "edge_service", "reader", "inventory", "--port", self.pad,
                 "--protocol", "feig", "--afi", afi, "--json"],
                capture_output=True, text=True, timeout=30, cwd=ROOT, check=False)
            assert result.returncode == 0, result.stderr
            afis.update({tag["uid"]: afi for tag in json.loads(result.stdout)["tags"]})
        return afis

    # --- privacy -------------------------------------------------------------------------------

    def assert_private(self, *identifiers: str) -> None:
        """No patron identifier in any topic, any event, the daemon's or the gateway's logs.
        (Requests to the gateway carry the patron by design.) Card numbers only: a 4-digit
        PIN turns up by chance in ports, UUIDs and times, so it cannot be searched for."""
        for identifier in identifiers:
            assert not [t for t in self.tap.topics() if identifier in t]
            assert not [p for p in self.tap.payloads("") if identifier.encode() in p
                        and b'"specversion"' in p]
            for log in [*self.logs, self.gateway.log]:
                assert identifier not in log.read_text(errors="replace"), log


@contextlib.contextmanager
def running_stack(tmp_path: Path, *, pad: Sequence[Mapping[str, Any]] | Mapping[str, Any],
                  ils_latency_ms: int = 0, offline_policy: str = "no_block",
                  selfcheck: str = "", gate: str = "", start: bool = True) -> Iterator[Stack]:
    """Every part started, the daemon READY with its ILS link connected (``start``). ``pad``
    is a list of scenario tags present from the start, or a whole scenario."""
    scenario = dict(pad) if isinstance(pad, Mapping) else {"tags": list(pad)}
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    broker = Mosquitto(broker_dir)
    broker.start()
    try:
        with (ils_simulator(ils_latency_ms) as sip2_port,
              gateway(tmp_path, broker.port, sip2_port, offline_policy) as gateway_process,
              simulated_reader(tmp_path, "pad", scenario) as pad_link,
              notify_socket(tmp_path / "notify") as notes):
            tap = BrokerTap(broker.port)
            stack = Stack(tmp_path, broker, tap, sip2_port, pad_link,
                          daemon_config(tmp_path, broker.port, pad_link, selfcheck=selfcheck,
                                        gate=gate), notes, gateway_process)
            try:
                probe_gateway(tap)
                if start:
                    stack.start_daemon()
                yield stack
            finally:
                if stack.daemon is not None:
                    stop(stack.daemon)
                stack.readers.close()
                tap.close()
    finally:
        broker.stop()
