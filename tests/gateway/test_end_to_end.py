# SPDX-License-Identifier: Apache-2.0
"""End to end on a real Mosquitto: an edge's MqttBackend -> broker -> two gateway instances
(shared subscription) -> SIP2 -> the ILS simulator, and back; a refused off-line replay is
answered ``ok`` false, with no event of the gateway's own (the node tells staff); a large
import in deltas that fit, a node bootstrapping from its snapshot; the dedupe window pruned."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_service.circulation import ItemKey, MqttBackend, TransientCirculationError
from edge_service.config import MqttConfig
from edge_service.gateway import DEDUPE_WINDOW_S, GatewaySettings, ServiceSettings, running
from edge_service.gateway import service as gateway_service
from edge_service.ils import SimFaults
from edge_service.store import GatewayState, Store, StoreConfig
from edge_service.sync import MqttSync
from edge_service.sync.mqtt_client import ClientSettings, MqttClient
from protocols.contract import MAX_PAYLOAD_BYTES, ItemDelta
from tests.gateway.broker import MOSQUITTO, mosquitto
from tests.gateway.helpers import OWNER, S, T
from tests.gateway.listener import listening
from tests.gateway.test_cli import HEADER, cli, config
from tests.ils.helpers import BOOK, HC, LOANED_TO_HC, PINS, SOREN, simulator
from tests.sync.central import until
from tests.sync.conftest import NODE
from tests.sync.helpers import FAST_BACKOFF

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is needed")
ITEMS = [f"50123456{n:02d}" for n in range(1, 21)]
READY_TIMEOUT_S = 10.0
AFTER_THE_REPLY = b"after the reply"


def service(port: int, sim_port: int, state: Path, instance: str) -> ServiceSettings:
    from edge_service.ils import Sip2Profile  # noqa: PLC0415 - keeps the header short
    profile = Sip2Profile(host="127.0.0.1", port=sim_port, login_user="gateway",
                          login_password="gateway-secret", location_code="MAIN",
                          institution_id=OWNER, timeout_s=5.0, heartbeat_s=0)
    return ServiceSettings(
        gateway=GatewaySettings(tenant=T), state_path=str(state), group="gateway",
        instance=instance, pool_size=2, sip2=profile,
        mqtt=ClientSettings(host="127.0.0.1", port=port, client_id=f"gw-{instance}",
                            persistent_session=False))


@contextlib.asynccontextmanager
async def edge(port: int, node: str = "kiosk-2") -> AsyncIterator[MqttBackend]:
    client = MqttClient(ClientSettings(host="127.0.0.1", port=port, client_id=f"edge-{node}",
                                       persistent_session=False))
    connection = asyncio.create_task(client.run())
    backend = MqttBackend(client, tenant=T, site=S, node=node, timeout_s=1.0)
    pump = asyncio.create_task(backend.pump(client.messages()))
    try:
        await client.wait_connected()
        yield backend
    finally:
        pump.cancel()
        await client.close()
        connection.cancel()
        await asyncio.gather(pump, connection, return_exceptions=True)


async def until_answered(backend: MqttBackend) -> None:
    """Subscriptions are not acknowledged to the caller: ask until the gateways answer."""
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    while True:
        try:
            await backend.item_info(ItemKey(OWNER, BOOK))
        except TransientCirculationError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        else:
            return


async def test_two_gateways_share_the_load_without_duplicates(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as port:
        async with (simulator() as sim,
                    running(service(port, sim.port, tmp_path / "gw.db", "a")) as gw_a,
                    running(service(port, sim.port, tmp_path / "gw.db", "b")) as gw_b,
                    edge(port) as backend):
            await until_answered(backend)
            before = sim.counters.executed.get("11", 0)
            patron = await backend.patron_check(SOREN, pin=PINS[SOREN])
            assert patron.may_borrow
            outcomes = await asyncio.gather(*(
                backend.checkout(ItemKey(OWNER, item), SOREN, pin=PINS[SOREN])
                for item in ITEMS))
            assert len(outcomes) == len(ITEMS)
            assert sim.counters.executed["11"] - before == len(ITEMS)   # each exactly once
            assert gw_a.counters.requests > 0
            assert gw_b.counters.requests > 0
            assert gw_a.counters.deltas + gw_b.counters.deltas == sum(o.ok for o in outcomes)
            assert await gw_a.state.site_seq(S) == sum(o.ok for o in outcomes)


@pytest.mark.parametrize("refusal", ["ils", "policy"])
async def test_a_refused_offline_replay_is_answered_and_makes_no_event_of_its_own(
        tmp_path: Path, refusal: str) -> None:
    """The ILS refuses replays (``SimFaults``) or the site's policy does; either way the edge
    gets ok=false, and it is the edge that tells staff (tests/e2e/test_offline.py): an
    exception event from the gateway as well made two for the one refusal (found by a
    review)."""
    related = "01a0f6f5-d8eb-7012-8d15-9e26af37bc04"
    offline_at_ms = 1_714_557_600_000   # 2024-05-01T10:00:00Z, the kiosk's own clock
    faults = SimFaults(refuse_offline_replay=refusal == "ils")
    policy = GatewaySettings(tenant=T, offline_policy={S: "refuse" if refusal == "policy"
                                                       else "no_block"})
    with mosquitto(tmp_path) as port:
        async with (simulator(faults) as sim,
                    running(dataclasses.replace(service(port, sim.port, tmp_path / "gw.db", "a"),
                                                gateway=policy)) as gw,
                    edge(port) as backend,
                    listening(port, f"lib/v1/{T}/{S}/+/evt/+",
                              f"lib/v1/{T}/{S}/probe/evt/probe") as staff):
            await until_answered(backend)
            executed = sim.counters.executed.get("11", 0)
            outcome = await backend.checkout(ItemKey(OWNER, BOOK), SOREN, pin=PINS[SOREN],
                                             offline_at_ms=offline_at_ms,
                                             related_event=related)
            assert outcome.ok is False
            # What the gateway published went to the broker before its reply: so before this.
            await staff.client.publish(f"lib/v1/{T}/{S}/probe/evt/probe", AFTER_THE_REPLY)
            while (await staff.next_on("/evt/probe")).payload != AFTER_THE_REPLY:
                pass
            # The ILS saw the replay only when the policy let it through.
            assert sim.counters.executed.get("11", 0) - executed == (refusal == "ils")
            assert gw.counters.deltas == 0   # nothing changed hands
    assert [m.topic for m in staff.received if "/evt/" in m.topic
            and not m.topic.endswith("/evt/probe")] == []


async def test_a_retried_offline_replay_is_answered_once(tmp_path: Path) -> None:
    """The edge retries a replay whose reply it missed (a timeout: the first may have reached
    the ILS). Both carry the same correlation id, derived from the off-line event, so the
    gateway answers the second from its dedupe window: the ILS lends the item once."""
    related = "01a0f6f5-d8eb-7012-8d15-9e26af37bc05"
    with mosquitto(tmp_path) as port:
        async with (simulator() as sim,
                    running(service(port, sim.port, tmp_path / "gw.db", "a")),
                    edge(port) as backend):
            await until_answered(backend)
            executed = sim.counters.executed.get("11", 0)
            first = await backend.checkout(ItemKey(OWNER, BOOK), SOREN,
                                           offline_at_ms=1_714_557_600_000,
                                           related_event=related)
            again = await backend.checkout(ItemKey(OWNER, BOOK), SOREN,
                                           offline_at_ms=1_714_557_600_000,
                                           related_event=related)
            assert first.ok
            assert again == first
            assert sim.counters.executed.get("11", 0) - executed == 1
            assert sim.data.items[BOOK].renewals == 0


async def test_a_kiosk_lists_a_patrons_loans_and_renews_one_through_the_gateway(
        tmp_path: Path) -> None:
    """The account view's two requests over the broker: ``circ.loans`` (the overdue loan is
    marked), then ``circ.renew``, after which the ILS no longer lists it overdue."""
    with mosquitto(tmp_path) as port:
        async with (simulator() as sim,
                    running(service(port, sim.port, tmp_path / "gw.db", "a")),
                    edge(port) as backend):
            await until_answered(backend)
            loans = await backend.patron_loans(HC, pin=PINS[HC])
            assert (loans.ok, loans.loans, loans.overdue, loans.charged_count) == (
                True, (LOANED_TO_HC,), (LOANED_TO_HC,), 1)
            due_before = sim.data.items[LOANED_TO_HC].due
            renewed = await backend.renew(ItemKey(OWNER, LOANED_TO_HC), HC, pin=PINS[HC])
            assert renewed.ok
            assert renewed.due == sim.data.items[LOANED_TO_HC].due != due_before
            after = await backend.patron_loans(HC, pin=PINS[HC])
            assert (after.loans, after.overdue) == ((LOANED_TO_HC,), ())
            refused = await backend.patron_loans(HC, pin="0000")
            assert (refused.ok, refused.loans) == (False, None)


async def test_a_large_import_is_published_in_deltas_that_fit_and_a_node_bootstraps_from_it(
        tmp_path: Path) -> None:
    """1000 items with long titles are far more than 64 KiB of JSON: ``libedge gateway
    import`` publishes them in several deltas, numbered 1..n without a gap, each within the
    contract's limit; a node without a baseline then bootstraps from the gateway's snapshot
    (pages cut to 64 KiB too) and continues after the last delta (found by a review: one
    delta of 1000 was refused after its seq was taken, and no snapshot could be served)."""
    rows = [f"{OWNER},60{n:08d},A long title from the catalogue: part {n:04d} of it,,,,"
            for n in range(1000)]
    (tmp_path / "items.csv").write_text(HEADER + "\n".join(rows) + "\n")
    state = tmp_path / "gateway.db"   # the one config() names
    with mosquitto(tmp_path) as port:
        settings = config(tmp_path, f'[gateway]\ntenant = "{T}"\n', mqtt_port=port)
        async with (simulator() as sim,
                    running(service(port, sim.port, state, "a")) as gw,
                    listening(port, f"lib/v1/{T}/+/items/delta",
                              f"lib/v1/{T}/probe/items/delta") as listener):
            code, out, err = await cli("gateway", "import", "--config", str(settings),
                                       "--site", S, str(tmp_path / "items.csv"))
            assert (code, err) == (0, "")
            count = int(out.split(" in ")[1].split()[0])
            assert count > 1
            assert out == f"1000 items published to site {S} in {count} deltas (seq 1..{count})\n"
            payloads = [(await listener.next_on(f"/{S}/items/delta")).payload
                        for _ in range(count)]
            assert max(len(p) for p in payloads) <= MAX_PAYLOAD_BYTES
            deltas = [ItemDelta.from_json(p) for p in payloads]
            assert [d.seq for d in deltas] == list(range(1, count + 1))
            assert sum(len(d.items) for d in deltas) == 1000
            assert await gw.state.site_seq(S) == count

            mqtt = MqttConfig(enabled=True, host="127.0.0.1", port=port, keepalive_s=5)
            async with await Store.open(StoreConfig(tmp_path / "edge.db",
                                                    max_delay_s=0.005)) as store:
                node = MqttSync(NODE, mqtt, store, software_version="t",
                                resync_timeout_s=5.0, **FAST_BACKOFF)
                try:
                    await node.start()
                    await until(lambda: node.downlink is not None
                                and node.downlink.last_applied == count, timeout=20.0)
                    assert store.cache.count() == 1000
                    assert gw.counters.failed == 0
                finally:
                    await node.stop()


async def test_the_running_gateway_prunes_its_dedupe_window(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answered requests older than ``DEDUPE_WINDOW_S`` are forgotten at start and then every
    ``PRUNE_INTERVAL_S`` (patched down here); recent ones stay (found by a review: nothing
    called the prune, so the table grew for ever)."""
    monkeypatch.setattr(gateway_service, "PRUNE_INTERVAL_S", 0.05)
    path = tmp_path / "gw.db"
    now_ms = time.time_ns() // 1_000_000
    old_ms = now_ms - (DEDUPE_WINDOW_S + 3600) * 1000
    state = await GatewayState.open(path)
    try:
        await state.claim_request(f"{T}/{S}/kiosk-2", "old-1", old_ms)
        await state.claim_request(f"{T}/{S}/kiosk-2", "recent-1", now_ms)
    finally:
        await state.close()
    with mosquitto(tmp_path) as port:
        async with (simulator() as sim, running(service(port, sim.port, path, "a")) as gw):
            await until(lambda: request_ids(path) == ["recent-1"])
            await gw.state.claim_request(f"{T}/{S}/kiosk-2", "old-2", old_ms)
            assert request_ids(path) == ["old-2", "recent-1"]
            await until(lambda: request_ids(path) == ["recent-1"])


def request_ids(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT corr FROM request ORDER BY corr")]
    finally:
        conn.close()
