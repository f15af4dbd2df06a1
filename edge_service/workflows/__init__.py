# SPDX-License-Identifier: Apache-2.0
"""The circulation workflows: self-check (kiosk), security gate, staff station, inventory.

Each workflow listens to its readers' field (``DeviceSupervisor.add_field_listener``), writes
tags through the supervisor's open driver, asks the ILS through the circulation backend
(``IlsLink``), and records every state change with its event in one store transaction.
``LiveEvents`` feeds the screens.
"""

from edge_service.workflows.errors import WorkflowError
from edge_service.workflows.live import LiveEvents, LiveMessage, Subscription

__all__ = ["LiveEvents", "LiveMessage", "Subscription", "WorkflowError"]
