# SPDX-License-Identifier: Apache-2.0
"""Gate monitor routes: what each security gate is doing and its last alarms.

    GET /api/v1/gates          every gate's snapshot, by name (a list)     gate, staff
    GET /api/v1/gates/{gate}   one gate's snapshot; 404 ``no_gate``        gate, staff

A snapshot (``GateMonitor.snapshot()``) is the reader's state, how security is detected
(``afi-filter`` or ``tag-check``), whether the reader can sound the alarm, alarm totals, the
last alarms newest first (each the ``lib.gate.alarm.v1`` data with its ``time``, what the alarm
``outputs`` did and whether it ``sounded``), people counts when light barriers are wired, and
the monitor's counters. Alarms name items, never patrons. The live version is the event
stream's ``gate.*`` messages.

Not responsible for: deciding alarms (``edge_service.workflows.gate``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from edge_service.api.auth import GATE_READ, require
from edge_service.api.errors import error_responses
from edge_service.api.tokens import Principal
from edge_service.workflows import WorkflowError
from edge_service.workflows.runtime import Workflows

__all__ = ["gate_router"]

GateReadRole = Annotated[Principal | None, Depends(require(*GATE_READ))]
GateName = Annotated[str, Path(max_length=64, description="the gate reader's name")]


class WorkflowsView(Protocol):
    @property
    def workflows(self) -> Workflows | None: ...


class LastCirculation(BaseModel):
    node: str
    age_s: int


class AlarmItem(BaseModel):
    """One tag of an alarm (``GateAlarmItem``); an unknown tag has no item id."""

    uid: str
    known: bool
    primary_item_id: str | None
    owner_institution: str | None
    afi: str | None
    eas: bool | None
    circulation_status: str | None
    title: str | None
    last_circ: LastCirculation | None


class Alarm(BaseModel):
    """An alarm (or a report: ``outputs`` ``off``), as recorded in ``lib.gate.alarm.v1``."""

    time: str
    outputs: Literal["sounded", "failed", "unavailable", "off"] = Field(
        description="what the alarm outputs did: sounded (acknowledged by the reader), failed, "
                    "unavailable (the reader has none), off (reported only, by policy)")
    sounded: bool = Field(description="the outputs sounded (outputs == sounded)")
    gate: str
    direction: Literal["in", "out", "unknown"]
    items: list[AlarmItem]
    foreign: bool
    snapshot_ref: str | None


class CountsUnavailable(BaseModel):
    available: Literal[False]
    reason: str


class Counts(BaseModel):
    available: Literal[True]
    entered: int
    left: int
    unknown_direction: int
    period_start: str | None
    period_entered: int
    period_left: int
    today_entered: int = Field(description="people counted in today (the box's local day), "
                               "kept across restarts up to the last recorded count period")
    today_left: int = Field(description="people counted out today, as today_entered")


class GateSnapshot(BaseModel):
    gate: str
    state: str
    """The reader's state (``connected``, ``unreachable``...), or ``stopped``."""
    detection: Literal["afi-filter", "tag-check"]
    outputs: Literal["available", "unavailable", "unknown"]
    alarms_total: int
    alarms_today: int = Field(description="alarms of the box's local day, kept across "
                              "restarts")
    reports_total: int
    last_alarms: list[Alarm] = Field(description="newest first")
    counts: Counts | CountsUnavailable
    counters: dict[str, int]


def gate_router(view: WorkflowsView) -> APIRouter:
    router = APIRouter(tags=["gate"], responses=error_responses(401, 403, 500))

    @router.get("/api/v1/gates", response_model=list[GateSnapshot])
    async def gates(_: GateReadRole) -> list[dict[str, Any]]:
        """Every gate of the box: state, alarm totals, the last alarms."""
        workflows = view.workflows
        if workflows is None:
            return []
        return [monitor.snapshot() for _, monitor in sorted(workflows.gates.items())]

    @router.get("/api/v1/gates/{gate}", response_model=GateSnapshot,
                responses=error_responses(404))
    async def one_gate(gate: GateName, _: GateReadRole) -> dict[str, Any]:
        """One gate: state, alarm totals, the last alarms."""
        workflows = view.workflows
        monitor = workflows.gates.get(gate) if workflows is not None else None
        if monitor is None:
            raise WorkflowError("no_gate", f"This box has no gate named {gate!r}.",
                                status=404)
        return monitor.snapshot()

    return router
