# SPDX-License-Identifier: Apache-2.0
"""Reader supervision in the daemon's own process: simulated FEIG readers served on real ptys,
the real drivers, DeviceSupervisor, reload and gate workflow, a real SQLite store. In process
(not as a child like test_daemon.py) so that a configuration the file loader would refuse can
still be run, as a daemon started before that check existed would have, and so that the
supervisors and the gate can be looked at directly."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from edge_service import devices as devices_module
from edge_service.config import Config, ReaderConfig, load_config
from edge_service.daemon import EXIT_OK, Daemon
from edge_service.devices import DeviceSupervisor
from edge_service.health import Liveness
from edge_service.logs import configure_logging
from edge_service.store import LAST_SEEN_RESOLUTION_S, Store, StoreConfig
from firmware_bridge import ConfigurationError
from firmware_bridge.drivers.feig import FeigReader
from firmware_bridge.pty import PtyEndpoint
from firmware_bridge.simulator import load_scenario
from firmware_bridge.simulator.frontends import front_end_for
from firmware_bridge.simulator.server import SimulatedReader
from tests.daemon.harness import write_config
from tests.workflows.rig import fast_timers, item_tag, pad_rig, wait_for

BAD_PORT = "socket://nohost:notaport"
"""Parsed when the driver is built: ``ConfigurationError: ... bad TCP port`` (not transient)."""
ODD_MEMORY = "11223344556677880000000000000000"
"""Decodes as ISO 28560-2 with an 82-digit primary item id, which the store refuses (64 at
most): every attempt to record the tag fails (the reviewer's tag)."""


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)


@contextlib.asynccontextmanager
async def simulated(tmp_path: Path, name: str, tags: Sequence[Mapping[str, Any]] = ()
                    ) -> AsyncIterator[PtyEndpoint]:
    """A simulated FEIG reader on a pty, reached through a stable link (``device_path``)."""
    field = load_scenario({"tags": list(tags)}).field(seed=1)
    async with PtyEndpoint(tmp_path / f"usb-{name}-if00") as endpoint:
        simulator = SimulatedReader(front_end_for("feig", field), endpoint)
        serving = asyncio.create_task(simulator.serve())
        try:
            yield endpoint
        finally:
            simulator.stop()
            await serving


@contextlib.asynccontextmanager
async def running(config: Config, config_path: Path) -> AsyncIterator[Daemon]:
    """The daemon, once its readers were tried and its API listens; stopped with exit 0."""
    daemon = Daemon(config, config_path=config_path, environ={})
    task = asyncio.create_task(daemon.run())
    try:
        await wait_for(lambda: daemon.api_address is not None or task.done(), 20.0,
                       "the daemon to be ready")
        assert not task.done(), "the daemon stopped before it was ready"
        yield daemon
    finally:
        daemon.request_stop()
        code = await task
    assert code == EXIT_OK


def reader(name: str, port: str, **keys: object) -> dict[str, object]:
    return {"name": name, "protocol": "feig", "port": port, **keys}


def errors(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.levelno >= logging.WARNING and text in r.getMessage()]


async def test_a_port_that_can_never_open_is_shown_and_does_not_break_stop_or_reloads(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    db = tmp_path / "libedge.db"
    async with simulated(tmp_path, "pad") as endpoint:
        good = reader("pad", endpoint.device_path, poll_interval_ms=50)
        path = write_config(tmp_path / "libedge.toml", [good], db=db)
        loaded = load_config(path, {})
        # The file loader may refuse this port; a running daemon must survive it regardless.
        config = dataclasses.replace(loaded, readers=(dataclasses.replace(
            loaded.readers[0], port=BAD_PORT),))
        async with running(config, path) as daemon:
            pad = daemon.supervisors["pad"]
            assert pad.first_attempt.is_set()
            assert pad.state == "unreachable"
            assert "bad TCP port" in (pad.last_error or "")
            await asyncio.sleep(daemon.liveness.tick_s * 3)
            # Unhealthy, named: health answered 200 for a port that can never open (found by
            # a review). Not stuck: the loop beats, the watchdog is fed.
            health = daemon.health()
            assert (health.healthy, health.problems) == (False, ("reader pad: unreachable",))
            assert health.devices[0].alive
            assert daemon.liveness.stale() == {}
            assert not health.devices[0].connected
            assert pad.counters()["open_failures"] == 1
            assert len(errors(caplog, "bad TCP port")) == 1  # said once

            # The corrected file: the reader is replaced and connects; reloads keep working.
            assert await daemon.reload()
            await wait_for(lambda: daemon.supervisors["pad"].state == "connected", 10.0,
                           "the corrected reader to connect")
            assert await daemon.reload()
            assert daemon.supervisors["pad"].state == "connected"
            assert daemon.health().healthy
    assert not errors(caplog, "reload failed")
    assert not any(r.exc_info for r in caplog.records)


async def test_a_reader_whose_supervisor_is_gone_comes_back_at_the_next_reload(
        tmp_path: Path) -> None:
    async with simulated(tmp_path, "pad") as endpoint:
        path = write_config(tmp_path / "libedge.toml",
                            [reader("pad", endpoint.device_path, poll_interval_ms=50)],
                            db=tmp_path / "libedge.db")
        async with running(load_config(path, {}), path) as daemon:
            # As an earlier reload cut short would have left it: the file applied, the
            # reader's supervisor stopped and not replaced.
            await daemon.supervisors.pop("pad").stop()
            assert await daemon.reload()
            await wait_for(lambda: "pad" in daemon.supervisors
                           and daemon.supervisors["pad"].state == "connected", 10.0,
                           "the reader to be back")


async def test_reloading_a_change_to_one_reader_leaves_an_unchanged_gate_alone(
        tmp_path: Path) -> None:
    db = tmp_path / "libedge.db"
    async with (simulated(tmp_path, "pad") as pad_port,
                simulated(tmp_path, "door", [item_tag(1)]) as door_port):
        readers = [reader("pad", pad_port.device_path, poll_interval_ms=50),
                   reader("door", door_port.device_path, role="gate", poll_interval_ms=50)]
        path = write_config(tmp_path / "libedge.toml", readers, db=db)
        async with running(load_config(path, {}), path) as daemon:
            workflows = daemon.workflows
            assert workflows is not None
            door = workflows.gates["door"]
            door_reader = daemon.supervisors["door"]
            await wait_for(lambda: door.counters["alarms"] >= 1, 10.0, "the door's alarm")
            alarms = door.counters["alarms"]

            readers[0]["poll_interval_ms"] = 80
            write_config(path, readers, db=db)
            assert await daemon.reload()
            assert daemon.supervisors["door"] is door_reader
            assert workflows.gates["door"] is door
            # The secured tag stays in the field: within realarm_s (10 s) no second alarm.
            inventories = door_reader.counters()["inventories"]
            await wait_for(lambda: door_reader.counters()["inventories"] >= inventories + 10,
                           10.0, "more inventories of the door")
            assert door.counters["alarms"] == alarms
            assert workflows.snapshot()["gates"] == ["door"]


async def test_an_unplugged_reader_is_shown_unreachable_as_soon_as_the_link_is_lost(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with pad_rig(tmp_path, [item_tag(1)], role="gate", name="door") as rig:
        await rig.wait_field(1)
        rig.endpoint.vanish()
        # The driver waits up to RECONNECT_WAIT_S (10 s) for the reopen before an inventory
        # fails; the state must not wait for it.
        await wait_for(lambda: rig.supervisor.state == "unreachable", 5.0,
                       "the reader to show unreachable")
        snapshot = rig.supervisor.snapshot()
        assert not snapshot.connected
        assert "link lost" in (snapshot.last_error or "")
        assert snapshot.tags_in_field == 0
        rig.endpoint.come_back()
        await wait_for(lambda: rig.supervisor.state == "connected", 15.0,
                       "the reader to be connected again")
    lost = [r for r in errors(caplog, "link lost")
            if getattr(r, "fields", {}).get("device") == "door"]
    assert len(lost) == 1
    assert lost[0].__dict__["fields"]["event"] == "unreachable"


async def test_reopen_attempts_and_link_losses_are_counted(tmp_path: Path) -> None:
    async with pad_rig(tmp_path, [item_tag(1)]) as rig:
        assert rig.supervisor.counters()["open_failures"] == 0
        rig.endpoint.vanish()
        await wait_for(lambda: rig.supervisor.counters()["open_failures"] >= 2, 10.0,
                       "failed reopen attempts to be counted")
        rig.endpoint.come_back()
        await wait_for(lambda: rig.supervisor.state == "connected"
                       and rig.supervisor.counters()["inventories"] > 0, 15.0,
                       "the reader to be back")
        counters = rig.supervisor.counters()
        assert counters["link_losses"] == 1
        assert counters["reconnects"] == 1   # re-probed once, after the reopen
        assert counters["open_failures"] >= 2


async def test_a_tag_the_store_refuses_is_logged_once_per_visit_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    odd = {"uid": "E004015012345678", "memory": ODD_MEMORY, "afi": "07"}
    async with pad_rig(tmp_path, [odd]) as rig:
        await wait_for(lambda: rig.supervisor.counters()["record_errors"] >= 1, 5.0,
                       "the refused record")
        start = rig.supervisor.counters()["inventories"]
        await wait_for(lambda: rig.supervisor.counters()["inventories"] >= start + 10, 10.0,
                       "more inventories")
        assert len(errors(caplog, "not recorded")) == 1
        # Not tried again at every inventory: after LAST_SEEN_RESOLUTION_S (60 s).
        assert rig.supervisor.counters()["record_errors"] == 1
        assert LAST_SEEN_RESOLUTION_S > 10

        # A new visit: logged once more.
        uid = next(iter(rig.supervisor.field))
        rig.take(uid)
        await wait_for(lambda: not rig.supervisor.field, 5.0, "the tag to leave")
        rig.put(odd)
        await wait_for(lambda: rig.supervisor.counters()["record_errors"] >= 2, 5.0,
                       "the second visit's refused record")
        assert len(errors(caplog, "not recorded")) == 2


async def test_stop_never_raises_what_ended_the_loop(tmp_path: Path) -> None:
    store = await Store.open(StoreConfig(tmp_path / "libedge.sqlite", max_delay_s=0.005))
    try:
        supervisor = DeviceSupervisor(ReaderConfig(name="pad", protocol="feig", port=BAD_PORT),
                                      store, Liveness(30.0))
        supervisor.start()
        await asyncio.wait_for(supervisor.first_attempt.wait(), 5.0)
        assert supervisor.state == "unreachable"
        assert supervisor.alive
        await supervisor.stop()
        assert supervisor.state == "stopped"
    finally:
        await store.close()


async def test_the_drivers_own_lines_name_the_reader_in_the_journal(tmp_path: Path) -> None:
    # The transport knows a port, not a reader's name; the operator greps the journal for
    # device=NAME (docs/operator-guide.md), so its "link lost" and reopen lines carry it too.
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    configure_logging("info", environ={}, stream=stream)
    try:
        async with pad_rig(tmp_path, [item_tag(1)], role="gate", name="door") as rig:
            await rig.wait_field(1)
            rig.endpoint.vanish()
            await wait_for(lambda: "will reopen" in stream.getvalue(), 5.0, "the link lost")
            rig.endpoint.come_back()
            await wait_for(lambda: rig.supervisor.state == "connected", 15.0,
                           "the reader to be connected again")
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    transport = [line for line in stream.getvalue().splitlines()
                 if "firmware_bridge.transport" in line]
    assert any("will reopen" in line for line in transport), stream.getvalue()
    assert all(line.endswith("device=door") for line in transport), transport


async def test_a_configuration_error_from_the_open_itself_is_retried(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pyserial reports a USB adapter that re-enumerates mid-open (tcsetattr EIO) as a
    # configuration error; only one raised while the driver is built means the reader's
    # configuration can never work.
    monkeypatch.setattr(devices_module, "OPEN_FIRST_DELAY_S", 0.05)
    opened = FeigReader.open
    failures = [ConfigurationError("tcsetattr: Input/output error", port="pty")]

    async def flaky(self: FeigReader) -> None:
        if failures:
            raise failures.pop()
        await opened(self)

    monkeypatch.setattr(FeigReader, "open", flaky)
    async with pad_rig(tmp_path, [item_tag(1)]) as rig:
        await wait_for(lambda: rig.supervisor.state == "connected", 10.0,
                       "the reader opened on the second attempt")
    assert not failures
