# SPDX-License-Identifier: Apache-2.0
"""An asyncio MQTT client over paho-mqtt 2.x; the only module of LibEdge that imports paho.

Threading: each connection attempt builds a fresh paho ``Client``; only its blocking connect
(DNS, TCP, TLS handshake, CONNECT) runs in a worker thread. After that paho has no thread of
its own: the event loop watches its socket and calls ``loop_read``/``loop_write`` when it is
ready (paho's socket callbacks say when there is something to write), and ``loop_misc`` once a
second for the keepalive. With ``loop_start`` paho's thread took the GIL for every PUBACK and
every publish (it wakes to write what the loop queued): while the outbox drained, the gate's
decision waited behind it (the alarm p99 in ``bench/gate.py`` went from 3.3-4.0 ms to ~2.3 ms
without it). Every paho callback does one thing: copy what it got into plain values and hop
to the next turn of the loop (``call_soon``; ``call_soon_threadsafe`` from the connecting
thread), so nothing settles a future inside paho's stack; each is wrapped so that nothing ever
raises into paho (reference §1.1). All state lives on the event loop.

Connection: ``run()`` is our own reconnect loop (paho's has no jitter, §1.1): connect, wait
for CONNACK, re-subscribe, run the ``on_connect`` hooks (birth, retained state, outbox wake),
wait for the disconnect, back off with full jitter ``uniform(0, min(cap, base * 2**n))`` (the
AWS "Full Jitter" scheme), and again. ``n`` resets after a connection that stayed up for
``STABLE_CONNECTION_S``. paho's own reconnect is off (``reconnect_on_failure=False``): its
thread ends with the connection and the next attempt uses a new client, so no paho state
(message ids, its in-memory queue) outlives a connection.

Sessions: MQTT 5 with Clean Start 0 and an explicit Session Expiry Interval (without one the
session ends with the connection, §1.1), or MQTT 3.1.1 with ``clean_session=False``.

Publishing: ``await publish()`` resolves on the PUBACK, matched by message id in
``on_publish`` (never ``MessageInfo.wait_for_publish``, which raises while offline). A
disconnect fails every pending publish with :class:`NotConnected`; a PUBACK with a failure
reason code (MQTT 5) raises :class:`PublishRefused`. The caller owns durability (the outbox).

In-flight window: at most ``max_inflight`` QoS 1 messages unacknowledged, lowered to the
broker's Receive Maximum from its CONNACK (MQTT 5 section 3.2.2.3.3: a client that sends more
is disconnected by a broker that enforces it). The window is kept here and paho's own is off
(``max_inflight_messages_set(0)``): paho 2.x ignores the Receive Maximum, and on every PUBACK
its window scans every unacknowledged message (~9 us each at 100, a millisecond of event-loop
time per burst of acknowledgements, in which a gate's decision waits). A publish beyond the
window waits in order in ``_Connection.waiting`` (and a QoS 0 one behind it) and goes to paho as
PUBACKs free the window; one cancelled by its caller while it waits is never sent.

Not responsible for: what is published (``sync``), payload validation (``downlink``), storing
anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_service.sync.errors import ConnectRefused, NotConnected, PublishRefused

logger = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.5
"""First reconnect delay cap; doubled per failed attempt up to ``BACKOFF_CAP_S``."""
BACKOFF_CAP_S = 60.0
STABLE_CONNECTION_S = 60.0
"""A connection that lasted this long resets the backoff (thin-edge.io #2899's idea)."""
CONNACK_TIMEOUT_S = 10.0
MISC_PERIOD_S = 1.0
"""How often paho's housekeeping runs (keepalive PINGREQ, overdue PINGRESP): its own loop's
period."""
MAX_INFLIGHT = 100
"""QoS 1 messages in flight at most (module docstring); the broker's Receive Maximum lowers
it."""
INBOUND_QUEUE_MAX = 10_000
"""Inbound messages not yet consumed; beyond it new ones are dropped and counted (a lost
delta is a gap that resync heals; a lost command is retried by central)."""
WILL_DISCONNECT = 0x04
"""MQTT 5 DISCONNECT reason code "Disconnect with Will Message"."""
PROTOCOLS = {5: MQTTProtocolVersion.MQTTv5, 311: MQTTProtocolVersion.MQTTv311}


@dataclass(frozen=True, slots=True)
class Tls:
    ca_file: str | None = None
    """None: the system's trust store."""
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True
    delay_s: int = 0
    """MQTT 5 Will Delay Interval: a reconnect within it sends no will."""


@dataclass(frozen=True, slots=True)
class ClientSettings:
    host: str
    port: int
    client_id: str
    protocol: int = 5
    keepalive_s: int = 30
    session_expiry_s: int = 86_400
    persistent_session: bool = True
    """False for throwaway consumers (``libedge events tail`` without ``--session``)."""
    username: str | None = None
    password: str | None = None
    tls: Tls | None = None
    will: Will | None = None
    backoff_base_s: float = BACKOFF_BASE_S
    backoff_cap_s: float = BACKOFF_CAP_S
    max_inflight: int = MAX_INFLIGHT


@dataclass(frozen=True, slots=True)
class PublishProperties:
    """MQTT 5 publish properties (ignored under 3.1.1, where the payload carries them)."""

    response_topic: str | None = None
    correlation_data: bytes | None = None
    message_expiry_s: int | None = None
    content_type: str | None = "application/json"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    received_ms: int
    response_topic: str | None = None
    correlation_data: bytes | None = None
    message_expiry_s: int | None = None
    """Remaining Message Expiry Interval as the broker forwarded it (MQTT 5)."""


@dataclass(slots=True)
class ClientCounters:
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    published: int = 0
    received: int = 0
    inbound_dropped: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class _Pending:
    topic: str
    future: asyncio.Future[None]
    qos: int


@dataclass(frozen=True, slots=True)
class _Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Any
    future: asyncio.Future[None]


@dataclass(slots=True)
class _Connection:
    """One connection attempt's paho client and the futures its callbacks settle."""

    client: paho.Client
    connack: asyncio.Future[None]
    closed: asyncio.Future[str]
    window: int
    """QoS 1 messages in flight at most: ``max_inflight``, or the broker's Receive Maximum."""
    pending: dict[int, _Pending] = field(default_factory=dict)
    """Handed to paho, by message id: resolved by its PUBACK (QoS 0: once written)."""
    in_flight: int = 0
    """QoS 1 messages among ``pending``."""
    waiting: deque[_Outgoing] = field(default_factory=deque)
    """QoS 1 messages beyond the window, in publish order."""
    keepalive: asyncio.Task[None] | None = None
    attached: bool = False
    """Driven by the event loop (``_attach``); before that, a worker thread is connecting it."""


def _shut_down_after_connect(shutdown: Callable[[paho.Client], None], client: paho.Client,
                             connecting: asyncio.Future[None]) -> None:
    """On the loop, once an abandoned connect's thread has returned: close what it opened."""
    if not connecting.cancelled():
        connecting.exception()   # retrieved: the attempt was given up, its error is moot
    shutdown(client)


def _properties(packet_type: int) -> Any:
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def _reason_text(reason_code: object) -> str:
    # paho 2.x passes a ReasonCode (or, in some paths, a bare int); never int() it blindly.
    if isinstance(reason_code, ReasonCode):
        return f"{reason_code.getName()} ({reason_code.value})"
    return str(reason_code)


def _is_failure(reason_code: object) -> bool:
    if isinstance(reason_code, ReasonCode):
        return bool(reason_code.is_failure)
    return isinstance(reason_code, int) and reason_code >= 0x80


def backoff_delay(attempt: int, rng: random.Random, *, base_s: float, cap_s: float) -> float:
    """Full-jitter backoff: uniform over [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap_s, base_s * 2 ** min(attempt, 30)))


class MqttClient:
    """One MQTT connection kept up by ``run()``; see the module docstring."""

    def __init__(self, settings: ClientSettings, *, rng: random.Random | None = None) -> None:
        if settings.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be 5 or 311, got {settings.protocol}")
        if settings.max_inflight < 1:
            raise ValueError(f"max_inflight must be at least 1, got {settings.max_inflight}")
        self.settings = settings
        self.counters = ClientCounters()
        self.on_connect: list[Callable[[], Awaitable[None]]] = []
        """Run in order after each CONNACK (and re-subscription); failures are logged."""
        self._rng = rng or random.Random()
        self._subscriptions: dict[str, int] = {}
        self._inbound: asyncio.Queue[InboundMessage] = asyncio.Queue(INBOUND_QUEUE_MAX)
        self._connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._connection: _Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def mqtt5(self) -> bool:
        return self.settings.protocol == 5

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    # --- the reconnect loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and stay connected until ``close()``; never raises for network trouble."""
        self._loop = asyncio.get_running_loop()
        attempt = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self._connect_once()
            except (OSError, ConnectRefused, TimeoutError, ssl.SSLError) as exc:
                self.counters.connect_failures += 1
                self.counters.last_error = str(exc)
                logger.info("MQTT connect to %s:%s failed: %s", self.settings.host,
                            self.settings.port, exc)
            if time.monotonic() - started >= STABLE_CONNECTION_S:
                attempt = 0
            if self._stopping.is_set():
                break
            delay = backoff_delay(attempt, self._rng, base_s=self.settings.backoff_base_s,
                                  cap_s=self.settings.backoff_cap_s)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _connect_once(self) -> None:
        loop = asyncio.get_running_loop()
        client = await asyncio.to_thread(self._new_client)   # TLS files are read here
        conn = _Connection(client, loop.create_future(), loop.create_future(),
                           window=self.settings.max_inflight)
        self._bind_callbacks(conn, loop)
        self._connection = conn
        connecting: asyncio.Future[None] | None = None
        try:
            if self._stopping.is_set():
                return   # close() came while the client was being made
            # DNS, TCP, TLS, CONNECT in a worker thread, which cannot be interrupted: if this
            # task is cancelled meanwhile, the client is left to the thread and shut down once
            # it returns (paho is not thread-safe), see the finally.
            connecting = asyncio.ensure_future(
                asyncio.to_thread(self._blocking_connect, client))
            await asyncio.shield(connecting)
            if self._stopping.is_set():
                return   # close() came while connecting: the finally says DISCONNECT
            if client.socket() is None and conn.connack.done():
                await conn.connack   # closed while connecting: raises the reason it gave
            self._attach(conn, loop)
            async with asyncio.timeout(CONNACK_TIMEOUT_S):
                await conn.connack
            self.counters.connects += 1
            if self._stopping.is_set():
                return
            self._resubscribe(conn)
            self._connected.set()
            logger.info("MQTT connected to %s:%s", self.settings.host, self.settings.port)
            await self._run_hooks()
            reason = await conn.closed
            self.counters.disconnects += 1
            if not self._stopping.is_set():
                logger.warning("MQTT connection lost: %s", reason)
        finally:
            self._connected.clear()
            self._fail_pending(conn, "publishing")
            self._connection = None
            self._detach(conn, loop)
            if not conn.connack.done():
                conn.connack.cancel()   # nobody waits for it any more
            if connecting is not None and not connecting.done():
                connecting.add_done_callback(
                    functools.partial(_shut_down_after_connect, self._shutdown_client, client))
            else:
                self._shutdown_client(client)
            if not conn.closed.done():
                conn.closed.set_result("closed")
            # A refused connection leaves its error in conn.connack, and the error's traceback
            # holds this frame: without these names the cycle no longer reaches the client.
            del conn, client

    def _attach(self, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        """Drive the connected client from the event loop (module docstring, Threading)."""
        client = conn.client
        sock = client.socket()
        if sock is None:
            raise OSError("the MQTT socket closed while connecting")

        def guarded(step: Callable[[], object]) -> Callable[[], None]:
            def run() -> None:
                try:
                    step()
                except Exception as exc:
                    # paho reports network trouble as return codes and on_disconnect; an
                    # exception here is a bug: end this connection rather than spin on it.
                    logger.exception("MQTT socket handling failed")
                    self._closed(conn, f"socket handling failed: {exc!r}")
                    with contextlib.suppress(ValueError, OSError):   # a socket closed already
                        self._unwatch(loop, sock)
            return run

        def read() -> None:
            client.loop_read()
            # TLS: records already decrypted wait in the SSL object, not in the socket.
            while isinstance(sock, ssl.SSLSocket) and sock.pending() and \
                    client.socket() is sock:
                client.loop_read()

        writable = guarded(client.loop_write)

        def register_write(_c: Any, _u: Any, sock: Any) -> None:
            loop.add_writer(sock, writable)

        def unregister_write(_c: Any, _u: Any, sock: Any) -> None:
            loop.remove_writer(sock)

        client.on_socket_register_write = register_write
        client.on_socket_unregister_write = unregister_write
        client.on_socket_close = lambda _c, _u, closing: self._unwatch(loop, closing)
        loop.add_reader(sock, guarded(read))
        if client.want_write():
            loop.add_writer(sock, writable)

        housekeeping = guarded(client.loop_misc)

        async def keepalive() -> None:
            # What paho's own loop does once a second: PINGREQ when due, and the connection
            # closed when the broker's PINGRESP is overdue.
            while True:
                await asyncio.sleep(MISC_PERIOD_S)
                housekeeping()

        conn.keepalive = loop.create_task(keepalive(), name="mqtt keepalive")
        conn.attached = True

    @staticmethod
    def _unwatch(loop: asyncio.AbstractEventLoop, sock: Any) -> None:
        loop.remove_reader(sock)
        loop.remove_writer(sock)

    def _detach(self, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        # Not kept on the connection: a cancelled task's traceback holds the frame that holds
        # the connection, a cycle only the collector would free.
        keepalive, conn.keepalive = conn.keepalive, None
        if keepalive is not None:
            keepalive.cancel()
        sock = conn.client.socket()
        if sock is not None:
            self._unwatch(loop, sock)

    def _blocking_connect(self, client: paho.Client) -> None:
        settings = self.settings
        if self.mqtt5:
            props = _properties(PacketTypes.CONNECT)
            if settings.persistent_session:
                props.SessionExpiryInterval = settings.session_expiry_s
            client.connect(settings.host, settings.port, settings.keepalive_s,
                           clean_start=not settings.persistent_session, properties=props)
        else:
            client.connect(settings.host, settings.port, settings.keepalive_s)

    @staticmethod
    def _shutdown_client(client: paho.Client) -> None:
        """Send DISCONNECT if the socket is still open (written at once: no socket callbacks
        are left to defer it to the loop, which no longer watches the socket) and close it."""
        client.on_socket_register_write = None
        client.on_socket_unregister_write = None
        client.on_socket_close = None
        with contextlib.suppress(Exception):
            client.disconnect()
        sock = client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        # The callbacks hold the connection, which holds the client: a cycle that only the
        # garbage collector frees, and it may finalize paho's wake-up socket pair before the
        # client's __del__ closes it (a ResourceWarning, an error under the tests' filters).
        # Unbound, the client goes when its last reference does, and closes them itself.
        client.on_socket_open = None
        client.on_connect = None
        client.on_disconnect = None
        client.on_connect_fail = None
        client.on_publish = None
        client.on_message = None

    def _new_client(self) -> paho.Client:
        s = self.settings
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=PROTOCOLS[s.protocol],
            clean_session=None if self.mqtt5 else not s.persistent_session,
            reconnect_on_failure=False)
        client.max_inflight_messages_set(0)   # the window is ours (module docstring)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls is not None:
            client.tls_set(ca_certs=s.tls.ca_file, certfile=s.tls.cert_file,
                           keyfile=s.tls.key_file, cert_reqs=ssl.CERT_REQUIRED,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if s.will is not None:
            props = None
            if self.mqtt5 and s.will.delay_s:
                props = _properties(PacketTypes.WILLMESSAGE)
                props.WillDelayInterval = s.will.delay_s
            client.will_set(s.will.topic, s.will.payload, qos=s.will.qos, retain=s.will.retain,
                            properties=props)
        return client

    async def _run_hooks(self) -> None:
        for hook in list(self.on_connect):
            try:
                await hook()
            except NotConnected:
                return
            except Exception:
                logger.exception("MQTT on-connect hook %r failed", hook)

    async def close(self, *, send_will: bool = False) -> None:
        """Disconnect cleanly (no will is sent) and end ``run()``.

        ``send_will``: have the broker publish the will all the same (a goodbye that could
        not be published): MQTT 5 "Disconnect with Will Message" (reason 0x04); under 3.1.1,
        which has no such DISCONNECT, the connection is dropped without one.

        While a worker thread is still connecting (DNS, TCP, TLS) the client is left to it:
        paho is not thread-safe, and ``_connect_once`` sends the DISCONNECT itself once the
        connect returns."""
        self._stopping.set()
        conn = self._connection
        if conn is not None and not conn.closed.done():
            if conn.attached and send_will and self.mqtt5:
                conn.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT,
                                                             identifier=WILL_DISCONNECT))
            elif conn.attached and send_will:
                sock = conn.client.socket()
                if isinstance(sock, socket.socket):   # ssl.SSLSocket is one too
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)   # paho sees the loss and ends
            elif conn.attached:
                conn.client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(conn.closed), CONNACK_TIMEOUT_S)

    # --- callbacks: paho thread -> event loop ------------------------------------------------

    def _bind_callbacks(self, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        loop_thread = threading.get_ident()

        def hop(function: Callable[..., None], *args: Any) -> None:
            if threading.get_ident() == loop_thread:   # from loop_read/write/misc: the norm
                loop.call_soon(function, conn, *args)
                return
            # RuntimeError: the event loop is closed, nobody is listening any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(function, conn, *args)

        def on_connect(_c: Any, _u: Any, _flags: Any, reason_code: Any, props: Any) -> None:
            try:
                receive_maximum = getattr(props, "ReceiveMaximum", None)
                hop(self._connack, _is_failure(reason_code), _reason_text(reason_code),
                    receive_maximum if isinstance(receive_maximum, int) else None)
            except Exception:
                logger.exception("MQTT on_connect callback")

        def on_disconnect(_c: Any, _u: Any, _flags: Any, reason_code: Any, _p: Any) -> None:
            try:
                hop(self._closed, _reason_text(reason_code))
            except Exception:
                logger.exception("MQTT on_disconnect callback")

        def on_connect_fail(_c: Any, _u: Any) -> None:
            try:
                hop(self._closed, "connect failed")
            except Exception:
                logger.exception("MQTT on_connect_fail callback")

        def on_publish(_c: Any, _u: Any, mid: int, reason_code: Any, _p: Any) -> None:
            try:
                hop(self._puback, mid, _is_failure(reason_code), _reason_text(reason_code))
            except Exception:
                logger.exception("MQTT on_publish callback")

        def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
            try:
                hop(self._message, _inbound(msg))
            except Exception:
                logger.exception("MQTT on_message callback")

        def on_socket_open(_c: Any, _u: Any, sock: Any) -> None:
            # paho leaves Nagle on: a reply published right after a PUBACK then waits for the
            # peer's delayed ACK (~40 ms a hop), which made every gateway round trip ~88 ms.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                logger.debug("MQTT socket: TCP_NODELAY not available")

        conn.client.on_socket_open = on_socket_open
        conn.client.on_connect = on_connect
        conn.client.on_disconnect = on_disconnect
        conn.client.on_connect_fail = on_connect_fail
        conn.client.on_publish = on_publish
        conn.client.on_message = on_message

    def _connack(self, conn: _Connection, failed: bool, reason: str,
                 receive_maximum: int | None = None) -> None:
        if conn.connack.done():
            return
        if receive_maximum is not None and receive_maximum >= 1:
            conn.window = min(self.settings.max_inflight, receive_maximum)
        if failed:
            conn.connack.set_exception(
                ConnectRefused(self.settings.host, self.settings.port, reason))
            if not conn.closed.done():
                conn.closed.set_result(reason)
        else:
            conn.connack.set_result(None)

    def _closed(self, conn: _Connection, reason: str) -> None:
        if not conn.connack.done():
            conn.connack.set_exception(ConnectRefused(self.settings.host, self.settings.port,
                                                      f"closed before CONNACK: {reason}"))
        if not conn.closed.done():
            conn.closed.set_result(reason)
        if conn is self._connection:
            self._connected.clear()
        self._fail_pending(conn, "publishing")

    def _puback(self, conn: _Connection, mid: int, failed: bool, reason: str) -> None:
        entry = conn.pending.pop(mid, None)
        if entry is None:
            return
        if not entry.future.done():
            if failed:
                entry.future.set_exception(PublishRefused(entry.topic, reason))
            else:
                self.counters.published += 1
                entry.future.set_result(None)
        if entry.qos:
            conn.in_flight -= 1
            self._release(conn)

    def _release(self, conn: _Connection) -> None:
        """Hand waiting messages to paho, in order, while the window has room (QoS 0 ones
        take none). One that paho refuses fails alone; the rest go on."""
        while conn.waiting and (conn.waiting[0].qos == 0 or conn.in_flight < conn.window):
            waiting = conn.waiting.popleft()
            if waiting.future.done():
                continue   # cancelled by its caller while it waited: never sent
            try:
                self._hand_over(conn, waiting)
            except Exception as exc:   # NotConnected, or paho's ValueError for the message
                waiting.future.set_exception(exc)

    def _message(self, conn: _Connection, message: InboundMessage) -> None:
        self.counters.received += 1
        try:
            self._inbound.put_nowait(message)
        except asyncio.QueueFull:
            self.counters.inbound_dropped += 1
            logger.warning("MQTT inbound queue full: message on %r dropped", message.topic)

    def _fail_pending(self, conn: _Connection, doing: str) -> None:
        pending, conn.pending = conn.pending, {}
        waiting, conn.waiting = conn.waiting, deque()
        conn.in_flight = 0
        for topic, future in [*((p.topic, p.future) for p in pending.values()),
                              *((w.topic, w.future) for w in waiting)]:
            if not future.done():
                future.set_exception(NotConnected(f"{doing} to {topic!r}"))

    # --- publish and subscribe ---------------------------------------------------------------

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                       properties: PublishProperties | None = None) -> asyncio.Future[None]:
        """Hand one message to paho now; the future resolves on its PUBACK (QoS 1) or once it
        is written (QoS 0). Raises :class:`NotConnected` when there is no connection. Calling
        this in order keeps the order: paho writes and the broker forwards in order."""
        conn = self._connection
        if conn is None or not self._connected.is_set():
            raise NotConnected(f"publishing to {topic!r}")
        props = None
        if self.mqtt5 and properties is not None:
            props = _properties(PacketTypes.PUBLISH)
            if properties.response_topic is not None:
                props.ResponseTopic = properties.response_topic
            if properties.correlation_data is not None:
                props.CorrelationData = properties.correlation_data
            if properties.message_expiry_s is not None:
                props.MessageExpiryInterval = properties.message_expiry_s
            if properties.content_type is not None:
                props.ContentType = properties.content_type
                props.PayloadFormatIndicator = 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        message = _Outgoing(topic, payload, qos, retain, props, future)
        if conn.waiting or (qos and conn.in_flight >= conn.window):
            conn.waiting.append(message)   # behind the others, QoS 0 too: the order holds
        else:
            self._hand_over(conn, message)
        return future

    def _hand_over(self, conn: _Connection, message: _Outgoing) -> None:
        info = conn.client.publish(message.topic, message.payload, qos=message.qos,
                                   retain=message.retain, properties=message.properties)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            # NO_CONN still queues the message inside paho; this client is discarded at the
            # disconnect, so it never goes out twice on our account.
            raise NotConnected(f"publishing to {message.topic!r} "
                               f"({paho.error_string(info.rc)})")
        # on_publish hops to the next loop turn, so it runs after this line even when the
        # PUBACK is already in: no race between registering and settling.
        conn.pending[info.mid] = _Pending(message.topic, message.future, message.qos)
        if message.qos:
            conn.in_flight += 1

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                      properties: PublishProperties | None = None) -> None:
        """Publish and wait for the PUBACK; :class:`NotConnected` if the link drops first."""
        await self.publish_nowait(topic, payload, qos=qos, retain=retain, properties=properties)

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        self._subscriptions[topic_filter] = qos
        conn = self._connection
        if conn is not None and self._connected.is_set():
            conn.client.subscribe(topic_filter, qos)

    def _resubscribe(self, conn: _Connection) -> None:
        if self._subscriptions:
            conn.client.subscribe(list(self._subscriptions.items()))

    async def messages(self) -> AsyncIterator[InboundMessage]:
        """Inbound messages in arrival order, for as long as the caller iterates."""
        while True:
            yield await self._inbound.get()


def _inbound(msg: paho.MQTTMessage) -> InboundMessage:
    """Plain values out of a paho message (runs inside paho's loop_read)."""
    props = getattr(msg, "properties", None)
    response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
    correlation = getattr(props, "CorrelationData", None) if props is not None else None
    expiry = getattr(props, "MessageExpiryInterval", None) if props is not None else None
    return InboundMessage(
        topic=msg.topic, payload=bytes(msg.payload), qos=msg.qos, retain=bool(msg.retain),
        received_ms=time.time_ns() // 1_000_000,
        response_topic=response_topic if isinstance(response_topic, str) else None,
        correlation_data=bytes(correlation) if isinstance(correlation, bytes | bytearray)
        else None,
        message_expiry_s=expiry if isinstance(expiry, int) else None)
