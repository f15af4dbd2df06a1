# SPDX-License-Identifier: Apache-2.0
"""FEIG control commands: reader identity, resets, RF field, outputs, inputs, configuration read.

One frozen dataclass per request and per response DATA layout, in the manual's field order.
Sources: CPR manual §4-§6 (reference/reader_protocols.md §1.1 "Control commands").

Not responsible for: ISO 15693 host commands (:mod:`.isohost`), buffered read mode
(:mod:`.brm`), or the timing of any of these (:mod:`.timing`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from construct import BitsInteger, BitStruct, Int8ub, Int16ub, Struct

from protocols.errors import FrameError
from protocols.readers.feig._wire import Cursor, RequestBody, ResponseBody, check_byte
from protocols.readers.feig.framing import FeigRequest, FeigResponse
from protocols.readers.feig.status import Status


class Command(IntEnum):
    """CMD byte of every command this package knows."""

    READ_BUFFER = 0x22
    READ_DATA_BUFFER_INFO = 0x31
    CLEAR_DATA_BUFFER = 0x32
    INITIALIZE_BUFFER = 0x33
    BAUD_RATE_DETECTION = 0x52
    CPU_RESET = 0x63
    SYSTEM_RESET = 0x64
    GET_SOFTWARE_VERSION = 0x65
    GET_READER_INFO = 0x66
    RF_RESET = 0x69
    RF_OUTPUT_ON_OFF = 0x6A
    SET_OUTPUT_CPR = 0x71
    SET_OUTPUT = 0x72
    GET_INPUT = 0x74
    READ_CONFIGURATION = 0x80
    ISO_HOST = 0xB0
    CUSTOM = 0xB1


@dataclass(frozen=True, slots=True)
class Acknowledgement(ResponseBody):
    """A response that is STATUS 0x00 and nothing else (RF reset, write AFI, ...)."""

    command: int

    def __post_init__(self) -> None:
        check_byte("CMD", self.command)

    def payload(self) -> bytes:
        return b""

    def to_response(self, com_adr: int = 0, *, advanced: bool = False) -> FeigResponse:
        return FeigResponse(com_adr, self.command, Status.OK, b"", advanced)

    @classmethod
    def from_response(cls, response: FeigResponse, request: FeigRequest | None = None) -> Self:
        if response.status != Status.OK or response.data:
            raise FrameError(
                "acknowledgement: expected STATUS 00 without DATA",
                frame=response.encode(),
                offset=response.data_offset - 1,
            )
        return cls(response.command)


@dataclass(frozen=True, slots=True)
class _Bare(RequestBody):
    """Base of requests without DATA."""

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        return cls()


# [0x52] "The reader answers only if both the baud rate and the parity match" [CPR §6.1].
@dataclass(frozen=True, slots=True)
class BaudRateDetection(RequestBody):
    COMMAND: ClassVar[int] = Command.BAUD_RATE_DETECTION

    def payload(self) -> bytes:
        return b"\x00"

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        if cursor.u8("DATA") != 0x00:
            raise cursor.error("baud rate detection carries DATA 00")
        return cls()


@dataclass(frozen=True, slots=True)
class CpuReset(_Bare):
    """[0x63] CPU reset; the RF field goes off [CPR §6.3]."""

    COMMAND: ClassVar[int] = Command.CPU_RESET


@dataclass(frozen=True, slots=True)
class SystemReset(_Bare):
    """[0x64] System reset (ISC); a USB reader enumerates anew afterwards."""

    COMMAND: ClassVar[int] = Command.SYSTEM_RESET


@dataclass(frozen=True, slots=True)
class GetSoftwareVersion(_Bare):
    COMMAND: ClassVar[int] = Command.GET_SOFTWARE_VERSION


# [0x65] response DATA [CPR §6.4]
SOFTWARE_VERSION = Struct(
    "sw_rev" / Int16ub,  # SW-REV: firmware revision, MSB first
    "d_rev" / Int8ub,  # D-REV: development revision
    "hw_type" / Int8ub,  # HW-TYPE
    "sw_type" / Int8ub,  # SW-TYPE: reader family
    "tr_type" / Int16ub,  # TR-TYPE: bit field of supported transponder types
)


@dataclass(frozen=True, slots=True)
class SoftwareVersion(ResponseBody):
    COMMAND: ClassVar[int] = Command.GET_SOFTWARE_VERSION
    sw_rev: int
    d_rev: int
    hw_type: int
    sw_type: int
    tr_type: int

    def __post_init__(self) -> None:
        check_byte("SW-REV", self.sw_rev, bits=16)
        check_byte("TR-TYPE", self.tr_type, bits=16)
        for name, value in (("D-REV", self.d_rev), ("HW-TYPE", self.hw_type)):
            check_byte(name, value)
        check_byte("SW-TYPE", self.sw_type)

    def payload(self) -> bytes:
        return bytes(
            SOFTWARE_VERSION.build(
                {
                    "sw_rev": self.sw_rev,
                    "d_rev": self.d_rev,
                    "hw_type": self.hw_type,
                    "sw_type": self.sw_type,
                    "tr_type": self.tr_type,
                }
            )
        )

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        v = cursor.layout(SOFTWARE_VERSION, "SW-REV D-REV HW-TYPE SW-TYPE TR-TYPE")
        return cls(v.sw_rev, v.d_rev, v.hw_type, v.sw_type, v.tr_type)


class ReaderInfoMode(IntEnum):
    """[0x66] MODE byte [CPR §6.5; LRU3000 excerpt]."""

    GENERAL = 0x00
    USB = 0x02
    DECODER = 0x03
    FUNCTIONS = 0x04
    DEVICE_ID = 0x80
    ALL = 0xFF  # ISC only


@dataclass(frozen=True, slots=True)
class GetReaderInfo(RequestBody):
    COMMAND: ClassVar[int] = Command.GET_READER_INFO
    mode: int = ReaderInfoMode.GENERAL

    def __post_init__(self) -> None:
        check_byte("MODE", self.mode)

    def payload(self) -> bytes:
        return bytes((self.mode,))

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        return cls(cursor.u8("MODE"))


# [0x66] mode 0 response DATA: the [0x65] fields, then the buffer sizes [CPR §6.5]
READER_INFO_GENERAL = Struct(
    "sw_rev" / Int16ub,
    "d_rev" / Int8ub,
    "hw_type" / Int8ub,
    "sw_type" / Int8ub,
    "tr_type" / Int16ub,
    "rx_buf" / Int16ub,  # RX-BUF: longest request the reader accepts (else status 0x81)
    "tx_buf" / Int16ub,  # TX-BUF: longest response it sends
)


@dataclass(frozen=True, slots=True)
class ReaderInfoGeneral:
    """Mode 0 of [0x66], decoded."""

    version: SoftwareVersion
    rx_buf: int
    tx_buf: int


@dataclass(frozen=True, slots=True)
class ReaderInfo(ResponseBody):
    """[0x66] response; DATA depends on the request's MODE, which the response does not echo."""

    COMMAND: ClassVar[int] = Command.GET_READER_INFO
    mode: int
    info: bytes

    def __post_init__(self) -> None:
        check_byte("MODE", self.mode)

    def payload(self) -> bytes:
        return self.info

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        if request is None or request.command != cls.COMMAND or len(request.data) != 1:
            raise cursor.error("reader info DATA can only be read with its [0x66] request")
        return cls(request.data[0], cursor.take(cursor.remaining, "DATA"))

    def general(self) -> ReaderInfoGeneral:
        """Decode mode 0 (general information)."""
        if self.mode != ReaderInfoMode.GENERAL:
            raise FrameError(f"reader info mode 0x{self.mode:02X} is not mode 0 (general)")
        cursor = Cursor(self.info, what="reader info mode 0")
        v = cursor.layout(READER_INFO_GENERAL, "mode 0 fields")
        cursor.end()
        version = SoftwareVersion(v.sw_rev, v.d_rev, v.hw_type, v.sw_type, v.tr_type)
        return ReaderInfoGeneral(version, v.rx_buf, v.tx_buf)


@dataclass(frozen=True, slots=True)
class RfReset(_Bare):
    """[0x69] RF reset: field off for 15 ms, every tag unselected and un-quieted [CPR §6.6]."""

    COMMAND: ClassVar[int] = Command.RF_RESET


@dataclass(frozen=True, slots=True)
class RfOutput(RequestBody):
    """[0x6A] RF output on/off: RF_OUTPUT b0 antenna 1, b1 antenna 2; 0 = all off [CPR §6.7]."""

    COMMAND: ClassVar[int] = Command.RF_OUTPUT_ON_OFF
    antennas: int = 0b01

    def __post_init__(self) -> None:
        check_byte("RF_OUTPUT", self.antennas, bits=2)

    @classmethod
    def off(cls) -> Self:
        return cls(0)

    @classmethod
    def on(cls, antenna: int = 1) -> Self:
        if antenna not in (1, 2):
            raise FrameError(f"antenna {antenna}: RF_OUTPUT knows antennas 1 and 2")
        return cls(1 << (antenna - 1))

    def payload(self) -> bytes:
        return bytes((self.antennas,))

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        value = cursor.u8("RF_OUTPUT")
        if value > 0b11:
            raise cursor.error(f"RF_OUTPUT 0x{value:02X} has bits beyond antennas 1 and 2")
        return cls(value)


class OutputMode(IntEnum):
    """2-bit output state of [0x71] OS and [0x72] OUT-STATE."""

    UNCHANGED = 0b00
    ON = 0b01
    OFF = 0b10
    FLASH = 0b11


class FlashFrequency(IntEnum):
    """2-bit flash frequency of [0x71] OSF [CPR §6.8]."""

    HZ_5 = 0b00
    HZ_2_5 = 0b01
    HZ_1_25 = 0b10
    HZ_0_625 = 0b11


#: OS_TIME / OUT_TIME value that keeps an output on until told otherwise [CPR §6.8].
PERMANENT = 0xFFFF
#: Unit of OS_TIME, OUT_TIME and [0x72] OUT-TIME: "units of 100 ms" [CPR §6.8].
OUTPUT_TIME_UNIT_S = 0.1

# [0x71] DATA [CPR §6.8]; OS and OSF share one bit layout (2 bits per emitter, b15..6 unused)
_EMITTERS = BitStruct(
    "unused" / BitsInteger(10),
    "beeper" / BitsInteger(2),  # b5..4 BEEPER
    "red" / BitsInteger(2),  # b3..2 RED LED
    "green" / BitsInteger(2),  # b1..0 GREEN LED
)
SET_OUTPUT_CPR = Struct(
    "os" / _EMITTERS,  # OS: output state per emitter
    "osf" / _EMITTERS,  # OSF: flash frequency per emitter
    "os_time" / Int16ub,  # OS_TIME: how long OS applies, 100 ms units, 0xFFFF permanent
    "out_time" / Int16ub,  # OUT_TIME: relay time, 100 ms units
)


@dataclass(frozen=True, slots=True)
class SetOutputCpr(RequestBody):
    """[0x71] Set output (CPR and older ISC): green/red LED and beeper, with times.

    Times are in units of 100 ms (``OUTPUT_TIME_UNIT_S``); 0 = no change, ``PERMANENT`` =
    until changed; to end a permanent output send 1. An input event configured in CFG2 wins.
    """

    COMMAND: ClassVar[int] = Command.SET_OUTPUT_CPR
    green: OutputMode = OutputMode.UNCHANGED
    red: OutputMode = OutputMode.UNCHANGED
    beeper: OutputMode = OutputMode.UNCHANGED
    green_flash: FlashFrequency = FlashFrequency.HZ_5
    red_flash: FlashFrequency = FlashFrequency.HZ_5
    beeper_flash: FlashFrequency = FlashFrequency.HZ_5
    os_time_100ms: int = 0
    out_time_100ms: int = 0

    def __post_init__(self) -> None:
        check_byte("OS_TIME", self.os_time_100ms, bits=16)
        check_byte("OUT_TIME", self.out_time_100ms, bits=16)

    def payload(self) -> bytes:
        # A gate sends the same alarm command every time: built once, not per alarm.
        return _set_output_cpr_payload(self)

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        v = cursor.layout(SET_OUTPUT_CPR, "OS OSF OS_TIME OUT_TIME")
        if v.os.unused or v.osf.unused:
            raise cursor.error("OS/OSF bits 15..6 are not defined for [0x71]")
        return cls(
            OutputMode(v.os.green),
            OutputMode(v.os.red),
            OutputMode(v.os.beeper),
            FlashFrequency(v.osf.green),
            FlashFrequency(v.osf.red),
            FlashFrequency(v.osf.beeper),
            v.os_time,
            v.out_time,
        )


@functools.lru_cache(maxsize=64)
def _set_output_cpr_payload(body: SetOutputCpr) -> bytes:
    return bytes(
        SET_OUTPUT_CPR.build(
            {
                "os": {
                    "unused": 0,
                    "beeper": body.beeper,
                    "red": body.red,
                    "green": body.green,
                },
                "osf": {
                    "unused": 0,
                    "beeper": body.beeper_flash,
                    "red": body.red_flash,
                    "green": body.green_flash,
                },
                "os_time": body.os_time_100ms,
                "out_time": body.out_time_100ms,
            }
        )
    )


class OutputType(IntEnum):
    """[0x72] OUT-TYPE (3 bits): 0 digital output, 1 relay; other codes kept as integers."""

    DIGITAL_OUTPUT = 0
    RELAY = 1


# [0x72] one OUT record. [UNCERTAIN] bit order: only the SDK comments were available, which name
# OUT-NUMBER (5 bits), OUT-TYPE (3 bits), MODE (2), FREQUENCY (2), REPETITIONS (4), OUT-TIME (2).
# The positions below follow [0x71] (state in the low bits); confirm with the ISC.LR2500 manual.
OUTPUT_RECORD = Struct(
    "out" / BitStruct("type" / BitsInteger(3), "number" / BitsInteger(5)),  # OUT-TYPE, OUT-NUMBER
    "state"
    / BitStruct(
        "repetitions" / BitsInteger(4),  # b7..4 REPETITIONS
        "frequency" / BitsInteger(2),  # b3..2 FREQUENCY
        "mode" / BitsInteger(2),  # b1..0 MODE, coded as OutputMode
    ),
    "time" / Int16ub,  # OUT-TIME, 100 ms units
)


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """One output of a [0x72] request."""

    number: int
    kind: int
    mode: OutputMode
    frequency: int = 0
    repetitions: int = 0
    time_100ms: int = 0

    def __post_init__(self) -> None:
        check_byte("OUT-NUMBER", self.number, bits=5)
        check_byte("OUT-TYPE", self.kind, bits=3)
        check_byte("FREQUENCY", self.frequency, bits=2)
        check_byte("REPETITIONS", self.repetitions, bits=4)
        check_byte("OUT-TIME", self.time_100ms, bits=16)


@dataclass(frozen=True, slots=True)
class SetOutput(RequestBody):
    """[0x72] Set output (newer ISC, e.g. LR2500): MODE, OUT-N, then OUT-N records."""

    COMMAND: ClassVar[int] = Command.SET_OUTPUT
    outputs: tuple[OutputRecord, ...]
    mode: int = 0x01

    def __post_init__(self) -> None:
        check_byte("MODE", self.mode)
        check_byte("OUT-N", len(self.outputs))

    def payload(self) -> bytes:
        body = bytearray((self.mode, len(self.outputs)))
        for out in self.outputs:
            body += OUTPUT_RECORD.build(
                {
                    "out": {"type": out.kind, "number": out.number},
                    "state": {
                        "repetitions": out.repetitions,
                        "frequency": out.frequency,
                        "mode": out.mode,
                    },
                    "time": out.time_100ms,
                }
            )
        return bytes(body)

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        mode = cursor.u8("MODE")
        count = cursor.u8("OUT-N")
        outputs = []
        for index in range(count):
            v = cursor.layout(OUTPUT_RECORD, f"OUT record {index}")
            outputs.append(
                OutputRecord(
                    v.out.number,
                    v.out.type,
                    OutputMode(v.state.mode),
                    v.state.frequency,
                    v.state.repetitions,
                    v.time,
                )
            )
        return cls(tuple(outputs), mode)


@dataclass(frozen=True, slots=True)
class GetInput(_Bare):
    COMMAND: ClassVar[int] = Command.GET_INPUT


INPUT_COUNT = 3


@dataclass(frozen=True, slots=True)
class InputState(ResponseBody):
    """[0x74] INPUTS: b0..2 = IN1..IN3 level, b4..6 = changed since the last poll [CPR §6.9].

    The change latches clear when read. 0x84 (RF warning) still carries the inputs (FEIG SDK).
    """

    COMMAND: ClassVar[int] = Command.GET_INPUT
    STATUSES: ClassVar[frozenset[int]] = frozenset({Status.OK, Status.RF_WARNING})
    inputs: int
    status: int = Status.OK

    def __post_init__(self) -> None:
        check_byte("INPUTS", self.inputs)
        if self.inputs & 0x88:
            raise FrameError(f"INPUTS 0x{self.inputs:02X}: bits 3 and 7 are not defined")
        if self.status not in self.STATUSES:
            raise FrameError(f"status 0x{self.status:02X} carries no inputs")

    @classmethod
    def of(
        cls, active: tuple[bool, ...], changed: tuple[bool, ...] = (), status: int = Status.OK
    ) -> Self:
        value = 0
        for index, flag in enumerate(active[:INPUT_COUNT]):
            value |= flag << index
        for index, flag in enumerate(changed[:INPUT_COUNT]):
            value |= flag << (index + 4)
        return cls(value, status)

    def is_active(self, number: int) -> bool:
        """Level of IN``number`` (1..3)."""
        return bool(self.inputs >> (number - 1) & 1)

    def has_changed(self, number: int) -> bool:
        """IN``number`` changed since the previous [0x74]."""
        return bool(self.inputs >> (number + 3) & 1)

    def response_status(self) -> int:
        return self.status

    def payload(self) -> bytes:
        return bytes((self.inputs,))

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        value = cursor.u8("INPUTS")
        if value & 0x88:
            raise cursor.error(f"INPUTS 0x{value:02X}: bits 3 and 7 are not defined")
        return cls(value, status)


class ConfigLocation(IntEnum):
    """CFG-ADR b7 LOC [CPR §4]."""

    RAM = 0
    EEPROM = 1


CFG_BLOCK_SIZE = 14


@dataclass(frozen=True, slots=True)
class ReadConfiguration(RequestBody):
    """[0x80] Read configuration: CFG-ADR = b7 LOC, b6 MODE (all blocks), b5..0 block [CPR §4]."""

    COMMAND: ClassVar[int] = Command.READ_CONFIGURATION
    block: int
    location: ConfigLocation = ConfigLocation.RAM
    all_blocks: bool = False

    def __post_init__(self) -> None:
        check_byte("CFG-ADR block", self.block, bits=6)

    def payload(self) -> bytes:
        return bytes((self.location << 7 | self.all_blocks << 6 | self.block,))

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        value = cursor.u8("CFG-ADR")
        return cls(value & 0x3F, ConfigLocation(value >> 7), bool(value & 0x40))


@dataclass(frozen=True, slots=True)
class ConfigurationBlock(ResponseBody):
    """[0x80] response: one CFG block of 14 bytes."""

    COMMAND: ClassVar[int] = Command.READ_CONFIGURATION
    cfg_data: bytes

    def __post_init__(self) -> None:
        if len(self.cfg_data) != CFG_BLOCK_SIZE:
            raise FrameError(f"CFG block of {len(self.cfg_data)} bytes, expected 14")

    def payload(self) -> bytes:
        return self.cfg_data

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        return cls(cursor.take(CFG_BLOCK_SIZE, "CFG-DATA"))
