# SPDX-License-Identifier: Apache-2.0
"""The rendered ACL on a real Mosquitto: a node publishes only its own uplink, receives only its
own commands and its site's downlink; central reads the node's events and commands it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from protocols.contract import (
    central_acl_patterns,
    command_topic,
    event_topic,
    items_delta_topic,
    render_mosquitto_acl,
    status_topic,
)
from tests.sync.broker import MOSQUITTO, free_port

T, S = "DK-718500", "DK-718501"
PASSWD = shutil.which("mosquitto_passwd")
pytestmark = pytest.mark.skipif(
    not (Path(MOSQUITTO).exists() and PASSWD),
    reason="mosquitto and mosquitto_passwd are needed (Debian package mosquitto)")
WAIT_S = 5.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    passwords = tmp_path / "passwd"
    passwords.touch()
    for user in ("node", "central"):
        subprocess.run([PASSWD, "-b", str(passwords), user, f"{user}-secret"], check=True)
    acl = render_mosquitto_acl(T, S, "kiosk-2", username="node") + "\nuser central\n" + "".join(
        f"topic {access} {pattern}\n" for access, pattern in central_acl_patterns(T))
    (tmp_path / "acl").write_text(acl)
    # Started as root, Mosquitto drops to the "mosquitto" user, which cannot read pytest's
    # private tmp_path; "user root" keeps it (the option has no effect for other users).
    (tmp_path / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\nuser root\n"
        f"password_file {passwords}\nacl_file {tmp_path / 'acl'}\n")
    process = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=WAIT_S)


class Client:
    """A paho MQTT 5 client that records acks and messages, with waits instead of sleeps."""

    def __init__(self, port: int, user: str) -> None:
        self.messages: list[str] = []
        self.acks: dict[Any, Any] = {}
        self.changed = threading.Condition()
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{user}",
                                protocol=mqtt.MQTTv5)
        self.paho.username_pw_set(user, f"{user}-secret")
        self.paho.on_connect = lambda c, u, f, rc, p: self._record("connack", rc)
        self.paho.on_publish = lambda c, u, mid, rc, p: self._record(mid, rc)
        self.paho.on_subscribe = lambda c, u, mid, rcs, p: self._record(("sub", mid), rcs)
        self.paho.on_message = lambda c, u, m: self._record(None, m.topic)
        self.paho.connect("127.0.0.1", port)
        self.paho.loop_start()
        assert not self.wait_for("connack").is_failure

    def _record(self, key: object, value: Any) -> None:
        with self.changed:
            if key is None:
                self.messages.append(value)
            else:
                self.acks[key] = value
            self.changed.notify_all()

    def wait_for(self, key: object) -> Any:
        with self.changed:
            assert self.changed.wait_for(lambda: key in self.acks, timeout=WAIT_S), key
            return self.acks[key]

    def publish(self, topic: str) -> bool:
        """Whether the broker accepted a QoS 1 publish (PUBACK without an error code)."""
        return not self.wait_for(self.paho.publish(topic, b"{}", qos=1).mid).is_failure

    def subscribe(self, topic_filter: str) -> None:
        self.wait_for(("sub", self.paho.subscribe(topic_filter, qos=1)[1]))

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


def test_the_rendered_acl_on_a_real_mosquitto(broker: int) -> None:
    node, central = Client(broker, "node"), Client(broker, "central")
    try:
        central.subscribe(f"lib/v1/{T}/+/+/evt/+")
        node.subscribe(f"lib/v1/{T}/{S}/+/cmd/+")      # wider than allowed: filtered on delivery
        node.subscribe(items_delta_topic(T, S))

        assert node.publish(status_topic(T, S, "kiosk-2"))
        assert node.publish(event_topic(T, S, "kiosk-2", "circ"))
        assert not node.publish(event_topic(T, S, "kiosk-3", "circ"))         # another node
        assert not node.publish(command_topic(T, S, "kiosk-2", "door.unlock"))  # only central
        assert not node.publish(items_delta_topic(T, S))

        assert central.publish(command_topic(T, S, "kiosk-3", "door.unlock"))
        assert central.publish(command_topic(T, S, "kiosk-2", "reboot"))
        assert central.publish(items_delta_topic(T, S))
        assert not central.publish(event_topic(T, S, "kiosk-2", "circ"))      # only the node
        for client, count in ((node, 2), (central, 1)):
            with client.changed:
                assert client.changed.wait_for(lambda c=client, n=count: len(c.messages) >= n,
                                               timeout=WAIT_S)
        assert sorted(node.messages) == sorted([command_topic(T, S, "kiosk-2", "reboot"),
                                                items_delta_topic(T, S)])
        assert central.messages == [event_topic(T, S, "kiosk-2", "circ")]
    finally:
        node.close()
        central.close()
