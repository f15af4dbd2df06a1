# SPDX-License-Identifier: Apache-2.0
"""TRF7970A EVM reply builders (the simulator's side): every reply the builders make decodes
back line by line and completes under its command's end rule.

Texts and layouts are from TI host.c / uart.c / iso15693.c of the TRF7970A EVM firmware
("Firmware Revision 03 from 11/Nov/2013"), as summarised in reader_protocols.md §1.3.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import FrameError
from protocols.framing import Reassembler
from protocols.readers import trf7970a as trf
from protocols.readers.trf7970a import EndRule, GroupKind, TrfLine
from tests.conftest import H

UID = "E004010012345678"


def lines_of(text: bytes) -> list[TrfLine]:
    reassembler = Reassembler(trf.decode_response, trf.next_header)
    out = reassembler.feed(text)
    assert reassembler.buffer == bytearray()
    assert reassembler.garbage_bytes == 0
    return out


# --- exact texts [host.c HostCommands] -----------------------------------------------------------


def test_ping_reply_is_the_hello_line_and_the_final_crlf() -> None:
    assert trf.encode_reply(0xFF) == b"TRF7970A EVM \r\n\r\n"


def test_request_mode_reply_prints_the_group_right_after_the_echo() -> None:
    reply = trf.encode_reply(0x18, H("22 20"), [trf.data_group(H("00 11 22 33 44"))])
    assert reply == b"Request mode.\r\n[0011223344]\r\n"
    assert trf.encode_reply(0x18, H("22 20"), [trf.no_response_group()]) == (
        b"Request mode.\r\n[]\r\n")
    assert trf.encode_reply(0x18, H("22 20"), [trf.collision_group()]) == (
        b"Request mode.\r\n[z]\r\n")


def test_inventory_reply_puts_a_crlf_before_every_slot() -> None:
    # iso15693.c: UartPutCrlf(); '[' UID(LSB first) ',' RSSI ']'
    reply = trf.encode_reply(0x14, H("06 01 00"), [trf.slot_group(UID, 0x7F)])
    assert reply == b"ISO 15693 Inventory request.\r\n\r\n[78563412000104E0,7F]\r\n"
    assert trf.encode_reply(0x14, H("06 01 00")) == b"ISO 15693 Inventory request.\r\n\r\n"


def test_register_read_prints_one_group_per_register_then_two_crlf() -> None:
    groups = [trf.data_group(b"\x21"), trf.data_group(b"\x00")]
    assert trf.encode_reply(0x12, H("00 01"), groups) == (
        b"Register read request.\r\n[21][00]\r\n\r\n")


@pytest.mark.parametrize(("command", "params", "text"), [
    (0xF0, b"\x00", b"AGC Toggle\r\n"),
    (0xF1, b"\xFF", b"AM PM Toggle\r\n"),
    (0x03, b"\x00", b"Reader enabled.\r\n"),
    (0x03, b"\xFF", b"Reader disabled.\r\n"),
    (0xF2, b"\xFF", b"\r\n"),
    (0x10, b"\x00\x21", b"Register write request.\r\n\r\n"),
    (0xFE, b"", b"Firmware Revision 03 from 11/Nov/2013 \r\n\r\n"),
    (0xF7, b"", b"\r\n"),  # LED on: no text, only the final CRLF
])
def test_texts_without_result_groups(command: int, params: bytes, text: bytes) -> None:
    assert trf.encode_reply(command, params) == text


def test_groups_for_a_command_without_results_are_refused() -> None:
    with pytest.raises(FrameError):
        trf.encode_reply(0xFF, groups=[trf.no_response_group()])


def test_register_read_builder() -> None:
    assert trf.register_read([0x00, 0x01]).encode() == b"010A000304120001" + b"0000"
    with pytest.raises(FrameError):
        trf.register_read([])


# --- builders -> decoder -> end rule -------------------------------------------------------------


def test_every_catalogue_command_reply_completes_under_its_end_rule() -> None:
    for spec in trf.CATALOGUE:
        params = b"\x00" if spec.code == 0x03 else b""
        groups = {
            EndRule.RESULT: [trf.data_group(b"\x00")],
            EndRule.RESULT_THEN_BLANK: [trf.data_group(b"\x21")],
            EndRule.QUIET: [trf.slot_group(UID, 0x40)],
        }.get(spec.end, [])
        lines = lines_of(trf.encode_reply(spec.code, params, groups))
        done = trf.collect_reply(spec.code, lines, idle=spec.end is EndRule.QUIET)
        assert done is not None, spec.name
        reply, used = done
        assert used == len(lines), spec.name
        assert reply.groups == tuple(groups), spec.name


@given(st.lists(st.binary(min_size=1, max_size=32).filter(lambda b: b[0] & 1 == 0),
                min_size=1, max_size=1))
def test_request_mode_data_round_trips(responses: list[bytes]) -> None:
    lines = lines_of(trf.encode_reply(0x18, b"\x02\x2B", [trf.data_group(responses[0])]))
    done = trf.collect_reply(0x18, lines)
    assert done is not None
    assert done[0].iso_response == responses[0]
    assert done[0].iso_error is None


def test_iso_error_group_reads_as_the_error_code() -> None:
    lines = lines_of(trf.encode_reply(0x18, b"\x62\x21", [trf.data_group(H("01 12"))]))
    done = trf.collect_reply(0x18, lines)
    assert done is not None
    assert done[0].iso_error == 0x12


@given(st.lists(st.integers(0, (1 << 48) - 1), min_size=0, max_size=6),
       st.integers(0, 0xFF))
def test_inventory_slots_round_trip(serials: list[int], rssi: int) -> None:
    uids = [f"E004{serial:012X}" for serial in serials]
    groups = [trf.slot_group(uid, rssi) for uid in uids]
    lines = lines_of(trf.encode_reply(0x14, b"\x06\x01\x00", groups))
    assert trf.collect_reply(0x14, lines) is None  # no end marker: only the quiet time ends it
    done = trf.collect_reply(0x14, lines, idle=True)
    assert done is not None
    assert done[0].uids == tuple(dict.fromkeys(uids))


def test_every_slot_firmware_forms_decode() -> None:
    groups = [trf.empty_slot_group(0x40), trf.slot_collision_group(0x52),
              trf.slot_group(UID, 0x7F)]
    lines = lines_of(trf.encode_reply(0x14, b"\x06\x01\x00", groups))
    done = trf.collect_reply(0x14, lines, idle=True)
    assert done is not None
    reply = done[0]
    assert [g.kind for g in reply.groups] == [
        GroupKind.SLOT_EMPTY, GroupKind.SLOT_COLLISION, GroupKind.SLOT_TAG]
    assert reply.uids == (UID,)
    assert reply.collision


def test_echo_text_of_unknown_and_parameterised_commands() -> None:
    assert trf.echo_text(0x03, b"\x0B") == "Internal clock."
    assert trf.echo_text(0x03, b"\x42") is None
    assert trf.echo_text(0x03) is None
    assert trf.echo_text(0xF3) is None
    assert trf.encode_echo(0xF0, b"\x00") == b"AGC Toggle"
