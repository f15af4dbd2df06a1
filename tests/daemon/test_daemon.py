# SPDX-License-Identifier: Apache-2.0
"""The daemon as systemd runs it: a child process, simulated readers on real ptys, a real
notify socket, real HTTP. Timers are the daemon's own, shortened through WATCHDOG_USEC (the
heartbeat threshold follows it) and the config (poll interval, commit window)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge_service.store import (
    Store,
    StoreConfig,
    WriteConnection,
    journal_begin,
    journal_end,
)
from tests.daemon.harness import (
    PYTHON,
    ROOT,
    api_base,
    api_token,
    get,
    get_json,
    notify_socket,
    simulated_reader,
    start_daemon,
    stop,
    write_config,
)

WATCHDOG_USEC = 2_000_000
"""2 s: pings every 1 s; a loop that has not beaten for 2 s is stuck."""


def test_ready_health_metrics_watchdog_and_clean_stop(tmp_path: Path) -> None:
    db = tmp_path / "libedge.db"
    freeze = tmp_path / "freeze"
    with (simulated_reader(tmp_path, "feig", "feig-pad") as feig_port,
          simulated_reader(tmp_path, "3m", "d6-gate") as d6_port,
          notify_socket(tmp_path / "notify") as notify):
        config = write_config(tmp_path / "libedge.toml", [
            {"name": "pad", "protocol": "feig", "port": feig_port, "poll_interval_ms": 100},
            {"name": "gate", "protocol": "3m", "port": d6_port, "role": "gate"},
        ], db=db)
        daemon = start_daemon(config, tmp_path / "stderr.log", NOTIFY_SOCKET=notify.address,
                              WATCHDOG_USEC=str(WATCHDOG_USEC),
                              LIBEDGE_TEST_FREEZE_FILE=str(freeze))
        try:
            ready = notify.wait_for(lambda f: f.get("READY") == "1", 15)
            # READY comes after the devices are up: it says so, and the API agrees at once.
            assert "2/2 readers connected" in ready["STATUS"]
            base = api_base(ready)
            # No api.tokens_file: the daemon made one token per role, readable by it alone.
            assert (tmp_path / "api-tokens").stat().st_mode & 0o777 == 0o600
            assert get_json(f"{base}/api/v1/devices")[0] == 401
            status, devices = get_json(f"{base}/api/v1/devices", api_token(tmp_path, "kiosk"))
            assert status == 200
            by_name = {d["name"]: d for d in devices["devices"]}
            assert by_name["pad"]["connected"]
            assert by_name["gate"]["connected"]
            assert by_name["pad"]["firmware"]
            assert by_name["pad"]["counters"]["frames_sent"] > 0

            status, health = get_json(f"{base}/api/v1/health")
            assert (status, health["status"], health["problems"]) == (200, "ok", [])
            assert health["storage"]["alive"]

            # The item tag was identified from its memory and recorded through the writer.
            deadline = time.monotonic() + 5
            while True:
                with sqlite3.connect(db) as conn:
                    rows = conn.execute("SELECT uid, owner_institution, primary_item_id, last_afi "
                                        "FROM tag_uids").fetchall()
                if rows or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert rows == [("E004015012345678", "DE-705", "11223344", 0x07)]

            status, ctype, text = get(f"{base}/metrics")
            assert status == 200
            assert ctype.startswith("text/plain")
            assert 'libedge_device_connected{device="pad"} 1.0' in text
            assert 'libedge_device_frames_sent_total{device="gate"}' in text
            assert "libedge_device_crc_errors_total" in text
            for counter in ("open_failures", "link_losses", "record_errors"):
                assert f'libedge_device_{counter}_total{{device="pad"}} 0.0' in text
            assert "libedge_store_commits_total" in text
            # The gate sees the scenario's secured tag: its alarm event may be queued.
            assert re.search(r"^libedge_store_outbox_backlog \d+\.0$", text, re.MULTILINE)
            # ... and counts it: the gate's counters are series of their own.
            alarms = re.compile(r'^libedge_gate_alarms_total\{gate="gate"\} ([1-9]\d*)\.0$',
                                re.MULTILINE)
            deadline = time.monotonic() + 10
            while not alarms.search(text) and time.monotonic() < deadline:
                time.sleep(0.2)
                text = get(f"{base}/metrics")[2]
            assert alarms.search(text), text
            assert 'libedge_gate_passages_in_total{gate="gate"} 0.0' in text
            status, _, docs = get(f"{base}/docs")
            assert status == 200
            assert "swagger" in docs.lower()

            # Healthy: the watchdog is fed about every second.
            start = time.monotonic()
            notify.pump(2.6)
            assert notify.count("WATCHDOG", since=start) >= 2

            # A frozen reader loop: the pings stop, health says which loop is stuck.
            freeze.touch()
            notify.pump(WATCHDOG_USEC / 1e6 + 2.0)  # receive (and time) what is still sent
            quiet_from = time.monotonic()
            notify.pump(2.0)
            assert notify.count("WATCHDOG", since=quiet_from) == 0
            status, health = get_json(f"{base}/api/v1/health")
            assert status == 503
            assert any("reader pad: loop stuck" in p for p in health["problems"])

            # Unfrozen: the pings come back.
            freeze.unlink()
            resumed = time.monotonic()
            notify.wait_for(lambda f: f.get("WATCHDOG") == "1", 3, after=resumed)

            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=10) == 0
            notify.pump(0.2)
            assert any(f.get("STOPPING") == "1" for _, f in notify.received)
        finally:
            stop(daemon)
    log = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in log
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_absent_reader_and_reload(tmp_path: Path) -> None:
    """An unplugged reader does not hold READY back and is retried; SIGHUP applies a valid
    config (readers, level) and keeps the running one when the new one is invalid."""
    with (simulated_reader(tmp_path, "trf7970a", "trf") as trf_port,
          notify_socket(abstract=f"libedge-test-{tmp_path.name}") as notify):
        present = {"name": "desk", "protocol": "trf7970a", "port": trf_port, "role": "staff"}
        absent = {"name": "gone", "protocol": "feig", "port": str(tmp_path / "no-such-tty")}
        # MQTT on, broker unreachable (or the component absent): the box works regardless.
        mqtt = '[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = 9\n'
        config = write_config(tmp_path / "libedge.toml", [present, absent],
                              db=tmp_path / "libedge.db", extra=mqtt)
        log = tmp_path / "stderr.log"
        daemon = start_daemon(config, log, NOTIFY_SOCKET=notify.address,
                              WATCHDOG_USEC=str(WATCHDOG_USEC))
        try:
            ready = notify.wait_for(lambda f: f.get("READY") == "1", 15)
            assert "1/2 readers connected" in ready["STATUS"]
            base = api_base(ready)
            # The absent reader is a problem a monitor must see: health answered 200 and named
            # it only deep in the body (found by a review). Its supervisor is alive, retrying,
            # so the watchdog is still fed: no restart for an unplugged reader.
            status, health = get_json(f"{base}/api/v1/health")
            assert (status, health["status"], health["problems"]) == (
                503, "unhealthy", ["reader gone: unreachable"])
            assert health["devices"]["gone"]["state"] == "unreachable"
            assert "cannot open" in health["devices"]["gone"]["last_error"]
            assert health["mqtt"] == {"enabled": True, "connected": False}
            start = time.monotonic()
            notify.pump(2.6)
            assert notify.count("WATCHDOG", since=start) >= 2

            # Invalid: a typo'd key. Logged with the key; the old configuration keeps running.
            config.write_text(config.read_text() + '\n[[readers]]\nname = "x"\nprotocl = "3m"\n')
            sent = time.monotonic()
            daemon.send_signal(signal.SIGHUP)
            again = notify.wait_for(lambda f: f.get("READY") == "1", 10, after=sent)
            assert "reload refused (readers[2].protocl)" in again["STATUS"]
            assert any(f.get("RELOADING") == "1" for at, f in notify.received if at >= sent)
            _, devices = get_json(f"{base}/api/v1/devices", api_token(tmp_path))
            assert {d["name"] for d in devices["devices"]} == {"desk", "gone"}
            assert "readers[2].protocl" in log.read_text()

            # Valid: the absent reader removed, the present one changed (reopened), debug on.
            write_config(config, [{**present, "poll_interval_ms": 200}],
                         db=tmp_path / "libedge.db", level="debug", extra=mqtt)
            sent = time.monotonic()
            daemon.send_signal(signal.SIGHUP)
            again = notify.wait_for(lambda f: f.get("READY") == "1", 10, after=sent)
            assert "1/1 readers connected" in again["STATUS"]
            _, devices = get_json(f"{base}/api/v1/devices", api_token(tmp_path))
            assert [d["name"] for d in devices["devices"]] == ["desk"]
            assert devices["devices"][0]["connected"]
            status, health = get_json(f"{base}/api/v1/health")
            assert (status, health["status"], health["problems"]) == (200, "ok", [])
            assert "configuration reloaded" in log.read_text()
            assert "reader desk started (configuration changed)" in log.read_text()

            daemon.send_signal(signal.SIGINT)
            assert daemon.wait(timeout=10) == 0
        finally:
            stop(daemon)
    # The reloaded level took effect: DEBUG lines (the reopened reader's) only after the reload.
    before, _, after = log.read_text().partition("reader desk started (configuration changed)")
    assert "DEBUG" not in before
    assert "DEBUG" in after


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path / "libedge.toml",
                          [{"name": "pad", "protocol": "acme", "port": "/dev/null"}],
                          db=tmp_path / "libedge.db")
    result = subprocess.run([PYTHON, "-m", "edge_service", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=30, check=False, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert "readers[0].protocol" in result.stderr
    assert not (tmp_path / "libedge.db").exists()  # nothing was opened

    missing = subprocess.run(
        [PYTHON, "-m", "edge_service", "run", "--config", str(tmp_path / "missing.toml")],
        capture_output=True, text=True, timeout=30, check=False, cwd=ROOT)
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


def test_busy_api_port_exits_1_naming_the_key(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        config = write_config(tmp_path / "libedge.toml", [], db=tmp_path / "libedge.db")
        config.write_text(config.read_text().replace("port = 0", f"port = {port}"))
        daemon = start_daemon(config, tmp_path / "stderr.log")
        try:
            assert daemon.wait(timeout=20) == 1
        finally:
            stop(daemon)
    assert "api.host/api.port" in (tmp_path / "stderr.log").read_text()


def test_ended_journal_entries_older_than_the_retention_go_at_start(tmp_path: Path) -> None:
    db = tmp_path / "libedge.db"
    now = datetime.now(UTC)

    def history(conn: WriteConnection) -> None:
        for entry_id, ended in (("old", now - timedelta(days=40)),
                                ("recent", now - timedelta(days=5))):
            journal_begin(conn, entry_id, "checkout", "started", {}, now=ended)
            journal_end(conn, entry_id, "committed", now=ended)

    async def write_history() -> None:
        async with await Store.open(StoreConfig(db)) as store:
            await store.writer.submit(history)

    asyncio.run(write_history())
    with notify_socket(tmp_path / "notify") as notify:
        config = write_config(tmp_path / "libedge.toml", [], db=db)
        daemon = start_daemon(config, tmp_path / "stderr.log", NOTIFY_SOCKET=notify.address,
                              LIBEDGE_STORAGE_JOURNAL_RETENTION_DAYS="30")
        try:
            notify.wait_for(lambda f: f.get("READY") == "1", 15)
            deadline = time.monotonic() + 10
            while True:
                with contextlib.closing(sqlite3.connect(db)) as conn:
                    ids = [row[0] for row in conn.execute("SELECT id FROM journal ORDER BY id")]
                if ids == ["recent"] or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert ids == ["recent"]
        finally:
            assert stop(daemon) == 0
