# SPDX-License-Identifier: Apache-2.0
"""ISO 28560-2 Annex C ISIL compaction (compaction code 0 on OIDs 3 and 11).

Three character sets; encoding starts in Upper. Shift changes the set for exactly one
character, latch until the next latch (shared/reference/iso28560.md §2, "ISIL compaction"):

    set      width  codes                                     control codes
    Upper    5      0 '-', 1-26 A-Z, 27 ':'                   28 latch Lower, 29 shift Lower,
                                                              30 latch Numeric, 31 shift Numeric
    Lower    5      0 '-', 1-26 a-z, 27 '/'                   28 latch Upper, 29 shift Upper,
                                                              30 latch Numeric, 31 shift Numeric
    Numeric  4      0-9 digits, 10 '-', 11 ':'                12 latch Upper, 13 shift Upper,
                                                              14 latch Lower, 15 shift Lower

The bit stream is padded with 1-bits to a byte boundary.

Encoder rule (general, no special cases): a character the current set holds is written in that
set (the standard's example 2 writes the '-' of "CH-" in Upper before latching to Numeric).
Otherwise the encoder picks the shift or latch, and the target set, that gives the fewest bits
for the whole remaining string; on a tie a shift wins, since it keeps the current set. This
reproduces the standard's "DE-Heu1" and "CH-000134-1" examples and Annex D's "US-InU-Mu".

Not responsible for: ISIL syntax beyond the character repertoire (prefix rules, 16-character
limit), data-set framing.
"""

from __future__ import annotations

from protocols.errors import TagFormatError
from protocols.iso28560.compaction import bits_to_bytes, one_fill

UPPER, LOWER, NUMERIC = 0, 1, 2
_SET_NAMES = ("Upper", "Lower", "Numeric")
_WIDTH = (5, 5, 4)
# Characters by code, per set; the codes past the end of each string are control codes.
_CHARS = (
    "-ABCDEFGHIJKLMNOPQRSTUVWXYZ:",
    "-abcdefghijklmnopqrstuvwxyz/",
    "0123456789-:",
)
_CODE = tuple({ch: code for code, ch in enumerate(chars)} for chars in _CHARS)
# (from set, to set) -> (latch code, shift code)
_CONTROL = {
    (UPPER, LOWER): (28, 29), (UPPER, NUMERIC): (30, 31),
    (LOWER, UPPER): (28, 29), (LOWER, NUMERIC): (30, 31),
    (NUMERIC, UPPER): (12, 13), (NUMERIC, LOWER): (14, 15),
}
# from set -> control code -> (target set, is_shift)
_CONTROL_BY_CODE: tuple[dict[int, tuple[int, bool]], ...] = tuple(
    {code: (to, code == pair[1])
     for (frm, to), pair in _CONTROL.items() if frm == current for code in pair}
    for current in (UPPER, LOWER, NUMERIC)
)
ISIL_CHARACTERS = frozenset("".join(_CHARS))


def compact_isil(isil: str) -> bytes:
    """``isil`` in the ISIL compaction; TagFormatError for characters outside A-Z a-z 0-9 - : /."""
    bad = sorted(set(isil) - ISIL_CHARACTERS)
    if bad:
        raise TagFormatError(
            f"ISIL {isil!r} has characters the ISIL compaction cannot carry: {''.join(bad)!r}"
        )
    value = 0
    nbits = 0
    current = UPPER
    for ch, (control, char_set, after) in zip(isil, _plan(isil), strict=True):
        if control is not None:
            value = (value << _WIDTH[current]) | control
            nbits += _WIDTH[current]
        value = (value << _WIDTH[char_set]) | _CODE[char_set][ch]
        nbits += _WIDTH[char_set]
        current = after
    return bits_to_bytes(value, nbits, one_fill)


# (control code before the character or None, the set that encodes it, the set after it)
_Step = tuple[int | None, int, int]


def _plan(isil: str) -> list[_Step]:
    """The cheapest steps under the module's rule, by dynamic programming from the end."""
    # cost[s] / step[i][s]: fewest bits to write isil[i:] starting latched in set s, and how.
    cost = [0, 0, 0]
    steps: list[list[_Step]] = []
    for ch in reversed(isil):
        new_cost = [0, 0, 0]
        here: list[_Step] = []
        for current in (UPPER, LOWER, NUMERIC):
            best: tuple[int, _Step]
            if ch in _CODE[current]:
                best = (_WIDTH[current] + cost[current], (None, current, current))
            else:
                options: list[tuple[int, _Step]] = []
                for is_shift in (True, False):  # first listed wins a tie: shifts before latches
                    for target in (UPPER, LOWER, NUMERIC):
                        if target == current or ch not in _CODE[target]:
                            continue
                        latch, shift = _CONTROL[current, target]
                        after = current if is_shift else target
                        bits = _WIDTH[current] + _WIDTH[target] + cost[after]
                        options.append((bits, (shift if is_shift else latch, target, after)))
                best = min(options, key=lambda option: option[0])
            new_cost[current] = best[0]
            here.append(best[1])
        cost = new_cost
        steps.append(here)
    steps.reverse()
    plan: list[_Step] = []
    current = UPPER
    for here in steps:
        plan.append(here[current])
        current = here[current][2]
    return plan


def expand_isil(data: bytes, *, offset: int | None = None) -> str:
    """The ISIL packed into ``data``; ``offset`` (where ``data`` starts) is used in errors."""
    nbits = len(data) * 8
    value = int.from_bytes(data, "big")
    remaining = nbits
    latched = UPPER
    shifted: int | None = None
    out = []
    while True:
        tail = value & ((1 << remaining) - 1)
        if remaining < 8 and tail == (1 << remaining) - 1:
            break  # the 1-bit padding (no complete character can be all 1-bits)
        current = latched if shifted is None else shifted
        width = _WIDTH[current]
        if remaining < width:
            raise TagFormatError(
                f"ISIL compaction {data.hex(' ').upper()} does not end in 1-bit padding",
                offset=offset,
            )
        remaining -= width
        code = (value >> remaining) & ((1 << width) - 1)
        chars = _CHARS[current]
        if code < len(chars):
            out.append(chars[code])
            shifted = None
            continue
        if shifted is not None:
            raise TagFormatError(
                f"ISIL compaction {data.hex(' ').upper()} has a control code right after a "
                f"shift to {_SET_NAMES[current]}",
                offset=offset + (nbits - remaining - width) // 8 if offset is not None else None,
            )
        target, is_shift = _CONTROL_BY_CODE[current][code]
        if is_shift:
            shifted = target
        else:
            latched = target
    if shifted is not None:
        raise TagFormatError(
            f"ISIL compaction {data.hex(' ').upper()} ends with a shift and no character",
            offset=offset,
        )
    return "".join(out)
