# SPDX-License-Identifier: Apache-2.0
"""FEIG ISO host commands [0xB0] (ISO 15693): addressing, inventory, select, AFI, DSFID, info.

Request DATA: sub-command, MODE, [UID], parameters. MODE b2..0 ADR (000 non-addressed,
001 addressed, 010 selected); b3 SEC asks read commands for the block security status
[CPR §7]. In addressed mode an 8-byte UID follows MODE, **MSB first (E0 first)**: the reverse
of its order on the air. "The data will be sent always as MSB first" applies to block data too:
each block arrives byte-reversed relative to tag memory (Biblio-RFID's CPRM02 reverses each
block on read and write [INFERRED; CPR Annex F is images only]). Block data here are kept in
wire order; :mod:`.blocks` converts. Block commands live in :mod:`.blocks`, [0xB1] in :mod:`.nxp`.

Not responsible for: the ISO 15693 air frames the reader sends (:mod:`protocols.iso15693`), tag
memory layouts (:mod:`protocols.iso28560`), or what a failure status means (:mod:`.status`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from construct import Bytes, Int8ub, Int16ub, Struct

from protocols.errors import FrameError
from protocols.readers.feig._wire import Cursor, RequestBody, ResponseBody, check_byte
from protocols.readers.feig.commands import Command
from protocols.readers.feig.framing import STANDARD_MAX, FeigRequest
from protocols.readers.feig.status import Status

UID_SIZE = 8
#: TR-TYPE of an ISO 15693 record: RF_TEC b7..6 = 00 (13.56 MHz), TYPE_NO = 3 [ISC.PR101 p.60].
TR_TYPE_ISO15693 = 0x03
#: (255 - 7) / 10: ISO 15693 inventory records that fit one standard frame [VERIFIED arithmetic].
MAX_RECORDS_STANDARD_FRAME = (STANDARD_MAX - 7) // 10
#: "The CPR family handles at most 4 data sets per inventory" (more gives status 0x93).
CPR_MAX_DATA_SETS = 4


class IsoCommand(IntEnum):
    """[0xB0] sub-commands."""

    INVENTORY = 0x01
    STAY_QUIET = 0x02
    LOCK_MULTIPLE_BLOCKS = 0x22
    READ_MULTIPLE_BLOCKS = 0x23
    WRITE_MULTIPLE_BLOCKS = 0x24
    SELECT = 0x25
    RESET_TO_READY = 0x26
    WRITE_AFI = 0x27
    LOCK_AFI = 0x28
    WRITE_DSFID = 0x29
    LOCK_DSFID = 0x2A
    GET_SYSTEM_INFORMATION = 0x2B
    GET_MULTIPLE_BLOCK_SECURITY_STATUS = 0x2C


class Addressing(IntEnum):
    """MODE b2..0 ADR."""

    NON_ADDRESSED = 0b000
    ADDRESSED = 0b001
    SELECTED = 0b010


MODE_ADR_MASK = 0b0000_0111
MODE_SEC = 0b0000_1000


def check_uid(uid: bytes | None, addressing: Addressing) -> None:
    if (uid is not None) != (addressing == Addressing.ADDRESSED):
        raise FrameError(f"{addressing.name}: a UID comes with addressed mode and only with it")
    if uid is not None and len(uid) != UID_SIZE:
        raise FrameError(f"UID of {len(uid)} bytes, expected 8 (E0 first)")


def address_bytes(addressing: Addressing, uid: bytes | None, extra_mode: int = 0) -> bytes:
    return bytes((addressing | extra_mode,)) + (uid or b"")


def read_address(
    cursor: Cursor, *, allowed_mode: int = 0
) -> tuple[Addressing, bytes | None, int]:
    """MODE and the optional UID; returns (addressing, uid, the allowed extra MODE bits set)."""
    mode = cursor.u8("MODE")
    unknown = mode & ~(MODE_ADR_MASK | allowed_mode)
    if unknown:
        raise cursor.error(f"MODE 0x{mode:02X} sets bits 0x{unknown:02X} this command lacks")
    try:
        addressing = Addressing(mode & MODE_ADR_MASK)
    except ValueError:
        raise cursor.error(f"MODE ADR {mode & MODE_ADR_MASK:03b} is not defined") from None
    uid = cursor.take(UID_SIZE, "UID") if addressing == Addressing.ADDRESSED else None
    return addressing, uid, mode & allowed_mode


@dataclass(frozen=True, slots=True)
class AddressedRequest(RequestBody):
    """Base of [0xB0]/[0xB1] requests that are MODE [UID] and nothing else."""

    COMMAND: ClassVar[int] = Command.ISO_HOST
    addressing: Addressing = Addressing.NON_ADDRESSED
    uid: bytes | None = None

    def __post_init__(self) -> None:
        check_uid(self.uid, self.addressing)

    @classmethod
    def to(cls, uid: bytes) -> Self:
        """The addressed form, for the tag with ``uid`` (E0 first)."""
        return cls(Addressing.ADDRESSED, uid)

    def payload(self) -> bytes:
        return address_bytes(self.addressing, self.uid)

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        addressing, uid, _ = read_address(cursor)
        return cls(addressing, uid)


# ---------------------------------------------------------------------------------------------
# [0x01] Inventory [CPR §7.1.1; ISC.PR101 §6.1.1]
# MODE b7 MORE: fetch the data sets left after status 0x94; b6 NTFC: run inside the reader until
# a tag answers or NTFC_TIME x 100 ms pass; b5 PRESC: presence check without RF reset;
# b4 AFI: only tags of this family answer. [UNCERTAIN] the AFI bit position and that AFI comes
# before NTFC_TIME: the manuals available show MORE only; confirm with an ISC.LR2500 manual.
INVENTORY_MORE = 0x80
INVENTORY_NTFC = 0x40
INVENTORY_PRESC = 0x20
INVENTORY_AFI = 0x10
#: Unit of NTFC_TIME: "NTFC_TIME x 100 ms"; the host timeout must exceed it.
NTFC_TIME_UNIT_S = 0.1


@dataclass(frozen=True, slots=True)
class Inventory(RequestBody):
    COMMAND: ClassVar[int] = Command.ISO_HOST
    SUB: ClassVar[int | None] = IsoCommand.INVENTORY
    more: bool = False
    afi: int | None = None
    presence_check: bool = False
    notification_time_100ms: int | None = None

    def __post_init__(self) -> None:
        if self.afi is not None:
            check_byte("AFI", self.afi)
        if self.notification_time_100ms is not None:
            check_byte("NTFC_TIME", self.notification_time_100ms)
            if self.more:
                raise FrameError("inventory: MORE and NTFC are mutually exclusive")

    @classmethod
    def next_page(cls) -> Self:
        """The request that fetches the rest after status 0x94 (MORE data)."""
        return cls(more=True)

    @property
    def mode(self) -> int:
        return (
            self.more * INVENTORY_MORE
            | (self.notification_time_100ms is not None) * INVENTORY_NTFC
            | self.presence_check * INVENTORY_PRESC
            | (self.afi is not None) * INVENTORY_AFI
        )

    def payload(self) -> bytes:
        optional = (self.afi, self.notification_time_100ms)
        return bytes((self.mode, *(value for value in optional if value is not None)))

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        mode = cursor.u8("MODE")
        known = INVENTORY_MORE | INVENTORY_NTFC | INVENTORY_PRESC | INVENTORY_AFI
        if mode & ~known:
            raise cursor.error(f"inventory MODE 0x{mode:02X} sets undefined bits")
        afi = cursor.u8("AFI") if mode & INVENTORY_AFI else None
        ntfc = cursor.u8("NTFC_TIME") if mode & INVENTORY_NTFC else None
        return cls(bool(mode & INVENTORY_MORE), afi, bool(mode & INVENTORY_PRESC), ntfc)


# One data set of the inventory response for an ISO 15693 tag [ISC.PR101 §6.1.1]. A struct, not
# construct: up to 24 of these per frame on the hot inventory path (construct: ~20 us each).
INVENTORY_RECORD = struct.Struct(
    ">"
    "B"  # TR-TYPE: RF_TEC b7..6, TYPE_NO b3..0; 0x03 = ISO 15693
    "B"  # DSFID: data storage format identifier, 0x00 if unused
    f"{UID_SIZE}s"  # UID, MSB (E0) first
)


@dataclass(frozen=True, slots=True)
class InventoryRecord:
    uid: bytes
    dsfid: int = 0
    tr_type: int = TR_TYPE_ISO15693

    def __post_init__(self) -> None:
        if len(self.uid) != UID_SIZE:
            raise FrameError(f"UID of {len(self.uid)} bytes, expected 8 (E0 first)")
        check_byte("DSFID", self.dsfid)
        if self.tr_type != TR_TYPE_ISO15693:
            raise FrameError(f"TR-TYPE 0x{self.tr_type:02X}: only ISO 15693 records (0x03)")


@dataclass(frozen=True, slots=True)
class InventoryResult(ResponseBody):
    """Inventory response: DATA-SETS, then per tag TR-TYPE, DSFID, UID.

    "No tag" is a result: status 0x01 gives no records. 0x94 means more records wait for
    ``Inventory.next_page()``; 0x83, 0x84 and 0x93 may come with the records read so far
    [CPR §7.1; ISC.LR200 §7.1].
    """

    COMMAND: ClassVar[int] = Command.ISO_HOST
    STATUSES: ClassVar[frozenset[int]] = frozenset(
        {
            Status.OK,
            Status.NO_TRANSPONDER,
            Status.RF_COMMUNICATION_ERROR,
            Status.RF_WARNING,
            Status.DATA_BUFFER_OVERFLOW,
            Status.MORE_DATA,
        }
    )
    records: tuple[InventoryRecord, ...] = ()
    status: int = Status.OK

    def __post_init__(self) -> None:
        if self.status not in self.STATUSES:
            raise FrameError(f"status 0x{self.status:02X} carries no inventory")
        if self.status == Status.NO_TRANSPONDER and self.records:
            raise FrameError("status 0x01 (no transponder) comes without records")
        check_byte("DATA-SETS", len(self.records))

    @property
    def more_data(self) -> bool:
        """The reader holds more records: send ``Inventory.next_page()``."""
        return self.status == Status.MORE_DATA

    def response_status(self) -> int:
        return self.status

    def payload(self) -> bytes:
        if not self.records and self.status != Status.OK:
            return b""
        body = bytearray((len(self.records),))
        for record in self.records:
            body += INVENTORY_RECORD.pack(record.tr_type, record.dsfid, record.uid)
        return bytes(body)

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        if not cursor.remaining and status != Status.OK:
            return cls((), status)
        count = cursor.u8("DATA-SETS")
        records = []
        for index in range(count):
            tr_type, dsfid, uid = INVENTORY_RECORD.unpack(
                cursor.take(INVENTORY_RECORD.size, f"data set {index}"))
            if tr_type != TR_TYPE_ISO15693:
                raise cursor.error(f"data set {index}: TR-TYPE 0x{tr_type:02X} is not ISO 15693")
            records.append(InventoryRecord(uid, dsfid, tr_type))
        return cls(tuple(records), status)


@dataclass(frozen=True, slots=True)
class _AddressedOnly(RequestBody):
    """An [0xB0] command whose only parameter is the UID and that has no other mode."""

    WHAT: ClassVar[str] = ""
    uid: bytes

    def __post_init__(self) -> None:
        check_uid(self.uid, Addressing.ADDRESSED)

    def payload(self) -> bytes:
        return address_bytes(Addressing.ADDRESSED, self.uid)

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        addressing, uid, _ = read_address(cursor)
        if uid is None:
            raise cursor.error(f"{cls.WHAT} is addressed only, MODE says {addressing.name}")
        return cls(uid)


@dataclass(frozen=True, slots=True)
class StayQuiet(_AddressedOnly):
    """[0x02] Stay quiet: addressed only."""

    COMMAND: ClassVar[int] = Command.ISO_HOST
    SUB: ClassVar[int | None] = IsoCommand.STAY_QUIET
    WHAT: ClassVar[str] = "stay quiet"


@dataclass(frozen=True, slots=True)
class Select(_AddressedOnly):
    """[0x25] Select: the addressed tag becomes the one "selected" mode talks to."""

    COMMAND: ClassVar[int] = Command.ISO_HOST
    SUB: ClassVar[int | None] = IsoCommand.SELECT
    WHAT: ClassVar[str] = "select"


@dataclass(frozen=True, slots=True)
class SelectResult(ResponseBody):
    """[0x25] response: nothing for ISO 15693; [FORMAT, CARD_INFO] for other families, kept raw."""

    COMMAND: ClassVar[int] = Command.ISO_HOST
    card_info: bytes = b""

    def payload(self) -> bytes:
        return self.card_info

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        return cls(cursor.take(cursor.remaining, "CARD_INFO"))


@dataclass(frozen=True, slots=True)
class ResetToReady(AddressedRequest):
    SUB: ClassVar[int | None] = IsoCommand.RESET_TO_READY


@dataclass(frozen=True, slots=True)
class LockAfi(AddressedRequest):
    """[0x28] Lock AFI: irreversible on real tags."""

    SUB: ClassVar[int | None] = IsoCommand.LOCK_AFI


@dataclass(frozen=True, slots=True)
class LockDsfid(AddressedRequest):
    SUB: ClassVar[int | None] = IsoCommand.LOCK_DSFID


@dataclass(frozen=True, slots=True)
class GetSystemInformation(AddressedRequest):
    SUB: ClassVar[int | None] = IsoCommand.GET_SYSTEM_INFORMATION


@dataclass(frozen=True, slots=True)
class _WriteByte(RequestBody):
    """Base of MODE [UID] VALUE requests (Write AFI, Write DSFID)."""

    COMMAND: ClassVar[int] = Command.ISO_HOST
    value: int
    addressing: Addressing = Addressing.NON_ADDRESSED
    uid: bytes | None = None

    def __post_init__(self) -> None:
        check_uid(self.uid, self.addressing)
        check_byte(type(self).__name__, self.value)

    @classmethod
    def to(cls, uid: bytes, value: int) -> Self:
        return cls(value, Addressing.ADDRESSED, uid)

    def payload(self) -> bytes:
        return address_bytes(self.addressing, self.uid) + bytes((self.value,))

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        addressing, uid, _ = read_address(cursor)
        return cls(cursor.u8("value"), addressing, uid)


@dataclass(frozen=True, slots=True)
class WriteAfi(_WriteByte):
    """[0x27] Write AFI (libraries: 0x07 secured / 0xC2 checked out, or 3M's 0xD7 / 0xDA)."""

    SUB: ClassVar[int | None] = IsoCommand.WRITE_AFI


@dataclass(frozen=True, slots=True)
class WriteDsfid(_WriteByte):
    SUB: ClassVar[int | None] = IsoCommand.WRITE_DSFID


# [0x2B] response DATA (EXT-ADR = 0) [ISC.MR102 §7.1.12]
SYSTEM_INFORMATION = Struct(
    "dsfid" / Int8ub,  # DSFID
    "uid" / Bytes(UID_SIZE),  # UID, E0 first
    "afi" / Int8ub,  # AFI
    "mem_size" / Int16ub,  # MEM-SIZE: block size - 1 (b4..0 of the first byte), blocks - 1
    "ic_ref" / Int8ub,  # IC-REF
)


@dataclass(frozen=True, slots=True)
class SystemInformation(ResponseBody):
    """[0x2B] response. MEM-SIZE is kept as sent; the minus-one coding is [INFERRED] from ISO."""

    COMMAND: ClassVar[int] = Command.ISO_HOST
    dsfid: int
    uid: bytes
    afi: int
    mem_size: int
    ic_reference: int

    def __post_init__(self) -> None:
        if len(self.uid) != UID_SIZE:
            raise FrameError(f"UID of {len(self.uid)} bytes, expected 8")
        check_byte("DSFID", self.dsfid)
        check_byte("AFI", self.afi)
        check_byte("IC-REF", self.ic_reference)
        check_byte("MEM-SIZE", self.mem_size, bits=16)

    @classmethod
    def of(
        cls,
        uid: bytes,
        *,
        block_size: int,
        block_count: int,
        dsfid: int = 0,
        afi: int = 0,
        ic_reference: int = 0,
    ) -> Self:
        check_byte("block size - 1", block_size - 1, bits=5)
        check_byte("block count - 1", block_count - 1)
        return cls(dsfid, uid, afi, (block_size - 1) << 8 | (block_count - 1), ic_reference)

    @property
    def block_size(self) -> int:
        return (self.mem_size >> 8 & 0x1F) + 1

    @property
    def block_count(self) -> int:
        return (self.mem_size & 0xFF) + 1

    def payload(self) -> bytes:
        return bytes(
            SYSTEM_INFORMATION.build(
                {
                    "dsfid": self.dsfid,
                    "uid": self.uid,
                    "afi": self.afi,
                    "mem_size": self.mem_size,
                    "ic_ref": self.ic_reference,
                }
            )
        )

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        v = cursor.layout(SYSTEM_INFORMATION, "DSFID UID AFI MEM-SIZE IC-REF")
        return cls(v.dsfid, v.uid, v.afi, v.mem_size, v.ic_ref)
