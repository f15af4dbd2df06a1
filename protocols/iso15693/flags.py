# SPDX-License-Identifier: Apache-2.0
"""Request and response flag bytes of ISO/IEC 15693-3 (clause 7.3.1 and 7.4.1).

Bits 5 and 6 of the request flags mean different things depending on the inventory flag, so
each has two names: ``SELECT``/``AFI`` and ``ADDRESS``/``ONE_SLOT``. Callers pick the name that
fits the request; the value is the same.

Not responsible for: deciding which flags a command may carry (see :mod:`.frames`).
"""

from __future__ import annotations

from enum import IntFlag


class RequestFlag(IntFlag):
    """ISO/IEC 15693-3 Tables 3-5: the first byte of every VCD request (b1 = 0x01)."""

    SUB_CARRIER = 0x01          # 0 = one sub-carrier, 1 = two
    DATA_RATE = 0x02            # 1 = high data rate (26.48 kbit/s)
    INVENTORY = 0x04            # selects the meaning of bits 5 and 6
    PROTOCOL_EXTENSION = 0x08   # block numbers take two bytes
    SELECT = 0x10               # inventory = 0: only the VICC in the selected state answers
    ADDRESS = 0x20              # inventory = 0: the UID follows, only that VICC answers
    OPTION = 0x40               # meaning defined per command
    RFU = 0x80
    AFI = 0x10                  # inventory = 1: the AFI byte follows
    ONE_SLOT = 0x20             # inventory = 1: 1 slot instead of 16


# The usual flags of this project's readers: high data rate, one sub-carrier.
DEFAULT_FLAGS = RequestFlag.DATA_RATE


class ResponseFlag(IntFlag):
    """ISO/IEC 15693-3 Table 6: the first byte of every VICC response."""

    ERROR = 0x01                # an error code byte follows
    RFU_1 = 0x02
    RFU_2 = 0x04
    EXTENSION = 0x08            # protocol format is extended
    RFU_4 = 0x10
    RFU_5 = 0x20
    RFU_6 = 0x40
    RFU_7 = 0x80


# A successful response with no flag set, the usual case.
NO_RESPONSE_FLAGS = ResponseFlag(0)
