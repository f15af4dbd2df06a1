# SPDX-License-Identifier: Apache-2.0
"""The ISO/IEC 15693-3 command set and the NXP ICODE custom commands, as data.

Each :class:`CommandSpec` row gives the command code, its name, the request fields after the
flags and command byte (and the IC manufacturer code for custom commands) in wire order, the
shape of the success response, and one line of the specification. :mod:`.frames` walks these
layouts to encode and decode; nothing about a command's layout lives anywhere else.

Sources: ISO/IEC 15693-3 clause 10 as reproduced in the NXP ICODE SLIX/SLI-S and ST LRI
datasheets; NXP custom commands from the SLIX (SL2S2002) datasheet clause 9.4.3
(shared/reference/reader_protocols.md §2.2, §2.5).

Not responsible for: what a tag does with a command (the simulator), nor which tags support it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

# ISO/IEC 15693-3 clause 10.1: A0-DF are custom commands, followed by the IC manufacturer code;
# E0-FF are proprietary.
CUSTOM_FIRST = 0xA0
CUSTOM_LAST = 0xDF


def is_custom(code: int) -> bool:
    """True for custom command codes, which carry the IC manufacturer code after the command."""
    return CUSTOM_FIRST <= code <= CUSTOM_LAST


class Command(IntEnum):
    INVENTORY = 0x01
    STAY_QUIET = 0x02
    READ_SINGLE_BLOCK = 0x20
    WRITE_SINGLE_BLOCK = 0x21
    LOCK_BLOCK = 0x22
    READ_MULTIPLE_BLOCKS = 0x23
    WRITE_MULTIPLE_BLOCKS = 0x24
    SELECT = 0x25
    RESET_TO_READY = 0x26
    WRITE_AFI = 0x27
    LOCK_AFI = 0x28
    WRITE_DSFID = 0x29
    LOCK_DSFID = 0x2A
    GET_SYSTEM_INFO = 0x2B
    GET_MULTIPLE_BLOCK_SECURITY_STATUS = 0x2C
    SET_EAS = 0xA2
    RESET_EAS = 0xA3
    LOCK_EAS = 0xA4
    EAS_ALARM = 0xA5
    PASSWORD_PROTECT_EAS_AFI = 0xA6
    WRITE_EAS_ID = 0xA7
    GET_RANDOM_NUMBER = 0xB2
    SET_PASSWORD = 0xB3
    WRITE_PASSWORD = 0xB4


class Field(Enum):
    """One request field after flags, command and (custom commands only) the mfg code."""

    AFI_IF_FLAGGED = "afi?"       # 1 byte, present when the inventory AFI flag is set
    MASK = "mask"                 # mask length in bits (1 byte), then ceil(length/8) mask bytes
    UID = "uid"                   # 8 bytes LSB first, always present
    UID_IF_ADDRESSED = "uid?"     # 8 bytes LSB first, present when the address flag is set
    BLOCK_NUMBER = "block"        # 1 byte (2 bytes with the protocol extension flag)
    BLOCK_COUNT = "count-1"       # 1 byte: the number of blocks minus one
    BLOCK_DATA = "data"           # the rest of the frame: block size x count bytes
    AFI = "afi"                   # 1 byte
    DSFID = "dsfid"               # 1 byte
    PASSWORD_ID = "pwd_id"  # noqa: S105 - a field name; 01 read 02 write 04 privacy 10 EAS/AFI
    PASSWORD = "pwd"  # noqa: S105 - a field name; 4 bytes LSB first, XOR rnd16 for B3
    EAS_ID = "eas_id"             # 2 bytes LSB first


class ResponseKind(Enum):
    """The shape of a successful response (an error response looks the same for all)."""

    NONE = "none"                         # the VICC never answers
    STATUS = "status"                     # flags only
    INVENTORY = "inventory"               # flags, DSFID, UID
    BLOCKS = "blocks"                     # flags, per block: [security status], data
    SYSTEM_INFO = "system_info"           # flags, info flags, UID, [DSFID] [AFI] [memory] [IC]
    SECURITY_STATUS = "security_status"   # flags, one status byte per block
    EAS_ALARM = "eas_alarm"               # flags, the 256-bit EAS sequence
    RANDOM_NUMBER = "random_number"       # flags, 16-bit random number LSB first


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One row of the command catalogue."""

    code: int
    name: str
    request: tuple[Field, ...]   # fields in wire order
    response: ResponseKind
    spec: str

    @property
    def custom(self) -> bool:
        return is_custom(self.code)


F = Field
R = ResponseKind

COMMANDS: tuple[CommandSpec, ...] = (
    # code, name, request fields in wire order, response, spec text
    CommandSpec(0x01, "inventory", (F.AFI_IF_FLAGGED, F.MASK), R.INVENTORY,
                "anticollision: VICCs whose UID matches the mask answer in 16 slots or 1"),
    CommandSpec(0x02, "stay_quiet", (F.UID,), R.NONE,
                "addressed only; the VICC enters the quiet state and never answers"),
    CommandSpec(0x20, "read_single_block", (F.UID_IF_ADDRESSED, F.BLOCK_NUMBER), R.BLOCKS,
                "one block; option flag 1 puts the block security status byte first"),
    CommandSpec(0x21, "write_single_block",
                (F.UID_IF_ADDRESSED, F.BLOCK_NUMBER, F.BLOCK_DATA), R.STATUS,
                "one block; option flag 1 makes the VICC wait for an EOF before answering"),
    CommandSpec(0x22, "lock_block", (F.UID_IF_ADDRESSED, F.BLOCK_NUMBER), R.STATUS,
                "permanently locks one block"),
    CommandSpec(0x23, "read_multiple_blocks",
                (F.UID_IF_ADDRESSED, F.BLOCK_NUMBER, F.BLOCK_COUNT), R.BLOCKS,
                "count-1 blocks from the first; option flag 1 adds a security byte per block"),
    CommandSpec(0x24, "write_multiple_blocks",
                (F.UID_IF_ADDRESSED, F.BLOCK_NUMBER, F.BLOCK_COUNT, F.BLOCK_DATA), R.STATUS,
                "optional; ICODE SLI/SLIX do not support it and readers fall back to single"),
    CommandSpec(0x25, "select", (F.UID,), R.STATUS,
                "the addressed VICC enters the selected state; any other selected one leaves it"),
    CommandSpec(0x26, "reset_to_ready", (F.UID_IF_ADDRESSED,), R.STATUS,
                "the VICC returns to the ready state"),
    CommandSpec(0x27, "write_afi", (F.UID_IF_ADDRESSED, F.AFI), R.STATUS,
                "writes the application family identifier"),
    CommandSpec(0x28, "lock_afi", (F.UID_IF_ADDRESSED,), R.STATUS,
                "permanently locks the AFI"),
    CommandSpec(0x29, "write_dsfid", (F.UID_IF_ADDRESSED, F.DSFID), R.STATUS,
                "writes the data storage format identifier"),
    CommandSpec(0x2A, "lock_dsfid", (F.UID_IF_ADDRESSED,), R.STATUS,
                "permanently locks the DSFID"),
    CommandSpec(0x2B, "get_system_info", (F.UID_IF_ADDRESSED,), R.SYSTEM_INFO,
                "UID, and by info flags DSFID, AFI, blocks-1 and size-1, IC reference"),
    CommandSpec(0x2C, "get_multiple_block_security_status",
                (F.UID_IF_ADDRESSED, F.BLOCK_NUMBER, F.BLOCK_COUNT), R.SECURITY_STATUS,
                "one security status byte per block (b0 = locked)"),
    CommandSpec(0xA2, "set_eas", (F.UID_IF_ADDRESSED,), R.STATUS,
                "NXP: sets the EAS bit; needs the EAS/AFI password if EAS is protected"),
    CommandSpec(0xA3, "reset_eas", (F.UID_IF_ADDRESSED,), R.STATUS,
                "NXP: clears the EAS bit; needs the EAS/AFI password if EAS is protected"),
    CommandSpec(0xA4, "lock_eas", (F.UID_IF_ADDRESSED,), R.STATUS,
                "NXP: permanently locks the EAS bit"),
    CommandSpec(0xA5, "eas_alarm", (F.UID_IF_ADDRESSED,), R.EAS_ALARM,
                "NXP: with EAS set, answers the 256-bit EAS sequence; otherwise silent"),
    CommandSpec(0xA6, "password_protect_eas_afi", (F.UID_IF_ADDRESSED,), R.STATUS,
                "NXP: option 0 protects EAS, option 1 protects AFI; irreversible"),
    CommandSpec(0xA7, "write_eas_id", (F.UID_IF_ADDRESSED, F.EAS_ID), R.STATUS,
                "NXP SLIX: writes the 16-bit EAS identifier"),
    CommandSpec(0xB2, "get_random_number", (F.UID_IF_ADDRESSED,), R.RANDOM_NUMBER,
                "NXP: a 16-bit random number for SET PASSWORD"),
    CommandSpec(0xB3, "set_password", (F.UID_IF_ADDRESSED, F.PASSWORD_ID, F.PASSWORD), R.STATUS,
                "NXP: password XOR (rnd16 || rnd16); a wrong one mutes the IC until RF reset"),
    CommandSpec(0xB4, "write_password", (F.UID_IF_ADDRESSED, F.PASSWORD_ID, F.PASSWORD),
                R.STATUS, "NXP: new password, after the old one was given with SET PASSWORD"),
)

BY_CODE: dict[int, CommandSpec] = {spec.code: spec for spec in COMMANDS}

# Custom and proprietary commands this catalogue does not know: assumed addressable, the rest
# of the frame is opaque data.
UNKNOWN_REQUEST: tuple[Field, ...] = (F.UID_IF_ADDRESSED, F.BLOCK_DATA)


class PasswordId(IntEnum):
    """NXP ICODE password identifiers (SLIX/SLIX2 datasheets, SET PASSWORD)."""

    READ = 0x01
    WRITE = 0x02
    PRIVACY = 0x04
    DESTROY = 0x08
    EAS_AFI = 0x10


class ErrorCode(IntEnum):
    NOT_SUPPORTED = 0x01
    NOT_RECOGNISED = 0x02
    OPTION_NOT_SUPPORTED = 0x03
    UNKNOWN = 0x0F
    BLOCK_NOT_AVAILABLE = 0x10
    BLOCK_ALREADY_LOCKED = 0x11
    BLOCK_LOCKED = 0x12
    BLOCK_NOT_PROGRAMMED = 0x13
    BLOCK_NOT_LOCKED = 0x14


@dataclass(frozen=True, slots=True)
class ErrorCodeSpec:
    code: int
    name: str
    spec: str


# ISO/IEC 15693-3 Table 7 (via FEIG CPR manual Annex C1 and ST M24LR64 datasheet).
ERROR_CODES: tuple[ErrorCodeSpec, ...] = (
    ErrorCodeSpec(0x01, "not_supported", "the command is not supported"),
    ErrorCodeSpec(0x02, "not_recognised", "the command is not recognised, e.g. a format error"),
    ErrorCodeSpec(0x03, "option_not_supported", "the command option is not supported"),
    ErrorCodeSpec(0x0F, "unknown", "error with no information given or a specific error code"),
    ErrorCodeSpec(0x10, "block_not_available", "the specified block is not available"),
    ErrorCodeSpec(0x11, "block_already_locked", "the block is already locked, cannot lock again"),
    ErrorCodeSpec(0x12, "block_locked", "the block is locked and its content cannot be changed"),
    ErrorCodeSpec(0x13, "block_not_programmed", "the block was not successfully programmed"),
    ErrorCodeSpec(0x14, "block_not_locked", "the block was not successfully locked"),
)

ERROR_BY_CODE: dict[int, ErrorCodeSpec] = {spec.code: spec for spec in ERROR_CODES}


def error_name(code: int) -> str:
    """The catalogue name of an error code; A0-DF are custom, everything else is RFU."""
    spec = ERROR_BY_CODE.get(code)
    if spec is not None:
        return spec.name
    if is_custom(code):
        return f"custom_{code:02x}"
    return f"rfu_{code:02x}"
