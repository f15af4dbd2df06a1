# SPDX-License-Identifier: Apache-2.0
"""Staff station routes: the tags on the desk pad, program, convert, security, batch, inventory.

    GET    /api/v1/staff                              the staff stations (a list), each with
                                                      its batch, inventory and delivery
    GET    /api/v1/staff/{station}/tags               the tags on the pad, decoded (a list)
    POST   /api/v1/staff/{station}/program            program a tag for a barcode
    POST   /api/v1/staff/{station}/convert            re-encode a legacy tag in our model
    POST   /api/v1/staff/{station}/security           set or repair a tag's AFI/EAS
    POST   /api/v1/staff/{station}/batch              start a batch; its progress (201)
    GET    /api/v1/staff/{station}/batch              the running (or last) batch's progress
    DELETE /api/v1/staff/{station}/batch              stop it; its final progress
    POST   /api/v1/staff/{station}/inventory          start a shelf-reading session (201)
    GET    /api/v1/staff/{station}/inventory          the open (or last) session's report
    POST   /api/v1/staff/{station}/inventory/finish   finish it: recorded; the final report

Every route needs the staff role. ``{station}`` is the staff reader's name; an unknown one is
404 ``no_station``. The bodies answered are the workflows' ``to_json()`` shapes, declared below
so that OpenAPI documents them. A refusal is the workflow's own :class:`WorkflowError`
(``tag_not_blank``, ``conversion_refused``, ``batch_active``...) with its status; its ``field``
is given as the request's (``body.uid``, ``body.barcodes[2]``).

``GET .../batch``, ``.../inventory`` and ``.../acquisitions/delivery`` answer 404 until the
station's first batch, session or delivery; the station list answers 200 either way and says
whether there is one (null: none), so a page asks for it only when there is (an idle page's
load makes no request that fails).

Writes record the token's name as the event's ``operator`` (a staff account or desk, never a
patron), in the contract's id alphabet (:func:`operator_of`).

Not responsible for: what the station does (``edge_service.workflows.staff``, ``inventory``).
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError

from edge_service.api.auth import require
from edge_service.api.errors import error_responses
from edge_service.api.tokens import Principal
from edge_service.config import ISIL_PATTERN, ISIL_RULE
from edge_service.workflows import WorkflowError
from edge_service.workflows.inventory import ExpectedItem
from edge_service.workflows.runtime import Workflows
from edge_service.workflows.services import TechnicalServices
from edge_service.workflows.staff import StaffStation
from edge_service.workflows.staff_batch import MAX_BATCH_ITEMS

__all__ = ["operator_of", "staff_router"]

MAX_EXPECTED_ITEMS = 20_000
"""Most items in one inventory's expected list: a shelf range, not a whole library."""
UID_PATTERN = r"^[0-9A-Fa-f]{2}(?:[ :]?[0-9A-Fa-f]{2}){7}$"
"""An ISO 15693 UID: 16 hex digits, MSB first, optionally grouped by spaces or colons."""
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9._:-]+")
"""Outside the contract's id alphabet (``[A-Za-z0-9][A-Za-z0-9._:-]{0,63}``)."""
_BODY_NAMES = {"items": "barcodes"}
"""Where a workflow names an argument differently from the request body."""

StaffRole = Annotated[Principal | None, Depends(require("staff"))]
StationName = Annotated[str, Path(max_length=64, description="the staff reader's name")]
TagUid = Annotated[str, Field(pattern=UID_PATTERN, description="the tag's UID (16 hex digits)")]
Barcode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[!-~]+$",
                               description="an item's barcode (primary item id): printable "
                                           "ASCII, no spaces, as the events carry it")]


def _an_isil(value: str) -> str:
    # In the configuration's words: pydantic's own for a pattern quote the regular expression.
    if ISIL_PATTERN.fullmatch(value) is None:
        raise PydanticCustomError("isil", f"not an ISIL ({ISIL_RULE})")
    return value


def _an_isil_or_empty(value: str) -> str:
    return value and _an_isil(value)


Isil = Annotated[str, AfterValidator(_an_isil), Field(json_schema_extra={
    "pattern": f"^(?:{ISIL_PATTERN.pattern})$", "maxLength": 16})]
"""An ISIL (ISO 15511) as the configuration's ``[library] isil``: prefix, hyphen, identifier."""
IsilOrEmpty = Annotated[str, AfterValidator(_an_isil_or_empty), Field(json_schema_extra={
    "pattern": f"^(?:{ISIL_PATTERN.pattern})?$", "maxLength": 16})]
"""An :data:`Isil`, or the empty string where a client names no owner."""
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]*$"
"""One line of text without control characters (they would fail the contract in an event
later, far from the request that brought them)."""


class WorkflowsView(Protocol):
    @property
    def workflows(self) -> Workflows | None: ...


# --- request bodies ------------------------------------------------------------------------

class ProgramRequest(BaseModel):
    barcode: Barcode
    uid: TagUid | None = Field(None, description="the tag to write; default: the one blank "
                                                 "tag on the pad (or the only tag)")
    overwrite: StrictBool = Field(False, description="write over a tag that holds data")
    secured: StrictBool = True
    set_part: int | None = Field(None, ge=1, le=255, description="part number of a "
                                                                "multi-part item")
    set_total: int | None = Field(None, ge=1, le=255, description="number of parts")


class ConvertRequest(BaseModel):
    uid: TagUid
    allow_loss: StrictBool = Field(False, description="drop what the library's model cannot hold")


class SecurityRequest(BaseModel):
    uid: TagUid
    secured: StrictBool


class BatchRequest(BaseModel):
    # What the station checks, said in the schema too: barcodes for a program batch only,
    # each once (the batch binds each to one tag).
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"properties": {"kind": {"const": "program"}, "barcodes": {"minItems": 1}},
         "required": ["barcodes"]},
        {"properties": {"kind": {"enum": ["convert", "secure"]}, "barcodes": {"maxItems": 0}}},
    ]})

    kind: Literal["program", "convert", "secure"]
    barcodes: list[Barcode] = Field([], max_length=MAX_BATCH_ITEMS,
                                    json_schema_extra={"uniqueItems": True},
                                    description="program: the barcodes, in order, each once; "
                                                "convert and secure take none")
    secured: StrictBool = True


class ExpectedEntry(BaseModel):
    # Checked as a program's barcode is, and the owner as the configuration's ISILs are.
    primary_item_id: Barcode
    owner_institution: Isil | None = Field(None, description="ISIL (ISO 15511); omitted: any "
                                                             "owner. Compared without case")
    shelf_location: str | None = Field(None, max_length=64, pattern=PLAIN_TEXT,
                                       description="omitted: the shelf being read")


class InventoryRequest(BaseModel):
    location: str | None = Field(None, max_length=64, pattern=PLAIN_TEXT,
                                 description="the shelf being read")
    expected: list[ExpectedEntry] = Field([], max_length=MAX_EXPECTED_ITEMS)


# --- response bodies (the to_json() shapes of staff_results, staff_batch, inventory) -------

class UnknownTagData(BaseModel):
    kind: str
    key: int
    hex: str


class TagSecurity(BaseModel):
    afi: str | None
    eas: bool | None
    secured: bool | None


class DecodedTag(BaseModel):
    """``edge_service.tag_json.tag_to_json``."""

    model: str
    primary_item_id: str | None
    owner_institution: str | None
    set_total: int | None
    set_part: int | None
    type_of_usage: int | None
    elements: dict[str, str | int]
    warnings: list[str]
    vendor_data: dict[str, int | str] | None = Field(None, description="only when present")
    unknown_data: list[UnknownTagData] | None = Field(None, description="only when present")


class TagHealth(BaseModel):
    read_error: str | None
    security_error: str | None
    lock_status_error: str | None
    warnings: list[str]
    problems: list[str]
    protection: str | None


class PadTag(BaseModel):
    """A tag on the staff pad. Its memory unread: ``model`` null and no other decoded key."""

    uid: str
    model: str | None
    primary_item_id: str | None = None
    owner_institution: str | None = None
    set_total: int | None = None
    set_part: int | None = None
    type_of_usage: int | None = None
    elements: dict[str, str | int] | None = None
    warnings: list[str] | None = None
    vendor_data: dict[str, int | str] | None = None
    unknown_data: list[UnknownTagData] | None = None
    afi: str | None
    eas: bool | None
    secured: bool | None
    locked_blocks: list[int] | None
    health: TagHealth


class SecurityChange(BaseModel):
    uid: str
    verified: bool
    before: TagSecurity | None
    after: TagSecurity


class WriteResult(BaseModel):
    uid: str
    verified: bool
    event_id: str
    data_model: str
    primary_item_id: str | None
    owner_institution: str | None
    converted_from: str | None
    dropped: list[str]
    dsfid: str | None
    locked_blocks: list[int]
    security: SecurityChange
    tag: DecodedTag


class BatchEntry(BaseModel):
    uid: str
    item: str | None
    outcome: Literal["done", "failed", "skipped"]
    attempts: int
    message: str | None


class BatchProgress(BaseModel):
    kind: Literal["program", "convert", "secure"]
    state: Literal["running", "finished", "stopped"]
    done: int
    failed: int
    skipped: int
    pending: int
    total: int | None
    next_item: str | None
    notice: str | None
    entries: list[BatchEntry]


class InventoryCounts(BaseModel):
    seen: int
    missing: int
    misplaced: int
    unknown: int


class SeenItem(BaseModel):
    primary_item_id: str
    owner_institution: str | None
    uids: list[str]
    tag_location: str | None


class MisplacedItem(SeenItem):
    belongs_at: str
    source: Literal["expected", "tag"]


class MissingItem(BaseModel):
    primary_item_id: str
    owner_institution: str | None
    shelf_location: str | None


class UnknownTag(BaseModel):
    uid: str
    reason: str
    primary_item_id: str | None
    owner_institution: str | None


class InventoryReport(BaseModel):
    session_id: str
    location: str | None
    finished: bool
    event_ids: list[str]
    counts: InventoryCounts
    seen: list[SeenItem]
    missing: list[MissingItem]
    misplaced: list[MisplacedItem]
    unknown: list[UnknownTag]


class InventorySummary(BaseModel):
    session_id: str
    location: str | None
    finished: bool
    counts: InventoryCounts


class DeliverySummary(BaseModel):
    delivery_id: str
    state: Literal["reading", "accepted", "closed"]
    opened_at: str
    closed_at: str | None


class Station(BaseModel):
    name: str
    connected: bool
    data_model: str = Field(description="the library's data model: what this station programs "
                                        "and converts tags to")
    batch: BatchProgress | None = Field(description="the running (or last) batch; null: none "
                                                    "was started")
    inventory: InventorySummary | None = Field(description="the open (or last) inventory "
                                                           "session, counts only; null: none "
                                                           "was started")
    delivery: DeliverySummary | None = Field(description="the open (or last) delivery being "
                                                         "received, without its tags; null: "
                                                         "none was opened")


# --- helpers -------------------------------------------------------------------------------

def operator_of(principal: Principal | None) -> str | None:
    """The token's name as an event's ``operator``: accents dropped, every run of other
    characters a ``-``, at most 64 characters; None for no token or a name with nothing left.

    The contract's id alphabet is narrower than a token's name ("staff (generated)")."""
    if principal is None:
        return None
    ascii_name = unicodedata.normalize("NFKD", principal.name).encode("ascii", "ignore")
    text = _NOT_IN_ID.sub("-", ascii_name.decode("ascii"))
    text = re.sub(r"^[^A-Za-z0-9]+", "", text)[:64].rstrip("-._:")
    return text or None


@contextlib.contextmanager
def _fields_of_body() -> Iterator[None]:
    """A workflow names its argument (``uid``, ``items[2]``); the answer names the request's
    field (``body.uid``, ``body.barcodes[2]``), in its field and at the start of its message,
    as a validation error would."""
    try:
        yield
    except WorkflowError as exc:
        if exc.field is None or exc.field.startswith("body"):
            raise
        old = re.split(r"[^A-Za-z_]", exc.field, maxsplit=1)[0]   # "items" of "items[2]"
        new = _BODY_NAMES.get(old, old)
        message = (f"body.{new}{exc.message[len(old):]}" if old and exc.message.startswith(old)
                   else exc.message)
        raise WorkflowError(exc.code, message, status=exc.status,
                            field=f"body.{new}{exc.field[len(old):]}") from None


def _station(view: WorkflowsView, name: str) -> StaffStation:
    workflows = view.workflows
    station = workflows.staff.get(name) if workflows is not None else None
    if station is None:
        raise WorkflowError("no_station", f"This box has no staff station named {name!r}.",
                            status=404)
    return station


def _inventory_summary(station: StaffStation) -> dict[str, Any] | None:
    try:
        report = station.inventory().to_json()
    except WorkflowError:
        return None   # no session was started on this station
    return {key: report[key] for key in ("session_id", "location", "finished", "counts")}


def _delivery_summary(services: TechnicalServices | None) -> dict[str, Any] | None:
    if services is None:
        return None
    try:
        delivery = services.acquisitions.current()
    except WorkflowError:
        return None   # no delivery was opened on this station
    return {"delivery_id": delivery.id, "state": delivery.state,
            "opened_at": delivery.opened_at, "closed_at": delivery.closed_at}


def _station_json(station: StaffStation, services: TechnicalServices | None,
                  ) -> dict[str, Any]:
    supervisor = station.supervisor
    batch = station.batch()
    return {"name": station.name,
            "connected": supervisor.reader is not None and supervisor.state == "connected",
            "data_model": station.target_model.value,
            "batch": batch.to_json() if batch is not None else None,
            "inventory": _inventory_summary(station),
            "delivery": _delivery_summary(services)}


# --- routes --------------------------------------------------------------------------------

TAG_ERRORS = error_responses(400, 404, 409, 422, 501, 502, 503)
"""What a write may answer: a body that is no JSON, no such station or tag, a refusal, a bad
field, the reader."""


def staff_router(view: WorkflowsView) -> APIRouter:
    router = APIRouter(tags=["staff station"], responses=error_responses(401, 403, 500))
    _tag_routes(router, view)
    _batch_routes(router, view)
    _inventory_routes(router, view)
    return router


def _tag_routes(router: APIRouter, view: WorkflowsView) -> None:
    @router.get("/api/v1/staff", response_model=list[Station])
    async def stations(_: StaffRole) -> list[dict[str, Any]]:
        """The box's staff stations, by name: connected, and their batch, inventory and
        delivery (each null until the station's first)."""
        workflows = view.workflows
        if workflows is None:
            return []
        return [_station_json(station, workflows.services.get(name))
                for name, station in sorted(workflows.staff.items())]

    @router.get("/api/v1/staff/{station}/tags", response_model=list[PadTag],
                response_model_exclude_unset=True, responses=error_responses(404, 503))
    async def tags(station: StationName, _: StaffRole) -> list[dict[str, Any]]:
        """Every tag on the pad: decoded, its AFI/EAS read now and judged by the site's
        scheme, its locked blocks, and what staff should act on (``health.problems``)."""
        return [tag.to_json() for tag in await _station(view, station).tags()]

    @router.post("/api/v1/staff/{station}/program", response_model=WriteResult,
                 response_model_exclude_unset=True, responses=TAG_ERRORS)
    async def program(station: StationName, body: ProgramRequest,
                      principal: StaffRole) -> dict[str, Any]:
        """Program a tag for ``barcode`` in the library's data model: written, read back,
        secured, locked per the model's plan, every step verified; recorded as one
        ``lib.tag.write.v1``. 409 ``tag_not_blank`` for a tag holding data unless
        ``overwrite``; 409 ``not_ours`` (another library's item) and ``patron_card`` even
        with it; 409 ``several_blank_tags`` when the tag cannot be told."""
        desk = _station(view, station)
        with _fields_of_body():
            result = await desk.program(
                body.barcode, uid=body.uid, overwrite=body.overwrite, secured=body.secured,
                set_part=body.set_part, set_total=body.set_total,
                operator=operator_of(principal))
        return result.to_json()

    @router.post("/api/v1/staff/{station}/convert", response_model=WriteResult,
                 response_model_exclude_unset=True, responses=TAG_ERRORS)
    async def convert(station: StationName, body: ConvertRequest,
                      principal: StaffRole) -> dict[str, Any]:
        """Re-encode a 3M, ISO 28560-3 or -2 tag in the library's model, keeping its
        security state. 409 ``conversion_refused``, naming the data, when the model cannot
        hold something the tag does (unless ``allow_loss``)."""
        desk = _station(view, station)
        with _fields_of_body():
            result = await desk.convert(body.uid, allow_loss=body.allow_loss,
                                        operator=operator_of(principal))
        return result.to_json()

    @router.post("/api/v1/staff/{station}/security", response_model=SecurityChange,
                 responses=TAG_ERRORS)
    async def security(station: StationName, body: SecurityRequest,
                       _: StaffRole) -> dict[str, Any]:
        """Set (or repair) the tag's AFI/EAS and read it back: the state before and after."""
        desk = _station(view, station)
        with _fields_of_body():
            change = await desk.set_security(body.uid, body.secured)
        return change.to_json()


def _batch_routes(router: APIRouter, view: WorkflowsView) -> None:
    @router.post("/api/v1/staff/{station}/batch", response_model=BatchProgress,
                 status_code=201, responses=error_responses(400, 404, 409, 422))
    async def start_batch(station: StationName, body: BatchRequest,
                          principal: StaffRole) -> dict[str, Any]:
        """Process a cart as its items arrive on the pad: ``program`` gives each new blank
        tag the next of ``barcodes``; ``convert`` and ``secure`` take every item tag once.
        Progress is also published live as ``staff.batch``. 409 ``batch_active``."""
        desk = _station(view, station)
        with _fields_of_body():
            progress = await desk.start_batch(body.kind, body.barcodes, secured=body.secured,
                                              operator=operator_of(principal))
        return progress.to_json()

    @router.get("/api/v1/staff/{station}/batch", response_model=BatchProgress,
                responses=error_responses(404))
    async def batch(station: StationName, _: StaffRole) -> dict[str, Any]:
        """The running (or last) batch's progress; 404 ``no_batch`` if none was started
        (the station list, ``GET /api/v1/staff``, says whether one was)."""
        progress = _station(view, station).batch()
        if progress is None:
            raise WorkflowError("no_batch", "No batch was started on this station.",
                                status=404)
        return progress.to_json()

    @router.delete("/api/v1/staff/{station}/batch", response_model=BatchProgress,
                   responses=error_responses(404))
    async def stop_batch(station: StationName, _: StaffRole) -> dict[str, Any]:
        """Stop the batch once the tag being written is done; its final progress."""
        return (await _station(view, station).stop_batch()).to_json()


def _inventory_routes(router: APIRouter, view: WorkflowsView) -> None:
    @router.post("/api/v1/staff/{station}/inventory", response_model=InventoryReport,
                 status_code=201, responses=error_responses(400, 404, 409, 422))
    async def start_inventory(station: StationName, body: InventoryRequest,
                              _: StaffRole) -> dict[str, Any]:
        """Start a shelf-reading session: every tag the reader sees counts until it is
        finished. 409 ``inventory_active`` while one is open."""
        desk = _station(view, station)
        expected = [ExpectedItem(e.primary_item_id, e.owner_institution or None,
                                 e.shelf_location or None) for e in body.expected]
        with _fields_of_body():
            report = desk.start_inventory(body.location, expected)
        return report.to_json()

    @router.get("/api/v1/staff/{station}/inventory", response_model=InventoryReport,
                responses=error_responses(404))
    async def inventory(station: StationName, _: StaffRole) -> dict[str, Any]:
        """The open (or last) session's report: seen, missing, misplaced, unknown; 404
        ``no_inventory`` if none was started (``GET /api/v1/staff`` says whether one was)."""
        return _station(view, station).inventory().to_json()

    @router.post("/api/v1/staff/{station}/inventory/finish", response_model=InventoryReport,
                 responses=error_responses(404, 409, 503))
    async def finish_inventory(station: StationName, _: StaffRole) -> dict[str, Any]:
        """Finish the session: ``lib.inventory.v1`` recorded; the final report. 409
        ``session_finished`` if it was already."""
        return (await _station(view, station).finish_inventory()).to_json()
