# SPDX-License-Identifier: Apache-2.0
"""Configuration: TOML plus LIBEDGE_* overrides; every error names the key."""

from __future__ import annotations

import json
import os
import pwd
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from edge_service.api.tokens import parse_tokens
from edge_service.config import Config, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]

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


# --- reader ports ------------------------------------------------------------------------------


def _reader(port: str, name: str = "pad") -> dict[str, object]:
    return {"name": name, "protocol": "feig", "port": port}


SOCKET_PORTS = ["socket://nohost:notaport", "socket://reader:0", "socket://reader:65536",
                "socket://reader:-1", "socket://reader:", "socket://reader", "socket://:4001",
                "socket://reader:4001/x", "socket://reader:4001?a=1", "tcp://reader:4001",
                "socket://reader:4001", "socket://10.0.0.7:10001", "socket://[::1]:65535",
                "socket://Reader.local:1"]


@pytest.mark.parametrize("port", SOCKET_PORTS)
def test_socket_ports_follow_the_transport_rule_with_tcp_ports_1_to_65535(port: str) -> None:
    """Config and firmware_bridge's transport (``links.parse_url``, which the config cannot
    import) give the same answer, but for port 0, which only the config refuses."""
    from firmware_bridge.errors import ConfigurationError  # noqa: PLC0415
    from firmware_bridge.links import parse_url  # noqa: PLC0415

    try:
        target = parse_url(port)
    except ConfigurationError:
        transport_accepts = False
    else:
        transport_accepts = isinstance(target, tuple) and target[1] != 0
    if transport_accepts:
        parse_config({"readers": [_reader(port)]}, {})
        return
    with pytest.raises(ConfigError) as error:
        parse_config({"readers": [_reader(port)]}, {})
    assert error.value.key == "readers[0].port"
    assert port in str(error.value)


def test_a_bad_socket_port_is_refused_at_load_naming_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "libedge.toml"
    path.write_text(GOOD.replace("/dev/serial/by-id/usb-FEIG_ELECTRONIC_GmbH_OBID_RFID-Reader_"
                                 "12345-if00-port0", "socket://nohost:notaport"))
    with pytest.raises(ConfigError) as error:
        load_config(path, {})
    assert str(error.value) == ("readers[0].port: 'socket://nohost:notaport': expected a TCP "
                                "port from 1 to 65535 after the host (socket://host:port)")


def test_device_paths_are_not_checked_for_existence(tmp_path: Path) -> None:
    """A USB reader may be plugged in after the start: the daemon retries it."""
    absent = str(tmp_path / "ttyUSB-not-plugged-in")
    assert parse_config({"readers": [_reader(absent)]}, {}).readers[0].port == absent


@pytest.mark.parametrize(("first", "second"), [
    ("/dev/libedge/feig", "/dev/libedge/feig"),
    ("socket://reader.local:10001", "socket://READER.local:10001"),
])
def test_two_readers_on_one_port_are_refused(first: str, second: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"readers": [_reader(first), _reader(second, "gate")]}, {})
    assert error.value.key == "readers[1].port"
    assert "reader 'pad'" in error.value.reason


def test_two_paths_to_one_existing_device_are_one_port(tmp_path: Path) -> None:
    tty = tmp_path / "ttyUSB0"
    tty.touch()
    (tmp_path / "by-id").symlink_to(tty)
    readers = [_reader(str(tty)), _reader(str(tmp_path / "by-id"), "gate")]
    with pytest.raises(ConfigError) as error:
        parse_config({"readers": readers}, {})
    assert error.value.key == "readers[1].port"
    assert "reader 'pad'" in error.value.reason


def test_different_ports_are_fine() -> None:
    readers = [_reader("/dev/libedge/a"), _reader("/dev/libedge/b", "b"),
               _reader("socket://reader:10001", "c"), _reader("socket://reader:10002", "d")]
    assert len(parse_config({"readers": readers}, {}).readers) == 4


# --- MQTT numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [
    ("keepalive_s", 0), ("keepalive_s", -1), ("keepalive_s", 65536),
    ("session_expiry_s", -1), ("session_expiry_s", 2**32),
])
def test_mqtt_timers_outside_what_the_protocol_carries_are_refused(key: str, value: int) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"mqtt": {key: value}}, {})
    assert error.value.key == f"mqtt.{key}"


def _connect_properties(session_expiry_s: int) -> bytes:
    """paho's MQTT 5 CONNECT properties carrying ``session_expiry_s``, as the client sends them."""
    from paho.mqtt.packettypes import PacketTypes  # noqa: PLC0415
    from paho.mqtt.properties import Properties  # noqa: PLC0415

    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = session_expiry_s
    packed: bytes = properties.pack()  # type: ignore[no-untyped-call]
    return packed


def test_mqtt_timers_at_the_protocol_limits_are_accepted_and_paho_sends_them() -> None:
    low = parse_config({"mqtt": {"keepalive_s": 1, "session_expiry_s": 0}}, {}).mqtt
    high = parse_config({"mqtt": {"keepalive_s": 65535, "session_expiry_s": 2**32 - 1}}, {}).mqtt
    assert (low.keepalive_s, high.keepalive_s) == (1, 65535)
    assert struct.pack("!H", high.keepalive_s)   # CONNECT's two-byte Keep Alive field
    for expiry in (low.session_expiry_s, high.session_expiry_s):
        assert _connect_properties(expiry)
    with pytest.raises(struct.error):
        _connect_properties(2**32)


# --- files named by the configuration ----------------------------------------------------------


def _write(path: Path, text: str = "secret\n") -> str:
    path.write_text(text)
    return str(path)


def test_files_of_enabled_sections_must_exist(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    cases: list[tuple[dict[str, object], str]] = [
        ({"mqtt": {"enabled": True, "password_file": missing}}, "mqtt.password_file"),
        ({"mqtt": {"enabled": True, "tls": True, "ca_file": missing}}, "mqtt.ca_file"),
        ({"mqtt": {"enabled": True, "tls": True, "cert_file": missing,
                   "key_file": _write(tmp_path / "key.pem")}}, "mqtt.cert_file"),
        ({"mqtt": {"enabled": True, "tls": True, "cert_file": _write(tmp_path / "cert.pem"),
                   "key_file": missing}}, "mqtt.key_file"),
        ({"circulation": {"backend": "sip2", "sip2_host": "ils", "sip2_institution_id": "X",
                          "sip2_password_file": missing}}, "circulation.sip2_password_file"),
        ({"circulation": {"backend": "sip2", "sip2_host": "ils", "sip2_institution_id": "X",
                          "sip2_tls": True, "sip2_ca_file": missing}}, "circulation.sip2_ca_file"),
    ]
    for document, key in cases:
        with pytest.raises(ConfigError) as error:
            parse_config(document, {})
        assert error.value.key == key
        assert error.value.reason == f"cannot read {missing}: No such file or directory"


def test_files_of_disabled_sections_are_not_read(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    parse_config({"mqtt": {"enabled": False, "password_file": missing, "ca_file": missing},
                  "circulation": {"backend": "mqtt", "sip2_password_file": missing}}, {})
    parse_config({"mqtt": {"enabled": True, "tls": False, "ca_file": missing,
                           "cert_file": missing, "key_file": missing},
                  "circulation": {"backend": "sip2", "sip2_host": "ils",
                                  "sip2_institution_id": "X", "sip2_ca_file": missing}}, {})


def test_existing_files_pass_and_a_relative_path_is_the_daemons(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon opens these paths as written: relative to its working directory (the state
    directory under the shipped unit); validation looks at the same file."""
    _write(tmp_path / "mqtt-password")
    toml = tmp_path / "libedge.toml"
    toml.write_text('[mqtt]\nenabled = true\npassword_file = "mqtt-password"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_config(toml, {}).mqtt.password_file == "mqtt-password"
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ConfigError, match=r"^mqtt.password_file: cannot read mqtt-password"):
        load_config(toml, {})


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_only_a_regular_file_is_a_password_file(tmp_path: Path, kind: str) -> None:
    """A FIFO would block the daemon's read (and this check's open) for ever."""
    path = tmp_path / "mqtt-password"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    with pytest.raises(ConfigError) as error:
        parse_config({"mqtt": {"enabled": True, "password_file": str(path)}}, {})
    assert str(error.value) == f"mqtt.password_file: {path} is not a regular file"


READ_AS_A_USER = """
import json, os, sys
from edge_service.config import ConfigError, parse_config

def reason(path):
    try:
        parse_config({"circulation": {"backend": "sip2", "sip2_host": "ils",
                                      "sip2_institution_id": "X", "sip2_password_file": path}}, {})
    except ConfigError as error:
        return error.reason
    return None

user = json.loads(sys.argv[1])
if user is not None:
    reason(sys.argv[2])   # imports what the check imports late, while the code is readable
    os.setgroups([])
    os.setgid(user[1])
    os.setuid(user[0])
print(json.dumps([os.geteuid(), [reason(path) for path in sys.argv[2:]]]))
"""
"""Checks a password file per argument, as the user given (``[uid, gid]``, or null: as is),
in a child process; prints the user it checked as and each refusal, as JSON."""


def _reasons_as_a_user(*paths: Path) -> list[str | None]:
    """What the configuration check says of each file when the user reading it is not root:
    root reads any file, and CI runs as root, so there the child drops to ``nobody`` (after
    starting as root: the interpreter may live where only root may go)."""
    user: list[int] | None = None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        user = [nobody.pw_uid, nobody.pw_gid]
    result = subprocess.run(
        [sys.executable, "-c", READ_AS_A_USER, json.dumps(user), *map(str, paths)],
        capture_output=True, text=True, timeout=30, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stderr
    checked_as, reasons = json.loads(result.stdout)
    assert checked_as != 0
    return list(reasons)


def test_an_unreadable_file_is_refused() -> None:
    # Not under tmp_path: pytest keeps its base directory private to the user running it.
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        folder.chmod(0o755)
        readable, secret = folder / "readable", folder / "sip2-password"
        _write(readable)
        readable.chmod(0o644)   # whatever the umask: the control must be readable by anyone
        _write(secret)
        secret.chmod(0)
        assert _reasons_as_a_user(readable, secret) == [
            None, f"cannot read {secret}: Permission denied"]


@pytest.mark.parametrize(("charset", "words"), [
    ("klingon", "unknown charset 'klingon'"),
    ("utf-16", "not an ASCII-compatible charset"),
    ("rot13", "not an ASCII-compatible charset"),
])
def test_sip2_charset_is_one_the_sip2_codec_can_use(charset: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"circulation": {"sip2_charset": charset}}, {})
    assert error.value.key == "circulation.sip2_charset"
    assert words in error.value.reason


@pytest.mark.parametrize("charset", ["utf-8", "latin-1", "cp1252", "ISO-8859-15"])
def test_sip2_charsets_the_profile_accepts_are_accepted(charset: str) -> None:
    from edge_service.circulation.factory import sip2_profile_from_config  # noqa: PLC0415

    config = parse_config({"circulation": {"backend": "sip2", "sip2_host": "ils",
                                           "sip2_institution_id": "X",
                                           "sip2_charset": charset}}, {})
    assert sip2_profile_from_config(config.circulation).charset == charset


def test_a_missing_file_exits_2_with_one_line_naming_key_and_path(tmp_path: Path) -> None:
    config = tmp_path / "libedge.toml"
    config.write_text(f'[storage]\npath = "{tmp_path / "libedge.db"}"\n\n'
                      f'[mqtt]\nenabled = true\npassword_file = "{tmp_path / "nope"}"\n')
    result = subprocess.run([sys.executable, "-m", "edge_service", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=30, check=False, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr == (f"libedge: configuration error: mqtt.password_file: cannot read "
                             f"{tmp_path / 'nope'}: No such file or directory\n")
    assert not (tmp_path / "libedge.db").exists()


# --- environment and file types ----------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("LIBEDGE_API_PORT", "abc",
     "api.port (from LIBEDGE_API_PORT): expected an integer, got 'abc'"),
    ("LIBEDGE_API_PROT", "1",
     "api.prot (from LIBEDGE_API_PROT): unknown key (did you mean 'port'?)"),
    ("LIBEDGE_API_PORT", "70000",
     "api.port (from LIBEDGE_API_PORT): expected an integer from 0 to 65535, got 70000"),
    ("LIBEDGE_MQTT_TLS", "maybe",
     "mqtt.tls (from LIBEDGE_MQTT_TLS): expected true or false, got 'maybe'"),
])
def test_environment_errors_name_the_variable(tmp_path: Path, variable: str, value: str,
                                              message: str) -> None:
    path = tmp_path / "libedge.toml"
    path.write_text(GOOD)
    with pytest.raises(ConfigError) as error:
        load_config(path, {variable: value})
    assert str(error.value) == message
    assert error.value.variable == variable


def test_file_errors_name_no_variable(tmp_path: Path) -> None:
    path = tmp_path / "libedge.toml"
    path.write_text(GOOD + "\n[api]\nport = 70000\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, {"LIBEDGE_API_HOST": "0.0.0.0"})
    assert str(error.value) == "api.port: expected an integer from 0 to 65535, got 70000"


@pytest.mark.parametrize(("table", "line", "message"), [
    ("api", 'port = "18080"', "api.port: expected an integer, got '18080'"),
    ("mqtt", 'enabled = "no"', "mqtt.enabled: expected true or false, got 'no'"),
    ("mqtt", "tls = 0", "mqtt.tls: expected true or false, got 0"),
])
def test_the_file_must_use_toml_types(tmp_path: Path, table: str, line: str,
                                      message: str) -> None:
    path = tmp_path / "libedge.toml"
    path.write_text(f"[{table}]\n{line}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, {})
    assert str(error.value).startswith(message)


def test_environment_strings_are_still_converted() -> None:
    config = parse_config({}, {"LIBEDGE_API_PORT": "18080", "LIBEDGE_MQTT_ENABLED": "no",
                               "LIBEDGE_MQTT_TLS": "ON"})
    assert (config.api.port, config.mqtt.enabled, config.mqtt.tls) == (18080, False, True)


def test_a_section_that_is_no_table_is_named_even_with_an_override() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"mqtt": 5}, {"LIBEDGE_MQTT_HOST": "broker"})
    assert error.value.key == "mqtt"


async def test_a_reload_naming_a_missing_file_is_refused_and_the_running_one_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SIGHUP goes through the same validation as the start (not started here: a refused
    reload returns before anything is applied)."""
    from edge_service.daemon import Daemon  # noqa: PLC0415

    path = tmp_path / "libedge.toml"
    path.write_text(GOOD)
    running = load_config(path, {})
    daemon = Daemon(running, config_path=path, environ={})
    path.write_text(GOOD.replace('host = "broker.example"', 'host = "broker.example"\n'
                                 f'password_file = "{tmp_path / "gone"}"'))
    assert not await daemon.reload()
    assert daemon.config is running
    assert f"mqtt.password_file: cannot read {tmp_path / 'gone'}" in caplog.text


def test_a_kiosk_pin_nobody_checks_is_refused() -> None:
    # sip2_patron_secret 'none' sends no PIN: a PIN the kiosk asked for would be accepted blind.
    circulation = {"backend": "sip2", "sip2_host": "ils", "sip2_institution_id": "MAIN",
                   "sip2_patron_secret": "none"}
    with pytest.raises(ConfigError) as error:
        parse_config({"circulation": circulation}, {})
    assert error.value.key == "selfcheck.pin_required"
    assert "set pin_required = false" in str(error.value)
    config = parse_config({"circulation": circulation, "selfcheck": {"pin_required": False}}, {})
    assert config.selfcheck.pin_required is False
    assert parse_config({}, {}).selfcheck.pin_required is True
