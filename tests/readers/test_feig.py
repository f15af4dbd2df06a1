# SPDX-License-Identifier: Apache-2.0
"""FEIG OBID host protocol codec: vectors, frames, status table, catalogue, typed commands."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import FrameError
from protocols.framing import NeedMoreData, Reassembler
from protocols.readers.feig import (
    CATALOGUE,
    ISO15693_ERRORS,
    STATUS_TABLE,
    Acknowledgement,
    Addressing,
    BaudRateDetection,
    BufferInfo,
    BufferRecord,
    BufferRecords,
    EasAlarm,
    EasAlarmResult,
    Failure,
    FeigRequest,
    FeigResponse,
    GetInput,
    GetReaderInfo,
    GetSystemInformation,
    InputState,
    Inventory,
    InventoryRecord,
    InventoryResult,
    IsoCommand,
    LockAfi,
    OutputMode,
    OutputRecord,
    OutputType,
    RandomNumber,
    ReadBlocksResult,
    ReadBuffer,
    ReaderInfo,
    ReadMultipleBlocks,
    RfOutput,
    SetEas,
    SetOutput,
    SetOutputCpr,
    SetPassword,
    SoftwareVersion,
    Status,
    StayQuiet,
    SystemInformation,
    WriteAfi,
    WriteMultipleBlocks,
    command_timeout_s,
    crc16,
    decode_request,
    decode_request_body,
    decode_response,
    decode_response_body,
    frame_time_s,
    next_header,
)
from protocols.readers.feig.commands import SET_OUTPUT_CPR as SET_OUTPUT_CPR_LAYOUT
from tests.conftest import H, load_vectors

UID_NXP = H("E0 04 01 00 12 34 56 78")
UID_TI = H("E0 07 00 00 12 AB 34 CD")


def CMD(text: str) -> FeigRequest:  # noqa: N802 - reads like the datasheet
    """A whole host -> reader frame, decoded; nothing may be left over."""
    frame, rest = decode_request(H(text))
    assert rest == b""
    assert frame.encode() == H(text)
    return frame


def RSP(text: str) -> FeigResponse:  # noqa: N802
    frame, rest = decode_response(H(text))
    assert rest == b""
    assert frame.encode() == H(text)
    return frame


# --- vectors -----------------------------------------------------------------------------------

FEIG_VECTORS = [
    (index, entry)
    for index, entry in enumerate(load_vectors("reader_frames"))
    if entry["protocol"] == "FEIG host protocol"
]
EXACT_VECTORS = [(i, e) for i, e in FEIG_VECTORS if "FORMAT SKETCH" not in e["meaning"]]


def vector(index: int) -> bytes:
    entry: dict[str, Any] = load_vectors("reader_frames")[index]
    assert entry["protocol"] == "FEIG host protocol"
    return H(entry["hex"])


def test_vector_file_holds_the_feig_frames() -> None:
    assert len(FEIG_VECTORS) == 51
    assert all(entry["source"] and entry["meaning"] for _, entry in FEIG_VECTORS)


@pytest.mark.parametrize(("index", "entry"), EXACT_VECTORS, ids=[f"v{i}" for i, _ in EXACT_VECTORS])
def test_vector_decodes_and_reencodes_byte_exact(index: int, entry: dict[str, Any]) -> None:
    data = H(entry["hex"])
    decode = decode_request if entry["direction"] == "host->reader" else decode_response
    frame, rest = decode(data)
    assert rest == b""
    assert frame.encode() == data
    assert frame.advanced == (data[0] == 0x02)


@pytest.mark.parametrize(("index", "entry"), EXACT_VECTORS, ids=[f"v{i}" for i, _ in EXACT_VECTORS])
def test_vector_prefixes_need_more_data(index: int, entry: dict[str, Any]) -> None:
    data = H(entry["hex"])
    decode = decode_request if entry["direction"] == "host->reader" else decode_response
    for end in range(len(data)):
        with pytest.raises(NeedMoreData):
            decode(data[:end])


REQUEST_VECTORS = [(i, e) for i, e in EXACT_VECTORS if e["direction"] == "host->reader"]


@pytest.mark.parametrize(
    ("index", "entry"), REQUEST_VECTORS, ids=[f"v{i}" for i, _ in REQUEST_VECTORS]
)
def test_request_vector_round_trips_through_its_typed_command(
    index: int, entry: dict[str, Any]
) -> None:
    frame = CMD(entry["hex"])
    body = decode_request_body(frame)
    assert body.to_request(frame.com_adr, advanced=frame.advanced) == frame


def _status_of(data: bytes) -> int:
    return data[5] if data[0] == 0x02 else data[3]


# Failures: every response whose status is neither OK nor 0x94 (which carries inventory records).
FAILURE_VECTORS = [
    (i, e)
    for i, e in EXACT_VECTORS
    if e["direction"] == "reader->host"
    and _status_of(H(e["hex"])) not in (Status.OK, Status.MORE_DATA)
]


@pytest.mark.parametrize(
    ("index", "entry"), FAILURE_VECTORS, ids=[f"v{i}" for i, _ in FAILURE_VECTORS]
)
def test_failure_vector_round_trips_as_failure(index: int, entry: dict[str, Any]) -> None:
    frame = RSP(entry["hex"])
    failure = Failure.from_response(frame)
    assert failure.to_response(frame.com_adr, frame.command, advanced=frame.advanced) == frame


# --- CRC and frames --------------------------------------------------------------------------


def test_crc_check_value_is_mcrf4xx() -> None:
    assert crc16(b"123456789") == 0x6F91


def _mcrf4xx_bitwise(data: bytes) -> int:
    """The CPR manual's §3.2 C example, bit by bit: the reference for the table-driven crc16."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


@given(st.binary(max_size=300))
def test_table_crc_equals_the_manuals_bitwise_crc(data: bytes) -> None:
    assert crc16(data) == _mcrf4xx_bitwise(data)


def test_crc_is_sent_lsb_first() -> None:
    # v0: 05 FF 65 | E5 CB -> CRC 0xCBE5
    assert crc16(vector(0)[:3]) == 0xCBE5


def test_standard_and_advanced_frames_of_the_same_request() -> None:
    standard, advanced = CMD("06 12 80 07 E5 80"), CMD("02 00 08 12 80 07 A0 2D")  # v4, v5
    assert (standard.com_adr, standard.command, standard.data) == (0x12, 0x80, H("07"))
    assert (advanced.com_adr, advanced.command, advanced.data) == (0x12, 0x80, H("07"))
    assert not standard.advanced
    assert advanced.advanced


def test_advanced_frame_chosen_when_the_response_outgrows_255_bytes() -> None:
    records = tuple(InventoryRecord(bytes((0xE0, 0x04, 0, 0, 0, 0, 0, n))) for n in range(25))
    frame = InventoryResult(records).to_response(0x00)
    assert frame.advanced
    encoded = frame.encode()
    assert len(encoded) == 8 + 1 + 25 * 10 == 259
    assert encoded[:3] == H("02 01 03")
    assert decode_response(encoded) == (frame, b"")
    assert InventoryResult.from_response(frame).records == records


def test_largest_standard_response_stays_standard() -> None:
    records = tuple(InventoryRecord(bytes((0xE0, 0x04, 0, 0, 0, 0, 0, n))) for n in range(24))
    encoded = InventoryResult(records).to_response(0x00).encode()
    assert encoded[0] == 247


def test_request_data_over_250_bytes_goes_advanced() -> None:
    assert not FeigRequest(0xFF, 0xB0, bytes(250)).advanced
    long = FeigRequest(0xFF, 0xB0, bytes(251))
    assert long.advanced
    assert decode_request(long.encode())[0] == long


def test_rest_of_the_buffer_is_returned_untouched() -> None:
    data = vector(0) + vector(12) + H("07 FF")
    first, rest = decode_request(data)
    assert first == CMD("05 FF 65 E5 CB")
    second, rest = decode_request(rest)
    assert second == CMD("05 FF 69 89 01")
    assert rest == H("07 FF")


def test_com_adr_255_reaches_any_reader_and_the_reader_answers_with_its_own() -> None:
    request, response = CMD("05 FF 65 E5 CB"), RSP("0D 00 65 00 03 03 00 44 53 0D 30 33 09")
    assert request.broadcast
    assert response.com_adr == 0x00


def test_no_reader_answers_from_com_adr_255() -> None:
    with pytest.raises(FrameError, match="COM-ADR 255"):
        FeigResponse(0xFF, 0x65, 0x00)
    forged = FeigRequest(0xFF, 0x65, H("00")).encode()  # same bytes, read as a response
    with pytest.raises(FrameError, match="COM-ADR 255"):
        decode_response(forged)
    with pytest.raises(FrameError, match="COM-ADR 255"):
        decode_response(H("02 00 08 FF"))  # rejected before the frame is complete


@pytest.mark.parametrize("address", [-1, 256])
def test_com_adr_outside_a_byte_is_refused(address: int) -> None:
    with pytest.raises(FrameError, match="COM-ADR"):
        FeigRequest(address, 0x65)


def test_bad_crc_is_garbage_naming_where() -> None:
    with pytest.raises(FrameError, match="CRC") as caught:
        decode_request(H("05 FF 65 E5 CC"))
    assert caught.value.offset == 3


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (H("04 FF 65 00"), "neither STX nor a LEN"),
        (H("05 00 65 E5 CB"), "neither STX nor a LEN"),  # LEN 5 cannot be a response
        (H("02 00 06 00 65 00"), "ALENGTH 6"),
    ],
)
def test_lengths_below_the_minimum_are_garbage(data: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_response(data)


def test_next_header_skips_bytes_that_cannot_start_a_frame() -> None:
    assert next_header(H("00 01 03 04 05"), 0) == 4
    assert next_header(H("00 02 00 03 06"), 0) == 4  # STX announcing 3 bytes is no header
    assert next_header(H("00 02 00"), 0) == 1  # STX whose length is not yet visible
    assert next_header(H("00 01"), 0) == 2


# --- status table ------------------------------------------------------------------------------


def test_status_table_covers_every_status_and_nothing_else() -> None:
    assert sorted(STATUS_TABLE) == sorted(int(status) for status in Status)


@pytest.mark.parametrize("status", [int(s) for s in Status], ids=[s.name for s in Status])
def test_every_status_round_trips(status: int) -> None:
    if status == Status.OK:
        frame = Acknowledgement(0x69).to_response(0x00)
        assert Acknowledgement.from_response(RSP(frame.encode().hex())) == Acknowledgement(0x69)
        return
    iso = 0x12 if status == Status.ISO15693_ERROR else None
    failure = Failure(status, iso_error=iso)
    frame = failure.to_response(0x00, 0xB0)
    assert decode_response(frame.encode()) == (frame, b"")
    assert Failure.from_response(frame) == failure


def test_transient_statuses_follow_the_reference() -> None:
    transient = {code for code, entry in STATUS_TABLE.items() if entry.transient}
    assert {0x01, 0x02, 0x83} <= transient
    assert Status.OK not in transient
    assert Status.UNKNOWN_COMMAND not in transient
    assert Failure(0x01).transient
    assert not Failure(0x80).transient


def test_iso_error_rides_after_status_0x95() -> None:
    failure = Failure.from_response(RSP("07 00 B0 95 11 FB EC"))  # v33
    assert (failure.iso_error, failure.failed_block) == (0x11, None)
    assert "BLOCK_ALREADY_LOCKED" in str(failure)
    assert ISO15693_ERRORS[0x12].name == "BLOCK_LOCKED"


def test_write_failure_names_the_failing_block() -> None:
    iso = Failure.from_response(RSP("08 00 B0 95 12 03 CA 6C"))  # v28
    assert (iso.status, iso.iso_error, iso.failed_block) == (0x95, 0x12, 3)
    assert not iso.transient
    write = Failure.from_response(RSP("07 00 B0 03 05 D3 F7"))  # v29
    assert (write.status, write.failed_block) == (0x03, 5)
    assert str(write) == "status 0x03 WRITE_ERROR, at block 5"


def test_wrong_password_is_iso_error_0x0f() -> None:
    failure = Failure.from_response(RSP("02 00 09 00 B1 95 0F DC 5A"))  # v9
    assert failure.iso_error == 0x0F
    assert not failure.transient


def test_undocumented_status_keeps_its_code() -> None:
    failure = Failure.from_response(FeigResponse(0, 0xB0, 0x42))
    assert failure.name == "UNDOCUMENTED_0x42"
    assert not failure.transient


def test_failure_with_unexpected_data_is_refused() -> None:
    with pytest.raises(FrameError, match="unexpected"):
        Failure.from_response(FeigResponse(0, 0xB0, 0x80, H("01")))


# --- catalogue ---------------------------------------------------------------------------------


def test_catalogue_has_no_duplicate_commands() -> None:
    keys = [spec.key for spec in CATALOGUE]
    assert len(keys) == len(set(keys))


def test_catalogue_entries_are_complete_and_consistent() -> None:
    for spec in CATALOGUE:
        assert spec.response is not None, spec.name
        assert spec.code == spec.request.COMMAND, spec.name
        assert spec.response is Acknowledgement or spec.code == spec.response.COMMAND, spec.name
        assert spec.name, spec
        assert spec.request_layout, spec.name
        assert spec.response_layout, spec.name
        assert spec.spec, spec.name


def test_catalogue_covers_the_assignment() -> None:
    controls = {0x22, 0x31, 0x32, 0x33, 0x52, 0x63, 0x64, 0x65, 0x66, 0x69, 0x6A, 0x71, 0x72, 0x74}
    assert controls <= {spec.code for spec in CATALOGUE if spec.sub is None}
    assert set(IsoCommand) == {spec.sub for spec in CATALOGUE if spec.code == 0xB0}
    nxp = {spec.sub for spec in CATALOGUE if spec.code == 0xB1 and spec.mfr == 0x04}
    assert {0xA2, 0xA3, 0xA4, 0xA5} <= nxp


def test_unknown_command_is_named() -> None:
    with pytest.raises(FrameError, match=r"\[B0 99\]"):
        decode_request_body(FeigRequest(0xFF, 0xB0, H("99 00")))


# --- control commands --------------------------------------------------------------------------


def test_software_version_v1_and_its_advanced_twin_v3() -> None:
    version = SoftwareVersion.from_response(RSP("0D 00 65 00 03 03 00 44 53 0D 30 33 09"))
    assert version == SoftwareVersion(0x0303, 0x00, 0x44, 0x53, 0x0D30)
    advanced = RSP("02 00 0F 00 65 00 03 03 00 44 53 0D 30 74 69")
    assert SoftwareVersion.from_response(advanced) == version
    assert version.to_response(0x00, advanced=True) == advanced


def test_baud_rate_detection_v10_v11() -> None:
    assert BaudRateDetection().to_request().encode() == vector(10)
    assert decode_response_body(RSP("06 00 52 00 FC A8"), CMD("06 FF 52 00 0F 6E")) == (
        Acknowledgement(0x52)
    )


def test_rf_output_v13_v14() -> None:
    assert RfOutput.off().to_request().encode() == vector(13)
    assert RfOutput.on(1).to_request().encode() == vector(14)
    with pytest.raises(FrameError, match="antenna 3"):
        RfOutput.on(3)


def test_reader_info_mode_0_reads_buffer_sizes() -> None:
    request = GetReaderInfo().to_request()
    data = H("03 03 00 44 53 0D 30 01 00 00 80")
    info = decode_response_body(FeigResponse(0, 0x66, 0, data), request)
    assert isinstance(info, ReaderInfo)
    general = info.general()
    assert (general.rx_buf, general.tx_buf) == (0x0100, 0x0080)
    assert general.version.sw_type == 0x53


def test_set_output_cpr_v39() -> None:
    green_for_one_second = SetOutputCpr(green=OutputMode.ON, os_time_100ms=10)
    assert green_for_one_second.to_request().encode() == vector(39)


def test_set_output_records_round_trip() -> None:
    body = SetOutput(
        (
            OutputRecord(1, OutputType.DIGITAL_OUTPUT, OutputMode.FLASH, 1, 0, 5),
            OutputRecord(1, OutputType.RELAY, OutputMode.OFF),
            OutputRecord(2, OutputType.RELAY, OutputMode.ON, time_100ms=10),
        )
    )
    frame = body.to_request()
    assert frame.data[:2] == H("01 03")
    assert decode_request_body(decode_request(frame.encode())[0]) == body


def test_get_input_v41_v42() -> None:
    assert GetInput().to_request().encode() == vector(41)
    inputs = InputState.from_response(RSP("07 00 74 00 11 E5 E2"))
    assert inputs.is_active(1)
    assert inputs.has_changed(1)
    assert not inputs.is_active(2)
    assert inputs == InputState.of((True,), (True,))


# --- ISO host commands -------------------------------------------------------------------------


def test_inventory_requests_v16_v17_v50() -> None:
    assert Inventory().to_request().encode() == vector(16)
    assert Inventory.next_page().to_request().encode() == vector(17)
    assert Inventory().to_request(advanced=True).encode() == vector(50)


def test_inventory_afi_and_notification_bytes_follow_mode() -> None:
    body = Inventory(afi=0x07, notification_time_100ms=20)
    assert body.to_request().data == H("01 50 07 14")
    assert decode_request_body(body.to_request()) == body
    with pytest.raises(FrameError, match="mutually exclusive"):
        Inventory(more=True, notification_time_100ms=1)


def test_inventory_two_tags_v20() -> None:
    result = InventoryResult.from_response(
        RSP("1B 00 B0 00 02 03 00 E0 04 01 00 12 34 56 78 03 00 E0 07 00 00 12 AB 34 CD C6 FB")
    )
    assert [record.uid for record in result.records] == [UID_NXP, UID_TI]
    assert not result.more_data
    assert result.to_response(0x00).encode() == vector(20)


def test_no_transponder_is_an_empty_inventory_v18() -> None:
    result = decode_response_body(RSP("06 00 B0 01 5C 63"), CMD("07 FF B0 01 00 1C 56"))
    assert result == InventoryResult((), Status.NO_TRANSPONDER)


def test_more_data_pages_the_inventory_v49_v17() -> None:
    page = InventoryResult.from_response(RSP("11 00 B0 94 01 03 00 E0 04 01 00 12 34 56 78 B6 8B"))
    assert page.more_data
    assert page.records == (InventoryRecord(UID_NXP),)
    assert Inventory.next_page().to_request().encode() == vector(17)


def test_collision_without_data_is_kept_as_status_v47() -> None:
    result = decode_response_body(RSP("06 00 B0 83 46 C4"), Inventory().to_request())
    assert result == InventoryResult((), Status.RF_COMMUNICATION_ERROR)


def test_inventory_record_of_another_family_is_refused() -> None:
    with pytest.raises(FrameError, match="TR-TYPE 0x04"):
        InventoryResult.from_response(FeigResponse(0, 0xB0, 0, H("01 04 00") + UID_NXP))


def test_system_information_v21_v22() -> None:
    assert GetSystemInformation.to(UID_NXP).to_request().encode() == vector(21)
    info = SystemInformation.from_response(
        RSP("13 00 B0 00 00 E0 04 01 00 12 34 56 78 07 03 1B 01 AF 59")
    )
    assert (info.uid, info.afi, info.ic_reference) == (UID_NXP, 0x07, 0x01)
    assert (info.block_size, info.block_count) == (4, 28)
    rebuilt = SystemInformation.of(UID_NXP, block_size=4, block_count=28, afi=7, ic_reference=1)
    assert info == rebuilt


def test_read_multiple_blocks_v23_v24_v25() -> None:
    plain = ReadMultipleBlocks(0, 8, Addressing.ADDRESSED, UID_NXP)
    assert plain.to_request().encode() == vector(23)
    secured = ReadMultipleBlocks(0, 8, Addressing.ADDRESSED, UID_NXP, security_status=True)
    assert secured.to_request().encode() == vector(24)
    result = ReadBlocksResult.from_response(
        RSP("12 00 B0 00 02 04 00 11 22 33 44 01 55 66 77 88 05 F9")
    )
    assert [block.locked for block in result.blocks] == [False, True]
    assert result.blocks[0].data == H("11 22 33 44")  # wire order, as the reader sent it
    assert result.tag_memory() == H("44 33 22 11 88 77 66 55")  # the byte-order gotcha
    rebuilt = ReadBlocksResult.from_tag_memory(H("44 33 22 11 88 77 66 55"), 4, (0, 1))
    assert rebuilt == result


def test_write_multiple_blocks_v26_from_tag_memory() -> None:
    body = WriteMultipleBlocks.from_tag_memory(0, H("11 22 33 44"), 4, uid=UID_NXP)
    assert body.to_request().encode() == vector(26)
    assert body.tag_memory() == H("11 22 33 44")
    assert decode_response_body(RSP("06 00 B0 00 D5 72"), body.to_request()) == Acknowledgement(
        0xB0
    )


def test_write_failure_through_dispatch_v26_v28() -> None:
    outcome = decode_response_body(vector_response(28), CMD(vector(26).hex()))
    assert outcome == Failure(0x95, iso_error=0x12, failed_block=3)


def vector_response(index: int) -> FeigResponse:
    return RSP(vector(index).hex())


def test_afi_commands_v30_v31_v32() -> None:
    assert WriteAfi.to(UID_NXP, 0x07).to_request().encode() == vector(30)
    assert WriteAfi.to(UID_NXP, 0xC2).to_request().encode() == vector(31)
    assert LockAfi.to(UID_NXP).to_request().encode() == vector(32)


def test_addressed_modes_need_a_uid_and_only_then() -> None:
    with pytest.raises(FrameError, match="UID"):
        WriteAfi(0x07, Addressing.ADDRESSED)
    with pytest.raises(FrameError, match="UID"):
        WriteAfi(0x07, Addressing.SELECTED, UID_NXP)
    with pytest.raises(FrameError, match="addressed only"):
        decode_request_body(FeigRequest(0xFF, 0xB0, H("02 00")))
    assert StayQuiet(UID_NXP).to_request().data == H("02 01") + UID_NXP


def test_mode_bits_a_command_lacks_are_refused_naming_the_byte() -> None:
    with pytest.raises(FrameError, match="MODE 0x09") as caught:
        decode_request_body(FeigRequest(0xFF, 0xB0, H("27 09") + UID_NXP + H("07")))
    assert caught.value.offset == 4


def test_nxp_eas_v34_to_v38() -> None:
    assert SetEas.to(UID_NXP).to_request().encode() == vector(34)
    alarm = EasAlarm()
    assert alarm.to_request().encode() == vector(36)
    assert decode_response_body(vector_response(37), alarm.to_request()) == EasAlarmResult(True)
    assert decode_response_body(vector_response(38), alarm.to_request()) == EasAlarmResult(False)
    assert EasAlarmResult(False).to_response(0x00).encode() == vector(38)


def test_nxp_password_v6_v7_v8() -> None:
    random = decode_response_body(vector_response(7), CMD(vector(6).hex()))
    assert random == RandomNumber(0xD339)
    body = SetPassword.masked(bytes(4), 0xD339, 0x02)
    assert body.to_request(advanced=True).encode() == vector(8)


# --- buffered read mode ------------------------------------------------------------------------


def test_brm_requests_v43_to_v46() -> None:
    assert ReadBuffer(1).to_request().encode() == vector(43)
    for index in (44, 45, 46):
        frame = CMD(vector(index).hex())
        assert decode_request_body(frame).to_request() == frame


def test_brm_records_round_trip_with_uid_time_antenna_and_direction() -> None:
    record = BufferRecord(
        tr_type=0x03,
        iddt=0x00,
        idd=UID_NXP,
        timer=H("0C 1E 01 F4"),
        antenna=0x02,
        input_state=0x01,
        input_reserved=0x00,
        direction=0x01,
    )
    buffer = BufferRecords(0x01 | 0x20 | 0x10 | 0x80, (record, record), tr_data2=0x03)
    frame = buffer.to_response(0x00)
    assert decode_response_body(frame, ReadBuffer(2).to_request()) == buffer
    assert frame.data[:4] == H("B1 03 00 02")
    assert frame.data[4:6] == H("00 15")  # RecLen: 2 + 3 + 8 + 4 + 1 + 2 + 1 = 21


def test_brm_record_not_matching_tr_data_is_refused() -> None:
    with pytest.raises(FrameError, match="does not carry"):
        BufferRecords(0x01, (BufferRecord(antenna=1),))


def test_brm_buffer_info_keeps_its_status() -> None:
    info = BufferInfo(1000, 0, 12, Status.DATA_BUFFER_OVERFLOW)
    frame = info.to_response(0x00)
    assert frame.data == H("03 E8 00 00 00 0C")
    assert BufferInfo.from_response(frame) == info


# --- timing ------------------------------------------------------------------------------------


def test_frame_time_matches_the_serial_table() -> None:
    assert frame_time_s(17) == pytest.approx(0.0049, abs=1e-4)
    assert frame_time_s(247) == pytest.approx(0.0708, abs=1e-4)
    assert frame_time_s(10, baud=115200, bits_per_char=10) == pytest.approx(10 / 11520)


def test_command_timeout_grows_with_blocks_tags_and_notification() -> None:
    base = command_timeout_s(GetInput().to_request())
    assert base > 1.0
    few = command_timeout_s(Inventory().to_request(), tags=1)
    many = command_timeout_s(Inventory().to_request(), tags=24)
    assert base < few < many
    waiting = command_timeout_s(Inventory(notification_time_100ms=50).to_request(), tags=1)
    assert waiting - few == pytest.approx(5.0, abs=0.01)
    one = WriteMultipleBlocks.from_tag_memory(0, bytes(4))
    eight = WriteMultipleBlocks.from_tag_memory(0, bytes(32))
    assert command_timeout_s(eight.to_request()) - command_timeout_s(one.to_request()) > 0.18
    read = ReadMultipleBlocks(0, 8).to_request()
    assert command_timeout_s(read, blocks=28) > command_timeout_s(read)


@pytest.mark.parametrize("body", [
    GetInput(), Inventory(), Inventory(notification_time_100ms=50),
    WriteMultipleBlocks.from_tag_memory(0, bytes(32)), ReadMultipleBlocks(0, 8),
    SetOutputCpr(red=OutputMode.ON, beeper=OutputMode.ON, os_time_100ms=30),
], ids=lambda body: type(body).__name__)
def test_a_driver_holding_the_body_gets_the_timeout_of_the_parsed_request(
        body: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver passes the body it built instead of having the request parsed back."""
    request = body.to_request()
    parsed = {tags: command_timeout_s(request, tags=tags) for tags in (1, 24)}

    def no_parsing(*_: Any) -> None:
        raise AssertionError("the request was parsed back although its body was given")

    monkeypatch.setattr(type(body), "from_request", no_parsing)
    for tags, expected in parsed.items():
        assert command_timeout_s(request, tags=tags, body=body) == expected


def test_the_cached_set_output_payload_is_per_command(monkeypatch: pytest.MonkeyPatch) -> None:
    alarm = SetOutputCpr(red=OutputMode.ON, beeper=OutputMode.ON, os_time_100ms=30)
    green = SetOutputCpr(green=OutputMode.ON, os_time_100ms=10)
    built: list[Any] = []
    real_build = SET_OUTPUT_CPR_LAYOUT.build
    monkeypatch.setattr(SET_OUTPUT_CPR_LAYOUT, "build",
                        lambda values: built.append(values) or real_build(values))
    fresh = SetOutputCpr(red=OutputMode.ON, beeper=OutputMode.ON, os_time_100ms=31)
    assert fresh.payload() == fresh.payload()
    assert len(built) == 1, "the same command was built twice"
    assert alarm.payload() == alarm.payload() != green.payload()
    assert SetOutputCpr.from_request(alarm.to_request()) == alarm
    assert SetOutputCpr.from_request(green.to_request()) == green


# --- reassembly --------------------------------------------------------------------------------


def test_reassembler_yields_vectors_fed_a_byte_at_a_time_through_garbage() -> None:
    stream = H("00 01 03 04") + vector(20) + H("03") + vector(3) + vector(28)
    reassembler = Reassembler(decode_response, next_header)
    frames = [frame for byte in stream for frame in reassembler.feed(bytes((byte,)))]
    assert [frame.encode() for frame in frames] == [vector(20), vector(3), vector(28)]
