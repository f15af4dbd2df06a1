# SPDX-License-Identifier: Apache-2.0
"""Commands from central (``{node}/cmd/{name}``) and the desired/reported twin.

Commands: ``resolve_command`` (contract) merges the MQTT 5 properties (Response Topic,
Correlation Data, Message Expiry) with the 3.1.1 payload fields (``reply_to``, ``corr``,
``expires``; of two expiries the earlier applies). Then:

    outside the contract          rejected (lib.contract.rejected.v1); and when a valid
                                  correlation id and the node's ``res`` can be recovered,
                                  error ``invalid_args`` (bad ``args``) or ``invalid_request``
    expired                       NOT executed; error ``expired``
    no handler                    error ``unknown_command``
    more than MAX_RUNNING at once error ``busy``
    handler returns data          ``ok`` with data;  raises CommandFailed: error with its code
    handler times out / crashes   error ``failed``

The response goes to the request's reply topic (always the node's ``res``) with the
Correlation Data property (MQTT 5) and ``corr`` in the payload (both versions). Handlers run
as tasks, so a slow command never holds up the item deltas.

Twin: a retained ``twin/desired`` with a version above the last one seen is handed to the twin
handler, the version and the effective configuration it returns are stored, and
``twin/reported`` (retained) says so. Without a handler (the daemon: its configuration is the
local TOML file) nothing is applied: ``reported`` keeps version 0 and an empty config, with an
``error`` refusing the desired version; a handler that fails leaves the last applied version
reported, with an ``error`` too. A version at or below the last one seen is only reported again.

Not responsible for: what a command or a configuration does (the handlers' owners).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from edge_service.config import NodeConfig
from edge_service.store import Store
from edge_service.sync.errors import NotConnected, SyncError
from edge_service.sync.mqtt_client import InboundMessage, MqttClient, PublishProperties
from edge_service.sync.node_state import save_twin, twin_state
from edge_service.sync.rejections import RejectionReporter, mask_quoted
from protocols.contract import (
    CommandRequest,
    CommandResponse,
    ContractError,
    ResponseError,
    Topic,
    TwinDesired,
    TwinError,
    TwinReported,
    command_reply_address,
    resolve_command,
    twin_reported_topic,
)

logger = logging.getLogger(__name__)

CommandHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
TwinHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

COMMAND_TIMEOUT_S = 30.0
MAX_RUNNING = 4
MAX_MESSAGE_CHARS = 512


class CommandFailed(SyncError):
    """Raised by a handler: the response is an error with this ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(slots=True)
class CommandCounters:
    executed: int = 0
    expired: int = 0
    unknown: int = 0
    failed: int = 0
    busy: int = 0


class Commands:
    """The command registry and runner of one node."""

    def __init__(self, client: MqttClient, rejections: RejectionReporter, *,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self.client = client
        self.rejections = rejections
        self.counters = CommandCounters()
        self._handlers: dict[str, CommandHandler] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._clock_ms = clock_ms

    def register(self, name: str, handler: CommandHandler) -> None:
        self._handlers[name] = handler

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))

    async def on_command(self, topic: Topic, message: InboundMessage) -> None:
        expires_ms = None
        if message.message_expiry_s is not None:
            expires_ms = message.received_ms + message.message_expiry_s * 1000
        try:
            request = resolve_command(
                message.payload, topic, response_topic_property=message.response_topic,
                correlation_data=message.correlation_data, expires_ms=expires_ms)
        except ContractError as exc:
            await self.rejections.reject(message.topic, message.payload, exc.reason, exc.field)
            await self._answer_refused(topic, message, exc)
            return
        if request.is_expired(self._clock_ms()):
            self.counters.expired += 1
            logger.info("command %s (corr %s) expired: not executed", request.name, request.corr)
            await self._respond(request, error=("expired", "the command expired before it ran"))
            return
        handler = self._handlers.get(request.name)
        if handler is None:
            self.counters.unknown += 1
            await self._respond(request, error=("unknown_command",
                                                f"this node has no command {request.name}"))
            return
        if len(self._running) >= MAX_RUNNING:
            self.counters.busy += 1
            await self._respond(request, error=("busy", "too many commands running"))
            return
        task = asyncio.create_task(self._run(request, handler), name=f"command {request.name}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, request: CommandRequest, handler: CommandHandler) -> None:
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                data = await handler(dict(request.args))
        except CommandFailed as exc:
            self.counters.failed += 1
            await self._respond(request, error=(exc.code, exc.message))
            return
        except Exception as exc:   # a handler's bug is its response, not the link's crash
            self.counters.failed += 1
            logger.exception("command %s failed", request.name)
            await self._respond(request, error=("failed", type(exc).__name__))
            return
        self.counters.executed += 1
        await self._respond(request, data=data or {})

    async def _answer_refused(self, topic: Topic, message: InboundMessage,
                              exc: ContractError) -> None:
        """Tell central why, so it need not wait out its own timeout, when the refused
        request still says where and under which id (quoted values masked, as in the event)."""
        address = command_reply_address(
            message.payload, topic, response_topic_property=message.response_topic,
            correlation_data=message.correlation_data)
        if address is None:
            return
        corr, reply_to = address
        field = exc.field or ""
        code = "invalid_args" if field == "args" or field.startswith(("args.", "args[")) \
            else "invalid_request"
        reason = mask_quoted(str(exc)) or "refused by the contract"
        await self._respond(CommandRequest(name=topic.command or "", args={}, corr=corr,
                                           reply_to=reply_to),
                            error=(code, f"refused: {reason}"))

    async def _respond(self, request: CommandRequest, *, data: dict[str, Any] | None = None,
                       error: tuple[str, str] | None = None) -> None:
        assert request.corr is not None  # resolve_command guarantees both
        assert request.reply_to is not None
        try:
            if error is None:
                response = CommandResponse(corr=request.corr, status="ok", data=data)
            else:
                response = CommandResponse(corr=request.corr, status="error", error=ResponseError(
                    code=error[0], message=error[1][:MAX_MESSAGE_CHARS]))
        except ContractError as exc:   # e.g. handler data that names a patron in clear
            logger.warning("command %s: response refused by the contract: %s", request.name, exc)
            response = CommandResponse(corr=request.corr, status="error", error=ResponseError(
                code="failed", message="the response broke the contract"))
        try:
            await self.client.publish(request.reply_to, response.to_json(), properties=(
                PublishProperties(correlation_data=request.corr.encode())))
        except NotConnected:
            logger.info("command %s: response lost with the connection", request.name)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.wait(list(self._running))


NOT_SUPPORTED = ("remote configuration is not supported by this node: its configuration is "
                 "the local TOML file")


class Twin:
    """Desired -> applied -> reported; see the module docstring."""

    def __init__(self, node: NodeConfig, store: Store, client: MqttClient,
                 rejections: RejectionReporter, handler: TwinHandler | None = None) -> None:
        self.store = store
        self.client = client
        self.rejections = rejections
        self.handler = handler
        self.topic = twin_reported_topic(node.tenant, node.site, node.node)
        self.error: TwinError | None = None   # why the last desired version was not applied

    async def on_desired(self, topic: str, payload: bytes) -> None:
        if not payload:   # a cleared retained message: nothing desired
            return
        try:
            desired = TwinDesired.from_json(payload)
        except ContractError as exc:
            await self.rejections.reject(topic, payload, exc.reason, exc.field)
            return
        if self.handler is None:
            logger.warning("twin version %d not applied: %s", desired.version, NOT_SUPPORTED)
            self.error = TwinError(version=desired.version, code="not_supported",
                                   message=NOT_SUPPORTED)
            await self.report()
            return
        version, _ = twin_state(self.store)
        if version is None or desired.version > version:
            try:
                effective = await self.handler(dict(desired.config))
            except Exception as exc:
                logger.exception("twin version %d not applied", desired.version)
                self.error = TwinError(version=desired.version, code="failed",
                                       message=f"not applied: {type(exc).__name__}")
                await self.report()
                return
            await save_twin(self.store, desired.version, effective)
            self.error = None
        await self.report()

    async def report(self) -> None:
        """Publish (retained) the applied version and why a later one was not applied, if
        there is anything to say. Without a handler nothing from central is ever applied."""
        version, config = (None, None) if self.handler is None else twin_state(self.store)
        if version is None or config is None:
            if self.error is None:
                return
            version, config = 0, {}
        reported = TwinReported(version=version, config=config, error=self.error)
        await self.client.publish(self.topic, reported.to_json(), retain=True)
