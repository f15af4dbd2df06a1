# SPDX-License-Identifier: Apache-2.0
"""FEIG [0xB1] custom commands for NXP ICODE SLI tags: EAS and passwords.

Request DATA: MFR (0x04 NXP), command, MODE, [UID], parameters [ISC.PR101 §8].

Not responsible for: other manufacturers' custom commands, or password policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from protocols.errors import FrameError
from protocols.readers.feig._wire import Cursor, RequestBody, ResponseBody, check_byte
from protocols.readers.feig.commands import Command
from protocols.readers.feig.framing import FeigRequest
from protocols.readers.feig.isohost import (
    AddressedRequest,
    Addressing,
    address_bytes,
    check_uid,
    read_address,
)
from protocols.readers.feig.status import Status

NXP = 0x04


class NxpCommand(IntEnum):
    """[0xB1] custom commands with MFR 0x04 (NXP ICODE SLI family)."""

    SET_EAS = 0xA2
    RESET_EAS = 0xA3
    LOCK_EAS = 0xA4
    EAS_ALARM = 0xA5
    GET_RANDOM_NUMBER = 0xB2
    SET_PASSWORD = 0xB3

@dataclass(frozen=True, slots=True)
class _Nxp(AddressedRequest):
    COMMAND: ClassVar[int] = Command.CUSTOM
    MFR: ClassVar[int | None] = NXP


@dataclass(frozen=True, slots=True)
class SetEas(_Nxp):
    SUB: ClassVar[int | None] = NxpCommand.SET_EAS


@dataclass(frozen=True, slots=True)
class ResetEas(_Nxp):
    SUB: ClassVar[int | None] = NxpCommand.RESET_EAS


@dataclass(frozen=True, slots=True)
class LockEas(_Nxp):
    SUB: ClassVar[int | None] = NxpCommand.LOCK_EAS


@dataclass(frozen=True, slots=True)
class EasAlarm(_Nxp):
    """[0xA5] EAS alarm: status 0x00 if an armed tag answers, 0x01 if none [ISC.PR101 §8.3]."""

    SUB: ClassVar[int | None] = NxpCommand.EAS_ALARM


@dataclass(frozen=True, slots=True)
class EasAlarmResult(ResponseBody):
    """EAS alarm outcome: 0x00 or 0x01 only, without DATA; "no alarm" is a result."""

    COMMAND: ClassVar[int] = Command.CUSTOM
    STATUSES: ClassVar[frozenset[int]] = frozenset({Status.OK, Status.NO_TRANSPONDER})
    alarm: bool

    def response_status(self) -> int:
        return Status.OK if self.alarm else Status.NO_TRANSPONDER

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        return cls(status == Status.OK)


@dataclass(frozen=True, slots=True)
class GetRandomNumber(_Nxp):
    """[0xB2] Get random number (for SET PASSWORD)."""

    SUB: ClassVar[int | None] = NxpCommand.GET_RANDOM_NUMBER


@dataclass(frozen=True, slots=True)
class RandomNumber(ResponseBody):
    COMMAND: ClassVar[int] = Command.CUSTOM
    random: int

    def __post_init__(self) -> None:
        check_byte("random number", self.random, bits=16)

    def payload(self) -> bytes:
        return self.random.to_bytes(2, "big")

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        return cls(cursor.u16("random number"))


class PasswordId(IntEnum):
    """NXP SLIX password identifiers."""

    READ = 0x01
    WRITE = 0x02
    PRIVACY = 0x04
    DESTROY = 0x08
    EAS_AFI = 0x10


@dataclass(frozen=True, slots=True)
class SetPassword(RequestBody):
    """[0xB3] Set password: PWD-ID, then the password XOR (rnd16 || rnd16), 4 bytes.

    A wrong password mutes an SLIX tag until an RF reset ([0x69]); the reader reports 0x95 0x0F.
    """

    COMMAND: ClassVar[int] = Command.CUSTOM
    MFR: ClassVar[int | None] = NXP
    SUB: ClassVar[int | None] = NxpCommand.SET_PASSWORD
    password_id: int
    xor_password: bytes
    addressing: Addressing = Addressing.SELECTED
    uid: bytes | None = None

    def __post_init__(self) -> None:
        check_uid(self.uid, self.addressing)
        check_byte("PWD-ID", self.password_id)
        if len(self.xor_password) != 4:
            raise FrameError(f"XOR password of {len(self.xor_password)} bytes, expected 4")

    @classmethod
    def masked(
        cls,
        password: bytes,
        random: int,
        password_id: int,
        *,
        addressing: Addressing = Addressing.SELECTED,
        uid: bytes | None = None,
    ) -> Self:
        """XOR ``password`` with the random number twice, as the tag expects."""
        if len(password) != 4:
            raise FrameError(f"password of {len(password)} bytes, expected 4")
        mask = random.to_bytes(2, "big") * 2
        masked = bytes(a ^ b for a, b in zip(password, mask, strict=True))
        return cls(password_id, masked, addressing, uid)

    def payload(self) -> bytes:
        head = address_bytes(self.addressing, self.uid) + bytes((self.password_id,))
        return head + self.xor_password

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        addressing, uid, _ = read_address(cursor)
        return cls(cursor.u8("PWD-ID"), cursor.take(4, "XOR password"), addressing, uid)
