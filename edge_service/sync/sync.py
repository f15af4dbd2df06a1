# SPDX-License-Identifier: Apache-2.0
"""MqttSync: the daemon's MQTT link, assembled from the parts of this package.

    start():  boot_seq += 1 (stored) -> client with the will (retained ``status`` offline,
              Will Delay 30 s under MQTT 5) -> reconnect loop, outbox publisher, downlink
    each (re)connect: subscribe (site ``items/delta`` and ``items/snapshot/+``, own ``cmd/+``
              and ``twin/desired``, ``central/status``) -> retained birth ``status`` online
              with ``boot_seq`` -> retained ``meta`` -> ``twin/reported`` -> every device's
              retained state (a broker may have lost them) -> resync if the cache has no
              baseline -> wake the outbox
    circulation_link(on_reply): the client for the gateway-mode circulation backend; the
              node's ``rsp`` replies are handed to ``on_reply``
    stop():   retained ``status`` offline -> drain the outbox for up to ``STOP_FLUSH_S`` ->
              DISCONNECT (a normal disconnect: the broker drops the will)

Inbound messages are dispatched one at a time in arrival order (deltas depend on it); every
failure is caught and logged there, so a hostile message can never stop the link.

Not responsible for: creating events (``events.record_event``, in the workflows' writer
operations), the meaning of commands (registered handlers), the daemon's lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_args

from edge_service.config import Config, MqttConfig, NodeConfig
from edge_service.store import Store
from edge_service.sync.commands import CommandHandler, Commands, Twin, TwinHandler
from edge_service.sync.downlink import ItemDownlink
from edge_service.sync.errors import NotConnected, SettingsInvalid, SyncError
from edge_service.sync.mqtt_client import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    ClientSettings,
    InboundMessage,
    MqttClient,
    Tls,
    Will,
)
from edge_service.sync.node_state import next_boot_seq
from edge_service.sync.outbox_publisher import OutboxPublisher
from edge_service.sync.rejections import RejectionReporter
from protocols.contract import (
    TAG_DATA_MODELS,
    CentralStatus,
    ContractError,
    DeviceInfo,
    DeviceState,
    NodeMeta,
    NodeStatus,
    TopicKind,
    central_status_topic,
    command_topic,
    device_state_topic,
    format_time,
    gateway_status_filter,
    items_delta_topic,
    items_snapshot_topic,
    meta_topic,
    node_prefix,
    parse_topic,
    status_topic,
    twin_desired_topic,
)

logger = logging.getLogger(__name__)

WILL_DELAY_S = 30
"""MQTT 5 Will Delay: a restart or a short network blip within it does not flap ``offline``."""
STOP_FLUSH_S = 5.0
"""How long ``stop()`` keeps draining the outbox; the rest waits on disk for the next start."""
STOP_PUBLISH_TIMEOUT_S = 2.0
Role = Literal["kiosk", "gate", "staff"]
ROLES: dict[str, tuple[Role, ...]] = {"kiosk": ("kiosk",), "gate": ("gate",), "staff": ("staff",),
                                      "all": ("kiosk", "gate", "staff")}
Health = Literal["ok", "degraded", "fault"]
MAX_DETAIL_CHARS = 256
MAX_FIRMWARE_CHARS = 64
MAX_MODEL_CHARS = 64


def _software_version() -> str:
    try:
        return metadata.version("libedge")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _read_password(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise SettingsInvalid("mqtt.password_file", f"cannot read {path}: {exc.strerror}") from None


def client_settings(node: NodeConfig, mqtt: MqttConfig, *, will: Will | None,
                    backoff_base_s: float = BACKOFF_BASE_S,
                    backoff_cap_s: float = BACKOFF_CAP_S) -> ClientSettings:
    """The client's settings from the daemon's configuration (reads the password file)."""
    tls = None
    if mqtt.tls:
        tls = Tls(ca_file=mqtt.ca_file or None, cert_file=mqtt.cert_file or None,
                  key_file=mqtt.key_file or None)
    return ClientSettings(
        host=mqtt.host, port=mqtt.port,
        client_id="libedge:" + node_prefix(node.tenant, node.site, node.node)[len("lib/v1/"):],
        protocol=mqtt.protocol, keepalive_s=mqtt.keepalive_s,
        session_expiry_s=mqtt.session_expiry_s, username=mqtt.username or None,
        password=_read_password(mqtt.password_file) if mqtt.password_file else None,
        tls=tls, will=will, backoff_base_s=backoff_base_s, backoff_cap_s=backoff_cap_s)


def device_state(state: dict[str, object], *, now_ms: int) -> DeviceState:
    """The contract's device state from the daemon's device document (``public_state``)."""
    connected = state.get("connected") is True
    health: Health = "ok" if connected else "fault"
    for known in get_args(Health):
        if state.get("health") == known:
            health = known
    raw_counters = state.get("counters")
    counters = {str(k): v for k, v in raw_counters.items()
                if isinstance(v, int) and not isinstance(v, bool) and v >= 0
                } if isinstance(raw_counters, dict) else {}
    firmware, detail = state.get("firmware"), state.get("last_error")
    return DeviceState(
        connected=connected, health=health, time=format_time(now_ms), counters=counters,
        firmware=firmware[:MAX_FIRMWARE_CHARS] if isinstance(firmware, str) else None,
        detail=detail[:MAX_DETAIL_CHARS] if isinstance(detail, str) and detail else None)


class MqttSync:
    """The MQTT link of one node; see the module docstring."""

    def __init__(self, node: NodeConfig, mqtt: MqttConfig, store: Store, *,
                 software_version: str, tag_models: Iterable[str] = (),
                 sip2_profile: str | None = None, config_hash: str | None = None,
                 twin_handler: TwinHandler | None = None,
                 backoff_base_s: float = BACKOFF_BASE_S, backoff_cap_s: float = BACKOFF_CAP_S,
                 resync_timeout_s: float | None = None, rng: random.Random | None = None) -> None:
        self.node = node
        self.mqtt = mqtt
        self.store = store
        self.software_version = software_version
        self.tag_models = tuple(tag_models)
        self.sip2_profile = sip2_profile
        self.config_hash = config_hash
        self._twin_handler = twin_handler
        self._backoff = (backoff_base_s, backoff_cap_s)
        self._resync_timeout_s = resync_timeout_s
        self._rng = rng or random.Random()
        self._handlers: dict[str, CommandHandler] = {}
        self._devices: dict[str, DeviceState] = {}
        self._models: dict[str, str | None] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.boot_seq: int | None = None
        self._since_ms = 0
        self.client: MqttClient | None = None
        self.publisher: OutboxPublisher | None = None
        self.downlink: ItemDownlink | None = None
        self.commands: Commands | None = None
        self.twin: Twin | None = None
        self.rejections: RejectionReporter | None = None
        self._on_reply: Callable[[bytes], object] | None = None
        self._gateways: dict[str, tuple[bool, int]] = {}
        """Each catalog gateway instance's retained status: instance -> (online, the client's
        connect count when it came). Only this connection's count: the broker sends the
        retained statuses again at every (re)subscription, and one cleared meanwhile would
        otherwise linger."""

    # --- the daemon's interface --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    @property
    def gateways(self) -> dict[str, bool]:
        """The catalog gateway instances' statuses received on this connection (online?)."""
        if self.client is None:
            return {}
        connection = self.client.counters.connects
        return {name: online for name, (online, seen_on) in self._gateways.items()
                if seen_on == connection}

    @property
    def gateway_down(self) -> str | None:
        """Why the catalog gateway cannot answer, or None: the broker link is down, or every
        gateway instance that left a status says offline. No status at all (a gateway that
        publishes none) counts as up: a request then finds out."""
        if self.client is None or not self.client.connected:
            return "the MQTT broker is not connected"
        known = self.gateways
        if known and not any(known.values()):
            return f"the catalog gateway is offline (instance {', '.join(sorted(known))})"
        return None

    def register_command(self, name: str, handler: CommandHandler) -> None:
        """Add a command handler (before or after ``start``)."""
        self._handlers[name] = handler
        if self.commands is not None:
            self.commands.register(name, handler)

    async def start(self) -> None:
        if self.client is not None:
            raise SyncError("MqttSync already started")
        n = self.node
        self.boot_seq = await next_boot_seq(self.store)
        self._since_ms = time.time_ns() // 1_000_000
        will = Will(status_topic(n.tenant, n.site, n.node),
                    NodeStatus.will(boot_seq=self.boot_seq).to_json(), qos=1, retain=True,
                    delay_s=WILL_DELAY_S)
        client = MqttClient(client_settings(n, self.mqtt, will=will,
                                            backoff_base_s=self._backoff[0],
                                            backoff_cap_s=self._backoff[1]), rng=self._rng)
        self.client = client
        self.publisher = OutboxPublisher(self.store.outbox, client)
        self.rejections = RejectionReporter(self.store, n, self.publisher.wake)
        timeouts: dict[str, Any] = {}
        if self._resync_timeout_s is not None:
            timeouts = {"first_page_timeout_s": self._resync_timeout_s,
                        "page_timeout_s": self._resync_timeout_s}
        self.downlink = ItemDownlink(n, self.store, client, self.rejections, rng=self._rng,
                                     **timeouts)
        self.commands = Commands(client, self.rejections)
        self.commands.register("sync.items", self._sync_items_command)
        for name, handler in self._handlers.items():
            self.commands.register(name, handler)
        self.twin = Twin(n, self.store, client, self.rejections, self._twin_handler)
        for topic_filter in (items_delta_topic(n.tenant, n.site),
                             items_snapshot_topic(n.tenant, n.site, 1)[:-1] + "+",
                             command_topic(n.tenant, n.site, n.node, "x")[:-1] + "+",
                             twin_desired_topic(n.tenant, n.site, n.node),
                             central_status_topic(n.tenant),
                             gateway_status_filter(n.tenant)):
            client.subscribe(topic_filter, 1)
        client.on_connect.append(self._on_connected)
        self._tasks = [asyncio.create_task(client.run(), name="mqtt connection"),
                       asyncio.create_task(self.publisher.run(), name="mqtt outbox"),
                       asyncio.create_task(self._dispatch(), name="mqtt downlink")]

    async def stop(self) -> None:
        client, publisher = self.client, self.publisher
        if client is None or publisher is None:
            return
        n = self.node
        if client.connected and self.boot_seq is not None:
            with contextlib.suppress(SyncError, TimeoutError):
                async with asyncio.timeout(STOP_PUBLISH_TIMEOUT_S):
                    await client.publish(status_topic(n.tenant, n.site, n.node),
                                         NodeStatus.will(boot_seq=self.boot_seq).to_json(),
                                         retain=True)
            if client.connected:
                publisher.wake()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(publisher.wait_idle(), STOP_FLUSH_S)
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.wait(self._tasks[1:])
        if self.downlink is not None:
            await self.downlink.close()
        if self.commands is not None:
            await self.commands.close()
        await client.close()
        await asyncio.wait(self._tasks[:1])
        self._tasks = []
        self.client = None

    def circulation_link(self, on_reply: Callable[[bytes], object]) -> MqttClient:
        """The started client, for the circulation backend to publish requests on (``MqttLink``);
        from now on every message on this node's ``rsp`` topic goes to ``on_reply`` (the backend
        subscribes to it). One inbound stream per client, so replies are routed here rather than
        read by a second consumer."""
        if self.client is None:
            raise SyncError("MqttSync not started")
        self._on_reply = on_reply
        return self.client

    def wake_outbox(self) -> None:
        if self.publisher is not None:
            self.publisher.wake()

    def outbox_acknowledged(self) -> int:
        """Outbox rows the broker has acknowledged whose DELETE is deferred or on its way."""
        return self.publisher.acknowledged_undeleted if self.publisher is not None else 0

    async def reconfigured(self, config: Config) -> None:
        """The daemon applied a reload: ``meta`` gets the running configuration's hash and
        names only the readers it still has (published now when connected)."""
        self.config_hash = config_hash(config)
        names = {reader.name for reader in config.readers}
        for dev in [dev for dev in self._devices if dev not in names]:
            del self._devices[dev]
            self._models.pop(dev, None)
        if self.client is not None and self.client.connected:
            with contextlib.suppress(NotConnected):
                await self._publish_meta(self.client)

    async def publish_device_state(self, dev: str, state: dict[str, object]) -> None:
        """Remember the device's state and publish it retained (now, or at the next connect)."""
        n = self.node
        try:
            topic = device_state_topic(n.tenant, n.site, n.node, dev)
            document = device_state(state, now_ms=time.time_ns() // 1_000_000)
        except ContractError as exc:
            raise SettingsInvalid(f"device {dev!r}", str(exc)) from None
        model = state.get("model")
        model = model[:MAX_MODEL_CHARS] if isinstance(model, str) and model else None
        described = dev in self._models and self._models[dev] == model
        self._devices[dev] = document
        self._models[dev] = model
        if self.client is not None and self.client.connected:
            with contextlib.suppress(NotConnected):
                await self.client.publish(topic, document.to_json(), retain=True)
                if not described:   # a new device, or its model became known: meta says so
                    await self._publish_meta(self.client)

    # --- on connect --------------------------------------------------------------------------

    async def _on_connected(self) -> None:
        client, n = self.client, self.node
        assert client is not None
        assert self.boot_seq is not None
        birth = NodeStatus.birth(boot_seq=self.boot_seq, sw=self.software_version,
                                 since_ms=self._since_ms)
        await client.publish(status_topic(n.tenant, n.site, n.node), birth.to_json(), retain=True)
        await self._publish_meta(client)
        if self.twin is not None:
            await self.twin.report()
        for dev, document in list(self._devices.items()):
            await client.publish(device_state_topic(n.tenant, n.site, n.node, dev),
                                 document.to_json(), retain=True)
        if self.downlink is not None:
            await self.downlink.on_connected()
        self.wake_outbox()

    async def _publish_meta(self, client: MqttClient) -> None:
        n = self.node
        await client.publish(meta_topic(n.tenant, n.site, n.node), self._meta().to_json(),
                             retain=True)

    def _meta(self) -> NodeMeta:
        return NodeMeta(
            sw=self.software_version, roles=ROLES.get(self.node.mode, ("kiosk",)),
            capabilities=self.commands.names if self.commands else (),
            devices=tuple(DeviceInfo(dev=dev, kind="reader", model=self._models.get(dev))
                          for dev in sorted(self._devices)),
            tag_models=self.tag_models, sip2_profile=self.sip2_profile,
            config_hash=self.config_hash)

    async def _sync_items_command(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self.downlink is not None
        self.downlink.start_resync("central")
        return {"last_seq": self.downlink.last_applied}

    # --- inbound -----------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        assert self.client is not None
        async for message in self.client.messages():
            try:
                await self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:   # never let one message end the downlink
                logger.exception("handling a message on %r failed", message.topic)

    async def _handle(self, message: InboundMessage) -> None:
        assert self.downlink is not None
        assert self.commands is not None
        assert self.twin is not None
        assert self.rejections is not None
        n = self.node
        try:
            topic = parse_topic(message.topic)
        except ContractError as exc:
            await self.rejections.reject(message.topic, message.payload, exc.reason, exc.field)
            return
        ours = topic.tenant == n.tenant and topic.site in (None, n.site) \
            and topic.node in (None, n.node)
        if not ours:
            await self.rejections.reject(message.topic, message.payload,
                                         "topic of another tenant, site or node")
            return
        if topic.kind is TopicKind.ITEMS_DELTA:
            await self.downlink.on_delta(message.topic, message.payload)
        elif topic.kind is TopicKind.ITEMS_SNAPSHOT:
            await self.downlink.on_snapshot_page(message.topic, message.payload)
        elif topic.kind is TopicKind.COMMAND:
            await self.commands.on_command(topic, message)
        elif topic.kind is TopicKind.TWIN_DESIRED:
            await self.twin.on_desired(message.topic, message.payload)
        elif topic.kind is TopicKind.CENTRAL_STATUS:
            await self._on_central_status(message)
        elif topic.kind is TopicKind.GATEWAY_STATUS:
            await self._on_gateway_status(topic.instance, message)
        elif topic.kind is TopicKind.REPLY and self._on_reply is not None:
            self._on_reply(message.payload)
        else:
            await self.rejections.reject(message.topic, message.payload,
                                         f"a node does not receive {topic.kind} messages")

    async def _on_central_status(self, message: InboundMessage) -> None:
        assert self.publisher is not None
        if not message.payload:
            self.publisher.set_central_online(True)   # cleared: nobody says central is down
            return
        status = await self._status_in(message)
        if status is not None:
            self.publisher.set_central_online(status.online)

    async def _on_gateway_status(self, instance: str | None, message: InboundMessage) -> None:
        assert instance is not None   # the topic's placeholder, checked by parse_topic
        assert self.client is not None
        if not message.payload:
            self._gateways.pop(instance, None)   # cleared: an instance taken out of service
            return
        status = await self._status_in(message)
        if status is None:
            return
        before = self._gateways.get(instance)
        if before is None or before[0] != status.online:
            logger.info("catalog gateway %s is %s", instance,
                        "online" if status.online else "offline")
        self._gateways[instance] = (status.online, self.client.counters.connects)

    async def _status_in(self, message: InboundMessage) -> CentralStatus | None:
        """A central or gateway status message's content; None when it is malformed (rejected
        and reported, and it changes nothing)."""
        assert self.rejections is not None
        try:
            return CentralStatus.from_json(message.payload)
        except ContractError as exc:
            await self.rejections.reject(message.topic, message.payload, exc.reason, exc.field)
            return None


def create_sync(config: Config, store: Store) -> MqttSync:
    """The daemon's factory (``edge_service.daemon.SyncFactory``)."""
    circ = config.circulation
    return MqttSync(config.node, config.mqtt, store, software_version=_software_version(),
                    tag_models=tag_models(config.library.data_model),
                    sip2_profile=circ.sip2_profile if circ.backend == "sip2" else None,
                    config_hash=config_hash(config))


def tag_models(written: str) -> tuple[str, ...]:
    """The tag data models the node handles, for ``meta``: the one it programs first, then
    every other it reads and converts."""
    return (written, *(model for model in TAG_DATA_MODELS if model != written))


def config_hash(config: Config) -> str:
    """``sha256:`` and 16 hex digits of the effective configuration (every key, defaults
    included, in a canonical JSON form) without what differs from box to box by nature: the
    node's ids, its MQTT user name and client certificate (each node its own, as the
    broker's ACL names them), the names it answers to (``api.allowed_hosts``), the database
    path, the readers' ports and the log level. Two boxes configured
    alike show the same hash, and a change shows in ``meta``. Secrets are not in it (password
    and key *files* are named, their contents never read here)."""
    values = dataclasses.asdict(config)
    for key in ("tenant", "site", "node"):
        values["node"].pop(key, None)
    for key in ("username", "cert_file", "key_file"):   # each node its own
        values["mqtt"].pop(key, None)
    values["api"].pop("allowed_hosts", None)              # the box's own names
    values["storage"].pop("path", None)
    values.pop("logging", None)
    for reader in values["readers"]:
        reader.pop("port", None)
    canonical = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
