# SPDX-License-Identifier: Apache-2.0
"""The LibEdge daemon: one asyncio process owning the store, the readers, the API and MQTT.

Lifecycle (``Daemon.run``, called by ``libedge run --config FILE``)::

    open store --> start reader supervisors --> wait for each first open attempt
      --> API listening --> MQTT started (if mqtt.enabled) --> circulation backend built
      (its ILS link opened in the background) --> READY=1
      --> [serve; SIGHUP: reload] --> SIGTERM/SIGINT: STOPPING=1
      --> ILS link closed --> MQTT, API, readers stopped --> store flushed and closed --> exit 0

- READY=1 goes out once storage is open and every configured reader has been tried once
  (connected or found absent; an absent reader is retried in the background and shown as
  ``unreachable``, it does not hold the box back), bounded by ``READY_WAIT_S``.
- The systemd watchdog is fed at half of ``WATCHDOG_USEC`` only while every reader loop and the
  storage writer's liveness probe beat within ``WATCHDOG_USEC`` (``edge_service.health``). An
  unreachable reader makes ``/api/v1/health`` answer 503 (a problem for the monitoring) but
  its loop beats: the watchdog is still fed, no restart.
- SIGHUP re-reads the file and the environment. An invalid new configuration is logged (naming
  the key) and the running one kept. A valid one applies ``logging.level`` and the readers
  (added, removed, changed ones restarted, each compared with the configuration it runs with,
  so a reader whose supervisor is missing is started again; unchanged readers and their
  workflows, a gate's alarm memory included, are left alone; READY=1 again once they were
  tried); ``node``,
  ``storage``, ``api``, ``mqtt``, ``security`` and ``circulation`` changes are logged as taking
  effect at the next restart.
- The circulation backend (``[circulation] backend``: ``sip2`` direct, ``mqtt`` through the
  gateway on the MQTT link's client) is owned here for the workflows (:attr:`Daemon.ils_link`).
  An ILS that is down never blocks READY: it is retried in the background and shown as
  ``ils: unreachable`` in ``/api/v1/health`` and ``/api/v1/devices`` (not a 503).
- A device error never ends the process; a store that cannot open, an API port that cannot be
  bound, an unusable tokens file (``api.tokens_file``), exit with 1 and a message. A bad
  configuration at start is exit 2 (``cli.run``).

The MQTT link is optional and implemented in ``edge_service.sync``: imported lazily, only when
``mqtt.enabled``, through the :class:`SyncComponent` protocol; the daemon runs without it.

Not responsible for: parsing the configuration (``config``), talking to readers (``devices``),
HTTP (``api``), the sd_notify wire protocol (``systemd_notify``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from edge_service.circulation import IlsLink, MqttLink, Sip2Backend, backend_from_config
from edge_service.config import Config, ConfigError, load_config
from edge_service.devices import FREEZE_FILE_VARIABLE, DeviceSupervisor
from edge_service.health import (
    DEFAULT_STALE_AFTER_S,
    DeviceSnapshot,
    HealthReport,
    Heartbeat,
    IlsSnapshot,
    Liveness,
    StoreSnapshot,
    feed_watchdog,
)
from edge_service.ils import IlsError
from edge_service.logs import set_level
from edge_service.store import Store, StoreConfig, StoreError, Synchronous, WriteConnection
from edge_service.systemd_notify import Notifier
from edge_service.workflows import LiveEvents

if TYPE_CHECKING:
    from edge_service.api import ApiServer
    from edge_service.api.demo import DemoControls
    from edge_service.workflows.runtime import Workflows

__all__ = ["EXIT_FAILURE", "EXIT_OK", "GIL_SWITCH_INTERVAL_S", "Daemon", "SyncComponent",
           "SyncFactory", "latency_switch_interval"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1

READY_WAIT_S = 10.0
"""Longest wait for the readers' first open attempts before READY=1 (a wedged USB adapter can
hang an open; systemd's start timeout is 90 s by default)."""
GIL_SWITCH_INTERVAL_S = 0.0005
"""How long another thread may hold the GIL once the event loop asks for it (CPython's
default is 5 ms). The store writer's thread runs Python between short calls that release the
GIL (paho's network thread did too, before paho moved onto the event loop); the loop thread,
woken by a reader's bytes, then often waits out the whole interval (a convoy), and the gate's
decision with it. In the gate benchmark (1e5 items, 150 passages, the driver's alarm-path
changes in place) the p99 with the outbox draining was 4.5 and 5.7 ms at 5 ms, 2.2 and 3.0 ms
at 0.5 ms; 0.2 ms was worse (6.1 ms). Bulk work did not slow down: a 1,000,000-item bootstrap
took 9.1 s at 5 ms and 9.0 s at 0.5 ms. Set for the daemon's lifetime by
:func:`latency_switch_interval`."""
JOURNAL_PRUNE_INTERVAL_S = 6 * 3600
"""How often ended journal entries older than ``[storage] journal_retention_days`` go."""
DEVICE_STATE_REFRESH_S = 60.0
"""How often each reader's retained MQTT device state is published again with its counters
(besides at every change of state): central's view of frames, timeouts and failed writes is at
most this old."""
WRITER_PROBE_INTERVAL_S = 5.0
"""Liveness probe period of the storage writer (an empty commit), shortened to a quarter of the
stale threshold when systemd's watchdog is tighter."""


_short_interval_holders: list[float] = []
"""The interval each current holder of :func:`latency_switch_interval` found (tests run
several daemons in one process; the first one in restores it, when the last one leaves)."""


@contextlib.contextmanager
def latency_switch_interval(seconds: float = GIL_SWITCH_INTERVAL_S) -> Iterator[None]:
    """Run with the GIL switch interval at ``seconds``; the interval found before the first
    of several overlapping holders is restored when the last one ends."""
    _short_interval_holders.append(sys.getswitchinterval())
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        first = _short_interval_holders[0]
        _short_interval_holders.pop()
        if not _short_interval_holders:
            sys.setswitchinterval(first)


@runtime_checkable
class SyncComponent(Protocol):
    """The MQTT link as the daemon drives it (implemented in ``edge_service.sync``)."""

    connected: bool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def wake_outbox(self) -> None: ...

    def outbox_acknowledged(self) -> int: ...

    async def publish_device_state(self, dev: str, state: dict[str, object]) -> None: ...


@runtime_checkable
class ReplyRouting(Protocol):
    """A link that can carry the gateway-mode circulation backend (``MqttSync`` can)."""

    def circulation_link(self, on_reply: Callable[[bytes], object]) -> MqttLink: ...


@runtime_checkable
class CommandRouting(Protocol):
    """A link that runs commands from central (``MqttSync`` does): the workflows' handlers
    (``Workflows.commands``, e.g. ``acq.expect``) are registered on it."""

    def register_command(
        self, name: str, handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]],
    ) -> None: ...


@runtime_checkable
class Reconfigurable(Protocol):
    """A link told when a reload was applied (``MqttSync`` is: its ``meta`` follows)."""

    async def reconfigured(self, config: Config) -> None: ...


SyncFactory = Callable[[Config, Store], SyncComponent]
"""``edge_service.sync.create_sync(config, store)``: builds the (unstarted) link."""


def _load_sync_factory() -> SyncFactory | None:
    try:
        module = importlib.import_module("edge_service.sync")
    except ImportError as exc:
        logger.error(  # noqa: TRY400 - a missing optional package, not a bug to trace
            "mqtt.enabled is true but the MQTT component is not available: %s", exc)
        return None
    factory: SyncFactory | None = getattr(module, "create_sync", None)
    if factory is None:
        logger.error("mqtt.enabled is true but edge_service.sync has no create_sync()")
    return factory


def _store_config(config: Config, environ: Mapping[str, str]) -> StoreConfig:
    path = Path(config.storage.path)
    state_directory = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if not path.is_absolute() and state_directory:
        # systemd's StateDirectory= (the unit sets it): a relative path lives there.
        path = Path(state_directory) / path
    return StoreConfig(path=path, synchronous=Synchronous(config.storage.synchronous.upper()),
                       max_delay_s=config.storage.commit_window_ms / 1000,
                       max_batch=config.storage.commit_max_batch)


def _probe(conn: WriteConnection) -> None:
    """The writer's liveness probe: an empty operation, committed at once."""


class Daemon:
    """One running daemon; see the module docstring. ``await Daemon(...).run()`` -> exit code."""

    def __init__(self, config: Config, *, config_path: str | os.PathLike[str] | None = None,
                 environ: Mapping[str, str] | None = None,
                 sync_factory: SyncFactory | None = None,
                 demo: DemoControls | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.environ = os.environ if environ is None else environ
        self.notifier = Notifier.from_environ(self.environ)
        self.liveness = Liveness(self.notifier.watchdog_timeout_s or DEFAULT_STALE_AFTER_S)
        freeze = self.environ.get(FREEZE_FILE_VARIABLE)
        self._freeze_file = Path(freeze) if freeze else None
        self._sync_factory = sync_factory
        self.demo = demo
        """``libedge demo``'s controls of its simulated items: their API routes exist only then."""
        self.store: Store | None = None
        self.supervisors: dict[str, DeviceSupervisor] = {}
        self.sync: SyncComponent | None = None
        self.ils_link: IlsLink | None = None
        """The circulation backend the workflows use (``ils_link.backend``) and its state."""
        self.live = LiveEvents()
        self._workflows: Workflows | None = None
        """What the screens watch: the workflows publish, the API's event stream serves."""
        self.api_address: tuple[str, int] | None = None
        self._api: ApiServer | None = None
        self._writer_beat: Heartbeat | None = None
        self._probes = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._reloads: set[asyncio.Task[bool]] = set()
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._started_s = time.monotonic()

    # -- run -----------------------------------------------------------------------------------

    async def run(self) -> int:
        with latency_switch_interval():
            return await self._run()

    async def _run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self._schedule_reload)
        try:
            try:
                await self._start()
            except (StoreError, OSError) as exc:
                logger.error("cannot start: %s", exc)  # noqa: TRY400 - the message is the point
                self.notifier.status(f"failed: {exc}")
                return EXIT_FAILURE
            self.notifier.ready(self._status_line())
            logger.info("ready: %s", self._status_line())
            await self._stop.wait()
            self.notifier.stopping()
            logger.info("stopping")
            return EXIT_OK
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            await self._shutdown()
            self.notifier.close()

    def request_stop(self, signum: int | None = None) -> None:
        if signum is not None:
            logger.info("%s received", signal.Signals(signum).name)
        self._stop.set()

    async def _start(self) -> None:
        store_config = _store_config(self.config, self.environ)
        self.notifier.status(f"opening storage {store_config.path}")
        self.store = await Store.open(store_config)
        self._writer_beat = self.liveness.register("storage writer")
        self._tasks.append(asyncio.create_task(self._probe_writer(), name="libedge writer probe"))
        self._tasks.append(asyncio.create_task(self._prune_journal(),
                                               name="libedge journal prune"))
        for reader in self.config.readers:
            self._add_supervisor(reader.name)
        await self._first_attempts(list(self.supervisors.values()))
        await self._start_api()
        if self.config.mqtt.enabled:
            await self._start_sync()
        self._start_circulation()
        await self._start_workflows()
        interval = self.notifier.watchdog_interval_s
        if interval is not None:
            self._tasks.append(asyncio.create_task(
                feed_watchdog(self.notifier, self.liveness, interval),
                name="libedge watchdog"))

    async def _start_api(self) -> None:
        # Imported here: FastAPI and uvicorn stay out of `libedge tag ...` and other commands.
        from edge_service.api import ApiServer, create_app, open_token_book  # noqa: PLC0415

        tokens = open_token_book(self.config.api.tokens_file,
                                 _store_config(self.config, self.environ).path.parent)
        pads = {r.name for r in self.config.readers if r.role == "pad"}
        for principal in tokens.principals:
            if principal.pad is not None and principal.pad not in pads:
                logger.warning("api token %r is bound to pad %r, which is no pad reader here "
                               "(pads: %s): its self-check requests find no pad (404 no_kiosk)",
                               principal.name, principal.pad, ", ".join(sorted(pads)) or "none")
        hosts = (self.config.api.host, *self.config.api.host_names())
        api = ApiServer(create_app(self, tokens=tokens, demo=self.demo, allowed_hosts=hosts),
                        self.config.api.host, self.config.api.port)
        await api.start()
        self._api = api
        self.api_address = api.address
        logger.info("api listening on http://%s:%d", *api.address or ("?", 0))

    async def _start_workflows(self) -> None:
        """Self-check, gates, staff stations on the configured readers; the journal's recovery
        runs first (``edge_service.workflows.runtime``)."""
        assert self.store is not None
        # Imported here, as the API is: `libedge tag ...` never loads the workflows.
        from edge_service.workflows.runtime import Workflows  # noqa: PLC0415

        workflows = Workflows(self.config, self.store, link=lambda: self.ils_link,
                              live=self.live, wake_outbox=self._wake_outbox)
        await workflows.start(self.supervisors)
        self._workflows = workflows
        if isinstance(self.sync, CommandRouting):
            for name, handler in workflows.commands().items():
                self.sync.register_command(name, handler)

    @property
    def workflows(self) -> Workflows | None:
        return self._workflows

    def _wake_outbox(self) -> None:
        if self.sync is not None:
            self.sync.wake_outbox()

    async def _start_sync(self) -> None:
        assert self.store is not None
        factory = self._sync_factory or _load_sync_factory()
        if factory is None:
            return
        sync = factory(self.config, self.store)
        try:
            await sync.start()
        except Exception:
            # The box must keep working without the network; the link retries by itself once
            # started, so a failure here is a bug or a bad TLS file, reported and survived.
            logger.exception("MQTT component failed to start; running without it")
            return
        self.sync = sync
        self._publish_states()
        self._tasks.append(asyncio.create_task(self._refresh_device_states(),
                                               name="libedge device states"))

    async def _refresh_device_states(self) -> None:
        while True:
            await asyncio.sleep(DEVICE_STATE_REFRESH_S)
            self._publish_states()

    def _publish_states(self) -> None:
        for supervisor in list(self.supervisors.values()):
            self._publish_state(supervisor.name, supervisor.public_state())

    def _start_circulation(self) -> None:
        """Build the configured backend and start its ILS link; never fails the start."""
        circ, sync = self.config.circulation, self.sync
        if circ.backend == "sip2":
            try:
                backend = backend_from_config(circ, self.config.node)
            except (ConfigError, IlsError) as exc:   # an unreadable password file, a bad charset
                link = IlsLink.absent("sip2", str(exc))
                logger.error("circulation backend unusable: %s", exc)  # noqa: TRY400
            else:
                assert isinstance(backend, Sip2Backend)
                link = IlsLink.direct(backend)
        elif isinstance(sync, ReplyRouting):
            def on_reply(payload: bytes) -> object:
                return mqtt_backend.handle_reply(payload)
            mqtt_backend = backend_from_config(circ, self.config.node,
                                               mqtt_link=sync.circulation_link(on_reply))
            link = IlsLink.gateway(mqtt_backend, lambda: sync.gateway_down)
        else:
            # Gateway mode needs the MQTT link; without one, circulation is off-line only.
            link = IlsLink.absent("mqtt", "no MQTT link to the catalog gateway (mqtt.enabled)")
            logger.info("circulation: %s", link.last_error)
        self.ils_link = link
        link.start()

    async def _shutdown(self) -> None:
        workflows, self._workflows = self._workflows, None
        if workflows is not None:
            # First: an open kiosk session is ended (and what it could not finish undone)
            # while the ILS link and the readers are still there.
            await workflows.stop()
        link, self.ils_link = self.ils_link, None
        if link is not None:
            await link.close()
        if self.sync is not None:
            with contextlib.suppress(Exception):
                await self.sync.stop()
            self.sync = None
        api, self._api = self._api, None
        if api is not None:
            await api.stop()
        for reload in list(self._reloads):
            reload.cancel()
        await asyncio.gather(*self._reloads, return_exceptions=True)
        for supervisor in list(self.supervisors.values()):
            await supervisor.stop()
        self.supervisors.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.store is not None:
            await self.store.close()
            self.store = None

    # -- loops -----------------------------------------------------------------------------------

    async def _probe_writer(self) -> None:
        assert self.store is not None
        assert self._writer_beat is not None
        interval = min(WRITER_PROBE_INTERVAL_S, self.liveness.stale_after_s / 4)
        while True:
            try:
                await self.store.writer.submit(_probe, name="liveness probe", commit_now=True)
            except StoreError as exc:
                # A writer that answers with errors is alive; the counters and health say why.
                logger.warning("storage liveness probe failed: %s", exc)
            else:
                self._probes += 1
            self._writer_beat.beat()
            await asyncio.sleep(interval)

    async def _prune_journal(self) -> None:
        """Ended journal entries name items and times: kept ``journal_retention_days``."""
        assert self.store is not None
        while True:
            days = self.config.storage.journal_retention_days
            try:
                pruned = await self.store.journal.prune(
                    datetime.now(UTC) - timedelta(days=days))
            except StoreError as exc:
                logger.warning("journal prune failed (tried again later): %s", exc)
            else:
                if pruned:
                    logger.info("journal: %d ended entries older than %d days deleted", pruned,
                                days)
            await asyncio.sleep(JOURNAL_PRUNE_INTERVAL_S)

    def _add_supervisor(self, name: str) -> None:
        assert self.store is not None
        reader = next(r for r in self.config.readers if r.name == name)
        supervisor = DeviceSupervisor(reader, self.store, self.liveness,
                                      on_state=self._publish_state, freeze_file=self._freeze_file)
        self.supervisors[name] = supervisor
        supervisor.start()

    def _publish_state(self, name: str, state: dict[str, object]) -> None:
        if self.sync is None:
            return
        supervisor = self.supervisors.get(name)
        if supervisor is not None:
            state = {**state, "counters": supervisor.counters()}
        task = asyncio.create_task(self.sync.publish_device_state(name, state),
                                   name=f"libedge device state {name}")
        task.add_done_callback(_log_failure)

    # -- reload ----------------------------------------------------------------------------------

    def _schedule_reload(self) -> None:
        task = asyncio.create_task(self.reload(), name="libedge reload")
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)
        task.add_done_callback(_log_failure)

    async def reload(self) -> bool:
        """Re-read and apply the configuration; False (old one kept) when it is invalid."""
        async with self._reload_lock:
            self.notifier.reloading()
            try:
                new = self._read_new_config()
            except ConfigError as exc:
                logger.error("reload refused, keeping the running configuration: %s", exc,  # noqa: TRY400
                             extra={"fields": {"key": exc.key}})
                self.notifier.ready(f"reload refused ({exc.key or 'file'}); {self._status_line()}")
                return False
            await self._apply(new)
            logger.info("configuration reloaded")
            self.notifier.ready(self._status_line())
            return True

    def _read_new_config(self) -> Config:
        if self.config_path is None:
            raise ConfigError("", "no configuration file to reload")
        return load_config(self.config_path, self.environ)

    async def _apply(self, new: Config) -> None:
        old = self.config
        for section in ("node", "storage", "api", "mqtt", "security", "circulation", "library",
                        "selfcheck", "gate"):
            if getattr(new, section) != getattr(old, section):
                logger.warning("%s changed: takes effect at the next restart", section)
        set_level(new.logging.level)
        self.config = dataclasses.replace(new, node=old.node, storage=old.storage, api=old.api,
                                          mqtt=old.mqtt, security=old.security,
                                          circulation=old.circulation, library=old.library,
                                          selfcheck=old.selfcheck, gate=old.gate)
        # Compared with what runs (each supervisor's own configuration), not with the previous
        # file: a reader whose start or stop failed before is set right by the next reload.
        new_readers = {r.name: r for r in new.readers}
        stopping = [n for n, s in self.supervisors.items() if new_readers.get(n) != s.config]
        starting = [n for n in new_readers if n not in self.supervisors or n in stopping]
        for name in stopping:
            supervisor = self.supervisors.pop(name)
            logger.info("reader %s stopped (configuration changed)", name)
            await supervisor.stop()
        for name in starting:
            logger.info("reader %s started (configuration changed)", name)
            self._add_supervisor(name)
        await self._first_attempts([self.supervisors[name] for name in starting])
        if self._workflows is not None and (stopping or starting):
            await self._workflows.rebind(self.supervisors)
        if isinstance(self.sync, Reconfigurable):
            try:
                await self.sync.reconfigured(self.config)
            except Exception:   # meta is a description: a failure must not fail the reload
                logger.exception("telling the MQTT link about the reload failed")

    async def _first_attempts(self, supervisors: list[DeviceSupervisor]) -> None:
        """Wait (bounded) until each reader has been tried once: READY=1 reports them."""
        if not supervisors:
            return
        self.notifier.status("opening readers")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(READY_WAIT_S):
                await asyncio.gather(*(s.first_attempt.wait() for s in supervisors))

    # -- the view the API reads (edge_service.health.DaemonView) ---------------------------------

    def devices(self) -> tuple[DeviceSnapshot, ...]:
        return tuple(s.snapshot() for s in self.supervisors.values())

    def storage(self) -> StoreSnapshot:
        store, beat = self.store, self._writer_beat
        age = beat.age_s() if beat is not None else float("inf")
        if store is None:
            return StoreSnapshot(False, age, None, 0, 0, 0, 0, self._probes, "not open")
        counters = store.writer.counters
        try:
            # Acknowledged rows wait for a deferred DELETE: sent, so not backlog.
            sent = self.sync.outbox_acknowledged() if self.sync is not None else 0
            backlog: int | None = max(0, store.outbox.count() - sent)
        except StoreError:
            backlog = None
        return StoreSnapshot(
            alive=store.writer.running and age <= self.liveness.stale_after_s,
            heartbeat_age_s=age, outbox_backlog=backlog, commits=counters.commits,
            commits_failed=counters.commits_failed,
            operations_committed=counters.operations_committed,
            operations_failed=counters.operations_failed, liveness_probes=self._probes,
            last_error=counters.last_error)

    def ils(self) -> IlsSnapshot | None:
        link = self.ils_link
        if link is None:
            return None
        host, port = link.address or (None, None)
        return IlsSnapshot(backend=link.kind, state=link.state, last_error=link.last_error,
                           since=link.since, host=host, port=port)

    @property
    def mqtt_connected(self) -> bool | None:
        if not self.config.mqtt.enabled:
            return None
        return bool(self.sync is not None and self.sync.connected)

    def health(self) -> HealthReport:
        storage = self.storage()
        devices = self.devices()
        problems: list[str] = []
        if not storage.alive:
            problems.append(f"storage writer not alive (last beat {storage.heartbeat_age_s:.1f} s"
                            " ago)")
        configured = {r.name for r in self.config.readers}
        problems.extend(f"reader {name}: no supervisor"
                        for name in sorted(configured - {d.name for d in devices}))
        problems.extend(f"reader {d.name}: loop stuck (last beat {d.heartbeat_age_s:.1f} s ago)"
                        for d in devices if not d.alive)
        # Its supervisor is alive, retrying: a problem for the operator's monitoring, never a
        # reason to starve the watchdog (a restart would not bring a reader back).
        problems.extend(f"reader {d.name}: unreachable"
                        for d in devices if d.alive and d.state == "unreachable")
        return HealthReport(healthy=not problems, problems=tuple(problems), storage=storage,
                            devices=devices, mqtt_enabled=self.config.mqtt.enabled,
                            mqtt_connected=self.mqtt_connected,
                            uptime_s=time.monotonic() - self._started_s, ils=self.ils())

    def _status_line(self) -> str:
        connected = sum(1 for s in self.supervisors.values() if s.state == "connected")
        parts = [f"{connected}/{len(self.supervisors)} readers connected"]
        if self.api_address is not None:
            parts.append(f"api http://{self.api_address[0]}:{self.api_address[1]}")
        if self.config.mqtt.enabled:
            parts.append("mqtt " + ("on" if self.sync is not None else "unavailable"))
        return ", ".join(parts)


def _log_failure(task: asyncio.Task[None] | asyncio.Task[bool]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s failed", task.get_name(), exc_info=task.exception())
