# SPDX-License-Identifier: Apache-2.0
"""A private mosquitto for the demo: a child process on a free loopback port, its config and
log in the demo's state directory, stopped with the demo.

Contract: ``find_mosquitto()`` is the broker's path or None (not installed: the demo then runs
the direct SIP2 backend). ``demo_broker(directory)`` starts it, waits until its port accepts
connections (``START_TIMEOUT_S``) and yields the port; an exit or a timeout raises
``BrokerUnavailable`` naming the log. Anonymous access on 127.0.0.1 only, no persistence: the
demo's broker holds nothing worth keeping. The broker runs in a session of its own, so the
terminal's Ctrl-C reaches only the demo, which stops the broker after its own MQTT links.

Not responsible for: a production broker (docs/operator-guide.md), MQTT itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["START_TIMEOUT_S", "BrokerUnavailable", "demo_broker", "find_mosquitto"]

START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0
DEBIAN_PATH = "/usr/sbin/mosquitto"
"""Debian installs the broker in sbin, which an ordinary user's PATH often lacks."""


class BrokerUnavailable(OSError):
    """The demo's broker did not start; the message names its log."""


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    return DEBIAN_PATH if Path(DEBIAN_PATH).exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_config(directory: Path, port: int) -> Path:
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"log_dest file {directory / 'mosquitto.log'}\n"
        # Started as root, mosquitto would drop to its own user, who cannot write the log here.
        f"user {getpass.getuser()}\n", encoding="utf-8")
    return config


async def _accepting(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@contextlib.asynccontextmanager
async def demo_broker(directory: Path, executable: str | None = None) -> AsyncIterator[int]:
    """Run mosquitto for the demo; yields its port (see the module docstring)."""
    program = executable or find_mosquitto()
    if program is None:
        raise BrokerUnavailable("mosquitto is not installed")
    port = _free_port()
    config = _write_config(directory, port)
    process = await asyncio.create_subprocess_exec(
        program, "-c", str(config), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        # Its own session: a Ctrl-C on the demo's terminal goes to the demo, which closes its
        # MQTT links first and then stops the broker, not to the broker under their feet.
        start_new_session=True)
    try:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        while not await _accepting(port):   # the broker has no readiness signal but its port
            if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                raise BrokerUnavailable(f"mosquitto did not start; see {directory}/mosquitto.log")
            await asyncio.sleep(0.02)
        yield port
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()
