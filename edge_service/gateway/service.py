# SPDX-License-Identifier: Apache-2.0
"""Running the gateway: its settings file, the MQTT transport, and the serve loop.

Settings (TOML)::

    [gateway]
    tenant = "DK-718500"
    state_path = "gateway.db"      # SQLite; every instance of this tenant shares it
    group = "gateway"              # the shared-subscription group
    instance = "gw-1"              # MQTT client id suffix; unique per instance
    pool_size = 4                  # SIP2 connections
    snapshot_page_items = 500      # at most 1000; pages are also cut to 64 KiB
    default_offline_policy = "no_block"   # or "checked", "refuse"

    [gateway.offline_policy]       # per site
    DK-718501 = "checked"

    [mqtt]
    host = "localhost"
    port = 1883
    username = ""
    password_file = ""

    [sip2]                         # a Sip2Profile table (edge_service.ils.profile)
    host = "ils.example"
    port = 6001
    institution_id = "DK-718500"

While running, the dedupe rows older than ``DEDUPE_WINDOW_S`` are pruned at start and every
``PRUNE_INTERVAL_S``.

Presence: each instance keeps a retained status on ``lib/v1/{tenant}/central/gateway/{instance}/
status``: ``online: true`` once it is logged in to the ILS and subscribed, again after every
reconnect; ``false`` when it stops (from its will when that goodbye is not acknowledged in
``GOODBYE_TIMEOUT_S``), and from its MQTT will when its connection is lost without a goodbye
(killed, crashed, cable pulled; the broker notices at once on a closed socket, after 1.5
keepalives otherwise).
Nodes in gateway mode read it so that kiosks go off-line at once rather than each request
waiting out its reply timeout.

Not responsible for: what a request does (:mod:`edge_service.gateway.core`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from edge_service.gateway.core import (
    SNAPSHOT_PAGE_ITEMS,
    Gateway,
    GatewaySettings,
    OfflinePolicy,
)
from edge_service.gateway.errors import GatewayConfigError
from edge_service.ils import IlsConfigError, Sip2Pool, Sip2Profile
from edge_service.store import GatewayState
from edge_service.sync.errors import SyncError
from edge_service.sync.mqtt_client import ClientSettings, MqttClient, Will
from protocols.contract import (
    MAX_ITEMS_PER_MESSAGE,
    CentralStatus,
    ContractError,
    check_id,
    format_time,
    gateway_request_filter,
    gateway_status_topic,
)

log = logging.getLogger(__name__)

DEFAULT_POOL_SIZE = 4
CLOSE_TIMEOUT_S = 5.0
IMPORT_CONNECT_TIMEOUT_S = 10.0
"""How long ``libedge gateway import`` waits for the broker before giving up (exit 1)."""
GOODBYE_TIMEOUT_S = 2.0
"""How long a stopping instance tries to publish its offline status before it disconnects."""
PRUNE_INTERVAL_S = 3600.0
"""How often a running instance forgets answered requests older than the dedupe window."""


@dataclass(frozen=True)
class ServiceSettings:
    gateway: GatewaySettings
    state_path: str
    group: str
    instance: str
    pool_size: int
    mqtt: ClientSettings
    sip2: Sip2Profile


def _get(table: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise GatewayConfigError(f"{where}.{key}", f"expected {kind.__name__}, got {value!r}")
    return value


def parse_settings(document: dict[str, Any]) -> ServiceSettings:
    gw = _get(document, "gateway", dict, {}, "(file)")
    mqtt = _get(document, "mqtt", dict, {}, "(file)")
    policies = _get(gw, "offline_policy", dict, {}, "gateway")
    allowed = get_args(OfflinePolicy)
    default_policy = _get(gw, "default_offline_policy", str, "no_block", "gateway")
    for site, policy in {**policies, "(default)": default_policy}.items():
        if policy not in allowed:
            raise GatewayConfigError(f"gateway.offline_policy.{site}",
                                     f"expected one of {', '.join(allowed)}, got {policy!r}")
    try:
        gateway_request_filter(_get(gw, "tenant", str, "", "gateway"),
                               group=_get(gw, "group", str, "gateway", "gateway"))
    except ContractError as exc:
        raise GatewayConfigError("gateway.tenant/group", str(exc)) from None
    password = None
    if password_file := _get(mqtt, "password_file", str, "", "mqtt"):
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise GatewayConfigError("mqtt.password_file",
                                     f"cannot read {password_file}: {exc.strerror}") from None
    instance = _get(gw, "instance", str, "gw-1", "gateway")
    try:
        check_id(instance, "instance")   # a topic segment of its status
    except ContractError as exc:
        raise GatewayConfigError("gateway.instance", exc.reason) from None
    try:
        profile = Sip2Profile.from_mapping(_get(document, "sip2", dict, {}, "sip2"))
    except IlsConfigError as exc:
        raise GatewayConfigError("sip2", str(exc)) from None
    page_items = _get(gw, "snapshot_page_items", int, SNAPSHOT_PAGE_ITEMS, "gateway")
    if not 1 <= page_items <= MAX_ITEMS_PER_MESSAGE:
        raise GatewayConfigError("gateway.snapshot_page_items",
                                 f"expected 1..{MAX_ITEMS_PER_MESSAGE}, got {page_items}")
    settings = GatewaySettings(
        tenant=gw["tenant"], offline_policy=dict(policies), default_offline_policy=default_policy,
        snapshot_page_items=page_items)
    return ServiceSettings(
        gateway=settings, state_path=_get(gw, "state_path", str, "gateway.db", "gateway"),
        group=gw.get("group", "gateway"), instance=instance,
        pool_size=_get(gw, "pool_size", int, DEFAULT_POOL_SIZE, "gateway"),
        mqtt=ClientSettings(
            host=_get(mqtt, "host", str, "localhost", "mqtt"),
            port=_get(mqtt, "port", int, 1883, "mqtt"),
            client_id=f"libedge-gateway-{settings.tenant}-{instance}",
            username=mqtt.get("username") or None, password=password),
        sip2=profile)


def load_settings(path: str | Path) -> ServiceSettings:
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GatewayConfigError("", f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GatewayConfigError("", f"{path} is not valid TOML: {exc}") from None
    return parse_settings(document)


class MqttGatewayTransport:
    """:class:`~edge_service.gateway.core.GatewayTransport` over the project's MQTT client."""

    def __init__(self, client: MqttClient) -> None:
        self.client = client

    async def publish(self, topic: str, payload: bytes) -> None:
        await self.client.publish(topic, payload, qos=1)


async def serve(client: MqttClient, gateway: Gateway, *, group: str,
                max_concurrent: int) -> None:
    """Subscribe (shared) and answer requests until cancelled; ``max_concurrent`` requests
    run at once (the SIP2 pool queues the rest)."""
    client.subscribe(gateway_request_filter(gateway.settings.tenant, group=group), 1)
    slots = asyncio.Semaphore(max_concurrent)
    tasks: set[asyncio.Task[None]] = set()

    async def one(topic: str, payload: bytes) -> None:
        try:
            await gateway.handle(topic, payload)
        except Exception:   # one bad request must not stop the gateway
            log.exception("request on %s failed", topic)
        finally:
            slots.release()

    try:
        async for message in client.messages():
            await slots.acquire()
            task = asyncio.create_task(one(message.topic, message.payload))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def prune_periodically(gateway: Gateway) -> None:
    """Prune the dedupe window now and every ``PRUNE_INTERVAL_S`` until cancelled; a failed
    prune is logged and tried again at the next interval."""
    while True:
        try:
            pruned = await gateway.prune()
        except Exception:   # a busy or broken state file must not stop the gateway
            log.exception("pruning the dedupe window failed")
        else:
            if pruned:
                log.info("pruned %d answered requests older than the dedupe window", pruned)
        await asyncio.sleep(PRUNE_INTERVAL_S)


def _status_topic(settings: ServiceSettings) -> str:
    return gateway_status_topic(settings.gateway.tenant, settings.instance)


def _status(online: bool) -> bytes:
    return CentralStatus(online=online, time=format_time(int(time.time() * 1000))).to_json()


def with_presence(settings: ServiceSettings) -> ClientSettings:
    """The instance's MQTT settings with its will: its status ``online: false``, retained."""
    return dataclasses.replace(settings.mqtt, will=Will(_status_topic(settings), _status(False),
                                                        qos=1, retain=True))


async def say_online(client: MqttClient, settings: ServiceSettings) -> None:
    """The birth: ``online: true``, retained (an on-connect hook, so after every reconnect)."""
    await client.publish(_status_topic(settings), _status(True), qos=1, retain=True)


async def say_offline(client: MqttClient, settings: ServiceSettings) -> bool:
    """The goodbye of a clean stop (a clean DISCONNECT sends no will); bounded, as the broker
    may be gone. False when it was not acknowledged: the caller has the will sent instead."""
    if not client.connected:
        return False
    try:
        async with asyncio.timeout(GOODBYE_TIMEOUT_S):
            await client.publish(_status_topic(settings), _status(False), qos=1, retain=True)
    except (SyncError, TimeoutError):
        return False
    return True


@contextlib.asynccontextmanager
async def publishing(settings: ServiceSettings) -> AsyncIterator[Gateway]:
    """State and MQTT only, for a bulk import next to running instances: no SIP2 login and no
    shared subscription (an import must not take edges' requests, nor need the ILS), and its
    own throwaway client id (reusing an instance's id would make the broker drop that one)."""
    state = await GatewayState.open(settings.state_path)
    pool = Sip2Pool(settings.sip2, 1)   # never connected: the import sends no request
    client = MqttClient(dataclasses.replace(
        settings.mqtt, client_id=f"{settings.mqtt.client_id}-import-{os.getpid()}",
        persistent_session=False, will=None))
    connection = asyncio.create_task(client.run())
    try:
        try:
            async with asyncio.timeout(IMPORT_CONNECT_TIMEOUT_S):
                await client.wait_connected()
        except TimeoutError:
            raise ConnectionError(f"MQTT broker {settings.mqtt.host}:{settings.mqtt.port} not "
                                  f"reachable within {IMPORT_CONNECT_TIMEOUT_S:.0f} s") from None
        yield Gateway(settings.gateway, pool, state, MqttGatewayTransport(client))
    finally:
        await client.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(connection), CLOSE_TIMEOUT_S)
        connection.cancel()
        await asyncio.gather(connection, return_exceptions=True)
        await state.close()


@contextlib.asynccontextmanager
async def running(settings: ServiceSettings) -> AsyncIterator[Gateway]:
    """Everything up: state, SIP2 pool, MQTT connection, serve loop, pruning; yields the
    Gateway."""
    state = await GatewayState.open(settings.state_path)
    pool = Sip2Pool(settings.sip2, settings.pool_size)
    client = MqttClient(with_presence(settings))
    connection = asyncio.create_task(client.run())
    tasks: list[asyncio.Task[None]] = []
    try:
        await pool.connect()
        await client.wait_connected()
        # Only now, logged in to the ILS: subscribed (so a node that sees "online" finds its
        # requests taken), then the birth, and again after every reconnect.
        client.subscribe(gateway_request_filter(settings.gateway.tenant, group=settings.group), 1)
        client.on_connect.append(lambda: say_online(client, settings))
        with contextlib.suppress(SyncError):   # lost meanwhile: the hook says it on reconnect
            await say_online(client, settings)
        gateway = Gateway(settings.gateway, pool, state, MqttGatewayTransport(client))
        tasks.append(asyncio.create_task(prune_periodically(gateway)))
        tasks.append(asyncio.create_task(serve(client, gateway, group=settings.group,
                                               max_concurrent=settings.pool_size * 2)))
        yield gateway
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        said = await say_offline(client, settings)
        await client.close(send_will=not said)   # ends run(); the will only if needed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(connection), CLOSE_TIMEOUT_S)
        connection.cancel()
        await asyncio.gather(connection, return_exceptions=True)
        await pool.close()
        await state.close()
