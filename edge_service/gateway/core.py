# SPDX-License-Identifier: Apache-2.0
"""The catalog gateway's core: answer the nodes' requests through SIP2, publish item deltas,
serve snapshots, and replay off-line transactions per site policy.

One message at a time goes through :meth:`Gateway.handle`:

1. parse the topic (only ``{node}/req/{name}`` is ours) and the payload (a request outside the
   contract with a readable ``corr`` is answered ``invalid_request``, naming the field, never
   its value; a name this gateway does not know, ``unknown_request``; without a readable
   ``corr``, dropped);
2. claim ``(node, corr)`` in the shared state: a request answered before (a redelivery, maybe
   to another instance) gets the stored reply again, marked ``replayed``, and is NOT run
   again; one being run elsewhere is dropped (that run answers it);
3. refuse an expired request (``expired``): the kiosk gave up on it;
4. run it through the SIP2 pool; an ILS that cannot be reached gives ``ils_unavailable``,
   and the claim is released so a redelivery tries again; any other failure (the broker gone
   while publishing a snapshot, the state file refusing a write) is logged, the claim released
   and the request answered ``busy`` (transient: the node may send it again);
5. a checkout, checkin or renewal the ILS did changes the item: a new record version and the
   site's next delta ``seq`` in one state transaction, then the delta is published. A delta
   that cannot be published does not change the reply (the ILS did it): it is logged, and the
   nodes heal the gap it leaves by a resync, whose snapshot has the new record;
6. an off-line replay the ILS refused (or the site's policy refuses) is answered ``ok`` false
   like any refusal; the node that replayed it tells staff (its ``lib.exception.v1``, with the
   tag's UID, and its exception queue), as in direct mode. No event from here: it would be a
   second one for the same refusal;
7. store the reply, then publish it on the node's ``rsp``. The replies of requests that change
   nothing (``circ.patron``, ``circ.item``, ``circ.loans``: ``READ_ONLY``) are not stored:
   together they would rebuild what a patron borrowed, and running one again is harmless, so
   the claim is released once it is answered.

Deltas and snapshot pages are cut to fit the contract (``MAX_ITEMS_PER_MESSAGE`` items and
``MAX_PAYLOAD_BYTES`` of JSON each) before a delta is numbered, so a seq is never taken for a
delta too large to send. Deltas of one instance go out in seq order (a lock covers numbering
and publishing); with several instances two deltas may cross on the broker, which a node sees
as a gap and heals by resync (docs/gateway.md). Patron identifiers and PINs are passed to SIP2
only: never logged, never in a delta or an error message.

Not responsible for: the MQTT connection (:class:`GatewayTransport`), SIP2 sessions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from edge_service.circulation import (
    CirculationFailed,
    ItemKey,
    Sip2Backend,
    TransientCirculationError,
)
from edge_service.ils import Sip2Client, Sip2Pool
from edge_service.store import GatewayState, ItemChange
from protocols.contract import (
    MAX_ITEMS_PER_MESSAGE,
    MAX_PAYLOAD_BYTES,
    MAX_SAFE_INTEGER,
    MAX_SNAPSHOT_PAGES,
    REQUEST_TYPES,
    CheckinRequest,
    CheckoutRequest,
    CirculationOutcome,
    CirculationReply,
    CirculationRequest,
    ContractError,
    Hold,
    ItemDelta,
    ItemInfoRequest,
    ItemRecord,
    PatronCheckRequest,
    PatronLoansRequest,
    RenewRequest,
    ResponseError,
    SnapshotPage,
    SyncItemsRequest,
    TopicKind,
    decode_request,
    items_delta_topic,
    items_snapshot_topic,
    parse_time,
    parse_topic,
    reply_topic,
)

log = logging.getLogger(__name__)

OfflinePolicy = Literal["no_block", "checked", "refuse"]
"""``no_block``: replay with SIP2 no block = Y (the ILS records what happened); ``checked``:
replay with the loan rules applied (the ILS may refuse); ``refuse``: never replay, every
off-line transaction is refused (``ok`` false) and goes to staff as the node's exception."""

SNAPSHOT_PAGE_ITEMS = 500
"""At most this many items per snapshot page; fewer when their JSON would pass 64 KiB."""
DEDUPE_WINDOW_S = 24 * 3600
"""How long an answered request id is remembered: longer than any kiosk's retry horizon."""
CHARGED, AVAILABLE, HOLD_SHELF, IN_TRANSIT = "04", "03", "08", "10"
ALERT_HOLD_HERE, ALERT_HOLD_ELSEWHERE, ALERT_TRANSIT = "01", "02", "04"


class GatewayTransport(Protocol):
    """What the gateway needs of MQTT: publish (QoS 1, awaiting the PUBACK)."""

    async def publish(self, topic: str, payload: bytes) -> None: ...


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class GatewaySettings:
    tenant: str
    offline_policy: dict[str, OfflinePolicy] = field(default_factory=dict)
    """Per site; a site not listed gets ``default_offline_policy``."""
    default_offline_policy: OfflinePolicy = "no_block"
    snapshot_page_items: int = SNAPSHOT_PAGE_ITEMS
    dedupe_window_s: int = DEDUPE_WINDOW_S


@dataclass
class GatewayCounters:
    requests: int = 0
    replayed: int = 0
    dropped_running: int = 0
    invalid: int = 0
    expired: int = 0
    ils_unavailable: int = 0
    failed: int = 0
    deltas: int = 0
    deltas_unpublished: int = 0


@dataclass(frozen=True)
class ImportedItem:
    """One item of a bulk import (CSV, MARC holdings)."""

    owner_institution: str
    primary_item_id: str
    circulation_status: str = AVAILABLE
    title: str | None = None
    media: str | None = None
    set_size: int | None = None
    sort_bin: str | None = None


class Gateway:
    def __init__(self, settings: GatewaySettings, sip2: Sip2Pool | Sip2Client,
                 state: GatewayState, transport: GatewayTransport, *,
                 clock_ms: Callable[[], int] = _now_ms) -> None:
        self.settings = settings
        self.state = state
        self.transport = transport
        self.counters = GatewayCounters()
        self._backends = {True: Sip2Backend(sip2, offline_no_block=True),
                          False: Sip2Backend(sip2, offline_no_block=False)}
        self._clock_ms = clock_ms
        self._delta_lock = asyncio.Lock()

    # --- entry -------------------------------------------------------------------------------

    async def handle(self, topic: str, payload: bytes) -> None:
        """Process one inbound message (anything but a request topic is ignored)."""
        try:
            parsed = parse_topic(topic)
        except ContractError:
            return
        if parsed.kind is not TopicKind.REQUEST or parsed.site is None or parsed.node is None:
            return
        site, node, name = parsed.site, parsed.node, parsed.request or ""
        rsp = reply_topic(parsed.tenant, site, node)
        try:
            request = decode_request(name, payload)
        except ContractError as exc:
            self.counters.invalid += 1
            corr = _readable_corr(payload)
            log.warning("invalid request from %s/%s: %s", site, node, exc.field or "payload")
            if corr is not None:   # the topic parser checked the name (a NAME)
                # A name this gateway does not know (a newer node, an older gateway): said at
                # once, so the node does not wait out its timeout. The reply names the field,
                # never the value (it may be a patron's card number).
                known = name in REQUEST_TYPES
                message = (f"outside the contract: {exc.field or 'the payload'} is not valid"
                           if known else f"{name} is not a request this gateway answers")
                await self._send(rsp, CirculationReply(
                    corr=corr, request=name, status="error",
                    error=ResponseError(code="invalid_request" if known else "unknown_request",
                                        message=message)))
            return
        await self._answer(site, node, rsp, request)

    async def _answer(self, site: str, node: str, rsp: str, request: CirculationRequest) -> None:
        requester = f"{self.settings.tenant}/{site}/{node}"
        now = self._clock_ms()
        claim = await self.state.claim_request(requester, request.corr, now)
        if isinstance(claim, bytes):
            self.counters.replayed += 1
            stored = CirculationReply.from_json(claim)
            await self._send(rsp, dataclasses.replace(stored, replayed=True))
            return
        if claim == "running":
            self.counters.dropped_running += 1
            return
        self.counters.requests += 1
        if request.is_expired(now):
            self.counters.expired += 1
            reply = _error(request, "expired", "the request expired before the gateway ran it")
        else:
            try:
                reply = await self._run(site, request)
            except TransientCirculationError as exc:
                self.counters.ils_unavailable += 1
                await self.state.release_request(requester, request.corr)
                await self._send(rsp, _error(request, "ils_unavailable", exc.reason))
                return
            except CirculationFailed as exc:
                reply = _error(request, exc.code, exc.reason)
            except Exception:
                # Not answered, and nothing kept: a claim left without a reply would drop
                # every redelivery of this corr. Released, so a redelivery runs it again.
                self.counters.failed += 1
                log.exception("%s %s from %s/%s failed", request.NAME, request.corr, site, node)
                await self.state.release_request(requester, request.corr)
                await self._send(rsp, _error(request, "busy",
                                             "the gateway could not complete the request"))
                return
        if isinstance(request, READ_ONLY):
            # Nothing to de-duplicate (asking again changes nothing), and kept replies would
            # rebuild what a patron borrowed (a loans list, then an item look-up per loan).
            try:
                await self._send(rsp, reply)
            finally:
                await self.state.release_request(requester, request.corr)
            return
        await self.state.store_reply(requester, request.corr, reply.to_json())
        await self._send(rsp, reply)

    async def _send(self, topic: str, reply: CirculationReply) -> None:
        await self.transport.publish(topic, reply.to_json())

    # --- running requests --------------------------------------------------------------------

    def _policy(self, site: str) -> OfflinePolicy:
        return self.settings.offline_policy.get(site, self.settings.default_offline_policy)

    async def _run(self, site: str, request: CirculationRequest) -> CirculationReply:
        if isinstance(request, SyncItemsRequest):
            return _ok(request, await self.publish_snapshot(site))
        if isinstance(request, PatronCheckRequest):
            backend = self._backends[True]
            return _ok(request, await backend.patron_check(request.patron_id, pin=request.pin))
        if isinstance(request, PatronLoansRequest):
            return _ok(request, await self._backends[True].patron_loans(
                request.patron_id, pin=request.pin, start=request.start, end=request.end))
        item = ItemKey(request.owner_institution, request.primary_item_id)
        if isinstance(request, ItemInfoRequest):
            return _ok(request, await self._backends[True].item_info(item))
        offline_at = (parse_time(request.transaction_time)
                      if request.offline and request.transaction_time else None)
        policy = self._policy(site)
        if offline_at is not None and policy == "refuse":
            return _ok(request, CirculationOutcome(ok=False, screen_message=()))
        backend = self._backends[policy == "no_block"]
        if isinstance(request, CheckoutRequest):
            outcome = await backend.checkout(
                item, request.patron_id, pin=request.pin, offline_at_ms=offline_at,
                related_event=request.related_event,
                set_parts_present=request.set_parts_present)
        elif isinstance(request, RenewRequest):
            outcome = await backend.renew(item, request.patron_id, pin=request.pin,
                                          offline_at_ms=offline_at,
                                          related_event=request.related_event)
        else:
            outcome = await backend.checkin(item, offline_at_ms=offline_at,
                                            related_event=request.related_event,
                                            location=request.location)
        if outcome.ok:
            try:
                await self.publish_changes(site, [_record_after(request, outcome)])
            except Exception:
                # The ILS did it, so the reply says so. The nodes miss this delta: the next
                # one shows them the gap, and the resync's snapshot has the new record.
                self.counters.deltas_unpublished += 1
                log.exception("the delta of %s %s for site %s was not published",
                              request.NAME, request.corr, site)
        return _ok(request, outcome)

    # --- deltas and snapshots ----------------------------------------------------------------

    async def publish_changes(self, site: str, records: Iterable[ItemRecord]) -> list[int]:
        """Give each record its next version, number the delta(s) and publish them; the seqs.

        The records are cut into deltas before any is numbered, each sized with the largest
        version and seq the contract allows, so every numbered delta fits in a message."""
        changes = [_change(site, r) for r in records]
        sizes = [len(c.record(MAX_SAFE_INTEGER).encode()) for c in changes]
        envelope = len(ItemDelta(seq=MAX_SAFE_INTEGER, items=()).to_json())
        seqs = []
        for batch in _fitting(changes, sizes, envelope, MAX_ITEMS_PER_MESSAGE):
            async with self._delta_lock:
                seq, texts = await self.state.record_changes(site, batch)
                items = tuple(ItemRecord.from_json(t.encode()) for t in texts)
                await self.transport.publish(items_delta_topic(self.settings.tenant, site),
                                             ItemDelta(seq=seq, items=items).to_json())
            self.counters.deltas += 1
            seqs.append(seq)
        return seqs

    async def import_items(self, site: str, items: Iterable[ImportedItem]) -> list[int]:
        return await self.publish_changes(site, (ItemRecord(
            primary_item_id=i.primary_item_id, owner_institution=i.owner_institution,
            version=0, circulation_status=i.circulation_status,
            security_expected=i.circulation_status != CHARGED, set_size=i.set_size,
            title=i.title, media=i.media, sort_bin=i.sort_bin) for i in items))

    async def publish_snapshot(self, site: str) -> CirculationOutcome:
        """Publish the site's snapshot pages; the outcome names them."""
        seq, texts = await self.state.snapshot(site)
        snapshot_id = f"snap-{seq}-{os.urandom(4).hex()}"
        envelope = len(SnapshotPage(snapshot_id=snapshot_id, page=MAX_SNAPSHOT_PAGES,
                                    pages=MAX_SNAPSHOT_PAGES, seq_at_snapshot=seq,
                                    items=()).to_json())
        per_page = min(self.settings.snapshot_page_items, MAX_ITEMS_PER_MESSAGE)
        chunks = list(_fitting(texts, [len(t.encode()) for t in texts], envelope,
                               per_page)) or [[]]
        for number, chunk in enumerate(chunks, start=1):
            page = SnapshotPage(snapshot_id=snapshot_id, page=number, pages=len(chunks),
                                seq_at_snapshot=seq,
                                items=tuple(ItemRecord.from_json(t.encode()) for t in chunk))
            await self.transport.publish(
                items_snapshot_topic(self.settings.tenant, site, number), page.to_json())
        return CirculationOutcome(ok=True, screen_message=(), snapshot_id=snapshot_id,
                                  pages=len(chunks), seq_at_snapshot=seq)

    async def prune(self) -> int:
        return await self.state.prune_requests(
            self._clock_ms() - self.settings.dedupe_window_s * 1000)


# --- helpers ---------------------------------------------------------------------------------

T = TypeVar("T")


def _fitting(items: Sequence[T], sizes: Sequence[int], envelope: int, max_items: int
             ) -> Iterator[list[T]]:
    """``items`` in order, cut into runs of at most ``max_items`` whose message fits
    ``MAX_PAYLOAD_BYTES``: ``envelope`` bytes when empty, plus each item's JSON (``sizes``)
    and a comma between two. One record of the contract is far below the limit, so every
    run has at least one."""
    run: list[T] = []
    total = envelope
    for item, size in zip(items, sizes, strict=True):
        if run and (len(run) == max_items or total + 1 + size > MAX_PAYLOAD_BYTES):
            yield run
            run, total = [], envelope
        total += size + (1 if run else 0)
        run.append(item)
    if run:
        yield run


READ_ONLY = (PatronCheckRequest, ItemInfoRequest, PatronLoansRequest)
"""Requests that change nothing in the ILS: answered, never kept in the de-duplication store."""


def _readable_corr(payload: bytes) -> str | None:
    try:
        corr = json.loads(payload).get("corr")
    except (ValueError, AttributeError):
        return None
    ok = isinstance(corr, str) and 0 < len(corr) <= 128 and all(
        c.isascii() and (c.isalnum() or c in "._:-") for c in corr)
    return corr if ok else None


def _ok(request: CirculationRequest, outcome: CirculationOutcome) -> CirculationReply:
    return CirculationReply(corr=request.corr, request=request.NAME, status="ok",
                            outcome=outcome)


def _error(request: CirculationRequest, code: str, message: str) -> CirculationReply:
    return CirculationReply(corr=request.corr, request=request.NAME, status="error",
                            error=ResponseError(code=code, message=message[:512] or code))


def _record_after(request: CheckoutRequest | CheckinRequest | RenewRequest,
                  outcome: CirculationOutcome) -> ItemRecord:
    """The item as the ILS left it after a successful transaction."""
    hold = None
    if isinstance(request, CheckinRequest):
        status = AVAILABLE
        if outcome.alert_type == ALERT_HOLD_HERE:
            status, hold = HOLD_SHELF, Hold(here=True)
        elif outcome.alert_type == ALERT_HOLD_ELSEWHERE:
            status, hold = IN_TRANSIT, Hold(here=False, destination=outcome.destination)
        elif outcome.alert_type == ALERT_TRANSIT:
            status = IN_TRANSIT
    else:
        status = CHARGED
    return ItemRecord(primary_item_id=request.primary_item_id,
                      owner_institution=request.owner_institution, version=0,
                      circulation_status=status, security_expected=status != CHARGED,
                      title=outcome.title, media=outcome.media, sort_bin=outcome.sort_bin,
                      hold=hold)


def _change(site: str, record: ItemRecord) -> ItemChange:
    def render(version: int) -> str:
        values = {s.name: getattr(record, s.name) for s in record.field_specs()}
        return ItemRecord(**{**values, "version": version}).to_json().decode()
    return ItemChange(site, record.owner_institution, record.primary_item_id, render)
