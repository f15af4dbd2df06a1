# SPDX-License-Identifier: Apache-2.0
"""Tiny MARC 21 (ISO 2709) files built with pymarc, as a Koha or holdings export would have them."""

from __future__ import annotations

from pathlib import Path

from pymarc import Field, Indicators, Record, Subfield

OWNER = "DK-718500"


def field(tag: str, **subfields: str) -> Field:
    """A data field; subfield codes that are digits are passed as ``_1``, ``_7``."""
    return Field(tag=tag, indicators=Indicators(" ", " "),
                 subfields=[Subfield(code.lstrip("_"), value) for code, value in subfields.items()])


def record(title: str, *holdings: Field) -> Record:
    marc = Record()
    # pymarc leaves add_field untyped
    marc.add_field(Field(tag="245", indicators=Indicators("1", "0"),  # type: ignore[no-untyped-call]
                         subfields=[Subfield("a", f"{title} :"), Subfield("b", "a novel")]))
    for holding in holdings:
        marc.add_field(holding)  # type: ignore[no-untyped-call]
    return marc


def write(path: Path, *records: Record | bytes) -> Path:
    path.write_bytes(b"".join(r if isinstance(r, bytes) else r.as_marc() for r in records))
    return path


def corrupted(marc: Record) -> bytes:
    """The record with letters in its leader's base address of data (bytes 12-16)."""
    data: bytes = marc.as_marc()
    return data[:12] + b"xx" + data[14:]
