# SPDX-License-Identifier: Apache-2.0
"""The configuration keys the daemon added: reader poll interval and baud, the test hook."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from edge_service.config import (
    _SECTIONS,
    ConfigError,
    ReaderConfig,
    load_config,
    parse_config,
    poll_interval_s,
)

PAD = {"name": "pad", "protocol": "feig", "port": "/dev/libedge/feig"}


@pytest.mark.parametrize(("reader", "seconds"), [
    ({}, 0.3),
    ({"role": "gate"}, 0.1),
    ({"role": "staff"}, 1.0),
    ({"role": "gate", "poll_interval_ms": 50}, 0.05),
])
def test_poll_interval_defaults_by_role(reader: dict[str, object], seconds: float) -> None:
    config = parse_config({"readers": [{**PAD, **reader}]}, {})
    assert poll_interval_s(config.readers[0]) == seconds


@pytest.mark.parametrize(("reader", "key"), [
    ({"poll_interval_ms": -1}, "readers[0].poll_interval_ms"),
    ({"baud": -9600}, "readers[0].baud"),
])
def test_bad_reader_values_name_the_key(reader: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"readers": [{**PAD, **reader}]}, {})
    assert error.value.key == key


def test_the_test_hook_variable_is_not_configuration() -> None:
    parse_config({}, {"LIBEDGE_TEST_FREEZE_FILE": "/tmp/x"})
    with pytest.raises(ConfigError):
        parse_config({}, {"LIBEDGE_TEST_OTHER": "1"})


ROOT = Path(__file__).resolve().parents[2]


def test_every_key_is_documented_and_the_example_loads() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text()
    for section in (*_SECTIONS.values(), ReaderConfig):
        for key in fields(section):
            assert f"| `{key.name}` |" in reference, key.name
    for name, section in _SECTIONS.items():
        for key in fields(section):
            assert f"LIBEDGE_{name.upper()}_{key.name.upper()}" in reference
    example = load_config(ROOT / "systemd" / "libedge.toml.example", {})
    assert example.readers[0].port == "/dev/libedge/feig"


def test_a_bad_offline_card_pattern_names_the_key() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"selfcheck": {"offline_card_pattern": "2[0-9"}}, {})
    assert error.value.key == "selfcheck.offline_card_pattern"
    assert "not a regular expression" in error.value.reason
    config = parse_config({}, {"LIBEDGE_SELFCHECK_OFFLINE_CARD_PATTERN": "2[0-9]{9}"})
    assert config.selfcheck.offline_card_pattern == "2[0-9]{9}"


def test_every_protocol_has_a_driver_a_simulator_and_a_benchmark_and_no_more() -> None:
    # Four tables name the protocols (the daemon's config, the drivers, the simulator's
    # front-ends, the reader benchmark); a protocol missing from one works in some commands
    # and is refused by others (docs/driver-guide.md, registration).
    from bench import readers as bench_readers  # noqa: PLC0415
    from edge_service import config  # noqa: PLC0415
    from firmware_bridge.drivers import DRIVERS  # noqa: PLC0415
    from firmware_bridge.simulator.frontends import FRONT_ENDS  # noqa: PLC0415

    assert set(config.PROTOCOLS) == set(DRIVERS) == set(FRONT_ENDS) == set(
        bench_readers.PROTOCOLS)


def test_isils_of_ours_compare_without_regard_to_case() -> None:
    # ISO 15511: an ISIL is unique "without regard to case"; tags are written by many systems.
    from edge_service.config import LibraryConfig  # noqa: PLC0415

    library = LibraryConfig(isil="DK-718500", also_ours="dk-718501")
    assert library.ours("dk-718500")
    assert library.ours("DK-718501")
    assert not library.ours("DK-775100")
    assert library.ours(None)   # a tag naming no owner is ours (3M, early ISO tags)


def test_same_isil_ignores_case_and_matches_absent_only_to_absent() -> None:
    from edge_service.config import same_isil  # noqa: PLC0415

    assert same_isil("dk-718500", "DK-718500")
    assert not same_isil("DK-718500", "DK-718501")
    assert same_isil(None, "")
    assert not same_isil(None, "DK-718500")


def test_allowed_hosts_are_read_as_names() -> None:
    config = parse_config({"api": {"allowed_hosts": " kiosk.library.lan, Desk.Library.LAN.,"}},
                          {})
    assert config.api.host_names() == ("kiosk.library.lan", "Desk.Library.LAN.")
    assert parse_config({}, {}).api.host_names() == ()


NOT_A_HOST_NAME = ("is not a host name (like kiosk.library.lan: no scheme, port, path or "
                   "wildcard; an international name in its xn-- form)")


@pytest.mark.parametrize("entry", ["http://kiosk.lan", "kiosk.lan:8080", "kiosk.lan/staff",
                                   "*.library.lan", "bibliotek-ø.dk", "kiosk lan", "-kiosk.lan",
                                   "[::1]", "a" * 64 + ".lan"])
def test_an_allowed_host_that_is_no_host_name_is_named_with_the_key(entry: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"api": {"allowed_hosts": f"kiosk.library.lan, {entry}"}}, {})
    assert str(error.value) == f"api.allowed_hosts: {entry!r} {NOT_A_HOST_NAME}"
    with pytest.raises(ConfigError) as error:
        parse_config({}, {"LIBEDGE_API_ALLOWED_HOSTS": entry})
    assert str(error.value) == (f"api.allowed_hosts (from LIBEDGE_API_ALLOWED_HOSTS): {entry!r} "
                                f"{NOT_A_HOST_NAME}")
