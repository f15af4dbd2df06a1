# SPDX-License-Identifier: Apache-2.0
"""Bulk imports of item status: CSV and MARC 21 bibliographic records with embedded holdings.

CSV (UTF-8, header row; only ``primary_item_id`` is required)::

    owner_institution,primary_item_id,title,media,circulation_status,set_size,sort_bin

MARC 21 (ISO 2709, read with pymarc); one item per holdings/item field that has a barcode:

    field  subfield -> item                       notes
    852    $p       primary_item_id (barcode)     MARC 21 Holdings "piece designation"
    852    $a       owner_institution             the location (an ISIL); else ``--owner``
    952    $p       primary_item_id               Koha's item field
    952    $a       owner_institution             Koha home branch code; else ``--owner``
    952    $y       media                         Koha item type
    952    $1 != 0  circulation_status 12 lost
    952    $q set   circulation_status 04 charged (date due)
    952    $7 != 0  circulation_status 01 other   (not for loan)
    245    $a $b    title                         of the bibliographic record
    otherwise       circulation_status 03 available

Not responsible for: publishing (the gateway numbers and sends the deltas).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from pymarc import MARCReader, Record

from edge_service.gateway.core import AVAILABLE, CHARGED, ImportedItem
from edge_service.gateway.errors import ImportFormatError
from protocols.contract import CIRCULATION_STATUSES, ContractError, ItemRecord

LOST, OTHER = "12", "01"
CSV_COLUMNS = ("owner_institution", "primary_item_id", "title", "media", "circulation_status",
               "set_size", "sort_bin")


def _checked(item: ImportedItem, where: str) -> ImportedItem:
    try:  # the contract's own rules, so a bad line is named here and not at publish time
        ItemRecord(primary_item_id=item.primary_item_id, owner_institution=item.owner_institution,
                   version=0, circulation_status=item.circulation_status,
                   security_expected=True, set_size=item.set_size, title=item.title,
                   media=item.media, sort_bin=item.sort_bin)
    except ContractError as exc:
        raise ImportFormatError(where, str(exc)) from None
    return item


def read_csv(path: Path, *, owner: str | None = None) -> Iterator[ImportedItem]:
    """Every row as an item; the first bad row raises :class:`ImportFormatError` naming its line
    and column (the CLI reads the whole file before publishing, so nothing is half-imported)."""
    with _opened(path, "rb") as handle:
        yield from _csv_rows(csv.DictReader(_utf8_lines(handle, path)), path, owner)


def _utf8_lines(handle: IO[bytes], path: Path) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 is named (decoding line by line, as
    a text stream decodes ahead in blocks and would blame the wrong line)."""
    for number, raw in enumerate(handle, start=1):
        try:
            # utf-8-sig on the first line: spreadsheets save CSV with a byte order mark, which
            # would otherwise become part of the first column's name.
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFormatError(f"{path}:{number}",
                                    f"not UTF-8 (byte {raw[exc.start]:#04x})") from None


def _csv_rows(reader: csv.DictReader[str], path: Path, owner: str | None
              ) -> Iterator[ImportedItem]:
    columns = reader.fieldnames or ()
    unknown = set(columns) - set(CSV_COLUMNS)
    if unknown or "primary_item_id" not in columns:
        raise ImportFormatError(f"{path}:1", f"columns must be from {', '.join(CSV_COLUMNS)}"
                                f" with primary_item_id (unknown: {', '.join(sorted(unknown))})"
                                if unknown else "no primary_item_id column")
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if None in row or None in row.values():
            raise ImportFormatError(where, f"{len(columns)} columns expected, the row has "
                                    f"{len([v for v in row.values() if v is not None])}")
        status = row.get("circulation_status") or AVAILABLE
        if status not in CIRCULATION_STATUSES:
            raise ImportFormatError(where, f"circulation_status: {status!r} is not 01..13")
        size = row.get("set_size") or None
        if size is not None and not size.isdigit():
            raise ImportFormatError(where, f"set_size: {size!r} is not a number")
        item_owner = row.get("owner_institution") or owner
        if not item_owner:
            raise ImportFormatError(where, "owner_institution: empty (or give --owner)")
        yield _checked(ImportedItem(
            owner_institution=item_owner, primary_item_id=row["primary_item_id"],
            circulation_status=status, title=row.get("title") or None,
            media=row.get("media") or None, set_size=int(size) if size else None,
            sort_bin=row.get("sort_bin") or None), where)


def _title(record: Record) -> str | None:
    field = record.get("245")
    if field is None:
        return None
    text = " ".join(v.strip(" /:;") for v in field.get_subfields("a", "b") if v.strip())
    return text[:512] or None


def items_of_record(record: Record, *, owner: str | None, where: str) -> Iterator[ImportedItem]:
    title = _title(record)
    for field in record.get_fields("852", "952"):
        barcode = (field.get("p") or "").strip()
        if not barcode:
            continue
        status = AVAILABLE
        if field.tag == "952":
            if (field.get("1") or "0").strip() not in ("", "0"):
                status = LOST
            elif (field.get("q") or "").strip():
                status = CHARGED
            elif (field.get("7") or "0").strip() not in ("", "0"):
                status = OTHER
        item_owner = (field.get("a") or "").strip() or owner
        if not item_owner:
            raise ImportFormatError(where, f"{field.tag} without $a and no --owner")
        media = (field.get("y") or "").strip() or None if field.tag == "952" else None
        yield _checked(ImportedItem(owner_institution=item_owner, primary_item_id=barcode,
                                    circulation_status=status, title=title, media=media),
                       f"{where} field {field.tag}")


def read_marc(path: Path, *, owner: str | None = None) -> Iterator[ImportedItem]:
    """Items of every record's holdings; a record without any yields none. The first record
    that cannot be read raises :class:`ImportFormatError` with its number (1-based)."""
    with _opened(path, "rb") as handle:
        reader = MARCReader(cast(BinaryIO, handle), to_unicode=True, permissive=True)
        for number, record in enumerate(reader, start=1):
            where = f"{path} record {number}"
            if record is None:
                reason = reader.current_exception or "unknown"
                raise ImportFormatError(where, f"not a readable MARC 21 record ({reason})")
            yield from items_of_record(record, owner=owner, where=where)


def _opened(path: Path, mode: str, **options: Any) -> IO[Any]:
    """``path`` opened, or an :class:`ImportFormatError` naming it (a bad file, not a crash)."""
    try:
        return path.open(mode, **options)
    except OSError as exc:
        raise ImportFormatError(str(path), f"cannot read it: {exc.strerror}") from None


def read_items(path: Path, *, owner: str | None = None) -> Iterator[ImportedItem]:
    """By extension: ``.csv``; ``.mrc``/``.marc``/``.iso`` as MARC 21."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, owner=owner)
    if suffix in (".mrc", ".marc", ".iso"):
        return read_marc(path, owner=owner)
    raise ImportFormatError(str(path), "expected a .csv or a MARC 21 file (.mrc, .marc, .iso)")
