# SPDX-License-Identifier: Apache-2.0
"""A real Mosquitto on a free port with a temporary config (no ACL: anonymous, localhost)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.sync.broker import MOSQUITTO, free_port

__all__ = ["MOSQUITTO", "free_port", "mosquitto"]

START_TIMEOUT_S = 5.0


@contextlib.contextmanager
def mosquitto(directory: Path) -> Iterator[int]:
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"
                      "set_tcp_nodelay true\n"
                      "max_queued_messages 10000\n")
    process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
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
        process.wait(timeout=START_TIMEOUT_S)
