# SPDX-License-Identifier: Apache-2.0
"""3M D6 front-end without a pty: bytes in, replies out, as the 3M firmware answers
(reader_protocols.md §1.2 "Simulator must reproduce", §4 3M column)."""

from __future__ import annotations

import pytest

from firmware_bridge.simulator import RfField, load_scenario
from firmware_bridge.simulator.frontends.d6 import (
    FIRMWARE_OVERHEAD_S,
    INTER_BYTE_TIMEOUT_S,
    D6FrontEnd,
)
from protocols.readers import d6
from tests.conftest import H

UID = "E004010012345678"


def front_end() -> D6FrontEnd:
    field = load_scenario({"tags": [{"uid": UID, "memory": "11223344", "afi": "DA"}]}).field()
    return D6FrontEnd(field)


def ask(fe: D6FrontEnd, request: d6.D6Request) -> d6.D6Response:
    (reply,) = fe.receive(request.encode())
    response, rest = d6.decode_response(reply.data)
    assert rest == b""
    return response


def test_version_and_the_d5_probe() -> None:
    fe = front_end()
    assert ask(fe, d6.reader_version()).encode() == H("D6 00 08 11 00 0A 03 02 06 35 17")
    assert d6.parse_hw_version_probe(ask(fe, d6.hw_version_probe())) == fe.version


def test_reply_delay_is_air_time_plus_firmware_overhead() -> None:
    fe = front_end()
    (version,) = fe.receive(d6.reader_version().encode())
    assert version.delay_s == pytest.approx(FIRMWARE_OVERHEAD_S)
    (read,) = fe.receive(d6.read_blocks(UID, 0, 4).encode())
    assert read.delay_s > FIRMWARE_OVERHEAD_S + 0.005  # an addressed 4-block read on the air


def test_busy_reader_ignores_what_arrived_behind_the_request() -> None:
    fe = front_end()
    replies = fe.receive(d6.reader_version().encode() + d6.inventory().encode())
    assert len(replies) == 1
    assert fe.dropped_requests == 1
    assert d6.decode_response(replies[0].data)[0].command == 0x11


def test_bad_bcc_is_not_answered_and_garbage_is_skipped() -> None:
    fe = front_end()
    assert fe.receive(H("D6 00 03 11 64 21")) == []
    assert fe.bad_frames == 1
    assert len(fe.receive(H("00 FF 13") + d6.reader_version().encode())) == 1


def test_partial_request_is_abandoned_after_the_inter_byte_timeout() -> None:
    fe = front_end()
    frame = d6.reader_version().encode()
    assert fe.receive(frame[:3]) == []
    fe.field.advance(INTER_BYTE_TIMEOUT_S * 2)
    assert fe.receive(frame[3:]) == []  # the tail alone is no frame
    assert len(fe.receive(frame)) == 1


def test_unknown_command_and_bad_fields() -> None:
    fe = front_end()
    assert ask(fe, d6.D6Request(0x42)).encode() == H("D6 00 04 42 02 EC 13")
    assert ask(fe, d6.D6Request(0x0A, H("E0 04"))).status == 0x32
    assert ask(fe, d6.read_blocks(UID, 0, 1, options=0x04)).status == 0x31


def test_addressed_commands_and_their_statuses() -> None:
    fe = front_end()
    assert d6.parse_read_afi(ask(fe, d6.read_afi(UID))).value == 0xDA
    assert d6.parse_read_blocks(ask(fe, d6.read_blocks(UID, 0, 1))).blocks == (
        d6.BlockRecord(0, 0, H("11 22 33 44")),)
    assert ask(fe, d6.read_blocks(UID, 27, 2)).status == 0x11
    assert ask(fe, d6.read_afi("E004010099999999")).encode() == \
        d6.error_response(0x0A, 0x06, "E004010099999999").encode()
    eas = ask(fe, d6.check_eas(UID))
    assert (eas.status, d6.parse_check_eas(eas).armed) == (0x06, False)
    assert ask(fe, d6.set_eas(UID, armed=True)).ok
    assert d6.parse_check_eas(ask(fe, d6.check_eas(UID))).armed is True
    assert ask(fe, d6.write_and_lock_block(UID, 1, H("AA BB CC DD"))).ok
    assert ask(fe, d6.write_block(UID, 1, bytes(4))).status == 0x12
    written = d6.parse_write_blocks(ask(fe, d6.write_blocks(UID, 0, bytes(8))))
    assert (written.status, written.block) == (0x12, 1)
    assert d6.parse_write_blocks(ask(fe, d6.write_blocks(UID, 2, bytes(8)))).block == 4


def test_inventory_filters_by_afi_and_reports_dsfid() -> None:
    fe = front_end()
    assert d6.parse_inventory(ask(fe, d6.inventory(afi=0xD7))).entries == ()
    result = d6.parse_inventory(ask(fe, d6.inventory(afi=0xDA, options=0x07)))
    assert result.entries == (d6.InventoryEntry(UID, 0),)
    assert d6.parse_inventory(ask(D6FrontEnd(RfField()), d6.inventory())).entries == ()
