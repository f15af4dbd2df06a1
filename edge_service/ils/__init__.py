# SPDX-License-Identifier: Apache-2.0
"""ILS connectivity over SIP2: a client with per-ILS profiles, a pool for the gateway, and an
ILS simulator for tests and demos.

Contract: calls return typed results; refusals are results; transport trouble is
:class:`TransientIlsError`. Nothing here logs patron identifiers or PINs.

Not responsible for: the SIP2 wire format (``protocols.sip2``), workflows, off-line queues.
"""

from edge_service.ils.errors import (
    IlsConfigError,
    IlsDisconnected,
    IlsError,
    IlsLoginRefused,
    IlsProtocolError,
    IlsTimeout,
    TransientIlsError,
)
from edge_service.ils.profile import PatronSecret, Sip2Profile
from edge_service.ils.results import (
    AcsStatusResult,
    CheckinResult,
    CheckoutResult,
    EndSessionResult,
    ItemInformationResult,
    ItemStatusUpdateResult,
    LoanResult,
    PatronInformationResult,
    PatronStatusResult,
    RenewResult,
)
from edge_service.ils.simulator import IlsSimulator, SimFaults
from edge_service.ils.simulator_data import SimData, SimSettings
from edge_service.ils.simulator_data import load as load_simulator_data
from edge_service.ils.sip2_client import Sip2Client, Sip2Pool
from edge_service.ils.sip2_session import SessionCounters, Sip2Session

__all__ = [
    "AcsStatusResult",
    "CheckinResult",
    "CheckoutResult",
    "EndSessionResult",
    "IlsConfigError",
    "IlsDisconnected",
    "IlsError",
    "IlsLoginRefused",
    "IlsProtocolError",
    "IlsSimulator",
    "IlsTimeout",
    "ItemInformationResult",
    "ItemStatusUpdateResult",
    "LoanResult",
    "PatronInformationResult",
    "PatronSecret",
    "PatronStatusResult",
    "RenewResult",
    "SessionCounters",
    "SimData",
    "SimFaults",
    "SimSettings",
    "Sip2Client",
    "Sip2Pool",
    "Sip2Profile",
    "Sip2Session",
    "TransientIlsError",
    "load_simulator_data",
]
