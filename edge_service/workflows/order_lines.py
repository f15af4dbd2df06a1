# SPDX-License-Identifier: Apache-2.0
"""The copies the catalog expects from suppliers: checked, read from a file, or taken from the
catalog's ``acq.expect`` command.

One expected copy per item the library ordered, keyed by the primary item id the catalog gave
it (the id written to the tag when it is received):

    field                   required  rule
    primary_item_id         yes       the contract's item id (printable ASCII, 1-64)
    order_number            yes       1-64 printable characters, as the supplier writes it
    order_line              no        1-64 printable characters
    gs1_product_identifier  no        8-14 digits (EAN-8, UPC-A, EAN-13, GTIN-14); kept as 13
                                      digits when shorter (ISO 28560-1: a US code is expanded
                                      with leading zeros), so a tag and a list written either
                                      way match
    supplier_identifier     no        1-64 printable characters
    title                   no        1-512 printable characters
    type_of_usage           no        the ISO 28560-1 byte to write: 0-255 in JSON, two hex
                                      digits in a file ("10", as the standard writes it)

Sources:

- a CSV file (UTF-8, header row, those column names; ``order_number`` and
  ``primary_item_id`` required), e.g. derived from the supplier's EDI ORDERS/DESADV message by
  the library system: :func:`read_expected_csv`, every bad line named by its number;
- JSON objects with the same keys (the local API, the command): :func:`parse_copies`;
- the command ``acq.expect`` (``{node}/cmd/acq.expect``) from the catalog, args
  ``{"copies": [...]}`` at most ``MAX_COPIES``; answered ``{"stored": n, "kept": [ids]}``
  (``kept``: copies already received, left as they were), or the error ``invalid_args``
  naming the first bad copy and field: :func:`expect_command`.

Not responsible for: storing (``store.acquisitions``), matching tags (``acquisitions``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

from edge_service.store import ExpectedCopy, ExpectResult, Store, StoreError
from edge_service.sync.commands import CommandFailed
from edge_service.workflows.errors import WorkflowError
from protocols.contract import ContractError, ItemRef

__all__ = ["COLUMNS", "EXPECT_COMMAND", "MAX_COPIES", "CommandHandler", "expect_command", "gs1_key",
           "parse_copies", "read_expected_csv"]

EXPECT_COMMAND = "acq.expect"
MAX_COPIES = 10_000
"""Most copies in one command, request or file: a large order is a few hundred."""
COLUMNS = ("order_number", "order_line", "primary_item_id", "gs1_product_identifier",
           "supplier_identifier", "title", "type_of_usage")
MAX_TEXT = 64
MAX_TITLE = 512
GS1_DIGITS = (8, 14)
GS1_KEY_DIGITS = 13

CommandHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


def gs1_key(value: str | None) -> str | None:
    """A GS1 product id as compared and stored: digits, shorter ones zero-filled to 13."""
    if value is None:
        return None
    text = value.strip()
    return text.zfill(GS1_KEY_DIGITS) if text.isdigit() and len(text) < GS1_KEY_DIGITS \
        else text


def _refuse(where: str, reason: str) -> WorkflowError:
    return WorkflowError("invalid_request", f"{where}: {reason}", status=422, field=where)


def _text(value: object, where: str, *, required: bool, limit: int = MAX_TEXT) -> str | None:
    if value is None or value == "":
        if required:
            raise _refuse(where, "is required")
        return None
    if not isinstance(value, str):
        raise _refuse(where, f"must be text, not {type(value).__name__}")
    if len(value) > limit:
        raise _refuse(where, f"is {len(value)} characters, at most {limit}")
    if not value.isprintable() or value != value.strip():
        raise _refuse(where, "has control characters or surrounding spaces")
    return value


def _gs1(value: object, where: str) -> str | None:
    text = _text(value, where, required=False)
    if text is None:
        return None
    low, high = GS1_DIGITS
    if not text.isdigit() or not low <= len(text) <= high:
        raise _refuse(where, f"{text!r} is not {low}-{high} digits")
    return gs1_key(text)


def _usage(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise _refuse(where, f"{value!r} is not a byte 0-255")
    return value


def _item_id(value: object, where: str) -> str:
    text = _text(value, where, required=True)
    assert text is not None
    try:
        ItemRef(primary_item_id=text)
    except ContractError as exc:
        raise _refuse(where, exc.reason) from None
    return text


def copy_of(entry: Mapping[str, Any], where: str) -> ExpectedCopy:
    """One expected copy from a JSON object (unknown keys refused: a misspelt column would
    otherwise drop its value silently)."""
    unknown = set(entry) - set(COLUMNS)
    if unknown:
        raise _refuse(f"{where}.{sorted(unknown)[0]}", f"is not one of {', '.join(COLUMNS)}")
    order_number = _text(entry.get("order_number"), f"{where}.order_number", required=True)
    assert order_number is not None
    return ExpectedCopy(
        primary_item_id=_item_id(entry.get("primary_item_id"), f"{where}.primary_item_id"),
        order_number=order_number,
        order_line=_text(entry.get("order_line"), f"{where}.order_line", required=False),
        gs1_product_identifier=_gs1(entry.get("gs1_product_identifier"),
                                    f"{where}.gs1_product_identifier"),
        supplier_identifier=_text(entry.get("supplier_identifier"),
                                  f"{where}.supplier_identifier", required=False),
        title=_text(entry.get("title"), f"{where}.title", required=False, limit=MAX_TITLE),
        type_of_usage=_usage(entry.get("type_of_usage"), f"{where}.type_of_usage"))


def parse_copies(entries: Sequence[object], where: str = "copies") -> list[ExpectedCopy]:
    """Every entry checked, the first bad one named (``copies[3].order_number``); a primary
    item id listed twice is refused (which of the two is meant cannot be told)."""
    if len(entries) > MAX_COPIES:
        raise _refuse(where, f"{len(entries)} copies; at most {MAX_COPIES} at once")
    copies: list[ExpectedCopy] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        place = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise _refuse(place, f"must be an object, not {type(entry).__name__}")
        copy = copy_of(entry, place)
        if copy.primary_item_id in seen:
            raise _refuse(f"{place}.primary_item_id",
                          f"copy {copy.primary_item_id} is listed twice")
        seen.add(copy.primary_item_id)
        copies.append(copy)
    return copies


def read_expected_csv(text: str, *, source: str = "csv") -> list[ExpectedCopy]:
    """The copies of a CSV file's text (see the module docstring); errors name
    ``{source}:{line}`` and the column."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        columns = reader.fieldnames or ()
    except csv.Error as exc:   # e.g. a field over the csv module's limit
        raise _refuse(f"{source}:1", f"not readable as CSV ({exc})") from None
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown or not {"order_number", "primary_item_id"} <= set(columns):
        reason = (f"unknown column {unknown[0]!r}" if unknown
                  else "needs the columns order_number and primary_item_id")
        raise _refuse(f"{source}:1", f"{reason} (columns: {', '.join(COLUMNS)})")
    entries: list[dict[str, Any]] = []
    places: list[str] = []
    for row in _rows(reader, source, len(columns)):
        place = f"{source}:{reader.line_num}"
        usage = row.get("type_of_usage") or None
        entry: dict[str, Any] = {k: v or None for k, v in row.items() if k != "type_of_usage"}
        entry["type_of_usage"] = _hex_usage(usage, f"{place}.type_of_usage")
        entries.append(entry)
        places.append(place)
    if len(entries) > MAX_COPIES:
        raise _refuse(source, f"{len(entries)} copies; at most {MAX_COPIES} in one file")
    copies: list[ExpectedCopy] = []
    seen: set[str] = set()
    for entry, place in zip(entries, places, strict=True):
        copy = copy_of(entry, place)
        if copy.primary_item_id in seen:
            raise _refuse(f"{place}.primary_item_id",
                          f"copy {copy.primary_item_id} is listed twice")
        seen.add(copy.primary_item_id)
        copies.append(copy)
    return copies


def _rows(reader: csv.DictReader[str], source: str, width: int) -> Iterator[dict[str, str]]:
    try:
        for row in reader:
            if None in row or None in row.values():
                raise _refuse(f"{source}:{reader.line_num}", f"{width} columns expected")
            yield row
    except csv.Error as exc:   # e.g. a field over the csv module's limit
        # The record that failed starts on the line after the last one read.
        raise _refuse(f"{source}:{reader.line_num + 1}", f"not readable as CSV ({exc})") from None


def _hex_usage(value: str | None, where: str) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) != 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise _refuse(where, f"{value!r} is not two hex digits (ISO 28560-1, e.g. 10)")
    return int(text, 16)


def expect_command(store: Store) -> CommandHandler:
    """The handler of ``acq.expect`` (see the module docstring)."""
    async def expect(args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("copies")
        if not isinstance(entries, list):
            raise CommandFailed("invalid_args", "copies: a list of expected copies is required")
        try:
            copies = parse_copies(entries)
        except WorkflowError as exc:
            raise CommandFailed("invalid_args", exc.message) from None
        try:
            result: ExpectResult = await store.acquisitions.expect(copies, source="mqtt")
        except StoreError as exc:
            raise CommandFailed("failed", f"the copies could not be stored: {exc}") from None
        return {"stored": result.stored, "kept": list(result.kept)}
    return expect
