# SPDX-License-Identifier: Apache-2.0
"""Real parts for the technical services' tests (receiving, ILL, campaigns): the staff rig of
``rig.py`` (a simulated FEIG desk pad on a real pty, the daemon's supervisor and driver, a real
SQLite store) with a :class:`StaffStation` and its :class:`TechnicalServices`.

Scenario tags are built with the project's own encoders: ``supplier_tag`` (an item as a
supplier delivers it: acquisition stage, supplier, order and invoice numbers, GS1 product id),
``foreign_tag`` (another library's item, part 2 or 3), ``legacy_3m_tag``. What a test checks on
a tag is the simulated tag's memory decoded afresh (``Station.memory``), never the station's
own view, and every event is decoded from what the outbox holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_service.config import LibraryConfig, NodeConfig
from edge_service.workflows import LiveEvents
from edge_service.workflows.services import TechnicalServices
from edge_service.workflows.staff import StaffStation
from firmware_bridge import SECURITY_PRESETS
from protocols.contract import Event, decode_event
from protocols.iso15693 import Uid
from protocols.iso28560 import LibraryTag, TagModel, decode_any, encode_tag, legacy_3m
from tests.workflows.rig import MEMORY_BYTES, OWNER, Rig, pad_rig

NODE = NodeConfig(tenant="DK-718500", site="main", node="staff-1", mode="staff")
SUPPLIER = "BTJ"
ACQUISITION_AUTOMATED = 0x01
"""ISO 28560-1 type of usage: acquisition item, for automated process (Annex C)."""


def supplier_uid(number: int) -> Uid:
    return Uid.from_text(f"E0040150A0{number:06X}")


def supplier_tag(number: int, *, order: str, gs1: str | None = None,
                 invoice: str | None = "INV-77812", stage: int | None = 3,
                 primary_item_id: str | None = None, model: TagModel = TagModel.PART2,
                 locked: tuple[int, ...] = ()) -> dict[str, Any]:
    """A supplier-tagged item (acquisition stage), unsecured as it comes from the supplier."""
    tag = LibraryTag(model, primary_item_id=primary_item_id, supplier_identifier=SUPPLIER,
                     order_number=order, supplier_invoice_number=invoice,
                     supply_chain_stage=stage, gs1_product_identifier=gs1,
                     type_of_usage=ACQUISITION_AUTOMATED)
    image = encode_tag(tag, size=MEMORY_BYTES).image
    assert image is not None
    return {"uid": str(supplier_uid(number)), "memory": image.memory.hex(), "afi": "C2",
            "dsfid": f"{image.dsfid or 0:02X}", "locked": list(locked)}


def foreign_uid(number: int) -> Uid:
    return Uid.from_text(f"E0040150F0{number:06X}")


def foreign_tag(number: int, *, owner: str = "DE-705", model: TagModel = TagModel.PART3,
                lock_plan: bool = False, afi: str = "07") -> dict[str, Any]:
    """Another library's item; ``lock_plan``: its blocks locked as the model's plan says (the
    owner's PII and ISIL locked, as ISO 28560-2 recommends)."""
    tag = LibraryTag(model, primary_item_id=f"5{number:09d}", owner_institution=owner,
                     type_of_usage=0x10)
    image = encode_tag(tag, size=MEMORY_BYTES).image
    assert image is not None
    return {"uid": str(foreign_uid(number)), "memory": image.memory.hex(), "afi": afi,
            "dsfid": f"{image.dsfid or 0:02X}",
            "locked": list(image.locked_blocks) if lock_plan else []}


def legacy_uid(number: int) -> Uid:
    return Uid.from_text(f"E00401503A{number:06X}")


def legacy_3m_tag(number: int, *, afi: str = "D7") -> dict[str, Any]:
    image = legacy_3m.encode(LibraryTag(TagModel.LEGACY_3M, primary_item_id=f"13020{number:05d}",
                                        media_format=1))
    return {"uid": str(legacy_uid(number)), "memory": image.memory.hex(), "afi": afi}


@dataclass
class Station:
    rig: Rig
    station: StaffStation
    services: TechnicalServices
    live: LiveEvents

    def memory(self, uid: Uid) -> LibraryTag:
        """The simulated tag's memory decoded afresh, with its DSFID."""
        tag = self.rig.field.tag(uid)
        return decode_any(bytes(tag.memory), dsfid=tag.dsfid)

    def raw(self, uid: Uid) -> bytes:
        return bytes(self.rig.field.tag(uid).memory)

    def events(self, type_: str | None = None) -> list[Event]:
        found = [decode_event(entry.payload) for entry in self.rig.store.outbox.peek(10_000)]
        return [event for event in found if type_ is None or event.type == type_]


@contextlib.asynccontextmanager
async def station(tmp_path: Path, tags: list[dict[str, Any]], *,
                  data_model: str = "iso28560-2", isil: str = OWNER,
                  scheme: str = "iso", poll_interval_ms: int = 50) -> AsyncIterator[Station]:
    """A staff station with its technical services on a simulated desk pad."""
    async with pad_rig(tmp_path, tags, role="staff", name="staff",
                       poll_interval_ms=poll_interval_ms) as rig:
        live = LiveEvents()
        desk = StaffStation(rig.supervisor, rig.store, NODE,
                            LibraryConfig(isil=isil, data_model=data_model),
                            SECURITY_PRESETS[scheme], live)
        services = TechnicalServices.on(desk)
        services.start()
        try:
            yield Station(rig, desk, services, live)
        finally:
            await services.stop()
            await desk.stop()
