# SPDX-License-Identifier: Apache-2.0
"""FEIG timers and the response timeout a host should allow per command.

Serial time is bytes x bits per character / baud: 38400 baud 8E1 is 11 bits per character,
3491 bytes/s, 0.286 ms per byte [reference §3.2, VERIFIED arithmetic]. Air-time figures come from
the ISO 15693 model of reference §3.1 (an [INFERRED] model, not a measurement).

Not responsible for: waiting (the session in firmware_bridge owns the clock).
"""

from __future__ import annotations

from protocols.readers.feig import brm, commands, isohost
from protocols.readers.feig._wire import RequestBody
from protocols.readers.feig.blocks import (
    GetMultipleBlockSecurityStatus,
    LockMultipleBlocks,
    ReadMultipleBlocks,
    WriteMultipleBlocks,
)
from protocols.readers.feig.catalogue import COMMANDS, key_of
from protocols.readers.feig.framing import FeigRequest

#: "CPR default: 38400 baud, 8 data bits, even parity, 1 stop bit" [CPR §4.2].
DEFAULT_BAUD = 38400
#: start + 8 data + parity + stop.
BITS_PER_CHAR_8E1 = 11
#: "After the last byte of a response, the host must leave a gap of at least 5 ms" (PSST).
PSST_S = 0.005
#: "Within one host->reader frame, characters must follow each other within 12 ms."
INTER_CHARACTER_TIMEOUT_S = 0.012
#: "TR-RESPONSE-TIME: the maximum duration of a transponder command. CFG1 bytes 6-7 default to
#: 0x000A, i.e. 1 s (units of 100 ms)." Status 0x01 when it expires.
TR_RESPONSE_TIME_S = 1.0
#: "[0x69] RF reset: the field is off for t_rf = 15 ms"; also done before every ONT=0 inventory.
RF_RESET_S = 0.015
#: Anticollision air time per tag: 466 ms for 50 tags in the 16-slot Monte-Carlo model (§3.1).
INVENTORY_PER_TAG_S = 0.010
#: Read multiple blocks: 8 blocks with security status take 17.7 ms of air time (§3.1).
READ_PER_BLOCK_S = 0.0025
#: Write single block, addressed, 20 ms write time: 26.2 ms (§3.1); the reader may write singly.
WRITE_PER_BLOCK_S = 0.0262
#: "FTDI's default latency timer is 16 ms"; paid once each way (§3.3).
USB_LATENCY_S = 0.016
#: Block size assumed when sizing a read response before DB-SIZE is known (8 covers ICODE/ST/TI).
ASSUMED_BLOCK_SIZE = 8
#: Bytes per BRM record assumed before TR-DATA is known (UID, timer, date, antenna, margin).
ASSUMED_BRM_RECORD_BYTES = 32
#: Frame overhead of a response: advanced header (5) + STATUS + CRC (2).
RESPONSE_OVERHEAD = 8
INVENTORY_RECORD_BYTES = 10


def frame_time_s(
    n_bytes: int, baud: int = DEFAULT_BAUD, bits_per_char: int = BITS_PER_CHAR_8E1
) -> float:
    """Seconds the serial line needs for ``n_bytes``."""
    if n_bytes < 0 or baud <= 0 or bits_per_char <= 0:
        raise ValueError(f"frame_time_s({n_bytes}, baud={baud}, bits_per_char={bits_per_char})")
    return n_bytes * bits_per_char / baud


def command_timeout_s(
    request: FeigRequest,
    *,
    tags: int = isohost.MAX_RECORDS_STANDARD_FRAME,
    blocks: int | None = None,
    baud: int = DEFAULT_BAUD,
    bits_per_char: int = BITS_PER_CHAR_8E1,
    tr_response_time_s: float = TR_RESPONSE_TIME_S,
    body: RequestBody | None = None,
) -> float:
    """How long to wait for the response to ``request``.

    TR-RESPONSE-TIME, plus the serial time of the request and of the largest expected response,
    plus USB latency both ways, plus per-tag (inventory), per-block (read/write/lock/security)
    and NTFC time. ``tags`` is how many tags the inventory may report; ``blocks`` overrides
    the DB-N of the request. A command outside the catalogue gets the base time. ``body`` is
    the typed request ``request`` was built from, when the caller holds it: given, the request
    is not parsed back (a driver times every exchange, the gate's alarm among them).
    """
    if tags < 0 or (blocks is not None and blocks < 0):
        raise ValueError(f"tags={tags}, blocks={blocks}: counts are not negative")
    response_bytes = RESPONSE_OVERHEAD + 16
    work_s = 0.0
    if body is None and key_of(request) in COMMANDS:
        body = COMMANDS[key_of(request)].request.from_request(request)
    if isinstance(body, isohost.Inventory):
        ntfc = body.notification_time_100ms or 0
        work_s = RF_RESET_S + tags * INVENTORY_PER_TAG_S + ntfc * isohost.NTFC_TIME_UNIT_S
        response_bytes = RESPONSE_OVERHEAD + 1 + tags * INVENTORY_RECORD_BYTES
    elif isinstance(body, ReadMultipleBlocks | GetMultipleBlockSecurityStatus):
        count = body.block_count if blocks is None else blocks
        work_s = count * READ_PER_BLOCK_S
        response_bytes = RESPONSE_OVERHEAD + 2 + count * (1 + ASSUMED_BLOCK_SIZE)
    elif isinstance(body, WriteMultipleBlocks | LockMultipleBlocks):
        count = body.block_count if blocks is None else blocks
        work_s = count * WRITE_PER_BLOCK_S
    elif isinstance(body, commands.RfReset | commands.CpuReset):
        work_s = RF_RESET_S
    elif isinstance(body, brm.ReadBuffer):
        response_bytes = RESPONSE_OVERHEAD + 4 + body.data_sets * ASSUMED_BRM_RECORD_BYTES
    serial_s = frame_time_s(len(request) + response_bytes, baud, bits_per_char)
    return tr_response_time_s + work_s + serial_s + 2 * USB_LATENCY_S
