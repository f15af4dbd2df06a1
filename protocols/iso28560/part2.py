# SPDX-License-Identifier: Apache-2.0
"""ISO 28560-2 (HF tags, ISO/IEC 15962 no-directory encoding): user memory <-> LibraryTag.

User memory holds data sets from block 0, byte 0, ended by a 0x00 precursor or by the end of
memory (shared/reference/iso28560.md §2, "Data-set layout"):

    field             present when          content
    precursor         always                bit 7 offset flag, bits 6-4 compaction code,
                                            bits 3-0 relative OID 1-14, or 0xF = escape
    relative-OID      OID nibble = 0xF      OID - 15 (title, OID 17: 7F 02)
    offset            offset flag set       number of 0x00 pad bytes after the data
    length            always                number of compacted data bytes, one byte
    compacted data    always                `length` bytes
    pad bytes         offset > 0            `offset` bytes of 0x00

When both the escape and the offset flag are set, the relative-OID byte comes first and the
offset byte second (dp2's order since 2019; the standard's order is unconfirmed, so the decoder
warns and the encoder avoids padding an OID >= 15 element when another can take the padding).

Decoding rules:
* The primary item identifier (OID 1), when present, is the first data set; the content
  parameter (OID 2, compaction 0, bitmap MSB first, bit n = OID n+3) is the first, or the second
  after the PII. Anything else is a TagFormatError, as are OID 0, truncation, a length past the
  end, non-zero pad bytes and compacted data a scheme cannot have produced.
* Warnings (``LibraryTag.warnings``), the tag still decodes: a content parameter that disagrees
  with the elements present (trailing 0x00 bitmap bytes are fine), no content parameter beside
  other elements, a duplicate element (the first one is kept: it is the one a reader meets
  first and, in the usual layout, the locked one), escape plus offset flag, an element in
  application-defined compaction 0 other than OIDs 2, 3, 11 and the one-byte codes (kept as
  unknown data), non-zero bytes after the terminator.
* Reserved OIDs 27-31 (and escaped OIDs above 31) become
  ``UnknownData(kind="part2-element", key=oid, data=compacted bytes, compaction=code)``.
* Type of usage, media format and supply chain stage are one byte in compaction 0 or 6
  (writers differ), or an integer-compacted number 0-255; a digit string in another scheme is
  ambiguous (decimal or the two hex digits of ISO 28560-1?) and raises.

Encoding layout (dp2 rule, ISO 28560-2 Annex D): PII first, padded to a block boundary when it
is locked; the content parameter (omitted when the PII is alone); the free elements in OID
order; then the elements to lock, in OID order, starting and ending on block boundaries by offset
padding (on the last element of each run that has no OID escape); then a 0x00 terminator when
room remains. Compaction: ISIL compaction for OIDs 3 and 11, octet for the one-byte codes,
UTF-8 for title and ONIX media format (dp2), otherwise :func:`compaction.choose_compaction`.

Not responsible for: the DSFID (system memory), AFI/EAS, reading or locking blocks, deciding
whether a memory image is part 2 at all (see ``detect``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.errors import TagFormatError
from protocols.iso28560.compaction import (
    INTEGER,
    OCTET,
    SCHEME_NAMES,
    UTF8,
    choose_compaction,
    compact,
    expand,
)
from protocols.iso28560.elements import BY_NAME, BY_OID, ELEMENTS, ValueKind
from protocols.iso28560.isil import compact_isil, expand_isil
from protocols.iso28560.model import (
    LibraryTag,
    TagImage,
    TagModel,
    UnknownData,
    element_name,
    parse_set_information,
)

DEFAULT_LOCK: tuple[str, ...] = ("primary_item_identifier", "owner_institution")
# ISO 28560-2: DSFID 0x06 (access method 0, no directory; data format 6), in system memory.
DSFID = 0x06
UNKNOWN_KIND = "part2-element"
CONTENT_PARAMETER_OID = 2
ESCAPE = 0x0F
# dp2 writes the length as one byte. Whether ISO/IEC 15962 reads 0x80-0xFF as a multi-byte
# length is unconfirmed (reference §2), so the encoder stays below it; the decoder reads one byte.
MAX_DATA_LENGTH = 127
# The relative-OID byte holds OID - 15; from 0x80 up it would start a multi-byte value.
MAX_OID = 15 + 0x7F
_ALWAYS_UTF8 = frozenset({7, 17})  # ONIX media format, title (dp2)
_REVERSED_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


@dataclass(frozen=True, slots=True)
class DataSet:
    """One data set as found in memory: its OID, compaction code and compacted bytes.

    ``offset_pad`` is ``None`` when the precursor's offset flag is clear, else the pad byte
    count; ``position`` the byte offset of the precursor in the memory image.
    """

    oid: int
    compaction: int
    data: bytes
    offset_pad: int | None
    position: int

    @property
    def data_offset(self) -> int:
        """Byte offset of the compacted data in the memory image."""
        return self.position + 2 + (self.oid >= ESCAPE) + (self.offset_pad is not None)


def decode_data_sets(data: bytes, *, base_offset: int = 0) -> tuple[tuple[DataSet, ...], int]:
    """Split ``data`` into data sets; returns them and the index where parsing stopped.

    Stops at a 0x00 precursor (the index is the terminator's) or at the end (``len(data)``).
    ``base_offset`` is added to every reported position (the user bank's DSFID byte, say).
    """
    sets = []
    size = len(data)
    pos = 0
    while pos < size:
        precursor = data[pos]
        if precursor == 0:
            break
        start = pos
        oid = precursor & 0x0F
        pos += 1
        if oid == ESCAPE:
            if pos >= size:
                raise _truncated("relative-OID byte", base_offset + pos)
            if data[pos] >= 0x80:
                raise TagFormatError(
                    f"relative-OID byte 0x{data[pos]:02X} starts a multi-byte OID, which is "
                    "not supported", offset=base_offset + pos,
                )
            oid += data[pos]
            pos += 1
        offset_pad = None
        if precursor & 0x80:
            if pos >= size:
                raise _truncated("offset byte", base_offset + pos)
            offset_pad = data[pos]
            pos += 1
        if pos >= size:
            raise _truncated("length byte", base_offset + pos)
        length = data[pos]
        pos += 1
        end = pos + length
        if end > size:
            raise TagFormatError(
                f"data set of OID {oid} declares {length} data bytes, only {size - pos} remain",
                offset=base_offset + pos - 1,
            )
        value = data[pos:end]
        pos = end
        if offset_pad:
            pos += offset_pad
            if pos > size:
                raise TagFormatError(
                    f"data set of OID {oid} declares {offset_pad} pad bytes, only {size - end} "
                    "remain", offset=base_offset + end,
                )
            if data.count(0, end, pos) != offset_pad:
                bad = next(i for i in range(end, pos) if data[i])
                raise TagFormatError(
                    f"pad byte 0x{data[bad]:02X} of OID {oid} is not 0x00",
                    offset=base_offset + bad,
                )
        sets.append(DataSet(oid, (precursor >> 4) & 7, value, offset_pad, base_offset + start))
    return tuple(sets), pos


def _truncated(what: str, offset: int) -> TagFormatError:
    return TagFormatError(f"memory ends where the data set's {what} should be", offset=offset)


def read_data_sets(
    sets: Sequence[DataSet],
) -> tuple[dict[str, Any], list[UnknownData], list[str]]:
    """LibraryTag keyword values, unknown data and warnings from decoded data sets."""
    values: dict[str, Any] = {}
    unknown: list[UnknownData] = []
    warnings: list[str] = []
    seen: set[int] = set()
    present = 0  # bit oid-3 set for each OID >= 3 found (content-parameter order)
    listed: int | None = None
    cp_slot = 1 if sets and sets[0].oid == 1 else 0
    for index, data_set in enumerate(sets):
        oid = data_set.oid
        if oid >= ESCAPE and data_set.offset_pad is not None:
            warnings.append(
                f"data set at byte {data_set.position} has both the OID escape and the offset "
                "flag; read the relative-OID byte before the offset byte (dp2 order)"
            )
        if oid == 0:
            raise TagFormatError(
                "relative OID 0 (unique item identifier) is not a part-2 data set",
                offset=data_set.position,
            )
        if oid == CONTENT_PARAMETER_OID:
            if listed is not None or index > cp_slot:
                raise TagFormatError(
                    "content parameter must be the first data set, or the second after the "
                    "primary item identifier", offset=data_set.position,
                )
            if data_set.compaction != 0:
                raise TagFormatError(
                    f"content parameter in compaction {data_set.compaction}; it is a bitmap "
                    "in compaction 0", offset=data_set.position,
                )
            listed = _bitmap_to_mask(data_set.data)
            continue
        if oid in seen:
            warnings.append(
                f"duplicate {element_name(oid)} (OID {oid}) at byte {data_set.position}; "
                "kept the first"
            )
            continue
        seen.add(oid)
        if oid == 1:
            if index:
                raise TagFormatError(
                    "primary item identifier must be the first data set",
                    offset=data_set.position,
                )
        else:
            present |= 1 << (oid - 3)
        _read_element(data_set, values, unknown, warnings)
    if listed is None:
        if present:
            warnings.append(
                f"no content parameter, but the tag holds {_oid_names(present)}"
            )
    elif listed != present:
        warnings.append(
            f"content parameter lists {_oid_names(listed) or 'nothing'} but the tag holds "
            f"{_oid_names(present) or 'nothing'}"
        )
    return values, unknown, warnings


def _read_element(
    data_set: DataSet, values: dict[str, Any], unknown: list[UnknownData], warnings: list[str]
) -> None:
    spec = BY_OID.get(data_set.oid)
    compaction = data_set.compaction
    if spec is None:
        unknown.append(UnknownData(UNKNOWN_KIND, data_set.oid, data_set.data, compaction))
        return
    kind = spec.kind
    if kind is ValueKind.CODE:
        values[spec.attribute] = _code_value(data_set, spec.name)
        return
    if compaction == 0 and kind is not ValueKind.ISIL:
        unknown.append(UnknownData(UNKNOWN_KIND, data_set.oid, data_set.data, compaction))
        warnings.append(
            f"{spec.name} at byte {data_set.position} uses application-defined compaction 0; "
            "kept as unknown data"
        )
        return
    offset = data_set.data_offset
    if compaction == 0:
        text = expand_isil(data_set.data, offset=offset)
    else:
        text = expand(data_set.data, compaction, offset=offset)
    if kind is ValueKind.SET:
        values["set_total"], values["set_part"] = parse_set_information(text, offset=offset)
    else:
        values[spec.attribute] = text


def _code_value(data_set: DataSet, name: str) -> int:
    data = data_set.data
    if data_set.compaction in (0, OCTET):
        if len(data) != 1:
            raise TagFormatError(
                f"{name} must be one byte, found {len(data)}", offset=data_set.data_offset
            )
        return data[0]
    if data_set.compaction == INTEGER and data and int.from_bytes(data, "big") <= 0xFF:
        return int.from_bytes(data, "big")
    raise TagFormatError(
        f"{name} in {SCHEME_NAMES[data_set.compaction]} compaction "
        f"({data.hex(' ').upper() or 'no data'}) is not a one-byte code 0-255",
        offset=data_set.data_offset,
    )


def _bitmap_to_mask(bitmap: bytes) -> int:
    mask = 0
    for index, byte in enumerate(bitmap):
        mask |= _REVERSED_BITS[byte] << (8 * index)
    return mask


def _mask_to_bitmap(mask: int) -> bytes:
    return bytes(
        _REVERSED_BITS[(mask >> (8 * index)) & 0xFF] for index in range(-(-mask.bit_length() // 8))
    )


def _oid_names(mask: int) -> str:
    oids = [bit + 3 for bit in range(mask.bit_length()) if mask >> bit & 1]
    return ", ".join(f"{element_name(oid)} ({oid})" for oid in oids)


def trailing_data_warnings(data: bytes, stop: int, *, base_offset: int = 0) -> list[str]:
    """A warning if bytes after the terminator at ``stop`` are not all 0x00 (old data)."""
    if stop < len(data) and data.count(0, stop) != len(data) - stop:
        return [
            f"bytes after the terminator at byte {base_offset + stop} are not all 0x00; ignored"
        ]
    return []


def decode(memory: bytes) -> LibraryTag:
    """The library tag in an ISO 28560-2 user-memory image (block 0 onwards)."""
    memory = bytes(memory)
    sets, stop = decode_data_sets(memory)
    values, unknown, warnings = read_data_sets(sets)
    warnings += trailing_data_warnings(memory, stop)
    return LibraryTag(
        model=TagModel.PART2,
        unknown_data=tuple(unknown),
        warnings=tuple(warnings),
        raw=memory,
        **values,
    )


# --- encoding ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Element:
    """One data set to write: relative OID, compaction code and compacted data."""

    oid: int
    compaction: int
    data: bytes

    @property
    def size(self) -> int:
        """Bytes the data set takes without padding."""
        return 2 + (self.oid >= ESCAPE) + len(self.data)


def elements_to_write(
    tag: LibraryTag, *, isil_compaction: bool, skip: Collection[int] = ()
) -> list[Element]:
    """The tag's elements (OIDs 1 and 3-142, not ``skip``), compacted, in OID order.

    ``isil_compaction`` chooses the ISIL compaction for OIDs 3 and 11 (part 2); otherwise they
    get a text compaction like any other element (the ISO/TS 28560-4 example uses 7-bit).
    Unknown data of kind ``part2-element`` is written back verbatim.
    """
    elements = []
    for spec in ELEMENTS:
        if spec.oid in (0, CONTENT_PARAMETER_OID) or spec.oid in skip:
            continue
        value = getattr(tag, spec.attribute)
        if value is None:
            continue
        if spec.kind is ValueKind.CODE:
            elements.append(Element(spec.oid, OCTET, bytes((value,))))
            continue
        if spec.kind is ValueKind.ISIL and isil_compaction:
            element = Element(spec.oid, 0, compact_isil(value))
        else:
            code = UTF8 if spec.oid in _ALWAYS_UTF8 else choose_compaction(value)
            element = Element(spec.oid, code, compact(value, code))
        _check_length(element, spec.name)
        elements.append(element)
    taken = {element.oid for element in elements}
    for extra in tag.unknown_data:
        if extra.kind != UNKNOWN_KIND:
            raise TagFormatError(
                f"unknown data of kind {extra.kind!r} cannot be written as a part-2 data set"
            )
        compaction = extra.compaction
        if not 3 <= extra.key <= MAX_OID or compaction is None or not 0 <= compaction <= 7:
            raise TagFormatError(
                f"unknown part-2 element OID {extra.key} compaction {compaction} cannot "
                f"be written (OID 3-{MAX_OID}, compaction 0-7)"
            )
        if extra.key in taken or extra.key in skip:
            raise TagFormatError(
                f"unknown part-2 element OID {extra.key} duplicates {element_name(extra.key)}"
            )
        taken.add(extra.key)
        element = Element(extra.key, compaction, extra.data)
        _check_length(element, element_name(extra.key))
        elements.append(element)
    elements.sort(key=lambda element: element.oid)
    return elements


def _check_length(element: Element, name: str) -> None:
    if len(element.data) > MAX_DATA_LENGTH:
        raise TagFormatError(
            f"{name} compacts to {len(element.data)} bytes; a data set holds at most "
            f"{MAX_DATA_LENGTH}"
        )


def lock_oids(names: Iterable[str]) -> frozenset[int]:
    """Relative OIDs of the ISO 28560-1 element names to lock."""
    oids = set()
    for name in names:
        spec = BY_NAME.get(name)
        if spec is None or spec.oid in (0, CONTENT_PARAMETER_OID):
            raise TagFormatError(f"{name!r} is not an element that can be locked")
        oids.add(spec.oid)
    return frozenset(oids)


def layout(
    elements: Sequence[Element], *, locked: Collection[int], block_size: int
) -> tuple[bytes, tuple[int, ...]]:
    """Data sets in the dp2/Annex D order, and the blocks holding elements to lock.

    ``elements`` come from :func:`elements_to_write`; ``locked`` are OIDs. No terminator.
    """
    out = bytearray()
    blocks: list[int] = []
    rest = list(elements)
    if rest and rest[0].oid == 1:
        _write_run(out, [rest.pop(0)], block_size, align_end=1 in locked)
        if 1 in locked:
            blocks.extend(range(len(out) // block_size))
    if not rest:
        return bytes(out), tuple(blocks)
    free = [content_parameter(element.oid for element in rest)]
    free += [element for element in rest if element.oid not in locked]
    group = [element for element in rest if element.oid in locked]
    _write_run(out, free, block_size, align_end=bool(group))
    if group:
        first_block = len(out) // block_size
        _write_run(out, group, block_size, align_end=True)
        blocks.extend(range(first_block, len(out) // block_size))
    return bytes(out), tuple(blocks)


def _write_run(
    out: bytearray, elements: Sequence[Element], block_size: int, *, align_end: bool
) -> None:
    """Append ``elements``; with ``align_end``, pad one of them so the run ends on a block.

    The padding goes to the last element without an OID escape (any element of the run can
    take it), so that escape and offset meet only when every element has an escape.
    """
    end = len(out) + sum(element.size for element in elements)
    pad = -end % block_size if align_end else 0
    taker = pad_taker(elements)
    append_run(out, elements, pad, len(elements) - 1 if taker is None else taker)


def content_parameter(oids: Iterable[int]) -> Element:
    """OID 2: the bitmap of the other OIDs (3 and up) the tag holds."""
    mask = 0
    for oid in oids:
        if oid > CONTENT_PARAMETER_OID:
            mask |= 1 << (oid - 3)
    return Element(CONTENT_PARAMETER_OID, 0, _mask_to_bitmap(mask))


def pad_taker(elements: Sequence[Element]) -> int | None:
    """The index of the last element without an OID escape (the one to take a run's padding,
    so that escape and offset never meet), or None when every element has an escape."""
    return next((i for i in range(len(elements) - 1, -1, -1) if elements[i].oid < ESCAPE),
                None)


def append_run(out: bytearray, elements: Sequence[Element], pad: int, taker: int) -> None:
    """Append ``elements``, the one at index ``taker`` followed by ``pad`` extra bytes."""
    for index, element in enumerate(elements):
        append_data_set(out, element, pad if index == taker else 0)


def append_data_set(out: bytearray, element: Element, pad: int) -> None:
    """Append one data set followed by ``pad`` extra bytes (offset byte and 0x00 bytes)."""
    out.append((0x80 if pad else 0) | element.compaction << 4 | min(element.oid, ESCAPE))
    if element.oid >= ESCAPE:
        out.append(element.oid - ESCAPE)
    if pad:
        out.append(pad - 1)  # the offset byte itself is the first of the `pad` extra bytes
    out.append(len(element.data))
    out += element.data
    out += bytes(max(pad - 1, 0))


def encode(
    tag: LibraryTag,
    *,
    block_size: int = 4,
    memory_size: int | None = None,
    lock: Iterable[str] = DEFAULT_LOCK,
) -> TagImage:
    """The ISO 28560-2 memory image of ``tag`` and the blocks to lock after writing it.

    ``lock`` names ISO 28560-1 elements (absent ones are ignored). Without ``memory_size`` the
    image is as short as whole blocks allow, with no terminator when the data ends on a block
    boundary (Annex D); with it, the image fills the memory, zero bytes after the data.
    """
    if block_size < 1:
        raise TagFormatError(f"block size {block_size} is not positive")
    if tag.unique_item_identifier is not None:
        raise TagFormatError(
            "unique item identifier (OID 0) exists only in ISO 28560-4; clear it to write part 2"
        )
    locked = lock_oids(lock)
    body, blocks = layout(
        elements_to_write(tag, isil_compaction=True), locked=locked, block_size=block_size
    )
    if memory_size is None:
        return TagImage(body + bytes(-len(body) % block_size), block_size, blocks, dsfid=DSFID)
    if memory_size % block_size:
        raise TagFormatError(
            f"memory size {memory_size} is not a whole number of {block_size}-byte blocks"
        )
    if len(body) > memory_size:
        raise TagFormatError(
            f"the data needs {len(body)} bytes; the tag memory holds {memory_size}"
        )
    return TagImage(body + bytes(memory_size - len(body)), block_size, blocks, dsfid=DSFID)
