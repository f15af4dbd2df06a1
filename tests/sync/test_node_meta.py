# SPDX-License-Identifier: Apache-2.0
"""What a node says of itself over a real broker: ``meta`` names each device's model once it is
known (published again when it becomes known), the SIP2 profile, the tag models and the
configuration's hash; a device's retained state carries its counters."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from edge_service.config import Config, MqttConfig, ReaderConfig, parse_config
from edge_service.store import Store, StoreConfig
from edge_service.sync import MqttSync
from edge_service.sync.sync import config_hash, create_sync, tag_models
from protocols.contract import DeviceState, NodeMeta, device_state_topic, meta_topic
from tests.sync.broker import Mosquitto
from tests.sync.central import until
from tests.sync.conftest import NODE
from tests.sync.helpers import FAST_BACKOFF, client

META = meta_topic(NODE.tenant, NODE.site, NODE.node)
PAD_STATE = device_state_topic(NODE.tenant, NODE.site, NODE.node, "pad")


def box(name: str, port: str, **sections: dict[str, object]) -> Config:
    # Each node its own MQTT user, as the broker's ACL (docs/mqtt/README.md) names them.
    sections = {"mqtt": {"username": f"DK-718501.{name}", "cert_file": f"/etc/libedge/{name}.pem",
                         "key_file": f"/etc/libedge/{name}.key"},
                "api": {"allowed_hosts": f"{name}.library.lan"}, **sections}
    return parse_config({"node": {"tenant": "DK-718500", "site": "DK-718501", "node": name},
                         "storage": {"path": f"/var/lib/{name}.db"},
                         "logging": {"level": "info" if name == "kiosk-1" else "debug"},
                         "readers": [{"name": "pad", "protocol": "feig", "port": port}],
                         **sections}, {})


def test_the_config_hash_follows_the_configuration_not_the_box() -> None:
    config = box("kiosk-1", "/dev/serial/by-id/usb-FEIG_0001")
    # Another box configured alike: its own ids, MQTT user, database path, reader port and
    # log level.
    same = box("kiosk-2", "/dev/serial/by-id/usb-FEIG_0002")
    changed = box("kiosk-1", "/dev/serial/by-id/usb-FEIG_0001",
                  library={"isil": "DK-718500"})
    assert config_hash(config) == config_hash(same)
    assert config_hash(config) != config_hash(changed)
    assert config_hash(config).startswith("sha256:")
    assert len(config_hash(config)) == len("sha256:") + 16


def test_tag_models_name_the_programmed_model_first() -> None:
    assert tag_models("iso28560-3") == ("iso28560-3", "iso28560-2", "iso28560-4", "3m")


async def test_create_sync_describes_a_sip2_node(tmp_path: Path) -> None:
    config = parse_config({"circulation": {"backend": "sip2", "sip2_host": "ils.lan",
                                           "sip2_port": 6001, "sip2_profile": "koha",
                                           "sip2_institution_id": "DK-718500"}}, {})
    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store:
        sync = create_sync(config, store)
    meta = sync._meta()
    assert (meta.sip2_profile, meta.config_hash) == ("koha", config_hash(config))
    assert meta.tag_models == tag_models(config.library.data_model)


async def test_meta_names_a_device_model_once_known_and_state_carries_counters(
        tmp_path: Path, broker: Mosquitto, mqtt_config: MqttConfig) -> None:
    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
            client(broker.port, "central", META, PAD_STATE) as (_, seen):
        sync = MqttSync(NODE, mqtt_config, store, software_version="t",
                        tag_models=("iso28560-2",), sip2_profile="koha",
                        config_hash="sha256:0123456789abcdef", **FAST_BACKOFF)
        await sync.start()
        try:
            await until(lambda: sync.connected)
            await sync.publish_device_state("pad", {"connected": False, "model": None})
            await sync.publish_device_state("pad", {"connected": True, "model": "FEIG ID ISC.MR102",
                                                    "counters": {"frames_sent": 7}})

            def metas() -> list[NodeMeta]:
                return [NodeMeta.from_json(m.payload) for m in seen.others if m.topic == META]

            await seen.wait_for(lambda: any(m.devices and m.devices[0].model for m in metas()))
            await seen.wait_for(lambda: any(m.topic == PAD_STATE and json.loads(m.payload)[
                "counters"] for m in seen.others))
        finally:
            await sync.stop()
    meta = metas()[-1]
    assert [(d.dev, d.kind, d.model) for d in meta.devices] == [
        ("pad", "reader", "FEIG ID ISC.MR102")]
    assert (meta.sip2_profile, meta.config_hash, meta.tag_models) == (
        "koha", "sha256:0123456789abcdef", ("iso28560-2",))
    state = DeviceState.from_json([m for m in seen.others if m.topic == PAD_STATE][-1].payload)
    assert (state.connected, state.counters) == (True, {"frames_sent": 7})


async def test_a_reload_updates_meta(tmp_path: Path, broker: Mosquitto,
                                     mqtt_config: MqttConfig) -> None:
    async with await Store.open(StoreConfig(tmp_path / "edge.db")) as store, \
            client(broker.port, "central", META) as (_, seen):
        sync = MqttSync(NODE, mqtt_config, store, software_version="t", **FAST_BACKOFF)
        await sync.start()
        try:
            await until(lambda: sync.connected)
            for dev in ("pad", "gate"):
                await sync.publish_device_state(dev, {"connected": True, "model": "ID ISC"})
            config = box("kiosk-2", "/dev/ttyUSB0")
            await sync.reconfigured(dataclasses.replace(
                config, readers=(ReaderConfig(name="gate", protocol="feig", port="/dev/x"),)))

            def latest() -> NodeMeta | None:
                metas = [m for m in seen.others if m.topic == META]
                return NodeMeta.from_json(metas[-1].payload) if metas else None

            await seen.wait_for(lambda: (m := latest()) is not None and m.config_hash)
        finally:
            await sync.stop()
    meta = latest()
    assert meta is not None
    assert [d.dev for d in meta.devices] == ["gate"]      # the reader the reload removed: gone
    assert meta.config_hash is not None
    assert meta.config_hash.startswith("sha256:")
