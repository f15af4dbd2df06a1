# SPDX-License-Identifier: Apache-2.0
"""Stream reassembly shared by every reader wire protocol.

A serial line delivers bytes, not frames: a read may hold half a frame, three frames, or line
noise in between. Each protocol module supplies one ``decode(data) -> (frame, rest)`` function
that either returns the first frame and the unconsumed bytes untouched, raises
:class:`NeedMoreData` when ``data`` is a valid *prefix* of a frame, or raises
:class:`~protocols.errors.FrameError` when ``data`` does not start with a frame. It also supplies
``next_header(data, start) -> int``: the index of the next byte at or after ``start`` that could
begin a frame (``len(data)`` when none).

:class:`Reassembler` turns those two functions into a byte-stream consumer that never drops more
than the garbage in front of the next plausible header:

    buffer: [garbage ...][header ... frame ...][header ... partial]
             ^ dropped    ^ yielded             ^ kept until more bytes arrive

Recovery cases: (1) garbage before a frame is dropped up to the next plausible header; (2) a
header followed by a bad checksum drops only that header byte and searches again, so a real frame
that starts inside the rejected one is still found; (3) a prefix that could still become a frame is
kept; (4) a buffer that grows beyond ``max_buffer`` without producing a frame is cut to its last
plausible header, so a stuck stream cannot exhaust memory.

Not responsible for: timeouts (the caller owns the clock and calls
:meth:`Reassembler.expire_partial` after an inter-byte timeout) or matching responses to requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from protocols.errors import FrameError, ProtocolError

FrameT = TypeVar("FrameT")


class NeedMoreData(ProtocolError):
    """The bytes so far are a valid beginning of a frame; wait for more."""


Decoder = Callable[[bytes], tuple[FrameT, bytes]]
HeaderFinder = Callable[[bytes, int], int]


@dataclass
class Reassembler(Generic[FrameT]):
    """Feed bytes in, get whole frames out; counts what it had to throw away."""

    decode: Decoder[FrameT]
    next_header: HeaderFinder
    max_buffer: int = 4096
    buffer: bytearray = field(default_factory=bytearray)
    garbage_bytes: int = 0
    bad_frames: int = 0
    last_error: FrameError | None = None

    def feed(self, data: bytes) -> list[FrameT]:
        """Append ``data`` and return every complete frame now in the buffer, in order."""
        self.buffer += data
        frames: list[FrameT] = []
        while self.buffer:
            start = self.next_header(bytes(self.buffer), 0)
            if start:
                self._drop(start)
                continue
            try:
                frame, rest = self.decode(bytes(self.buffer))
            except NeedMoreData:
                if len(self.buffer) > self.max_buffer:
                    self._drop(max(1, self.next_header(bytes(self.buffer), 1)))
                    continue
                break
            except FrameError as exc:
                self.bad_frames += 1
                self.last_error = exc
                self._drop(max(1, self.next_header(bytes(self.buffer), 1)))
                continue
            frames.append(frame)
            del self.buffer[: len(self.buffer) - len(rest)]
        return frames

    def expire_partial(self) -> list[FrameT]:
        """After an inter-byte timeout: the frame at the head of the buffer will never complete.

        Only its header byte is dropped; what followed is searched again, so a real frame that
        arrived behind a noise byte looking like a long length field is not lost.
        """
        if not self.buffer:
            return []
        self._drop(max(1, self.next_header(bytes(self.buffer), 1)))
        return self.feed(b"")

    def discard_partial(self) -> int:
        """Throw away a partial frame (after an inter-byte timeout); returns bytes dropped."""
        dropped = len(self.buffer)
        self._drop(dropped)
        return dropped

    def _drop(self, count: int) -> None:
        self.garbage_bytes += count
        del self.buffer[:count]
