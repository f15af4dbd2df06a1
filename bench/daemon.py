# SPDX-License-Identifier: Apache-2.0
"""The daemon process against its budgets (issue 4 "Speed"): start to READY and RSS.

- start to READY: wall time from spawning ``python -m edge_service run`` to the READY=1 datagram
  on a real notify socket, with two simulated readers (FEIG and 3M D6, ``libedge sim reader`` on
  ptys) that must be connected by then; median of several starts; budget <= 1.5 s. Comparison:
  the bare import footprint of the daemon's frameworks (reliability_perf.md 5.1: 0.48 s here,
  about 3 s projected on a Pi 4).
- RSS: VmRSS of the daemon right after READY and after 10 s of presence loops on both readers
  (VmHWM, the peak, is reported with it); budget <= 80 MiB. Comparison: 49 MiB max RSS for the
  imports alone (same section).

Quick mode: 2 starts and 3 s of presence loops.
"""

from __future__ import annotations

import json
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.common import Result

READY_BUDGET_S = 1.5
RSS_BUDGET_MIB = 80.0
READY_TIMEOUT_S = 30.0

# One tag with ISO 28560-3 data (edge_service/samples/tags.txt) and one blank, so the loops read
# memory and write through the store as well as inventory.
SCENARIO = {"tags": [{"uid": "E004015012345678",
                      "memory": "11010131313232333334340000000000000000513E4445373035000000000000"},
                     {"uid": "E0040150AABBCCDD"}]}


@contextmanager
def _simulator(directory: Path, protocol: str) -> Iterator[str]:
    scenario = directory / f"{protocol}.json"
    scenario.write_text(json.dumps(SCENARIO))
    link = directory / f"sim-{protocol}"
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_service", "sim", "reader", "--protocol", protocol,
         "--scenario", str(scenario), "--link", str(link)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        if not process.stdout.readline().startswith("pty: "):
            raise RuntimeError(f"{protocol} simulator did not start")
        yield str(link)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _status_kib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    raise KeyError(key)


def _wait_ready(sock: socket.socket, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (remaining := deadline - time.monotonic()) > 0:
        if select.select([sock], [], [], remaining)[0]:
            message = sock.recv(4096).decode()
            if "READY=1" in message.splitlines():
                if "2/2 readers connected" not in message:
                    raise RuntimeError(f"READY before the readers were up: {message!r}")
                return
    raise TimeoutError("no READY=1")


def _start(directory: Path, config: Path, run: int) -> tuple[subprocess.Popen[bytes], float,
                                                              socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = directory / f"notify-{run}"
    sock.bind(str(address))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIBEDGE_", "NOTIFY_"))}
    env["NOTIFY_SOCKET"] = str(address)
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "edge_service", "run", "--config",
                                str(config)], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(sock, READY_TIMEOUT_S)
    except BaseException:
        process.kill()
        process.wait()
        sock.close()
        raise
    return process, time.perf_counter() - start, sock


def _stop(process: subprocess.Popen[bytes], sock: socket.socket) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    sock.close()


def run(*, quick: bool = False) -> list[Result]:
    starts = 2 if quick else 5
    loop_s = 3.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="libedge-bench-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        feig = stack.enter_context(_simulator(directory, "feig"))
        d6 = stack.enter_context(_simulator(directory, "3m"))
        config = directory / "libedge.toml"
        config.write_text(
            f'[storage]\npath = "{directory / "libedge.db"}"\n[api]\nport = 0\n'
            f'[logging]\nlevel = "warning"\n'
            f'[[readers]]\nname = "pad"\nprotocol = "feig"\nport = "{feig}"\n'
            f'[[readers]]\nname = "gate"\nprotocol = "3m"\nport = "{d6}"\nrole = "gate"\n')
        times: list[float] = []
        for number in range(starts):
            process, elapsed, sock = _start(directory, config, number)
            times.append(elapsed)
            if number < starts - 1:
                _stop(process, sock)
        try:
            rss_ready = _status_kib(process.pid, "VmRSS") / 1024
            time.sleep(loop_s)
            if process.poll() is not None:
                raise RuntimeError("the daemon exited during the presence loops")
            rss_after = _status_kib(process.pid, "VmRSS") / 1024
            peak = _status_kib(process.pid, "VmHWM") / 1024
        finally:
            _stop(process, sock)
    median = statistics.median(times)
    return [
        Result("daemon start to READY=1, 2 simulated readers (median)", median * 1000, "ms",
               f"<= {READY_BUDGET_S * 1000:.0f} ms", median <= READY_BUDGET_S,
               f"min {min(times) * 1000:.0f} / max {max(times) * 1000:.0f} ms over {starts} "
               "starts; framework imports alone 480 ms (ref 5.1)"),
        Result("daemon RSS at READY", rss_ready, "MiB", f"<= {RSS_BUDGET_MIB:.0f} MiB",
               rss_ready <= RSS_BUDGET_MIB, "framework imports alone: 49 MiB (ref 5.1)"),
        Result(f"daemon RSS after {loop_s:.0f} s of presence loops", rss_after, "MiB",
               f"<= {RSS_BUDGET_MIB:.0f} MiB", max(rss_after, peak) <= RSS_BUDGET_MIB,
               f"peak (VmHWM) {peak:.1f} MiB"),
    ]
