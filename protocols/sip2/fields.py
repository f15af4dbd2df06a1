# SPDX-License-Identifier: Apache-2.0
"""How SIP2 fields are declared, rendered and parsed.

A message is a frozen dataclass whose attributes are declared with :func:`fixed` (fixed-length
fields, in wire order, right after the two-digit message id) and :func:`variable` (``XXvalue|``
fields identified by a two-letter code). The declarations carry the width, the kind and one line
of spec text, so the dataclass *is* the layout table; :func:`layout` reads it back.

Fixed kinds and their Python types:

=========  =========================  =================================================
kind       Python value               wire
=========  =========================  =================================================
BOOL01     ``bool``                   ``0`` / ``1`` (ok flags of 94, 10, 12, 20, 30)
YN         ``bool``                   ``Y`` / ``N``
YNU        ``bool | None``            ``Y`` / ``N`` / ``U`` (unknown)
NUMBER     ``int``                    zero-padded digits (leading blanks accepted, as in
                                      the 3M guide's ``990 402.00`` example)
TEXT       ``str``                    exactly *width* printable ASCII characters
FLAGS      ``str``                    *width* characters, each ``Y``, ``N`` or blank
DATE       ``SipDate | None``         18 characters, or 18 blanks for "no date"
=========  =========================  =================================================

Variable fields are text in the configured charset: required ones are always sent (possibly
empty), optional ones are ``None`` when absent, repeatable ones (``AF`` screen messages, item
lists of 64) are tuples. Numbers in variable fields stay text: ILSs format amounts differently
(FOLIO SIP2-300) and the codec does not guess.

Not responsible for: message ids, checksums or framing (see :mod:`protocols.sip2.codec`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

from protocols.sip2.dates import SIP_DATE_WIDTH, SipDate, format_sip_date, parse_sip_date
from protocols.sip2.errors import Sip2Error

FIELD_DELIMITER = "|"
# Characters no field value may contain: the delimiter and the line terminators.
FORBIDDEN_IN_VALUES = frozenset("|\r\n")
_METADATA_KEY = "sip2"


class FixedKind(Enum):
    BOOL01 = "0/1"
    YN = "Y/N"
    YNU = "Y/N/U"
    NUMBER = "digits"
    TEXT = "text"
    FLAGS = "Y/N/blank flags"
    DATE = "date"


@dataclass(frozen=True, slots=True)
class FixedField:
    """One fixed-length field: its attribute name, kind, width in characters and spec text."""

    attr: str
    kind: FixedKind
    width: int
    spec: str


@dataclass(frozen=True, slots=True)
class VariableField:
    """One variable field: two-letter code, attribute, required/repeatable, spec text."""

    code: str
    attr: str
    required: bool
    repeatable: bool
    spec: str


@dataclass(frozen=True, slots=True)
class _FixedDecl:
    kind: FixedKind
    width: int
    spec: str


@dataclass(frozen=True, slots=True)
class _VariableDecl:
    code: str
    required: bool
    repeatable: bool
    spec: str


_FIXED_DEFAULTS: dict[FixedKind, object] = {
    FixedKind.BOOL01: False, FixedKind.YN: False, FixedKind.YNU: None, FixedKind.NUMBER: 0,
    FixedKind.DATE: None,
}


def fixed(kind: FixedKind, width: int, spec: str, *, default: object = None) -> Any:
    """Declare a fixed field (dataclass ``field`` with the layout in its metadata)."""
    if kind is FixedKind.DATE:
        width = SIP_DATE_WIDTH
    if default is None:
        default = _FIXED_DEFAULTS.get(kind, " " * width if kind is FixedKind.FLAGS else None)
    if default is None and kind is FixedKind.TEXT:
        raise TypeError("TEXT fields need an explicit default")
    decl = _FixedDecl(kind, width, spec)
    return dataclasses.field(default=default, metadata={_METADATA_KEY: decl})


def variable(code: str, spec: str, *, required: bool = False, repeatable: bool = False) -> Any:
    """Declare a variable field: required -> ``str`` (default ""), optional -> ``str | None``,
    repeatable -> ``tuple[str, ...]``."""
    decl = _VariableDecl(code, required, repeatable, spec)
    if repeatable:
        return dataclasses.field(default=(), metadata={_METADATA_KEY: decl})
    return dataclasses.field(default="" if required else None, metadata={_METADATA_KEY: decl})


@dataclass(frozen=True, slots=True)
class Layout:
    """The fixed fields in wire order and the variable fields in the order they are sent."""

    fixed: tuple[FixedField, ...]
    variable: tuple[VariableField, ...]

    @property
    def fixed_width(self) -> int:
        return sum(f.width for f in self.fixed)

    def by_code(self) -> dict[str, VariableField]:
        return {v.code: v for v in self.variable}


def layout(message_class: type) -> Layout:
    """Read the layout table back from a message dataclass's field declarations."""
    fixed_fields: list[FixedField] = []
    variable_fields: list[VariableField] = []
    for f in dataclasses.fields(message_class):
        decl = f.metadata.get(_METADATA_KEY)
        if isinstance(decl, _FixedDecl):
            fixed_fields.append(FixedField(f.name, decl.kind, decl.width, decl.spec))
        elif isinstance(decl, _VariableDecl):
            variable_fields.append(
                VariableField(decl.code, f.name, decl.required, decl.repeatable, decl.spec))
    return Layout(tuple(fixed_fields), tuple(variable_fields))


# --- fixed field values ----------------------------------------------------------------------


def check_fixed(spec: FixedField, value: object) -> None:
    """Raise :class:`Sip2Error` unless ``value`` can be sent in ``spec``."""
    ok: bool
    match spec.kind:
        case FixedKind.BOOL01 | FixedKind.YN:
            ok = isinstance(value, bool)
        case FixedKind.YNU:
            ok = value is None or isinstance(value, bool)
        case FixedKind.NUMBER:
            ok = (isinstance(value, int) and not isinstance(value, bool)
                  and 0 <= value < 10 ** spec.width)
        case FixedKind.TEXT:
            ok = (isinstance(value, str) and len(value) == spec.width and value.isascii()
                  and value.isprintable() and FIELD_DELIMITER not in value)
        case FixedKind.FLAGS:
            ok = isinstance(value, str) and len(value) == spec.width and set(value) <= set("YN ")
        case FixedKind.DATE:
            ok = value is None or isinstance(value, SipDate)
    if not ok:
        raise Sip2Error(f"value does not fit a {spec.width}-character {spec.kind.value} field",
                        field=spec.attr)


def render_fixed(spec: FixedField, value: Any) -> str:
    match spec.kind:
        case FixedKind.BOOL01:
            return "1" if value else "0"
        case FixedKind.YN:
            return "Y" if value else "N"
        case FixedKind.YNU:
            return "U" if value is None else ("Y" if value else "N")
        case FixedKind.NUMBER:
            return f"{value:0{spec.width}d}"
        case FixedKind.DATE:
            return format_sip_date(value)
        case _:
            text: str = value
            return text


def parse_fixed(spec: FixedField, text: str, offset: int) -> object:
    """Parse one fixed field's characters (already known to be ASCII and of the right width)."""
    def bad(expected: str) -> Sip2Error:
        # The value is not quoted: a misaligned line can put a patron barcode here.
        return Sip2Error(f"bad fixed field {spec.attr}: expected {expected}",
                         offset=offset, field=spec.attr)

    match spec.kind:
        case FixedKind.BOOL01:
            if text not in ("0", "1"):
                raise bad("0 or 1")
            return text == "1"
        case FixedKind.YN:
            if text not in ("Y", "N"):
                raise bad("Y or N")
            return text == "Y"
        case FixedKind.YNU:
            if text not in ("Y", "N", "U"):
                raise bad("Y, N or U")
            return None if text == "U" else text == "Y"
        case FixedKind.NUMBER:
            digits = text.lstrip(" ")
            if not digits or not digits.isdigit():
                raise bad(f"{spec.width} digits")
            return int(digits)
        case FixedKind.FLAGS:
            if not set(text) <= set("YN "):
                raise bad("Y, N or blank in each position")
            return text
        case FixedKind.DATE:
            return parse_sip_date(text, offset=offset, field=spec.attr)
        case FixedKind.TEXT:
            if not text.isprintable() or FIELD_DELIMITER in text:
                raise bad("printable characters")
            return text
