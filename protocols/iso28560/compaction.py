# SPDX-License-Identifier: Apache-2.0
"""ISO 28560-2 compaction schemes 1-7 (ISO/IEC 15962): text <-> compacted bytes.

Pure functions. :func:`compact` packs a string with one scheme, :func:`expand` unpacks it, and
:func:`choose_compaction` picks the scheme an encoder should use. Code 0 (application-defined)
is not a text scheme: part 2 uses it for the content-parameter bitmap and for the ISIL
compaction (:mod:`protocols.iso28560.isil`), both handled by their callers.

Packing (shared/reference/iso28560.md §2, "Compaction codes"):

    code  scheme     characters                 per char   padding to a byte boundary
    1     integer    digits, no leading zero    -          big-endian binary, fewest bytes
    2     numeric    digits                     4 bits     one nibble 0xF if the count is odd
    3     5-bit      0x41-0x5F (A-Z [\\]^_)       5 bits     0-bits (a 00000 group ends the text)
    4     6-bit      0x20-0x5F                  6 bits     "10..." (prefix of 100000, a space)
    5     7-bit      0x00-0x7E                  7 bits     1-bits (a final 1111111 is padding)
    6     octet      ISO/IEC 8859-1             8 bits     none
    7     UTF-8      any                        1-4 bytes  none

Decoding is strict: padding bits that are not the scheme's padding, BCD nibbles above 9, a
5-bit end marker followed by more data, or bad UTF-8 raise :class:`TagFormatError`.

Not responsible for: which element gets which scheme (the part-2 encoder decides), the ISIL
compaction, data-set framing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from protocols.errors import TagFormatError

APPLICATION_DEFINED = 0
INTEGER = 1
NUMERIC = 2
FIVE_BIT = 3
SIX_BIT = 4
SEVEN_BIT = 5
OCTET = 6
UTF8 = 7

SCHEME_NAMES: dict[int, str] = {
    APPLICATION_DEFINED: "application-defined",
    INTEGER: "integer",
    NUMERIC: "numeric",
    FIVE_BIT: "5-bit",
    SIX_BIT: "6-bit",
    SEVEN_BIT: "7-bit",
    OCTET: "octet",
    UTF8: "UTF-8",
}

# dp2 caps integer compaction at 19 digits (it packs into a uint64); staying inside that keeps
# our tags readable by 64-bit decoders. Longer digit strings fall through to numeric.
MAX_INTEGER_DIGITS = 19

_FIVE_BIT_CHARS = frozenset(map(chr, range(0x41, 0x60)))
_SIX_BIT_CHARS = frozenset(map(chr, range(0x20, 0x60)))
# 6-bit value v < 0x20 stands for character v | 0x40, otherwise for v itself.
_SIX_BIT_TO_ASCII = bytes((v | 0x40) if v < 0x20 else v for v in range(64)) + bytes(192)
_FIVE_BIT_TO_ASCII = bytes(v | 0x40 for v in range(32)) + bytes(224)


def _is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def fits(text: str, code: int) -> bool:
    """True if scheme ``code`` (1-7) can carry ``text`` so that :func:`expand` gives it back."""
    if code == INTEGER:
        return (
            _is_ascii_digits(text) and text[0] != "0" and len(text) <= MAX_INTEGER_DIGITS
        )
    if code == NUMERIC:
        return _is_ascii_digits(text)
    if code == FIVE_BIT:
        return set(text) <= _FIVE_BIT_CHARS
    if code == SIX_BIT:
        # A trailing space would be taken for the 6-bit padding group 100000.
        return set(text) <= _SIX_BIT_CHARS and not text.endswith(" ")
    if code == SEVEN_BIT:
        # 0x7F is excluded: a final 1111111 group is read as padding.
        return text.isascii() and "\x7f" not in text
    if code == OCTET:
        return all(ord(ch) < 0x100 for ch in text)
    if code == UTF8:
        return not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
    return False


def choose_compaction(text: str) -> int:
    """The scheme an encoder uses for ``text``: the first of 1-5 that fits, then 6 or 7.

    The order integer, numeric, 5-bit, 6-bit, 7-bit is dp2's ``AutoSelectCompactMethod``
    (reference §2). Each scheme in that order is never longer than the ones after it, so the
    first fit is also the shortest. Unlike dp2 there are no minimum lengths (dp2 wants
    2/2/3/4/8 characters); they only move short strings to octet at equal or larger size.
    When no bit scheme fits, ISO/IEC 8859-1 text uses octet (code 6), the part-2 default
    character set and shorter than UTF-8 for accented letters; anything else uses UTF-8
    (code 7), which clarification 28560-2 §6.17 makes mandatory outside 8859-1. dp2 never
    picks octet on its own and would use UTF-8 instead; both decode the same.
    """
    for code in (INTEGER, NUMERIC, FIVE_BIT, SIX_BIT, SEVEN_BIT, OCTET):
        if fits(text, code):
            return code
    return UTF8


def zero_fill(pad: int) -> int:
    """Padding of ``pad`` 0-bits (5-bit scheme)."""
    return 0


def one_fill(pad: int) -> int:
    """Padding of ``pad`` 1-bits (7-bit scheme, ISIL compaction)."""
    return (1 << pad) - 1


def space_fill(pad: int) -> int:
    """The first ``pad`` bits of 100000, the 6-bit space (6-bit scheme)."""
    return 1 << (pad - 1) if pad else 0


def bits_to_bytes(value: int, nbits: int, fill: Callable[[int], int]) -> bytes:
    """The ``nbits``-bit big-endian ``value`` padded to whole bytes with ``fill(pad_bits)``."""
    pad = -nbits % 8
    return ((value << pad) | fill(pad)).to_bytes((nbits + pad) // 8, "big")


def _pack(codes: Iterable[int], width: int, fill: Callable[[int], int]) -> bytes:
    value = 0
    nbits = 0
    for code in codes:
        value = (value << width) | code
        nbits += width
    return bits_to_bytes(value, nbits, fill)


def compact(text: str, code: int) -> bytes:
    """``text`` packed with scheme ``code`` (1-7); TagFormatError if the scheme cannot carry it."""
    if not fits(text, code):
        name = SCHEME_NAMES.get(code, f"code {code}")
        if code == APPLICATION_DEFINED or code not in SCHEME_NAMES:
            raise TagFormatError(f"{name} is not a text compaction scheme")
        raise TagFormatError(f"{name} compaction cannot carry {text!r}")
    if code == INTEGER:
        number = int(text)
        return number.to_bytes((number.bit_length() + 7) // 8, "big")
    if code == NUMERIC:
        return bytes.fromhex(text + "f" if len(text) % 2 else text)
    if code == FIVE_BIT:
        return _pack((ord(ch) & 0x1F for ch in text), 5, zero_fill)
    if code == SIX_BIT:
        return _pack((ord(ch) & 0x3F for ch in text), 6, space_fill)
    if code == SEVEN_BIT:
        return _pack(map(ord, text), 7, one_fill)
    if code == OCTET:
        return text.encode("latin-1")
    return text.encode("utf-8")


def _groups(data: bytes, width: int) -> tuple[list[int], int, int]:
    """Split ``data`` into ``width``-bit groups, MSB first: (groups, leftover bits, how many)."""
    nbits = len(data) * 8
    value = int.from_bytes(data, "big")
    count, rest = divmod(nbits, width)
    mask = (1 << width) - 1
    shift = nbits - width
    groups = [(value >> (shift - width * i)) & mask for i in range(count)]
    return groups, value & ((1 << rest) - 1), rest


def expand(data: bytes, code: int, *, offset: int | None = None) -> str:
    """The text that scheme ``code`` (1-7) packed into ``data``.

    ``offset`` is where ``data`` starts in the memory image; errors report it.
    """
    if code == INTEGER:
        if not data:
            raise TagFormatError("integer compaction with no data bytes", offset=offset)
        return str(int.from_bytes(data, "big"))
    if code == NUMERIC:
        digits = data.hex()
        if digits.endswith("f"):
            digits = digits[:-1]
        if digits and not digits.isdigit():
            raise TagFormatError(
                f"numeric compaction {data.hex(' ').upper()} has a nibble above 9 or a pad "
                "nibble before the end",
                offset=offset,
            )
        return digits
    if code == FIVE_BIT:
        return _expand_five_bit(data, offset)
    if code == SIX_BIT:
        groups, rest, rest_bits = _groups(data, 6)
        if rest_bits:
            if rest != space_fill(rest_bits):
                raise _bad_padding("6-bit", data, offset)
        elif groups and groups[-1] == 0x20:
            groups.pop()  # a whole padding group 100000
        return bytes(groups).translate(_SIX_BIT_TO_ASCII).decode("ascii")
    if code == SEVEN_BIT:
        groups, rest, rest_bits = _groups(data, 7)
        if rest_bits:
            if rest != one_fill(rest_bits):
                raise _bad_padding("7-bit", data, offset)
        elif groups and groups[-1] == 0x7F:
            groups.pop()  # a whole padding group 1111111
        return bytes(groups).decode("ascii")
    if code == OCTET:
        return data.decode("latin-1")
    if code == UTF8:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = None if offset is None else offset + exc.start
            raise TagFormatError(f"UTF-8 compaction is not valid UTF-8: {exc.reason}",
                                 offset=where) from None
    raise TagFormatError(
        f"{SCHEME_NAMES.get(code, f'code {code}')} is not a text compaction scheme", offset=offset
    )


def _expand_five_bit(data: bytes, offset: int | None) -> str:
    groups, rest, rest_bits = _groups(data, 5)
    try:
        end = groups.index(0)
    except ValueError:
        end = len(groups)
    # Everything after the last character is padding: 0-bits, fewer than 8 of them.
    pad_bits = (len(groups) - end) * 5 + rest_bits
    if rest or any(groups[end:]) or pad_bits >= 8:
        raise _bad_padding("5-bit", data, offset)
    return bytes(groups[:end]).translate(_FIVE_BIT_TO_ASCII).decode("ascii")


def _bad_padding(scheme: str, data: bytes, offset: int | None) -> TagFormatError:
    return TagFormatError(
        f"{scheme} compaction {data.hex(' ').upper()} does not end in valid padding bits",
        offset=offset,
    )
