# SPDX-License-Identifier: Apache-2.0
"""Gateway presence on a real Mosquitto: each instance's retained status (birth, goodbye, and
the will when it is killed), and a node's view of it (``MqttSync.gateway_down``), which the
daemon's ILS link follows so that kiosks go off-line at once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_service.circulation import IlsLink, MqttBackend
from edge_service.config import MqttConfig
from edge_service.gateway import running
from edge_service.store import Store, StoreConfig
from edge_service.sync import MqttSync
from protocols.contract import CentralStatus, central_status_topic, gateway_status_topic
from tests.gateway.broker import MOSQUITTO, mosquitto
from tests.gateway.helpers import OWNER, T
from tests.gateway.test_cli import ROOT, config
from tests.gateway.test_end_to_end import service
from tests.ils.helpers import simulator
from tests.sync.broker import Mosquitto
from tests.sync.central import until
from tests.sync.conftest import NODE
from tests.sync.helpers import FAST_BACKOFF

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is needed")
SEEN_S = 10.0
"""How long a status may take to reach the node (a will: at once on a closed socket)."""
OFFLINE = CentralStatus(online=False, time="2026-12-06T01:00:00.000Z").to_json()


@contextlib.asynccontextmanager
async def node_sync(tmp_path: Path, port: int) -> AsyncIterator[MqttSync]:
    """A node's MqttSync on its own store file, connected; stopped at the end."""
    assert NODE.tenant == T
    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store:
        sync = MqttSync(NODE, MqttConfig(enabled=True, host="127.0.0.1", port=port,
                                         keepalive_s=5),
                        store, software_version="t", **FAST_BACKOFF)
        await sync.start()
        try:
            await until(lambda: sync.connected)
            yield sync
        finally:
            await sync.stop()


async def test_a_node_sees_gateway_instances_come_and_go(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as port:
        async with simulator() as sim, node_sync(tmp_path, port) as sync:
            link = IlsLink.gateway(MqttBackend(sync.circulation_link(lambda _p: None),
                                               tenant=T, site=NODE.site, node=NODE.node),
                                   lambda: sync.gateway_down)
            assert sync.gateway_down is None   # no gateway has said anything: up
            async with running(service(port, sim.port, tmp_path / "gw.db", "a")):
                await until(lambda: sync.gateways == {"a": True}, SEEN_S)
                async with running(service(port, sim.port, tmp_path / "gw.db", "b")):
                    await until(lambda: sync.gateways == {"a": True, "b": True}, SEEN_S)
                await until(lambda: sync.gateways == {"a": True, "b": False}, SEEN_S)
                assert sync.gateway_down is None   # one instance is enough
                assert link.state == "connected"
            await until(lambda: sync.gateway_down is not None, SEEN_S)
            assert sync.gateway_down == "the catalog gateway is offline (instance a, b)"
            assert (link.state, link.last_error) == ("unreachable", sync.gateway_down)
        assert sync.gateway_down == "the MQTT broker is not connected"


async def test_a_killed_gateway_is_offline_by_its_will_and_back_when_restarted(
        tmp_path: Path) -> None:
    with mosquitto(tmp_path) as port:
        async with simulator() as sim, node_sync(tmp_path, port) as sync:
            path = config(tmp_path, f'[gateway]\ntenant = "{T}"\ninstance = "gw-9"\n',
                          tables=f'[sip2]\nhost = "127.0.0.1"\nport = {sim.port}\n'
                                 f'institution_id = "{OWNER}"\nlogin_user = "gateway"\n'
                                 'login_password = "gateway-secret"\nlocation_code = "MAIN"\n'
                                 'heartbeat_s = 0\n',
                          mqtt_port=port)
            for _ in range(2):   # killed, then started again and killed again
                gateway = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "edge_service", "gateway", "--config", str(path),
                    cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL)
                try:
                    await until(lambda: sync.gateways.get("gw-9") is True, SEEN_S)
                    assert sync.gateway_down is None
                finally:
                    gateway.send_signal(signal.SIGKILL)
                    await gateway.wait()
                await until(lambda: sync.gateway_down is not None, SEEN_S)
                assert sync.gateway_down == "the catalog gateway is offline (instance gw-9)"


async def test_a_bad_or_cleared_status_is_handled(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as port:
        async with node_sync(tmp_path, port) as sync:
            assert sync.client is not None
            assert sync.rejections is not None
            topic = gateway_status_topic(T, "gw-1")
            await sync.client.publish(topic, OFFLINE, retain=True)
            await until(lambda: sync.gateway_down is not None, SEEN_S)
            rejected = sync.rejections.counters.rejected
            await sync.client.publish(topic, b'{"online": "yes"}', retain=True)
            await until(lambda: sync.rejections.counters.rejected > rejected, SEEN_S)
            assert sync.gateways == {"gw-1": False}   # the bad one changed nothing
            await sync.client.publish(topic, b"", retain=True)   # taken out of service
            await until(lambda: sync.gateway_down is None, SEEN_S)


async def test_statuses_are_taken_again_after_a_reconnect(tmp_path: Path) -> None:
    """Only statuses of the current connection count; the broker sends the retained ones again
    at the re-subscription, so a gateway that was offline is still offline afterwards."""
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        async with node_sync(tmp_path, broker.port) as sync:
            assert sync.client is not None
            await sync.client.publish(gateway_status_topic(T, "gw-1"), OFFLINE, retain=True)
            await until(lambda: sync.gateway_down is not None, SEEN_S)
            connects = sync.client.counters.connects
            broker.restart()
            await until(lambda: sync.client is not None
                        and sync.client.counters.connects > connects, 30)
            await until(lambda: sync.gateways == {"gw-1": False}, SEEN_S)
            assert sync.gateway_down == "the catalog gateway is offline (instance gw-1)"
    finally:
        broker.stop()


async def test_the_central_status_holds_and_frees_the_outbox(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as port:
        async with node_sync(tmp_path, port) as sync:
            assert sync.client is not None
            assert sync.publisher is not None
            assert sync.rejections is not None
            publisher, topic = sync.publisher, central_status_topic(T)
            await sync.client.publish(topic, OFFLINE, retain=True)
            await until(lambda: not publisher.central_online, SEEN_S)
            await sync.client.publish(topic, b"[]", retain=True)
            await until(lambda: sync.rejections.counters.rejected == 1, SEEN_S)
            assert not publisher.central_online   # the bad one changed nothing
            await sync.client.publish(topic, b"", retain=True)   # cleared
            await until(lambda: publisher.central_online, SEEN_S)
            assert sync.gateway_down is None   # the central status is not the gateway's
