# SPDX-License-Identifier: Apache-2.0
"""ISO 28560-1 data element catalogue (relative OIDs 0-31).

The table is data: each row names an element the way the standard does, in snake_case, with the
``LibraryTag`` attribute that carries it, the kind of value, and the lock recommendation.
Sources: ISO 28560-1:2011 clause 4.2 (element list), ISO 28560-2 Table 1 (lock recommendation;
marked as the field notes in shared/reference/iso28560.md §1 record them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ValueKind(Enum):
    """How an element's value is represented in :class:`LibraryTag`."""

    TEXT = "text"          # a string (any compaction in part 2, UTF-8/ASCII in part 3)
    CODE = "code"          # one byte, 0-255 (type of usage, media format, supply chain stage)
    SET = "set"            # set information: set_total and set_part
    ISIL = "isil"          # an ISIL (ISO 15511); part 2 may use the ISIL compaction
    BITMAP = "bitmap"      # the part-2 content parameter; never a LibraryTag attribute


@dataclass(frozen=True, slots=True)
class ElementSpec:
    """One row of the ISO 28560-1 element table."""

    oid: int
    name: str          # snake_case ISO name, also the JSON key
    attribute: str     # LibraryTag attribute (``""`` for the content parameter)
    kind: ValueKind
    lockable: bool     # ISO 28560-2 Table 1 recommends locking is allowed
    spec: str          # one line of the standard's description


ELEMENTS: tuple[ElementSpec, ...] = (
    # oid, ISO name, LibraryTag attribute, kind, lockable, spec text
    ElementSpec(0, "unique_item_identifier", "unique_item_identifier", ValueKind.TEXT, True,
                "UII; only in ISO 28560-4 (UHF EPC/UII bank)"),
    ElementSpec(1, "primary_item_identifier", "primary_item_id", ValueKind.TEXT, True,
                "the library's unique item id, usually the barcode; required for circulation"),
    ElementSpec(2, "content_parameter", "", ValueKind.BITMAP, True,
                "structure of the tag data; part 2: bitmap of OIDs present"),
    ElementSpec(3, "owner_institution", "owner_institution", ValueKind.ISIL, True,
                "ISIL of the owning institution (ISO 15511)"),
    ElementSpec(4, "set_information", "set_information", ValueKind.SET, True,
                "number of parts in item, then ordinal part number"),
    ElementSpec(5, "type_of_usage", "type_of_usage", ValueKind.CODE, False,
                "class qualifier (high nibble) and sub-qualifier (low nibble), Annex C"),
    ElementSpec(6, "shelf_location", "shelf_location", ValueKind.TEXT, False,
                "shelf location, free text"),
    ElementSpec(7, "onix_media_format", "onix_media_format", ValueKind.TEXT, False,
                "ONIX code list 7 value"),
    ElementSpec(8, "marc_media_format", "marc_media_format", ValueKind.TEXT, False,
                "MARC 21 media format"),
    ElementSpec(9, "supplier_identifier", "supplier_identifier", ValueKind.TEXT, False,
                "identifier of the supplier"),
    ElementSpec(10, "order_number", "order_number", ValueKind.TEXT, False,
                "supplier's order number"),
    ElementSpec(11, "ill_borrowing_institution", "ill_borrowing_institution", ValueKind.ISIL,
                False, "ISIL of the interlibrary loan borrowing institution"),
    ElementSpec(12, "ill_borrowing_transaction_number", "ill_borrowing_transaction_number",
                ValueKind.TEXT, False, "interlibrary loan transaction number"),
    ElementSpec(13, "gs1_product_identifier", "gs1_product_identifier", ValueKind.TEXT, True,
                "GS1 GTIN-13, US codes expanded with leading zeros"),
    ElementSpec(14, "alternative_unique_item_identifier", "alternative_unique_item_identifier",
                ValueKind.TEXT, False, "alternative unique item identifier"),
    ElementSpec(15, "local_data_a", "local_data_a", ValueKind.TEXT, False, "local data A"),
    ElementSpec(16, "local_data_b", "local_data_b", ValueKind.TEXT, False, "local data B"),
    ElementSpec(17, "title", "title", ValueKind.TEXT, False,
                "title; UTF-8 compaction if any character is outside ISO 8859-1"),
    ElementSpec(18, "product_identifier_local", "product_identifier_local", ValueKind.TEXT,
                False, "local product identifier"),
    ElementSpec(19, "media_format", "media_format", ValueKind.CODE, False,
                "0 undefined, 1 book, 2 CD/DVD, 3 magnetic tape, 4 other, 5 careful, 6 small"),
    ElementSpec(20, "supply_chain_stage", "supply_chain_stage", ValueKind.CODE, False,
                "supply chain stage code (ISO 28560-1 Table 2)"),
    ElementSpec(21, "supplier_invoice_number", "supplier_invoice_number", ValueKind.TEXT, False,
                "supplier's invoice number"),
    ElementSpec(22, "alternative_item_identifier", "alternative_item_identifier", ValueKind.TEXT,
                False, "alternative item identifier"),
    ElementSpec(23, "alternative_owner_institution", "alternative_owner_institution",
                ValueKind.TEXT, False, "alternative owner institution"),
    ElementSpec(24, "subsidiary_of_owner_institution", "subsidiary_of_owner_institution",
                ValueKind.TEXT, False, "subsidiary (branch) of the owner institution"),
    ElementSpec(25, "alternative_ill_borrowing_institution",
                "alternative_ill_borrowing_institution", ValueKind.TEXT, False,
                "alternative ILL borrowing institution"),
    ElementSpec(26, "local_data_c", "local_data_c", ValueKind.TEXT, False, "local data C"),
)
"""Relative OIDs 27-31 are reserved; decoders keep them as unknown data, verbatim."""

BY_OID: dict[int, ElementSpec] = {e.oid: e for e in ELEMENTS}
BY_NAME: dict[str, ElementSpec] = {e.name: e for e in ELEMENTS}

MAX_RELATIVE_OID = 31
