# SPDX-License-Identifier: Apache-2.0
"""The virtual tag's ISO/IEC 15693 state machine, request by request."""

from __future__ import annotations

import pytest

from firmware_bridge.simulator import EAS_SEQUENCE, FAMILY_BY_KEY, IsoState, VirtualTag
from protocols.iso15693 import (
    BlocksResponse,
    EasAlarmResponse,
    ErrorResponse,
    InventoryResponse,
    PasswordId,
    RandomNumberResponse,
    Request,
    RequestFlag,
    SecurityStatusResponse,
    StatusResponse,
    SystemInfoResponse,
    Uid,
    decode_request,
)
from tests.conftest import H

UID = Uid.from_text("E004010012345678")
OTHER = Uid.from_text("E0040100AAAAAAAA")
TI_UID = Uid.from_text("E007000011223344")
OK = StatusResponse()


def slix(**kwargs: object) -> VirtualTag:
    return VirtualTag(UID, FAMILY_BY_KEY["slix"], **kwargs)  # type: ignore[arg-type]


def state_of(tag: VirtualTag) -> IsoState:
    return tag.state


def error(code: int) -> ErrorResponse:
    return ErrorResponse(code)


def test_memory_is_padded_to_the_family_size() -> None:
    tag = slix(memory=bytearray(H("11 22 33 44")))
    assert len(tag.memory) == 28 * 4
    assert tag.block(0) == H("11 22 33 44")


def test_vector_frames_reach_the_tag() -> None:
    tag = slix(memory=bytearray(H("11 22 33 44 55 66 77 88")))
    read = decode_request(H("22 20 78 56 34 12 00 01 04 E0 00 6C 3D"))
    assert tag.handle(read) == BlocksResponse((H("11 22 33 44"),))
    write = decode_request(H("22 21 78 56 34 12 00 01 04 E0 01 11 22 33 44 02 0F"))
    assert tag.handle(write) == OK
    assert tag.block(1) == H("11 22 33 44")


def test_addressing_modes() -> None:
    tag = slix()
    assert tag.handle(Request.read_single_block(0, uid=OTHER)) is None
    assert tag.handle(Request.read_single_block(0)) is not None
    assert tag.handle(Request.read_single_block(0, selected=True)) is None
    # Address and select flags together are invalid: the tag ignores the request.
    assert tag.handle(Request.read_single_block(0, uid=UID, selected=True)) is None


def test_stay_quiet_then_only_addressed_requests() -> None:
    tag = slix()
    assert tag.handle(Request.stay_quiet(UID)) is None
    assert state_of(tag) is IsoState.QUIET
    assert tag.handle(Request.inventory()) is None
    assert tag.handle(Request.read_single_block(0)) is None
    assert tag.handle(Request.read_single_block(0, uid=UID)) is not None
    assert tag.handle(Request.reset_to_ready(uid=UID)) == OK
    assert tag.handle(Request.inventory()) == InventoryResponse(0, UID)


def test_select_and_deselect_by_another_select() -> None:
    tag = slix()
    assert tag.handle(Request.select(UID)) == OK
    assert state_of(tag) is IsoState.SELECTED
    assert tag.handle(Request.read_single_block(0, selected=True)) is not None
    assert tag.handle(Request.select(OTHER)) is None
    assert state_of(tag) is IsoState.READY
    assert tag.handle(Request.read_single_block(0, selected=True)) is None


def test_select_wakes_a_quiet_tag() -> None:
    tag = slix()
    tag.handle(Request.stay_quiet(UID))
    assert tag.handle(Request.select(UID)) == OK
    assert state_of(tag) is IsoState.SELECTED


@pytest.mark.parametrize(
    ("requested", "tag_afi", "answers"),
    [(0x00, 0xC2, True), (0x07, 0x07, True), (0x07, 0xC2, False), (0xC0, 0xC2, True),
     (0x0C, 0xC2, False), (0x02, 0xC2, True), (0xD0, 0xC2, False)],
)
def test_afi_inventory(requested: int, tag_afi: int, answers: bool) -> None:
    tag = slix(afi=tag_afi)
    response = tag.handle(Request.inventory(afi=requested, slots=1))
    assert (response is not None) == answers


def test_inventory_mask() -> None:
    tag = slix()
    assert tag.handle(Request.inventory(mask_length=8, mask=0x78)) is not None
    assert tag.handle(Request.inventory(mask_length=8, mask=0x79)) is None
    assert tag.handle(Request.inventory(mask_length=64, mask=UID.value, slots=1)) is not None
    assert tag.handle(Request.inventory(mask_length=64, mask=UID.value)) is None  # > 60 bits


def test_block_errors() -> None:
    tag = slix(locked=bytearray([1]))
    assert tag.handle(Request.read_single_block(28)) == error(0x10)
    assert tag.handle(Request.read_multiple_blocks(20, 9)) == error(0x10)
    assert tag.handle(Request.write_single_block(0, H("00 00 00 00"))) == error(0x12)
    assert tag.handle(Request.write_single_block(1, H("00 00 00"))) == error(0x02)
    assert tag.handle(Request.lock_block(0)) == error(0x11)
    assert tag.handle(Request.lock_block(1)) == OK
    assert tag.handle(Request.get_multiple_block_security_status(0, 3)) == \
        SecurityStatusResponse((1, 1, 0))
    response = tag.handle(Request.read_multiple_blocks(0, 2, option=True))
    assert isinstance(response, BlocksResponse)
    assert response.security == (1, 1)


def test_write_multiple_not_supported_on_slix() -> None:
    assert slix().handle(Request.write_multiple_blocks(0, [b"abcd"])) == error(0x01)


def test_afi_dsfid_locks() -> None:
    tag = slix()
    assert tag.handle(Request.write_afi(0x07)) == OK
    assert tag.handle(Request.lock_afi()) == OK
    assert tag.handle(Request.lock_afi()) == error(0x11)
    assert tag.handle(Request.write_afi(0xC2)) == error(0x12)
    assert tag.afi == 0x07
    assert tag.handle(Request.write_dsfid(0x01)) == OK
    assert tag.handle(Request.lock_dsfid()) == OK
    assert tag.handle(Request.write_dsfid(0x02)) == error(0x12)


def test_system_info() -> None:
    assert slix(afi=7).handle(Request.get_system_info()) == SystemInfoResponse(
        UID, dsfid=0, afi=7, block_count=28, block_size=4, ic_reference=0x01)


def test_eas_alarm_only_when_eas_set() -> None:
    tag = slix()
    assert tag.handle(Request.eas_alarm()) is None
    assert tag.handle(Request.set_eas()) == OK
    assert tag.handle(Request.eas_alarm()) == EasAlarmResponse(EAS_SEQUENCE)
    assert tag.handle(Request.lock_eas()) == OK
    assert tag.handle(Request.reset_eas()) == error(0x12)
    assert tag.handle(Request.lock_eas()) == error(0x11)


def test_custom_command_with_other_mfg_code_is_ignored() -> None:
    request = Request(0xA2, RequestFlag.DATA_RATE, mfg_code=0x07)
    assert slix().handle(request) is None


def test_ti_tag_needs_option_flag_for_writes() -> None:
    tag = VirtualTag(TI_UID, FAMILY_BY_KEY["tagit-plus"])
    assert tag.handle(Request.write_single_block(0, H("11 22 33 44"), uid=TI_UID)) is None
    assert tag.block(0) == H("11 22 33 44"), "written, but never confirmed"
    assert tag.handle(Request.write_single_block(1, H("55 66 77 88"), uid=TI_UID,
                                                 option=True)) == OK
    assert tag.handle(Request.set_eas(uid=TI_UID)) is None, "NXP custom, other mfg code"


def _authenticate(tag: VirtualTag, password: int) -> object:
    random = tag.handle(Request.get_random_number(uid=UID))
    assert isinstance(random, RandomNumberResponse)
    return tag.handle(Request.set_password(PasswordId.EAS_AFI, password,
                                           random.random_number, uid=UID))


def test_password_protected_eas() -> None:
    tag = slix()
    tag.passwords[PasswordId.EAS_AFI] = 0x12345678
    assert tag.handle(Request.protect(afi=False, uid=UID)) == error(0x0F)
    assert _authenticate(tag, 0x12345678) == OK
    assert tag.handle(Request.protect(afi=False, uid=UID)) == OK
    assert tag.eas_protected
    tag.rf_reset()
    assert tag.handle(Request.set_eas(uid=UID)) == error(0x0F)
    assert _authenticate(tag, 0x12345678) == OK
    assert tag.handle(Request.set_eas(uid=UID)) == OK


def test_wrong_password_mutes_until_rf_reset() -> None:
    tag = slix()
    assert _authenticate(tag, 0xDEADBEEF) == error(0x0F)
    assert tag.muted
    assert tag.handle(Request.inventory()) is None
    assert tag.handle(Request.read_single_block(0, uid=UID)) is None
    tag.rf_reset()
    assert tag.handle(Request.inventory()) is not None


def test_set_password_without_random_number_is_wrong() -> None:
    tag = slix()
    assert tag.handle(Request.set_password(PasswordId.EAS_AFI, 0, 0, uid=UID)) == error(0x0F)
    assert tag.muted


def test_write_password_after_set_password() -> None:
    tag = slix()
    assert tag.handle(Request.write_password(PasswordId.EAS_AFI, 1, uid=UID)) == error(0x0F)
    assert _authenticate(tag, 0) == OK
    assert tag.handle(Request.write_password(PasswordId.EAS_AFI, 1, uid=UID)) == OK
    assert tag.passwords[PasswordId.EAS_AFI] == 1
    assert tag.handle(Request.write_password(PasswordId.EAS_AFI, 2)) is None, "addressed only"


def test_unknown_command_not_supported() -> None:
    assert slix().handle(Request(0x2D)) == error(0x01)
