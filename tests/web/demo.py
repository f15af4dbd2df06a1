# SPDX-License-Identifier: Apache-2.0
"""`libedge demo` as a person runs it (``python -m edge_service demo``, a child process on a
free port with its state in the test's directory), its printed page URLs, and plain HTTP to
its API for what a test checks besides the pages."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0
"""Generous: the demo prints its URLs after about 1.5 s on the dev machine."""
STOP_TIMEOUT_S = 20.0
URL = re.compile(r"(http://[0-9.]+:\d+)/(kiosk|staff|services|gate|status)/#token=(\S+)")
READY_LINE = "Ctrl-C stops."

T = TypeVar("T")


@dataclass
class Demo:
    base: str
    tokens: dict[str, str]
    """page -> the token its printed URL carries."""
    output: str
    started_in_s: float
    state_directory: Path

    def url(self, page: str, query: str = "") -> str:
        """The page's printed URL (with its token), optionally with a query (``lang=da``)."""
        return f"{self.base}/{page}/{'?' + query if query else ''}#token={self.tokens[page]}"

    def call(self, method: str, path: str, page: str = "staff",
             body: Any = None) -> tuple[int, Any]:
        """(status, JSON body) of an API request with ``page``'s token."""
        request = urllib.request.Request(
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.tokens[page]}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())


def until(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while (value := probe()) is None or value is False:
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.1)
    return value


def _read_until_ready(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    output = b""
    deadline = time.monotonic() + START_TIMEOUT_S
    while READY_LINE.encode() not in output:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the demo printed no URLs in {START_TIMEOUT_S} s: {output!r}"
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 65536)
            assert chunk, f"the demo exited ({process.wait()}): {output.decode()}"
            output += chunk
    return output.decode()


@contextlib.contextmanager
def running_demo(tmp_path: Path, *options: str) -> Iterator[Demo]:
    """`libedge demo --port 0 --state DIR OPTIONS`; stopped as a terminal's Ctrl-C stops it
    (SIGINT to its whole process group), which must end it cleanly: exit 0, no traceback, and
    its MQTT links closed before their broker stops."""
    state = tmp_path / "demo-state"
    log = tmp_path / "demo-stderr.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIBEDGE_")}
    started = time.monotonic()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "edge_service", "demo", "--port", "0", "--state", str(state),
             *options], stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
            cwd=ROOT, env=environ, start_new_session=True)   # a process group, as in a shell
    try:
        output = _read_until_ready(process)
        elapsed = time.monotonic() - started
        found = URL.findall(output)
        assert {page for _, page, _ in found} == {"kiosk", "staff", "services", "gate",
                                                  "status"}, output
        yield Demo(found[0][0], {page: token for _, page, token in found}, output, elapsed,
                   state)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            code = process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        assert process.stdout is not None
        process.stdout.close()
        errors = log.read_text()
        assert code == 0, f"the demo did not stop cleanly ({code}): {errors[-3000:]}"
        assert "Traceback" not in errors, errors[-3000:]
        assert "MQTT connection lost" not in errors, errors[-3000:]
