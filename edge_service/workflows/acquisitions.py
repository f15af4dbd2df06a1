# SPDX-License-Identifier: Apache-2.0
"""Acquisitions receiving at the staff station: a delivery of supplier-tagged items read item by
item against the copies the catalog expects, then re-programmed to the library's circulation
data.

One delivery at a time per station (:class:`Acquisitions`). It listens to the staff reader's
field; every tag that arrives, once the supervisor has read it, is decoded (any model) and
sorted once, by UID:

    the tag                                                          outcome
    its primary item id is an expected copy's (shelf-ready items)    received: that copy
      ... a copy another tag (this or an earlier delivery) got       duplicate
    its order number (and GS1 product id, when it carries one)       received: the first such
      names expected copies                                            copy not yet received
      ... every one of them received already                         duplicate
    anything else: another order, no order number, blank, unknown   unexpected

Each tag's supplier identifier, order number, supplier invoice number, supply chain stage and
GS1 product id are shown as the tag carries them. ``missing``: the copies of the delivery's
orders (given when it was opened, else the orders of the copies matched) that no tag matched.
A tag that cannot be read is listed as ``unread`` until it can.

Accepting (``accept()``, or ``accept_on_arrival`` for a single pass of a cart) re-programs every
received tag, on the pad now or when it comes back to it: ``StaffStation.program_tag`` writes the
copy's primary item id, the library's owner ISIL and model, the copy's type of usage (else
``CIRCULATING``, 0x10), security on, every step verified by read-back and the model's lock plan
locked; the supplier's acquisition elements are not carried over. In the transaction of that
write's ``lib.tag.write.v1`` go the copy marked received, the tag marked programmed and one
``lib.acq.received.v1``. A failed write is tried again when the tag arrives again, at most
``ATTEMPTS`` times; it never counts as received.

``close()`` records ``lib.acq.delivery.v1``: received (re-programmed), unexpected, missing,
duplicates, failed (matched, not re-programmed), the orders, the first 500 missing copies. The
delivery and each tag are stored as they change, so a restart resumes an open delivery
(``Acquisitions`` finds it). Progress goes to the screens as ``staff.delivery``.

Not responsible for: the write sequence (``staff``), the expected copies' source
(``order_lines``), deciding what happens to unexpected or duplicate items (staff do).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from edge_service.devices import TagInField
from edge_service.store import (
    DeliveryRow,
    DeliveryTagRow,
    ExpectedCopy,
    StoreError,
    WriteConnection,
    utc_now,
    utc_timestamp,
    write_delivery,
    write_delivery_tag,
    write_received,
)
from edge_service.sync.events import record_event, unix_ms
from edge_service.workflows.errors import WorkflowError
from edge_service.workflows.order_lines import gs1_key
from edge_service.workflows.staff import StaffStation
from edge_service.workflows.staff_results import afi_text
from protocols.contract import AcqDeliveryData, AcqReceivedData, ContractError, uuid7
from protocols.iso15693 import Uid
from protocols.iso28560 import LibraryTag, decode_any

__all__ = ["ATTEMPTS", "CIRCULATING", "Acquisitions", "Delivery", "DeliveryTag", "Outcome"]

logger = logging.getLogger(__name__)

ATTEMPTS = 3
"""Re-programming attempts per tag (each after the tag arrived again), as a staff batch."""
CIRCULATING = 0x10
"""ISO 28560-1 type of usage: item for circulation, unspecified (Annex C)."""
MAX_MISSING_IN_EVENT = 500
"""``AcqDeliveryData.missing_items`` holds at most this many ids (contract v1)."""
MAX_ORDERS_IN_EVENT = 64
SUPPLY_TEXT_MAX = 64



class Outcome(enum.StrEnum):
    RECEIVED = "received"
    UNEXPECTED = "unexpected"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class SupplierData:
    """What a supplier's tag carries, as read."""

    data_model: str
    primary_item_id: str | None = None
    supplier_identifier: str | None = None
    order_number: str | None = None
    supplier_invoice_number: str | None = None
    supply_chain_stage: int | None = None
    gs1_product_identifier: str | None = None
    type_of_usage: int | None = None

    @classmethod
    def of(cls, tag: LibraryTag) -> SupplierData:
        return cls(tag.model.value, tag.primary_item_id, tag.supplier_identifier,
                   tag.order_number, tag.supplier_invoice_number, tag.supply_chain_stage,
                   tag.gs1_product_identifier, tag.type_of_usage)

    def to_json(self) -> dict[str, Any]:
        return {"data_model": self.data_model, "tag_primary_item_id": self.primary_item_id,
                "supplier_identifier": self.supplier_identifier,
                "order_number": self.order_number,
                "supplier_invoice_number": self.supplier_invoice_number,
                "supply_chain_stage": self.supply_chain_stage,
                "gs1_product_identifier": self.gs1_product_identifier,
                "type_of_usage": self.type_of_usage}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SupplierData:
        return cls(str(data.get("data_model") or "unknown"), data.get("tag_primary_item_id"),
                   data.get("supplier_identifier"), data.get("order_number"),
                   data.get("supplier_invoice_number"), data.get("supply_chain_stage"),
                   data.get("gs1_product_identifier"), data.get("type_of_usage"))


@dataclass(slots=True)
class DeliveryTag:
    """One tag of a delivery and what was done with it."""

    uid: Uid
    outcome: Outcome
    supplier: SupplierData
    copy: ExpectedCopy | None = None
    reason: str | None = None
    """Why it is unexpected or a duplicate."""
    programmed: bool = False
    attempts: int = 0
    error: str | None = None
    """The last re-programming failure."""
    tried_arrival_s: float | None = None

    def row(self) -> DeliveryTagRow:
        data = {**self.supplier.to_json(), "reason": self.reason, "attempts": self.attempts,
                "error": self.error}
        return DeliveryTagRow(str(self.uid), self.outcome.value,
                              self.copy.primary_item_id if self.copy else None,
                              self.programmed, data)

    def to_json(self) -> dict[str, Any]:
        copy = self.copy
        return {"uid": str(self.uid), "outcome": self.outcome.value,
                "primary_item_id": copy.primary_item_id if copy else None,
                "order_line": copy.order_line if copy else None,
                "title": copy.title if copy else None, **self.supplier.to_json(),
                "reason": self.reason, "programmed": self.programmed,
                "attempts": self.attempts, "error": self.error}


@dataclass(slots=True)
class Delivery:
    """One delivery's state; see the module docstring."""

    id: str
    station: str
    opened_at: str
    orders: tuple[str, ...] = ()
    """The orders given at opening (empty: the orders of the copies matched)."""
    supplier_identifier: str | None = None
    supplier_invoice_number: str | None = None
    accept_on_arrival: bool = False
    operator: str | None = None
    state: str = "reading"
    closed_at: str | None = None
    tags: dict[Uid, DeliveryTag] = field(default_factory=dict)
    unread: dict[Uid, str] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)

    @property
    def accepting(self) -> bool:
        return self.state == "accepted"

    def claimed(self) -> set[str]:
        return {t.copy.primary_item_id for t in self.tags.values()
                if t.outcome is Outcome.RECEIVED and t.copy is not None}

    def order_numbers(self) -> tuple[str, ...]:
        if self.orders:
            return self.orders
        seen = {t.copy.order_number for t in self.tags.values() if t.copy is not None}
        return tuple(sorted(seen))

    def row(self) -> DeliveryRow:
        data = {"orders": list(self.orders), "supplier_identifier": self.supplier_identifier,
                "supplier_invoice_number": self.supplier_invoice_number,
                "accept_on_arrival": self.accept_on_arrival, "operator": self.operator,
                "event_ids": list(self.event_ids)}
        return DeliveryRow(self.id, self.station, self.state, data, self.opened_at,
                           self.closed_at)


# --- the service on one station ----------------------------------------------------------------

class Acquisitions:
    """Receiving on one staff station; see the module docstring."""

    def __init__(self, station: StaffStation, *, clock: Callable[[], datetime] = utc_now,
                 rand: Callable[[int], bytes] = os.urandom) -> None:
        self.station = station
        self.store = station.store
        self._clock = clock
        self._rand = rand
        self._delivery: Delivery | None = None
        self._last: Delivery | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Resume the station's open delivery, if the store has one."""
        try:
            row = self.store.acquisitions.open_delivery(self.station.name)
        except StoreError as exc:
            logger.warning("staff %s: open delivery not resumed: %s", self.station.name, exc)
            return
        if row is not None:
            self._delivery = self._restore(row)
            logger.info("staff %s: delivery %s resumed (%d tags)", self.station.name, row.id,
                        len(self._delivery.tags))
            self._listen()

    async def stop(self) -> None:
        """Stop listening (the delivery stays open in the store); safe to call twice."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    def _listen(self) -> None:
        self._stopping = False
        self.station.supervisor.add_field_listener(self._on_field)
        self._task = asyncio.create_task(self._run(), name=f"libedge delivery "
                                         f"{self.station.name}")
        self._wake.set()   # tags already on the pad count as arrived

    def _on_field(self, _name: str, _field: Mapping[Uid, TagInField]) -> None:
        self._wake.set()

    # -- requests -------------------------------------------------------------------------------

    async def open(self, *, orders: Sequence[str] = (), supplier_identifier: str | None = None,
                   supplier_invoice_number: str | None = None,
                   accept_on_arrival: bool = False, operator: str | None = None) -> Delivery:
        """Open a delivery on this station; 409 ``delivery_open`` while one is."""
        if self._delivery is not None:
            raise WorkflowError("delivery_open", f"Delivery {self._delivery.id} is open on this "
                                "station; close it first.")
        checked = _orders(orders)
        for name, value in (("supplier_identifier", supplier_identifier),
                            ("supplier_invoice_number", supplier_invoice_number)):
            if value is not None and not _fits(value):
                raise WorkflowError("invalid_request", f"{name}: 1-{SUPPLY_TEXT_MAX} printable "
                                    "characters", status=422, field=name)
        now = self._clock()
        delivery = Delivery(f"dlv-{uuid7(unix_ms(now), self._rand(10))}", self.station.name,
                            utc_timestamp(now), checked, supplier_identifier,
                            supplier_invoice_number, accept_on_arrival, operator,
                            state="accepted" if accept_on_arrival else "reading")
        await self._save(lambda conn: write_delivery(conn, delivery.row()), "delivery opened")
        self._delivery = delivery
        self._listen()
        self._publish()
        return delivery

    def current(self) -> Delivery:
        """The open delivery, else the last one closed here; 404 ``no_delivery``."""
        delivery = self._delivery or self._last
        if delivery is None:
            raise WorkflowError("no_delivery", "No delivery was opened on this station.",
                                status=404)
        return delivery

    async def accept(self) -> Delivery:
        """Re-program the received tags (now, and as they come back to the pad)."""
        delivery = self._open_one()
        if not delivery.accepting:
            delivery.state = "accepted"
            await self._save(lambda conn: write_delivery(conn, delivery.row()),
                             "delivery accepted")
        for entry in delivery.tags.values():
            entry.tried_arrival_s = None   # on the pad now: tried at once
        self._wake.set()
        self._publish()
        return delivery

    async def close(self) -> Delivery:
        """Stop, record ``lib.acq.delivery.v1`` with the delivery closed, in one transaction."""
        delivery = self._open_one()
        await self.stop()
        self.station.supervisor.remove_field_listener(self._on_field)
        now = self._clock()
        data = self._summary(delivery)
        rand = self._rand(10)
        closed = replace(delivery.row(), state="closed", closed_at=utc_timestamp(now))

        def record(conn: WriteConnection) -> str:
            event = record_event(conn, self.store.outbox, self.station.node, "acq",
                                 "lib.acq.delivery.v1", data, now=now, rand=rand)
            write_delivery(conn, replace(closed, data={
                **closed.data, "event_ids": [*delivery.event_ids, event.id]}))
            return event.id

        try:
            event_id = await self.store.writer.submit(record, name="delivery closed",
                                                      commit_now=True)
        except StoreError as exc:
            self._listen()   # still open: nothing was closed
            raise WorkflowError("store_failed", "The delivery could not be closed (its record "
                                "was not saved). Try again.", status=503) from exc
        delivery.state, delivery.closed_at = "closed", closed.closed_at
        delivery.event_ids.append(event_id)
        self.station.wake_outbox()
        self._last, self._delivery = delivery, None
        self._publish()
        logger.info("staff %s: delivery %s closed: %d received, %d unexpected, %d missing, "
                    "%d duplicates, %d failed", self.station.name, delivery.id, data.received,
                    data.unexpected, data.missing, data.duplicates, data.failed,
                    extra={"fields": {"device": self.station.name, "event": "delivery"}})
        return delivery

    def _open_one(self) -> Delivery:
        if self._delivery is None:
            raise WorkflowError("no_delivery", "No delivery is open on this station.",
                                status=404)
        return self._delivery

    # -- the pad --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping or self._delivery is None:
                break
            try:
                changed = await self._turn(self._delivery)
            except Exception:   # a bug must not end the delivery with its tags unrecorded
                logger.exception("staff %s: delivery turn failed", self.station.name)
                changed = False
            if changed:
                self._publish()
        self.station.supervisor.remove_field_listener(self._on_field)

    async def _turn(self, delivery: Delivery) -> bool:
        changed = False
        field_now = dict(self.station.supervisor.field)
        for uid, seen in sorted(field_now.items()):
            if uid in delivery.tags or self._stopping:
                continue
            if not seen.read:
                if seen.read_error and delivery.unread.get(uid) != seen.read_error:
                    delivery.unread[uid] = seen.read_error
                    changed = True
                continue
            delivery.unread.pop(uid, None)
            await self._sort(delivery, uid, seen)
            changed = True
        if delivery.accepting:
            for uid, seen in sorted(field_now.items()):
                entry = delivery.tags.get(uid)
                if entry is not None and self._due(entry, seen) and not self._stopping:
                    await self._program(delivery, entry, seen)
                    changed = True
        return changed

    async def _sort(self, delivery: Delivery, uid: Uid, seen: TagInField) -> None:
        tag = decode_any(seen.memory or b"", dsfid=seen.dsfid)
        outcome, copy, reason = self._match(delivery, tag)
        entry = DeliveryTag(uid, outcome, SupplierData.of(tag), copy, reason)
        try:
            await self._save(lambda conn: write_delivery_tag(conn, delivery.id, entry.row(),
                                                             now=self._clock()),
                             "delivery tag")
        except WorkflowError as exc:
            logger.warning("staff %s: tag %s of delivery %s not stored: %s", self.station.name,
                           uid, delivery.id, exc.message)
        delivery.tags[uid] = entry

    def _match(self, delivery: Delivery, tag: LibraryTag
               ) -> tuple[Outcome, ExpectedCopy | None, str | None]:
        """The outcome of one tag (the table of the module docstring)."""
        acquisitions, claimed = self.store.acquisitions, delivery.claimed()
        if tag.primary_item_id:
            copy = acquisitions.expected_copy(tag.primary_item_id)
            if copy is not None:
                if copy.received or copy.primary_item_id in claimed:
                    return (Outcome.DUPLICATE, copy,
                            f"copy {copy.primary_item_id} was received already")
                return Outcome.RECEIVED, copy, None
        if not tag.order_number:
            holds = (f"item {tag.primary_item_id}" if tag.primary_item_id
                     else f"no order number ({tag.model.value})")
            return Outcome.UNEXPECTED, None, f"not an expected copy: the tag holds {holds}"
        product = gs1_key(tag.gs1_product_identifier)
        copies = acquisitions.expected_for(tag.order_number, product)
        if not copies:
            of = f" for product {product}" if product else ""
            return (Outcome.UNEXPECTED, None,
                    f"no expected copy of order {tag.order_number}{of}")
        free = [c for c in copies if not c.received and c.primary_item_id not in claimed]
        if not free:
            reason = (f"every expected copy of order {tag.order_number} ({len(copies)}) was "
                      "received already")
            return Outcome.DUPLICATE, None, reason
        return Outcome.RECEIVED, free[0], None

    def _due(self, entry: DeliveryTag, seen: TagInField) -> bool:
        return (entry.outcome is Outcome.RECEIVED and not entry.programmed
                and entry.attempts < ATTEMPTS and entry.tried_arrival_s != seen.arrived_s)

    async def _program(self, delivery: Delivery, entry: DeliveryTag, seen: TagInField) -> None:
        copy = entry.copy
        assert copy is not None
        entry.tried_arrival_s = seen.arrived_s
        entry.attempts += 1
        try:
            data = self._received_data(delivery, entry, copy)
            await self.station.program_tag(
                copy.primary_item_id, uid=entry.uid, overwrite=True, secured=True,
                operator=delivery.operator,
                elements={"type_of_usage": copy.type_of_usage
                          if copy.type_of_usage is not None else CIRCULATING},
                also=self._also(delivery, entry, data))
        except WorkflowError as exc:
            entry.error = exc.message
            await self._remember_failure(delivery, entry)
            return
        except Exception as exc:   # a bug must not end the delivery
            logger.exception("staff %s: re-programming tag %s failed", self.station.name,
                             entry.uid)
            entry.error = type(exc).__name__
            await self._remember_failure(delivery, entry)
            return
        entry.programmed, entry.error = True, None

    def _also(self, delivery: Delivery, entry: DeliveryTag, data: AcqReceivedData
              ) -> Callable[[WriteConnection, LibraryTag, datetime], None]:
        """The copy received, the tag programmed and its event, in the write's transaction
        (run on the writer's thread: store and outbox only)."""
        copy = entry.copy
        assert copy is not None
        rand = self._rand(10)
        row = replace(entry.row(), programmed=True)

        def record(conn: WriteConnection, _written: LibraryTag, now: datetime) -> None:
            write_received(conn, copy.primary_item_id, str(entry.uid), delivery.id, now=now)
            write_delivery_tag(conn, delivery.id, row, now=now)
            record_event(conn, self.store.outbox, self.station.node, "acq",
                         "lib.acq.received.v1", data, now=now, rand=rand)
        return record

    def _received_data(self, delivery: Delivery, entry: DeliveryTag,
                       copy: ExpectedCopy) -> AcqReceivedData:
        """Built before the write: a value the contract refuses must stop the write, not
        roll back its record after the tag was changed."""
        supplier, scheme = entry.supplier, self.station.scheme
        try:
            return AcqReceivedData(
                delivery_id=delivery.id, primary_item_id=copy.primary_item_id,
                uid=str(entry.uid), order_number=copy.order_number,
                data_model=self.station.target_model.value,
                owner_institution=self.station.library.isil or None,
                order_line=copy.order_line,
                supplier_identifier=_fit(supplier.supplier_identifier),
                supplier_invoice_number=_fit(supplier.supplier_invoice_number),
                gs1_product_identifier=_fit(supplier.gs1_product_identifier),
                supply_chain_stage=supplier.supply_chain_stage,
                afi=afi_text(scheme.afi_secured) if scheme.use_afi else None,
                operator=delivery.operator)
        except ContractError as exc:
            raise WorkflowError("invalid_request", f"the receiving record of copy "
                                f"{copy.primary_item_id} is refused: {exc}",
                                status=422) from None

    async def _remember_failure(self, delivery: Delivery, entry: DeliveryTag) -> None:
        logger.warning("staff %s: tag %s of delivery %s not re-programmed (attempt %d): %s",
                       self.station.name, entry.uid, delivery.id, entry.attempts, entry.error)
        # The failure is in memory and the log; the tag will be tried again.
        with contextlib.suppress(WorkflowError):
            await self._save(lambda conn: write_delivery_tag(conn, delivery.id, entry.row(),
                                                             now=self._clock()),
                             "delivery tag")

    # -- reports --------------------------------------------------------------------------------

    def missing(self, delivery: Delivery) -> list[ExpectedCopy]:
        claimed = delivery.claimed()
        return [c for c in self.store.acquisitions.expected_of_orders(delivery.order_numbers())
                if not c.received and c.primary_item_id not in claimed]

    def report(self, delivery: Delivery | None = None) -> dict[str, Any]:
        """The delivery as staff see it (the API's body, the ``staff.delivery`` message)."""
        delivery = delivery or self.current()
        missing = self.missing(delivery)   # of a closed delivery: still missing now
        tags = list(delivery.tags.values())
        received = [t for t in tags if t.outcome is Outcome.RECEIVED]
        counts = {"received": len(received),
                  "programmed": sum(t.programmed for t in received),
                  "unexpected": sum(t.outcome is Outcome.UNEXPECTED for t in tags),
                  "duplicates": sum(t.outcome is Outcome.DUPLICATE for t in tags),
                  "missing": len(missing),
                  "failed": sum(1 for t in received if not t.programmed and t.error),
                  "unread": len(delivery.unread)}
        return {"delivery_id": delivery.id, "station": delivery.station,
                "state": delivery.state, "opened_at": delivery.opened_at,
                "closed_at": delivery.closed_at, "orders": list(delivery.order_numbers()),
                "supplier_identifier": delivery.supplier_identifier,
                "supplier_invoice_number": delivery.supplier_invoice_number,
                "accept_on_arrival": delivery.accept_on_arrival, "counts": counts,
                "tags": [t.to_json() for t in tags],
                "missing": [c.to_json() for c in missing],
                "unread": [{"uid": str(uid), "error": error}
                           for uid, error in sorted(delivery.unread.items())],
                "event_ids": list(delivery.event_ids)}

    def _summary(self, delivery: Delivery) -> AcqDeliveryData:
        tags = list(delivery.tags.values())
        received = [t for t in tags if t.outcome is Outcome.RECEIVED]
        missing = self.missing(delivery)
        supplier = delivery.supplier_identifier or _first(
            t.supplier.supplier_identifier for t in tags if t.outcome is Outcome.RECEIVED)
        invoice = delivery.supplier_invoice_number or _first(
            t.supplier.supplier_invoice_number for t in tags if t.outcome is Outcome.RECEIVED)
        return AcqDeliveryData(
            delivery_id=delivery.id, received=sum(t.programmed for t in received),
            unexpected=sum(t.outcome is Outcome.UNEXPECTED for t in tags),
            missing=len(missing), duplicates=sum(t.outcome is Outcome.DUPLICATE for t in tags),
            failed=sum(not t.programmed for t in received),
            orders=tuple(o for o in delivery.order_numbers() if _fits(o))[:MAX_ORDERS_IN_EVENT],
            missing_items=tuple(c.primary_item_id for c in missing)[:MAX_MISSING_IN_EVENT],
            supplier_identifier=_fit(supplier), supplier_invoice_number=_fit(invoice),
            operator=delivery.operator)

    def _publish(self) -> None:
        delivery = self._delivery or self._last
        if delivery is None:
            return
        try:
            report = self.report(delivery)
        except StoreError as exc:
            logger.warning("staff %s: delivery report unavailable: %s", self.station.name, exc)
            return
        self.station.live.publish("staff.delivery", {"reader": self.station.name, **report})

    # -- the store ------------------------------------------------------------------------------

    async def _save(self, operation: Callable[[WriteConnection], None], what: str) -> None:
        try:
            await self.store.writer.submit(operation, name=what, commit_now=True)
        except StoreError as exc:
            raise WorkflowError("store_failed", f"The {what} could not be saved. Try again.",
                                status=503) from exc

    def _restore(self, row: DeliveryRow) -> Delivery:
        data = row.data
        delivery = Delivery(row.id, row.station, row.opened_at,
                            tuple(data.get("orders") or ()), data.get("supplier_identifier"),
                            data.get("supplier_invoice_number"),
                            bool(data.get("accept_on_arrival")), data.get("operator"),
                            state=row.state, event_ids=list(data.get("event_ids") or ()))
        for tag_row in self.store.acquisitions.delivery_tags(row.id):
            copy = (self.store.acquisitions.expected_copy(tag_row.primary_item_id)
                    if tag_row.primary_item_id else None)
            uid = Uid.from_text(tag_row.uid)
            delivery.tags[uid] = DeliveryTag(
                uid, Outcome(tag_row.outcome), SupplierData.from_json(tag_row.data), copy,
                tag_row.data.get("reason"), tag_row.programmed,
                int(tag_row.data.get("attempts") or 0), tag_row.data.get("error"))
        return delivery


# --- helpers -----------------------------------------------------------------------------------

def _fits(value: str) -> bool:
    """Whether a supplier's value fits the contract's text (1-64 characters)."""
    return 0 < len(value) <= SUPPLY_TEXT_MAX


def _fit(value: str | None) -> str | None:
    """A tag's value for an event: None when it does not fit (the delivery's own record keeps
    it whole)."""
    return value if value is not None and _fits(value) else None


def _first(values: Any) -> str | None:
    return next((v for v in values if v), None)


def _orders(orders: Sequence[str]) -> tuple[str, ...]:
    if len(orders) > MAX_ORDERS_IN_EVENT:
        raise WorkflowError("invalid_request", f"{len(orders)} orders; a delivery names at "
                            f"most {MAX_ORDERS_IN_EVENT}", status=422, field="orders")
    for index, order in enumerate(orders):
        if not _fits(order):
            raise WorkflowError("invalid_request", f"orders[{index}]: 1-{SUPPLY_TEXT_MAX} "
                                "characters", status=422, field=f"orders[{index}]")
    return tuple(dict.fromkeys(orders))
