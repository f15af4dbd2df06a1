# SPDX-License-Identifier: Apache-2.0
"""The one exception hierarchy of the hardware layer.

Contract: everything :mod:`firmware_bridge` raises on purpose derives from :class:`BridgeError`.
Transience is a type: a caller's retry policy retries :class:`TransientError` and nothing else.
Every exception carries the data it is about (``port``, ``request``, ``timeout_s``) as attributes
and renders it in ``__str__``, so a log line names what failed and where.

Not responsible for: codec failures (those are :class:`protocols.errors.ProtocolError`; the
layer that decodes decides whether a bad frame is worth a retry) or mapping errors to HTTP
(the daemon's API layer does that in one handler).

    BridgeError
     +-- ConfigurationError        bad URL or line settings; fix the config, do not retry
     +-- PortClosed                used after close(); a programming or shutdown-order error
     +-- TransientError            worth retrying
          +-- PortUnavailable      not open right now: unplugged, not yet re-enumerated, reset
          |    +-- PortBusy        another process holds the exclusive lock (e.g. ModemManager)
          +-- ReaderTimeout        the device did not answer (or accept bytes) in time
               +-- WriteTimeout    the device stopped accepting bytes (flow stopped, wedged)
"""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error raised on purpose by :mod:`firmware_bridge`.

    ``reason`` says what went wrong; ``port`` is the configured device path or URL, if known.
    """

    def __init__(self, reason: str, *, port: str | None = None) -> None:
        self.reason = reason
        self.port = port
        super().__init__(reason)

    def __str__(self) -> str:
        if self.port is None:
            return self.reason
        return f"{self.port}: {self.reason}"


class ConfigurationError(BridgeError):
    """A transport URL or line setting that cannot work; retrying would not help."""


class PortClosed(BridgeError):
    """The transport or endpoint was closed by its owner; it will not come back by itself."""


class TransientError(BridgeError):
    """A failure that may go away on its own; the only kind a retry policy retries."""


class PortUnavailable(TransientError):
    """The port is not open right now (unplugged, re-enumerating, being reopened).

    ``cause`` is the last low-level error seen on the port, rendered after the reason.
    """

    def __init__(self, reason: str, *, port: str | None = None, cause: str | None = None) -> None:
        self.cause = cause
        super().__init__(reason, port=port)

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.cause is None else f"{text} (last error: {self.cause})"


class PortBusy(PortUnavailable):
    """Another process holds the port's exclusive lock.

    Transient because a modem prober (ModemManager) grabs freshly plugged ``ttyACM`` devices for a
    few seconds; persistent when a second daemon or a terminal program is attached. Find the
    holder with ``fuser <port>``.
    """


class ReaderTimeout(TransientError):
    """No answer within ``timeout_s``.

    ``request`` is the frame that went unanswered (empty when unknown); it renders as hex so the
    log line can be compared with a wire capture.
    """

    def __init__(
        self,
        reason: str,
        *,
        port: str | None = None,
        timeout_s: float,
        request: bytes = b"",
    ) -> None:
        self.timeout_s = timeout_s
        self.request = request
        super().__init__(reason, port=port)

    def __str__(self) -> str:
        text = f"{super().__str__()} within {self.timeout_s:.3f} s"
        if self.request:
            text += f" (request {self.request[:32].hex(' ').upper()}"
            text += " ...)" if len(self.request) > 32 else ")"
        return text


class WriteTimeout(ReaderTimeout):
    """The device did not accept all bytes of a write in time (flow stopped or wedged reader).

    ``sent`` is how many bytes of ``request`` did go out; the device has seen a truncated frame.
    """

    def __init__(
        self,
        reason: str,
        *,
        port: str | None = None,
        timeout_s: float,
        request: bytes = b"",
        sent: int = 0,
    ) -> None:
        self.sent = sent
        super().__init__(reason, port=port, timeout_s=timeout_s, request=request)

    def __str__(self) -> str:
        return f"{super().__str__()}, {self.sent} of {len(self.request)} bytes sent"
