# SPDX-License-Identifier: Apache-2.0
"""FEIG Buffered Read Mode (ISC gate and conveyor readers): [0x22] [0x31] [0x32] [0x33].

In BRM the reader samples tags by itself and appends data sets to a FIFO. The host polls
[0x22] Read Buffer, which "always reads the first available data sets", and removes them with
[0x32] Clear Data Buffer before the next ones can be reached. [0x31] reports the table, [0x33]
restarts the mode. ISO host commands answer 0x82 while BRM is on. [ISC.MR200 §1.3, ISC.LR1002
§10.4-10.5, ISC.LRU3000 §11.4]

[0x22] response DATA: TR-DATA1, [TR-DATA2 if TR-DATA1.b7], DATA-SETS (2), records. Each record
(newer readers) is RecLen (2) then, as TR-DATA selects: TR-TYPE IDDT IDD-LEN IDD; DB-N (2)
DB-SIZE DB; TIMER (4); DATE (5); ANT (1); IN (1) + reserved (1); DIRECTION (1); MAC (6).
[UNCERTAIN] RecLen counting its own two bytes, DB-N being two bytes, the place of ANT, and the
TR-DATA2 bit positions (``TR_DATA2_*``): the manuals seen show the record table of a UHF reader
only. Each is one constant or one line below.

Not responsible for: de-duplicating or interpreting passages (the gate workflow does that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from construct import Int16ub, Struct

from protocols.errors import FrameError
from protocols.readers.feig._wire import Cursor, RequestBody, ResponseBody, check_byte
from protocols.readers.feig.commands import Command
from protocols.readers.feig.framing import FeigRequest
from protocols.readers.feig.status import Status

# TR-DATA1 bits [ISC.LRU3000 §11.4]
TR_DATA1_IDD = 0x01  # b0 identifier data (UID / EPC)
TR_DATA1_DB = 0x02  # b1 data blocks
TR_DATA1_LSB_FIRST = 0x08  # b3 byte order: 0 MSB first, 1 LSB first
TR_DATA1_ANT = 0x10  # b4 antenna number
TR_DATA1_TIMER = 0x20  # b5 internal system timer
TR_DATA1_DATE = 0x40  # b6 date
TR_DATA1_EXTENSION = 0x80  # b7 TR-DATA2 follows
# TR-DATA2 bits [UNCERTAIN positions]
TR_DATA2_INPUT = 0x01  # IN + reserved byte
TR_DATA2_DIRECTION = 0x02  # gate people counter direction
TR_DATA2_MAC = 0x04  # MAC address of a LAN reader
#: RecLen counts its own two bytes [UNCERTAIN].
RECLEN_INCLUDES_ITSELF = True
TIMER_SIZE = 4
DATE_SIZE = 5
MAC_SIZE = 6
#: BRM statuses that carry data [ISC.LR1002 §10.5 note].
BRM_DATA_STATUSES = frozenset(
    {Status.OK, Status.RF_WARNING, Status.EPC_ERROR, Status.DATA_BUFFER_OVERFLOW}
)


@dataclass(frozen=True, slots=True)
class ReadBuffer(RequestBody):
    """[0x22] Read Buffer: DATA-SETS (2) wanted; fewer come back if fewer are stored."""

    COMMAND: ClassVar[int] = Command.READ_BUFFER
    data_sets: int = 1

    def __post_init__(self) -> None:
        check_byte("DATA-SETS", self.data_sets, bits=16)

    def payload(self) -> bytes:
        return self.data_sets.to_bytes(2, "big")

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        return cls(cursor.u16("DATA-SETS"))


@dataclass(frozen=True, slots=True)
class BufferRecord:
    """One BRM data set; ``None`` for every part TR-DATA did not select."""

    tr_type: int | None = None
    iddt: int | None = None
    idd: bytes | None = None
    block_size: int | None = None
    blocks: bytes | None = None
    timer: bytes | None = None
    date: bytes | None = None
    antenna: int | None = None
    input_state: int | None = None
    input_reserved: int | None = None
    direction: int | None = None
    mac: bytes | None = None

    def __post_init__(self) -> None:
        idd_parts = (self.tr_type, self.iddt, self.idd)
        if any(part is None for part in idd_parts) and any(p is not None for p in idd_parts):
            raise FrameError("TR-TYPE, IDDT and IDD come together")
        if (self.block_size is None) != (self.blocks is None):
            raise FrameError("DB-SIZE and DB come together")
        if self.block_size is not None and self.blocks is not None:
            check_byte("DB-SIZE", self.block_size)
            if self.block_size == 0 or len(self.blocks) % self.block_size:
                raise FrameError(
                    f"{len(self.blocks)} bytes are not whole blocks of {self.block_size}"
                )
        if (self.input_state is None) != (self.input_reserved is None):
            raise FrameError("IN and its reserved byte come together")
        for name, value, size in (
            ("TIMER", self.timer, TIMER_SIZE),
            ("DATE", self.date, DATE_SIZE),
            ("MAC", self.mac, MAC_SIZE),
        ):
            if value is not None and len(value) != size:
                raise FrameError(f"{name} of {len(value)} bytes, expected {size}")

    @property
    def selection(self) -> tuple[int, int]:
        """The (TR-DATA1 without byte order and extension, TR-DATA2) this record matches."""
        one = (
            (self.idd is not None) * TR_DATA1_IDD
            | (self.blocks is not None) * TR_DATA1_DB
            | (self.antenna is not None) * TR_DATA1_ANT
            | (self.timer is not None) * TR_DATA1_TIMER
            | (self.date is not None) * TR_DATA1_DATE
        )
        two = (
            (self.input_state is not None) * TR_DATA2_INPUT
            | (self.direction is not None) * TR_DATA2_DIRECTION
            | (self.mac is not None) * TR_DATA2_MAC
        )
        return one, two

    def encode(self) -> bytes:
        body = bytearray()
        if self.tr_type is not None and self.iddt is not None and self.idd is not None:
            body += bytes((self.tr_type, self.iddt, len(self.idd))) + self.idd
        if self.block_size is not None and self.blocks is not None:
            count = len(self.blocks) // self.block_size
            body += count.to_bytes(2, "big") + bytes((self.block_size,)) + self.blocks
        body += (self.timer or b"") + (self.date or b"")
        if self.antenna is not None:
            body.append(self.antenna)
        if self.input_state is not None and self.input_reserved is not None:
            body += bytes((self.input_state, self.input_reserved))
        if self.direction is not None:
            body.append(self.direction)
        body += self.mac or b""
        length = len(body) + (2 if RECLEN_INCLUDES_ITSELF else 0)
        return length.to_bytes(2, "big") + bytes(body)

    @classmethod
    def parse(cls, cursor: Cursor, tr_data1: int, tr_data2: int, index: int) -> Self:
        length = cursor.u16(f"record {index} RecLen") - (2 if RECLEN_INCLUDES_ITSELF else 0)
        if length < 0:
            raise cursor.error(f"record {index}: RecLen below 2")
        inner = Cursor(
            cursor.take(length, f"record {index}"), what=f"{cursor.what} record {index}"
        )
        fields: dict[str, object] = {}
        if tr_data1 & TR_DATA1_IDD:
            fields["tr_type"], fields["iddt"] = inner.u8("TR-TYPE"), inner.u8("IDDT")
            fields["idd"] = inner.take(inner.u8("IDD-LEN"), "IDD")
        if tr_data1 & TR_DATA1_DB:
            count, size = inner.u16("DB-N"), inner.u8("DB-SIZE")
            if size == 0:
                raise inner.error("DB-SIZE 0")
            fields["block_size"], fields["blocks"] = size, inner.take(count * size, "DB")
        if tr_data1 & TR_DATA1_TIMER:
            fields["timer"] = inner.take(TIMER_SIZE, "TIMER")
        if tr_data1 & TR_DATA1_DATE:
            fields["date"] = inner.take(DATE_SIZE, "DATE")
        if tr_data1 & TR_DATA1_ANT:
            fields["antenna"] = inner.u8("ANT")
        if tr_data2 & TR_DATA2_INPUT:
            fields["input_state"], fields["input_reserved"] = inner.u8("IN"), inner.u8("reserved")
        if tr_data2 & TR_DATA2_DIRECTION:
            fields["direction"] = inner.u8("DIRECTION")
        if tr_data2 & TR_DATA2_MAC:
            fields["mac"] = inner.take(MAC_SIZE, "MAC")
        inner.end()
        return cls(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class BufferRecords(ResponseBody):
    """[0x22] response: TR-DATA1, [TR-DATA2], DATA-SETS (2), records."""

    COMMAND: ClassVar[int] = Command.READ_BUFFER
    STATUSES: ClassVar[frozenset[int]] = BRM_DATA_STATUSES
    tr_data1: int
    records: tuple[BufferRecord, ...] = ()
    tr_data2: int | None = None
    status: int = Status.OK

    def __post_init__(self) -> None:
        check_byte("TR-DATA1", self.tr_data1)
        if (self.tr_data2 is not None) != bool(self.tr_data1 & TR_DATA1_EXTENSION):
            raise FrameError("TR-DATA2 is present exactly when TR-DATA1 b7 is set")
        if self.tr_data2 is not None:
            check_byte("TR-DATA2", self.tr_data2)
        check_byte("DATA-SETS", len(self.records), bits=16)
        if self.status not in self.STATUSES:
            raise FrameError(f"status 0x{self.status:02X} carries no buffer data")
        wanted = (self.tr_data1 & ~(TR_DATA1_LSB_FIRST | TR_DATA1_EXTENSION), self.tr_data2 or 0)
        for index, record in enumerate(self.records):
            if record.selection != wanted:
                raise FrameError(f"record {index} does not carry what TR-DATA selects")

    @property
    def lsb_first(self) -> bool:
        """TR-DATA1 b3: IDD and DB in LSB-first order."""
        return bool(self.tr_data1 & TR_DATA1_LSB_FIRST)

    def response_status(self) -> int:
        return self.status

    def payload(self) -> bytes:
        head = bytes((self.tr_data1,)) + (
            bytes((self.tr_data2,)) if self.tr_data2 is not None else b""
        )
        return head + len(self.records).to_bytes(2, "big") + b"".join(
            record.encode() for record in self.records
        )

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        tr_data1 = cursor.u8("TR-DATA1")
        tr_data2 = cursor.u8("TR-DATA2") if tr_data1 & TR_DATA1_EXTENSION else None
        count = cursor.u16("DATA-SETS")
        records = tuple(
            BufferRecord.parse(cursor, tr_data1, tr_data2 or 0, index) for index in range(count)
        )
        return cls(tr_data1, records, tr_data2, status)


@dataclass(frozen=True, slots=True)
class ReadDataBufferInfo(RequestBody):
    COMMAND: ClassVar[int] = Command.READ_DATA_BUFFER_INFO

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        return cls()


# [0x31] response DATA [ISC.LR1002 §10.5]
BUFFER_INFO = Struct(
    "tab_size" / Int16ub,  # TAB-SIZE: capacity in data sets
    "tab_start" / Int16ub,  # TAB-START: address of the first data set
    "tab_len" / Int16ub,  # TAB-LEN: data sets stored
)


@dataclass(frozen=True, slots=True)
class BufferInfo(ResponseBody):
    COMMAND: ClassVar[int] = Command.READ_DATA_BUFFER_INFO
    STATUSES: ClassVar[frozenset[int]] = BRM_DATA_STATUSES
    tab_size: int
    tab_start: int
    tab_len: int
    status: int = Status.OK

    def __post_init__(self) -> None:
        for name, value in (
            ("TAB-SIZE", self.tab_size),
            ("TAB-START", self.tab_start),
            ("TAB-LEN", self.tab_len),
        ):
            check_byte(name, value, bits=16)
        if self.status not in self.STATUSES:
            raise FrameError(f"status 0x{self.status:02X} carries no buffer info")

    def response_status(self) -> int:
        return self.status

    def payload(self) -> bytes:
        return bytes(
            BUFFER_INFO.build(
                {"tab_size": self.tab_size, "tab_start": self.tab_start, "tab_len": self.tab_len}
            )
        )

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        v = cursor.layout(BUFFER_INFO, "TAB-SIZE TAB-START TAB-LEN")
        return cls(v.tab_size, v.tab_start, v.tab_len, status)


@dataclass(frozen=True, slots=True)
class ClearDataBuffer(ReadDataBufferInfo):
    """[0x32] Clear Data Buffer: drop the data sets already read."""

    COMMAND: ClassVar[int] = Command.CLEAR_DATA_BUFFER


@dataclass(frozen=True, slots=True)
class InitializeBuffer(ReadDataBufferInfo):
    """[0x33] Initialize Buffer: restart buffered read mode."""

    COMMAND: ClassVar[int] = Command.INITIALIZE_BUFFER
