# SPDX-License-Identifier: Apache-2.0
"""Hardware I/O: serial transport, reader drivers behind one interface, hardware simulators.

Contract: bytes move through :class:`SerialTransport` (a pipe, without caring about the data);
drivers turn the reader interface into protocol frames from :mod:`protocols`; simulators serve
the same protocols on a real pseudo-terminal. Not responsible for: persistence, MQTT, the API or
any decision about items (that is the daemon's).
"""

from firmware_bridge.errors import (
    BridgeError,
    ConfigurationError,
    PortBusy,
    PortClosed,
    PortUnavailable,
    ReaderTimeout,
    TransientError,
    WriteTimeout,
)
from firmware_bridge.pty import PtyEndpoint, WireFaults
from firmware_bridge.reader import (
    Capability,
    HealthCounters,
    InputState,
    OutputPulse,
    Reader,
    ReaderFault,
    ReaderInfo,
    SecurityState,
    TagNotResponding,
    TagRefused,
    TagSighting,
    TagSystemInfo,
    TransientReaderFault,
    Unsupported,
    VerificationFailed,
)
from firmware_bridge.security import PRESETS as SECURITY_PRESETS
from firmware_bridge.security import SecurityScheme
from firmware_bridge.transport import LineSettings, SerialTransport
from firmware_bridge.wiretap import TRACE, Direction

__all__ = [
    "SECURITY_PRESETS",
    "TRACE",
    "BridgeError",
    "Capability",
    "ConfigurationError",
    "Direction",
    "HealthCounters",
    "InputState",
    "LineSettings",
    "OutputPulse",
    "PortBusy",
    "PortClosed",
    "PortUnavailable",
    "PtyEndpoint",
    "Reader",
    "ReaderFault",
    "ReaderInfo",
    "ReaderTimeout",
    "SecurityScheme",
    "SecurityState",
    "SerialTransport",
    "TagNotResponding",
    "TagRefused",
    "TagSighting",
    "TagSystemInfo",
    "TransientError",
    "TransientReaderFault",
    "Unsupported",
    "VerificationFailed",
    "WireFaults",
    "WriteTimeout",
]
