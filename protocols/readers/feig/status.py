# SPDX-License-Identifier: Apache-2.0
"""FEIG status byte and ISO 15693 error tables, as data, and the failure detail of a response.

Sources: CPR manual Annex C and C1, ISC.PR101 Annex D, the Amarok79 ``FeigStatus`` enum
(reference/reader_protocols.md §1.1 "Status byte table").

``transient`` marks a status a caller may retry because the next attempt can succeed with the
same request: the tag may come back into the field, an air exchange may be clean next time.
0x03 (write error) is transient because "too far" and "noise" are its usual causes; a read-only
area gives the same code, so callers bound their retries.

Not responsible for: deciding to retry, or raising; a codec reports, the driver decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from protocols.errors import FrameError
from protocols.readers.feig.framing import FeigResponse


class Status(IntEnum):
    """STATUS byte of a reader response."""

    OK = 0x00
    NO_TRANSPONDER = 0x01
    DATA_FALSE = 0x02
    WRITE_ERROR = 0x03
    ADDRESS_ERROR = 0x04
    WRONG_TRANSPONDER_TYPE = 0x05
    AUTHENTICATION_ERROR = 0x08
    COLLISION_ERROR = 0x0B
    GENERAL_ERROR = 0x0E
    EEPROM_FAILURE = 0x10
    PARAMETER_RANGE_ERROR = 0x11
    LOGIN_REQUEST = 0x13
    LOGIN_ERROR = 0x14
    READ_PROTECT = 0x15
    WRITE_PROTECT = 0x16
    FIRMWARE_ACTIVATION_REQUIRED = 0x17
    SAM_ERROR_31 = 0x31
    SAM_ERROR_32 = 0x32
    SAM_ERROR_33 = 0x33
    SAM_ERROR_34 = 0x34
    SAM_ERROR_35 = 0x35
    SAM_ERROR_36 = 0x36
    SAM_ERROR_37 = 0x37
    UNKNOWN_COMMAND = 0x80
    LENGTH_ERROR = 0x81
    COMMAND_NOT_AVAILABLE = 0x82
    RF_COMMUNICATION_ERROR = 0x83
    RF_WARNING = 0x84
    EPC_ERROR = 0x85
    DATA_BUFFER_OVERFLOW = 0x93
    MORE_DATA = 0x94
    ISO15693_ERROR = 0x95
    ISO14443_ERROR = 0x96
    CRYPTO_PROCESSING_ERROR = 0x97
    HARDWARE_WARNING = 0xF1


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One row of the status table."""

    status: Status
    transient: bool
    meaning: str

    @property
    def name(self) -> str:
        return self.status.name


def _table(*rows: StatusEntry) -> Mapping[int, StatusEntry]:
    return MappingProxyType({row.status.value: row for row in rows})


_S = StatusEntry
STATUS_TABLE: Mapping[int, StatusEntry] = _table(
    _S(Status.OK, False, "OK"),
    _S(Status.NO_TRANSPONDER, True, "no transponder: none in field, muted, or exchange broke off"),
    _S(Status.DATA_FALSE, True, "data false: CRC, parity or framing error in data received on air"),
    _S(Status.WRITE_ERROR, True, "write error (read-only area, too far, noise); DATA is DB_ADR-E"),
    _S(Status.ADDRESS_ERROR, False, "address error: block beyond the tag or the configured memory"),
    _S(Status.WRONG_TRANSPONDER_TYPE, False, "wrong transponder type: command not applicable"),
    _S(Status.AUTHENTICATION_ERROR, False, "authentication error"),
    _S(Status.COLLISION_ERROR, True, "collision error"),
    _S(Status.GENERAL_ERROR, False, "general error: the tag answered with an undefined error"),
    _S(Status.EEPROM_FAILURE, False, "EEPROM failure, or EE-init mode after a firmware update"),
    _S(Status.PARAMETER_RANGE_ERROR, False, "parameter range error"),
    _S(Status.LOGIN_REQUEST, False, "login request (ISC)"),
    _S(Status.LOGIN_ERROR, False, "login error (ISC)"),
    _S(Status.READ_PROTECT, False, "read protect (ISC)"),
    _S(Status.WRITE_PROTECT, False, "write protect (ISC)"),
    _S(Status.FIRMWARE_ACTIVATION_REQUIRED, False, "firmware activation required (ISC)"),
    _S(Status.SAM_ERROR_31, False, "SAM error 0x31 (detail not in the reference)"),
    _S(Status.SAM_ERROR_32, False, "SAM error 0x32 (detail not in the reference)"),
    _S(Status.SAM_ERROR_33, False, "SAM error 0x33 (detail not in the reference)"),
    _S(Status.SAM_ERROR_34, False, "SAM error 0x34 (detail not in the reference)"),
    _S(Status.SAM_ERROR_35, False, "SAM error 0x35 (detail not in the reference)"),
    _S(Status.SAM_ERROR_36, False, "SAM error 0x36 (detail not in the reference)"),
    _S(Status.SAM_ERROR_37, False, "SAM error 0x37 (detail not in the reference)"),
    _S(Status.UNKNOWN_COMMAND, False, "unknown command"),
    _S(Status.LENGTH_ERROR, False, "length error: frame longer than RX-BUF, or wrong length"),
    _S(Status.COMMAND_NOT_AVAILABLE, False, "command not available: scan mode or BRM is active"),
    _S(Status.RF_COMMUNICATION_ERROR, True, "RF communication error: anticollision not finished"),
    _S(Status.RF_WARNING, False, "RF warning (ISC; antenna or RF level); data still delivered"),
    _S(Status.EPC_ERROR, False, "EPC error (UHF)"),
    _S(Status.DATA_BUFFER_OVERFLOW, False, "buffer overflow: too many tags, or BRM buffer full"),
    _S(Status.MORE_DATA, False, "more data: re-issue the inventory with MODE.MORE for the rest"),
    _S(Status.ISO15693_ERROR, False, "ISO 15693 error; DATA is the tag's error code [, DB_ADR-E]"),
    _S(Status.ISO14443_ERROR, False, "ISO 14443 error"),
    _S(Status.CRYPTO_PROCESSING_ERROR, False, "crypto processing error"),
    _S(Status.HARDWARE_WARNING, False, "hardware warning: firmware does not match the hardware"),
)


def status_entry(code: int) -> StatusEntry | None:
    """Row for ``code``, ``None`` for a status the table does not know."""
    return STATUS_TABLE.get(code)


def status_name(code: int) -> str:
    entry = STATUS_TABLE.get(code)
    return entry.name if entry else f"UNDOCUMENTED_0x{code:02X}"


@dataclass(frozen=True, slots=True)
class IsoErrorEntry:
    """One ISO 15693 error code relayed after status 0x95 [CPR Annex C1]."""

    code: int
    name: str
    transient: bool
    meaning: str


_I = IsoErrorEntry
ISO15693_ERRORS: Mapping[int, IsoErrorEntry] = MappingProxyType(
    {
        row.code: row
        for row in (
            _I(0x01, "COMMAND_NOT_SUPPORTED", False, "command not supported"),
            _I(0x02, "COMMAND_NOT_RECOGNISED", False, "command not recognised (format error)"),
            _I(0x03, "OPTION_NOT_SUPPORTED", False, "option not supported"),
            _I(0x0F, "UNKNOWN_ERROR", False, "unknown error (also: wrong SLIX password)"),
            _I(0x10, "BLOCK_NOT_AVAILABLE", False, "block not available"),
            _I(0x11, "BLOCK_ALREADY_LOCKED", False, "block already locked"),
            _I(0x12, "BLOCK_LOCKED", False, "block locked, content cannot change"),
            _I(0x13, "BLOCK_NOT_PROGRAMMED", True, "block not successfully programmed"),
            _I(0x14, "BLOCK_NOT_LOCKED", True, "block not successfully locked"),
        )
    }
)
ISO15693_CUSTOM_ERRORS = range(0xA0, 0xE0)


def iso_error_name(code: int) -> str:
    entry = ISO15693_ERRORS.get(code)
    if entry:
        return entry.name
    if code in ISO15693_CUSTOM_ERRORS:
        return f"CUSTOM_0x{code:02X}"
    return f"UNDOCUMENTED_0x{code:02X}"


@dataclass(frozen=True, slots=True)
class Failure:
    """What a non-OK response without command data says.

    Layouts [CPR §7.1.4, Annex C]: 0x03 write error -> ``DB_ADR-E`` (write commands only);
    0x95 ISO error -> ``ISO-ERROR [DB_ADR-E]``; every other failure status -> no data.
    """

    status: int
    iso_error: int | None = None
    failed_block: int | None = None

    def __post_init__(self) -> None:
        if self.status == Status.OK:
            raise FrameError("status 0x00 OK is not a failure")
        if not 0 <= self.status <= 0xFF:
            raise FrameError(f"status {self.status} does not fit in one byte")
        if (self.iso_error is None) != (self.status != Status.ISO15693_ERROR):
            raise FrameError("an ISO error code comes with status 0x95 and only with it")
        if self.failed_block is not None and self.status not in (
            Status.WRITE_ERROR,
            Status.ISO15693_ERROR,
        ):
            raise FrameError("a failing block address comes only with status 0x03 or 0x95")
        for name, value in (("ISO-ERROR", self.iso_error), ("DB_ADR-E", self.failed_block)):
            if value is not None and not 0 <= value <= 0xFF:
                raise FrameError(f"{name} {value} does not fit in one byte")

    @property
    def transient(self) -> bool:
        """Worth retrying unchanged: see the module docstring."""
        if self.status == Status.ISO15693_ERROR and self.iso_error is not None:
            iso = ISO15693_ERRORS.get(self.iso_error)
            return iso.transient if iso else False
        entry = STATUS_TABLE.get(self.status)
        return entry.transient if entry else False

    @property
    def name(self) -> str:
        return status_name(self.status)

    def __str__(self) -> str:
        text = f"status 0x{self.status:02X} {self.name}"
        if self.iso_error is not None:
            text += f", ISO error 0x{self.iso_error:02X} {iso_error_name(self.iso_error)}"
        if self.failed_block is not None:
            text += f", at block {self.failed_block}"
        return text

    @property
    def data(self) -> bytes:
        """DATA bytes after STATUS, as the reader sends them."""
        fields = (self.iso_error, self.failed_block)
        return bytes(value for value in fields if value is not None)

    def to_response(self, com_adr: int, command: int, *, advanced: bool = False) -> FeigResponse:
        return FeigResponse(com_adr, command, self.status, self.data, advanced)

    @classmethod
    def from_response(cls, response: FeigResponse) -> Failure:
        status, data, at = response.status, response.data, response.data_offset
        if status == Status.OK:
            raise FrameError("status 0x00 OK is not a failure", frame=response.encode())
        if status == Status.ISO15693_ERROR:
            if len(data) not in (1, 2):
                raise FrameError(
                    f"status 0x95 needs ISO-ERROR [DB_ADR-E], got {len(data)} bytes",
                    frame=response.encode(),
                    offset=at,
                )
            return cls(status, iso_error=data[0], failed_block=data[1] if len(data) == 2 else None)
        if status == Status.WRITE_ERROR and len(data) <= 1:
            return cls(status, failed_block=data[0] if data else None)
        if data:
            raise FrameError(
                f"status 0x{status:02X} {status_name(status)} carries {len(data)} unexpected bytes",
                frame=response.encode(),
                offset=at,
            )
        return cls(status)
