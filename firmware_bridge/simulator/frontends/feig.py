# SPDX-License-Identifier: Apache-2.0
"""A FEIG OBID/ISC reader (CPR / ISC.MR class, ISO host mode) on top of the virtual RF field.

Answers host frames as the firmware does (reader_protocols.md §1.1 "What a faithful FEIG
simulator must reproduce"), reusing :mod:`protocols.readers.feig` for every byte:

- Receive: the first byte announces the frame (LEN, or STX + ALENGTH); a gap of more than
  ``INTER_CHARACTER_TIMEOUT_S`` (12 ms) between characters discards the partial frame; a frame
  with a bad CRC is dropped whole and gets no reply [CPR §3.1]; a frame to another COM-ADR is
  ignored; COM-ADR 255 reaches this reader, which answers from its own address; a frame longer
  than RX-BUF gets 0x81, an unknown command 0x80, a known one with malformed DATA 0x81.
- Inventory [0xB0 01]: CFG5.ONT = 0 (the default), so an RF reset precedes every inventory and
  every tag is reported; a 16-slot anticollision with sub-rounds on collided or garbled slots;
  a slot still colliding at the 60-bit mask gives 0x83 ("anticollision could not finish") with
  the records found; more records than one frame holds (``records_per_frame``) give 0x94 and the
  rest comes with MODE.MORE; more than ``max_data_sets`` (4 on a CPR.M02) give 0x93.
- Addressed and selected commands go through ``RfField.transact``: no reply is 0x01, a garbled
  reply or a collision outside an inventory 0x02 (§4), an ISO error reply 0x95 + code.
- Writes and locks run as the firmware runs them: one ISO WRITE SINGLE BLOCK (LOCK BLOCK) per
  block, stopping at the first block that fails: 0x03 + DB_ADR-E when the tag stays silent or
  garbles its reply, 0x95 + ISO error + DB_ADR-E when it refuses. The option flag is chosen the
  way CFG4 WR-OPTION "automatic" does: 1 for TI tags when addressed, else 0 (§1.1 tag quirks).
- Block data travel MSB first: each block is byte-reversed relative to tag memory (the codec's
  ``ReadBlocksResult.from_tag_memory`` / ``WriteMultipleBlocks.tag_memory``).
- [0xB1] NXP: SET/RESET/LOCK EAS, EAS ALARM (0x00 when an armed tag answers, else 0x01),
  GET RANDOM NUMBER, SET PASSWORD (a wrong one: 0x95 0x0F, then the tag is mute until an RF
  reset, which [0x69], RF on, a reboot or the next inventory gives).
- Control: [0x65] [0x66 mode 0] [0x52] [0x63] [0x64] [0x69] (field off 15 ms) [0x6A] [0x71]
  (green LED, red LED, beeper, relay with times) [0x74] (inputs set by tests, change latches
  cleared when read).
- Reply delay: the air time the field reports, plus RF resets, plus ``FIRMWARE_OVERHEAD_S``.

Not modelled (answered 0x80 as a reader without them would): configuration [0x80], buffered read
mode [0x22]..[0x33], [0x72] (its bit layout is [UNCERTAIN]), scan mode, NTFC waiting beyond a
single anticollision, TR-RESPONSE-TIME expiry, ISO 14443. ``write_multiple_on_air`` makes the
reader send one ISO WRITE MULTIPLE BLOCKS instead of single writes (a tag without it answers
ISO error 0x01, relayed as 0x95 0x01 + DB_ADR-E) [INFERRED: what a reader configured so does].

Not responsible for: tags, coupling or air time (:class:`RfField`), serial pacing and
reader-level faults (:class:`SimulatedReader`); it never imports a driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from firmware_bridge.simulator.field import AirOutcome, RfField
from firmware_bridge.simulator.server import FrontEnd, WireReply
from firmware_bridge.transport import LineSettings
from protocols.errors import FrameError
from protocols.framing import NeedMoreData
from protocols.iso15693 import (
    DEFAULT_FLAGS,
    MFG_NXP,
    MFG_TI,
    BlocksResponse,
    Command,
    ErrorResponse,
    InventoryResponse,
    Mode,
    RandomNumberResponse,
    Request,
    RequestFlag,
    Response,
    SecurityStatusResponse,
    SystemInfoResponse,
    Uid,
)
from protocols.readers.feig import (
    BROADCAST,
    INTER_CHARACTER_TIMEOUT_S,
    MAX_READ_BYTES,
    MAX_RECORDS_STANDARD_FRAME,
    OUTPUT_TIME_UNIT_S,
    PERMANENT,
    RF_RESET_S,
    STX,
    Acknowledgement,
    Addressing,
    BaudRateDetection,
    CpuReset,
    EasAlarm,
    EasAlarmResult,
    Failure,
    FeigRequest,
    GetInput,
    GetMultipleBlockSecurityStatus,
    GetRandomNumber,
    GetReaderInfo,
    GetSoftwareVersion,
    GetSystemInformation,
    InputState,
    Inventory,
    InventoryRecord,
    InventoryResult,
    LockAfi,
    LockDsfid,
    LockEas,
    LockMultipleBlocks,
    OutputMode,
    RandomNumber,
    ReadBlocksResult,
    ReaderInfo,
    ReaderInfoMode,
    ReadMultipleBlocks,
    RequestBody,
    ResetEas,
    ResetToReady,
    ResponseBody,
    RfOutput,
    RfReset,
    SecurityStatusResult,
    Select,
    SelectResult,
    SetEas,
    SetOutputCpr,
    SetPassword,
    SoftwareVersion,
    Status,
    StayQuiet,
    SystemInformation,
    SystemReset,
    WriteAfi,
    WriteDsfid,
    WriteMultipleBlocks,
    decode_request,
    lookup,
)

#: [INFERRED] Firmware time between the request's last byte and the reply, on top of air time.
FIRMWARE_OVERHEAD_S = 0.002
#: [0x65] of the reader in Amarok79's test vector (SW-REV 03.03.00, HW-TYPE 0x44, SW-TYPE 0x53
#: "CPR40.xx", TR-TYPE 0x0D30).
DEFAULT_VERSION = SoftwareVersion(0x0303, 0x00, 0x44, 0x53, 0x0D30)
#: [INFERRED] Buffer sizes reported by [0x66] mode 0; the standard frame is 255 bytes.
DEFAULT_RX_BUF = 255
DEFAULT_TX_BUF = 1024
#: The reader's own COM-ADR out of the box [CPR §4.2].
DEFAULT_COM_ADR = 0x00
#: ISO/IEC 15693-3 clause 8.2: 16-slot masks are 0 to 60 bits; a slot colliding there is lost.
MAX_MASK_16_SLOTS = 60
INPUT_COUNT = 3

Answer = tuple[ResponseBody | Failure, float]
_RESETS = frozenset({CpuReset.COMMAND, SystemReset.COMMAND})


@dataclass(slots=True)
class _Output:
    """One emitter of [0x71]: its mode until ``until`` (None: until changed), then off."""

    mode: OutputMode = OutputMode.OFF
    until: float | None = None

    def at(self, now: float) -> OutputMode:
        if self.until is not None and now >= self.until:
            return OutputMode.OFF
        return self.mode

    def apply(self, mode: OutputMode, time_100ms: int, now: float) -> None:
        """OS_TIME: 0 = the timer does not change [INFERRED], 0xFFFF = permanent."""
        if mode is OutputMode.UNCHANGED:
            return
        self.mode = mode
        if time_100ms == PERMANENT:
            self.until = None
        elif time_100ms:
            self.until = now + time_100ms * OUTPUT_TIME_UNIT_S


@dataclass(slots=True)
class FrontEndCounters:
    """What the simulated firmware saw; tests read these."""

    requests: int = 0
    bad_frames: int = 0
    partial_discarded: int = 0
    foreign_address: int = 0


@dataclass(slots=True)
class _State:
    """Everything a reboot resets."""

    rf_on: bool = True
    pages: list[InventoryRecord] = field(default_factory=list)
    green: _Output = field(default_factory=_Output)
    red: _Output = field(default_factory=_Output)
    beeper: _Output = field(default_factory=_Output)
    relay: _Output = field(default_factory=_Output)
    input_latches: int = 0


class FeigFrontEnd(FrontEnd):
    """A FEIG reader in ISO host mode serving the shared field."""

    protocol: ClassVar[str] = "feig"
    line: ClassVar[LineSettings] = LineSettings(38400, 8, "E", 1)

    def __init__(
        self,
        field: RfField,
        *,
        com_adr: int = DEFAULT_COM_ADR,
        records_per_frame: int = MAX_RECORDS_STANDARD_FRAME,
        max_data_sets: int | None = None,
        write_multiple_on_air: bool = False,
        version: SoftwareVersion = DEFAULT_VERSION,
        rx_buf: int = DEFAULT_RX_BUF,
        tx_buf: int = DEFAULT_TX_BUF,
    ) -> None:
        super().__init__(field)
        if not 0 <= com_adr < BROADCAST:
            raise ValueError(f"COM-ADR {com_adr}: a reader owns an address 0..254")
        if records_per_frame < 1:
            raise ValueError(f"records_per_frame {records_per_frame} must be at least 1")
        self.com_adr = com_adr
        self.records_per_frame = records_per_frame
        self.max_data_sets = max_data_sets
        self.write_multiple_on_air = write_multiple_on_air
        self.version = version
        self.rx_buf = rx_buf
        self.tx_buf = tx_buf
        self.counters = FrontEndCounters()
        self._input_levels = 0  # physical levels (light barrier...): a reboot does not change them
        self._buffer = bytearray()
        self._last_rx_at = 0.0
        self._state = _State()

    # -- test controls and observation ---------------------------------------------------------

    def reboot(self) -> None:
        """Power-on: partial input dropped, RF on, outputs off, inventory pages and latches gone."""
        self._buffer.clear()
        self._state = _State()

    @property
    def rf_on(self) -> bool:
        return self._state.rf_on

    def set_input(self, number: int, active: bool) -> None:
        """Drive IN``number`` (1..3); a change sets its latch until the next [0x74]."""
        if not 1 <= number <= INPUT_COUNT:
            raise ValueError(f"input {number}: the reader has IN1..IN{INPUT_COUNT}")
        bit = 1 << (number - 1)
        if bool(self._input_levels & bit) != active:
            self._input_levels ^= bit
            self._state.input_latches |= bit

    def outputs(self) -> dict[str, OutputMode]:
        """State of each output now (field clock): green, red, beeper, relay."""
        now = self.field.now
        state = self._state
        return {
            "green": state.green.at(now),
            "red": state.red.at(now),
            "beeper": state.beeper.at(now),
            "relay": state.relay.at(now),
        }

    # -- receiving ------------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[WireReply]:
        now = self.field.now
        if self._buffer and now - self._last_rx_at > INTER_CHARACTER_TIMEOUT_S:
            # "Characters must follow each other within 12 ms; a longer gap aborts the frame."
            self._buffer.clear()
            self.counters.partial_discarded += 1
        self._last_rx_at = now
        self._buffer += data
        replies: list[WireReply] = []
        while self._buffer:
            try:
                request, rest = decode_request(bytes(self._buffer))
            except NeedMoreData:
                break
            except FrameError:
                # Bad CRC or impossible header: the firmware drops the frame and stays silent.
                self.counters.bad_frames += 1
                del self._buffer[: self._announced_length()]
                continue
            del self._buffer[: len(self._buffer) - len(rest)]
            reply = self._handle(request)
            if reply is not None:
                replies.append(reply)
        return replies

    def _announced_length(self) -> int:
        """Bytes of the rejected frame at the head of the buffer (1 for a bad first byte)."""
        first = self._buffer[0]
        if first == STX and len(self._buffer) >= 3:
            total = int.from_bytes(self._buffer[1:3], "big")
        else:
            total = first
        return total if 5 <= total <= len(self._buffer) else 1

    def _handle(self, request: FeigRequest) -> WireReply | None:
        if request.com_adr not in (BROADCAST, self.com_adr):
            self.counters.foreign_address += 1
            return None
        self.counters.requests += 1
        result, busy_s = self._answer(request)
        if isinstance(result, Failure):
            response = result.to_response(self.com_adr, request.command, advanced=request.advanced)
        else:
            response = result.to_response(self.com_adr, advanced=request.advanced)
        if request.command in _RESETS and not isinstance(result, Failure):
            # The reader answers, then restarts: RF off and on, state at its defaults.
            self.reboot()
            self.field.rf_reset()
        return WireReply(response.encode(), busy_s + FIRMWARE_OVERHEAD_S)

    # -- dispatch -------------------------------------------------------------------------------

    def _answer(self, request: FeigRequest) -> Answer:
        if len(request) > self.rx_buf:
            return Failure(Status.LENGTH_ERROR), 0.0
        try:
            spec = lookup(request)
        except FrameError:
            return Failure(Status.UNKNOWN_COMMAND), 0.0
        try:
            body = spec.request.from_request(request)
        except FrameError:
            return Failure(Status.LENGTH_ERROR), 0.0  # DATA that does not fit the command
        return self._execute(body)

    def _execute(self, body: RequestBody) -> Answer:
        match body:
            case GetSoftwareVersion():
                return self.version, 0.0
            case GetReaderInfo(mode=mode):
                return self._reader_info(mode)
            case BaudRateDetection() | CpuReset() | SystemReset():
                return Acknowledgement(body.COMMAND), 0.0
            case RfReset():
                self.field.rf_reset()
                return Acknowledgement(body.COMMAND), RF_RESET_S
            case RfOutput(antennas=antennas):
                return self._rf_output(antennas), 0.0
            case SetOutputCpr():
                self._set_output(body)
                return Acknowledgement(body.COMMAND), 0.0
            case GetInput():
                latches, self._state.input_latches = self._state.input_latches, 0
                return InputState(self._input_levels | latches << 4), 0.0
        if not self._state.rf_on:
            return Failure(Status.NO_TRANSPONDER), 0.0  # no field, no tag [INFERRED]
        return self._transponder(body)

    def _transponder(self, body: RequestBody) -> Answer:
        match body:
            case Inventory():
                return self._inventory(body)
            case ReadMultipleBlocks():
                return self._read(body)
            case WriteMultipleBlocks():
                return self._write(body)
            case LockMultipleBlocks():
                return self._lock(body)
            case GetMultipleBlockSecurityStatus():
                request = Request.get_multiple_block_security_status(
                    body.first_block, body.block_count, **_mode(body.addressing, body.uid)
                )
                return self._single(request, body.COMMAND)
            case StayQuiet(uid=uid):
                # The tag never answers STAY QUIET; the reader reports success [INFERRED].
                air = self.field.transact(Request.stay_quiet(Uid.from_bytes(uid)))
                return Acknowledgement(body.COMMAND), air.air_time_s
            case Select(uid=uid):
                return self._single(Request.select(Uid.from_bytes(uid)), body.COMMAND)
            case WriteAfi() | WriteDsfid() | ResetToReady() | LockAfi() | LockDsfid():
                request = self._iso_simple(body, _mode(body.addressing, body.uid))
                return self._single(request, body.COMMAND)
            case GetSystemInformation():
                request = Request.get_system_info(**_mode(body.addressing, body.uid))
                return self._single(request, body.COMMAND)
            case SetEas() | ResetEas() | LockEas() | EasAlarm() | GetRandomNumber():
                request = self._iso_simple(body, _mode(body.addressing, body.uid))
                return self._single(request, body.COMMAND)
            case SetPassword():
                return self._single(_set_password(body), body.COMMAND)
        return Failure(Status.UNKNOWN_COMMAND), 0.0

    def _iso_simple(self, body: RequestBody, mode: Mode) -> Request:
        """The one ISO request behind a MODE [UID] [value] command."""
        match body:
            case WriteAfi(value=value):
                return Request.write_afi(value, **self._write_mode(mode))
            case WriteDsfid(value=value):
                return Request.write_dsfid(value, **self._write_mode(mode))
            case LockAfi():
                return Request.lock_afi(**self._write_mode(mode))
            case LockDsfid():
                return Request.lock_dsfid(**self._write_mode(mode))
            case ResetToReady():
                return Request.reset_to_ready(**mode)
            case SetEas():
                return Request.set_eas(**mode)
            case ResetEas():
                return Request.reset_eas(**mode)
            case LockEas():
                return Request.lock_eas(**mode)
            case EasAlarm():
                return Request.eas_alarm(**mode)
        return Request.get_random_number(**mode)

    # -- control commands -----------------------------------------------------------------------

    def _reader_info(self, mode: int) -> Answer:
        if mode != ReaderInfoMode.GENERAL:
            return Failure(Status.PARAMETER_RANGE_ERROR), 0.0  # other modes not modelled
        info = self.version.payload() + self.rx_buf.to_bytes(2, "big")
        return ReaderInfo(mode, info + self.tx_buf.to_bytes(2, "big")), 0.0

    def _rf_output(self, antennas: int) -> ResponseBody:
        was_on = self._state.rf_on
        self._state.rf_on = antennas != 0
        if self._state.rf_on and not was_on:
            self.field.rf_reset()  # the tags power up afresh
        return Acknowledgement(RfOutput.COMMAND)

    def _set_output(self, body: SetOutputCpr) -> None:
        now, state = self.field.now, self._state
        state.green.apply(body.green, body.os_time_100ms, now)
        state.red.apply(body.red, body.os_time_100ms, now)
        state.beeper.apply(body.beeper, body.os_time_100ms, now)
        if body.out_time_100ms:
            state.relay.apply(OutputMode.ON, body.out_time_100ms, now)

    # -- ISO host commands ----------------------------------------------------------------------

    def _inventory(self, body: Inventory) -> Answer:
        state = self._state
        if body.more:
            page = state.pages[: self.records_per_frame]
            del state.pages[: self.records_per_frame]
            if not page:
                return InventoryResult((), Status.NO_TRANSPONDER), 0.0
            status = Status.MORE_DATA if state.pages else Status.OK
            return InventoryResult(tuple(page), status), 0.0
        # CFG5.ONT = 0: "the reader performs an RF reset before every inventory".
        self.field.rf_reset()
        found, air_s, unresolved = self._anticollision(body.afi)
        busy_s = RF_RESET_S + air_s
        records = [InventoryRecord(reply.uid.msb_first, reply.dsfid) for reply in found]
        state.pages = []
        if unresolved:
            return InventoryResult(
                tuple(records[: self.records_per_frame]), Status.RF_COMMUNICATION_ERROR
            ), busy_s
        if self.max_data_sets is not None and len(records) > self.max_data_sets:
            return InventoryResult(
                tuple(records[: min(self.max_data_sets, self.records_per_frame)]),
                Status.DATA_BUFFER_OVERFLOW,
            ), busy_s
        if not records:
            return InventoryResult((), Status.NO_TRANSPONDER), busy_s
        first, state.pages = records[: self.records_per_frame], records[self.records_per_frame :]
        status = Status.MORE_DATA if state.pages else Status.OK
        return InventoryResult(tuple(first), status), busy_s

    def _anticollision(self, afi: int | None) -> tuple[list[InventoryResponse], float, bool]:
        """16-slot rounds; a collided or garbled slot gets a sub-round on a 4-bit longer mask.

        The same algorithm as ``RfField.anticollision``, which does not report a slot it had to
        give up on; the firmware does (0x83), so the loop is run here.
        """
        pending = [(0, 0)]
        found: dict[int, InventoryResponse] = {}
        air_s = 0.0
        unresolved = False
        while pending:
            mask_length, mask = pending.pop()
            result = self.field.transact(
                Request.inventory(afi=afi, slots=16, mask_length=mask_length, mask=mask)
            )
            air_s += result.air_time_s
            for slot in result.slots:
                if slot.outcome is AirOutcome.REPLY:
                    response = slot.replies[0].response
                    if isinstance(response, InventoryResponse):
                        found.setdefault(response.uid.value, response)
                elif slot.outcome is not AirOutcome.NO_REPLY:
                    if mask_length + 4 > MAX_MASK_16_SLOTS:
                        unresolved = True
                    else:
                        pending.append((mask_length + 4, mask | slot.index << mask_length))
        return list(found.values()), air_s, unresolved

    def _read(self, body: ReadMultipleBlocks) -> Answer:
        mode = _mode(body.addressing, body.uid)
        if body.security_status:
            mode["option"] = True
        result = self.field.transact(
            Request.read_multiple_blocks(body.first_block, body.block_count, **mode)
        )
        response = result.response
        if isinstance(response, BlocksResponse):
            block_size = len(response.blocks[0])
            if len(response.data) > MAX_READ_BYTES:
                # "At most 128 data bytes per call" [CPR30 §6.1.8]; the status is [INFERRED].
                return Failure(Status.PARAMETER_RANGE_ERROR), result.air_time_s
            read = ReadBlocksResult.from_tag_memory(
                response.data, block_size, response.security or ()
            )
            return read, result.air_time_s
        return _refusal(response, result.outcome), result.air_time_s

    def _write_mode(self, mode: Mode) -> Mode:
        """CFG4 WR-OPTION automatic: option 1 for TI tags when addressed, else 0 [CPR §9.1]."""
        uid = mode.get("uid")
        if uid is not None and uid.manufacturer_code == MFG_TI:
            return {**mode, "option": True}
        return mode

    def _write(self, body: WriteMultipleBlocks) -> Answer:
        mode = self._write_mode(_mode(body.addressing, body.uid))
        memory, size = body.tag_memory(), body.block_size
        blocks = [memory[i : i + size] for i in range(0, len(memory), size)]
        if self.write_multiple_on_air and len(blocks) > 1:
            result = self.field.transact(
                Request.write_multiple_blocks(body.first_block, blocks, **mode)
            )
            failure = _block_failure(result.response, result.outcome, body.first_block)
            return failure or Acknowledgement(body.COMMAND), result.air_time_s
        air_s = 0.0
        for offset, block in enumerate(blocks):
            number = body.first_block + offset
            result = self.field.transact(Request.write_single_block(number, block, **mode))
            air_s += result.air_time_s
            failure = _block_failure(result.response, result.outcome, number)
            if failure is not None:
                return failure, air_s
        return Acknowledgement(body.COMMAND), air_s

    def _lock(self, body: LockMultipleBlocks) -> Answer:
        mode = self._write_mode(_mode(body.addressing, body.uid))
        air_s = 0.0
        for number in range(body.first_block, body.first_block + body.block_count):
            result = self.field.transact(Request.lock_block(number, **mode))
            air_s += result.air_time_s
            failure = _block_failure(result.response, result.outcome, number)
            if failure is not None:
                return failure, air_s
        return Acknowledgement(body.COMMAND), air_s

    def _single(self, request: Request, command: int) -> Answer:
        """One exchange whose answer maps one-to-one onto a FEIG response."""
        result = self.field.transact(request)
        response, air_s = result.response, result.air_time_s
        if request.command == Command.EAS_ALARM:
            # Armed tags all send the same sequence: a collision of them is still an alarm.
            armed = result.outcome in (AirOutcome.REPLY, AirOutcome.COLLISION) and not isinstance(
                response, ErrorResponse
            )
            return EasAlarmResult(armed), air_s
        match response:
            case SystemInfoResponse():
                return _system_information(response), air_s
            case SecurityStatusResponse(statuses=statuses):
                return SecurityStatusResult(statuses), air_s
            case RandomNumberResponse(random_number=number):
                return RandomNumber(number), air_s
            case ErrorResponse() | None:
                return _refusal(response, result.outcome), air_s
        if request.command == Command.SELECT:
            return SelectResult(), air_s
        return Acknowledgement(command), air_s


def _mode(addressing: Addressing, uid: bytes | None) -> Mode:
    if addressing == Addressing.ADDRESSED and uid is not None:
        return {"uid": Uid.from_bytes(uid)}
    if addressing == Addressing.SELECTED:
        return {"selected": True}
    return {}


def _refusal(response: Response | None, outcome: AirOutcome) -> Failure:
    """No usable reply: 0x95 + ISO error, 0x01 for silence, 0x02 for garbage on the air (§4)."""
    if isinstance(response, ErrorResponse) and outcome is AirOutcome.REPLY:
        return Failure(Status.ISO15693_ERROR, iso_error=response.code)
    if outcome is AirOutcome.NO_REPLY:
        return Failure(Status.NO_TRANSPONDER)
    return Failure(Status.DATA_FALSE)


def _block_failure(response: Response | None, outcome: AirOutcome, block: int) -> Failure | None:
    """A write/lock of ``block``: None when confirmed, else the firmware's DB_ADR-E report."""
    if outcome is AirOutcome.REPLY and not isinstance(response, ErrorResponse):
        return None
    if isinstance(response, ErrorResponse) and outcome is AirOutcome.REPLY:
        return Failure(Status.ISO15693_ERROR, iso_error=response.code, failed_block=block)
    return Failure(Status.WRITE_ERROR, failed_block=block)


def _system_information(response: SystemInfoResponse) -> SystemInformation:
    uid = response.uid.msb_first
    dsfid, afi, ic_ref = response.dsfid or 0, response.afi or 0, response.ic_reference or 0
    if response.block_count is None or response.block_size is None:
        return SystemInformation(dsfid, uid, afi, 0, ic_ref)
    return SystemInformation.of(
        uid,
        block_size=response.block_size,
        block_count=response.block_count,
        dsfid=dsfid,
        afi=afi,
        ic_reference=ic_ref,
    )


def _set_password(body: SetPassword) -> Request:
    """SET PASSWORD on the air; FEIG sends the XOR-ed password MSB first."""
    flags = DEFAULT_FLAGS
    uid = None
    if body.addressing == Addressing.ADDRESSED and body.uid is not None:
        flags |= RequestFlag.ADDRESS
        uid = Uid.from_bytes(body.uid)
    elif body.addressing == Addressing.SELECTED:
        flags |= RequestFlag.SELECT
    return Request(
        Command.SET_PASSWORD,
        flags,
        mfg_code=MFG_NXP,
        uid=uid,
        password_id=body.password_id,
        password=int.from_bytes(body.xor_password, "big"),
    )


__all__ = ["DEFAULT_VERSION", "FIRMWARE_OVERHEAD_S", "FeigFrontEnd", "FrontEndCounters"]
