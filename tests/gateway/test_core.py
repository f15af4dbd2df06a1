# SPDX-License-Identifier: Apache-2.0
"""The gateway core against the ILS simulator over TCP, with an in-memory transport and a real
SQLite state file: answers, dedupe, deltas, snapshots, off-line replay."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from edge_service.gateway import Gateway, GatewaySettings, ImportedItem
from edge_service.ils import IlsSimulator, Sip2Pool
from edge_service.store import GatewayState
from edge_service.sync import NotConnected
from protocols.contract import (
    CheckinRequest,
    ItemDelta,
    ItemInfoRequest,
    PatronCheckRequest,
    PatronLoansRequest,
    SnapshotPage,
    SyncItemsRequest,
    format_time,
    request_topic,
)
from tests.gateway.helpers import (
    OWNER,
    MemoryTransport,
    N,
    S,
    T,
    checkout,
    expires,
    topic_of,
)
from tests.ils.helpers import (
    BOOK,
    HC,
    LOANED_TO_HC,
    NOT_FOR_LOAN,
    PINS,
    SOREN,
    clock,
    profile_for,
    simulator,
)

OFFLINE_AT = "2024-04-30T13:00:00.000Z"


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path, **settings: object
                  ) -> AsyncIterator[tuple[Gateway, MemoryTransport, IlsSimulator]]:
    async with simulator() as sim:
        pool = Sip2Pool(profile_for(sim, login_user="gateway", login_password="gateway-secret"),
                        2, clock=clock)
        state = await GatewayState.open(tmp_path / "gateway.db")
        transport = MemoryTransport()
        try:
            async with pool:
                yield Gateway(GatewaySettings(tenant=T, **settings),  # type: ignore[arg-type]
                              pool, state, transport), transport, sim
        finally:
            await state.close()


async def test_a_checkout_is_answered_and_becomes_a_delta(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (gw, transport, _):
        request = checkout("c-1", BOOK, SOREN, pin=PINS[SOREN])
        await gw.handle(topic_of(request), request.to_json())
        (reply,) = transport.replies()
        assert reply.status == "ok"
        assert reply.outcome
        assert reply.outcome.ok
        assert reply.outcome.desensitize == "Y"
        (delta,) = [ItemDelta.from_json(p) for p in transport.on("/items/delta")]
        assert delta.seq == 1
        assert (delta.items[0].circulation_status, delta.items[0].version) == ("04", 1)
        back = CheckinRequest(corr="c-2", expires=expires(), primary_item_id=BOOK,
                              owner_institution=OWNER)
        await gw.handle(topic_of(back), back.to_json())
        second = ItemDelta.from_json(transport.on("/items/delta")[-1])
        assert (second.seq, second.items[0].version) == (2, 2)
        assert second.items[0].circulation_status == "03"
        for _, payload in transport.published:   # neither barcode nor PIN leaves in a reply
            assert SOREN.encode() not in payload
            assert PINS[SOREN].encode() not in payload


async def test_a_redelivered_request_is_answered_from_the_store(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (gw, transport, sim):
        request = checkout("c-9", BOOK, SOREN, pin=PINS[SOREN])
        for _ in range(3):
            await gw.handle(topic_of(request), request.to_json())
        replies = transport.replies()
        assert [r.replayed for r in replies] == [None, True, True]
        assert {r.outcome for r in replies} == {replies[0].outcome}
        assert sim.counters.executed["11"] == 1   # the ILS saw ONE checkout
        assert len(transport.on("/items/delta")) == 1


async def test_expired_invalid_and_patron_requests(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (gw, transport, sim):
        late = ItemInfoRequest(corr="e-1", expires=format_time(0), primary_item_id=BOOK,
                               owner_institution=OWNER)
        await gw.handle(topic_of(late), late.to_json())
        bad = b'{"corr":"e-2","expires":"x"}'
        await gw.handle(topic_of(late), bad)
        patron = PatronCheckRequest(corr="e-3", expires=expires(), patron_id=SOREN, pin="0000")
        await gw.handle(topic_of(patron), patron.to_json())
        expired, invalid, check = transport.replies()
        assert expired.error
        assert expired.error.code == "expired"
        assert invalid.error
        assert invalid.error.code == "invalid_request"
        assert check.outcome
        assert (check.outcome.pin_ok, check.outcome.may_borrow) == (False, False)
        assert "17" not in sim.counters.executed


async def test_a_request_this_gateway_does_not_know_is_answered_at_once(
        tmp_path: Path) -> None:
    """A newer node's request (or a typo) gets ``unknown_request`` instead of silence, so the
    node need not wait out its timeout; without a readable corr nothing can be answered."""
    async with gateway(tmp_path) as (gw, transport, sim):
        topic = request_topic(T, S, N, "circ.hold")
        await gw.handle(topic, b'{"corr":"u-1","expires":"2030-01-01T00:00:00.000Z"}')
        await gw.handle(topic, b'{"expires":"2030-01-01T00:00:00.000Z"}')
        (reply,) = transport.replies()
        assert (reply.corr, reply.request, reply.status) == ("u-1", "circ.hold", "error")
        assert reply.error
        assert reply.error.code == "unknown_request"
        assert not set(sim.counters.executed) - {"93", "99"}   # the ILS was not asked


async def test_a_loans_request_is_answered_and_not_kept(tmp_path: Path) -> None:
    """``circ.loans`` reaches the ILS (patron information), answers item ids only, changes no
    item (no delta) and is not stored: a redelivery asks the ILS again instead of answering
    a patron's loan list from the gateway's file."""
    async with gateway(tmp_path) as (gw, transport, sim):
        request = PatronLoansRequest(corr="l-1", expires=expires(), patron_id=HC, pin=PINS[HC])
        for _ in range(2):
            await gw.handle(topic_of(request), request.to_json())
        first, again = transport.replies()
        assert (first.request, first.status, again.replayed) == ("circ.loans", "ok", None)
        assert first.outcome
        assert (first.outcome.loans, first.outcome.overdue, first.outcome.charged_count) == (
            (LOANED_TO_HC,), (LOANED_TO_HC,), 1)
        assert again.outcome == first.outcome
        assert sim.counters.executed["63"] == 4   # twice run, two requests each
        assert transport.on("/items/delta") == []
        assert await gw.state.claim_request(f"{T}/{S}/kiosk-2", "l-1", 0) == "new"

        backwards = b'{"corr":"l-2","expires":"%s","patron_id":"%s","start":3,"end":2}' % (
            expires().encode(), HC.encode())
        await gw.handle(topic_of(request), backwards)
        invalid = transport.replies()[-1]
        assert (invalid.corr, invalid.request) == ("l-2", "circ.loans")
        assert invalid.error
        assert invalid.error.code == "invalid_request"
        assert "end" in invalid.error.message
        for _, payload in transport.published:
            assert HC.encode() not in payload
            assert PINS[HC].encode() not in payload


async def test_read_only_replies_are_not_kept_and_errors_do_not_echo_values(
        tmp_path: Path) -> None:
    """Item look-ups and patron checks change nothing: answered, never stored (kept, the
    look-ups an account view makes would rebuild a patron's loans). A request outside the
    contract is answered naming the field, never its value (a mistyped card number)."""
    async with gateway(tmp_path) as (gw, transport, _):
        look_up = ItemInfoRequest(corr="r-1", expires=expires(), primary_item_id=BOOK,
                                  owner_institution=OWNER)
        check = PatronCheckRequest(corr="r-2", expires=expires(), patron_id=SOREN,
                                   pin=PINS[SOREN])
        for request in (look_up, check):
            await gw.handle(topic_of(request), request.to_json())
            assert await gw.state.claim_request(f"{T}/{S}/{N}", request.corr, 0) == "new"
        assert [r.status for r in transport.replies()] == ["ok", "ok"]

        card = "2000 SECRET-CARD"
        bad = b'{"corr":"r-3","expires":"%s","patron_id":"%s"}' % (expires().encode(),
                                                                    card.encode())
        await gw.handle(topic_of(check), bad)
        invalid = transport.replies()[-1]
        assert invalid.error
        assert (invalid.corr, invalid.error.code) == ("r-3", "invalid_request")
        assert "patron_id" in invalid.error.message
        assert b"SECRET-CARD" not in transport.published[-1][1]


async def test_offline_replay_refused_by_the_ils_is_answered_without_an_event(
        tmp_path: Path) -> None:
    """The node that replayed it tells staff; an exception event from the gateway as well made
    two for the one refusal (found by a review)."""
    async with gateway(tmp_path, offline_policy={S: "checked"}) as (gw, transport, _):
        event_id = "01a0f6f5-d8eb-7012-8d15-9e26af37bc04"
        ok = checkout("o-1", BOOK, SOREN, offline=True, transaction_time=OFFLINE_AT)
        refused = checkout("o-2", NOT_FOR_LOAN, SOREN, offline=True,
                           transaction_time=OFFLINE_AT, related_event=event_id)
        for request in (ok, refused):
            await gw.handle(topic_of(request), request.to_json())
        first, second = transport.replies()
        assert first.outcome
        assert first.outcome.ok
        assert second.outcome
        assert second.outcome.ok is False
        assert [topic for topic, _ in transport.published if "/evt/" in topic] == []
        # The replay the ILS did: one delta.
        (delta,) = [ItemDelta.from_json(p) for p in transport.on("/items/delta")]
        assert [i.primary_item_id for i in delta.items] == [BOOK]


async def test_snapshot_pages_after_an_import(tmp_path: Path) -> None:
    async with gateway(tmp_path, snapshot_page_items=2) as (gw, transport, _):
        seqs = await gw.import_items(S, [ImportedItem(OWNER, f"30000{i}") for i in range(5)])
        assert seqs == [1]
        sync = SyncItemsRequest(corr="s-1", expires=expires())
        await gw.handle(topic_of(sync), sync.to_json())
        (reply,) = transport.replies()
        assert reply.outcome
        assert (reply.outcome.pages, reply.outcome.seq_at_snapshot) == (3, 1)
        pages = [SnapshotPage.from_json(p) for t, p in transport.published
                 if "/items/snapshot/" in t]
        assert [p.page for p in pages] == [1, 2, 3]
        assert sum(len(p.items) for p in pages) == 5
        assert {p.snapshot_id for p in pages} == {reply.outcome.snapshot_id}


class BrokerBlip(MemoryTransport):
    """Drops the link once, on the first publish to a topic ending with ``suffix`` (as the
    MQTT client does when the broker goes away before the PUBACK)."""

    def __init__(self, suffix: str) -> None:
        super().__init__()
        self.suffix = suffix
        self.failed = False

    async def publish(self, topic: str, payload: bytes) -> None:
        if topic.endswith(self.suffix) and not self.failed:
            self.failed = True
            raise NotConnected(f"publish to {topic}")
        await super().publish(topic, payload)


async def test_a_failure_while_publishing_leaves_no_claim_behind(tmp_path: Path) -> None:
    """The broker drops while a snapshot page goes out: the node is told ``busy`` (transient)
    at once and the claim is released, so the redelivery of the same corr is run and answered;
    before, the claim stayed "running" with no reply and every redelivery was dropped (found by
    a review). A checkout whose delta cannot be published is still answered ``ok``: the ILS
    did it; its reply is kept, so a redelivery gets it again instead of a second checkout."""
    async with gateway(tmp_path) as (gw, transport, sim):
        gw.transport = blip = BrokerBlip("/items/snapshot/1")
        await gw.import_items(S, [ImportedItem(OWNER, "3000001")])
        sync = SyncItemsRequest(corr="s-1", expires=expires())
        await gw.handle(topic_of(sync), sync.to_json())
        (refused,) = blip.replies()
        assert refused.error
        assert (refused.status, refused.error.code) == ("error", "busy")
        assert gw.counters.failed == 1
        await gw.handle(topic_of(sync), sync.to_json())   # the node sends it again
        answered = blip.replies()[-1]
        assert answered.outcome
        assert (answered.status, answered.replayed, answered.outcome.pages) == ("ok", None, 1)
        assert len(blip.on("/items/snapshot/1")) == 1

        gw.transport = blip = BrokerBlip("/items/delta")
        request = checkout("c-1", BOOK, SOREN, pin=PINS[SOREN])
        for _ in range(2):
            await gw.handle(topic_of(request), request.to_json())
        first, again = blip.replies()
        assert first.outcome
        assert (first.status, first.outcome.ok, again.replayed) == ("ok", True, True)
        assert sim.counters.executed["11"] == 1
        assert (gw.counters.deltas_unpublished, await gw.state.site_seq(S)) == (1, 2)
        assert transport.published == []
