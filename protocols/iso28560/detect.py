# SPDX-License-Identifier: Apache-2.0
"""Which data model is this memory image? Name it, or say unknown: never a silent guess.

Recognition order (shared/reference/iso28560.md §6, "Recognition order"):

1. every byte 0x00 -> blank; blocks 0-5 0x55 and block 6 0x00 -> blank (3M factory blank);
2. ISO 28560-3 CRC valid as read, or after reversing each 4-byte block (FKI) -> part 3;
3. 3M signature (byte 0 = 0x04, byte 2 = 0x00, printable barcode) -> 3M;
4. DSFID 0x06, or a first byte that is a part-2 precursor for OID 1, *and* a full parse -> part 2;
5. otherwise unknown, with the reason each candidate was rejected and the raw bytes kept.

A CRC match is a 1 in 65,536 coincidence for random data, so it outranks the weaker part-2 and
3M signatures. UHF tags (ISO 28560-4) come as two banks and have their own entry point,
:func:`decode_uhf`.

Not responsible for: reading the tag or the DSFID from a reader, or security (AFI/EAS).
"""

from __future__ import annotations

from protocols.errors import TagFormatError
from protocols.iso28560 import legacy_3m, part2, part3, part4
from protocols.iso28560.model import LibraryTag, TagModel

PART2_DSFID = part2.DSFID


def _looks_like_part2(memory: bytes, dsfid: int | None) -> bool:
    if dsfid == PART2_DSFID:
        return True
    precursor = memory[0]
    compaction = (precursor >> 4) & 0x07
    return precursor & 0x0F == 1 and compaction != 0


def decode_any(memory: bytes, *, dsfid: int | None = None) -> LibraryTag:
    """Decode an HF user-memory image in whichever model it is in.

    Returns a tag with ``model`` UNKNOWN (raw bytes kept, one warning per rejected candidate)
    when no model fits; raises nothing for any input.
    """
    if not memory or not any(memory):
        return LibraryTag(model=TagModel.BLANK, raw=memory, warnings=("all bytes are 0x00",))
    if legacy_3m.is_factory_blank(memory):
        return LibraryTag(
            model=TagModel.BLANK, raw=memory, vendor_data=(("blank_kind", "3m-factory"),)
        )
    rejected: list[str] = []
    if part3.crc_valid(memory) or part3.crc_valid(part3.reverse_blocks(memory)):
        try:
            return part3.decode(memory)
        except TagFormatError as exc:
            rejected.append(f"iso28560-3: CRC matches but {exc}")
    if legacy_3m.looks_like_3m(memory):
        try:
            return legacy_3m.decode(memory)
        except TagFormatError as exc:
            rejected.append(f"3m: signature matches but {exc}")
    if _looks_like_part2(memory, dsfid):
        try:
            return part2.decode(memory)
        except TagFormatError as exc:
            rejected.append(f"iso28560-2: {exc}")
    if not rejected:
        rejected.append("no ISO 28560-2/-3 or 3M signature")
    return LibraryTag(model=TagModel.UNKNOWN, raw=memory, warnings=tuple(rejected))


def detect(memory: bytes, *, dsfid: int | None = None) -> TagModel:
    """The model of an HF user-memory image (UNKNOWN when none fits)."""
    return decode_any(memory, dsfid=dsfid).model


def decode_uhf(epc_bank: bytes, user_bank: bytes = b"") -> LibraryTag:
    """Decode an ISO 28560-4 UHF tag from its EPC/UII bank (from the PC word) and user bank."""
    return part4.decode(epc_bank, user_bank)
