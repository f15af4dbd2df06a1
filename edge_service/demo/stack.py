# SPDX-License-Identifier: Apache-2.0
"""The demo stack: everything a LibEdge box talks to, simulated, and the real daemon among it.

``demo_stack(options)`` starts, in this process and its event loop::

    ILS simulator (SIP2, the packaged sample catalogue) on a free loopback port
    three FEIG readers simulated on real ptys: the kiosk pad, the staff desk pad, the gate
    mosquitto + the catalog gateway, when mosquitto is installed (``broker``); the gateway
        imports the sample catalogue, so the daemon's cache fills from its snapshot (a broker
        that does not start is a warning, and the demo goes on with direct SIP2)
    otherwise the direct SIP2 backend, and the catalogue written into the cache as an import
        would (there is no central feed without MQTT)
    the daemon (``Daemon``) with a demo configuration in the state directory, its API and pages
        on ``options.host:options.port`` and the demo's routes (``DemoProps``)

and yields a :class:`RunningDemo` once the daemon is ready (its readers tried, the ILS link up
or ``LINK_WAIT_S`` passed: what is not up yet is said in ``warnings``). Leaving the context
stops everything in reverse order; the daemon also stops by itself on SIGINT/SIGTERM
(:meth:`RunningDemo.wait` returns then). One token per role, in the state directory's
``api-tokens`` (0600): a kept state directory keeps them, so pages opened by an earlier run
(a kiosk's browser) go on working; a new directory gets fresh ones.

Not responsible for: printing (``cli.demo``), moving the props (``props``), anything the daemon
does (the demo configures it, nothing more).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edge_service.api import TokensFileError, append_token, named_tokens
from edge_service.config import Config, parse_config
from edge_service.daemon import Daemon
from edge_service.demo.broker import BrokerUnavailable, demo_broker, find_mosquitto
from edge_service.demo.props import FIELDS, DemoProps, sample_props
from edge_service.gateway import GatewaySettings, ImportedItem, ServiceSettings, running
from edge_service.ils import IlsSimulator, SimData, Sip2Profile, load_simulator_data
from edge_service.store import ItemRecord, Store
from edge_service.sync import ClientSettings
from firmware_bridge import PtyEndpoint
from firmware_bridge.simulator import SimulatedReader
from firmware_bridge.simulator.frontends import front_end_for

logger = logging.getLogger(__name__)

__all__ = ["PAGE_ROLES", "READER_NAMES", "DemoOptions", "DemoUnavailable", "RunningDemo",
           "demo_stack", "sample_catalog"]

TENANT = "DK-718500"
SITE = "main"
NODE = "demo-box"
ISIL = "DK-718500"
"""The sample catalogue's library (Hovedbiblioteket)."""
KIOSK_ACCOUNT = "kiosk1"
GATEWAY_ACCOUNT = "gateway"
"""SIP2 logins of the sample catalogue (``accounts``): the box's own and the gateway's."""
DEMO_PATRON = "2000000002"
"""A patron of the sample catalogue who may borrow (Zoë Andersen)."""
AVAILABLE, CHARGED = "03", "04"
"""SIP2 circulation status codes of the imported items."""
READY_WAIT_S = 15.0
"""Longest wait for the daemon's start (its readers are tried within ``READY_WAIT_S`` of its
own)."""
LINK_WAIT_S = 10.0
"""Longest wait for the ILS link (and, through the gateway, the cache's snapshot)."""
READER_NAMES = {"pad": "kiosk-pad", "staff": "staff-desk", "gate": "main-door"}
"""The demo's reader names (what the pages and events show), by the role each one has."""
PAGE_ROLES = {"kiosk": "kiosk", "staff": "staff", "services": "staff", "gate": "gate",
              "status": "staff"}
"""Which role's token each page's URL carries."""


class DemoUnavailable(RuntimeError):
    """The demo could not start; the message says what to do."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    """The API's and pages' port; 0 takes a free one."""
    mqtt: bool = True
    """Use mosquitto and the catalog gateway when mosquitto is installed."""
    state_directory: Path | None = None
    """Where the database, tokens and logs go; None: a new temporary directory, removed
    at the end."""
    log_level: str = "warning"


@dataclass(slots=True)
class RunningDemo:
    daemon: Daemon
    props: DemoProps
    catalog: SimData
    base_url: str
    tokens: Mapping[str, str]
    circulation: str
    """``gateway`` (MQTT through mosquitto and the catalog gateway) or ``sip2`` (direct)."""
    state_directory: Path
    warnings: list[str] = field(default_factory=list)
    _run: asyncio.Task[int] | None = None

    def page_url(self, page: str) -> str:
        """The page's URL with its role's token in the fragment (never sent to a server)."""
        return f"{self.base_url}/{page}/#token={self.tokens[PAGE_ROLES[page]]}"

    @property
    def patron(self) -> tuple[str, str]:
        """(card, PIN) to try at the kiosk."""
        return DEMO_PATRON, self.catalog.patrons[DEMO_PATRON].pin

    async def wait(self) -> int:
        """Until the daemon stops (SIGINT/SIGTERM); its exit code."""
        assert self._run is not None
        return await self._run


def sample_catalog() -> SimData:
    """The ILS simulator's packaged sample catalogue (what the demo's props are titled from)."""
    return load_simulator_data(str(resources.files("edge_service.ils")
                                   .joinpath("sample_catalog.json")))


def _imported(catalog: SimData) -> list[ImportedItem]:
    return [ImportedItem(owner_institution=item.owner, primary_item_id=item.barcode,
                         circulation_status=CHARGED if item.loaned_to else AVAILABLE,
                         title=item.title, media=item.media, set_size=item.set_parts,
                         sort_bin=item.sort_bin) for item in catalog.items.values()]


def _cache_records(catalog: SimData) -> list[ItemRecord]:
    return [ItemRecord(owner_institution=i.owner_institution, primary_item_id=i.primary_item_id,
                       circulation_status=i.circulation_status,
                       security_expected=i.circulation_status != CHARGED,
                       catalog_version="1", set_size=i.set_size or 1, title=i.title,
                       media=i.media) for i in _imported(catalog)]


def _password(catalog: SimData, account: str) -> str:
    return catalog.accounts[account][0]


DEMO_ROLES = ("kiosk", "gate", "staff", "admin")


def _tokens(state: Path) -> dict[str, str]:
    """The token named ``demo ROLE`` of each role: an earlier run's when the file has it, a
    new one otherwise. A file the daemon would refuse (its mode, a bad line) is replaced."""
    path = state / "api-tokens"
    try:
        kept = named_tokens(path) if path.exists() else {}
    except TokensFileError as exc:
        logger.warning("%s; replaced by new demo tokens", exc)
        path.unlink()
        kept = {}
    tokens: dict[str, str] = {}
    for role in DEMO_ROLES:
        name = f"demo {role}"
        found = kept.get((role, name))
        tokens[role] = found if found is not None else append_token(path, role, name)
    return tokens


def _config(options: DemoOptions, state: Path, readers: Mapping[str, str], catalog: SimData,
            *, ils_port: int, mqtt_port: int | None) -> Config:
    circulation: dict[str, Any]
    mqtt: dict[str, Any] = {"enabled": mqtt_port is not None}
    if mqtt_port is not None:
        mqtt |= {"host": "127.0.0.1", "port": mqtt_port}
        circulation = {"backend": "mqtt"}
    else:
        secret = state / "sip2-password"
        secret.write_text(_password(catalog, KIOSK_ACCOUNT) + "\n", encoding="utf-8")
        secret.chmod(0o600)
        circulation = {"backend": "sip2", "sip2_host": "127.0.0.1", "sip2_port": ils_port,
                       "sip2_institution_id": ISIL, "sip2_login_user": KIOSK_ACCOUNT,
                       "sip2_location_code": catalog.location,
                       "sip2_password_file": str(secret), "sip2_timeout_ms": 3000}
    document = {
        "node": {"tenant": TENANT, "site": SITE, "node": NODE, "mode": "all"},
        "storage": {"path": str(state / "libedge.db"), "commit_window_ms": 20},
        "api": {"host": options.host, "port": options.port,
                "tokens_file": str(state / "api-tokens")},
        "mqtt": mqtt, "circulation": circulation,
        "library": {"isil": ISIL, "data_model": "iso28560-2"},
        # A demo patron reads the screen and moves items by mouse: more time than at a kiosk.
        "selfcheck": {"set_wait_ms": 800, "session_timeout_s": 180},
        # The simulated gate has two light barriers (inputs 1 inside, 2 outside): a walk
        # through it breaks both, so the gate page counts people (``props.BEAMS``).
        "gate": {"barrier_inputs": "1,2"},
        "logging": {"level": options.log_level},
        "readers": [{"name": READER_NAMES[role], "protocol": "feig", "port": port, "role": role}
                    for role, port in readers.items()],
    }
    return parse_config(document, environ={})


def _gateway_settings(state: Path, catalog: SimData, ils_port: int,
                      mqtt_port: int) -> ServiceSettings:
    profile = Sip2Profile(host="127.0.0.1", port=ils_port, login_user=GATEWAY_ACCOUNT,
                          login_password=_password(catalog, GATEWAY_ACCOUNT),
                          location_code=catalog.location, institution_id=ISIL, timeout_s=3.0)
    return ServiceSettings(
        gateway=GatewaySettings(tenant=TENANT), state_path=str(state / "gateway.db"),
        group="gateway", instance="demo", pool_size=2, sip2=profile,
        mqtt=ClientSettings(host="127.0.0.1", port=mqtt_port, client_id="libedge-gateway-demo",
                            persistent_session=False))


@contextlib.asynccontextmanager
async def _simulated_reader(state: Path, name: str, props: DemoProps) -> AsyncIterator[str]:
    """A FEIG reader simulated on a pty; yields the stable path the daemon opens."""
    async with PtyEndpoint(state / f"reader-{name}", name=f"demo-{name}") as endpoint:
        front_end = front_end_for("feig", props.fields[name])
        props.front_ends[name] = front_end
        server = SimulatedReader(front_end, endpoint)
        serving = asyncio.create_task(server.serve(), name=f"libedge demo reader {name}")
        try:
            yield endpoint.device_path
        finally:
            server.stop()
            await asyncio.gather(serving, return_exceptions=True)


async def _until(probe: Any, timeout_s: float, run: asyncio.Task[int]) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not probe():
        if run.done():
            raise DemoUnavailable(f"the daemon stopped while starting (exit {run.result()}); "
                                  "its messages are above")
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _stop(daemon: Daemon, run: asyncio.Task[int]) -> None:
    if not run.done():
        daemon.request_stop()
    await asyncio.gather(run, return_exceptions=True)


def _cache_count(store: Store | None) -> int:
    return store.cache.count() if store is not None else 0


@contextlib.asynccontextmanager
async def demo_stack(options: DemoOptions) -> AsyncIterator[RunningDemo]:
    """Start the demo (see the module docstring); raises :class:`DemoUnavailable`."""
    async with contextlib.AsyncExitStack() as stack:
        state = options.state_directory or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="libedge-demo-")))
        state.mkdir(parents=True, exist_ok=True)
        catalog = sample_catalog()
        ils = await stack.enter_async_context(IlsSimulator(catalog, port=0))
        props = DemoProps(sample_props(catalog))
        readers = {name: await stack.enter_async_context(
            _simulated_reader(state, name, props)) for name in FIELDS}
        mqtt_port: int | None = None
        warnings: list[str] = []
        if options.mqtt and find_mosquitto() is not None:
            try:
                mqtt_port = await stack.enter_async_context(demo_broker(state))
            except BrokerUnavailable as exc:
                warnings.append(f"{exc}; circulation uses direct SIP2 instead")
        if mqtt_port is not None:
            gateway = await stack.enter_async_context(
                running(_gateway_settings(state, catalog, ils.port, mqtt_port)))
            await gateway.import_items(SITE, _imported(catalog))
        tokens = _tokens(state)
        daemon = Daemon(_config(options, state, readers, catalog, ils_port=ils.port,
                                mqtt_port=mqtt_port),
                        environ={}, demo=props)
        run = asyncio.create_task(daemon.run(), name="libedge demo daemon")
        stack.push_async_callback(_stop, daemon, run)
        await _until(lambda: daemon.workflows is not None, READY_WAIT_S, run)
        demo = RunningDemo(daemon, props, catalog, "", tokens,
                           "gateway" if mqtt_port is not None else "sip2", state, warnings,
                           _run=run)
        if mqtt_port is None and daemon.store is not None:
            await daemon.store.cache.apply_delta(_cache_records(catalog), seq=1)
        if not await _until(lambda: daemon.ils_link is not None
                            and daemon.ils_link.state == "connected", LINK_WAIT_S, run):
            demo.warnings.append("the library system link is not up yet; the kiosk will "
                                 "say borrowing is not possible until it is")
        if mqtt_port is not None and not await _until(
                lambda: _cache_count(daemon.store) > 0, LINK_WAIT_S, run):
            demo.warnings.append("the item cache has not received the catalogue snapshot "
                                 "yet; gate alarms name items without titles until it has")
        host, port = daemon.api_address or (options.host, options.port)
        demo.base_url = f"http://{host}:{port}"
        yield demo
