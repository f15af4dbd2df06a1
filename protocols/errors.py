# SPDX-License-Identifier: Apache-2.0
"""The one exception hierarchy of the codec layer."""

from __future__ import annotations


class ProtocolError(Exception):
    """Root of every error raised by :mod:`protocols`."""


class TagFormatError(ProtocolError):
    """Tag memory that cannot be decoded, or a value that cannot be encoded.

    ``offset`` is the byte offset in the memory image where the problem was found (``None`` for
    encoder errors that concern a value rather than a position).
    """

    def __init__(self, reason: str, *, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.offset is None:
            return self.reason
        return f"at byte {self.offset}: {self.reason}"


class FrameError(ProtocolError):
    """A reader or air-interface frame that cannot be decoded or encoded.

    ``offset`` is the byte offset within the frame; ``frame`` the bytes that were examined.
    """

    def __init__(self, reason: str, *, frame: bytes = b"", offset: int | None = None) -> None:
        self.reason = reason
        self.frame = frame
        self.offset = offset
        super().__init__(str(self))

    def __str__(self) -> str:
        where = "" if self.offset is None else f" at byte {self.offset}"
        shown = f" in frame {self.frame.hex(' ').upper()}" if self.frame else ""
        return f"{self.reason}{where}{shown}"
