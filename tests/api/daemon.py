# SPDX-License-Identifier: Apache-2.0
"""The whole daemon for the workflow routes' tests: `libedge run` (a subprocess) with simulated
FEIG readers on real ptys (`libedge sim reader`), its generated tokens, and its SQLite file.

    with daemon_with(tmp_path, [("staff", "staff", {"tags": [...]})]) as box:
        status, body = send_json(f"{box.base}/api/v1/staff/staff/program", {...},
                                 box.token("staff"))
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.daemon.harness import (
    api_base,
    api_token,
    notify_socket,
    simulated_reader,
    start_daemon,
    stop,
    write_config,
)

T = TypeVar("T")

ReaderSpec = tuple[str, str, Mapping[str, Any]]
"""(name, role, scenario) of one simulated reader."""


@dataclass
class Box:
    base: str
    state_directory: Path

    def token(self, role: str) -> str:
        return api_token(self.state_directory, role)

    def events(self, type_: str) -> list[dict[str, Any]]:
        """The envelopes of ``type_`` in the daemon's outbox, oldest first."""
        with contextlib.closing(sqlite3.connect(self.state_directory / "libedge.db")) as conn:
            rows = conn.execute("SELECT payload FROM outbox ORDER BY id").fetchall()
        return [e for e in (json.loads(row[0]) for row in rows) if e["type"] == type_]


@contextlib.contextmanager
def daemon_with(tmp_path: Path, readers: Sequence[ReaderSpec], *,
                extra: str = "") -> Iterator[Box]:
    """A running daemon with ``readers``; stopped (exit 0, no traceback logged) at the end."""
    log = tmp_path / "daemon.log"
    with contextlib.ExitStack() as stack:
        ports = {name: stack.enter_context(simulated_reader(tmp_path, "feig", f"feig-{name}",
                                                            dict(scenario)))
                 for name, _, scenario in readers}
        notes = stack.enter_context(notify_socket(tmp_path / "notify"))
        config = write_config(tmp_path / "libedge.toml", [
            {"name": name, "protocol": "feig", "port": ports[name], "role": role,
             "poll_interval_ms": 100} for name, role, _ in readers],
            db=tmp_path / "libedge.db", extra=extra)
        daemon = start_daemon(config, log, NOTIFY_SOCKET=notes.address)
        try:
            ready = notes.wait_for(lambda f: f.get("READY") == "1", 20.0)
            yield Box(api_base(ready), tmp_path)
        finally:
            assert stop(daemon) == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


def until(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """``probe()``'s first value that is neither None nor False, polled every 50 ms."""
    deadline = time.monotonic() + timeout_s
    while (value := probe()) is None or value is False:
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)
    return value
