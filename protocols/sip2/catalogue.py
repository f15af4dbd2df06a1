# SPDX-License-Identifier: Apache-2.0
"""Which SIP2 message answers which: the catalogue as data.

One row per exchange: the SC's request, the ACS's response (``None`` for the two resend
requests, which are answered by repeating the previous message), who sends the request, and one
line of the spec. :data:`BY_ID` maps every two-digit id to its class for the decoder.

Not responsible for: layouts (the message classes carry them) or the order a session uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from protocols.sip2 import messages as m


@dataclass(frozen=True, slots=True)
class Exchange:
    request: type[m.Message]
    response: type[m.Message] | None
    sender: str  # "SC" (self-check / client) or "ACS" (the ILS)
    spec: str


_E = Exchange
CATALOGUE: tuple[Exchange, ...] = (
    _E(m.Login, m.LoginResponse, "SC", "log the SC in with its ACS account (CN/CO, CP location)"),
    _E(m.ScStatus, m.AcsStatus, "SC", "SC status and keep-alive; the ACS reports what it allows"),
    _E(m.RequestAcsResend, None, "SC", "the ACS repeats its last message (bad checksum seen)"),
    _E(m.RequestScResend, None, "ACS", "the SC repeats its last message (bad checksum seen)"),
    _E(m.PatronStatusRequest, m.PatronStatusResponse, "SC", "is this patron valid, blocked?"),
    _E(m.PatronInformation, m.PatronInformationResponse, "SC", "patron account and item lists"),
    _E(m.EndPatronSession, m.EndSessionResponse, "SC", "the patron's session at the SC ended"),
    _E(m.FeePaid, m.FeePaidResponse, "SC", "a fee was paid at the SC"),
    _E(m.Checkout, m.CheckoutResponse, "SC", "check an item out (or replay an off-line loan)"),
    _E(m.Checkin, m.CheckinResponse, "SC", "check an item in; the reply sorts and re-secures"),
    _E(m.Renew, m.RenewResponse, "SC", "renew one loan"),
    _E(m.ItemInformation, m.ItemInformationResponse, "SC", "item status, title, dates, owner"),
    _E(m.ItemStatusUpdate, m.ItemStatusUpdateResponse, "SC", "store item properties (CH)"),
)

BY_ID: Mapping[str, type[m.Message]] = MappingProxyType({cls.ID: cls for cls in m.MESSAGE_CLASSES})

RESPONSE_TO: Mapping[str, type[m.Message] | None] = MappingProxyType(
    {row.request.ID: row.response for row in CATALOGUE})
