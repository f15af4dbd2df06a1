# SPDX-License-Identifier: Apache-2.0
"""Circulation backends: the one interface the self-check and staff workflows use to ask the
ILS, straight over SIP2 (direct mode) or through the catalog gateway over MQTT.

Contract: every call returns the contract's ``CirculationOutcome`` (a refusal is an outcome
with ``ok`` false); no answer is :class:`TransientCirculationError`. Nothing here logs a patron
identifier or PIN.

Not responsible for: workflows, the security write, off-line queues, the MQTT connection.
"""

from edge_service.circulation.backend import CirculationBackend, ItemKey
from edge_service.circulation.errors import (
    INVALID_REQUEST,
    CirculationError,
    CirculationFailed,
    TransientCirculationError,
)
from edge_service.circulation.factory import backend_from_config, sip2_profile_from_config
from edge_service.circulation.ils_link import CHECK_INTERVAL_S, IlsLink
from edge_service.circulation.mqtt_backend import REPLY_TIMEOUT_S, MqttBackend, MqttLink
from edge_service.circulation.outcomes import (
    circulation_status_code,
    from_checkin,
    from_item,
    from_loan,
    from_patron,
    from_patron_loans,
)
from edge_service.circulation.sip2_backend import Sip2Backend, local_time

__all__ = [
    "CHECK_INTERVAL_S",
    "INVALID_REQUEST",
    "REPLY_TIMEOUT_S",
    "CirculationBackend",
    "CirculationError",
    "CirculationFailed",
    "IlsLink",
    "ItemKey",
    "MqttBackend",
    "MqttLink",
    "Sip2Backend",
    "TransientCirculationError",
    "backend_from_config",
    "circulation_status_code",
    "from_checkin",
    "from_item",
    "from_loan",
    "from_patron",
    "from_patron_loans",
    "local_time",
    "sip2_profile_from_config",
]
