# SPDX-License-Identifier: Apache-2.0
"""ISO 28560-3: the fixed-layout library data model (the Danish data model, DS/INF 163).

Contract: ``decode(memory) -> LibraryTag`` for any tag memory image, and
``encode(tag) -> TagImage`` for any :class:`LibraryTag` whose data part 3 can carry. Decoders
raise only :class:`~protocols.errors.TagFormatError`, naming what is wrong and at which byte.

Memory layout (ISO 28560-3 clauses 5 and 7; byte offsets from user block 0)::

    0      34                                                            end
    [basic block][len id id xor fields...][len id id xor fields...][00]  [stale bytes]
                 ^ extension block        ^ extension block        ^ end of data

A 32-byte tag holds a truncated basic block: bytes 32-33 are absent (the owner institution has
11 bytes) and count as 0x00 in the CRC; such a tag has no room for extension blocks.

Decisions where the standard is silent or the field disagrees (each documented where it is made):

* Type of usage: part 3 stores only the class nibble; ``LibraryTag.type_of_usage`` is the
  ISO 28560-1 byte, so class ``c`` decodes to ``c << 4``. The encoder writes class 6 ("no
  information") when the type of usage is absent and refuses a non-zero sub-qualifier.
* Set information 0/0 (or any zero) is absent; the encoder writes 1/1 for a single-part item.
* Owner institution: the Danish model writes the country code (bytes 21-22) then the library
  number, without the ISIL hyphen ("DE526" for DE-526). A field that does not start with a
  two-letter upper-case country code, or that already carries the hyphen, is returned verbatim.
  An ISIL that would not read back identically that way goes into the library extension block.
* Library extension block: its item identifier field is the primary item identifier when byte 3
  is 0x01, otherwise the alternative item identifier; its owner field is the owner institution
  when bytes 21-33 are empty, otherwise the alternative owner institution [U: ISO 28560-3
  Table 2 not seen]. Media format 0x00 means "undefined" and decodes to ``None``.
* Strings are UTF-8 (what TH Wildau writes [U: clause 5.4.1 not seen]).
* The encoder refuses what part 3 cannot hold (local data A-C, UII, unknown data of another
  model) rather than drop it; ``vendor_data`` belongs to the model it was read from and is not
  written (converting a 3M tag drops its item type and branch on purpose).

Lenient decoding (the default) accepts these field variants, each reported in ``warnings``;
``lenient=False`` refuses them with :class:`TagFormatError`:

* FKI block order: the CRC fails as read but passes with each 4-byte block reversed.
* Bibliotheca byte 0: version 1 in the low nibble, class in the high nibble (0x21, 0x71).
* The country code repeated inside the owner institution ("DEDE705").
* Number of parts and part number swapped (pyrfidgeek writes them so), or zero.
* NUL bytes inside a padded text field, text that is not UTF-8 (read as ISO 8859-1).
* A bad extension-block XOR, or fields beyond the block's table: the block is kept verbatim as
  :class:`UnknownData`; a broken block length ends the parse and keeps the rest verbatim as
  ``part3-unparsed``, which the encoder refuses (a repair must drop it explicitly).

A CRC that fails both as read and block-reversed is always an error (byte 19).

Not responsible for: telling part 3 from other models (``detect`` uses :func:`crc_valid` and
:func:`reverse_blocks`), the AFI/EAS security state, or reading and writing tags.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum
from typing import Any

from protocols.errors import TagFormatError
from protocols.iso28560.crc import crc16_ccitt_false
from protocols.iso28560.model import LibraryTag, TagImage, TagModel, UnknownData

# ISO 28560-3 clause 5, the basic block (34 bytes). ``struct`` rather than construct: parsing
# this with construct alone takes ~18 us, the whole decode budget.
BASIC_BLOCK = struct.Struct(
    "<"      # the CRC is the only multi-byte field, little-endian
    "B"      # 0      version (bits 7-4) | type of usage class (bits 3-0)
    "B"      # 1      number of parts in item
    "B"      # 2      ordinal part number
    "16s"    # 3-18   primary item identifier, left-justified, NUL padded; 0x01 = long PII
    "H"      # 19-20  CRC-16/CCITT-FALSE over bytes 0-18 and 21-33, LSB first
    "13s"    # 21-33  owner institution: country code (2) + library number (11), NUL padded
)
BASIC_BLOCK_SIZE = 34
TRUNCATED_SIZE = 32      # 8 blocks of 4 bytes: bytes 32-33 missing, read as 0x00
VERSION = 1
PII_OFFSET = 3
PII_SIZE = 16
LONG_PII_FLAG = 0x01     # byte 3: the PII is longer than 16 bytes, see the library extension
CRC_OFFSET = 19
OWNER_OFFSET = 21
NO_INFORMATION_CLASS = 6  # ISO 28560-1 Annex C, type of usage 0x6_
FKI_BLOCK_SIZE = 4
DEFAULT_SIZE = 112       # NXP ICODE SLIX user memory: 28 blocks of 4 bytes

# ISO 28560-3 clause 7.4.2, extension block frame (GOST R ISO 28560-3-2016 7.4.2)
EXTENSION_HEADER = struct.Struct(
    "<"
    "B"      # 0      length of the whole block, header included; 0x00 = end of data
    "H"      # 1-2    data block ID, little-endian
    "B"      # 3      checksum: the XOR of every byte of the block, this one included, is 0x00
)
EXTENSION_HEADER_SIZE = 4
MAX_EXTENSION_BLOCK = 0xFF
END_OF_DATA = b"\x00"
UNKNOWN_BLOCK = "part3-extension-block"
UNPARSED_TAIL = "part3-unparsed"


class FieldKind(Enum):
    """How a field of a structured extension block is written."""

    TEXT = "text"    # variable length, ended by 0x00 unless it is the last field of the block
    CODE = "code"    # exactly one byte, no separator after it


@dataclass(frozen=True, slots=True)
class BlockField:
    """One field of a structured extension block, named by its ``LibraryTag`` attribute."""

    attribute: str
    kind: FieldKind = FieldKind.TEXT
    zero_is_absent: bool = False


@dataclass(frozen=True, slots=True)
class ExtensionBlockSpec:
    """A structured extension block: its ID and its fields in wire order."""

    block_id: int
    name: str
    fields: tuple[BlockField, ...]


# ISO 28560-3 clause 7.4.3, structured extension blocks; fields in wire order (the order TH
# Wildau's encoder writes). A block may stop after its last non-empty field.
EXTENSION_BLOCKS: tuple[ExtensionBlockSpec, ...] = (
    ExtensionBlockSpec(1, "library extension block", (
        BlockField("media_format", FieldKind.CODE, zero_is_absent=True),  # OID 19
        BlockField("alternative_item_identifier"),     # OID 22; the PII (OID 1) if byte 3 = 0x01
        BlockField("alternative_owner_institution"),   # OID 23; OID 3 if bytes 21-33 are empty
    )),
    ExtensionBlockSpec(2, "acquisition extension block", (
        BlockField("supplier_identifier"),             # OID 9
        BlockField("product_identifier_local"),        # OID 18
        BlockField("order_number"),                    # OID 10
        BlockField("supplier_invoice_number"),         # OID 21
        BlockField("gs1_product_identifier"),          # OID 13
        BlockField("supply_chain_stage", FieldKind.CODE),  # OID 20, unsigned 8-bit
    )),
    ExtensionBlockSpec(3, "library supplement block", (
        BlockField("shelf_location"),                  # OID 6
        BlockField("marc_media_format"),               # OID 8
        BlockField("onix_media_format"),               # OID 7
        BlockField("subsidiary_of_owner_institution"),  # OID 24
    )),
    ExtensionBlockSpec(4, "title block", (
        BlockField("title"),                           # OID 17
    )),
    ExtensionBlockSpec(5, "interlibrary loan block", (
        BlockField("ill_borrowing_institution"),       # OID 11
        BlockField("ill_borrowing_transaction_number"),  # OID 12
        BlockField("alternative_ill_borrowing_institution"),  # OID 25
    )),
)
BY_BLOCK_ID: dict[int, ExtensionBlockSpec] = {spec.block_id: spec for spec in EXTENSION_BLOCKS}
LIBRARY_EXTENSION = 1

# ISO 28560-1 elements that part 3 has no field for.
HOMELESS_ELEMENTS = (
    "unique_item_identifier", "alternative_unique_item_identifier",
    "local_data_a", "local_data_b", "local_data_c",
)


# --- checks shared with detect() ------------------------------------------------------------

def basic_block_crc(memory: bytes) -> int:
    """The CRC over bytes 0-18 and 21-33 (missing bytes 32-33 count as 0x00)."""
    crc = crc16_ccitt_false(memory[:CRC_OFFSET])
    return crc16_ccitt_false(memory[OWNER_OFFSET:BASIC_BLOCK_SIZE].ljust(13, b"\x00"), crc)


def crc_valid(memory: bytes) -> bool:
    """True if ``memory`` starts with a basic block whose stored CRC matches."""
    if len(memory) < TRUNCATED_SIZE:
        return False
    return basic_block_crc(memory) == memory[CRC_OFFSET] | memory[CRC_OFFSET + 1] << 8


def reverse_blocks(memory: bytes) -> bytes:
    """Each whole 4-byte block in reverse byte order (FKI writes blocks "from 3 to 0").

    A trailing partial block is left as it is: its missing bytes cannot be placed.
    """
    count = len(memory) // FKI_BLOCK_SIZE
    whole = count * FKI_BLOCK_SIZE
    return struct.pack(f"<{count}I", *struct.unpack(f">{count}I", memory[:whole])) + memory[whole:]


# --- decoding -------------------------------------------------------------------------------

class _Findings:
    """Departures from the standard: collected as warnings when lenient, refused when strict."""

    __slots__ = ("lenient", "warnings")

    def __init__(self, *, lenient: bool) -> None:
        self.lenient = lenient
        self.warnings: list[str] = []

    def fix(self, what: str, offset: int) -> None:
        if not self.lenient:
            raise TagFormatError(what, offset=offset)
        self.warnings.append(f"at byte {offset}: {what}")

    def note(self, what: str, offset: int) -> None:
        """Something the standard allows but that we could not map; never refused."""
        self.warnings.append(f"at byte {offset}: {what}")


def decode(memory: bytes, *, lenient: bool = True) -> LibraryTag:
    """Decode a part-3 memory image (32 bytes or more) into a :class:`LibraryTag`."""
    memory = bytes(memory)
    if len(memory) < TRUNCATED_SIZE:
        raise TagFormatError(
            f"an ISO 28560-3 basic block needs at least {TRUNCATED_SIZE} bytes, got {len(memory)}",
            offset=len(memory),
        )
    findings = _Findings(lenient=lenient)
    image = memory
    if not crc_valid(memory):
        reversed_image = reverse_blocks(memory)
        if not crc_valid(reversed_image):
            stored = memory[CRC_OFFSET] | memory[CRC_OFFSET + 1] << 8
            raise TagFormatError(
                f"basic block CRC: stored {stored:04X}, computed {basic_block_crc(memory):04X}, "
                "also with each 4-byte block reversed",
                offset=CRC_OFFSET,
            )
        findings.fix(
            "CRC matches only with each 4-byte block reversed (FKI block order); "
            "decoded the reversed blocks",
            CRC_OFFSET,
        )
        image = reversed_image

    head, parts, part, pii_field, _crc, owner_field = BASIC_BLOCK.unpack(
        image[:BASIC_BLOCK_SIZE].ljust(BASIC_BLOCK_SIZE, b"\x00")
    )
    values: dict[str, Any] = {"type_of_usage": _type_of_usage(head, findings)}
    values["set_total"], values["set_part"] = _set_information(parts, part, findings)
    long_pii = pii_field[0] == LONG_PII_FLAG
    if long_pii:
        if pii_field[1:].strip(b"\x00"):
            findings.fix(
                "byte 3 = 0x01 (PII in the library extension block) but bytes 4-18 are not "
                "zero; ignored", PII_OFFSET + 1,
            )
    else:
        values["primary_item_id"] = _padded_text(
            pii_field, PII_OFFSET, "primary item identifier", findings
        )
    owner = _owner_institution(owner_field, findings)
    values["owner_institution"] = owner

    unknown: list[UnknownData] = []
    if len(image) > BASIC_BLOCK_SIZE:
        _decode_extension_area(
            image, values, unknown, findings, long_pii=long_pii, owner_in_basic=owner is not None
        )
    if long_pii and values.get("primary_item_id") is None:
        findings.fix(
            "byte 3 = 0x01 says the primary item identifier is in the library extension "
            "block, but no such block holds one", PII_OFFSET,
        )
    return LibraryTag(
        model=TagModel.PART3,
        unknown_data=tuple(unknown),
        warnings=tuple(findings.warnings),
        raw=memory,
        **values,
    )


def _type_of_usage(head: int, findings: _Findings) -> int:
    version, usage_class = head >> 4, head & 0x0F
    if version == VERSION:
        return usage_class << 4
    if usage_class == VERSION:
        findings.fix(
            f"byte 0 is {head:02X}: version in the low nibble, type of usage class {version} in "
            "the high nibble (nibble-swapped, as Bibliotheca writes it)", 0,
        )
        return version << 4
    raise TagFormatError(f"data model version {version} in byte 0 ({head:02X}) is not 1", offset=0)


def _set_information(parts: int, part: int, findings: _Findings) -> tuple[int | None, int | None]:
    if 1 <= part <= parts:
        return parts, part
    if 1 <= parts < part:
        findings.fix(
            f"part number {part} is above the number of parts {parts}: read as part {parts} of "
            f"{part} (bytes 1 and 2 swapped, as pyrfidgeek writes them)", 1,
        )
        return part, parts
    findings.fix(f"set information {parts}/{part} has a zero count; treated as absent", 1)
    return None, None


def _text(raw: bytes, offset: int, what: str, findings: _Findings) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        findings.fix(
            f"{what} is not UTF-8 (byte {raw[exc.start]:02X}); read as ISO 8859-1",
            offset + exc.start,
        )
        return raw.decode("latin-1")


def _padded_text(field: bytes, offset: int, what: str, findings: _Findings) -> str | None:
    text = field.rstrip(b"\x00")
    if not text:
        return None
    if b"\x00" in text:
        inside = text.index(0)
        findings.fix(f"{what} has a NUL inside its text; NULs removed", offset + inside)
        text = text.replace(b"\x00", b"")
    return _text(text, offset, what, findings)


def _owner_institution(field: bytes, findings: _Findings) -> str | None:
    text = _padded_text(field, OWNER_OFFSET, "owner institution", findings)
    if text is None:
        return None
    isil, repeated = isil_from_owner_field(text)
    if repeated:
        findings.fix(
            f"country code {text[:2]} repeated in the owner institution {text!r}; read as {isil}",
            OWNER_OFFSET + 2,
        )
    return isil


def isil_from_owner_field(text: str) -> tuple[str, bool]:
    """The ISIL for a basic-block owner field, and whether a repeated country code was dropped.

    Country code then library number ("DE526", "DE" + "705") gets the ISIL hyphen after the
    two-letter prefix. Anything else (hyphen already there, no country prefix) is verbatim.
    """
    country, library = text[:2], text[2:]
    if not library or library[0] == "-" or not _is_country_code(country):
        return text, False
    if library.startswith(country):
        rest = library[2:].removeprefix("-")
        if rest:
            return f"{country}-{rest}", True
    return f"{country}-{library}", False


def _is_country_code(text: str) -> bool:
    return len(text) == 2 and text.isascii() and text.isalpha() and text.isupper()


def _decode_extension_area(
    image: bytes,
    values: dict[str, Any],
    unknown: list[UnknownData],
    findings: _Findings,
    *,
    long_pii: bool,
    owner_in_basic: bool,
) -> None:
    offset = BASIC_BLOCK_SIZE
    end = len(image)
    while offset < end:
        length = image[offset]
        if length == 0:
            return
        if length < EXTENSION_HEADER_SIZE or offset + length > end:
            problem = (
                f"extension block length {length} is shorter than its 4-byte header"
                if length < EXTENSION_HEADER_SIZE
                else f"extension block of {length} bytes runs past the end of memory "
                f"({end - offset} bytes left)"
            )
            findings.fix(f"{problem}; the rest is kept unparsed", offset)
            unknown.append(UnknownData(UNPARSED_TAIL, offset, image[offset:]))
            return
        block = image[offset:offset + length]
        block_id = block[1] | block[2] << 8
        checksum = 0
        for byte in block:
            checksum ^= byte
        spec = BY_BLOCK_ID.get(block_id)
        if checksum:
            findings.fix(
                f"extension block {block_id} XOR checksum {block[3]:02X} leaves {checksum:02X}, "
                "not 00; block kept verbatim", offset + 3,
            )
            unknown.append(UnknownData(UNKNOWN_BLOCK, block_id, block))
        elif spec is None:
            # IDs 6-100 are reserved for future structured blocks, above 100 unstructured:
            # not an error, just not ours to interpret.
            unknown.append(UnknownData(UNKNOWN_BLOCK, block_id, block))
        else:
            found = _decode_block_fields(spec, block, offset, findings)
            if found is None:
                unknown.append(UnknownData(UNKNOWN_BLOCK, block_id, block))
            else:
                if block_id == LIBRARY_EXTENSION:
                    _point_library_extension(
                        found, long_pii=long_pii, owner_in_basic=owner_in_basic
                    )
                if any(values.get(name) is not None for name in found):
                    findings.note(
                        f"a second {spec.name} repeats elements already decoded; kept verbatim",
                        offset,
                    )
                    unknown.append(UnknownData(UNKNOWN_BLOCK, block_id, block))
                else:
                    values.update(found)
        offset += length


def _decode_block_fields(
    spec: ExtensionBlockSpec, block: bytes, offset: int, findings: _Findings
) -> dict[str, Any] | None:
    """The block's fields by attribute (absent ones left out); ``None`` if it has extra bytes."""
    found: dict[str, Any] = {}
    end = len(block)
    position = EXTENSION_HEADER_SIZE
    for field in spec.fields:
        if position >= end:
            break
        if field.kind is FieldKind.CODE:
            code = block[position]
            if code or not field.zero_is_absent:
                found[field.attribute] = code
            position += 1
            continue
        stop = block.find(0, position)
        if stop < 0:
            stop = end
        if stop > position:
            found[field.attribute] = _text(
                block[position:stop], offset + position, field.attribute.replace("_", " "), findings
            )
        position = stop + 1
    if position < end:
        findings.fix(
            f"{spec.name} has {end - position} bytes after its last field; block kept verbatim",
            offset + position,
        )
        return None
    return found


def _point_library_extension(
    found: dict[str, Any], *, long_pii: bool, owner_in_basic: bool
) -> None:
    """Move the library extension's fields to the elements the basic block points them at."""
    if long_pii and "alternative_item_identifier" in found:
        found["primary_item_id"] = found.pop("alternative_item_identifier")
    if not owner_in_basic and "alternative_owner_institution" in found:
        found["owner_institution"] = found.pop("alternative_owner_institution")


# --- encoding -------------------------------------------------------------------------------

def encode(
    tag: LibraryTag,
    *,
    size: int = DEFAULT_SIZE,
    block_size: int = 4,
    lock_basic_block: bool = False,
) -> TagImage:
    """Encode ``tag`` for a tag with ``size`` bytes of user memory in ``block_size`` blocks.

    The image is the basic block, the extension blocks (IDs 1-5 in order, then unknown blocks
    kept from a decode, verbatim), a 0x00 end-of-data byte if memory is left, zero-filled to
    the next block boundary. ``size=32`` writes the truncated basic block.

    Lock plan: part 3 locks nothing by default (the type of usage in byte 0 changes over an
    item's life). ``lock_basic_block=True`` locks the blocks that lie wholly inside bytes 0-33;
    the block holding bytes 32-33 also holds the first extension block, so it stays writable
    (the CRC still covers those bytes).
    """
    if size != TRUNCATED_SIZE and size < BASIC_BLOCK_SIZE:
        raise TagFormatError(
            f"a part-3 tag needs {TRUNCATED_SIZE} or at least {BASIC_BLOCK_SIZE} bytes of "
            f"memory, not {size}"
        )
    if block_size < 1:
        raise TagFormatError(f"block size {block_size} is not positive")
    for name in HOMELESS_ELEMENTS:
        if getattr(tag, name) is not None:
            raise TagFormatError(f"{name} has no place in ISO 28560-3; remove it to encode")
    truncated = size == TRUNCATED_SIZE
    basic_size = TRUNCATED_SIZE if truncated else BASIC_BLOCK_SIZE

    head = VERSION << 4 | _usage_class(tag.type_of_usage)
    parts, part = (1, 1) if tag.set_total is None or tag.set_part is None else (
        tag.set_total, tag.set_part)
    pii = _encode_text(tag.primary_item_id, "primary item identifier")
    # A PII starting with 0x01 would read as the flag, so it takes the long form too.
    long_pii = len(pii) > PII_SIZE or pii[:1] == bytes([LONG_PII_FLAG])
    owner_field = _owner_field(tag.owner_institution, basic_size - OWNER_OFFSET)

    extension: dict[str, Any] = {
        field.attribute: getattr(tag, field.attribute)
        for spec in EXTENSION_BLOCKS for field in spec.fields
    }
    if extension["media_format"] == 0:  # 0 = undefined: the same as writing nothing
        extension["media_format"] = None
    if long_pii:
        if tag.alternative_item_identifier:
            raise TagFormatError(
                f"primary item identifier of {len(pii)} bytes needs the library extension "
                "block's item field, which the alternative item identifier also needs"
            )
        extension["alternative_item_identifier"] = tag.primary_item_id
    if owner_field is None:
        if tag.alternative_owner_institution:
            raise TagFormatError(
                f"owner institution {tag.owner_institution!r} does not fit bytes "
                f"21-{basic_size - 1} and needs the library extension block's owner field, "
                "which the alternative owner institution also needs"
            )
        extension["alternative_owner_institution"] = tag.owner_institution
    elif not owner_field and tag.alternative_owner_institution:
        raise TagFormatError(
            "an alternative owner institution without an owner institution would read back "
            "as the owner institution"
        )

    blocks = [
        block for spec in EXTENSION_BLOCKS
        if (block := _encode_block(spec, extension)) is not None
    ]
    blocks += [_verbatim_block(item) for item in tag.unknown_data]
    if truncated and blocks:
        raise TagFormatError(
            f"a 32-byte tag has no room for extension blocks ({sum(map(len, blocks))} bytes "
            "needed); use a larger tag or drop the elements outside the basic block"
        )

    basic = bytearray(BASIC_BLOCK.pack(
        head, parts, part,
        bytes([LONG_PII_FLAG]) if long_pii else pii,
        0,
        owner_field or b"",
    ))
    struct.pack_into("<H", basic, CRC_OFFSET, basic_block_crc(bytes(basic)))
    memory = bytes(basic[:basic_size]) + b"".join(blocks)
    if len(memory) > size:
        raise TagFormatError(f"the data needs {len(memory)} bytes, the tag holds {size}")
    if len(memory) < size:
        memory += END_OF_DATA
    whole_blocks = -(-len(memory) // block_size) * block_size
    memory = memory.ljust(min(whole_blocks, size), b"\x00")
    locked = tuple(range(basic_size // block_size)) if lock_basic_block else ()
    return TagImage(memory=memory, block_size=block_size, locked_blocks=locked)


def _usage_class(type_of_usage: int | None) -> int:
    if type_of_usage is None:
        return NO_INFORMATION_CLASS
    if type_of_usage & 0x0F:
        raise TagFormatError(
            f"type of usage {type_of_usage:02X} has sub-qualifier {type_of_usage & 0x0F}; "
            "part 3 stores only the class (high nibble)"
        )
    return type_of_usage >> 4


def _encode_text(value: str | None, what: str) -> bytes:
    if value is None:
        return b""
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TagFormatError(f"{what} {value!r} cannot be written as UTF-8: {exc.reason}") from None
    if 0 in raw:
        raise TagFormatError(f"{what} {value!r} contains NUL, part 3's padding and separator")
    return raw


def _owner_field(isil: str | None, capacity: int) -> bytes | None:
    """Bytes 21-33 for ``isil`` (empty if absent), or ``None`` if it must go to block 1."""
    raw = _encode_text(isil, "owner institution")
    if isil is None or not raw:
        return b""
    country, hyphen, library = isil.partition("-")
    field = (country + library).encode("utf-8") if hyphen and _is_country_code(country) else raw
    if len(field) <= capacity and isil_from_owner_field(field.decode("utf-8")) == (isil, False):
        return field
    return None


def _encode_block(spec: ExtensionBlockSpec, values: dict[str, Any]) -> bytes | None:
    """One structured block, stopped after its last present field; ``None`` if all absent."""
    body = bytearray()
    used = 0
    last = len(spec.fields) - 1
    for index, field in enumerate(spec.fields):
        value = values[field.attribute]
        if field.kind is FieldKind.CODE:
            body.append(0 if value is None else value)
        else:
            value = _encode_text(value, field.attribute.replace("_", " ")) or None
            body += value or b""
        if value is not None:
            used = len(body)
        if field.kind is FieldKind.TEXT and index < last:
            body.append(0)
    if not used:
        return None
    length = EXTENSION_HEADER_SIZE + used
    if length > MAX_EXTENSION_BLOCK:
        raise TagFormatError(
            f"{spec.name} needs {length} bytes, an extension block holds at most "
            f"{MAX_EXTENSION_BLOCK}"
        )
    block = bytearray(EXTENSION_HEADER.pack(length, spec.block_id, 0)) + body[:used]
    checksum = 0
    for byte in block:
        checksum ^= byte
    block[3] = checksum
    return bytes(block)


def _verbatim_block(item: UnknownData) -> bytes:
    if item.kind != UNKNOWN_BLOCK:
        raise TagFormatError(
            f"unknown data of kind {item.kind!r} (key {item.key}) has no place in a part-3 "
            "image; drop it explicitly to write the tag"
        )
    if len(item.data) < EXTENSION_HEADER_SIZE or item.data[0] != len(item.data):
        raise TagFormatError(
            f"kept extension block {item.key} is {len(item.data)} bytes but its length byte "
            f"says {item.data[0] if item.data else 'nothing'}"
        )
    return item.data
