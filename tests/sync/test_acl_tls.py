# SPDX-License-Identifier: Apache-2.0
"""A broker configured per docs/mqtt (acl_file from the contract's renderer, passwords; and a
TLS listener requiring client certificates): a node cannot publish outside its own prefix nor
read another node's commands; a node connects with its certificate."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from edge_service.config import MqttConfig, NodeConfig
from edge_service.store import Store, StoreConfig
from edge_service.sync import MqttSync, PublishRefused, Tls
from protocols.contract import (
    central_acl_patterns,
    command_topic,
    event_topic,
    render_mosquitto_acl,
    status_topic,
)
from tests.sync.broker import Mosquitto
from tests.sync.conftest import NODE
from tests.sync.helpers import FAST_BACKOFF, client

OTHER = NodeConfig(tenant=NODE.tenant, site=NODE.site, node="gate-1", mode="gate")
USERS = {"node-a": "pw-a", "node-b": "pw-b", "central": "pw-c", "watcher": "pw-w"}


def acl_broker(directory: Path) -> Mosquitto:
    passwd = directory / "passwd"
    passwd.touch()
    for user, password in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True,
                       capture_output=True)
    central = "\n".join(["user central", *(f"topic {access} {pattern}" for access, pattern
                                          in central_acl_patterns(NODE.tenant))])
    (directory / "acl").write_text("\n".join([
        render_mosquitto_acl(NODE.tenant, NODE.site, NODE.node, username="node-a"),
        render_mosquitto_acl(OTHER.tenant, OTHER.site, OTHER.node, username="node-b"),
        central, "", "user watcher", "topic read #", ""]))
    return Mosquitto(directory, listener_options=(
        f"allow_anonymous false\npassword_file {passwd}\nacl_file {directory / 'acl'}"))


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd")
async def test_a_node_cannot_publish_outside_its_prefix_nor_read_others_commands(
        tmp_path: Path) -> None:
    broker = acl_broker(tmp_path)
    broker.start()
    try:
        async with client(broker.port, "watcher", "#", username="watcher",
                          password=USERS["watcher"]) as (_, watched), \
                client(broker.port, "node-a", command_topic(*_ids(OTHER), "x")[:-1] + "+",
                       command_topic(*_ids(NODE), "x")[:-1] + "+", username="node-a",
                       password=USERS["node-a"]) as (node_a, a_inbox), \
                client(broker.port, "central", username="central",
                       password=USERS["central"]) as (central, _):
            for topic in (event_topic(*_ids(OTHER), "circ"), "lib/v1/elsewhere/x",
                          status_topic(NODE.tenant, "other-site", NODE.node), "$SYS/x"):
                with pytest.raises(PublishRefused):
                    await node_a.publish(topic, b'{"forged": true}')
            await node_a.publish(event_topic(*_ids(NODE), "circ"), b'{"own": true}')
            await central.publish(command_topic(*_ids(OTHER), "door.unlock"), b"{}")
            await central.publish(command_topic(*_ids(NODE), "door.unlock"), b"{}")
            await watched.wait_for(lambda: len(watched.others) + len(watched.events) >= 3)
            await a_inbox.wait_for(lambda: bool(a_inbox.others))
        seen = [m.topic for m in watched.others]
        assert seen == [event_topic(*_ids(NODE), "circ"), command_topic(*_ids(OTHER),
                        "door.unlock"), command_topic(*_ids(NODE), "door.unlock")]
        assert [m.topic for m in a_inbox.others] == [command_topic(*_ids(NODE), "door.unlock")]
    finally:
        broker.stop()


def _ids(node: NodeConfig) -> tuple[str, str, str]:
    return node.tenant, node.site, node.node


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """A throwaway CA, a server certificate for 127.0.0.1 and a node's client certificate."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=LibEdge test CA", cwd=directory)
    for name, subject, extension in (
            ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1"),
            ("client", "/CN=node-a", "extendedKeyUsage=clientAuth")):
        openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject, cwd=directory)
        (directory / f"{name}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile",
                f"{name}.ext", cwd=directory)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_a_node_connects_with_its_client_certificate(tmp_path: Path) -> None:
    make_certificates(tmp_path)
    broker = Mosquitto(tmp_path, listener_options=(
        f"cafile {tmp_path / 'ca.crt'}\ncertfile {tmp_path / 'server.crt'}\n"
        f"keyfile {tmp_path / 'server.key'}\nrequire_certificate true\n"
        "use_identity_as_username true\nallow_anonymous false"))
    broker.start()
    ca, cert, key = (str(tmp_path / name) for name in ("ca.crt", "client.crt", "client.key"))
    mqtt = MqttConfig(enabled=True, host="127.0.0.1", port=broker.port, tls=True, ca_file=ca,
                      cert_file=cert, key_file=key)
    status = status_topic(*_ids(NODE))
    try:
        async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
                client(broker.port, "watch", status, tls=Tls(ca, cert, key)) as (_, seen):
            sync = MqttSync(NODE, mqtt, store, software_version="t", **FAST_BACKOFF)
            await sync.start()
            await seen.wait_for(lambda: bool(seen.others))
            await sync.stop()
        assert b'"online"' in seen.others[0].payload
        # Without a certificate the broker refuses the TLS handshake.
        bare = MqttConfig(enabled=True, host="127.0.0.1", port=broker.port, tls=True,
                          ca_file=ca)
        async with await Store.open(StoreConfig(tmp_path / "edge2.db")) as store:
            sync = MqttSync(NODE, bare, store, software_version="t", **FAST_BACKOFF)
            await sync.start()
            assert sync.client is not None
            client_counters = sync.client.counters
            while client_counters.connect_failures < 2:
                await asyncio.sleep(0.02)
            assert not sync.connected
            assert client_counters.connects == 0
            await sync.stop()
    finally:
        broker.stop()
