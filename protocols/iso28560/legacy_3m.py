# SPDX-License-Identifier: Apache-2.0
"""3M "RFID 501" (3M alphanumeric) tags: the pre-ISO layout met when converting old stock.

Contract: ``decode(memory) -> LibraryTag`` (model ``LEGACY_3M``) and
``encode(tag) -> TagImage``; blank and signature checks for ``detect()``. Decoders raise only
:class:`~protocols.errors.TagFormatError`.

Layout (Biblio-RFID ``RFID501.pm`` and its tests; 4-byte blocks)::

    block 0   04 ss 00 tt   constant 0x04, set (part high nibble, total low nibble), 0x00, item type
    block 1-4 16 bytes      barcode, ASCII, NUL padded
    block 5   bb bl ll ll   branch (12 bits) then library (20 bits), big-endian
    block 6   cc cc cc cc   custom value, signed 32-bit big-endian
    block 7   00 00 00 00

Mapping to :class:`LibraryTag`: the barcode is the primary item identifier; the set nibbles are
set part and total (note: part first, the reverse of part 3). Values with no ISO 28560-1 home
go to ``vendor_data``: ``3m_item_type``, ``3m_branch``, ``3m_library``, ``3m_custom`` (always
all four). The item type also sets ``media_format`` where the meaning is the same: 1 book ->
1 book, 4 audio tape -> 3 magnetic tape, 6 CD/CD-ROM -> 2 CD/DVD; the others (magazine,
video, book with CD, ...) have no exact ISO code and leave it absent. A set byte with a zero
nibble or part above total decodes as no set information, with a warning, and keeps the byte as
``3m_set`` so that it re-encodes unchanged.

Not responsible for: the security state (3M uses AFI 0xD7 secured / 0xDA unsecured, outside
user memory), or converting to an ISO model (``convert`` decides what to carry over).
"""

from __future__ import annotations

import struct

from protocols.errors import TagFormatError
from protocols.iso28560.model import LibraryTag, TagImage, TagModel

# Biblio-RFID RFID501.pm: blocks 0-6; block 7 is 0x00 and carries nothing.
RFID501 = struct.Struct(
    ">"      # block 5 and 6 are big-endian
    "B"      # 0      constant 0x04
    "B"      # 1      set: part in item (bits 7-4), items in set (bits 3-0)
    "B"      # 2      constant 0x00
    "B"      # 3      item type
    "16s"    # 4-19   barcode, ASCII, NUL padded
    "I"      # 20-23  branch (bits 31-20) | library (bits 19-0)
    "i"      # 24-27  custom, signed
)
MARKER = 0x04
RESERVED = 0x00
BARCODE_OFFSET = 4
BARCODE_SIZE = 16
BRANCH_BITS = 12
LIBRARY_BITS = 20
LIBRARY_MASK = (1 << LIBRARY_BITS) - 1
DATA_SIZE = RFID501.size          # 28 bytes, blocks 0-6
BLOCK_SIZE = 4
DEFAULT_SIZE = 32                 # blocks 0-7
BLANK_FILL = 0x55                 # 3M factory blank: blocks 0-5

# 3M item type -> ISO 28560-1 media format, only where the meaning is the same.
MEDIA_FORMAT_BY_ITEM_TYPE: dict[int, int] = {
    1: 1,    # book -> book
    4: 3,    # audio tape -> magnetic tape
    6: 2,    # CD/CD-ROM -> CD/DVD
}
ITEM_TYPE_BY_MEDIA_FORMAT: dict[int, int] = {v: k for k, v in MEDIA_FORMAT_BY_ITEM_TYPE.items()}
ITEM_TYPE_OTHER = 0

VENDOR_KEYS = ("3m_item_type", "3m_branch", "3m_library", "3m_custom")
SET_KEY = "3m_set"
MAX_SET_TOTAL = 0x0F  # part and total share byte 1, one nibble each

# The only LibraryTag elements this layout can carry.
_CARRIED = frozenset({"primary_item_identifier", "set_information", "media_format"})


def is_factory_blank(memory: bytes) -> bool:
    """Blocks 0-5 all 0x55 and block 6 all 0x00: a tag as 3M ships it."""
    return (
        len(memory) >= DATA_SIZE
        and memory[:24] == bytes([BLANK_FILL]) * 24
        and memory[24:DATA_SIZE] == bytes(4)
    )


def is_zero_blank(memory: bytes) -> bool:
    """Non-empty memory of nothing but 0x00 (a generic blank)."""
    return bool(memory) and not any(memory)


def looks_like_3m(memory: bytes) -> bool:
    """The RFID 501 signature: 0x04, 0x00 at byte 2, and a printable ASCII barcode."""
    if len(memory) < DATA_SIZE or memory[0] != MARKER or memory[2] != RESERVED:
        return False
    barcode = memory[BARCODE_OFFSET:BARCODE_OFFSET + BARCODE_SIZE].rstrip(b"\x00")
    return bool(barcode) and all(0x20 <= byte < 0x7F for byte in barcode)


def decode(memory: bytes) -> LibraryTag:
    """Decode an RFID 501 image (28 bytes or more; bytes after block 6 are not data)."""
    memory = bytes(memory)
    if len(memory) < DATA_SIZE:
        raise TagFormatError(
            f"a 3M RFID 501 tag needs {DATA_SIZE} bytes (blocks 0-6), got {len(memory)}",
            offset=len(memory),
        )
    marker, set_byte, reserved, item_type, barcode_field, location, custom = RFID501.unpack_from(
        memory
    )
    if marker != MARKER:
        raise TagFormatError(f"byte 0 is {marker:02X}, not the 3M marker 04", offset=0)
    if reserved != RESERVED:
        raise TagFormatError(f"byte 2 is {reserved:02X}, not 00", offset=2)

    barcode = barcode_field.rstrip(b"\x00")
    for index, byte in enumerate(barcode):
        if not 0x20 <= byte < 0x7F:
            raise TagFormatError(
                f"barcode byte {byte:02X} is not printable ASCII", offset=BARCODE_OFFSET + index
            )

    warnings: list[str] = []
    vendor: list[tuple[str, int | str]] = [
        ("3m_item_type", item_type),
        ("3m_branch", location >> LIBRARY_BITS),
        ("3m_library", location & LIBRARY_MASK),
        ("3m_custom", custom),
    ]
    part, total = set_byte >> 4, set_byte & 0x0F
    if not 1 <= part <= total:
        warnings.append(
            f"at byte 1: set {set_byte:02X} means part {part} of {total}, which is impossible; "
            "treated as absent"
        )
        vendor.append((SET_KEY, set_byte))
        part = total = 0
    return LibraryTag(
        model=TagModel.LEGACY_3M,
        primary_item_id=barcode.decode("ascii") or None,
        set_total=total or None,
        set_part=part or None,
        media_format=MEDIA_FORMAT_BY_ITEM_TYPE.get(item_type),
        vendor_data=tuple(vendor),
        warnings=tuple(warnings),
        raw=memory,
    )


def encode(tag: LibraryTag, *, size: int = DEFAULT_SIZE) -> TagImage:
    """Encode ``tag`` in the RFID 501 layout; zero-filled to ``size`` bytes, nothing locked.

    3M values come from ``vendor_data`` (0 when missing). Without ``3m_item_type`` the item
    type follows the media format (book, magnetic tape, CD/DVD) or is 0, "other".
    """
    if size < DATA_SIZE:
        raise TagFormatError(f"a 3M RFID 501 image needs {DATA_SIZE} bytes, the tag holds {size}")
    extra = sorted(set(tag.elements()) - _CARRIED)
    if extra:
        raise TagFormatError(f"the 3M RFID 501 layout has no place for {', '.join(extra)}")
    if tag.unknown_data:
        raise TagFormatError(
            f"unknown data of kind {tag.unknown_data[0].kind!r} has no place in a 3M image"
        )

    barcode_text = tag.primary_item_id or ""
    if len(barcode_text) > BARCODE_SIZE or not all(" " <= ch <= "~" for ch in barcode_text):
        raise TagFormatError(
            f"barcode {tag.primary_item_id!r} must be at most {BARCODE_SIZE} printable ASCII "
            "characters"
        )

    item_type = _vendor_int(tag, "3m_item_type", 0, 0xFF)
    if tag.media_format is not None:
        if tag.vendor("3m_item_type") is None:
            if tag.media_format not in ITEM_TYPE_BY_MEDIA_FORMAT and tag.media_format != 0:
                known = ", ".join(str(m) for m in sorted(ITEM_TYPE_BY_MEDIA_FORMAT))
                raise TagFormatError(
                    f"media format {tag.media_format} has no 3M item type "
                    f"(3M carries media formats {known}, and 0 as 'other')"
                )
            item_type = ITEM_TYPE_BY_MEDIA_FORMAT.get(tag.media_format, ITEM_TYPE_OTHER)
        elif MEDIA_FORMAT_BY_ITEM_TYPE.get(item_type) != tag.media_format:
            raise TagFormatError(
                f"media format {tag.media_format} contradicts 3M item type {item_type}"
            )
    branch = _vendor_int(tag, "3m_branch", 0, (1 << BRANCH_BITS) - 1)
    library = _vendor_int(tag, "3m_library", 0, LIBRARY_MASK)
    custom = _vendor_int(tag, "3m_custom", -(1 << 31), (1 << 31) - 1)

    if tag.set_total is not None and tag.set_part is not None:
        if tag.set_total > MAX_SET_TOTAL:
            raise TagFormatError(
                f"set of {tag.set_total} parts does not fit the 3M set nibble (at most 15)"
            )
        set_byte = tag.set_part << 4 | tag.set_total
    else:
        set_byte = _vendor_int(tag, SET_KEY, 0, 0xFF) if tag.vendor(SET_KEY) is not None else 0x11

    memory = RFID501.pack(
        MARKER, set_byte, RESERVED, item_type, barcode_text.encode("ascii"),
        branch << LIBRARY_BITS | library, custom,
    )
    return TagImage(memory=memory.ljust(size, b"\x00"), block_size=BLOCK_SIZE)


def _vendor_int(tag: LibraryTag, key: str, low: int, high: int) -> int:
    value = tag.vendor(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise TagFormatError(f"vendor value {key}={value!r} is not an integer in {low}..{high}")
    return value
