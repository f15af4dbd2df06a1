# SPDX-License-Identifier: Apache-2.0
"""The local HTTP API: health, device status and Prometheus metrics, served inside the daemon.

The only package that imports FastAPI/starlette (and, with the daemon, uvicorn). ``create_app``
builds the app around a :class:`~edge_service.health.DaemonView`; :class:`ApiServer` serves it
with uvicorn as a task of the daemon's own event loop. Workflows and pages come in later issues.
"""

from edge_service.api.app import create_app
from edge_service.api.metrics import DaemonCollector, metrics_registry
from edge_service.api.server import ApiServer, ApiUnavailable

__all__ = ["ApiServer", "ApiUnavailable", "DaemonCollector", "create_app", "metrics_registry"]
