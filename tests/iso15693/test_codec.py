# SPDX-License-Identifier: Apache-2.0
"""ISO/IEC 15693 air frames: vectors, catalogue, round trips and fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import FrameError
from protocols.iso15693 import (
    BY_CODE,
    COMMANDS,
    ERROR_CODES,
    BlocksResponse,
    Command,
    EasAlarmResponse,
    ErrorResponse,
    Field,
    InventoryResponse,
    RandomNumberResponse,
    Request,
    RequestFlag,
    Response,
    ResponseKind,
    SecurityStatusResponse,
    StatusResponse,
    SystemInfoResponse,
    Uid,
    afi_matches,
    append_crc,
    check_crc,
    crc16,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from tests.conftest import H, load_vectors

UID = Uid.from_text("E004010012345678")

AIR = [(index, entry) for index, entry in enumerate(load_vectors("reader_frames"))
       if entry["protocol"] == "ISO 15693 air"]


def vector_id(item: tuple[int, dict[str, Any]]) -> str:
    return f"vector{item[0]}"


# --- CRC -------------------------------------------------------------------------------------

def test_crc_datasheet_example() -> None:
    assert crc16(H("01 02 03 04")) == 0x3991
    assert append_crc(H("01 02 03 04")) == H("01 02 03 04 91 39")


def test_crc_inventory_and_catalogue_check_value() -> None:
    assert append_crc(H("26 01 00")) == H("26 01 00 F6 0A")
    assert crc16(b"123456789") == 0x906E  # CRC-16/X-25 check value


def test_crc_rejects_flipped_bit_and_short_frames() -> None:
    assert check_crc(H("26 01 00 F6 0A"))
    assert not check_crc(H("26 01 01 F6 0A"))
    assert not check_crc(H("F6"))


@pytest.mark.parametrize("item", AIR, ids=vector_id)
def test_vector_crc(item: tuple[int, dict[str, Any]]) -> None:
    assert check_crc(H(item[1]["hex"])), item[1]["source"]


@pytest.mark.parametrize("item", [a for a in AIR if a[1]["direction"] == "VCD->VICC"],
                         ids=vector_id)
def test_vector_request_round_trip(item: tuple[int, dict[str, Any]]) -> None:
    frame = H(item[1]["hex"])
    assert encode_request(decode_request(frame)) == frame


@pytest.mark.parametrize("item", [a for a in AIR if a[1]["direction"] == "VICC->VCD"],
                         ids=vector_id)
def test_vector_response_decodes_for_some_command(item: tuple[int, dict[str, Any]]) -> None:
    frame = H(item[1]["hex"])
    decoded = []
    for spec in COMMANDS:
        try:
            decoded.append(decode_response(spec.code, frame))
        except FrameError:
            continue
    assert decoded, "no command's response layout fits"
    assert all(encode_response(response) == frame for response in decoded)


# --- what the vectors mean, vector by vector --------------------------------------------------

def test_vector100_one_slot_inventory() -> None:
    assert encode_request(Request.inventory(slots=1)) == H("26 01 00 F6 0A")


def test_vector101_sixteen_slot_inventory() -> None:
    assert encode_request(Request.inventory()) == H("06 01 00 CD 09")


def test_vector102_afi_inventory() -> None:
    request = decode_request(H("36 01 07 00 62 EC"))
    assert (request.afi, request.slots, request.mask_length) == (0x07, 1, 0)
    assert encode_request(Request.inventory(afi=0x07, slots=1)) == H("36 01 07 00 62 EC")


def test_vector103_inventory_response() -> None:
    frame = H("00 00 78 56 34 12 00 01 04 E0 B9 43")
    assert decode_response(Command.INVENTORY, frame) == InventoryResponse(0x00, UID)
    assert encode_response(InventoryResponse(0x00, UID)) == frame


def test_vector104_read_single_block_addressed() -> None:
    frame = H("22 20 78 56 34 12 00 01 04 E0 00 6C 3D")
    assert encode_request(Request.read_single_block(0, uid=UID)) == frame


def test_vector105_read_multiple_count_is_n_minus_1() -> None:
    frame = H("22 23 78 56 34 12 00 01 04 E0 00 07 23 D3")
    assert decode_request(frame).block_count == 8
    assert encode_request(Request.read_multiple_blocks(0, 8, uid=UID)) == frame


def test_vector106_107_write_single_block_option_flag() -> None:
    data = H("11 22 33 44")
    assert encode_request(Request.write_single_block(1, data, uid=UID)) == H(
        "22 21 78 56 34 12 00 01 04 E0 01 11 22 33 44 02 0F")
    assert encode_request(Request.write_single_block(1, data, uid=UID, option=True)) == H(
        "62 21 78 56 34 12 00 01 04 E0 01 11 22 33 44 B0 94")


def test_vector108_write_afi() -> None:
    assert encode_request(Request.write_afi(0x07, uid=UID)) == H(
        "22 27 78 56 34 12 00 01 04 E0 07 26 8D")


def test_vector109_110_system_info() -> None:
    request = Request.get_system_info(uid=UID)
    assert encode_request(request) == H("22 2B 78 56 34 12 00 01 04 E0 B6 E9")
    response = decode_response(Command.GET_SYSTEM_INFO,
                               H("00 0F 78 56 34 12 00 01 04 E0 00 07 1B 03 01 FA AC"),
                               request=request)
    assert response == SystemInfoResponse(UID, dsfid=0, afi=0x07, block_count=28, block_size=4,
                                          ic_reference=0x01)
    assert isinstance(response, SystemInfoResponse)
    assert response.info_flags == 0x0F


def test_vector111_nxp_set_eas_carries_mfg_code() -> None:
    frame = H("22 A2 04 78 56 34 12 00 01 04 E0 55 0F")
    assert decode_request(frame).mfg_code == 0x04
    assert encode_request(Request.set_eas(uid=UID)) == frame


def test_vector112_eas_alarm_non_addressed() -> None:
    assert encode_request(Request.eas_alarm()) == H("02 A5 04 17 E4")


def test_vector113_error_block_locked() -> None:
    response = decode_response(Command.WRITE_SINGLE_BLOCK, H("01 12 0C 25"))
    assert response == ErrorResponse(0x12)
    assert isinstance(response, ErrorResponse)
    assert response.name == "block_locked"


def test_vector114_write_success() -> None:
    assert decode_response(Command.WRITE_SINGLE_BLOCK, H("00 78 F0")) == StatusResponse()


# --- catalogue --------------------------------------------------------------------------------

def test_catalogue_codes_unique_and_complete() -> None:
    codes = [spec.code for spec in COMMANDS]
    assert len(codes) == len(set(codes))
    assert {int(command) for command in Command} == set(codes)
    for spec in COMMANDS:
        assert spec.name == Command(spec.code).name.lower(), spec
        assert isinstance(spec.response, ResponseKind)
        assert spec.spec
        assert spec.custom == (0xA0 <= spec.code <= 0xDF)
        assert len(set(spec.request)) == len(spec.request)
        assert Field.BLOCK_DATA not in spec.request[:-1], "data is always the rest of the frame"


def test_error_code_table() -> None:
    codes = [spec.code for spec in ERROR_CODES]
    assert len(codes) == len(set(codes))
    assert {spec.name for spec in ERROR_CODES} >= {"not_supported", "block_locked", "unknown"}
    assert ErrorResponse(0xA3).name == "custom_a3"
    assert ErrorResponse(0x20).name == "rfu_20"


def test_every_command_has_a_typed_constructor_that_encodes() -> None:
    requests = [
        Request.inventory(), Request.stay_quiet(UID), Request.read_single_block(0),
        Request.write_single_block(0, H("00 00 00 00")), Request.lock_block(0),
        Request.read_multiple_blocks(0, 2), Request.write_multiple_blocks(0, [b"abcd", b"efgh"]),
        Request.select(UID), Request.reset_to_ready(), Request.write_afi(7), Request.lock_afi(),
        Request.write_dsfid(1), Request.lock_dsfid(), Request.get_system_info(),
        Request.get_multiple_block_security_status(0, 4), Request.set_eas(),
        Request.reset_eas(), Request.lock_eas(), Request.eas_alarm(), Request.protect(afi=True),
        Request.write_eas_id(0x1234), Request.get_random_number(),
        Request.set_password(0x10, 0x0F0F0F0F, 0x1234, uid=UID),
        Request.write_password(0x10, 0, uid=UID),
    ]
    assert {request.command for request in requests} == set(BY_CODE)
    for request in requests:
        assert decode_request(encode_request(request)) == request


# --- requests in detail -----------------------------------------------------------------------

def test_uid_order_and_text() -> None:
    assert UID.wire == H("78 56 34 12 00 01 04 E0")
    assert str(UID) == "E004010012345678"
    assert UID.manufacturer == "NXP Semiconductors"
    assert Uid.from_wire(H("02 28 E0 6D 58 01 04 E0")) == Uid.from_text("E00401586DE02802")


@pytest.mark.parametrize("text", ["E0040100123456", "E00401001234567G", ""])
def test_uid_bad_text(text: str) -> None:
    with pytest.raises(FrameError, match="UID"):
        Uid.from_text(text)


def test_inventory_mask_on_the_wire() -> None:
    request = Request.inventory(mask_length=12, mask=0xABC)
    assert encode_request(request, with_crc=False) == H("06 01 0C BC 0A")
    assert decode_request(H("06 01 0C BC 0A"), with_crc=False) == request


def test_set_password_scrambles_with_random_number() -> None:
    request = Request.set_password(0x10, 0x11223344, 0xABCD, uid=UID)
    assert request.password == 0x11223344 ^ 0xABCDABCD
    assert encode_request(request, with_crc=False)[-5:] == H("10 89 98 EF BA")


def test_protocol_extension_two_byte_block_number() -> None:
    request = Request.read_single_block(0x0123, flags=RequestFlag.DATA_RATE
                                        | RequestFlag.PROTOCOL_EXTENSION)
    assert encode_request(request, with_crc=False) == H("0A 20 23 01")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("26 01 00 F6 0B", "CRC"),
        ("26", "shorter"),
        ("22 20 78 56 34", "inside UID"),
        ("02 20 00 01", "unexpected"),
        ("26 01 41 00 00 00 00 00 00 00 00 00", "beyond 64"),
        ("26 01 04 FF", "beyond its length"),
        ("02 21 01", "0 data bytes"),
        ("02 24 00 01 11 22 33", "equal blocks"),
        ("02 A2", "mfg code"),
    ],
)
def test_bad_requests_name_what_and_where(frame: str, message: str) -> None:
    data = H(frame)
    with_crc = message == "CRC"
    with pytest.raises(FrameError, match=message):
        decode_request(data, with_crc=with_crc)


# --- responses in detail ----------------------------------------------------------------------

def test_read_single_block_with_security_status() -> None:
    request = Request.read_single_block(3, uid=UID, option=True)
    frame = append_crc(H("00 01 11 22 33 44"))
    response = decode_response(Command.READ_SINGLE_BLOCK, frame, request=request)
    assert response == BlocksResponse((H("11 22 33 44"),), (0x01,))
    assert encode_response(response) == frame


def test_read_multiple_blocks_uses_request_count() -> None:
    request = Request.read_multiple_blocks(0, 2, option=True)
    frame = append_crc(H("00 00 11 22 33 44 01 55 66 77 88"))
    response = decode_response(Command.READ_MULTIPLE_BLOCKS, frame, request=request)
    assert isinstance(response, BlocksResponse)
    assert response.security == (0, 1)
    assert response.data == H("11 22 33 44 55 66 77 88")
    with pytest.raises(FrameError, match="blocks"):
        decode_response(Command.READ_MULTIPLE_BLOCKS, append_crc(H("00 11 22 33")),
                        request=request)


def test_other_responses() -> None:
    assert decode_response(Command.GET_RANDOM_NUMBER, append_crc(H("00 CD AB"))) == \
        RandomNumberResponse(0xABCD)
    assert decode_response(Command.EAS_ALARM, append_crc(b"\x00" + bytes(32))) == \
        EasAlarmResponse(bytes(32))
    assert decode_response(Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS,
                           append_crc(H("00 00 01 00"))) == SecurityStatusResponse((0, 1, 0))
    with pytest.raises(FrameError, match="stay_quiet response"):
        decode_response(Command.STAY_QUIET, append_crc(H("00")))
    with pytest.raises(FrameError, match="error response"):
        decode_response(Command.READ_SINGLE_BLOCK, append_crc(H("01 12 00")))


def test_afi_matching_wildcards() -> None:
    assert afi_matches(0x00, 0xC2)
    assert afi_matches(0x07, 0x07)
    assert afi_matches(0x07, 0xC7)
    assert not afi_matches(0x07, 0xC2)
    assert afi_matches(0xC0, 0xC2)
    assert not afi_matches(0xC0, 0xD2)
    assert afi_matches(0xC2, 0xC2)
    assert not afi_matches(0xC2, 0xC3)
    assert not afi_matches(0x07, 0x00)


# --- round trips and fuzzing ------------------------------------------------------------------

uids = st.integers(0, 2**64 - 1).map(Uid)
blocks_numbers = st.integers(0, 255)
mode = st.fixed_dictionaries({}, optional={"uid": uids, "option": st.booleans()})

requests = st.one_of(
    st.builds(lambda afi, slots, n, bits: Request.inventory(
        afi=afi, slots=slots, mask_length=n, mask=bits & ((1 << n) - 1)),
        st.none() | st.integers(0, 255), st.sampled_from([1, 16]), st.integers(0, 64),
        st.integers(0, 2**64 - 1)),
    st.builds(Request.stay_quiet, uids),
    st.builds(lambda b, m: Request.read_single_block(b, **m), blocks_numbers, mode),
    st.builds(lambda b, d, m: Request.write_single_block(b, d, **m), blocks_numbers,
              st.binary(min_size=1, max_size=32), mode),
    st.builds(lambda b, c, m: Request.read_multiple_blocks(b, c, **m), blocks_numbers,
              st.integers(1, 256), mode),
    st.builds(lambda b, n, m: Request.write_multiple_blocks(b, [bytes([i]) * 4 for i in
                                                            range(n)], **m),
              blocks_numbers, st.integers(1, 8), mode),
    st.builds(lambda a, m: Request.write_afi(a, **m), st.integers(0, 255), mode),
    st.builds(lambda m: Request.eas_alarm(**m), mode),
    st.builds(lambda p, r, m: Request.set_password(0x10, p, r, **m), st.integers(0, 2**32 - 1),
              st.integers(0, 0xFFFF), mode),
)


@given(requests)
def test_request_round_trip(request: Request) -> None:
    frame = encode_request(request)
    assert decode_request(frame) == request
    assert encode_request(request, with_crc=False) == frame[:-2]


responses: st.SearchStrategy[Response] = st.one_of(
    st.builds(ErrorResponse, st.integers(0, 255)),
    st.builds(StatusResponse),
    st.builds(InventoryResponse, st.integers(0, 255), uids),
    st.builds(SystemInfoResponse, uids, st.none() | st.integers(0, 255),
              st.none() | st.integers(0, 255), st.just(28), st.just(4),
              st.none() | st.integers(0, 255)),
    st.builds(RandomNumberResponse, st.integers(0, 0xFFFF)),
    st.builds(EasAlarmResponse, st.binary(min_size=32, max_size=32)),
)

_COMMAND_FOR = {
    ErrorResponse: Command.WRITE_SINGLE_BLOCK, StatusResponse: Command.WRITE_SINGLE_BLOCK,
    InventoryResponse: Command.INVENTORY, SystemInfoResponse: Command.GET_SYSTEM_INFO,
    RandomNumberResponse: Command.GET_RANDOM_NUMBER, EasAlarmResponse: Command.EAS_ALARM,
}


@given(responses)
def test_response_round_trip(response: Response) -> None:
    frame = encode_response(response)
    assert decode_response(_COMMAND_FOR[type(response)], frame) == response


@given(st.lists(st.binary(min_size=4, max_size=4), min_size=1, max_size=16), st.booleans())
def test_blocks_round_trip(blocks: list[bytes], option: bool) -> None:
    request = Request.read_multiple_blocks(0, len(blocks), option=option)
    response = BlocksResponse(tuple(blocks), tuple(range(len(blocks))) if option else None)
    frame = encode_response(response)
    assert decode_response(Command.READ_MULTIPLE_BLOCKS, frame, request=request) == response


@settings(max_examples=3000)
@given(st.binary(max_size=40), st.booleans())
def test_fuzz_decode_request(data: bytes, valid_crc: bool) -> None:
    frame = append_crc(data) if valid_crc else data
    try:
        request = decode_request(frame)
    except FrameError:
        return
    assert encode_request(request) == frame


@settings(max_examples=3000)
@given(st.sampled_from([*BY_CODE, 0x00, 0xE0, 0xB9]), st.binary(max_size=48), st.booleans(),
       st.none() | requests)
def test_fuzz_decode_response(command: int, data: bytes, valid_crc: bool,
                              request: Request | None) -> None:
    frame = append_crc(data) if valid_crc else data
    try:
        decode_response(command, frame, request=request)
    except FrameError:
        return
