# SPDX-License-Identifier: Apache-2.0
"""Shared plumbing of the typed FEIG commands: a DATA cursor and the request/response bases.

Every typed command is a frozen dataclass deriving from :class:`RequestBody` or
:class:`ResponseBody`; the base turns it into a :class:`FeigRequest`/:class:`FeigResponse` and
back, checking the command byte (and the ISO sub-command) on the way in.

Not responsible for: the layouts themselves (each command module owns its own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self

import construct

from protocols.errors import FrameError
from protocols.readers.feig.framing import BROADCAST, FeigRequest, FeigResponse
from protocols.readers.feig.status import Status, status_name


class Cursor:
    """Reads DATA front to back; every error names the field and its byte offset in the frame.

    :meth:`error` points at the start of the field read last, the one a check is about.
    ``frame`` (the whole frame an error quotes) may be given as a callable, e.g. a response's
    ``encode``: it is then built only when there is an error to report, not on every decode.
    """

    __slots__ = ("_at", "_base", "_data", "_field", "_frame", "what")

    def __init__(self, data: bytes, *, what: str, frame: bytes | Callable[[], bytes] = b"",
                 base: int = 0) -> None:
        self._data = data
        self._at = 0
        self._field = 0
        self._base = base
        self._frame = frame
        self.what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._at

    def error(self, reason: str) -> FrameError:
        frame = self._frame() if callable(self._frame) else self._frame
        return FrameError(f"{self.what}: {reason}", frame=frame, offset=self._base + self._field)

    def take(self, count: int, field: str) -> bytes:
        self._field = self._at
        if count > self.remaining:
            raise self.error(f"{field} needs {count} bytes, {self.remaining} left")
        chunk = self._data[self._at : self._at + count]
        self._at += count
        return chunk

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "big")

    def layout(self, layout: construct.Construct, field: str) -> Any:
        """Parse a fixed-size construct layout (never compiled) at the cursor."""
        size = layout.sizeof()
        chunk = self.take(size, field)
        try:
            return layout.parse(chunk)
        except construct.ConstructError as exc:  # pragma: no cover - fixed layouts of whole bytes
            raise self.error(f"{field}: {exc}") from exc

    def end(self) -> None:
        self._field = self._at
        if self.remaining:
            raise self.error(f"{self.remaining} bytes left over")


def check_byte(what: str, value: int, *, bits: int = 8) -> None:
    if not 0 <= value < 1 << bits:
        raise FrameError(f"{what} {value} does not fit in {bits} bits")


class RequestBody:
    """Base of typed requests: ``COMMAND`` plus ``payload()``/``parse()`` of the DATA bytes."""

    __slots__ = ()
    COMMAND: ClassVar[int]
    #: ISO host sub-command ([0xB0]) or custom command ([0xB1]); None for control commands.
    SUB: ClassVar[int | None] = None
    #: IC manufacturer of a [0xB1] custom command.
    MFR: ClassVar[int | None] = None

    def payload(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        raise NotImplementedError

    @classmethod
    def prefix(cls) -> bytes:
        """Bytes that identify the command inside DATA (MFR, sub-command)."""
        return bytes(value for value in (cls.MFR, cls.SUB) if value is not None)

    def to_request(self, com_adr: int = BROADCAST, *, advanced: bool = False) -> FeigRequest:
        return FeigRequest(com_adr, self.COMMAND, self.prefix() + self.payload(), advanced)

    @classmethod
    def from_request(cls, request: FeigRequest) -> Self:
        prefix = cls.prefix()
        if request.command != cls.COMMAND or request.data[: len(prefix)] != prefix:
            raise FrameError(
                f"{cls.__name__}: not a [0x{cls.COMMAND:02X}] {prefix.hex(' ').upper()} request",
                frame=request.encode(),
                offset=request.data_offset - 1,
            )
        cursor = Cursor(
            request.data[len(prefix) :],
            what=cls.__name__,
            frame=request.encode,  # quoted only if the DATA turn out to be wrong
            base=request.data_offset + len(prefix),
        )
        body = cls.parse(cursor)
        cursor.end()
        return body


class ResponseBody:
    """Base of typed responses: ``COMMAND`` plus ``payload()``/``parse()`` of DATA after STATUS."""

    __slots__ = ()
    COMMAND: ClassVar[int]
    #: Statuses whose DATA follow this layout; any other status is a :class:`Failure`.
    STATUSES: ClassVar[frozenset[int]] = frozenset({Status.OK})

    def payload(self) -> bytes:
        raise NotImplementedError

    def response_status(self) -> int:
        return Status.OK

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        raise NotImplementedError

    def to_response(self, com_adr: int = 0, *, advanced: bool = False) -> FeigResponse:
        return FeigResponse(com_adr, self.COMMAND, self.response_status(), self.payload(), advanced)

    @classmethod
    def from_response(cls, response: FeigResponse, request: FeigRequest | None = None) -> Self:
        if response.command != cls.COMMAND:
            raise FrameError(
                f"{cls.__name__}: response to [0x{response.command:02X}], "
                f"expected [0x{cls.COMMAND:02X}]",
                frame=response.encode(),
                offset=response.data_offset - 2,
            )
        if response.status not in cls.STATUSES:
            raise FrameError(
                f"{cls.__name__}: status 0x{response.status:02X} {status_name(response.status)} "
                "carries no such data (decode it as a Failure)",
                frame=response.encode(),
                offset=response.data_offset - 1,
            )
        # The frame is re-encoded (a CRC over all of it) only to quote it in an error.
        cursor = Cursor(response.data, what=cls.__name__, frame=response.encode,
                        base=response.data_offset)
        body = cls.parse(cursor, response.status, request)
        cursor.end()
        return body
