# SPDX-License-Identifier: Apache-2.0
"""3M D6 codec, the reader's side: typed request parsers and response builders.

Vectors are the ones of tests/vectors/reader_frames.json (3M spec §7 and Biblio-RFID captures);
each builder must reproduce them byte for byte, and each typed request must survive
builder -> frame -> parser."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import FrameError
from protocols.readers import d6
from tests.conftest import H, load_vectors

UID = "E004010012345678"
VECTORS = {i: v for i, v in enumerate(load_vectors("reader_frames"))
           if v["protocol"] == "3M D6 protocol"}


def vector(index: int) -> bytes:
    assert VECTORS[index]["source"]
    return H(VECTORS[index]["hex"])


# --- response builders reproduce the vectors -----------------------------------------------------

VERSION = d6.ReaderVersion(0x0A, 0x03, 0x02, 0x06)

BUILT_RESPONSES: dict[int, Any] = {
    53: lambda: d6.hw_version_probe_response(d6.ReaderVersion(0x0A, 0x05, 0x00, 0x02)),
    55: lambda: d6.inventory_response([d6.InventoryEntry(UID)], afi=0, options=0x05),
    56: lambda: d6.inventory_response([], options=0x05),
    58: lambda: d6.reader_version_response(VERSION),
    60: lambda: d6.read_blocks_response(UID, [d6.BlockRecord(0, 0, H("11 22 33 44")),
                                              d6.BlockRecord(1, 0, H("55 66 77 88"))]),
    62: lambda: d6.write_blocks_response(UID, 1),
    63: lambda: d6.write_blocks_response(UID, 0, status=0x16),
    65: lambda: d6.tag_reply_response(0x09, UID),
    66: lambda: d6.error_response(0x09, 0x06, UID),
    68: lambda: d6.read_afi_response(UID, 0xDA),
    70: lambda: d6.check_eas_response(UID, armed=False),
    72: lambda: d6.error_response(0x42, 0x02),
}


@pytest.mark.parametrize("index", sorted(BUILT_RESPONSES), ids=[f"v{i}" for i in
                                                               sorted(BUILT_RESPONSES)])
def test_builder_reproduces_response_vector(index: int) -> None:
    assert BUILT_RESPONSES[index]().encode() == vector(index)


def test_response_builders_round_trip_through_host_parsers() -> None:
    assert d6.parse_check_eas(d6.check_eas_response(UID, armed=True)) == \
        d6.EasResult(0, UID, armed=True)
    assert d6.parse_read_dsfid(d6.read_dsfid_response(UID, 0x11)) == d6.ByteResult(0, UID, 0x11)
    info = d6.parse_tag_info(d6.tag_info_response(UID, dsfid=0, afi=0xD7, block_size=4,
                                                  block_count=28, ic_reference=1))
    assert (info.available, info.afi, info.block_size, info.block_count) == (0x0F, 0xD7, 4, 28)
    partial = d6.parse_tag_info(d6.tag_info_response(UID, afi=0xDA))
    assert (partial.available, partial.afi, partial.block_count) == (d6.TAG_INFO_AFI, 0xDA, None)
    assert d6.parse_pass_through(d6.pass_through_response(0x03, H("00 11 22"))) == \
        d6.PassThroughResult(0, 0x03, 3, H("00 11 22"))
    inventory = d6.parse_inventory(d6.inventory_response(
        [d6.InventoryEntry(UID, 0x11), d6.InventoryEntry(UID, 0x11)], options=0x07))
    assert [e.dsfid for e in inventory.entries] == [0x11, 0x11]
    assert inventory.uids == (UID,)


def test_response_builders_reject_bad_values() -> None:
    with pytest.raises(FrameError, match="non-zero status"):
        d6.error_response(0x09, 0x00, UID)
    with pytest.raises(FrameError, match="DSFID for every entry"):
        d6.inventory_response([d6.InventoryEntry(UID)], options=0x07)
    with pytest.raises(FrameError, match="UID only"):
        d6.tag_reply_response(0x0A, UID)
    with pytest.raises(FrameError, match="come together"):
        d6.tag_info_response(UID, block_size=4)
    with pytest.raises(FrameError, match="read_afi response"):
        d6.read_afi_response(UID, 0x100)


# --- typed request parsers -----------------------------------------------------------------------


def test_request_vectors_parse_to_typed_requests() -> None:
    inventory, _ = d6.decode_request(vector(54))
    assert d6.parse_request(inventory) == d6.InventoryRequest(0x00, 0x05)
    assert d6.parse_inventory_request(inventory).second_poll
    read, _ = d6.decode_request(vector(59))
    assert d6.parse_request(read) == d6.ReadBlocksRequest(UID, 0, 8)
    write, _ = d6.decode_request(vector(61))
    typed = d6.parse_write_blocks_request(write)
    assert (typed.uid, typed.first, typed.count, typed.block(0)) == (UID, 0, 1, H("11 22 33 44"))
    afi, _ = d6.decode_request(vector(64))
    assert d6.parse_request(afi) == d6.TagRequest(UID, 0xD7)
    get_afi, _ = d6.decode_request(vector(67))
    assert d6.parse_request(get_afi) == d6.TagRequest(UID)


TYPED_BUILDS = [
    (d6.inventory(afi=0xD7, options=0x07), d6.InventoryRequest(0xD7, 0x07)),
    (d6.inventory(protocols=0x02), d6.InventoryRequest(0, 0x45, 0x02)),
    (d6.read_blocks(UID, 2, 4, options=0x04), d6.ReadBlocksRequest(UID, 2, 4, 0x04)),
    (d6.write_blocks(UID, 3, bytes(range(8))), d6.WriteBlocksRequest(UID, 3, bytes(range(8)))),
    (d6.write_block(UID, 1, H("01 02 03 04")), d6.BlockRequest(UID, 1, H("01 02 03 04"))),
    (d6.write_and_lock_block(UID, 1, bytes(4)), d6.BlockRequest(UID, 1, bytes(4))),
    (d6.lock_block(UID, 5), d6.BlockRequest(UID, 5)),
    (d6.quiet(UID), d6.TagRequest(UID)),
    (d6.check_eas(UID), d6.TagRequest(UID)),
    (d6.set_eas(UID, armed=True), d6.TagRequest(UID, 1)),
    (d6.write_dsfid(UID, 0x11), d6.TagRequest(UID, 0x11)),
    (d6.lock_afi(UID), d6.TagRequest(UID)),
    (d6.tag_info(UID, 0x06), d6.TagInfoRequest(UID, 0x06)),
    (d6.pass_through(H("22 20 01"), 5, 7), d6.PassThroughRequest(3, 5, 7, H("22 20 01"))),
]


@pytest.mark.parametrize(("request_frame", "typed"), TYPED_BUILDS,
                         ids=[f"0x{r.command:02X}" for r, _ in TYPED_BUILDS])
def test_builder_frame_parses_back_to_typed_request(request_frame: d6.D6Request,
                                                    typed: d6.TypedRequest) -> None:
    decoded, rest = d6.decode_request(request_frame.encode())
    assert rest == b""
    assert d6.parse_request(decoded) == typed


def test_reader_version_and_unknown_commands_have_no_fields() -> None:
    assert d6.parse_request(d6.reader_version()) is None
    assert d6.parse_request(d6.D6Request(0x42)) is None


def test_hw_version_probe_is_recognised_not_taken_for_a_write() -> None:
    probe = d6.hw_version_probe()
    assert d6.is_hw_version_probe(probe)
    assert not d6.is_hw_version_probe(d6.reader_version())
    with pytest.raises(FrameError, match="hardware-version probe"):
        d6.parse_request(probe)


@pytest.mark.parametrize(("frame", "message"), [
    (d6.D6Request(0xFE, H("00")), "inventory request"),
    (d6.D6Request(0x02, H("E0 04")), "read_blocks request"),
    (d6.D6Request(0x04, H("E0 04 01 00 12 34 56 78 00 00 00")), "zero blocks"),
    (d6.D6Request(0x09, H("E0 04 01 00 12 34 56 78")), "write_afi request"),
])
def test_bad_request_fields_are_frame_errors(frame: d6.D6Request, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        d6.parse_request(frame)


def test_typed_parsers_refuse_the_wrong_command() -> None:
    with pytest.raises(FrameError, match="expected a 0xFE request"):
        d6.parse_inventory_request(d6.reader_version())
    with pytest.raises(FrameError, match="not a block request"):
        d6.parse_block_request(d6.quiet(UID))
    with pytest.raises(FrameError, match="not a UID"):
        d6.parse_tag_request(d6.lock_block(UID, 1))


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(sorted(d6.COMMANDS)), st.binary(max_size=40))
def test_fuzz_parse_request_raises_only_frame_error(command: int, payload: bytes) -> None:
    with contextlib.suppress(FrameError):
        d6.parse_request(d6.D6Request(command, payload))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=8, max_size=8).map(lambda b: b.hex().upper()),
       st.integers(0, 255), st.lists(st.binary(min_size=4, max_size=4), min_size=1, max_size=8))
def test_read_and_write_round_trip(uid: str, first: int, blocks: list[bytes]) -> None:
    records = [d6.BlockRecord((first + i) % 256, i % 4, data) for i, data in enumerate(blocks)]
    assert d6.parse_read_blocks(d6.read_blocks_response(uid, records)).blocks == tuple(records)
    request = d6.write_blocks(uid, first, b"".join(blocks))
    assert d6.parse_request(request) == d6.WriteBlocksRequest(uid, first, b"".join(blocks))
