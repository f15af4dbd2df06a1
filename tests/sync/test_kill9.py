# SPDX-License-Identifier: Apache-2.0
"""SIGKILL while producing: a child records events (state change + outbox event in one
transaction) and publishes them through MqttSync; it is killed at random points, 50+ times on
the same file, and restarted. Every event whose transaction committed (the child printed its
id) reaches a de-duplicating subscriber; PRAGMA integrity_check is ok after every kill."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from protocols.contract import event_topic
from tests.sync import kill_child
from tests.sync.broker import Mosquitto
from tests.sync.conftest import NODE
from tests.sync.helpers import client

CYCLES = 50
MAX_EVENTS_BEFORE_KILL = 30
CHILD = kill_child.__name__
ROOT = Path(kill_child.__file__).resolve().parent.parent.parent
EVENTS = event_topic(NODE.tenant, NODE.site, NODE.node, "gate.count").rsplit("/", 1)[0] + "/+"


def run_and_kill(db_path: Path, port: int, rng: random.Random) -> list[str]:
    committed: list[str] = []
    with subprocess.Popen([sys.executable, "-m", CHILD, str(db_path), str(port), "produce"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n", child.stderr.read() if child.stderr else ""
        committed.extend(child.stdout.readline().strip()
                         for _ in range(rng.randrange(MAX_EVENTS_BEFORE_KILL)))
        child.send_signal(signal.SIGKILL)
        rest, errors = child.communicate()
        assert child.returncode == -signal.SIGKILL, errors
    committed.extend(line for line in rest.split("\n") if len(line) == 36)
    return committed


def drain(db_path: Path, port: int) -> None:
    result = subprocess.run([sys.executable, "-m", CHILD, str(db_path), str(port), "drain"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert result.stdout.endswith("drained\n"), result.stderr[-2000:]


def integrity(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


async def test_every_committed_event_is_delivered_despite_sigkill(
        tmp_path: Path, broker: Mosquitto) -> None:
    rng = random.Random(9)
    db_path = tmp_path / "edge.db"
    committed: list[str] = []
    async with client(broker.port, "central-kill9", EVENTS, persistent=True) as (_, seen):
        for cycle in range(CYCLES):
            committed.extend(await asyncio.to_thread(run_and_kill, db_path, broker.port, rng))
            assert integrity(db_path) == "ok", f"cycle {cycle}"
        await asyncio.to_thread(drain, db_path, broker.port)
        await seen.wait_for(lambda: set(committed) <= seen.ids, timeout=10)
    assert len(committed) > CYCLES   # the children really produced
    seqs = [e.seq for e in seen.events]
    assert seqs == sorted(seqs)   # first arrivals in per-node order
    assert seqs == list(range(1, len(seqs) + 1))   # nothing committed is missing
