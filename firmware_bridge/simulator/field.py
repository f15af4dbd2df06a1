# SPDX-License-Identifier: Apache-2.0
"""The virtual RF field: tags coming and going, one air transaction at a time.

:class:`RfField` holds the :class:`~.tag.VirtualTag` objects in the field, a clock that only the
caller moves (``at(t)`` / ``advance(dt)``; nothing here reads the OS clock), timed events
(tags entering, leaving, changing coupling, faults starting) and the active faults. One call to
:meth:`RfField.transact` is one VCD request and everything the tags send back:

    request --> every powered tag the request can reach --> replies grouped by slot
            --> per slot: no reply | one reply | collision | CRC error --> AirResult
                                                                  (+ air time, timing.py)

16-slot inventories put each tag in the slot given by the 4 UID bits above the mask;
:meth:`RfField.anticollision` resolves collided slots with sub-rounds on a 4-bit longer mask,
as reader firmware does, without stay-quiet commands (as the reference Monte-Carlo model).

Coupling model [INFERRED, reader_protocols.md §4]: below ``POWER_COUPLING`` a tag has no power
(and loses its volatile state); between that and ``RELIABLE_COUPLING`` each reply is garbled
with a probability rising linearly to 1 at ``POWER_COUPLING``; the draws come from a seeded
``random.Random`` so runs repeat exactly.

Not responsible for: any reader's command set, status codes or serial framing (front-ends),
firmware overhead or retries (front-ends and drivers).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from protocols.errors import FrameError
from protocols.iso15693 import (
    Command,
    ErrorCode,
    ErrorResponse,
    InventoryResponse,
    Request,
    RequestFlag,
    Response,
    Uid,
    decode_request,
    encode_request,
    encode_response,
)
from protocols.iso15693.timing import (
    OPTION_EOF_DELAY_S,
    T1_S,
    VCD_EOF_S,
    exchange_time_s,
    request_time_s,
    slot_time_s,
)

from .faults import Fault, FaultKind
from .tag import TagSpec, VirtualTag

# [INFERRED] Below this coupling the tag's rectifier gives too little power to run the IC.
POWER_COUPLING = 0.1
# [INFERRED] From this coupling up the tag's load modulation always reaches the reader intact.
RELIABLE_COUPLING = 0.3
# ISO/IEC 15693-3 clause 8.2: "the mask length ... 0 to 60 when 16 slots are used".
MAX_MASK_16_SLOTS = 60

_PROGRAMMING = frozenset(
    {
        Command.WRITE_SINGLE_BLOCK,
        Command.WRITE_MULTIPLE_BLOCKS,
        Command.LOCK_BLOCK,
        Command.WRITE_AFI,
        Command.LOCK_AFI,
        Command.WRITE_DSFID,
        Command.LOCK_DSFID,
        Command.SET_EAS,
        Command.RESET_EAS,
        Command.LOCK_EAS,
        Command.WRITE_PASSWORD,
    }
)


class AirOutcome(Enum):
    REPLY = "reply"
    NO_REPLY = "no_reply"
    COLLISION = "collision"
    CRC_ERROR = "crc_error"


@dataclass(frozen=True, slots=True)
class Reply:
    """What one tag sent: the decoded response and its frame as transmitted."""

    uid: Uid
    response: Response
    frame: bytes


@dataclass(frozen=True, slots=True)
class Slot:
    """One time slot; ``frame`` is what the reader's receiver got (empty unless one reply)."""

    index: int
    outcome: AirOutcome
    replies: tuple[Reply, ...]
    frame: bytes = b""


@dataclass(frozen=True, slots=True)
class AirResult:
    request: Request | None  # None when the request frame did not decode (tags ignore it)
    request_frame: bytes
    slots: tuple[Slot, ...]
    air_time_s: float
    started_s: float

    @property
    def outcome(self) -> AirOutcome:
        """The single slot's outcome; for 16 slots the worst seen (collision > CRC > reply)."""
        outcomes = {slot.outcome for slot in self.slots}
        for outcome in (AirOutcome.COLLISION, AirOutcome.CRC_ERROR, AirOutcome.REPLY):
            if outcome in outcomes:
                return outcome
        return AirOutcome.NO_REPLY

    @property
    def replies(self) -> tuple[Reply, ...]:
        """Replies the reader received intact, in slot order."""
        return tuple(slot.replies[0] for slot in self.slots if slot.outcome is AirOutcome.REPLY)

    @property
    def response(self) -> Response | None:
        """The one intact response of a single-slot exchange, else ``None``."""
        if len(self.slots) == 1 and self.slots[0].outcome is AirOutcome.REPLY:
            return self.slots[0].replies[0].response
        return None


@dataclass(frozen=True, slots=True)
class InventoryRun:
    """A full anticollision as a reader firmware runs it."""

    uids: tuple[Uid, ...]
    air_time_s: float
    rounds: int
    collisions: int


@dataclass(frozen=True, slots=True)
class AddTag:
    at: float
    tag: TagSpec


@dataclass(frozen=True, slots=True)
class RemoveTag:
    at: float
    uid: Uid


@dataclass(frozen=True, slots=True)
class SetCoupling:
    at: float
    uid: Uid
    value: float


@dataclass(frozen=True, slots=True)
class InjectFault:
    at: float
    fault: Fault


Event = AddTag | RemoveTag | SetCoupling | InjectFault


@dataclass(slots=True)
class _FaultState:
    fault: Fault
    remaining: int | None
    blocks_written: int = 0
    spent: bool = False

    def consume(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1
            self.spent = self.remaining <= 0


class _Effect(Enum):
    CLEAN = "clean"
    GARBLED = "garbled"
    COLLIDED = "collided"


@dataclass(slots=True)
class RfField:
    """The tags in one reader's field, and what happens on the air."""

    now: float = 0.0
    seed: int = 0
    eof_delay_s: float = OPTION_EOF_DELAY_S
    _known: dict[int, VirtualTag] = field(default_factory=dict)
    _present: dict[int, VirtualTag] = field(default_factory=dict)
    _unpowered: set[int] = field(default_factory=set)
    _events: list[Event] = field(default_factory=list)
    _next_event: int = 0
    _faults: list[_FaultState] = field(default_factory=list)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @classmethod
    def with_tags(
        cls,
        tags: Iterable[VirtualTag],
        *,
        events: Iterable[Event] = (),
        seed: int = 0,
        now: float = 0.0,
    ) -> RfField:
        rf_field = cls(now=now, seed=seed)
        for tag in tags:
            rf_field.add(tag)
        for event in events:
            rf_field.schedule(event)
        rf_field.at(now)
        return rf_field

    # Presence and the clock.

    def add(self, tag: VirtualTag) -> None:
        """The tag enters the field and powers up (ready state)."""
        self._known[tag.uid.value] = tag
        self._present[tag.uid.value] = tag
        tag.rf_reset()
        if tag.coupling < POWER_COUPLING:
            self._unpowered.add(tag.uid.value)
        else:
            self._unpowered.discard(tag.uid.value)

    def remove(self, uid: Uid) -> VirtualTag:
        """The tag leaves the field; it stays known (``tag(uid)``) with its memory."""
        tag = self._present.pop(uid.value, None)
        if tag is None:
            raise KeyError(f"tag {uid} is not in the field")
        self._unpowered.discard(uid.value)
        return tag

    def tag(self, uid: Uid) -> VirtualTag:
        """A tag that is or was in the field."""
        return self._known[uid.value]

    @property
    def present(self) -> tuple[VirtualTag, ...]:
        return tuple(self._present.values())

    def set_coupling(self, uid: Uid, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"coupling {value} is outside 0..1")
        tag = self._known[uid.value]
        tag.coupling = value
        if uid.value not in self._present:
            return
        if value < POWER_COUPLING:
            self._unpowered.add(uid.value)
        elif uid.value in self._unpowered:
            self._unpowered.discard(uid.value)
            tag.rf_reset()

    def inject(self, fault: Fault) -> None:
        self._faults.append(_FaultState(fault, fault.count))

    def rf_reset(self) -> None:
        """RF off and on again: every tag in the field powers up afresh (FEIG [0x69])."""
        for tag in self._present.values():
            tag.rf_reset()

    def schedule(self, event: Event) -> None:
        bisect.insort(self._events, event, lo=self._next_event, key=lambda item: item.at)

    def at(self, t: float) -> None:
        """Move the clock to ``t``, applying the events due; an earlier ``t`` changes nothing."""
        while self._next_event < len(self._events) and self._events[self._next_event].at <= t:
            event = self._events[self._next_event]
            self._next_event += 1
            self._apply(event)
        self.now = max(self.now, t)

    def advance(self, dt: float) -> None:
        self.at(self.now + dt)

    def _apply(self, event: Event) -> None:
        match event:
            case AddTag(tag=spec):
                self.add(spec.build())
            case RemoveTag(uid=uid):
                if uid.value in self._present:
                    self.remove(uid)
            case SetCoupling(uid=uid, value=value):
                self.set_coupling(uid, value)
            case InjectFault(fault=fault):
                self.inject(fault)

    # The air.

    def transact_frame(self, frame: bytes, *, now: float | None = None) -> AirResult:
        """A raw request frame (with CRC); one the tags cannot decode gets no reply."""
        try:
            request = decode_request(frame)
        except FrameError:
            if now is not None:
                self.at(now)
            started = self.now
            # Nobody answers; the VCD still waits a SOF's length at the rate the flags ask for.
            high_rate = not frame or bool(frame[0] & RequestFlag.DATA_RATE)
            air_time = exchange_time_s(len(frame), None, high_rate=high_rate)
            self.now = started + air_time
            return AirResult(None, frame, (Slot(0, AirOutcome.NO_REPLY, ()),), air_time, started)
        return self.transact(request, now=now)

    def transact(self, request: Request, *, now: float | None = None) -> AirResult:
        """One request and whatever the tags answer; moves the clock by the air time."""
        if now is not None:
            self.at(now)
        started = self.now
        request_frame = encode_request(request)
        sixteen = (
            request.inventory_mode and request.command == Command.INVENTORY and request.slots == 16
        )
        # ISO/IEC 15693-3 request flag b2: the VICC answers at the high data rate when set.
        high_rate = RequestFlag.DATA_RATE in request.flags
        candidates = self._candidates(request)
        by_slot: dict[int, list[tuple[Reply, _Effect]]] = {}
        for tag in candidates:
            response, effect = self._exchange(tag, request)
            if response is None:
                continue
            index = tag.uid.slot(request.mask_length) if sixteen else 0
            reply = Reply(tag.uid, response, encode_response(response))
            by_slot.setdefault(index, []).append((reply, effect))
        slots = tuple(
            self._slot(index, by_slot.get(index, ())) for index in range(16 if sixteen else 1)
        )
        if sixteen:
            air_time = request_time_s(len(request_frame)) + sum(
                slot_time_s(max((len(reply.frame) for reply in slot.replies), default=None),
                            high_rate=high_rate)
                for slot in slots
            )
        else:
            longest = max((len(reply.frame) for reply in slots[0].replies), default=None)
            air_time = exchange_time_s(
                len(request_frame), longest, processing_s=self._processing_s(request, candidates),
                high_rate=high_rate,
            )
        self.now = started + air_time
        return AirResult(request, request_frame, slots, air_time, started)

    def anticollision(
        self, afi: int | None = None, *, slots: int = 16, now: float | None = None
    ) -> InventoryRun:
        """Inventory every tag: collided (or garbled) slots get sub-rounds on a longer mask."""
        if now is not None:
            self.at(now)
        pending = [(0, 0)]
        found: dict[int, Uid] = {}
        air_time = 0.0
        rounds = collisions = 0
        while pending:
            mask_length, mask = pending.pop()
            request = Request.inventory(afi=afi, slots=slots, mask_length=mask_length, mask=mask)
            result = self.transact(request)
            air_time += result.air_time_s
            rounds += 1
            for slot in result.slots:
                if slot.outcome is AirOutcome.REPLY:
                    response = slot.replies[0].response
                    if isinstance(response, InventoryResponse):
                        found.setdefault(response.uid.value, response.uid)
                elif slot.outcome is not AirOutcome.NO_REPLY:
                    collisions += 1
                    pending.extend(_sub_rounds(slots, mask_length, mask, slot.index))
        return InventoryRun(tuple(found.values()), air_time, rounds, collisions)

    def inventory_all(
        self, afi: int | None = None, *, now: float | None = None
    ) -> tuple[tuple[Uid, ...], float]:
        """Every UID in the field (AFI-filtered if asked) and the air time it took."""
        run = self.anticollision(afi, now=now)
        return run.uids, run.air_time_s

    def _candidates(self, request: Request) -> list[VirtualTag]:
        # An addressed request reaches one tag, except SELECT, which also deselects the others.
        if request.addressed and request.uid is not None and request.command != Command.SELECT:
            tag = self._present.get(request.uid.value)
            if tag is None or request.uid.value in self._unpowered:
                return []
            return [tag]
        return [tag for key, tag in self._present.items() if key not in self._unpowered]

    def _processing_s(self, request: Request, tags: list[VirtualTag]) -> float:
        if request.command not in _PROGRAMMING or not tags:
            return T1_S
        blocks = request.block_count or 1 if request.command == Command.WRITE_MULTIPLE_BLOCKS else 1
        programming = blocks * max(tag.family.programming_s for tag in tags)
        if request.option:
            return max(self.eof_delay_s, programming) + VCD_EOF_S + T1_S
        return programming

    def _active(self, tag: VirtualTag, command: int) -> list[_FaultState]:
        if not self._faults:
            return []
        self._faults = [state for state in self._faults if not state.spent]
        return [state for state in self._faults if state.fault.concerns(tag.uid, command, self.now)]

    def _exchange(self, tag: VirtualTag, request: Request) -> tuple[Response | None, _Effect]:
        effect = _Effect.CLEAN
        response: Response | None
        for state in self._active(tag, request.command):
            kind = state.fault.kind
            if kind is FaultKind.NO_TAG:
                state.consume()
                return None, effect
            if not tag.accepts(request):
                continue
            if kind is FaultKind.WRONG_PASSWORD:
                state.consume()
                return tag.reject_password(), effect
            if kind is FaultKind.LOCKED_BLOCK and _touches(request, state.fault.block):
                state.consume()
                return ErrorResponse(ErrorCode.BLOCK_LOCKED), effect
            if kind is FaultKind.LEAVE_MID_WRITE:
                done = self._write_until_gone(tag, request, state)
                if done:
                    return None, effect
        response = tag.handle(request)
        if response is None:
            return None, effect
        for state in self._active(tag, request.command):
            if state.fault.kind is FaultKind.AIR_CRC_ERROR:
                state.consume()
                effect = _Effect.GARBLED
            elif state.fault.kind is FaultKind.COLLISION:
                state.consume()
                return response, _Effect.COLLIDED
        if effect is _Effect.CLEAN and tag.coupling < RELIABLE_COUPLING:
            weakness = (RELIABLE_COUPLING - tag.coupling) / (RELIABLE_COUPLING - POWER_COUPLING)
            if self._rng.random() < weakness:
                effect = _Effect.GARBLED
        return response, effect

    def _write_until_gone(self, tag: VirtualTag, request: Request, state: _FaultState) -> bool:
        """LEAVE_MID_WRITE: True when the tag left during this request (blocks before the
        k-th programmed, the k-th and later untouched)."""
        blocks = request.block_count or 1
        allowed = state.fault.after_blocks - state.blocks_written
        if blocks <= allowed:
            state.blocks_written += blocks
            return False
        first = request.block_number or 0
        size = tag.family.block_size
        for offset in range(max(0, allowed)):
            number = first + offset
            if number < tag.family.block_count and not tag.locked[number]:
                tag.write_blocks(number, request.data[offset * size : (offset + 1) * size])
        state.spent = True
        self.remove(tag.uid)
        return True

    def _slot(self, index: int, entries: Iterable[tuple[Reply, _Effect]]) -> Slot:
        entries = tuple(entries)
        replies = tuple(reply for reply, _ in entries)
        if not entries:
            return Slot(index, AirOutcome.NO_REPLY, ())
        if len(entries) > 1 or entries[0][1] is _Effect.COLLIDED:
            return Slot(index, AirOutcome.COLLISION, replies)
        if entries[0][1] is _Effect.GARBLED:
            return Slot(index, AirOutcome.CRC_ERROR, replies, self._garble(replies[0].frame))
        return Slot(index, AirOutcome.REPLY, replies, replies[0].frame)

    def _garble(self, frame: bytes) -> bytes:
        # One flipped bit: the CRC-16 detects every single-bit error.
        bit = self._rng.randrange(len(frame) * 8)
        garbled = bytearray(frame)
        garbled[bit // 8] ^= 1 << (bit % 8)
        return bytes(garbled)


def _touches(request: Request, block: int | None) -> bool:
    if block is None:
        return True
    first = request.block_number or 0
    return first <= block < first + (request.block_count or 1)


def _sub_rounds(slots: int, mask_length: int, mask: int, index: int) -> list[tuple[int, int]]:
    if slots == 16:
        if mask_length + 4 > MAX_MASK_16_SLOTS:
            return []
        return [(mask_length + 4, mask | index << mask_length)]
    if mask_length >= 64:
        return []
    return [(mask_length + 1, mask), (mask_length + 1, mask | 1 << mask_length)]
