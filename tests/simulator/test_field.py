# SPDX-License-Identifier: Apache-2.0
"""The virtual field: presence over time, slots, faults, anticollision and air time."""

from __future__ import annotations

import dataclasses
import random
import statistics

import pytest

from firmware_bridge.simulator import (
    FAMILY_BY_KEY,
    AddTag,
    AirOutcome,
    Fault,
    FaultKind,
    InjectFault,
    RemoveTag,
    RfField,
    SetCoupling,
    TagSpec,
    VirtualTag,
)
from protocols.iso15693 import (
    Command,
    ErrorResponse,
    InventoryResponse,
    Request,
    RequestFlag,
    StatusResponse,
    Uid,
    check_crc,
    encode_request,
)
from protocols.iso15693.timing import (
    exchange_time_s,
    inventory_round_time_s,
    read_multiple_time_s,
)
from tests.conftest import H

SLIX = FAMILY_BY_KEY["slix"]
A = Uid.from_text("E004010000000001")
B = Uid.from_text("E004010000000002")
C = Uid.from_text("E004010000000011")   # same low nibble as A: same first-round slot
DATA = H("11 22 33 44")


def field_with(*uids: Uid, **kwargs: object) -> RfField:
    return RfField.with_tags([VirtualTag(uid, SLIX) for uid in uids], **kwargs)  # type: ignore[arg-type]


def random_tags(count: int, seed: int) -> list[VirtualTag]:
    rng = random.Random(seed)
    uids = {0xE004 << 48 | rng.getrandbits(48) for _ in range(count)}
    while len(uids) < count:
        uids.add(0xE004 << 48 | rng.getrandbits(48))
    return [VirtualTag(Uid(value), SLIX) for value in uids]


# --- single exchanges -------------------------------------------------------------------------

def test_addressed_read_reply_and_air_time() -> None:
    rf_field = field_with(A, B)
    result = rf_field.transact(Request.read_multiple_blocks(0, 8, uid=A))
    assert result.outcome is AirOutcome.REPLY
    assert check_crc(result.slots[0].frame)
    assert result.air_time_s == pytest.approx(read_multiple_time_s(8, False))
    assert rf_field.now == pytest.approx(result.air_time_s)


def test_data_rate_flag_sets_the_reply_rate() -> None:
    """Flag b2 clear: the tag answers at the low data rate, every VICC time 4x as long."""
    low = RequestFlag(0)
    read = field_with(A).transact(Request.read_multiple_blocks(0, 8, uid=A, flags=low))
    assert read.outcome is AirOutcome.REPLY
    assert read.air_time_s == pytest.approx(exchange_time_s(
        len(read.request_frame), len(read.slots[0].frame), high_rate=False))
    assert read.air_time_s > 2 * read_multiple_time_s(8, False)
    round_ = field_with(A, B, C).transact(Request.inventory(flags=low))
    assert round_.air_time_s == pytest.approx(inventory_round_time_s(16, 1, 1, high_rate=False))


def test_absent_tag_no_reply() -> None:
    result = field_with(A).transact(Request.read_single_block(0, uid=B))
    assert result.outcome is AirOutcome.NO_REPLY
    assert result.response is None


def test_non_addressed_request_to_two_tags_collides() -> None:
    result = field_with(A, B).transact(Request.read_single_block(0))
    assert result.outcome is AirOutcome.COLLISION
    assert {reply.uid for reply in result.slots[0].replies} == {A, B}
    assert result.slots[0].frame == b""


def test_sixteen_slots_by_uid_bits() -> None:
    result = field_with(A, B, C).transact(Request.inventory())
    outcomes = {slot.index: slot.outcome for slot in result.slots}
    assert outcomes[1] is AirOutcome.COLLISION     # A and C
    assert outcomes[2] is AirOutcome.REPLY         # B
    assert sum(outcome is AirOutcome.NO_REPLY for outcome in outcomes.values()) == 14
    assert result.air_time_s == pytest.approx(inventory_round_time_s(16, 1, 1))


def test_undecodable_frame_gets_no_reply() -> None:
    result = field_with(A).transact_frame(H("26 01 00 F6 0B"))
    assert result.outcome is AirOutcome.NO_REPLY
    assert result.request is None
    good = field_with(A).transact_frame(encode_request(Request.inventory(slots=1)))
    assert good.response == InventoryResponse(0, A)


# --- presence, coupling and events over time --------------------------------------------------

def test_events_apply_when_the_clock_reaches_them() -> None:
    events = [AddTag(1.0, TagSpec(B, SLIX)), RemoveTag(2.0, A),
              SetCoupling(3.0, B, 0.05)]
    rf_field = field_with(A, events=events)
    assert rf_field.inventory_all()[0] == (A,)
    rf_field.at(1.5)
    assert set(rf_field.inventory_all()[0]) == {A, B}
    rf_field.at(2.5)
    assert rf_field.inventory_all()[0] == (B,)
    rf_field.advance(1.0)
    assert rf_field.inventory_all()[0] == ()


def test_clock_never_goes_back() -> None:
    rf_field = field_with(A)
    rf_field.at(5.0)
    rf_field.at(1.0)
    assert rf_field.now == 5.0


def test_power_loss_resets_state() -> None:
    rf_field = field_with(A)
    rf_field.transact(Request.stay_quiet(A))
    assert rf_field.inventory_all()[0] == ()
    rf_field.set_coupling(A, 0.0)
    rf_field.set_coupling(A, 1.0)
    assert rf_field.inventory_all()[0] == (A,)


def test_weak_coupling_garbles_some_replies() -> None:
    rf_field = field_with(A, seed=3)
    rf_field.set_coupling(A, 0.2)
    outcomes = [rf_field.transact(Request.inventory(slots=1)).outcome for _ in range(200)]
    assert 40 < outcomes.count(AirOutcome.CRC_ERROR) < 160
    assert set(outcomes) == {AirOutcome.REPLY, AirOutcome.CRC_ERROR}


def test_rf_reset_unmutes() -> None:
    rf_field = field_with(A)
    rf_field.inject(Fault(FaultKind.WRONG_PASSWORD, uid=A))
    rf_field.transact(Request.set_password(0x10, 0, 0, uid=A))
    assert rf_field.transact(Request.read_single_block(0, uid=A)).outcome is AirOutcome.NO_REPLY
    rf_field.rf_reset()
    assert rf_field.transact(Request.read_single_block(0, uid=A)).outcome is AirOutcome.REPLY


# --- faults -----------------------------------------------------------------------------------

def test_fault_no_tag_for_a_count() -> None:
    rf_field = field_with(A)
    rf_field.inject(Fault(FaultKind.NO_TAG, uid=A, count=2))
    request = Request.read_single_block(0, uid=A)
    outcomes = [rf_field.transact(request).outcome for _ in range(3)]
    assert outcomes == [AirOutcome.NO_REPLY, AirOutcome.NO_REPLY, AirOutcome.REPLY]


def test_fault_air_crc_error_after_the_tag_acted() -> None:
    rf_field = field_with(A)
    rf_field.inject(Fault(FaultKind.AIR_CRC_ERROR, uid=A, count=1))
    result = rf_field.transact(Request.write_single_block(0, DATA, uid=A))
    assert result.outcome is AirOutcome.CRC_ERROR
    assert not check_crc(result.slots[0].frame)
    assert rf_field.tag(A).block(0) == DATA, "the write happened; only the reply was lost"


def test_fault_collision() -> None:
    rf_field = field_with(A)
    rf_field.inject(Fault(FaultKind.COLLISION, count=1))
    assert rf_field.transact(Request.inventory(slots=1)).outcome is AirOutcome.COLLISION
    assert rf_field.transact(Request.inventory(slots=1)).outcome is AirOutcome.REPLY


def test_fault_time_window() -> None:
    rf_field = field_with(A)
    rf_field.inject(Fault(FaultKind.NO_TAG, start_s=1.0, end_s=2.0))
    request = Request.inventory(slots=1)
    assert rf_field.transact(request, now=0.5).outcome is AirOutcome.REPLY
    assert rf_field.transact(request, now=1.5).outcome is AirOutcome.NO_REPLY
    assert rf_field.transact(request, now=2.5).outcome is AirOutcome.REPLY


def test_fault_scheduled_as_event() -> None:
    rf_field = field_with(A, events=[InjectFault(1.0, Fault(FaultKind.NO_TAG, start_s=1.0))])
    assert rf_field.transact(Request.inventory(slots=1)).outcome is AirOutcome.REPLY
    assert rf_field.transact(Request.inventory(slots=1), now=1.0).outcome is AirOutcome.NO_REPLY


def test_fault_tag_leaves_mid_write_of_single_blocks() -> None:
    rf_field = field_with(A)
    rf_field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=A, after_blocks=2))
    outcomes = [rf_field.transact(Request.write_single_block(n, bytes([n]) * 4, uid=A)).outcome
                for n in range(4)]
    assert outcomes == [AirOutcome.REPLY, AirOutcome.REPLY, AirOutcome.NO_REPLY,
                        AirOutcome.NO_REPLY]
    tag = rf_field.tag(A)
    assert [tag.block(n) for n in range(4)] == [bytes(4), H("01 01 01 01"), bytes(4), bytes(4)]
    assert rf_field.present == ()


def test_fault_tag_leaves_mid_write_multiple() -> None:
    family = dataclasses.replace(SLIX, write_multiple=True)
    rf_field = RfField.with_tags([VirtualTag(A, family)])
    rf_field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=A, after_blocks=2))
    blocks = [bytes([n + 1]) * 4 for n in range(4)]
    result = rf_field.transact(Request.write_multiple_blocks(0, blocks, uid=A))
    assert result.outcome is AirOutcome.NO_REPLY
    tag = rf_field.tag(A)
    assert [tag.block(n) for n in range(4)] == [blocks[0], blocks[1], bytes(4), bytes(4)]


def test_fault_locked_block() -> None:
    rf_field = field_with(A)
    rf_field.inject(Fault(FaultKind.LOCKED_BLOCK, uid=A, block=3))
    assert rf_field.transact(Request.write_single_block(2, DATA, uid=A)).response == \
        StatusResponse()
    assert rf_field.transact(Request.write_single_block(3, DATA, uid=A)).response == \
        ErrorResponse(0x12)
    assert rf_field.tag(A).block(3) == bytes(4)


def test_fault_wrong_password() -> None:
    rf_field = field_with(A)
    rf_field.inject(Fault(FaultKind.WRONG_PASSWORD, uid=A))
    random_number = rf_field.transact(Request.get_random_number(uid=A)).response
    assert random_number is not None
    result = rf_field.transact(Request.set_password(0x10, 0, 0, uid=A))
    assert result.response == ErrorResponse(0x0F)
    assert rf_field.transact(Request.inventory(slots=1)).outcome is AirOutcome.NO_REPLY


def test_fault_command_filter() -> None:
    rf_field = field_with(A)
    rf_field.inject(Fault(FaultKind.NO_TAG, command=Command.WRITE_SINGLE_BLOCK))
    assert rf_field.transact(Request.read_single_block(0, uid=A)).outcome is AirOutcome.REPLY
    assert rf_field.transact(Request.write_single_block(0, DATA, uid=A)).outcome is \
        AirOutcome.NO_REPLY


def test_fault_arguments_checked() -> None:
    with pytest.raises(ValueError, match="count"):
        Fault(FaultKind.NO_TAG, count=0)
    with pytest.raises(ValueError, match="before it starts"):
        Fault(FaultKind.NO_TAG, start_s=2.0, end_s=1.0)


# --- anticollision ----------------------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 10, 20, 50])
def test_anticollision_finds_every_tag(count: int) -> None:
    tags = random_tags(count, seed=count)
    uids, air_time = RfField.with_tags(tags).inventory_all()
    assert sorted(uids) == sorted(tag.uid for tag in tags)
    assert air_time > 0


def test_anticollision_one_slot_binary_tree() -> None:
    tags = random_tags(10, seed=7)
    run = RfField.with_tags(tags).anticollision(slots=1)
    assert sorted(run.uids) == sorted(tag.uid for tag in tags)


def test_anticollision_afi_filter() -> None:
    tags = random_tags(6, seed=2)
    for tag in tags[:3]:
        tag.afi = 0x07
    uids, _ = RfField.with_tags(tags).inventory_all(afi=0x07)
    assert sorted(uids) == sorted(tag.uid for tag in tags[:3])


def test_anticollision_survives_a_crc_error() -> None:
    rf_field = field_with(A, B)
    rf_field.inject(Fault(FaultKind.AIR_CRC_ERROR, uid=A, count=1))
    assert sorted(rf_field.inventory_all()[0]) == [A, B]


# Reference Monte-Carlo (reader_protocols.md §3.1): N tags -> mean air time, mean rounds.
MONTE_CARLO = {1: (13.9e-3, 1.0), 5: (39e-3, 1.6), 10: (82e-3, 3.2), 20: (183e-3, 7.5),
               50: (466e-3, 18.8)}


@pytest.mark.parametrize("count", sorted(MONTE_CARLO))
def test_anticollision_air_time_matches_reference_monte_carlo(count: int) -> None:
    times, rounds = [], []
    for seed in range(40):
        run = RfField.with_tags(random_tags(count, seed)).anticollision()
        times.append(run.air_time_s)
        rounds.append(run.rounds)
    reference_time, reference_rounds = MONTE_CARLO[count]
    # 40 random tag sets: the mean lands within 10 % of the reference's.
    assert statistics.mean(times) == pytest.approx(reference_time, rel=0.10)
    assert statistics.mean(rounds) == pytest.approx(reference_rounds, rel=0.15)
