# SPDX-License-Identifier: Apache-2.0
"""SLOW (about a minute and a half): the daemon itself killed with SIGKILL at random points
while it produces events, 50 cycles on the same SQLite file (issue #4).

The producer is ``libedge run`` with its kiosk, on the whole stack (``tests/e2e/stack.py``): each
cycle starts the daemon, opens a session (check-out and check-in in turn, so items keep
circulating) and kills it at a random moment while the pad's stack is processed, so kills land
in ILS requests through the gateway, tag writes, commits and publishes (the test counts the
kills that left a transaction open, and wants some). One cycle in five kills it during start-up
instead (storage, readers, the journal recovery, the MQTT resync).

After every kill: ``PRAGMA integrity_check`` is ok, and what the file says was committed is
noted (the outbox's events, and the event each ended journal transaction names). At the end one
last start drains the outbox; then every committed event has reached the broker's subscriber
(``BrokerTap``, connected throughout), and the node's events, de-duplicated by id, have every
``seq`` from 1 on, in order: nothing committed is missing.

The sibling test ``tests/sync/test_kill9.py`` kills a bare producer (store + MqttSync) faster
and more often; this one kills the real daemon on its real paths.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, running_stack, until
from tests.ils.helpers import PINS, SOREN
from tests.workflows.rig import catalog_tag

CYCLES = 50
STACK = [f"50123456{n:02d}" for n in range(1, 11)]
KILL_IN_SESSION_S = 1.2
"""Kills land up to this long after the session opened: the ten items take about half of it."""
KILL_AT_START_S = 1.5
STARTUP_KILLS = 5
"""One cycle in this many kills the daemon while it starts."""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]


def committed_events(stack: Stack) -> set[str]:
    """Event ids the file shows committed: still in the outbox, or named by the journal."""
    named = {str(r["data"]["event"]) for r in stack.journal() if "event" in r["data"]}
    return stack.outbox_ids() | named


def run_and_kill(stack: Stack, rng: random.Random, cycle: int) -> None:
    if cycle % STARTUP_KILLS == STARTUP_KILLS - 1:
        started = stack.spawn_daemon()
        delay = rng.uniform(0, KILL_AT_START_S)
        until(lambda: time.monotonic() - started >= delay, delay + 1, "the kill moment")
    else:
        stack.start_daemon()
        mode = "checkout" if cycle % 2 == 0 else "checkin"
        stack.open_session(SOREN if mode == "checkout" else None,
                           PINS[SOREN] if mode == "checkout" else None, mode)
        opened, delay = time.monotonic(), rng.uniform(0, KILL_IN_SESSION_S)
        until(lambda: time.monotonic() - opened >= delay, delay + 1, "the kill moment")
    stack.kill_daemon()


def interrupted(stack: Stack) -> set[str]:
    """Journal transactions left open: cut short by a kill (until the recovery settles them)."""
    return {r["id"] for r in stack.journal() if not r["ended"]}


def test_every_committed_event_is_delivered_despite_sigkill(tmp_path: Path) -> None:
    rng = random.Random(28560)
    committed: set[str] = set()
    cut_short: set[str] = set()
    kills_mid_transaction = 0
    with running_stack(tmp_path, pad=[catalog_tag(b) for b in STACK], start=False) as stack:
        for cycle in range(CYCLES):
            run_and_kill(stack, rng, cycle)
            assert stack.integrity() == "ok", f"cycle {cycle}"
            committed |= committed_events(stack)
            open_now = interrupted(stack)
            kills_mid_transaction += bool(open_now - cut_short)
            cut_short |= open_now

        stack.start_daemon()   # the last start: recovery settles, the outbox drains
        until(lambda: all(r["ended"] for r in stack.journal()) and not stack.outbox_ids(),
              60, "the journal settled and the outbox drained")
        committed |= committed_events(stack)
        delivered = stack.tap.wait_events(lambda es: committed <= {e.id for e in es},
                                          "every committed event at the subscriber")
        stack.stop_daemon()
        assert stack.integrity() == "ok"

    assert len(committed) > CYCLES   # the daemons really produced
    # The kill moments are random: check they did land inside transactions, not only between.
    assert kills_mid_transaction >= CYCLES // 10, kills_mid_transaction
    seqs = [e.seq for e in delivered]
    assert seqs == list(range(1, len(seqs) + 1))   # in order, none missing
    kinds = {e.type for e in delivered}
    assert {"lib.circ.checkout.v1", "lib.circ.checkin.v1"} <= kinds
