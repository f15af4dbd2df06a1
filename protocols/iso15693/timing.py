# SPDX-License-Identifier: Apache-2.0
"""Air time of ISO/IEC 15693 exchanges, as pure functions of frame sizes.

The model (shared/reference/reader_protocols.md §3.1, ISO/IEC 15693-2 nominal values): the VCD
talks with 1-out-of-4 pulse position coding, the VICC answers on one sub-carrier at the data
rate the request's flag b2 asks for: high (the default, and all §3.1 figures) or low (every VICC
time 4x as long; the reference gives no low-rate figures, see the constants). Every time is in
seconds; sizes are bytes on the air including the CRC.

    request:   SOF | n bytes | EOF                     request_time_s(n)
    response:  t1 | SOF | n bytes | EOF                 t1 + response_time_s(n)
    16 slots:  request, then per slot either
               t1 + response + t2 + EOF (a tag or a collision) or t1 + SOF + EOF (empty)

The reference table's addressed figures (read 8 blocks 15.2 ms, writes 6.5/11.9/26.2 ms) are one
VCD byte (0.30 ms) shorter than this model gives: they count one request byte fewer than the
frames in tests/vectors/reader_frames.json hold (#105 is 14 bytes). The inventory, EAS and
non-addressed figures agree exactly. Tests allow one VCD byte of tolerance and say why.

Not responsible for: reader firmware overhead, RF resets or the serial link (§3.2-3.3); the
reader front-ends add those.
"""

from __future__ import annotations

from protocols.iso15693.crc import CRC_LENGTH
from protocols.iso15693.uid import UID_LENGTH

# ISO/IEC 15693-2 clause 6: "The frequency fc of the RF operating field is 13.56 MHz +/- 7 kHz."
FC_HZ = 13.56e6

# ISO/IEC 15693-2 clause 7.2.1, 1 out of 4: "two bits are coded in a time period of 75.52 us"
# (1024/fc, 26.48 kbit/s); SOF takes the same 75.52 us and EOF half of it.
VCD_BIT_PAIR_S = 1024 / FC_HZ
VCD_BYTE_S = 4 * VCD_BIT_PAIR_S
VCD_SOF_S = 1024 / FC_HZ
VCD_EOF_S = 512 / FC_HZ

# ISO/IEC 15693-2 clause 8.3, high data rate, one sub-carrier: one bit lasts 37.76 us (512/fc);
# SOF and EOF each last 151.04 us (2048/fc).
VICC_BIT_S = 512 / FC_HZ
VICC_BYTE_S = 8 * VICC_BIT_S
VICC_SOF_S = 2048 / FC_HZ
VICC_EOF_S = 2048 / FC_HZ

# ISO/IEC 15693-2 clause 8.3, low data rate (6.62 kbit/s, fc/2048), one sub-carrier: "For the
# low data rate, same sub-carrier frequency or frequencies shall be used, in this case the
# number of pulses shall be multiplied by 4": one bit lasts 151.04 us (2048/fc), SOF and EOF
# 604.13 us (8192/fc). [INFERRED: recalled from the standard, like the high-rate values; the
# reference note (§2.1 flag b2, §3.1) states only the high rate.] t1 and t2 do not depend on it.
LOW_RATE_FACTOR = 4
VICC_BIT_LOW_S = LOW_RATE_FACTOR * VICC_BIT_S
VICC_BYTE_LOW_S = 8 * VICC_BIT_LOW_S
VICC_SOF_LOW_S = LOW_RATE_FACTOR * VICC_SOF_S
VICC_EOF_LOW_S = LOW_RATE_FACTOR * VICC_EOF_S

# ISO/IEC 15693-3 clause 9.1: "t1 nom = 4352/fc (320.9 us)": the VICC starts answering after t1.
T1_S = 4352 / FC_HZ
# Clause 9.2: "t2 >= 4192/fc (309 us)": the VCD waits t2 after a reply before the next EOF/SOF.
T2_S = 4192 / FC_HZ
# Clause 9.3: with no reply, the VCD may send the next EOF once it has seen no SOF after t1.
EMPTY_SLOT_S = T1_S + VICC_SOF_S + VCD_EOF_S
EMPTY_SLOT_LOW_S = T1_S + VICC_SOF_LOW_S + VCD_EOF_S

# Writes, option flag 0: "the VICC answers after t1 plus multiples of 4096/fc" (302 us)
# "at most about 20 ms" (§2.7). ST M24LR64/LRIS64K: Wt = t1nom + 18 x 302 us = 5.76 ms.
WRITE_POLL_S = 4096 / FC_HZ
WRITE_TIME_ST_S = T1_S + 18 * WRITE_POLL_S
WRITE_TIME_MAX_S = 20e-3
# Writes, option flag 1 (TI Tag-it): the VCD sends an EOF after a delay and the VICC answers
# t1 after it; the TI EVM firmware waits 20 ms, the 3M reader about 10 ms (§2.7).
OPTION_EOF_DELAY_S = 20e-3

# Frame sizes with CRC: flags, command, mask length (+ AFI) | flags, DSFID, UID.
INVENTORY_REQUEST_BYTES = 3 + CRC_LENGTH
INVENTORY_REPLY_BYTES = 2 + UID_LENGTH + CRC_LENGTH
STATUS_REPLY_BYTES = 1 + CRC_LENGTH


def request_time_s(n_bytes: int) -> float:
    """A VCD request of ``n_bytes`` (CRC included): SOF, the bytes, EOF."""
    return VCD_SOF_S + n_bytes * VCD_BYTE_S + VCD_EOF_S


def response_time_s(n_bytes: int, *, high_rate: bool = True) -> float:
    """A VICC response of ``n_bytes`` (CRC included): SOF, the bytes, EOF; t1 not included."""
    if high_rate:
        return VICC_SOF_S + n_bytes * VICC_BYTE_S + VICC_EOF_S
    return VICC_SOF_LOW_S + n_bytes * VICC_BYTE_LOW_S + VICC_EOF_LOW_S


def exchange_time_s(
    request_bytes: int, response_bytes: int | None, *, processing_s: float = T1_S,
    high_rate: bool = True,
) -> float:
    """Request, then the VICC's answer after ``processing_s`` (t1 or a write time); with no
    answer the VCD knows after t1 plus a SOF's length."""
    if response_bytes is None:
        answer = VICC_SOF_S if high_rate else VICC_SOF_LOW_S
    else:
        answer = response_time_s(response_bytes, high_rate=high_rate)
    return request_time_s(request_bytes) + max(processing_s, T1_S) + answer


def slot_time_s(reply_bytes: int | None, *, high_rate: bool = True) -> float:
    """One slot of a 16-slot round: a reply (or a collision as long as one) or an empty slot."""
    if reply_bytes is None:
        return EMPTY_SLOT_S if high_rate else EMPTY_SLOT_LOW_S
    return T1_S + response_time_s(reply_bytes, high_rate=high_rate) + T2_S + VCD_EOF_S


def inventory_round_time_s(
    slots: int,
    replies: int,
    collisions: int,
    *,
    request_bytes: int = INVENTORY_REQUEST_BYTES,
    reply_bytes: int = INVENTORY_REPLY_BYTES,
    high_rate: bool = True,
) -> float:
    """One inventory request with its slots: ``replies`` slots with one tag, ``collisions``
    with several (as long as one reply), the rest empty."""
    if slots not in (1, 16):
        raise ValueError(f"an inventory round has 1 or 16 slots, not {slots}")
    if replies < 0 or collisions < 0 or replies + collisions > slots:
        raise ValueError(f"{replies} replies and {collisions} collisions in {slots} slots")
    if slots == 1:
        return exchange_time_s(request_bytes, reply_bytes if replies + collisions else None,
                               high_rate=high_rate)
    busy = replies + collisions
    return (request_time_s(request_bytes) + busy * slot_time_s(reply_bytes, high_rate=high_rate)
            + (slots - busy) * slot_time_s(None, high_rate=high_rate))


def _request_bytes(*, addressed: bool, parameters: int, custom: bool = False) -> int:
    return 2 + custom + (UID_LENGTH if addressed else 0) + parameters + CRC_LENGTH


def read_multiple_time_s(
    n_blocks: int, with_security: bool, *, addressed: bool = True, block_size: int = 4
) -> float:
    """READ MULTIPLE BLOCKS of ``n_blocks``; ``with_security`` = option flag 1."""
    request = _request_bytes(addressed=addressed, parameters=2)
    response = 1 + n_blocks * (block_size + with_security) + CRC_LENGTH
    return exchange_time_s(request, response)


def write_time_s(
    n_blocks: int = 1,
    *,
    addressed: bool = True,
    block_size: int = 4,
    programming_s: float = WRITE_TIME_ST_S,
    option: bool = False,
    eof_delay_s: float = OPTION_EOF_DELAY_S,
) -> float:
    """WRITE SINGLE BLOCK (``n_blocks`` = 1) or WRITE MULTIPLE BLOCKS, with ``programming_s``
    per block; ``option`` = option flag 1, where the VCD's EOF after ``eof_delay_s`` releases
    the answer."""
    parameters = 1 + (n_blocks > 1) + n_blocks * block_size
    request = _request_bytes(addressed=addressed, parameters=parameters)
    if option:
        wait = max(eof_delay_s, n_blocks * programming_s) + VCD_EOF_S + T1_S
    else:
        wait = n_blocks * programming_s
    return exchange_time_s(request, STATUS_REPLY_BYTES, processing_s=wait)
