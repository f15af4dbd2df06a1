# SPDX-License-Identifier: Apache-2.0
"""The TRF7970A EVM front-end without a pty: requests in, the firmware's text out.

Expected texts follow TI host.c / iso15693.c ("Firmware Revision 03"), reader_protocols.md §1.3.
"""

from __future__ import annotations

import pytest

from firmware_bridge.simulator import FAMILY_BY_KEY, Fault, FaultKind, RfField, TagSpec
from firmware_bridge.simulator.frontends.trf7970a import TrfFrontEnd
from firmware_bridge.simulator.server import WireReply
from protocols.iso15693 import Request, Uid, encode_request
from protocols.iso15693.timing import (
    INVENTORY_REPLY_BYTES,
    INVENTORY_REQUEST_BYTES,
    request_time_s,
    slot_time_s,
)
from protocols.readers import trf7970a as trf

NXP = Uid.from_text("E004015012345678")
TI = Uid.from_text("E007000011223344")


def front_end(*tags: TagSpec, every_slot: bool = False) -> TrfFrontEnd:
    return TrfFrontEnd(RfField.with_tags(spec.build() for spec in tags),
                       print_every_slot=every_slot)


def slix(uid: Uid = NXP, **fields: object) -> TagSpec:
    return TagSpec(uid, FAMILY_BY_KEY["slix"], **fields)  # type: ignore[arg-type]


def send(fe: TrfFrontEnd, request: trf.TrfRequest) -> bytes:
    return b"".join(reply.data for reply in fe.receive(request.encode()))


def set_up(fe: TrfFrontEnd) -> None:
    assert send(fe, trf.iso15693_setup()) == b"Register write request.\r\n\r\n"


def iso(fe: TrfFrontEnd, request: Request) -> bytes:
    return send(fe, trf.iso_request(encode_request(request, with_crc=False)))


def test_ping_and_register_write_replies() -> None:
    fe = front_end()
    assert send(fe, trf.ping()) == b"TRF7970A EVM \r\n\r\n"
    replies = fe.receive(trf.iso15693_setup().encode())
    assert [r.data for r in replies] == [b"Register write request.\r\n", b"\r\n"]
    assert replies[1].delay_s >= 0.1  # host.c waits 100 ms after a register write
    assert send(fe, trf.register_read([0x00, 0x01])) == (
        b"Register read request.\r\n[21][00]\r\n\r\n")


def test_requests_split_across_reads_and_noise_between_them() -> None:
    fe = front_end()
    wire = trf.ping().encode()
    assert fe.receive(wire[:5]) == []
    replies = fe.receive(wire[5:] + b"zz\r\n" + wire)
    assert [r.data for r in replies] == [b"TRF7970A EVM \r\n\r\n"] * 2


def test_rf_is_off_until_the_host_sets_it_up() -> None:
    fe = front_end(slix(memory=b"ABCD"))
    request = Request.read_single_block(0, uid=NXP)
    assert iso(fe, request) == b"Request mode.\r\n[]\r\n"
    assert send(fe, trf.inventory()) == b"ISO 15693 Inventory request.\r\n\r\n"
    set_up(fe)
    assert iso(fe, request) == b"Request mode.\r\n[0041424344]\r\n"


def test_inventory_prints_crlf_and_uid_lsb_first_per_tag() -> None:
    fe = front_end(slix())
    set_up(fe)
    assert send(fe, trf.inventory()) == (
        b"ISO 15693 Inventory request.\r\n\r\n[78563412500104E0,7F]\r\n")


def test_inventory_resolves_collided_slots_like_the_firmware() -> None:
    # Same low nibble: both land in slot 8 of the first round; the sub-round separates them.
    a, b = Uid.from_text("E004010000000018"), Uid.from_text("E004010000000028")
    fe = front_end(slix(a), slix(b))
    set_up(fe)
    lines = [line for line in send(fe, trf.inventory()).split(b"\r\n") if line.startswith(b"[")]
    assert sorted(lines) == [b"[18000000000104E0,7F]", b"[28000000000104E0,7F]"]


def test_every_slot_variant_prints_sixteen_groups_per_round() -> None:
    fe = front_end(slix(), every_slot=True)
    set_up(fe)
    text = send(fe, trf.inventory())
    assert text.count(b"[,40]") == 15
    assert text.count(b"E0,7F]") == 1


def test_afi_filtered_inventory() -> None:
    fe = front_end(slix(afi=0x07), slix(TI, afi=0xC2))
    set_up(fe)
    assert b"[78563412500104E0" in send(fe, trf.inventory(afi=0x07))
    assert b"4433" not in send(fe, trf.inventory(afi=0x07))


def written_at(fe: TrfFrontEnd, replies: list[WireReply]) -> list[tuple[float, bytes]]:
    """When each write reaches the host, in seconds after the request arrived: SimulatedReader
    sleeps each reply's delay plus its line time, one reply after the other."""
    at, writes = 0.0, []
    for reply in replies:
        at += reply.delay_s + fe.line.line_time_s(len(reply.data))
        writes.append((at, reply.data))
    return writes


CRLF_S = 2 * 10 / 115200  # two characters at 115200 8N1


def inventory_times(*, high_rate: bool) -> tuple[float, float, float]:
    """Tags in slots 1 and 9: when each one's line reaches the host complete (with the CRLF
    the next print starts with), and when the 16-slot round ends on the air."""
    a, b = Uid.from_text("E004010000000001"), Uid.from_text("E004010000000009")
    fe = front_end(slix(a), slix(b))
    set_up(fe)
    request = trf.inventory(high_data_rate=high_rate)
    writes = written_at(fe, fe.receive(request.encode()))
    assert all(data.endswith(b"\r\n") for _, data in writes)  # whole lines only
    (line_a,) = [at for at, data in writes if b"[01000000000104E0,7F]\r\n" in data]
    (line_b,) = [at for at, data in writes if b"[09000000000104E0,7F]\r\n" in data]

    def slots(busy: int, empty: int) -> float:
        return (request_time_s(INVENTORY_REQUEST_BYTES)
                + busy * slot_time_s(INVENTORY_REPLY_BYTES, high_rate=high_rate)
                + empty * slot_time_s(None, high_rate=high_rate))
    # Line a ends with the CRLF that slot 9's print starts with; line b with the final CRLF.
    assert line_a == pytest.approx(slots(2, 8) + CRLF_S, abs=1e-6)
    assert line_b == pytest.approx(slots(2, 14) + CRLF_S, abs=1e-6)
    return line_a, line_b, slots(2, 14)


def test_inventory_lines_leave_when_their_slot_has_ended() -> None:
    line_a, line_b, air_end = inventory_times(high_rate=True)
    assert line_a < line_b - 2e-3  # two writes, not one burst
    assert line_b > air_end


def test_inventory_air_time_follows_the_requested_data_rate() -> None:
    *_, air_high = inventory_times(high_rate=True)
    *_, air_low = inventory_times(high_rate=False)
    assert air_low > 2 * air_high


def test_iso_errors_collisions_and_crc_errors() -> None:
    fe = front_end(slix(locked_blocks=(3,)))
    set_up(fe)
    write = Request.write_single_block(3, b"abcd", uid=NXP)
    assert iso(fe, write) == b"Request mode.\r\n[0112]\r\n"
    assert iso(fe, Request.read_single_block(200, uid=NXP)) == b"Request mode.\r\n[0110]\r\n"
    fe.field.inject(Fault(FaultKind.AIR_CRC_ERROR, NXP, count=1))
    assert iso(fe, Request.read_single_block(0, uid=NXP)) == b"Request mode.\r\n[z]\r\n"
    fe.field.inject(Fault(FaultKind.COLLISION, NXP, count=1))
    assert iso(fe, Request.read_single_block(0, uid=NXP)) == b"Request mode.\r\n[z]\r\n"
    assert iso(fe, Request.read_single_block(0, uid=TI)) == b"Request mode.\r\n[]\r\n"


def test_ti_tag_written_without_option_flag_stays_silent() -> None:
    fe = front_end(TagSpec(TI, FAMILY_BY_KEY["tagit-plus"]))
    set_up(fe)
    plain = Request.write_single_block(1, b"abcd", uid=TI)
    assert iso(fe, plain) == b"Request mode.\r\n[]\r\n"
    replies = fe.receive(trf.iso_request(encode_request(
        Request.write_single_block(1, b"abcd", uid=TI, option=True), with_crc=False)).encode())
    assert replies[-1].data == b"[00]\r\n"
    assert replies[-1].delay_s >= trf.EOF_DELAY_S  # the firmware's delayed EOF


def test_mcu_reset_and_reboot_turn_the_rf_off() -> None:
    fe = front_end(slix())
    set_up(fe)
    assert send(fe, trf.TrfRequest(0x17)) == b"MCU reset.\r\n\r\n"
    assert iso(fe, Request.read_single_block(0, uid=NXP)) == b"Request mode.\r\n[]\r\n"
    set_up(fe)
    fe.reboot()
    assert send(fe, trf.register_read([0x00])) == b"Register read request.\r\n[01]\r\n\r\n"
