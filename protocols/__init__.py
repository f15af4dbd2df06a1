# SPDX-License-Identifier: Apache-2.0
"""Pure codecs: bytes <-> typed values.

Contract: every decoder takes ``bytes`` and returns frozen dataclasses, or raises a subclass of
:class:`ProtocolError` that names what was wrong and where. Nothing here performs I/O, reads a
clock, starts an event loop or configures logging; callers own all of that.
"""

from protocols.errors import FrameError, ProtocolError, TagFormatError

__all__ = ["FrameError", "ProtocolError", "TagFormatError"]
