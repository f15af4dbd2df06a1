# SPDX-License-Identifier: Apache-2.0
"""The demo's props: tagged books, blank tags, a 3M-tagged book, another library's book (for the
kiosk's "take it to the desk" and for interlibrary loan), two new books as a supplier tagged
them (for acquisitions receiving) and a patron's library card, which a person moves between the
shelf, the kiosk pad, the staff pad and the gate (the staff page's demo controls,
``/api/v1/demo``).

Contract:
- Each prop is one physical item with its virtual ISO 15693 tags (a two-part set has two). It
  is in exactly one place: ``shelf`` (in no reader's field), ``pad``, ``staff``, ``gate`` (in
  that reader's simulated field) or ``outside`` (it was walked out through the gate).
- ``place(prop, "gate")`` is a walk through the door: the tags enter the gate's field and leave
  it ``WALK_S`` later; the prop is then ``outside``. Moving it elsewhere first cancels the walk.
- Tags keep their memory and AFI when they move: what the kiosk or the staff station wrote goes
  with the item, as it does in a library.
- ``fail_writes(prop)``: from then on the kiosk pad answers every security write (AFI, NXP EAS)
  to the prop's tags with ISO 15693 error 0x12 "block locked", as a tag with a locked AFI does;
  the staff pad still writes it. It lasts until the demo stops (the field keeps no undo).
- Unknown props raise ``LookupError``, unknown places ``ValueError``; nothing moves then.

Not responsible for: reading tags or deciding anything about them (the daemon's readers and
workflows do that through the simulated readers, exactly as with real ones).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_service.ils import SimData
from firmware_bridge.simulator import Fault, FaultKind, RfField, VirtualTag, load_scenario
from protocols.iso15693 import Command, Uid
from protocols.iso28560 import LibraryTag, TagModel, encode_tag

__all__ = ["FIELDS", "PLACES", "WALK_S", "DemoProps", "Prop"]

FIELDS = ("pad", "staff", "gate")
"""The places that are a reader's field; the demo names its readers the same."""
PLACES = ("shelf", *FIELDS, "outside")
WALK_S = 2.0
BEAMS = ((1, True), (2, True), (1, False), (2, False))
"""A person walking out through the gate's light barriers (input 1 inside, 2 outside)."""
BEAM_TIMES_S = (0.2, 0.6, 1.0, 1.4)
"""When each beam changes during the walk: each step lasts several of the gate's 0.1 s input
polls, so the order (the direction) is seen."""
"""How long a walking patron's items stay in the gate's field: several gate inventories
(every 100 ms) see them, as on a real pedestal."""
MEMORY_BYTES = 28 * 4
"""An NXP ICODE SLIX: 28 blocks of 4 bytes, the common library label."""
SECURED_AFI = 0x07
"""ISO 28560 "secured" AFI (the demo's security scheme is ``iso``)."""
THREE_M_SECURED_AFI = 0xD7
"""What a 3M system writes for "secured": kept across a conversion by the staff station."""
ISIL = "DK-718500"
"""The sample catalogue's library."""
SECURITY_WRITES = (Command.WRITE_AFI, Command.SET_EAS, Command.RESET_EAS)

BOOKS = ("5012345601", "5012345602", "5012345603", "5012345604", "5012345605",
         "5012345606", "5012345607", "5012345608")
"""Sample catalogue items labelled in the library's own model (ISO 28560-2), secured."""
SET_ITEM = "5012345622"
"""A two-part set (book and CD) in the sample catalogue."""
FOREIGN_ITEM = "7750000001"
"""Another library's item (DK-775100): the kiosk sends it to the desk."""
THREE_M_ITEM = "5012345609"
"""Labelled by an old 3M system (RFID501, no owner on the tag): for the staff station."""
BLANK_TAGS = 4
SUPPLIER = "BTJ"
SUPPLIER_ORDER = "PO-2026-0815"
SUPPLIER_INVOICE = "INV-77812"
SUPPLIER_GS1 = "9788702173055"
"""A supplier's delivery: two copies of one order line (the GS1 product id of the book), tagged
by the supplier in the acquisition stage with no item id of the library's yet. The operator
guide (section 10) gives the order lines to import for them."""
SUPPLIER_COPIES = 2
SUPPLY_CHAIN_STAGE = 3
"""The ISO 28560-1 supply chain stage code the supplier's tags carry (shown as it is read)."""
ACQUISITION_AUTOMATED = 0x01
"""ISO 28560-1 type of usage: acquisition item, for automated process (Annex C)."""
PATRON_CARD = "2000000002"
"""The sample catalogue's patron whose library card (an RFID card) the demo has."""
PATRON_CARD_USAGE = 0x80
"""ISO 28560-1 type of usage, high nibble 8: a patron card, so the kiosk reads it as a card."""
NOT_SECURED_AFI = 0xC2


@dataclass(slots=True)
class Prop:
    """One thing a person can move; ``place`` changes, the rest does not."""

    id: str
    kind: str
    """``book``, ``set``, ``foreign``, ``3m``, ``supplier``, ``blank`` or ``card`` (a
    patron's)."""
    label: str
    barcode: str | None
    title: str | None
    tags: tuple[VirtualTag, ...]
    place: str = "shelf"
    writes_fail: bool = False
    walk: asyncio.TimerHandle | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "barcode": self.barcode,
                "title": self.title, "place": self.place, "writes_fail": self.writes_fail,
                "uids": [str(tag.uid) for tag in self.tags]}


def _uid(barcode: str, part: int = 1) -> str:
    # E0 04 01 = NXP; the rest spells the barcode, so a tag's UID says which book it is on.
    return f"E00401{part:02X}{int(barcode) % 2**32:08X}"


def _tag(uid: str, tag: LibraryTag | None, afi: int) -> VirtualTag:
    spec: dict[str, Any] = {"uid": uid, "afi": f"{afi:02X}"}
    if tag is not None:
        image = encode_tag(tag, size=MEMORY_BYTES).image
        assert image is not None  # encode_tag always builds an image for HF models
        spec |= {"memory": image.memory.hex(), "dsfid": f"{image.dsfid or 0:02X}"}
    return load_scenario({"tags": [spec]}).tags[0].build()


def _library_tag(barcode: str, owner: str, part: int | None = None,
                 total: int | None = None) -> LibraryTag:
    return LibraryTag(TagModel.PART2, primary_item_id=barcode, owner_institution=owner,
                      set_part=part, set_total=total, type_of_usage=0x10)


def sample_props(catalog: SimData) -> list[Prop]:
    """The demo's props, titled from the ILS simulator's ``catalog``."""
    def title(barcode: str) -> str:
        return catalog.items[barcode].title

    def owner(barcode: str) -> str:
        return catalog.items[barcode].owner

    props = [Prop(f"book-{b}", "book", f"{title(b)} ({b})", b, title(b),
                  (_tag(_uid(b), _library_tag(b, owner(b)), SECURED_AFI),)) for b in BOOKS]
    props.append(Prop(
        f"set-{SET_ITEM}", "set", f"{title(SET_ITEM)} ({SET_ITEM}, 2 parts)", SET_ITEM,
        title(SET_ITEM), tuple(_tag(_uid(SET_ITEM, part), _library_tag(SET_ITEM,
                                                                      owner(SET_ITEM), part, 2),
                                    SECURED_AFI) for part in (1, 2))))
    props.append(Prop(
        f"foreign-{FOREIGN_ITEM}", "foreign", f"{title(FOREIGN_ITEM)} ({FOREIGN_ITEM}, "
        f"{owner(FOREIGN_ITEM)})", FOREIGN_ITEM, title(FOREIGN_ITEM),
        (_tag(_uid(FOREIGN_ITEM), _library_tag(FOREIGN_ITEM, owner(FOREIGN_ITEM)),
              SECURED_AFI),)))
    three_m = LibraryTag(TagModel.LEGACY_3M, primary_item_id=THREE_M_ITEM)
    props.append(Prop(f"3m-{THREE_M_ITEM}", "3m", f"{title(THREE_M_ITEM)} ({THREE_M_ITEM}, "
                      "3M label)", THREE_M_ITEM, title(THREE_M_ITEM),
                      (_tag(_uid(THREE_M_ITEM), three_m, THREE_M_SECURED_AFI),)))
    props.extend(_supplier_prop(n) for n in range(1, SUPPLIER_COPIES + 1))
    card = LibraryTag(TagModel.PART2, primary_item_id=PATRON_CARD, owner_institution=ISIL,
                      type_of_usage=PATRON_CARD_USAGE)
    props.append(Prop(f"card-{PATRON_CARD}", "card",
                      f"Library card of {catalog.patrons[PATRON_CARD].name}", None, None,
                      (_tag(_uid(PATRON_CARD), card, NOT_SECURED_AFI),)))
    props.extend(Prop(f"blank-{n}", "blank", f"Blank label {n}", None, None,
                      (_tag(f"E0040150BB{n:06X}", None, 0x00),))
                 for n in range(1, BLANK_TAGS + 1))
    return props


def _supplier_prop(number: int) -> Prop:
    """A new book as the supplier delivers it: ISO 28560-2, unsecured, the supplier's
    acquisition elements and no item id (the library's data is written when it is received)."""
    tag = LibraryTag(TagModel.PART2, supplier_identifier=SUPPLIER, order_number=SUPPLIER_ORDER,
                     supplier_invoice_number=SUPPLIER_INVOICE,
                     supply_chain_stage=SUPPLY_CHAIN_STAGE,
                     gs1_product_identifier=SUPPLIER_GS1, type_of_usage=ACQUISITION_AUTOMATED)
    return Prop(f"supplier-{number}", "supplier",
                f"New book from {SUPPLIER}, order {SUPPLIER_ORDER} ({number} of "
                f"{SUPPLIER_COPIES})", None, None,
                (_tag(f"E0040150AC{number:06X}", tag, NOT_SECURED_AFI),))


class DemoProps:
    """The props and the three simulated fields; see the module docstring."""

    def __init__(self, props: Iterable[Prop], fields: Mapping[str, RfField] | None = None
                 ) -> None:
        self.fields = dict(fields) if fields is not None else {f: RfField() for f in FIELDS}
        missing = [f for f in FIELDS if f not in self.fields]
        if missing:
            raise ValueError(f"demo fields missing: {', '.join(missing)}")
        self._props = {prop.id: prop for prop in props}
        self.front_ends: dict[str, Any] = {}
        """The simulated readers' front-ends by field, once served (the gate's has inputs)."""

    def objects(self) -> list[dict[str, Any]]:
        return [prop.to_json() for prop in self._props.values()]

    def prop(self, prop_id: str) -> Prop:
        try:
            return self._props[prop_id]
        except KeyError:
            raise LookupError(f"no demo object {prop_id!r}") from None

    def place(self, prop_id: str, place: str) -> dict[str, Any]:
        """Move a prop (``gate``: walk it through); see the module docstring."""
        if place not in PLACES:
            raise ValueError(f"place must be one of {', '.join(PLACES)}, not {place!r}")
        prop = self.prop(prop_id)
        self._move(prop, place)
        if place == "gate":
            loop = asyncio.get_running_loop()
            prop.walk = loop.call_later(WALK_S, self._walked_out, prop)
            self._break_beams(loop)
        return prop.to_json()

    def _break_beams(self, loop: asyncio.AbstractEventLoop) -> None:
        """The walker passes the gate's light barriers, inside beam first (leaving), so the
        gate counts a person going out."""
        gate = self.front_ends.get("gate")
        set_input = getattr(gate, "set_input", None)
        if set_input is None:
            return
        for delay_s, (beam, broken) in zip(BEAM_TIMES_S, BEAMS, strict=True):
            loop.call_later(delay_s, set_input, beam, broken)

    def fail_writes(self, prop_id: str) -> dict[str, Any]:
        """The kiosk pad refuses security writes to this prop from now on."""
        prop = self.prop(prop_id)
        if not prop.writes_fail:
            for tag in prop.tags:
                for command in SECURITY_WRITES:
                    self.fields["pad"].inject(Fault(FaultKind.LOCKED_BLOCK, uid=tag.uid,
                                                    command=command))
            prop.writes_fail = True
        return prop.to_json()

    def tag(self, uid: Uid) -> VirtualTag:
        """A prop's tag by UID (what a test looks at after the daemon wrote it)."""
        for prop in self._props.values():
            for tag in prop.tags:
                if tag.uid == uid:
                    return tag
        raise LookupError(f"no demo tag {uid}")

    def _move(self, prop: Prop, place: str) -> None:
        if prop.walk is not None:
            prop.walk.cancel()
            prop.walk = None
        old = self.fields.get(prop.place)
        if old is not None:
            present = {tag.uid for tag in old.present}
            for tag in prop.tags:
                if tag.uid in present:
                    old.remove(tag.uid)
        new = self.fields.get(place)
        if new is not None:
            for tag in prop.tags:
                new.add(tag)
        prop.place = place

    def _walked_out(self, prop: Prop) -> None:
        prop.walk = None
        if prop.place == "gate":
            self._move(prop, "outside")
