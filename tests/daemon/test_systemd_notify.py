# SPDX-License-Identifier: Apache-2.0
"""sd_notify against a real AF_UNIX datagram socket: a path, and the abstract namespace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_service.systemd_notify import Notifier
from tests.daemon.harness import notify_socket


def test_messages_to_a_socket_path(tmp_path: Path) -> None:
    with notify_socket(tmp_path / "notify") as notify:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": notify.address})
        try:
            assert notifier.ready("2/2 readers connected")
            assert notifier.watchdog()
            assert notifier.stopping()
            assert notifier.reloading()
        finally:
            notifier.close()
        notify.pump(0.2)
    messages = [fields for _, fields in notify.received]
    assert messages[0] == {"READY": "1", "STATUS": "2/2 readers connected"}
    assert messages[1] == {"WATCHDOG": "1"}
    assert messages[2] == {"STOPPING": "1", "STATUS": "stopping"}
    assert messages[3]["RELOADING"] == "1"
    assert int(messages[3]["MONOTONIC_USEC"]) > 0


def test_abstract_namespace(tmp_path: Path) -> None:
    with notify_socket(abstract=f"libedge-notify-{tmp_path.name}") as notify:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": notify.address})
        try:
            assert notify.address.startswith("@")
            assert notifier.status("opening readers")
        finally:
            notifier.close()
        assert notify.wait_for(lambda f: "STATUS" in f, 2) == {"STATUS": "opening readers"}


def test_not_under_systemd_is_a_no_op() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert notifier.watchdog_interval_s is None


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    try:
        assert not notifier.watchdog()
        assert not notifier.watchdog()
    finally:
        notifier.close()
    assert len([r for r in caplog.records if "sd_notify WATCHDOG" in r.getMessage()]) == 1


@pytest.mark.parametrize(("environ", "interval"), [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "zero"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
])
def test_watchdog_interval_is_half_the_timeout(environ: dict[str, str],
                                               interval: float | None) -> None:
    assert Notifier.from_environ(environ).watchdog_interval_s == interval
