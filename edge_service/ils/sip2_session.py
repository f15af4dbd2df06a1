# SPDX-License-Identifier: Apache-2.0
"""One persistent SIP2 connection to an ILS: login, sequence numbers, resend, reconnection and
the SC-status heartbeat.

Exchange rules (3M SIP2 guide as summarised in landscape.md §D):

* One request at a time; every request gets exactly one response. The AY sequence number goes
  0..9 and wraps; the ACS echoes it, so a reply whose sequence differs is a late reply to an
  earlier request and is discarded.
* A reply that does not decode (bad checksum, garbage) -> send 97 "request ACS resend": the
  ACS repeats its last message. At most ``profile.resend_limit`` times, then
  :class:`IlsProtocolError`, and the connection is dropped (the stream is no longer trusted).
* No reply within ``profile.timeout_s`` -> with error detection on, send the *same* request
  bytes again (same sequence and checksum: the ACS recognises the duplicate and repeats its
  reply instead of executing twice). Without error detection a duplicate is indistinguishable
  from a new request and a late reply from a current one, so the connection is dropped and
  :class:`IlsTimeout` raised.
* A 96 "request SC resend" from the ACS -> send the request again.
* Connection lost -> reconnect, log in again (93), SC status (99), and retry the request once
  if it is safe to repeat (``retry_safe``; reads and end-session) or was certainly not sent.
  Failed connection attempts back off exponentially with full jitter; while backing off, calls
  fail fast with :class:`IlsDisconnected` so a kiosk can switch to off-line mode at once.

Privacy: logs carry message ids, sequence numbers and timings, never field values. The
``wire_tap`` hook sees raw lines (for captures an operator switches on deliberately).

Not responsible for: building requests or interpreting replies (``sip2_client``), TLS setup
(pass an ``ssl.SSLContext``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import socket
import ssl as ssl_module
from collections.abc import Callable
from typing import TypeVar

from edge_service.ils.errors import (
    IlsDisconnected,
    IlsError,
    IlsLoginRefused,
    IlsProtocolError,
    IlsTimeout,
)
from edge_service.ils.profile import Sip2Profile
from edge_service.ils.results import AcsStatusResult
from protocols.sip2 import (
    LAYOUTS,
    MAX_MESSAGE_BYTES,
    AcsStatus,
    Frame,
    Login,
    LoginResponse,
    Message,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
    Sip2Error,
    decode_frame,
    encode,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
WireTap = Callable[[str, bytes], None]

SEQUENCE_MODULO = 10  # AY is one digit
SC_MAX_PRINT_WIDTH = 40
SC_STATUS_OK = 0


@dataclasses.dataclass
class SessionCounters:
    """Health counters for metrics; no identifiers."""

    requests: int = 0
    resends: int = 0
    resend_requests: int = 0
    stale_replies: int = 0
    timeouts: int = 0
    connects: int = 0
    logins: int = 0
    connection_losses: int = 0


class _ConnectionLost(Exception):
    def __init__(self, *, sent: bool) -> None:
        self.sent = sent
        super().__init__("connection lost")


class Sip2Session:
    """A SIP2 connection that keeps itself logged in. Use as ``async with``."""

    def __init__(
        self,
        profile: Sip2Profile,
        *,
        ssl: ssl_module.SSLContext | None = None,
        wire_tap: WireTap | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.profile = profile
        self.acs_status: AcsStatusResult | None = None
        self.counters = SessionCounters()
        self._ssl = ssl
        self._wire_tap = wire_tap
        self._rng = rng or random.Random()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._sequence = SEQUENCE_MODULO - 1
        self._failures = 0
        self._next_attempt = 0.0
        self._heartbeat: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Sip2Session:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect and log in now (errors surface here), and start the heartbeat."""
        async with self._lock:
            await self._ensure_connected()
        if self.profile.heartbeat_s and self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="sip2-heartbeat")

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        await self._drop()

    @property
    def connected(self) -> bool:
        return self._writer is not None and self._reader is not None and not self._reader.at_eof()

    # --- requests -----------------------------------------------------------------------------

    async def exchange(self, request: Message, expect: type[M], *, retry_safe: bool) -> M:
        """Send ``request`` and return its reply of type ``expect`` (see the module rules)."""
        async with self._lock:
            for attempt in range(2):
                await self._ensure_connected()
                try:
                    return await self._round_trip(request, expect)
                except _ConnectionLost as lost:
                    self.counters.connection_losses += 1
                    await self._drop()
                    if attempt == 0 and (retry_safe or not lost.sent):
                        log.info("SIP2 %s: connection lost, reconnecting to retry", request.ID)
                        continue
                    raise IlsDisconnected("connection lost during the request",
                                          message_id=request.ID, sent=lost.sent) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def heartbeat(self) -> AcsStatusResult:
        """One SC status exchange (99 -> 98); refreshes :attr:`acs_status`."""
        reply = await self.exchange(self._sc_status(), AcsStatus, retry_safe=True)
        self.acs_status = AcsStatusResult.from_reply(reply)
        return self.acs_status

    # --- internals ----------------------------------------------------------------------------

    def _sc_status(self) -> ScStatus:
        return ScStatus(status_code=SC_STATUS_OK, max_print_width=SC_MAX_PRINT_WIDTH)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.profile.heartbeat_s)
            if self._lock.locked():  # a request is in flight: the session is alive anyway
                continue
            try:
                await self.heartbeat()
            except IlsError as exc:
                log.warning("SIP2 heartbeat to %s failed: %s", self.profile.name, exc)

    async def _ensure_connected(self) -> None:
        if self.connected:
            return
        await self._drop()
        loop = asyncio.get_running_loop()
        wait = self._next_attempt - loop.time()
        if wait > 0:
            raise IlsDisconnected(f"ILS {self.profile.name} unreachable; next attempt in "
                                  f"{wait:.1f} s")
        try:
            await self._connect()
        except (IlsError, OSError, TimeoutError, _ConnectionLost) as exc:
            await self._drop()
            self._failures += 1
            # Full jitter: many kiosks reconnecting after an ILS restart do not arrive together.
            ceiling = min(self.profile.backoff_max_s,
                          self.profile.backoff_initial_s * 2 ** (self._failures - 1))
            self._next_attempt = loop.time() + self._rng.uniform(0, ceiling)
            if isinstance(exc, IlsLoginRefused | IlsProtocolError):
                raise
            raise IlsDisconnected(f"cannot connect to ILS {self.profile.name} at "
                                  f"{self.profile.host}:{self.profile.port}: "
                                  f"{self._connect_failure(exc)}") from None
        self._failures = 0

    def _connect_failure(self, exc: BaseException) -> str:
        """Why a connect failed, in words an operator can act on (not a class name)."""
        if isinstance(exc, _ConnectionLost):
            if self.profile.login_user is None:
                return ("the ILS closed the connection before answering (no SC login was sent: "
                        "if the ILS expects one, configure the login user and password)")
            return "the ILS closed the connection during the SC login"
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.profile.connect_timeout_s:g} s"
        if isinstance(exc, socket.gaierror):
            return f"host name not resolved ({exc.strerror or exc})"
        if isinstance(exc, ssl_module.SSLCertVerificationError):
            return f"its TLS certificate is not trusted ({exc.verify_message or exc.reason})"
        if isinstance(exc, ssl_module.SSLError):
            return f"TLS failed ({exc.reason or exc})"
        if isinstance(exc, OSError) and exc.errno:
            return os.strerror(exc.errno)   # asyncio's own strerror only says "call failed"
        return str(exc) or type(exc).__name__

    async def _connect(self) -> None:
        profile = self.profile
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(profile.host, profile.port, ssl=self._ssl,
                                    limit=MAX_MESSAGE_BYTES),
            profile.connect_timeout_s)
        self.counters.connects += 1
        if profile.login_user is not None:
            login = Login(login_user_id=profile.login_user, login_password=profile.login_password,
                          location_code=profile.location_code)
            reply = await self._round_trip(login, LoginResponse)
            if not reply.ok:
                raise IlsLoginRefused(f"ILS {profile.name} refused the SC login",
                                      message_id=Login.ID)
            self.counters.logins += 1
        status = await self._round_trip(self._sc_status(), AcsStatus)
        self.acs_status = AcsStatusResult.from_reply(status)
        log.info("SIP2 connected to %s (online=%s)", profile.name, self.acs_status.online)

    async def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(OSError, ssl_module.SSLError):
            await writer.wait_closed()

    def _next_sequence(self) -> int:
        self._sequence = (self._sequence + 1) % SEQUENCE_MODULO
        return self._sequence

    def _encode(self, message: Message, sequence: int = 0) -> bytes:
        profile = self.profile
        return encode(message, charset=profile.charset, error_detection=profile.error_detection,
                      sequence=sequence, line_ending=profile.line_ending)

    async def _send(self, wire: bytes, *, sent: bool) -> None:
        if self._writer is None:
            raise _ConnectionLost(sent=sent)
        if self._wire_tap is not None:
            self._wire_tap("sc->acs", wire)
        try:
            self._writer.write(wire)
            await self._writer.drain()
        except (ConnectionError, OSError):
            raise _ConnectionLost(sent=sent) from None

    async def _read_line(self) -> bytes:
        if self._reader is None:
            raise _ConnectionLost(sent=True)
        try:
            line = await self._reader.readuntil(b"\r")
        except asyncio.IncompleteReadError:
            raise _ConnectionLost(sent=True) from None
        except (ConnectionError, OSError):
            raise _ConnectionLost(sent=True) from None
        except asyncio.LimitOverrunError:
            await self._drop()
            raise IlsProtocolError(f"reply longer than {MAX_MESSAGE_BYTES} bytes") from None
        if self._wire_tap is not None:
            self._wire_tap("acs->sc", line)
        return line

    async def _round_trip(self, request: Message, expect: type[M]) -> M:
        profile = self.profile
        sequence = self._next_sequence()
        wire = self._encode(request, sequence)
        self.counters.requests += 1
        await self._send(wire, sent=False)
        resends = 0
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            try:
                line = await asyncio.wait_for(self._read_line(), profile.timeout_s)
            except TimeoutError:
                self.counters.timeouts += 1
                if profile.error_detection and resends < profile.resend_limit:
                    resends += 1
                    self.counters.resends += 1
                    log.debug("SIP2 %s seq=%d: no reply, resending", request.ID, sequence)
                    await self._send(wire, sent=True)
                    continue
                await self._drop()
                raise IlsTimeout(f"no reply within {profile.timeout_s} s after {resends} "
                                 f"resends", message_id=request.ID, sent=True) from None
            try:
                frame = self._decode(line)
            except Sip2Error as exc:
                if resends < profile.resend_limit:
                    resends += 1
                    self.counters.resend_requests += 1
                    log.debug("SIP2 %s seq=%d: bad reply (%s), requesting resend",
                              request.ID, sequence, exc)
                    await self._send(self._encode(RequestAcsResend()), sent=True)
                    continue
                await self._drop()
                raise IlsProtocolError(f"unusable reply after {resends} resend requests: "
                                       f"{exc.reason}", message_id=request.ID,
                                       offset=exc.offset, field=exc.field) from None
            message = frame.message
            if isinstance(message, RequestScResend):
                resends += 1
                await self._send(wire, sent=True)
                continue
            if (profile.error_detection and frame.sequence is not None
                    and frame.sequence != sequence):
                self.counters.stale_replies += 1
                log.debug("SIP2 %s seq=%d: discarding late reply seq=%d", request.ID, sequence,
                          frame.sequence)
                continue
            if not isinstance(message, expect):
                await self._drop()
                got = getattr(message, "ID", None) or getattr(message, "command", "?")
                raise IlsProtocolError(f"expected reply {expect.ID}, got {got}",
                                       message_id=request.ID)
            log.debug("SIP2 %s seq=%d answered in %.1f ms", request.ID, sequence,
                      (loop.time() - started) * 1000)
            return self._checked(message)

    def _decode(self, line: bytes) -> Frame:
        profile = self.profile
        frame = decode_frame(line, charset=profile.charset)
        if profile.error_detection and profile.require_checksum and not frame.checksummed:
            raise Sip2Error("reply without the checksum this profile requires", field="AZ")
        return frame

    def _checked(self, reply: M) -> M:
        """Apply the profile's field expectations and ignores to a reply."""
        profile = self.profile
        table = LAYOUTS[type(reply)]
        expected = profile.expect_fields.get(reply.ID, frozenset())
        if expected:
            present = {v.code for v in table.variable if getattr(reply, v.attr) not in (None, ())}
            present |= {code for code, _ in reply.extra}
            missing = sorted(expected - present)
            if missing:
                raise IlsProtocolError(f"reply lacks fields {missing} this ILS profile expects",
                                       message_id=reply.ID)
        if not profile.ignore_fields:
            return reply
        changes: dict[str, object] = {}
        for var in table.variable:
            if var.code in profile.ignore_fields:
                changes[var.attr] = () if var.repeatable else ("" if var.required else None)
        extra = tuple(p for p in reply.extra if p[0] not in profile.ignore_fields)
        return dataclasses.replace(reply, extra=extra, **changes)
