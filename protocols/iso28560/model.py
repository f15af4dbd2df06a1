# SPDX-License-Identifier: Apache-2.0
"""The model-independent view of a library tag.

Every decoder (part 2, part 3, part 4, legacy 3M) returns a :class:`LibraryTag`; every encoder
takes one. The dataclass carries each ISO 28560-1 data element by name, plus which encoding it
came from (``model``), the raw bytes, data with no ISO 28560-1 home (``vendor_data``), data the
decoder did not understand but kept verbatim (``unknown_data``) and the corrections a lenient
decoder made (``warnings``).

Not responsible for: reading tags, security (AFI/EAS live outside user memory), or choosing an
encoding; see :mod:`protocols.iso28560.detect` and :mod:`protocols.iso28560.convert`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from protocols.errors import TagFormatError
from protocols.iso28560.elements import BY_OID, ELEMENTS, ValueKind


class TagModel(StrEnum):
    """Which encoding a memory image uses. The values are the JSON/CLI names."""

    PART2 = "iso28560-2"
    PART3 = "iso28560-3"
    PART4 = "iso28560-4"
    LEGACY_3M = "3m"
    BLANK = "blank"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class UnknownData:
    """Bytes a decoder could not interpret, kept so that nothing is lost on re-encode.

    ``kind`` says what it was (``"part3-extension-block"``, ``"part2-element"``), ``key`` its
    identifier (block id, relative OID), ``data`` the bytes exactly as found. ``compaction`` is
    the compaction code of a part-2 element (its compacted data is ``data``), ``None`` for other
    kinds; an encoder needs it to write the element back verbatim.
    """

    kind: str
    key: int
    data: bytes
    compaction: int | None = None


@dataclass(frozen=True, slots=True)
class LibraryTag:
    """One library tag's data, whatever encoding it came from (ISO 28560-1 elements by name)."""

    model: TagModel
    primary_item_id: str | None = None                    # OID 1
    owner_institution: str | None = None                  # OID 3
    set_total: int | None = None                          # OID 4, number of parts in item
    set_part: int | None = None                           # OID 4, ordinal part number
    type_of_usage: int | None = None                      # OID 5, one byte, class << 4 | sub
    shelf_location: str | None = None                     # OID 6
    onix_media_format: str | None = None                  # OID 7
    marc_media_format: str | None = None                  # OID 8
    supplier_identifier: str | None = None                # OID 9
    order_number: str | None = None                       # OID 10
    ill_borrowing_institution: str | None = None          # OID 11
    ill_borrowing_transaction_number: str | None = None   # OID 12
    gs1_product_identifier: str | None = None             # OID 13
    alternative_unique_item_identifier: str | None = None  # OID 14
    local_data_a: str | None = None                       # OID 15
    local_data_b: str | None = None                       # OID 16
    title: str | None = None                              # OID 17
    product_identifier_local: str | None = None           # OID 18
    media_format: int | None = None                       # OID 19
    supply_chain_stage: int | None = None                 # OID 20
    supplier_invoice_number: str | None = None            # OID 21
    alternative_item_identifier: str | None = None        # OID 22
    alternative_owner_institution: str | None = None      # OID 23
    subsidiary_of_owner_institution: str | None = None    # OID 24
    alternative_ill_borrowing_institution: str | None = None  # OID 25
    local_data_c: str | None = None                       # OID 26
    unique_item_identifier: str | None = None             # OID 0 (ISO 28560-4 only)
    vendor_data: tuple[tuple[str, int | str], ...] = ()
    unknown_data: tuple[UnknownData, ...] = ()
    warnings: tuple[str, ...] = ()
    raw: bytes = field(default=b"", compare=False)

    def __post_init__(self) -> None:
        if (self.set_total is None) != (self.set_part is None):
            raise TagFormatError("set information needs both set_total and set_part")
        if (
            self.set_total is not None
            and self.set_part is not None
            and not 1 <= self.set_part <= self.set_total <= 255
        ):
            raise TagFormatError(
                f"set information part {self.set_part} of {self.set_total} is not "
                "1 <= part <= total <= 255"
            )
        for name in ("type_of_usage", "media_format", "supply_chain_stage"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 0xFF:
                raise TagFormatError(f"{name} {value} is not one byte (0-255)")

    @property
    def set_information(self) -> str | None:
        """Set information as ISO 28560-1 writes it: total then part, same width ("1203")."""
        if self.set_total is None or self.set_part is None:
            return None
        width = len(str(self.set_total))
        return f"{self.set_total}{self.set_part:0{width}d}"

    def elements(self) -> dict[str, str | int]:
        """Every element present, keyed by its snake_case ISO 28560-1 name, in OID order."""
        out: dict[str, str | int] = {}
        for spec in ELEMENTS:
            if spec.kind is ValueKind.BITMAP:
                continue
            value = getattr(self, spec.attribute)
            if value is not None:
                out[spec.name] = value
        return out

    def vendor(self, key: str) -> int | str | None:
        """A model-specific value with no ISO 28560-1 home (e.g. the 3M item type)."""
        return dict(self.vendor_data).get(key)

    def with_model(self, model: TagModel, **changes: Any) -> LibraryTag:
        """The same data, tagged as another model (used by encoders' round trips)."""
        return replace(self, model=model, **changes)


ELEMENT_ATTRIBUTES: frozenset[str] = frozenset(
    f.name for f in fields(LibraryTag)
) - {"model", "vendor_data", "unknown_data", "warnings", "raw", "set_total", "set_part"}


def parse_set_information(text: str, *, offset: int | None = None) -> tuple[int, int]:
    """Split ISO 28560-1 set information ("1203" -> 12 parts, part 3) into (total, part)."""
    if not text.isdigit() or len(text) % 2 or not 2 <= len(text) <= 6:
        raise TagFormatError(f"set information {text!r} is not 2, 4 or 6 digits", offset=offset)
    half = len(text) // 2
    total, part = int(text[:half]), int(text[half:])
    if not 1 <= part <= total <= 255:
        raise TagFormatError(
            f"set information {text!r} means part {part} of {total}, which is impossible",
            offset=offset,
        )
    return total, part


def element_name(oid: int) -> str:
    """The ISO 28560-1 name of a relative OID, or ``reserved_<oid>``."""
    spec = BY_OID.get(oid)
    return spec.name if spec else f"reserved_{oid}"


@dataclass(frozen=True, slots=True)
class TagImage:
    """An encoder's output: the user-memory image, the blocks to lock after writing it, and the
    DSFID to write into system memory (``None``: leave it; part 2 uses 0x06)."""

    memory: bytes
    block_size: int
    locked_blocks: tuple[int, ...] = ()
    dsfid: int | None = None

    def lock_map(self) -> str:
        """One character per block, ``l`` = lock, ``.`` = leave writable ("ll....lll")."""
        count = -(-len(self.memory) // self.block_size)
        locked = set(self.locked_blocks)
        return "".join("l" if i in locked else "." for i in range(count))
