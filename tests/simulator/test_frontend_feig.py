# SPDX-License-Identifier: Apache-2.0
"""The FEIG front-end as firmware: bytes in, frames out, per reader_protocols.md §1.1 and §4.

No pty here (tests/drivers/test_feig.py drives it through one): requests are written in hex as
the manual writes them, ``CMD('B0 23 01 <uid> 00 02')``, and answers decoded with the codec.
"""

from __future__ import annotations

import pytest

from firmware_bridge.simulator import FAMILY_BY_KEY, Fault, FaultKind, RfField, VirtualTag
from firmware_bridge.simulator.frontends.feig import FIRMWARE_OVERHEAD_S, FeigFrontEnd
from protocols.iso15693 import Uid
from protocols.readers.feig import (
    RF_RESET_S,
    FeigRequest,
    FeigResponse,
    OutputMode,
    ReadBlocksResult,
    Status,
    decode_response,
)
from tests.conftest import H, load_vectors

A = Uid.from_text("E004010000000001")
B = Uid.from_text("E004010000000002")
TI = Uid.from_text("E007000000000003")
SLIX = FAMILY_BY_KEY["slix"]


def CMD(text: str, adr: int = 0xFF) -> bytes:  # noqa: N802 - reads like the manual
    """A host frame: COM-ADR, CMD and DATA in hex; LEN and CRC added."""
    body = H(text)
    return FeigRequest(adr, body[0], body[1:]).encode()


def uid_hex(uid: Uid) -> str:
    return uid.msb_first.hex()


def reader(*uids: Uid, **options: object) -> FeigFrontEnd:
    tags = [VirtualTag(uid, FAMILY_BY_KEY["tagit-plus"] if uid == TI else SLIX) for uid in uids]
    return FeigFrontEnd(RfField.with_tags(tags), **options)  # type: ignore[arg-type]


def ask(front: FeigFrontEnd, frame: bytes) -> FeigResponse:
    replies = front.receive(frame)
    assert len(replies) == 1
    response, rest = decode_response(replies[0].data)
    assert rest == b""
    return response


def status_of(front: FeigFrontEnd, frame: bytes) -> tuple[int, bytes]:
    response = ask(front, frame)
    return response.status, response.data


# --- frames and addressing -------------------------------------------------------------------


def test_software_version_answers_the_captured_vector() -> None:
    by_hex = {v["hex"]: v for v in load_vectors("reader_frames")}
    assert "Amarok79" in by_hex["05 FF 65 E5 CB"]["source"]
    front = reader()
    assert front.receive(H("05 FF 65 E5 CB"))[0].data == H("0D 00 65 00 03 03 00 44 53 0D 30 33 09")
    # An advanced request gets an advanced answer (the vector's second form).
    assert front.receive(H("02 00 07 FF 65 6E 61"))[0].data == H(
        "02 00 0F 00 65 00 03 03 00 44 53 0D 30 74 69"
    )


def test_com_adr_rules() -> None:
    front = reader(com_adr=0x12)
    assert ask(front, CMD("65")).com_adr == 0x12  # 255 reaches it; it answers as itself
    assert ask(front, CMD("65", adr=0x12)).com_adr == 0x12
    assert front.receive(CMD("65", adr=0x13)) == []  # another reader's frame on the bus
    assert front.counters.foreign_address == 1
    with pytest.raises(ValueError, match=r"0\.\.254"):
        reader(com_adr=0xFF)


def test_bad_crc_gets_silence_and_the_next_frame_an_answer() -> None:
    front = reader()
    bad = bytearray(CMD("65"))
    bad[-1] ^= 0x01
    assert front.receive(bytes(bad) + CMD("69")) == [front.receive(CMD("69"))[0]]
    assert front.counters.bad_frames == 1
    assert front.receive(b"\x01\x03") == []  # no LEN or STX can start like this: dropped


def test_a_gap_over_12_ms_discards_the_partial_frame() -> None:
    front = reader()
    frame = CMD("65")
    assert front.receive(frame[:3]) == []
    front.field.advance(0.011)
    assert len(front.receive(frame[3:])) == 1  # 11 ms: still one frame
    assert front.receive(frame[:3]) == []
    front.field.advance(0.013)
    assert front.receive(frame[3:]) == []  # the rest alone is no frame
    assert front.counters.partial_discarded == 1


def test_unknown_command_length_error_and_malformed_data() -> None:
    front = reader(rx_buf=32)
    assert status_of(front, CMD("FE")) == (Status.UNKNOWN_COMMAND, b"")
    assert status_of(front, CMD("80 01")) == (Status.UNKNOWN_COMMAND, b"")  # CFG not modelled
    assert status_of(front, CMD("6A 07")) == (Status.LENGTH_ERROR, b"")  # RF_OUTPUT > 2 bits
    assert status_of(front, CMD("B0 24 01" + "00" * 40)) == (Status.LENGTH_ERROR, b"")


def test_reply_delay_is_air_time_plus_firmware_overhead() -> None:
    front = reader(A)
    assert front.receive(CMD("65"))[0].delay_s == pytest.approx(FIRMWARE_OVERHEAD_S)
    assert front.receive(CMD("69"))[0].delay_s == pytest.approx(RF_RESET_S + FIRMWARE_OVERHEAD_S)
    before = front.field.now
    delay = front.receive(CMD(f"B0 23 01 {uid_hex(A)} 00 08"))[0].delay_s
    assert delay == pytest.approx(front.field.now - before + FIRMWARE_OVERHEAD_S)


# --- inventory -------------------------------------------------------------------------------


def test_inventory_records_afi_and_no_transponder() -> None:
    front = reader(A, B)
    front.field.tag(A).afi = 0x07
    response = ask(front, CMD("B0 01 00"))
    assert response.status == Status.OK
    assert response.data == H(f"02 03 00 {uid_hex(A)} 03 00 {uid_hex(B)}")
    assert ask(front, CMD("B0 01 10 07")).data == H(f"01 03 00 {uid_hex(A)}")
    assert status_of(front, CMD("B0 01 10 C2")) == (Status.NO_TRANSPONDER, b"")


def test_inventory_pages_with_more_data_then_more_on_nothing() -> None:
    uids = [Uid(0xE004010000000000 | n) for n in range(1, 6)]
    front = reader(*uids, records_per_frame=2)
    pages = [ask(front, CMD("B0 01 00"))] + [ask(front, CMD("B0 01 80")) for _ in range(2)]
    assert [page.status for page in pages] == [Status.MORE_DATA, Status.MORE_DATA, Status.OK]
    assert [page.data[0] for page in pages] == [2, 2, 1]
    assert status_of(front, CMD("B0 01 80")) == (Status.NO_TRANSPONDER, b"")


def test_too_many_tags_for_the_reader_is_0x93() -> None:
    front = reader(*(Uid(0xE004010000000000 | n) for n in range(1, 7)), max_data_sets=4)
    response = ask(front, CMD("B0 01 00"))
    assert (response.status, response.data[0]) == (Status.DATA_BUFFER_OVERFLOW, 4)


def test_unresolvable_collision_is_0x83_a_passing_one_resolved() -> None:
    front = reader(A, B)
    front.field.inject(Fault(FaultKind.COLLISION, A, count=2))
    assert ask(front, CMD("B0 01 00")).data[0] == 2  # sub-rounds resolve it
    front.field.inject(Fault(FaultKind.COLLISION, A))
    response = ask(front, CMD("B0 01 00"))
    assert response.status == Status.RF_COMMUNICATION_ERROR
    assert response.data == H(f"01 03 00 {uid_hex(B)}")  # what it found comes along


def test_inventory_resets_rf_first_so_a_muted_tag_answers_again() -> None:
    front = reader(A)
    front.field.tag(A).muted = True
    assert ask(front, CMD("B0 01 00")).data == H(f"01 03 00 {uid_hex(A)}")


# --- addressed commands ----------------------------------------------------------------------


def test_read_blocks_msb_first_with_security_status() -> None:
    front = reader(A)
    tag = front.field.tag(A)
    tag.memory[:8] = H("11 22 33 44 55 66 77 88")
    tag.locked[1] = 1
    response = ask(front, CMD(f"B0 23 09 {uid_hex(A)} 00 02"))  # MODE 09: addressed + SEC
    assert response.data == H("02 04 00 44 33 22 11 01 88 77 66 55")
    result = ReadBlocksResult.from_response(response)
    assert result.tag_memory() == H("11 22 33 44 55 66 77 88")
    assert status_of(front, CMD(f"B0 23 01 {uid_hex(B)} 00 01")) == (Status.NO_TRANSPONDER, b"")
    assert status_of(front, CMD(f"B0 23 01 {uid_hex(A)} 1B 02")) == (Status.ISO15693_ERROR, H("10"))


def test_read_over_128_bytes_is_refused() -> None:
    front = FeigFrontEnd(RfField.with_tags([VirtualTag(A, FAMILY_BY_KEY["slix2"])]))
    assert status_of(front, CMD(f"B0 23 01 {uid_hex(A)} 00 20"))[0] == Status.OK  # 128 bytes
    assert status_of(front, CMD(f"B0 23 01 {uid_hex(A)} 00 21")) == (
        Status.PARAMETER_RANGE_ERROR, b"")


def test_write_is_one_iso_write_per_block_and_stops_at_the_first_failure() -> None:
    front = reader(A)
    tag = front.field.tag(A)
    front.field.inject(Fault(FaultKind.LEAVE_MID_WRITE, A, after_blocks=2))
    data = "04 03 02 01 08 07 06 05 0C 0B 0A 09 10 0F 0E 0D"  # MSB first per block
    assert status_of(front, CMD(f"B0 24 01 {uid_hex(A)} 04 04 04 {data}")) == (
        Status.WRITE_ERROR, H("06"))
    assert tag.memory[16:24] == bytes(range(1, 9))
    assert tag.memory[24:32] == bytes(8)


def test_locked_block_is_relayed_with_its_address() -> None:
    front = reader(A)
    front.field.tag(A).locked[2] = 1
    frame = CMD(f"B0 24 01 {uid_hex(A)} 00 04 04 " + "AA" * 16)
    assert status_of(front, frame) == (Status.ISO15693_ERROR, H("12 02"))
    assert front.field.tag(A).memory[:8] == b"\xaa" * 8


def test_write_multiple_on_air_relays_the_tags_refusal() -> None:
    front = reader(A, write_multiple_on_air=True)
    frame = CMD(f"B0 24 01 {uid_hex(A)} 03 02 04 " + "AA" * 8)
    assert status_of(front, frame) == (Status.ISO15693_ERROR, H("01 03"))
    one = CMD(f"B0 24 01 {uid_hex(A)} 03 01 04 AA AA AA AA")
    assert status_of(front, one) == (Status.OK, b"")


def test_ti_writes_need_and_get_the_option_flag_only_when_addressed() -> None:
    front = reader(TI)
    assert status_of(front, CMD(f"B0 24 01 {uid_hex(TI)} 00 01 04 44 33 22 11")) == (0, b"")
    assert front.field.tag(TI).block(0) == H("11 22 33 44")
    # Non-addressed, the reader uses option 0: the tag writes but never confirms [CPR §9.1].
    assert status_of(front, CMD("B0 24 00 01 01 04 88 77 66 55")) == (Status.WRITE_ERROR, H("01"))


def test_lock_afi_dsfid_system_info_and_security_status() -> None:
    front = reader(A)
    assert status_of(front, CMD(f"B0 22 01 {uid_hex(A)} 01 02")) == (0, b"")
    assert status_of(front, CMD(f"B0 22 01 {uid_hex(A)} 02 01")) == (
        Status.ISO15693_ERROR, H("11 02"))
    assert status_of(front, CMD(f"B0 2C 01 {uid_hex(A)} 00 04")) == (0, H("04 00 01 01 00"))
    assert status_of(front, CMD(f"B0 27 01 {uid_hex(A)} 07")) == (0, b"")
    assert status_of(front, CMD(f"B0 29 01 {uid_hex(A)} 3E")) == (0, b"")
    assert status_of(front, CMD(f"B0 28 01 {uid_hex(A)}")) == (0, b"")
    assert status_of(front, CMD(f"B0 27 01 {uid_hex(A)} C2")) == (Status.ISO15693_ERROR, H("12"))
    assert status_of(front, CMD(f"B0 2B 01 {uid_hex(A)}")) == (
        0, H(f"3E {uid_hex(A)} 07 03 1B 01"))


def test_select_selected_mode_quiet_and_reset_to_ready() -> None:
    front = reader(A, B)
    assert status_of(front, CMD(f"B0 25 01 {uid_hex(A)}")) == (0, b"")
    assert status_of(front, CMD("B0 2B 02"))[1][1:9] == A.msb_first  # selected mode reaches A
    assert status_of(front, CMD(f"B0 02 01 {uid_hex(B)}")) == (0, b"")
    assert status_of(front, CMD(f"B0 26 01 {uid_hex(B)}")) == (0, b"")
    assert status_of(front, CMD(f"B0 25 01 {uid_hex(TI)}")) == (Status.NO_TRANSPONDER, b"")


def test_air_faults_outside_inventory() -> None:
    front = reader(A)
    front.field.inject(Fault(FaultKind.AIR_CRC_ERROR, A, count=1))
    assert status_of(front, CMD(f"B0 2B 01 {uid_hex(A)}")) == (Status.DATA_FALSE, b"")
    front.field.inject(Fault(FaultKind.COLLISION, A, count=1))
    assert status_of(front, CMD(f"B0 2B 01 {uid_hex(A)}")) == (Status.DATA_FALSE, b"")


# --- NXP custom commands ---------------------------------------------------------------------


def test_eas_set_alarm_reset() -> None:
    front = reader(A, B)
    assert status_of(front, CMD("B1 04 A5 00")) == (Status.NO_TRANSPONDER, b"")
    assert status_of(front, CMD(f"B1 04 A2 01 {uid_hex(A)}")) == (0, b"")
    assert status_of(front, CMD(f"B1 04 A2 01 {uid_hex(B)}")) == (0, b"")
    assert status_of(front, CMD("B1 04 A5 00")) == (0, b"")  # two armed tags: still an alarm
    assert status_of(front, CMD(f"B1 04 A3 01 {uid_hex(A)}")) == (0, b"")
    assert status_of(front, CMD(f"B1 04 A5 01 {uid_hex(A)}")) == (Status.NO_TRANSPONDER, b"")
    assert status_of(front, CMD(f"B1 04 A4 01 {uid_hex(B)}")) == (0, b"")
    assert status_of(front, CMD(f"B1 04 A3 01 {uid_hex(B)}")) == (Status.ISO15693_ERROR, H("12"))


def test_wrong_password_mutes_the_tag_until_rf_reset() -> None:
    front = reader(A)
    random = ask(front, CMD(f"B1 04 B2 01 {uid_hex(A)}")).data
    assert len(random) == 2
    wrong = CMD(f"B1 04 B3 01 {uid_hex(A)} 10 {(random * 2).hex()}")
    front.field.inject(Fault(FaultKind.WRONG_PASSWORD, A))
    assert status_of(front, wrong) == (Status.ISO15693_ERROR, H("0F"))
    assert status_of(front, CMD(f"B0 23 01 {uid_hex(A)} 00 01")) == (Status.NO_TRANSPONDER, b"")
    assert status_of(front, CMD("69")) == (0, b"")
    assert status_of(front, CMD(f"B0 23 01 {uid_hex(A)} 00 01"))[0] == Status.OK


def test_right_password_passes_the_xor_as_the_tag_expects() -> None:
    front = reader(A)
    front.field.tag(A).passwords[0x10] = 0x12345678
    random = ask(front, CMD(f"B1 04 B2 01 {uid_hex(A)}")).data
    masked = bytes(p ^ r for p, r in zip(H("12 34 56 78"), random * 2, strict=True))
    assert status_of(front, CMD(f"B1 04 B3 01 {uid_hex(A)} 10 {masked.hex()}")) == (0, b"")
    assert 0x10 in front.field.tag(A).authenticated


# --- RF, outputs, inputs, reboot -------------------------------------------------------------


def test_rf_off_means_no_transponder_and_on_powers_tags_up() -> None:
    front = reader(A)
    assert status_of(front, CMD("6A 00")) == (0, b"")
    assert status_of(front, CMD("B0 01 00")) == (Status.NO_TRANSPONDER, b"")
    front.field.tag(A).muted = True
    assert status_of(front, CMD("6A 01")) == (0, b"")
    assert front.field.tag(A).muted is False
    assert status_of(front, CMD(f"B0 23 01 {uid_hex(A)} 00 01"))[0] == Status.OK


def test_outputs_follow_os_time_and_out_time() -> None:
    front = reader()
    # green ON, red FLASH, beeper unchanged; OS_TIME 3 (300 ms); relay OUT_TIME 5 (500 ms)
    assert status_of(front, CMD("71 00 0D 00 00 00 03 00 05")) == (0, b"")
    assert front.outputs() == {"green": OutputMode.ON, "red": OutputMode.FLASH,
                               "beeper": OutputMode.OFF, "relay": OutputMode.ON}
    front.field.advance(0.35)
    assert front.outputs()["green"] is OutputMode.OFF
    assert front.outputs()["relay"] is OutputMode.ON
    front.field.advance(0.2)
    assert front.outputs()["relay"] is OutputMode.OFF
    assert status_of(front, CMD("71 00 10 00 00 FF FF 00 00")) == (0, b"")  # beeper permanent
    front.field.advance(60.0)
    assert front.outputs()["beeper"] is OutputMode.ON


def test_inputs_latch_changes_until_read() -> None:
    front = reader()
    front.set_input(2, True)
    front.set_input(2, True)  # no change, no new latch
    assert status_of(front, CMD("74")) == (0, H("22"))
    assert status_of(front, CMD("74")) == (0, H("02"))
    front.set_input(2, False)
    assert status_of(front, CMD("74")) == (0, H("20"))
    with pytest.raises(ValueError, match=r"IN1\.\.IN3"):
        front.set_input(4, True)


def test_reader_info_modes() -> None:
    front = reader()
    assert status_of(front, CMD("66 00")) == (0, H("03 03 00 44 53 0D 30 00 FF 04 00"))
    assert status_of(front, CMD("66 04")) == (Status.PARAMETER_RANGE_ERROR, b"")
    assert status_of(front, CMD("52 00")) == (0, b"")


def test_cpu_reset_and_reboot_restore_power_on_state() -> None:
    front = reader(A)
    ask(front, CMD("6A 00"))
    ask(front, CMD("71 00 01 00 00 FF FF 00 00"))
    assert status_of(front, CMD("63")) == (0, b"")
    assert front.rf_on
    assert front.outputs()["green"] is OutputMode.OFF
    ask(front, CMD("6A 00"))
    front.receive(CMD("65")[:2])
    front.reboot()
    assert front.rf_on
    assert len(front.receive(CMD("65"))) == 1  # the partial frame went with the reboot
