# SPDX-License-Identifier: Apache-2.0
"""Bulk imports: CSV rows and MARC 21 holdings become items, a bad row or record is named by
line/record and column/field, and an import becomes deltas (per-site seq, item versions)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_service.gateway import (
    Gateway,
    GatewaySettings,
    ImportedItem,
    ImportFormatError,
    read_csv,
    read_items,
    read_marc,
)
from edge_service.ils import Sip2Pool, Sip2Profile
from edge_service.store import GatewayState
from protocols.contract import ItemDelta
from tests.gateway.helpers import MemoryTransport, S, T
from tests.gateway.marc import OWNER, corrupted, field, record, write

HEADER = "owner_institution,primary_item_id,title,media,circulation_status,set_size,sort_bin\n"
OTHER_SITE = "DK-718502"


def csv_file(tmp_path: Path, *rows: str, header: str = HEADER, bom: bool = False) -> Path:
    path = tmp_path / "items.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (header + "".join(rows)).encode())
    return path


def test_a_good_csv_file_gives_every_row(tmp_path: Path) -> None:
    # A spreadsheet's export starts with a byte order mark; it must not spoil the first column.
    path = csv_file(tmp_path,
                    "DK-718500,5012345601,Kalevala,book,03,,\n",
                    ',5012345602,"Comma, in title",,04,3,B2\n',
                    bom=True)
    assert list(read_items(path, owner="DK-718599")) == [
        ImportedItem("DK-718500", "5012345601", "03", "Kalevala", "book"),
        ImportedItem("DK-718599", "5012345602", "04", "Comma, in title", None, 3, "B2"),
    ]


@pytest.mark.parametrize(("row", "said"), [
    ("DK-718500,5012345602,,,99,,\n", "items.csv:3: circulation_status: '99'"),
    ("DK-718500,5012345602,,,,two,\n", "items.csv:3: set_size: 'two'"),
    (",5012345602,,,,,\n", "items.csv:3: owner_institution: empty"),
    ("DK-718500,,,,,,\n", "items.csv:3: primary_item_id: must be 1-64 characters"),
    ("DK 718500,5012345602,,,,,\n", "items.csv:3: owner_institution: 'DK 718500'"),
    ("DK-718500,5012345602\n", "items.csv:3: 7 columns expected, the row has 2"),
    ("DK-718500,5012345602,,,,,,extra\n", "items.csv:3: 7 columns expected"),
])
def test_a_bad_csv_row_is_named_by_line_and_column(tmp_path: Path, row: str, said: str) -> None:
    path = csv_file(tmp_path, "DK-718500,5012345601,,,,,\n", row, "DK-718500,5012345603,,,,,\n")
    items = read_csv(path)
    # The rows before it were fine; the import as a whole is refused by the reader's caller,
    # which reads everything before publishing (tests/gateway/test_cli.py checks that).
    assert next(items).primary_item_id == "5012345601"
    with pytest.raises(ImportFormatError) as raised:
        next(items)
    assert str(raised.value).endswith(said) or said in str(raised.value)
    assert raised.value.where == f"{path}:3"


def test_csv_header_and_encoding_errors(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match=r"items.csv:1: .*unknown: barcode"):
        list(read_csv(csv_file(tmp_path, "x\n", header="barcode\n")))
    with pytest.raises(ImportFormatError, match=r"items\.csv:1: no primary_item_id column"):
        list(read_csv(csv_file(tmp_path, "x\n", header="title\n")))
    latin1 = tmp_path / "items.csv"
    latin1.write_bytes(HEADER.encode() + "DK-718500,5012345601,Søren,,,,\n".encode("latin-1"))
    with pytest.raises(ImportFormatError, match=r"items.csv:2: not UTF-8 \(byte 0xf8\)"):
        list(read_csv(latin1))
    with pytest.raises(ImportFormatError, match=r"missing\.csv: cannot read it"):
        list(read_csv(tmp_path / "missing.csv"))
    with pytest.raises(ImportFormatError, match=r"expected a \.csv or a MARC 21 file"):
        read_items(tmp_path / "items.xlsx")


def test_marc_holdings_become_items(tmp_path: Path) -> None:
    path = write(
        tmp_path / "export.mrc",
        record("Kalevala",
               field("852", a=OWNER, p="3001"),
               field("852", a=OWNER),                            # no barcode: not an item
               field("952", p="3002", y="BOOK"),                 # owner from --owner
               field("952", p="3003", _1="2"),                   # lost
               field("952", p="3004", q="2024-05-20")),          # on loan (date due)
        record("Without holdings"),
        record("Reference", field("952", a="DK-718502", p="3005", _7="1")))  # not for loan
    items = list(read_marc(path, owner="DK-718599"))
    assert [(i.owner_institution, i.primary_item_id, i.circulation_status, i.media)
            for i in items] == [
        (OWNER, "3001", "03", None),
        ("DK-718599", "3002", "03", "BOOK"),
        ("DK-718599", "3003", "12", None),
        ("DK-718599", "3004", "04", None),
        ("DK-718502", "3005", "01", None),
    ]
    assert items[0].title == "Kalevala a novel"
    assert items[-1].title == "Reference a novel"


def test_a_malformed_marc_record_is_named_by_number(tmp_path: Path) -> None:
    good = record("Kalevala", field("952", a=OWNER, p="3001"))
    path = write(tmp_path / "export.mrc", good, record("Without holdings"), corrupted(good))
    items = read_items(path)
    assert next(items).primary_item_id == "3001"
    with pytest.raises(ImportFormatError, match=r"export.mrc record 3: not a readable MARC 21"):
        next(items)
    no_owner = write(tmp_path / "no-owner.mrc", record("K", field("852", p="3001")))
    with pytest.raises(ImportFormatError, match=r"record 1: 852 without \$a and no --owner"):
        list(read_marc(no_owner))


@contextlib.asynccontextmanager
async def importer(tmp_path: Path) -> AsyncIterator[tuple[Gateway, MemoryTransport]]:
    """A gateway as ``libedge gateway import`` has it: state and transport, SIP2 never used."""
    state = await GatewayState.open(tmp_path / "gateway.db")
    never_connected = Sip2Pool(Sip2Profile(host="127.0.0.1", port=9), 1)
    transport = MemoryTransport()
    try:
        yield Gateway(GatewaySettings(tenant=T), never_connected, state, transport), transport
    finally:
        await state.close()


async def test_imports_become_deltas_with_site_seq_and_item_versions(tmp_path: Path) -> None:
    marc = write(tmp_path / "export.mrc",
                 record("A", field("852", a=OWNER, p="3001"), field("852", a=OWNER, p="3002")),
                 record("B", field("952", a=OWNER, p="3003", q="2024-05-20")))
    csv = csv_file(tmp_path, f"{OWNER},3001,A,,04,,\n")
    async with importer(tmp_path) as (gw, transport):
        assert await gw.import_items(S, read_marc(marc)) == [1]
        assert await gw.import_items(S, read_csv(csv)) == [2]
        assert await gw.import_items(OTHER_SITE, read_csv(csv)) == [1]   # its own numbering
        first, second, other = (ItemDelta.from_json(p) for p in transport.on("/items/delta"))
        assert [t for t, _ in transport.published] == [
            f"lib/v1/{T}/{S}/items/delta", f"lib/v1/{T}/{S}/items/delta",
            f"lib/v1/{T}/{OTHER_SITE}/items/delta"]
        assert [(i.primary_item_id, i.version, i.circulation_status, i.security_expected)
                for i in first.items] == [("3001", 1, "03", True), ("3002", 1, "03", True),
                                          ("3003", 1, "04", False)]
        (again,) = second.items
        assert (again.primary_item_id, again.version, again.circulation_status) == (
            "3001", 2, "04")
        assert (first.seq, second.seq, other.seq) == (1, 2, 1)
        assert other.items[0].version == 1
        assert (await gw.state.site_seq(S), await gw.state.site_seq(OTHER_SITE)) == (2, 1)
