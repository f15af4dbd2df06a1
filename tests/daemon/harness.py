# SPDX-License-Identifier: Apache-2.0
"""Real parts for the daemon tests: simulated readers as `libedge sim reader` child processes on
real ptys, the daemon as `python -m edge_service run`, a real AF_UNIX datagram socket standing in
for systemd's notify socket, and plain HTTP to the API."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[2]

# An ISO 28560-3 (Danish model) tag: item 11223344, owner DE-705 (edge_service/samples/tags.txt,
# from the libdanrfid test); the second tag is blank (no item id: counted, not stored).
PART3_MEMORY = "11010131313232333334340000000000000000513E4445373035000000000000"
SCENARIO = {"tags": [{"uid": "E004015012345678", "memory": PART3_MEMORY, "afi": "07"},
                     {"uid": "E0040150AABBCCDD"}]}


@dataclass
class Notifications:
    """The notify socket: every datagram received, with its arrival time."""

    sock: socket.socket
    address: str
    received: list[tuple[float, dict[str, str]]] = field(default_factory=list)

    def pump(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                return
            data = self.sock.recv(4096)
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            self.received.append((time.monotonic(), fields))

    def wait_for(self, predicate: Callable[[dict[str, str]], bool], timeout_s: float,
                 *, after: float = 0.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while True:
            for at, fields in self.received:
                if at >= after and predicate(fields):
                    return fields
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no such notification in {timeout_s} s; got "
                                     f"{[f for _, f in self.received]}")
            self.pump(min(remaining, 0.05))

    def count(self, key: str, since: float, until: float | None = None) -> int:
        return sum(1 for at, f in self.received
                   if key in f and at >= since and (until is None or at <= until))


@contextlib.contextmanager
def notify_socket(path: Path | None = None, *, abstract: str | None = None
                  ) -> Iterator[Notifications]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        if abstract is not None:
            sock.bind(b"\0" + abstract.encode())
            address = "@" + abstract
        else:
            assert path is not None
            sock.bind(str(path))
            address = str(path)
        yield Notifications(sock, address)
    finally:
        sock.close()


@contextlib.contextmanager
def simulated_reader(tmp_path: Path, protocol: str, link_name: str,
                     scenario: dict[str, Any] | None = None) -> Iterator[str]:
    """`libedge sim reader` on a pty; yields the stable link path to configure."""
    scenario_file = tmp_path / f"{link_name}.json"
    scenario_file.write_text(json.dumps(scenario or SCENARIO))
    link = tmp_path / link_name
    process = subprocess.Popen(
        [PYTHON, "-m", "edge_service", "sim", "reader", "--protocol", protocol,
         "--scenario", str(scenario_file), "--link", str(link), "--no-pacing"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("pty: "), line
        yield str(link)
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return process.returncode


def write_config(path: Path, readers: Sequence[Mapping[str, object]], *, db: Path,
                 level: str = "info", extra: str = "") -> Path:
    lines = [f'[storage]\npath = "{db}"\ncommit_window_ms = 20\n',
             '[api]\nport = 0\n', f'[logging]\nlevel = "{level}"\n', extra]
    lines.extend("[[readers]]\n" + "".join(f'{k} = "{v}"\n' if isinstance(v, str)
                                            else f"{k} = {v}\n" for k, v in reader.items())
                 for reader in readers)
    path.write_text("\n".join(lines))
    return path


def start_daemon(config: Path, log: Path, **env: str) -> subprocess.Popen[Any]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("LIBEDGE_", "NOTIFY_SOCKET", "WATCHDOG_", "JOURNAL_"))}
    environ.update(env)
    with log.open("wb") as err:
        return subprocess.Popen([PYTHON, "-m", "edge_service", "run", "--config", str(config)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                env=environ, cwd=ROOT)


def api_base(ready: dict[str, str]) -> str:
    """The API's URL from the READY=1 STATUS line (the config asks for port 0)."""
    status = ready["STATUS"]
    start = status.index("api http://") + len("api ")
    return status[start:].split(",")[0]


def api_token(state_directory: Path, role: str = "admin") -> str:
    """A ``role`` token from the tokens file the daemon generates in its state directory (the
    directory of ``storage.path``) when ``api.tokens_file`` is not set."""
    for line in (state_directory / "api-tokens").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == role:
            return fields[1]
    raise AssertionError(f"no {role} token in {state_directory / 'api-tokens'}")


def get(url: str, token: str | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of a GET; 4xx and 5xx answers are returned, not raised."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=5) as response:
            return response.status, response.headers["content-type"], response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["content-type"], error.read().decode()


def send_json(url: str, body: Any, token: str | None = None, method: str = "POST"
              ) -> tuple[int, Any]:
    """(status, parsed body) of a request with a JSON body; errors are returned, not raised."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers,
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def get_json(url: str, token: str | None = None) -> tuple[int, Any]:
    status, _, body = get(url, token)
    return status, json.loads(body)
