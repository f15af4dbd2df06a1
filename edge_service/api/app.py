# SPDX-License-Identifier: Apache-2.0
"""The FastAPI app: ``GET /api/v1/health``, ``GET /api/v1/devices``, ``GET /metrics``, ``/docs``.

Contract: ``create_app(view)`` builds a fresh app around the daemon's :class:`DaemonView`; it
opens nothing and starts nothing. The daemon owns every long-lived object (store, readers, MQTT)
and their lifespan; uvicorn runs with ``lifespan="off"`` (see ``server``). Handlers are
``async def`` reading in-memory snapshots: no request waits on a reader or the writer.

- ``/api/v1/health`` needs no token (systemd, load balancers, the kiosk page poll it): 200 when
  the storage writer and every configured reader's supervisor are alive, else 503; the body says
  why either way. A reader that is unplugged but retrying is alive (its supervisor is); the body
  shows it as ``unreachable``. The ILS link (``ils``) is reported, never a reason for 503: an
  unreachable ILS means off-line circulation, not a broken box.
- ``/api/v1/devices``: state and cumulative health counters per configured reader, and ``ils``.
- ``/metrics``: Prometheus text exposition from the app's own registry (``metrics``).

Not responsible for: authentication of the later workflow endpoints (role tokens, next issues).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge_service.api.metrics import metrics_registry
from edge_service.health import (
    DaemonView,
    DeviceSnapshot,
    HealthReport,
    IlsSnapshot,
    StoreSnapshot,
)

__all__ = ["create_app"]

API_VERSION = "1"


def _device_json(device: DeviceSnapshot) -> dict[str, Any]:
    return {"name": device.name, "protocol": device.protocol, "role": device.role,
            "port": device.port, "state": device.state, "connected": device.connected,
            "alive": device.alive, "heartbeat_age_s": round(device.heartbeat_age_s, 3),
            "model": device.model, "firmware": device.firmware,
            "last_error": device.last_error, "since": device.since,
            "tags_in_field": device.tags_in_field, "counters": dict(device.counters)}


def _storage_json(store: StoreSnapshot) -> dict[str, Any]:
    return {"alive": store.alive, "heartbeat_age_s": round(store.heartbeat_age_s, 3),
            "outbox_backlog": store.outbox_backlog, "commits": store.commits,
            "commits_failed": store.commits_failed, "last_error": store.last_error}


def _ils_json(ils: IlsSnapshot | None) -> dict[str, Any] | None:
    if ils is None:
        return None
    return {"backend": ils.backend, "state": ils.state, "last_error": ils.last_error,
            "since": ils.since}


def _health_json(report: HealthReport) -> dict[str, Any]:
    return {
        "status": "ok" if report.healthy else "unhealthy",
        "problems": list(report.problems),
        "uptime_s": round(report.uptime_s, 3),
        "storage": _storage_json(report.storage),
        "devices": {d.name: {"alive": d.alive, "state": d.state, "connected": d.connected,
                             "last_error": d.last_error} for d in report.devices},
        "mqtt": {"enabled": report.mqtt_enabled, "connected": report.mqtt_connected},
        "ils": _ils_json(report.ils),
    }


def create_app(view: DaemonView, *, version: str = "0") -> FastAPI:
    """A new app serving ``view``; one metrics registry per app."""
    app = FastAPI(title="LibEdge local API", version=version,
                  description="Health, device status and metrics of one LibEdge box.")
    registry = metrics_registry(view)

    @app.get("/api/v1/health", tags=["operations"],
             responses={503: {"description": "a loop is stuck or storage is down"}})
    async def health() -> JSONResponse:
        """200 while storage and every configured reader supervisor are alive, else 503."""
        report = view.health()
        return JSONResponse(_health_json(report), status_code=200 if report.healthy else 503)

    @app.get("/api/v1/devices", tags=["devices"])
    async def devices() -> dict[str, Any]:
        """Every configured reader: state, identity and cumulative health counters; and the
        link to the ILS (``ils``), the other device a circulation depends on."""
        return {"devices": [_device_json(d) for d in view.devices()],
                "ils": _ils_json(view.ils())}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus text exposition format."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
