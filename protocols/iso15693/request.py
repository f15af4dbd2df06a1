# SPDX-License-Identifier: Apache-2.0
"""VCD -> VICC request frames of ISO/IEC 15693-3 (clause 7.3).

A request on the air, least significant byte of every multi-byte field first:

    flags | command | [IC mfg code] | fields of the command (commands.COMMANDS) | CRC16

:class:`Request` holds one decoded request; its typed constructors build the ones LibEdge sends,
:func:`encode_request` turns it into bytes and :func:`decode_request` back (the simulator's
virtual tags receive requests that way). Encoding and decoding walk the catalogue's field layout,
so a command's layout is written down once.

Not responsible for: what a VICC does with the request, nor timing (see :mod:`.timing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, Unpack

from protocols.errors import FrameError
from protocols.iso15693.commands import (
    BY_CODE,
    UNKNOWN_REQUEST,
    Command,
    CommandSpec,
    Field,
    is_custom,
)
from protocols.iso15693.crc import CRC_LENGTH, append_crc, check_crc
from protocols.iso15693.flags import DEFAULT_FLAGS, RequestFlag
from protocols.iso15693.uid import MFG_NXP, UID_BITS, UID_LENGTH, Uid

# ISO/IEC 15693-3 clause 8.2: "the mask length ... shall be 0 to 60 for 16 slots, 0 to 64 for 1".
MAX_MASK_LENGTH = UID_BITS
# Clause 10.3.6: the number of blocks is coded N-1 in one byte.
MAX_BLOCK_COUNT = 256
PASSWORD_LENGTH = 4
EAS_ID_LENGTH = 2


class Mode(TypedDict, total=False):
    """How a request is addressed: ``uid`` = addressed, ``selected`` = selected, neither =
    non-addressed; ``option`` sets the option flag; ``flags`` replaces the default flags."""

    uid: Uid | None
    selected: bool
    option: bool
    flags: RequestFlag


@dataclass(frozen=True, slots=True)
class Request:
    """One request; which optional attributes are set follows the command's field layout."""

    command: int
    flags: RequestFlag = DEFAULT_FLAGS
    mfg_code: int | None = None       # custom commands only
    uid: Uid | None = None
    afi: int | None = None            # inventory with the AFI flag, or the value of WRITE AFI
    mask_length: int = 0              # inventory: bits of the mask
    mask: int = 0                     # inventory: compared with the UID's low bits
    block_number: int | None = None   # first block
    block_count: int | None = None    # real count N (sent as N-1)
    data: bytes = b""                 # block data of writes; opaque rest of unknown commands
    dsfid: int | None = None
    password_id: int | None = None
    password: int | None = None       # 32 bits; SET PASSWORD carries it XOR-ed with rnd16||rnd16
    eas_id: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.command <= 0xFF:
            raise FrameError(f"command {self.command} is not a byte")
        if not 0 <= self.flags <= 0xFF:
            raise FrameError(f"flags {int(self.flags)} are not a byte")
        if is_custom(self.command) != (self.mfg_code is not None):
            raise FrameError(
                f"command {self.command:02X}: the IC mfg code goes with custom commands (A0-DF)"
            )
        for name in ("mfg_code", "afi", "dsfid", "password_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 0xFF:
                raise FrameError(f"{name} {value} is not a byte")
        if not 0 <= self.mask_length <= MAX_MASK_LENGTH:
            raise FrameError(f"mask length {self.mask_length} is beyond 64 bits")
        if not 0 <= self.mask < 1 << self.mask_length:
            raise FrameError(f"mask {self.mask:#x} is longer than {self.mask_length} bits")
        block_limit = 1 << (16 if RequestFlag.PROTOCOL_EXTENSION in self.flags else 8)
        if self.block_number is not None and not 0 <= self.block_number < block_limit:
            raise FrameError(f"block number {self.block_number} does not fit the request")
        if self.block_count is not None and not 1 <= self.block_count <= MAX_BLOCK_COUNT:
            raise FrameError(f"block count {self.block_count} is not 1-256")
        if self.password is not None and not 0 <= self.password < 1 << 32:
            raise FrameError(f"password {self.password:#x} is not 32 bits")
        if self.eas_id is not None and not 0 <= self.eas_id < 1 << 16:
            raise FrameError(f"EAS ID {self.eas_id:#x} is not 16 bits")
        for field in self.layout:
            if self._expects(field) and not self._has(field):
                raise FrameError(f"{self.name} request needs field {field.value!r}")

    @property
    def spec(self) -> CommandSpec | None:
        return BY_CODE.get(self.command)

    @property
    def name(self) -> str:
        spec = BY_CODE.get(self.command)
        return spec.name if spec else f"command_{self.command:02x}"

    @property
    def layout(self) -> tuple[Field, ...]:
        spec = BY_CODE.get(self.command)
        return spec.request if spec else UNKNOWN_REQUEST

    @property
    def inventory_mode(self) -> bool:
        return RequestFlag.INVENTORY in self.flags

    @property
    def addressed(self) -> bool:
        return not self.inventory_mode and RequestFlag.ADDRESS in self.flags

    @property
    def selected_mode(self) -> bool:
        return not self.inventory_mode and RequestFlag.SELECT in self.flags

    @property
    def option(self) -> bool:
        return RequestFlag.OPTION in self.flags

    @property
    def slots(self) -> int:
        """Inventory: 1 or 16 slots (clause 7.3.1, Nb_slots flag)."""
        return 1 if RequestFlag.ONE_SLOT in self.flags else 16

    def _expects(self, field: Field) -> bool:
        """Whether ``field`` is on the wire for these flags."""
        if field is Field.AFI_IF_FLAGGED:
            return self.inventory_mode and RequestFlag.AFI in self.flags
        if field is Field.UID_IF_ADDRESSED:
            return self.addressed
        return True

    def _has(self, field: Field) -> bool:
        match field:
            case Field.UID | Field.UID_IF_ADDRESSED:
                return self.uid is not None
            case Field.AFI_IF_FLAGGED | Field.AFI:
                return self.afi is not None
            case Field.BLOCK_NUMBER:
                return self.block_number is not None
            case Field.BLOCK_COUNT:
                return self.block_count is not None
            case Field.DSFID:
                return self.dsfid is not None
            case Field.PASSWORD_ID:
                return self.password_id is not None
            case Field.PASSWORD:
                return self.password is not None
            case Field.EAS_ID:
                return self.eas_id is not None
            case Field.MASK | Field.BLOCK_DATA:
                return True

    # Typed constructors: the requests LibEdge's readers and tests send. ``uid`` selects the
    # addressed mode, ``selected=True`` the selected mode, neither the non-addressed mode.

    @classmethod
    def inventory(
        cls,
        *,
        afi: int | None = None,
        slots: int = 16,
        mask_length: int = 0,
        mask: int = 0,
        flags: RequestFlag = DEFAULT_FLAGS,
    ) -> Request:
        if slots not in (1, 16):
            raise FrameError(f"inventory has 1 or 16 slots, not {slots}")
        flags |= RequestFlag.INVENTORY
        if slots == 1:
            flags |= RequestFlag.ONE_SLOT
        if afi is not None:
            flags |= RequestFlag.AFI
        return cls(Command.INVENTORY, flags, afi=afi, mask_length=mask_length, mask=mask)

    @classmethod
    def stay_quiet(cls, uid: Uid, *, flags: RequestFlag = DEFAULT_FLAGS) -> Request:
        return cls(Command.STAY_QUIET, flags | RequestFlag.ADDRESS, uid=uid)

    @classmethod
    def select(cls, uid: Uid, *, flags: RequestFlag = DEFAULT_FLAGS) -> Request:
        return cls(Command.SELECT, flags | RequestFlag.ADDRESS, uid=uid)

    @classmethod
    def read_single_block(cls, block_number: int, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.READ_SINGLE_BLOCK, mode, block_number=block_number)

    @classmethod
    def write_single_block(cls, block_number: int, data: bytes, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.WRITE_SINGLE_BLOCK, mode, block_number=block_number, data=data)

    @classmethod
    def lock_block(cls, block_number: int, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.LOCK_BLOCK, mode, block_number=block_number)

    @classmethod
    def read_multiple_blocks(cls, first: int, count: int, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.READ_MULTIPLE_BLOCKS, mode, block_number=first,
                          block_count=count)

    @classmethod
    def write_multiple_blocks(
        cls, first: int, blocks: list[bytes] | tuple[bytes, ...], **mode: Unpack[Mode]
    ) -> Request:
        if not blocks or len({len(block) for block in blocks}) != 1:
            raise FrameError("write multiple blocks needs one or more blocks of equal size")
        return cls._build(Command.WRITE_MULTIPLE_BLOCKS, mode, block_number=first,
                          block_count=len(blocks), data=b"".join(blocks))

    @classmethod
    def reset_to_ready(cls, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.RESET_TO_READY, mode)

    @classmethod
    def write_afi(cls, afi: int, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.WRITE_AFI, mode, afi=afi)

    @classmethod
    def lock_afi(cls, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.LOCK_AFI, mode)

    @classmethod
    def write_dsfid(cls, dsfid: int, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.WRITE_DSFID, mode, dsfid=dsfid)

    @classmethod
    def lock_dsfid(cls, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.LOCK_DSFID, mode)

    @classmethod
    def get_system_info(cls, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.GET_SYSTEM_INFO, mode)

    @classmethod
    def get_multiple_block_security_status(
        cls, first: int, count: int, **mode: Unpack[Mode]
    ) -> Request:
        return cls._build(Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS, mode,
                          block_number=first, block_count=count)

    @classmethod
    def set_eas(cls, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.SET_EAS, mode, mfg_code=MFG_NXP)

    @classmethod
    def reset_eas(cls, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.RESET_EAS, mode, mfg_code=MFG_NXP)

    @classmethod
    def lock_eas(cls, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.LOCK_EAS, mode, mfg_code=MFG_NXP)

    @classmethod
    def eas_alarm(cls, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.EAS_ALARM, mode, mfg_code=MFG_NXP)

    @classmethod
    def protect(cls, *, afi: bool, **mode: Unpack[Mode]) -> Request:
        """NXP PASSWORD PROTECT EAS/AFI: the option flag picks AFI (1) or EAS (0)."""
        mode["option"] = afi
        return cls._build(Command.PASSWORD_PROTECT_EAS_AFI, mode, mfg_code=MFG_NXP)

    @classmethod
    def write_eas_id(cls, eas_id: int, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.WRITE_EAS_ID, mode, mfg_code=MFG_NXP, eas_id=eas_id)

    @classmethod
    def get_random_number(cls, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.GET_RANDOM_NUMBER, mode, mfg_code=MFG_NXP)

    @classmethod
    def set_password(
        cls, password_id: int, password: int, random_number: int, **mode: Unpack[Mode]
    ) -> Request:
        """NXP SET PASSWORD: ``password`` in clear; the frame carries it XOR (rnd16 || rnd16)."""
        scrambled = password ^ (random_number << 16 | random_number)
        return cls._build(Command.SET_PASSWORD, mode, mfg_code=MFG_NXP,
                          password_id=password_id, password=scrambled)

    @classmethod
    def write_password(cls, password_id: int, password: int, **mode: Unpack[Mode]) -> Request:
        return cls._build(Command.WRITE_PASSWORD, mode, mfg_code=MFG_NXP,
                          password_id=password_id, password=password)

    @classmethod
    def _build(cls, command: Command, mode: Mode, **fields: object) -> Request:
        flags = mode.get("flags", DEFAULT_FLAGS)
        uid = mode.get("uid")
        if uid is not None:
            flags |= RequestFlag.ADDRESS
        if mode.get("selected"):
            flags |= RequestFlag.SELECT
        if mode.get("option"):
            flags |= RequestFlag.OPTION
        return cls(command, flags, uid=uid, **fields)  # type: ignore[arg-type]


def encode_request(request: Request, *, with_crc: bool = True) -> bytes:
    """The request's bytes on the air, with the CRC appended unless ``with_crc`` is False."""
    out = bytearray((request.flags, request.command))
    if request.mfg_code is not None:
        out.append(request.mfg_code)
    extended = RequestFlag.PROTOCOL_EXTENSION in request.flags
    for field in request.layout:
        if not request._expects(field):
            continue
        match field:
            case Field.AFI_IF_FLAGGED | Field.AFI:
                out.append(request.afi)  # type: ignore[arg-type]
            case Field.MASK:
                out.append(request.mask_length)
                out += request.mask.to_bytes((request.mask_length + 7) // 8, "little")
            case Field.UID | Field.UID_IF_ADDRESSED:
                out += request.uid.wire  # type: ignore[union-attr]
            case Field.BLOCK_NUMBER:
                out += request.block_number.to_bytes(  # type: ignore[union-attr]
                    2 if extended else 1, "little")
            case Field.BLOCK_COUNT:
                out.append(request.block_count - 1)  # type: ignore[operator]
            case Field.BLOCK_DATA:
                out += request.data
            case Field.DSFID:
                out.append(request.dsfid)  # type: ignore[arg-type]
            case Field.PASSWORD_ID:
                out.append(request.password_id)  # type: ignore[arg-type]
            case Field.PASSWORD:
                out += request.password.to_bytes(  # type: ignore[union-attr]
                    PASSWORD_LENGTH, "little")
            case Field.EAS_ID:
                out += request.eas_id.to_bytes(EAS_ID_LENGTH, "little")  # type: ignore[union-attr]
    return append_crc(bytes(out)) if with_crc else bytes(out)


def decode_request(data: bytes, *, with_crc: bool = True) -> Request:
    """One whole request frame (an air frame is delimited by SOF and EOF, so no rest)."""
    frame = bytes(data)
    if with_crc:
        if not check_crc(frame):
            raise FrameError("request CRC mismatch", frame=frame, offset=max(0, len(frame) - 2))
        body = frame[:-CRC_LENGTH]
    else:
        body = frame
    if len(body) < 2:
        raise FrameError("request shorter than flags and command", frame=frame, offset=0)
    flags = RequestFlag(body[0])
    command = body[1]
    pos = 2
    fields: dict[str, object] = {}
    if is_custom(command):
        if len(body) < 3:
            raise FrameError("custom command without IC mfg code", frame=frame, offset=2)
        fields["mfg_code"] = body[2]
        pos = 3
    spec = BY_CODE.get(command)
    layout = spec.request if spec else UNKNOWN_REQUEST
    inventory = RequestFlag.INVENTORY in flags
    extended = RequestFlag.PROTOCOL_EXTENSION in flags

    def take(count: int, what: str) -> bytes:
        nonlocal pos
        if pos + count > len(body):
            raise FrameError(f"request ends inside {what}", frame=frame, offset=pos)
        chunk = body[pos:pos + count]
        pos += count
        return chunk

    for field in layout:
        match field:
            case Field.AFI_IF_FLAGGED:
                if inventory and RequestFlag.AFI in flags:
                    fields["afi"] = take(1, "AFI")[0]
            case Field.AFI:
                fields["afi"] = take(1, "AFI")[0]
            case Field.MASK:
                length = take(1, "mask length")[0]
                if length > MAX_MASK_LENGTH:
                    raise FrameError(f"mask length {length} is beyond 64 bits", frame=frame,
                                     offset=pos - 1)
                mask = int.from_bytes(take((length + 7) // 8, "mask"), "little")
                if mask >> length:
                    raise FrameError("mask has bits set beyond its length", frame=frame,
                                     offset=pos - 1)
                fields["mask_length"] = length
                fields["mask"] = mask
            case Field.UID:
                fields["uid"] = Uid.from_wire(take(UID_LENGTH, "UID"))
            case Field.UID_IF_ADDRESSED:
                if not inventory and RequestFlag.ADDRESS in flags:
                    fields["uid"] = Uid.from_wire(take(UID_LENGTH, "UID"))
            case Field.BLOCK_NUMBER:
                fields["block_number"] = int.from_bytes(
                    take(2 if extended else 1, "block number"), "little")
            case Field.BLOCK_COUNT:
                fields["block_count"] = take(1, "block count")[0] + 1
            case Field.BLOCK_DATA:
                data = body[pos:]
                count = fields.get("block_count", 1)
                assert isinstance(count, int)
                if command in _WRITES_DATA and (not data or len(data) % count):
                    raise FrameError(f"{len(data)} data bytes do not make {count} equal blocks",
                                     frame=frame, offset=pos)
                fields["data"] = data
                pos = len(body)
            case Field.DSFID:
                fields["dsfid"] = take(1, "DSFID")[0]
            case Field.PASSWORD_ID:
                fields["password_id"] = take(1, "password id")[0]
            case Field.PASSWORD:
                fields["password"] = int.from_bytes(take(PASSWORD_LENGTH, "password"), "little")
            case Field.EAS_ID:
                fields["eas_id"] = int.from_bytes(take(EAS_ID_LENGTH, "EAS ID"), "little")
    if pos != len(body):
        raise FrameError(f"{len(body) - pos} unexpected bytes after the request", frame=frame,
                         offset=pos)
    return Request(command, flags, **fields)  # type: ignore[arg-type]


_WRITES_DATA = frozenset({Command.WRITE_SINGLE_BLOCK, Command.WRITE_MULTIPLE_BLOCKS})
