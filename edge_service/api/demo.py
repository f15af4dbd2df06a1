# SPDX-License-Identifier: Apache-2.0
"""Demo-only routes: move simulated items between the shelf, the pads and the gate.

    GET  /api/v1/demo                                  the props and where they are   staff
    POST /api/v1/demo/objects/{id}/place {"place"}     move one (``gate``: walk it     staff
                                                       through the door)
    POST /api/v1/demo/objects/{id}/fail-writes         the kiosk pad refuses its       staff
                                                       security writes from now on

``create_app`` includes this router only when it is given demo controls, which only
``libedge demo`` does: a production box never answers these paths (404).

Not responsible for: the simulation (``edge_service.demo``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from edge_service.api.auth import require
from edge_service.api.errors import ApiError, error_responses
from edge_service.api.tokens import Principal

__all__ = ["DemoControls", "demo_router"]

StaffRole = Annotated[Principal | None, Depends(require("staff"))]
PropId = Annotated[str, Path(max_length=64, description="a demo object's id")]
Place = Literal["shelf", "pad", "staff", "gate", "outside"]


class DemoControls(Protocol):
    """What the demo's props offer (``edge_service.demo.DemoProps``)."""

    def objects(self) -> list[dict[str, Any]]: ...

    def place(self, prop_id: str, place: str) -> dict[str, Any]: ...

    def fail_writes(self, prop_id: str) -> dict[str, Any]: ...


class DemoObject(BaseModel):
    id: str
    kind: str
    label: str
    barcode: str | None
    title: str | None
    place: Place
    writes_fail: bool
    uids: list[str]


class DemoObjects(BaseModel):
    objects: list[DemoObject]
    places: list[Place]


class PlaceRequest(BaseModel):
    place: Place


def _not_found(exc: LookupError) -> ApiError:
    return ApiError(404, "not_found", str(exc.args[0]) if exc.args else "no such demo object")


def demo_router(controls: DemoControls) -> APIRouter:
    router = APIRouter(tags=["demo"], responses=error_responses(401, 403, 500))

    @router.get("/api/v1/demo", response_model=DemoObjects)
    async def objects(_: StaffRole) -> dict[str, Any]:
        """The demo's simulated items and where each one is now."""
        return {"objects": controls.objects(),
                "places": ["shelf", "pad", "staff", "gate", "outside"]}

    @router.post("/api/v1/demo/objects/{prop_id}/place", response_model=DemoObject,
                 responses=error_responses(404, 422))
    async def place(prop_id: PropId, body: PlaceRequest, _: StaffRole) -> dict[str, Any]:
        """Put the item somewhere: on a reader's field, back on the shelf, or through the
        gate (it walks out after a moment)."""
        try:
            return controls.place(prop_id, body.place)
        except LookupError as exc:
            raise _not_found(exc) from None

    @router.post("/api/v1/demo/objects/{prop_id}/fail-writes", response_model=DemoObject,
                 responses=error_responses(404))
    async def fail_writes(prop_id: PropId, _: StaffRole) -> dict[str, Any]:
        """From now on the kiosk pad refuses to change this item's security (a locked AFI)."""
        try:
            return controls.fail_writes(prop_id)
        except LookupError as exc:
            raise _not_found(exc) from None

    return router
