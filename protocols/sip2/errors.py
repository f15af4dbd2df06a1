# SPDX-License-Identifier: Apache-2.0
"""The one exception of the SIP2 codec.

A SIP2 line carries patron barcodes, PINs and names, so :class:`Sip2Error` never quotes the
message: it names the reason, the byte offset and the field (a fixed field's name or a
two-letter variable field code), which is enough to find the fault in a capture.
"""

from __future__ import annotations

from protocols.errors import ProtocolError


class Sip2Error(ProtocolError):
    """A SIP2 message that cannot be decoded, or a value that cannot be encoded.

    ``offset`` is the byte offset in the message (``None`` when the problem is a value rather
    than a position); ``field`` names the fixed field or variable field code concerned.
    """

    def __init__(self, reason: str, *, offset: int | None = None, field: str | None = None) -> None:
        self.reason = reason
        self.offset = offset
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = "" if self.offset is None else f" at byte {self.offset}"
        named = "" if self.field is None else f" (field {self.field})"
        return f"{self.reason}{where}{named}"
