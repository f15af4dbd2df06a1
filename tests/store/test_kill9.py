# SPDX-License-Identifier: Apache-2.0
"""kill -9 durability: a child writes state changes + outbox events through the writer and
prints every acknowledged id; it is SIGKILLed at random points, 50+ times on the same file.
After each kill: every acknowledged id has its state change AND its event, no event exists
without its state change (or the reverse), event seqs are gap-free, integrity_check is ok."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.store import kill_child

CYCLES = 50
MAX_ACKS_BEFORE_KILL = 40
CHILD = Path(kill_child.__file__)


def run_and_kill(db_path: Path, first: int, rng: random.Random) -> list[int]:
    """Start the child, let it acknowledge a random number of ids, SIGKILL it; acked ids."""
    acked: list[int] = []
    with subprocess.Popen([sys.executable, str(CHILD), str(db_path), str(first)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n", child.stderr.read() if child.stderr else ""
        acked.extend(int(child.stdout.readline())
                     for _ in range(rng.randrange(MAX_ACKS_BEFORE_KILL)))
        if rng.random() < 0.5:  # sometimes mid-commit rather than right after an ack
            time.sleep(rng.random() * 0.003)
        child.send_signal(signal.SIGKILL)
        rest, errors = child.communicate()
        assert child.returncode == -signal.SIGKILL, errors
    # Lines already in the pipe were acknowledged before the kill, too.
    acked.extend(int(line) for line in rest.split("\n") if line.strip().isdigit())
    return acked


def test_no_acknowledged_write_is_lost_to_kill_9(db_path: Path) -> None:
    rng = random.Random(9)
    acked: set[int] = set()
    for cycle in range(CYCLES):
        acked.update(run_and_kill(db_path, cycle * 1_000_000, rng))
        conn = sqlite3.connect(db_path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            uids = {int(u, 16) for (u,) in conn.execute("SELECT uid FROM tag_uids")}
            events = {e for (e,) in conn.execute("SELECT event_id FROM outbox")}
            seqs = sorted(int(p) for (p,) in conn.execute("SELECT payload FROM outbox"))
        finally:
            conn.close()
        assert acked <= uids, f"cycle {cycle}: lost state changes {sorted(acked - uids)[:5]}"
        assert {kill_child.event_id(n) for n in uids} == events, f"cycle {cycle}: torn write"
        assert seqs == list(range(1, len(seqs) + 1)), f"cycle {cycle}: seq gap or reuse"
    assert len(acked) > CYCLES  # the loop really wrote something
