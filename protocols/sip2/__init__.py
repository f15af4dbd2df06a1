# SPDX-License-Identifier: Apache-2.0
"""SIP2 (3M Standard Interchange Protocol v2.00): messages, layouts, dates and the line codec.

Contract: :func:`encode` turns a frozen message dataclass into one wire line (with AY/AZ error
detection computed over the bytes in the session's charset); :func:`decode` /
:func:`decode_frame` turn one line back into a message or raise :class:`Sip2Error`. Dates are
passed in by the caller; nothing here reads a clock, opens a socket or logs.

Not responsible for: sessions, timeouts, resending, or what an ILS means by a reply
(``edge_service.ils`` owns all of that).
"""

from protocols.sip2 import flags
from protocols.sip2.catalogue import BY_ID, CATALOGUE, RESPONSE_TO, Exchange
from protocols.sip2.codec import (
    LINE_ENDINGS,
    MAX_MESSAGE_BYTES,
    Frame,
    charset_problem,
    checksum,
    checksum_ok,
    decode,
    decode_frame,
    encode,
)
from protocols.sip2.dates import (
    BLANK_DATE,
    LOCAL_ZONE,
    SIP_DATE_WIDTH,
    UTC_ZONE,
    SipDate,
    format_sip_date,
    parse_sip_date,
)
from protocols.sip2.errors import Sip2Error
from protocols.sip2.fields import FixedField, FixedKind, Layout, VariableField, layout
from protocols.sip2.messages import (
    LAYOUTS,
    MESSAGE_CLASSES,
    AcsStatus,
    Checkin,
    CheckinResponse,
    Checkout,
    CheckoutResponse,
    EndPatronSession,
    EndSessionResponse,
    FeePaid,
    FeePaidResponse,
    ItemInformation,
    ItemInformationResponse,
    ItemStatusUpdate,
    ItemStatusUpdateResponse,
    Login,
    LoginResponse,
    Message,
    PatronInformation,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    Renew,
    RenewResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
    UnknownMessage,
)

__all__ = [
    "BLANK_DATE",
    "BY_ID",
    "CATALOGUE",
    "LAYOUTS",
    "LINE_ENDINGS",
    "LOCAL_ZONE",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_CLASSES",
    "RESPONSE_TO",
    "SIP_DATE_WIDTH",
    "UTC_ZONE",
    "AcsStatus",
    "Checkin",
    "CheckinResponse",
    "Checkout",
    "CheckoutResponse",
    "EndPatronSession",
    "EndSessionResponse",
    "Exchange",
    "FeePaid",
    "FeePaidResponse",
    "FixedField",
    "FixedKind",
    "Frame",
    "ItemInformation",
    "ItemInformationResponse",
    "ItemStatusUpdate",
    "ItemStatusUpdateResponse",
    "Layout",
    "Login",
    "LoginResponse",
    "Message",
    "PatronInformation",
    "PatronInformationResponse",
    "PatronStatusRequest",
    "PatronStatusResponse",
    "Renew",
    "RenewResponse",
    "RequestAcsResend",
    "RequestScResend",
    "ScStatus",
    "Sip2Error",
    "SipDate",
    "UnknownMessage",
    "VariableField",
    "charset_problem",
    "checksum",
    "checksum_ok",
    "decode",
    "decode_frame",
    "encode",
    "flags",
    "format_sip_date",
    "layout",
    "parse_sip_date",
]
