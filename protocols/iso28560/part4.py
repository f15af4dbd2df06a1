# SPDX-License-Identifier: Apache-2.0
"""ISO/TS 28560-4 (UHF, ISO/IEC 18000-63 tags): EPC/UII and user banks <-> LibraryTag.

MB01, the EPC/UII bank, as read from word 1 on (shared/reference/iso28560.md §5). The StoredCRC
in word 0 is not part of the input: readers compute and check it, and it says nothing about
the item. The XPC_W1 word, if any, lives at word 21h, not inline, so it is not parsed.

    word     bits    content
    PC       15-11   UII length in 16-bit words
             10      UMI, user memory holds data
             9       XPC, an XPC_W1 word exists
             8       T (toggle) = 1: ISO AFI in bits 7-0, not a GS1 EPC
             7-0     AFI (0xC2; 0x07 on secured items, by configuration)
    UII      ...     the UII in the encoding below, padded to whole words with 0x00

UII encoding, byte by byte:

    first byte   meaning
    0x00         padding to the end of the UII
    <= 0xFA      URN Code 40 word: v - 1 = 1600*c1 + 40*c2 + c3; codes 1-26 A-Z, 27 '-',
                 28 '.', 29 ':', 30-39 '0'-'9', 0 no character
    0xFB         long numeric: next byte (digits - 9) << 4 | (bytes - 4), then the number in
                 `bytes` bytes, big-endian, shown with `digits` digits
    0xFC         one ISO 646 (ASCII) character follows
    0xFD, 0xFE   a 2- or 3-byte UTF-8 character follows

The UII is "ISIL.PII" or "PII": it gives ``unique_item_identifier``, ``primary_item_id`` and,
when the part before the first '.' is an ISIL, ``owner_institution``. The AFI is kept as
``vendor_data`` ``("pc_afi", value)``: security is not an ISO 28560-1 element.

MB11, the user bank: DSFID 0x06, then ISO 28560-2 data sets (no PII, it is in the UII),
shared with :mod:`part2`. An empty bank, or one starting with 0x00, holds no data.

Encoding rules: the UII is ``unique_item_identifier`` when set; otherwise "ISIL.PII" when the
owner institution is an ISIL, else the PII alone (the owner then goes to MB11). Digit runs of
9-24 digits with no leading zero use the long-numeric form (dp2: 9 digits minimum), letters
outside URN Code 40 one ISO 646 or UTF-8 prefix each. The user bank uses the part-2 layout
without block alignment: content parameter, free elements, then the owner institution, the
element part 2 locks (the order of the ISO/TS 28560-4 example, p.52); the owner gets a text
compaction, as in that example, not the ISIL compaction. The bank is padded to whole words.

Not responsible for: the StoredCRC, XPC words, access/kill passwords, locking banks, or
recognising the Chinese university-alliance UHF format.
"""

from __future__ import annotations

import re
from typing import Any

from protocols.errors import TagFormatError
from protocols.iso28560.model import LibraryTag, TagModel, UnknownData
from protocols.iso28560.part2 import (
    DEFAULT_LOCK,
    DSFID,
    decode_data_sets,
    elements_to_write,
    layout,
    lock_oids,
    read_data_sets,
    trailing_data_warnings,
)

PC_UMI = 0x0400
PC_XPC = 0x0200
PC_TOGGLE = 0x0100
MAX_UII_WORDS = 31  # the PC length field has 5 bits

_URN40 = "\0ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:0123456789"
_URN40_CODE = {ch: code for code, ch in enumerate(_URN40) if code}
_URN40_MAX_WORD = 0xFA00  # 1600*39 + 40*39 + 39 + 1
LONG_NUMERIC = 0xFB
ISO646_CHAR = 0xFC
UTF8_2_CHAR = 0xFD
UTF8_3_CHAR = 0xFE
_LONG_NUMERIC_DIGITS = range(9, 25)
_ISIL = re.compile(r"[A-Za-z0-9]{1,4}-[A-Za-z0-9:/-]+")
_ISIL_MAX_LENGTH = 16
_USER_BANK_LAST = lock_oids(DEFAULT_LOCK)


def split_uii(uii: str) -> tuple[str | None, str]:
    """(owner ISIL or None, PII) of a UII "ISIL.PII" or "PII"."""
    head, dot, tail = uii.partition(".")
    if dot and tail and len(head) <= _ISIL_MAX_LENGTH and _ISIL.fullmatch(head):
        return head, tail
    return None, uii


def encode_uii(text: str) -> bytes:
    """``text`` as a UII byte string, padded to whole 16-bit words."""
    out = bytearray()
    pending: list[int] = []  # URN Code 40 codes not yet written

    def flush() -> None:
        pending.extend([0] * (-len(pending) % 3))
        for i in range(0, len(pending), 3):
            c1, c2, c3 = pending[i:i + 3]
            out.extend((1600 * c1 + 40 * c2 + c3 + 1).to_bytes(2, "big"))
        pending.clear()

    for index, run in _runs(text):
        if run.isascii() and run.isdigit() and len(run) in _LONG_NUMERIC_DIGITS \
                and run[0] != "0":
            flush()
            number = int(run)
            size = max(4, (number.bit_length() + 7) // 8)
            out += bytes((LONG_NUMERIC, (len(run) - 9) << 4 | (size - 4)))
            out += number.to_bytes(size, "big")
            continue
        for offset, ch in enumerate(run):
            code = _URN40_CODE.get(ch)
            if code is not None:
                pending.append(code)
                continue
            flush()
            encoded = _utf8(ch)
            if len(encoded) == 1:
                out += bytes((ISO646_CHAR, *encoded))
            elif len(encoded) in (2, 3):
                out += bytes((UTF8_2_CHAR if len(encoded) == 2 else UTF8_3_CHAR, *encoded))
            else:
                raise TagFormatError(
                    f"UII character {ch!r} at {index + offset} needs {len(encoded)} UTF-8 bytes;"
                    " the UII encoding carries at most 3"
                )
    flush()
    if len(out) % 2:
        out.append(0)
    return bytes(out)


def _utf8(ch: str) -> bytes:
    try:
        return ch.encode("utf-8")
    except UnicodeEncodeError:
        raise TagFormatError(f"UII character {ch!r} is not encodable in UTF-8") from None


def _runs(text: str) -> list[tuple[int, str]]:
    """``text`` split into maximal runs of ASCII digits and of everything else."""
    return [(m.start(), m.group()) for m in re.finditer(r"[0-9]+|[^0-9]+", text)]


def decode_uii(data: bytes, *, offset: int = 0) -> str:
    """The UII text in ``data``; ``offset`` (where ``data`` starts) is used in errors."""
    out: list[str] = []
    pos = 0
    size = len(data)
    while pos < size:
        lead = data[pos]
        if lead == 0:
            if any(data[pos:]):
                raise TagFormatError("UII padding 0x00 is followed by data", offset=offset + pos)
            break
        if lead <= 0xFA:
            if pos + 2 > size:
                raise TagFormatError("UII ends inside a URN Code 40 word", offset=offset + pos)
            value = int.from_bytes(data[pos:pos + 2], "big") - 1
            if value >= _URN40_MAX_WORD:
                raise TagFormatError(
                    f"URN Code 40 word 0x{value + 1:04X} is out of range", offset=offset + pos
                )
            out += [_URN40[code] for code in (value // 1600, value // 40 % 40, value % 40) if code]
            pos += 2
        elif lead == LONG_NUMERIC:
            out.append(_long_numeric(data, pos, offset))
            pos += 6 + (data[pos + 1] & 0x0F)
        elif lead in (ISO646_CHAR, UTF8_2_CHAR, UTF8_3_CHAR):
            length = lead - ISO646_CHAR + 1
            raw = data[pos + 1:pos + 1 + length]
            if len(raw) != length:
                raise TagFormatError("UII ends inside a character", offset=offset + pos)
            try:
                ch = raw.decode("ascii" if length == 1 else "utf-8")
            except UnicodeDecodeError:
                raise TagFormatError(
                    f"UII character bytes {raw.hex(' ').upper()} after 0x{lead:02X} are not "
                    f"a {length}-byte {'ISO 646' if length == 1 else 'UTF-8'} character",
                    offset=offset + pos + 1,
                ) from None
            if len(ch) != 1:
                raise TagFormatError(
                    f"UII bytes {raw.hex(' ').upper()} are not one character",
                    offset=offset + pos + 1,
                )
            out.append(ch)
            pos += 1 + length
        else:
            raise TagFormatError(f"UII byte 0x{lead:02X} has no meaning", offset=offset + pos)
    return "".join(out)


def _long_numeric(data: bytes, pos: int, offset: int) -> str:
    if pos + 2 > len(data):
        raise TagFormatError("UII ends inside a long numeric header", offset=offset + pos)
    digits = (data[pos + 1] >> 4) + 9
    size = (data[pos + 1] & 0x0F) + 4
    raw = data[pos + 2:pos + 2 + size]
    if len(raw) != size:
        raise TagFormatError(
            f"UII long numeric declares {size} bytes, only {len(raw)} remain", offset=offset + pos
        )
    text = str(int.from_bytes(raw, "big")).zfill(digits)
    if len(text) != digits:
        raise TagFormatError(
            f"UII long numeric value {text} has more than the {digits} digits declared",
            offset=offset + pos,
        )
    return text


def decode(epc_bank: bytes, user_bank: bytes = b"") -> LibraryTag:
    """The library tag in an EPC/UII bank (from the PC word on) and an optional user bank."""
    epc_bank = bytes(epc_bank)
    user_bank = bytes(user_bank)
    if len(epc_bank) < 2:
        raise TagFormatError("EPC bank is shorter than the PC word", offset=len(epc_bank))
    pc = int.from_bytes(epc_bank[:2], "big")
    if not pc & PC_TOGGLE:
        raise TagFormatError("PC toggle bit is 0: a GS1 EPC, not an ISO/TS 28560-4 UII",
                             offset=0)
    end = 2 + 2 * (pc >> 11)
    if end > len(epc_bank):
        raise TagFormatError(
            f"PC declares a {pc >> 11}-word UII, the EPC bank holds {(len(epc_bank) - 2) // 2}",
            offset=len(epc_bank),
        )
    uii = decode_uii(epc_bank[2:end], offset=2)
    owner, pii = split_uii(uii)
    vendor: list[tuple[str, int | str]] = [("pc_afi", pc & 0xFF)]
    if pc & PC_XPC:
        vendor.append(("pc_xpc", 1))
    values, unknown, warnings = _read_user_bank(user_bank)
    if user_bank[:1] not in (b"", b"\0") and not pc & PC_UMI:
        warnings.append("PC says no user memory (UMI 0), but the user bank holds data")
    for name, from_uii in (("primary_item_id", pii), ("owner_institution", owner)):
        in_bank = values.get(name)
        if from_uii is None:
            continue
        if in_bank is not None and in_bank != from_uii:
            warnings.append(
                f"user bank {name} {in_bank!r} differs from the UII's {from_uii!r}; kept the UII's"
            )
        values[name] = from_uii
    return LibraryTag(
        model=TagModel.PART4,
        unique_item_identifier=uii,
        vendor_data=tuple(vendor),
        unknown_data=tuple(unknown),
        warnings=tuple(warnings),
        raw=epc_bank + user_bank,
        **values,
    )


def _read_user_bank(user_bank: bytes) -> tuple[dict[str, Any], list[UnknownData], list[str]]:
    if not user_bank or user_bank[0] == 0:
        return {}, [], trailing_data_warnings(user_bank, 0)
    if user_bank[0] != DSFID:
        raise TagFormatError(
            f"user bank DSFID 0x{user_bank[0]:02X} is not ISO 28560 (0x{DSFID:02X})", offset=0
        )
    try:
        sets, stop = decode_data_sets(user_bank[1:], base_offset=1)
        values, unknown, warnings = read_data_sets(sets)
    except TagFormatError as exc:
        raise TagFormatError(f"user bank: {exc.reason}", offset=exc.offset) from None
    warnings += trailing_data_warnings(user_bank[1:], stop, base_offset=1)
    return values, unknown, warnings


def encode(tag: LibraryTag, *, afi: int = 0xC2) -> tuple[bytes, bytes]:
    """(EPC bank from the PC word on, user bank) for ``tag``; the user bank is b"" if empty.

    ``afi`` goes into the PC word; the tag's own ``pc_afi`` vendor value is not used, because
    security state is the caller's decision.
    """
    if not 0 <= afi <= 0xFF:
        raise TagFormatError(f"AFI {afi} is not one byte")
    uii, owner_in_uii = _uii(tag)
    uii_bytes = encode_uii(uii)
    if len(uii_bytes) > 2 * MAX_UII_WORDS:
        raise TagFormatError(
            f"UII {uii!r} needs {len(uii_bytes)} bytes; the PC word allows {2 * MAX_UII_WORDS}"
        )
    skip = {1, 3} if owner_in_uii else {1}
    elements = elements_to_write(tag, isil_compaction=False, skip=skip)
    user_bank = b""
    if elements:
        body, _ = layout(elements, locked=_USER_BANK_LAST, block_size=1)
        user_bank = bytes((DSFID,)) + body + bytes((len(body) + 1) % 2)
    pc = len(uii_bytes) // 2 << 11 | (PC_UMI if user_bank else 0) | PC_TOGGLE | afi
    return pc.to_bytes(2, "big") + uii_bytes, user_bank


def _uii(tag: LibraryTag) -> tuple[str, bool]:
    """The UII to write and whether it carries the owner institution."""
    pii, owner = tag.primary_item_id, tag.owner_institution
    if tag.unique_item_identifier is not None:
        uii_owner, uii_pii = split_uii(tag.unique_item_identifier)
        if pii is not None and pii != uii_pii:
            raise TagFormatError(
                f"primary item identifier {pii!r} differs from the UII's {uii_pii!r}"
            )
        if uii_owner is not None and owner not in (None, uii_owner):
            raise TagFormatError(
                f"owner institution {owner!r} differs from the UII's ISIL {uii_owner!r}"
            )
        return tag.unique_item_identifier, uii_owner is not None
    if pii is None:
        raise TagFormatError("ISO 28560-4 needs a primary item identifier to build the UII")
    if owner is not None and split_uii(f"{owner}.{pii}") == (owner, pii):
        return f"{owner}.{pii}", True
    if split_uii(pii)[0] is not None:
        raise TagFormatError(
            f"primary item identifier {pii!r} would read back as ISIL.PII; set "
            "unique_item_identifier or owner_institution"
        )
    return pii, False
