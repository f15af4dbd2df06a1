# SPDX-License-Identifier: Apache-2.0
"""ISO/IEC 15693 air interface: CRC, flags, UIDs, request/response frames, air-time model.

Contract: pure functions and frozen dataclasses; bad bytes raise
:class:`~protocols.errors.FrameError` naming what and where. Used by the reader drivers (to
build the requests they tunnel through a reader) and by the simulator's virtual tags.

Not responsible for: any reader's framing, any tag's behaviour, or I/O.
"""

from protocols.iso15693.afi import afi_matches
from protocols.iso15693.commands import (
    BY_CODE,
    COMMANDS,
    ERROR_BY_CODE,
    ERROR_CODES,
    Command,
    CommandSpec,
    ErrorCode,
    ErrorCodeSpec,
    Field,
    PasswordId,
    ResponseKind,
    error_name,
    is_custom,
)
from protocols.iso15693.crc import append_crc, check_crc, crc16
from protocols.iso15693.flags import DEFAULT_FLAGS, NO_RESPONSE_FLAGS, RequestFlag, ResponseFlag
from protocols.iso15693.request import Mode, Request, decode_request, encode_request
from protocols.iso15693.response import (
    EAS_SEQUENCE_LENGTH,
    BlocksResponse,
    EasAlarmResponse,
    ErrorResponse,
    InventoryResponse,
    RandomNumberResponse,
    RawResponse,
    Response,
    SecurityStatusResponse,
    StatusResponse,
    SystemInfoResponse,
    decode_response,
    encode_response,
)
from protocols.iso15693.uid import MANUFACTURERS, MFG_NXP, MFG_ST, MFG_TI, Uid

__all__ = [
    "BY_CODE", "COMMANDS", "DEFAULT_FLAGS", "EAS_SEQUENCE_LENGTH", "ERROR_BY_CODE",
    "ERROR_CODES", "MANUFACTURERS", "MFG_NXP", "MFG_ST", "MFG_TI", "NO_RESPONSE_FLAGS",
    "BlocksResponse", "Command", "CommandSpec", "EasAlarmResponse", "ErrorCode",
    "ErrorCodeSpec", "ErrorResponse", "Field", "InventoryResponse", "Mode", "PasswordId",
    "RandomNumberResponse", "RawResponse", "Request", "RequestFlag", "Response",
    "ResponseFlag", "ResponseKind", "SecurityStatusResponse", "StatusResponse",
    "SystemInfoResponse", "Uid", "afi_matches", "append_crc", "check_crc", "crc16",
    "decode_request", "decode_response", "encode_request", "encode_response", "error_name",
    "is_custom",
]
