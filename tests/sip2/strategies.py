# SPDX-License-Identifier: Apache-2.0
"""Hypothesis strategies for every SIP2 message, built from the messages' own layout tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from protocols.sip2 import LAYOUTS, FixedKind, Message, SipDate

ZONES = ("    ", "   Z", "0000", "EST ")
_FORBIDDEN = "|\r\n"


def value_text(charset: str) -> st.SearchStrategy[str]:
    """Variable-field text that the charset can carry (no '|', CR, LF)."""
    if charset == "latin-1":
        chars = st.characters(max_codepoint=0xFF, exclude_characters=_FORBIDDEN)
    else:
        chars = st.characters(exclude_categories=["Cs"], exclude_characters=_FORBIDDEN)
    return st.text(chars, max_size=12)


def sip_dates() -> st.SearchStrategy[SipDate]:
    moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))  # noqa: DTZ001
    return st.builds(lambda m, z: SipDate(m.replace(microsecond=0), z), moments,
                     st.sampled_from(ZONES))


def _fixed(kind: FixedKind, width: int) -> st.SearchStrategy[Any]:
    match kind:
        case FixedKind.BOOL01 | FixedKind.YN:
            return st.booleans()
        case FixedKind.YNU:
            return st.none() | st.booleans()
        case FixedKind.NUMBER:
            return st.integers(0, 10**width - 1)
        case FixedKind.FLAGS:
            return st.text(st.sampled_from("YN "), min_size=width, max_size=width)
        case FixedKind.DATE:
            return st.none() | sip_dates()
        case FixedKind.TEXT:
            printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E,
                                      exclude_characters="|")
            return st.text(printable, min_size=width, max_size=width)


@st.composite
def messages(draw: st.DrawFn, cls: type[Message], charset: str = "utf-8") -> Message:
    table = LAYOUTS[cls]
    values: dict[str, Any] = {}
    for spec in table.fixed:
        values[spec.attr] = draw(_fixed(spec.kind, spec.width))
    text = value_text(charset)
    for var in table.variable:
        if var.repeatable:
            values[var.attr] = tuple(draw(st.lists(text, max_size=3)))
        elif var.required:
            values[var.attr] = draw(text)
        else:
            values[var.attr] = draw(st.none() | text)
    known = {v.code for v in table.variable}
    codes = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), min_size=2,
                    max_size=2).filter(lambda c: c not in known)
    values["extra"] = tuple(draw(st.lists(st.tuples(codes, text), max_size=3)))
    return cls(**values)
