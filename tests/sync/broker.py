# SPDX-License-Identifier: Apache-2.0
"""A real mosquitto for the tests: a temp config, a child process, a restart for outages."""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """``start()``, ``stop()`` (SIGTERM: persistence is saved), ``restart()``, ``kill()``."""

    def __init__(self, directory: Path, *, extra: str = "", port: int | None = None,
                 listener_options: str = "allow_anonymous true") -> None:
        self.directory = directory
        self.port = port or free_port()
        self.config = directory / "mosquitto.conf"
        (directory / "data").mkdir(exist_ok=True)
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n{listener_options}\n"
            f"persistence true\npersistence_location {directory / 'data'}/\n"
            f"log_dest file {directory / 'mosquitto.log'}\nlog_type all\n"
            # Started as root, mosquitto drops to the "mosquitto" user and then cannot write
            # its persistence file here (reference_perf 1.3): stay the user who started it.
            f"user {getpass.getuser()}\n"
            f"max_queued_messages 100000\n{extra}\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:   # the broker has no readiness signal; its port is the signal
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read()!r}"  # type: ignore[union-attr]
                                   f" {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
            else:
                return

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""
