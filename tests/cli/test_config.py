# SPDX-License-Identifier: Apache-2.0
"""Configuration: TOML plus LIBEDGE_* overrides; every error names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_service.api.tokens import parse_tokens
from edge_service.config import Config, ConfigError, load_config, parse_config

GOOD = """
[node]
tenant = "DK-718500"
site = "DK-718501"
node = "kiosk-2"
mode = "kiosk"

[mqtt]
enabled = true
host = "broker.example"

[[readers]]
name = "pad"
protocol = "feig"
port = "/dev/serial/by-id/usb-FEIG_ELECTRONIC_GmbH_OBID_RFID-Reader_12345-if00-port0"
"""


def test_good_file_with_environment_override(tmp_path: Path) -> None:
    path = tmp_path / "libedge.toml"
    path.write_text(GOOD)
    config = load_config(path, {"LIBEDGE_MQTT_PORT": "8883", "LIBEDGE_MQTT_TLS": "yes",
                                "HOME": "/root"})
    assert config.node.node == "kiosk-2"
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("broker.example", 8883, True)
    assert config.readers[0].protocol == "feig"


def test_empty_document_gives_working_defaults() -> None:
    assert parse_config({}, {}) == Config()


@pytest.mark.parametrize(("document", "environ", "key", "words"), [
    ({"mqtt": {"hots": "x"}}, {}, "mqtt.hots", "did you mean 'host'"),
    ({"mqtt": {"port": "many"}}, {}, "mqtt.port", "expected an integer"),
    ({"mqtt": {"port": 70000}}, {}, "mqtt.port", "1 to 65535"),
    ({}, {"LIBEDGE_MQTT_PORT": "x"}, "mqtt.port", "expected an integer"),
    ({}, {"LIBEDGE_NOPE_X": "1"}, "LIBEDGE_NOPE_X", "not a configuration variable"),
    ({"node": {"site": "a/b"}}, {}, "node.site", "topic segment"),
    ({"node": {"mode": "museum"}}, {}, "node.mode", "one of"),
    ({"readers": [{"name": "pad", "protocol": "acme", "port": "/dev/x"}]}, {},
     "readers[0].protocol", "one of"),
    ({"readers": [{"name": "pad", "protocol": "3m", "port": "/dev/x"},
                  {"name": "pad", "protocol": "3m", "port": "/dev/y"}]}, {},
     "readers[1].name", "duplicate"),
    ({"readers": [{"name": "pad", "protocol": "3m"}]}, {}, "readers[0].port", "device path"),
    ({"mqtt": {"cert_file": "c.pem"}}, {}, "mqtt.cert_file", "key_file"),
    ({"gates": {}}, {}, "gates", "unknown key"),
    ({"mqtt": {"enabled": "perhaps"}}, {}, "mqtt.enabled", "true or false"),
])
def test_bad_values_name_the_key(document: dict[str, object], environ: dict[str, str],
                                 key: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document, environ)
    assert error.value.key == key
    assert words in str(error.value)


@pytest.mark.parametrize("name", ["pad 2", "pad:2", "gate/in", "-pad", "p" * 65, "pad\t2"],
                         ids=["blank", "colon", "slash", "first-dash", "65-long", "tab"])
def test_reader_names_are_what_urls_and_pad_tokens_can_carry(name: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"readers": [{"name": name, "protocol": "feig", "port": "/dev/x"}]}, {})
    assert error.value.key == "readers[0].name"
    assert "A-Z a-z 0-9 _ . -" in error.value.reason


@pytest.mark.parametrize("name", ["pad", "pad-2", "Desk_1.left", "9", "p" * 64])
def test_every_admitted_reader_name_can_be_bound_to_a_kiosk_token(name: str) -> None:
    config = parse_config({"readers": [{"name": name, "protocol": "feig", "port": "/dev/x"}]},
                          {})
    bound = parse_tokens(f"kiosk:{config.readers[0].name} {'t' * 43}\n", "api-tokens")
    assert bound[0].pad == name


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", {})
    bad = tmp_path / "bad.toml"
    bad.write_text("[node\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, {})


def test_whose_items_are_ours() -> None:
    library = parse_config({"library": {"isil": "DK-718500", "also_ours": "DK-718501, DK-7185"}},
                           {}).library
    assert library.ours("DK-718500")
    assert library.ours("DK-7185")
    assert not library.ours("DE-705")
    assert library.ours(None)   # 3M and early tags carry no owner: never foreign for that
    assert library.ours("")
    assert parse_config({}, {}).library.ours("DE-705")   # no ISIL configured: all ours


@pytest.mark.parametrize("value", ["1", "1,1", "0,2", "1,9", "a,b", "1,2,3"])
def test_barrier_inputs_must_be_two_different_inputs(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"gate": {"barrier_inputs": value}}, {})
    assert caught.value.key == "gate.barrier_inputs"


def test_barrier_inputs_give_inside_and_outside() -> None:
    assert parse_config({"gate": {"barrier_inputs": " 2, 1"}}, {}).gate.barriers() == (2, 1)
    assert parse_config({}, {}).gate.barriers() is None
