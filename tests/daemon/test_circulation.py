# SPDX-License-Identifier: Apache-2.0
"""Direct mode wiring: the daemon (a child process) builds its SIP2 circulation backend from
``[circulation]`` and owns its link to the ILS (``libedge sim ils``, another child process).
An ILS that is down does not hold back READY; it shows as unreachable and is retried."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.daemon.harness import (
    PYTHON,
    ROOT,
    api_base,
    api_token,
    get_json,
    notify_socket,
    start_daemon,
    stop,
    write_config,
)
from tests.gateway.broker import free_port

LINK_WAIT_S = 15.0


@contextlib.contextmanager
def ils_simulator(port: int = 0) -> Iterator[int]:
    """``libedge sim ils`` with the packaged sample catalogue; yields its port."""
    process = subprocess.Popen([PYTHON, "-m", "edge_service", "sim", "ils", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert " on 127.0.0.1:" in line, line
        yield int(line.split(" on 127.0.0.1:")[1].split(";")[0])
    finally:
        stop(process)


def direct_mode(tmp_path: Path, sip2_port: int, sip2_host: str = "127.0.0.1") -> Path:
    secret = tmp_path / "sip2-password"
    secret.write_text("kiosk1-secret\n")
    return write_config(tmp_path / "libedge.toml", [], db=tmp_path / "libedge.db", extra=(
        f'[circulation]\nbackend = "sip2"\nsip2_host = "{sip2_host}"\nsip2_port = {sip2_port}\n'
        'sip2_institution_id = "DK-718500"\nsip2_login_user = "kiosk1"\n'
        f'sip2_password_file = "{secret}"\nsip2_timeout_ms = 2000\n'))


def ils_until(base: str, state: str, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(health body, devices body) once health shows the ILS link in ``state``."""
    deadline = time.monotonic() + LINK_WAIT_S
    while True:
        status, health = get_json(f"{base}/api/v1/health")
        assert status == 200, health   # the ILS never makes the box unhealthy
        if health["ils"]["state"] == state:
            _, devices = get_json(f"{base}/api/v1/devices", token)
            return health, devices
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def test_direct_mode_links_to_a_running_ils(tmp_path: Path) -> None:
    with (ils_simulator() as sim_port,
          notify_socket(tmp_path / "notify") as notify):
        daemon = start_daemon(direct_mode(tmp_path, sim_port), tmp_path / "stderr.log",
                              NOTIFY_SOCKET=notify.address)
        try:
            base = api_base(notify.wait_for(lambda f: f.get("READY") == "1", 15))
            health, devices = ils_until(base, "connected", api_token(tmp_path))
            assert health["ils"]["backend"] == "sip2"
            assert health["ils"]["last_error"] is None
            assert devices["ils"]["state"] == "connected"
        finally:
            assert stop(daemon) == 0
    log = (tmp_path / "stderr.log").read_text()
    assert "ILS link up (sip2)" in log
    assert "kiosk1-secret" not in log


def test_an_absent_ils_does_not_hold_back_ready_and_is_retried(tmp_path: Path) -> None:
    sip2_port = free_port()   # nothing listens there yet
    with notify_socket(tmp_path / "notify") as notify:
        started = time.monotonic()
        daemon = start_daemon(direct_mode(tmp_path, sip2_port), tmp_path / "stderr.log",
                              NOTIFY_SOCKET=notify.address)
        try:
            ready = notify.wait_for(lambda f: f.get("READY") == "1", 15)
            assert time.monotonic() - started < 10   # not the SIP2 timeouts stacked up
            base = api_base(ready)
            health, devices = ils_until(base, "unreachable", api_token(tmp_path))
            assert (health["status"], health["problems"]) == ("ok", [])
            assert "cannot connect to ILS" in health["ils"]["last_error"]
            assert devices["ils"]["state"] == "unreachable"
            assert daemon.poll() is None
            with ils_simulator(sip2_port):   # the ILS comes back: the link follows by itself
                health, _ = ils_until(base, "connected", api_token(tmp_path))
        finally:
            assert stop(daemon) == 0
    assert "ILS unreachable (sip2), retrying in the background" in (
        tmp_path / "stderr.log").read_text()
