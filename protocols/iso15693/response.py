# SPDX-License-Identifier: Apache-2.0
"""VICC -> VCD response frames of ISO/IEC 15693-3 (clause 7.4).

A response on the air, least significant byte of every multi-byte field first:

    flags | error code                                   | CRC16   (error flag set)
    flags | DSFID | UID                                  | CRC16   (inventory)
    flags | per block: [security status] block data     | CRC16   (read blocks)
    flags | info | UID | [DSFID] [AFI] [n-1, size-1] [IC] | CRC16   (get system info)
    flags | status byte per block                        | CRC16   (block security status)
    flags | 256-bit EAS sequence                         | CRC16   (NXP EAS alarm)
    flags | random number (16 bits)                      | CRC16   (NXP get random number)
    flags                                                | CRC16   (everything else)

A response does not say which command it answers, so :func:`decode_response` takes the command
code, and the request when its option flag or block count shapes the answer.
:func:`encode_response` is what the simulator's tags use.

Not responsible for: mapping errors to reader status codes (each reader driver does that).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.errors import FrameError
from protocols.iso15693.commands import BY_CODE, Command, ResponseKind, error_name
from protocols.iso15693.crc import CRC_LENGTH, append_crc, check_crc
from protocols.iso15693.flags import NO_RESPONSE_FLAGS, ResponseFlag
from protocols.iso15693.request import Request
from protocols.iso15693.uid import UID_LENGTH, Uid

# NXP SLIX datasheet 9.4.3.10: "the EAS sequence (256 bits) is returned".
EAS_SEQUENCE_LENGTH = 32
# Used when the request is not at hand: every tag LibEdge meets has 4-byte blocks (§2.6).
DEFAULT_BLOCK_SIZE = 4
# Clause 10.3.10 (Get system information) information flag bits.
INFO_DSFID = 0x01
INFO_AFI = 0x02
INFO_MEMORY = 0x04
INFO_IC_REFERENCE = 0x08
# b7..b5 of the block-size byte are RFU; the size minus one is in b4..b0.
BLOCK_SIZE_MASK = 0x1F


def _check_flags(flags: ResponseFlag, *, error: bool) -> None:
    if not 0 <= flags <= 0xFF:
        raise FrameError(f"response flags {int(flags)} are not a byte")
    if (ResponseFlag.ERROR in flags) != error:
        raise FrameError("the error flag goes with ErrorResponse and nothing else")


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """Error flag set; ``code`` from ``commands.ERROR_CODES`` (or custom/RFU)."""

    code: int
    flags: ResponseFlag = ResponseFlag.ERROR

    def __post_init__(self) -> None:
        _check_flags(self.flags, error=True)
        if not 0 <= self.code <= 0xFF:
            raise FrameError(f"error code {self.code} is not a byte")

    @property
    def name(self) -> str:
        return error_name(self.code)


@dataclass(frozen=True, slots=True)
class StatusResponse:
    """Success with nothing to report (writes, locks, select, ...)."""

    flags: ResponseFlag = NO_RESPONSE_FLAGS

    def __post_init__(self) -> None:
        _check_flags(self.flags, error=False)


@dataclass(frozen=True, slots=True)
class InventoryResponse:
    dsfid: int
    uid: Uid
    flags: ResponseFlag = NO_RESPONSE_FLAGS

    def __post_init__(self) -> None:
        _check_flags(self.flags, error=False)
        if not 0 <= self.dsfid <= 0xFF:
            raise FrameError(f"DSFID {self.dsfid} is not a byte")


@dataclass(frozen=True, slots=True)
class BlocksResponse:
    """Read single/multiple blocks; ``security`` holds one status byte per block when the
    request had the option flag (b0 = locked)."""

    blocks: tuple[bytes, ...]
    security: tuple[int, ...] | None = None
    flags: ResponseFlag = NO_RESPONSE_FLAGS

    def __post_init__(self) -> None:
        _check_flags(self.flags, error=False)
        if not self.blocks or not self.blocks[0]:
            raise FrameError("a read response holds at least one non-empty block")
        if len({len(block) for block in self.blocks}) != 1:
            raise FrameError("blocks of a read response differ in size")
        if self.security is not None:
            if len(self.security) != len(self.blocks):
                raise FrameError("one security status byte per block")
            if not all(0 <= status <= 0xFF for status in self.security):
                raise FrameError("security status values are bytes")

    @property
    def data(self) -> bytes:
        return b"".join(self.blocks)


@dataclass(frozen=True, slots=True)
class SystemInfoResponse:
    """Get system information; absent parts are ``None`` (and their info flag bit is 0)."""

    uid: Uid
    dsfid: int | None = None
    afi: int | None = None
    block_count: int | None = None    # real count (sent as count-1)
    block_size: int | None = None     # bytes (sent as size-1)
    ic_reference: int | None = None
    flags: ResponseFlag = NO_RESPONSE_FLAGS

    def __post_init__(self) -> None:
        _check_flags(self.flags, error=False)
        for name in ("dsfid", "afi", "ic_reference"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 0xFF:
                raise FrameError(f"{name} {value} is not a byte")
        if (self.block_count is None) != (self.block_size is None):
            raise FrameError("block count and block size come together")
        if self.block_count is not None and not 1 <= self.block_count <= 256:
            raise FrameError(f"block count {self.block_count} is not 1-256")
        if self.block_size is not None and not 1 <= self.block_size <= BLOCK_SIZE_MASK + 1:
            raise FrameError(f"block size {self.block_size} is not 1-32")

    @property
    def info_flags(self) -> int:
        return (
            (INFO_DSFID if self.dsfid is not None else 0)
            | (INFO_AFI if self.afi is not None else 0)
            | (INFO_MEMORY if self.block_count is not None else 0)
            | (INFO_IC_REFERENCE if self.ic_reference is not None else 0)
        )


@dataclass(frozen=True, slots=True)
class SecurityStatusResponse:
    statuses: tuple[int, ...]
    flags: ResponseFlag = NO_RESPONSE_FLAGS

    def __post_init__(self) -> None:
        _check_flags(self.flags, error=False)
        if not self.statuses or not all(0 <= status <= 0xFF for status in self.statuses):
            raise FrameError("one or more security status bytes")


@dataclass(frozen=True, slots=True)
class EasAlarmResponse:
    sequence: bytes
    flags: ResponseFlag = NO_RESPONSE_FLAGS

    def __post_init__(self) -> None:
        _check_flags(self.flags, error=False)
        if len(self.sequence) != EAS_SEQUENCE_LENGTH:
            raise FrameError(f"EAS sequence has {len(self.sequence)} bytes, expected 32")


@dataclass(frozen=True, slots=True)
class RandomNumberResponse:
    random_number: int
    flags: ResponseFlag = NO_RESPONSE_FLAGS

    def __post_init__(self) -> None:
        _check_flags(self.flags, error=False)
        if not 0 <= self.random_number <= 0xFFFF:
            raise FrameError(f"random number {self.random_number} is not 16 bits")


@dataclass(frozen=True, slots=True)
class RawResponse:
    """Success of a command outside the catalogue: the bytes after the flags, undecoded."""

    payload: bytes
    flags: ResponseFlag = NO_RESPONSE_FLAGS

    def __post_init__(self) -> None:
        _check_flags(self.flags, error=False)


Response = (
    ErrorResponse | StatusResponse | InventoryResponse | BlocksResponse | SystemInfoResponse
    | SecurityStatusResponse | EasAlarmResponse | RandomNumberResponse | RawResponse
)


def encode_response(response: Response, *, with_crc: bool = True) -> bytes:
    """The response's bytes on the air, with the CRC appended unless ``with_crc`` is False."""
    out = bytearray((response.flags,))
    match response:
        case ErrorResponse(code=code):
            out.append(code)
        case StatusResponse():
            pass
        case InventoryResponse(dsfid=dsfid, uid=uid):
            out.append(dsfid)
            out += uid.wire
        case BlocksResponse(blocks=blocks, security=security):
            for index, block in enumerate(blocks):
                if security is not None:
                    out.append(security[index])
                out += block
        case SystemInfoResponse():
            out.append(response.info_flags)
            out += response.uid.wire
            if response.dsfid is not None:
                out.append(response.dsfid)
            if response.afi is not None:
                out.append(response.afi)
            if response.block_count is not None and response.block_size is not None:
                out.append(response.block_count - 1)
                out.append(response.block_size - 1)
            if response.ic_reference is not None:
                out.append(response.ic_reference)
        case SecurityStatusResponse(statuses=statuses):
            out += bytes(statuses)
        case EasAlarmResponse(sequence=sequence):
            out += sequence
        case RandomNumberResponse(random_number=random_number):
            out += random_number.to_bytes(2, "little")
        case RawResponse(payload=payload):
            out += payload
    return append_crc(bytes(out)) if with_crc else bytes(out)


def decode_response(
    command: int, data: bytes, *, request: Request | None = None, with_crc: bool = True
) -> Response:
    """The response to ``command``; ``request`` supplies the option flag and block count."""
    frame = bytes(data)
    if with_crc:
        if not check_crc(frame):
            raise FrameError("response CRC mismatch", frame=frame, offset=max(0, len(frame) - 2))
        body = frame[:-CRC_LENGTH]
    else:
        body = frame
    if not body:
        raise FrameError("response without flags", frame=frame, offset=0)
    flags = ResponseFlag(body[0])
    payload = body[1:]
    if ResponseFlag.ERROR in flags:
        if len(payload) != 1:
            raise FrameError(f"error response has {len(payload)} bytes after the flags, not 1",
                             frame=frame, offset=1)
        return ErrorResponse(payload[0], flags)
    spec = BY_CODE.get(command)
    if spec is None:
        return RawResponse(payload, flags)
    try:
        return _decode_success(spec.response, command, flags, payload, request)
    except FrameError as exc:
        raise FrameError(f"{spec.name} response: {exc.reason}", frame=frame,
                         offset=exc.offset) from None


def _need(payload: bytes, length: int, what: str) -> None:
    if len(payload) != length:
        raise FrameError(f"{what} needs {length} bytes after the flags, got {len(payload)}",
                         offset=1)


def _decode_success(
    kind: ResponseKind, command: int, flags: ResponseFlag, payload: bytes,
    request: Request | None,
) -> Response:
    option = request is not None and request.option
    match kind:
        case ResponseKind.NONE:
            raise FrameError("the command has no response", offset=0)
        case ResponseKind.STATUS:
            _need(payload, 0, "a status response")
            return StatusResponse(flags)
        case ResponseKind.INVENTORY:
            _need(payload, 1 + UID_LENGTH, "an inventory response")
            return InventoryResponse(payload[0], Uid.from_wire(payload[1:]), flags)
        case ResponseKind.BLOCKS:
            return _decode_blocks(command, flags, payload, request, option=option)
        case ResponseKind.SYSTEM_INFO:
            return _decode_system_info(flags, payload)
        case ResponseKind.SECURITY_STATUS:
            if request is not None and request.block_count is not None:
                _need(payload, request.block_count, "a security status response")
            if not payload:
                raise FrameError("no security status bytes", offset=1)
            return SecurityStatusResponse(tuple(payload), flags)
        case ResponseKind.EAS_ALARM:
            _need(payload, EAS_SEQUENCE_LENGTH, "an EAS alarm response")
            return EasAlarmResponse(payload, flags)
        case ResponseKind.RANDOM_NUMBER:
            _need(payload, 2, "a random number response")
            return RandomNumberResponse(int.from_bytes(payload, "little"), flags)


def _decode_blocks(
    command: int, flags: ResponseFlag, payload: bytes, request: Request | None, *, option: bool
) -> BlocksResponse:
    if request is not None and request.block_count is not None:
        count = request.block_count
    elif command == Command.READ_SINGLE_BLOCK:
        count = 1
    else:
        count = max(1, len(payload) // (DEFAULT_BLOCK_SIZE + option))
    stride, remainder = divmod(len(payload), count)
    if remainder or stride <= option:
        raise FrameError(f"{len(payload)} bytes do not make {count} blocks"
                         + (" with security status" if option else ""), offset=1)
    chunks = [payload[start:start + stride] for start in range(0, len(payload), stride)]
    if option:
        return BlocksResponse(tuple(chunk[1:] for chunk in chunks),
                              tuple(chunk[0] for chunk in chunks), flags)
    return BlocksResponse(tuple(chunks), None, flags)


def _decode_system_info(flags: ResponseFlag, payload: bytes) -> SystemInfoResponse:
    if len(payload) < 1 + UID_LENGTH:
        raise FrameError("system information shorter than info flags and UID", offset=1)
    info = payload[0]
    uid = Uid.from_wire(payload[1:1 + UID_LENGTH])
    rest = payload[1 + UID_LENGTH:]
    expected = (
        bool(info & INFO_DSFID) + bool(info & INFO_AFI) + 2 * bool(info & INFO_MEMORY)
        + bool(info & INFO_IC_REFERENCE)
    )
    if len(rest) != expected:
        raise FrameError(f"info flags {info:02X} announce {expected} bytes after the UID, "
                         f"got {len(rest)}", offset=1)
    values = iter(rest)
    dsfid = next(values) if info & INFO_DSFID else None
    afi = next(values) if info & INFO_AFI else None
    block_count = block_size = None
    if info & INFO_MEMORY:
        block_count = next(values) + 1
        block_size = (next(values) & BLOCK_SIZE_MASK) + 1
    ic_reference = next(values) if info & INFO_IC_REFERENCE else None
    # Info flag bits b7..b4 are RFU; they are ignored rather than rejected.
    return SystemInfoResponse(uid, dsfid, afi, block_count, block_size, ic_reference, flags)
