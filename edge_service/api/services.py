# SPDX-License-Identifier: Apache-2.0
"""Technical services routes on a staff station: acquisitions receiving, interlibrary loan and
migration campaigns.

    POST /api/v1/staff/{station}/acquisitions/expected         store expected copies (JSON or
                                                               CSV text)
    GET  /api/v1/staff/{station}/acquisitions/expected         counts; an order's copies
    POST /api/v1/staff/{station}/acquisitions/deliveries       open a delivery (201)
    GET  /api/v1/staff/{station}/acquisitions/delivery         the open (or last) delivery
    POST /api/v1/staff/{station}/acquisitions/delivery/accept  re-program its received items
    POST /api/v1/staff/{station}/acquisitions/delivery/close   close it: the summary event
    POST /api/v1/staff/{station}/ill/receive                   receive an ILL item on the pad
    POST /api/v1/staff/{station}/ill/return                    return it to its owner
    GET  /api/v1/staff/{station}/ill                           the loans open now
    POST /api/v1/staff/{station}/campaigns                     create a campaign (201)
    GET  /api/v1/staff/{station}/campaigns                     every campaign's progress
    GET  /api/v1/staff/{station}/campaigns/{campaign}          progress, survey, failures
    POST /api/v1/staff/{station}/campaigns/{campaign}/run      convert what passes this pad
    POST /api/v1/staff/{station}/campaigns/{campaign}/stop     stop converting here
    POST /api/v1/staff/{station}/campaigns/{campaign}/finish   finish: the campaign's event

Every route needs the staff role; ``{station}`` is the staff reader's name (404
``no_station``). Bodies answered are the workflows' ``to_json()`` shapes, declared below. A
refusal is the workflow's :class:`WorkflowError` with its status; its ``field`` is named as the
request's (``body.orders[2]``). Writes record the token's name as the events' ``operator``.
A campaign's body also says whether it runs on this station (``running``: the technical services
page's Run and Stop).

Not responsible for: what the services do (``edge_service.workflows.acquisitions``, ``ill``,
``campaigns``, ``order_lines``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field, StrictBool

from edge_service.api.auth import require
from edge_service.api.errors import error_responses
from edge_service.api.staff import PLAIN_TEXT, DecodedTag, Isil, operator_of
from edge_service.api.tokens import Principal
from edge_service.store import StoreError
from edge_service.workflows import WorkflowError
from edge_service.workflows.campaigns import CampaignService
from edge_service.workflows.order_lines import MAX_COPIES, parse_copies, read_expected_csv
from edge_service.workflows.runtime import Workflows
from edge_service.workflows.services import TechnicalServices

__all__ = ["services_router"]

MAX_CSV_CHARS = 4_000_000
"""A CSV of ``MAX_COPIES`` lines of a few hundred characters each."""
UID_PATTERN = r"^[0-9A-Fa-f]{2}(?:[ :]?[0-9A-Fa-f]{2}){7}$"

StaffRole = Annotated[Principal | None, Depends(require("staff"))]
StationName = Annotated[str, Path(max_length=64, description="the staff reader's name")]
CampaignId = Annotated[str, Path(max_length=64, description="the campaign's id (cmp-...)")]
TagUid = Annotated[str, Field(pattern=UID_PATTERN, description="the tag's UID (16 hex digits)")]
SupplyText = Annotated[str, Field(min_length=1, max_length=64, pattern=PLAIN_TEXT)]


class WorkflowsView(Protocol):
    @property
    def workflows(self) -> Workflows | None: ...


# --- request bodies ----------------------------------------------------------------------------

class ExpectedRequest(BaseModel):
    copies: list[dict[str, Any]] = Field([], max_length=MAX_COPIES, description=(
        "expected copies: primary_item_id, order_number, order_line, gs1_product_identifier, "
        "supplier_identifier, title, type_of_usage (0-255)"))
    csv: str | None = Field(None, max_length=MAX_CSV_CHARS, description=(
        "or the text of a CSV file with those columns (type_of_usage as two hex digits)"))


class DeliveryRequest(BaseModel):
    orders: list[SupplyText] = Field([], max_length=64, description=(
        "the orders this delivery fulfils (default: the orders of the copies matched)"))
    supplier_identifier: SupplyText | None = None
    supplier_invoice_number: SupplyText | None = None
    accept_on_arrival: StrictBool = Field(False, description=(
        "re-program each copy as it arrives (one pass of a cart)"))


class IllReceiveRequest(BaseModel):
    uid: TagUid | None = Field(None, description="default: the only tag on the pad")
    transaction_number: SupplyText | None = Field(None, description="the ILL transaction")
    owner_institution: Isil | None = Field(
        None, description="the lending library's ISIL, for a tag that names no owner")
    secured: StrictBool = True


class IllReturnRequest(BaseModel):
    uid: TagUid | None = Field(None, description="default: the only tag on the pad")


class CampaignRequest(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=PLAIN_TEXT)
    source_models: list[Literal["iso28560-2", "iso28560-3", "3m"]] = Field(
        min_length=1, max_length=8, description="the models to convert from")
    estimate: int | None = Field(None, ge=0, le=10_000_000, description=(
        "items in the collection, for pending by estimate"))
    allow_loss: StrictBool = Field(False, description="drop what the library's model cannot hold")


class RunRequest(BaseModel):
    check_passwords: StrictBool = Field(True, description=(
        "survey the EAS/AFI password (a refused guess resets the pad's field)"))


# --- response bodies -----------------------------------------------------------------------------

class ExpectResult(BaseModel):
    stored: int
    kept: list[str]


class ExpectedCopy(BaseModel):
    primary_item_id: str
    order_number: str
    order_line: str | None
    gs1_product_identifier: str | None
    supplier_identifier: str | None
    title: str | None
    type_of_usage: int | None
    delivery_id: str | None
    received_uid: str | None
    received_at: str | None


class ExpectedCopies(BaseModel):
    expected: int = Field(description="copies expected and not received (box-wide)")
    received: int
    copies: list[ExpectedCopy] = Field(description="the order's copies, when one is asked")


class DeliveryCounts(BaseModel):
    received: int
    programmed: int
    unexpected: int
    duplicates: int
    missing: int
    failed: int
    unread: int


class DeliveryTag(BaseModel):
    uid: str
    outcome: Literal["received", "unexpected", "duplicate"]
    primary_item_id: str | None = Field(description="the expected copy matched")
    order_line: str | None
    title: str | None
    data_model: str
    tag_primary_item_id: str | None
    supplier_identifier: str | None
    order_number: str | None
    supplier_invoice_number: str | None
    supply_chain_stage: int | None
    gs1_product_identifier: str | None
    type_of_usage: int | None
    reason: str | None
    programmed: bool
    attempts: int
    error: str | None


class UnreadTag(BaseModel):
    uid: str
    error: str


class Delivery(BaseModel):
    delivery_id: str
    station: str
    state: Literal["reading", "accepted", "closed"]
    opened_at: str
    closed_at: str | None
    orders: list[str]
    supplier_identifier: str | None
    supplier_invoice_number: str | None
    accept_on_arrival: bool
    counts: DeliveryCounts
    tags: list[DeliveryTag]
    missing: list[ExpectedCopy]
    unread: list[UnreadTag]
    event_ids: list[str]


class TagSecurity(BaseModel):
    afi: str | None
    eas: bool | None
    secured: bool | None


class SecurityChange(BaseModel):
    uid: str
    verified: bool
    before: TagSecurity | None
    after: TagSecurity


class IllResult(BaseModel):
    action: Literal["received", "returned"]
    uid: str
    primary_item_id: str
    owner_institution: str
    borrowing_institution: str
    transaction_number: str | None
    tag_written: bool = Field(description="the ILL elements written (cleared) and verified")
    tag_note: str | None = Field(description="why the tag was left as it is")
    security: SecurityChange | None
    event_id: str
    tag: DecodedTag


class IllLoan(BaseModel):
    owner_institution: str
    primary_item_id: str
    uid: str | None
    transaction_number: str | None
    borrowing_institution: str
    data_model: str | None
    tag_written: bool
    received_at: str


class IllLoans(BaseModel):
    loans: list[IllLoan]


class CampaignCounts(BaseModel):
    converted: int
    failed: int
    already: int
    skipped: int


class CampaignProgress(BaseModel):
    campaign_id: str
    name: str
    state: Literal["active", "finished"]
    target_model: str
    source_models: list[str]
    estimate: int | None
    allow_loss: bool
    created_at: str
    finished_at: str | None
    counts: CampaignCounts
    pending_estimate: int | None
    running: bool = Field(description="whether it runs on this station now")


class SurveyedTag(BaseModel):
    uid: str
    primary_item_id: str | None


class BlocksFinding(SurveyedTag):
    blocks: list[int] | None


class WeakRead(SurveyedTag):
    read_attempts: int


class CampaignHealth(BaseModel):
    unreadable_blocks: list[BlocksFinding]
    weak_reads: list[WeakRead]
    default_passwords: list[SurveyedTag]
    blocked_by_locks: list[BlocksFinding]
    password_not_checked: int


class CampaignFailure(SurveyedTag):
    source_model: str | None
    attempts: int
    detail: str | None


class ModelCounts(BaseModel):
    converted: int
    failed: int


class CampaignReport(CampaignProgress):
    health: CampaignHealth
    failures: list[CampaignFailure]
    by_model: dict[str, ModelCounts]


# --- helpers -------------------------------------------------------------------------------------

def _running_here(campaigns: CampaignService, body: dict[str, Any]) -> dict[str, Any]:
    """A campaign's body with whether it runs on this station (the page's Run/Stop)."""
    return {**body, "running": campaigns.running() == body["campaign_id"]}


def _services(view: WorkflowsView, name: str) -> TechnicalServices:
    workflows = view.workflows
    services = workflows.services.get(name) if workflows is not None else None
    if services is None:
        raise WorkflowError("no_station", f"This box has no staff station named {name!r}.",
                            status=404)
    return services


@contextlib.contextmanager
def _fields_of_body() -> Iterator[None]:
    """A workflow names its argument (``orders[2]``); the answer names the request's field
    (``body.orders[2]``), as a validation error would."""
    try:
        yield
    except WorkflowError as exc:
        if exc.field is None or exc.field.startswith(("body", "query", "path")):
            raise
        raise WorkflowError(exc.code, exc.message, status=exc.status,
                            field=f"body.{exc.field}") from None


WRITES = error_responses(400, 404, 409, 422, 501, 502, 503)
"""What a route that works on a tag may answer: a body that is no JSON, no such station or
tag, a refusal, a bad field, the reader or the store."""


def services_router(view: WorkflowsView) -> APIRouter:
    router = APIRouter(tags=["technical services"], responses=error_responses(401, 403, 500))
    _acquisition_routes(router, view)
    _delivery_routes(router, view)
    _ill_routes(router, view)
    _campaign_routes(router, view)
    return router


def _acquisition_routes(router: APIRouter, view: WorkflowsView) -> None:
    base = "/api/v1/staff/{station}/acquisitions"

    @router.post(f"{base}/expected", response_model=ExpectResult,
                 responses=error_responses(400, 404, 422, 503))
    async def expect(station: StationName, body: ExpectedRequest,
                     _: StaffRole) -> dict[str, Any]:
        """Store the copies the library expects from suppliers (as the catalog's
        ``acq.expect`` command does): ``copies`` as JSON, or ``csv`` text. Every copy is
        checked first, the first bad one named; a copy already received is kept as it was
        (``kept``)."""
        services = _services(view, station)
        if (body.csv is None) == (not body.copies):
            raise WorkflowError("invalid_request", "Give either copies or csv.", status=422,
                                field="body.copies")
        with _fields_of_body():
            copies = (read_expected_csv(body.csv, source="csv") if body.csv is not None
                      else parse_copies(body.copies))
        try:
            result = await services.station.store.acquisitions.expect(copies, source="api")
        except StoreError as exc:
            raise WorkflowError("store_failed", "The copies could not be stored. Try again.",
                                status=503) from exc
        return {"stored": result.stored, "kept": list(result.kept)}

    @router.get(f"{base}/expected", response_model=ExpectedCopies,
                responses=error_responses(404, 422))
    async def expected(station: StationName, _: StaffRole,
                       order: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                       ) -> dict[str, Any]:
        """How many copies are expected and received; with ``order``, that order's copies."""
        store = _services(view, station).station.store.acquisitions
        waiting, received = store.expected_counts()
        copies = store.expected_for(order, None) if order is not None else []
        return {"expected": waiting, "received": received,
                "copies": [c.to_json() for c in copies]}


def _delivery_routes(router: APIRouter, view: WorkflowsView) -> None:
    base = "/api/v1/staff/{station}/acquisitions"

    @router.post(f"{base}/deliveries", response_model=Delivery, status_code=201,
                 responses=error_responses(400, 404, 409, 422, 503))
    async def open_delivery(station: StationName, body: DeliveryRequest,
                            principal: StaffRole) -> dict[str, Any]:
        """Open a delivery: every supplier-tagged item that arrives on the pad is matched
        against the expected copies. 409 ``delivery_open`` while one is."""
        acquisitions = _services(view, station).acquisitions
        with _fields_of_body():
            delivery = await acquisitions.open(
                orders=body.orders, supplier_identifier=body.supplier_identifier,
                supplier_invoice_number=body.supplier_invoice_number,
                accept_on_arrival=body.accept_on_arrival, operator=operator_of(principal))
        return acquisitions.report(delivery)

    @router.get(f"{base}/delivery", response_model=Delivery, responses=error_responses(404))
    async def delivery(station: StationName, _: StaffRole) -> dict[str, Any]:
        """The open (or last) delivery: each tag's supplier data and outcome, the missing
        copies. 404 ``no_delivery`` if none was opened (``GET /api/v1/staff`` says whether
        one was)."""
        acquisitions = _services(view, station).acquisitions
        return acquisitions.report(acquisitions.current())

    @router.post(f"{base}/delivery/accept", response_model=Delivery,
                 responses=error_responses(404, 503))
    async def accept(station: StationName, _: StaffRole) -> dict[str, Any]:
        """Accept: every received item is re-programmed to the library's data, verified, now
        if it is on the pad, else when it comes back."""
        acquisitions = _services(view, station).acquisitions
        return acquisitions.report(await acquisitions.accept())

    @router.post(f"{base}/delivery/close", response_model=Delivery,
                 responses=error_responses(404, 503))
    async def close(station: StationName, _: StaffRole) -> dict[str, Any]:
        """Close the delivery: ``lib.acq.delivery.v1`` recorded; the final report."""
        acquisitions = _services(view, station).acquisitions
        return acquisitions.report(await acquisitions.close())


def _ill_routes(router: APIRouter, view: WorkflowsView) -> None:
    base = "/api/v1/staff/{station}/ill"

    @router.post(f"{base}/receive", response_model=IllResult,
                 response_model_exclude_unset=True, responses=WRITES)
    async def receive(station: StationName, body: IllReceiveRequest,
                      principal: StaffRole) -> dict[str, Any]:
        """Receive another library's item on loan: recorded; our ISIL and the transaction
        number written to its tag where the tag allows (never over the owner's locked data);
        security set. The gate treats it as ours until it is returned."""
        ill = _services(view, station).ill
        with _fields_of_body():
            result = await ill.receive(uid=body.uid, transaction_number=body.transaction_number,
                                       owner_institution=body.owner_institution,
                                       secured=body.secured, operator=operator_of(principal))
        return result.to_json()

    @router.post(f"{base}/return", response_model=IllResult,
                 response_model_exclude_unset=True, responses=WRITES)
    async def give_back(station: StationName, body: IllReturnRequest,
                        principal: StaffRole) -> dict[str, Any]:
        """Return an ILL item: its ILL elements cleared from the tag, verified; the loan
        ended. 409 ``not_on_loan`` for an item that is not."""
        ill = _services(view, station).ill
        with _fields_of_body():
            result = await ill.give_back(uid=body.uid, operator=operator_of(principal))
        return result.to_json()

    @router.get(base, response_model=IllLoans, responses=error_responses(404))
    async def loans(station: StationName, _: StaffRole,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        """The interlibrary loans on loan to us now (box-wide), newest first."""
        return {"loans": [loan.to_json() for loan in _services(view, station).ill.loans(limit)]}


def _campaign_routes(router: APIRouter, view: WorkflowsView) -> None:
    base = "/api/v1/staff/{station}/campaigns"

    @router.post(base, response_model=CampaignProgress, status_code=201,
                 responses=error_responses(400, 404, 422, 503))
    async def create(station: StationName, body: CampaignRequest,
                     _: StaffRole) -> dict[str, Any]:
        """Create a migration campaign (box-wide): the models to convert to the library's."""
        campaigns = _services(view, station).campaigns
        with _fields_of_body():
            return _running_here(campaigns, await campaigns.create(
                body.name, body.source_models, estimate=body.estimate,
                allow_loss=body.allow_loss))

    @router.get(base, response_model=list[CampaignProgress], responses=error_responses(404))
    async def campaigns(station: StationName, _: StaffRole) -> list[dict[str, Any]]:
        """Every campaign's progress, newest first."""
        campaigns = _services(view, station).campaigns
        return [_running_here(campaigns, body) for body in campaigns.campaigns()]

    @router.get(f"{base}/{{campaign}}", response_model=CampaignReport,
                responses=error_responses(404))
    async def report(station: StationName, campaign: CampaignId,
                     _: StaffRole) -> dict[str, Any]:
        """Progress, the tag health survey's findings and the failures, tag by tag."""
        campaigns = _services(view, station).campaigns
        return _running_here(campaigns, campaigns.report(campaign))

    @router.post(f"{base}/{{campaign}}/run", response_model=CampaignProgress,
                 responses=error_responses(400, 404, 409, 422))
    async def run(station: StationName, campaign: CampaignId, body: RunRequest,
                  principal: StaffRole) -> dict[str, Any]:
        """Convert every tag of the campaign's source models that arrives on this pad (the
        desk, or a conveyor's reader). 409 ``campaign_running``, ``campaign_finished``,
        ``batch_active``."""
        campaigns = _services(view, station).campaigns
        return _running_here(campaigns, await campaigns.run(
            campaign, operator=operator_of(principal), check_passwords=body.check_passwords))

    @router.post(f"{base}/{{campaign}}/stop", response_model=CampaignProgress,
                 responses=error_responses(404, 409))
    async def stop(station: StationName, campaign: CampaignId,
                   _: StaffRole) -> dict[str, Any]:
        """Stop converting on this pad (after the tag being converted). 409 ``not_running``
        when the campaign does not run here."""
        campaigns = _services(view, station).campaigns
        report = campaigns.report(campaign)
        if campaigns.running() != campaign:
            raise WorkflowError("not_running", f"Campaign {campaign} does not run on this "
                                "station.")
        await campaigns.stop()
        return _running_here(campaigns, {k: v for k, v in report.items()
                                         if k not in ("health", "failures", "by_model")})

    @router.post(f"{base}/{{campaign}}/finish", response_model=CampaignReport,
                 responses=error_responses(404, 409, 422, 503))
    async def finish(station: StationName, campaign: CampaignId,
                     _: StaffRole) -> dict[str, Any]:
        """Finish the campaign: its runs stop, ``lib.campaign.v1`` is recorded; the final
        report. 409 ``campaign_finished`` if it was already."""
        campaigns = _services(view, station).campaigns
        return _running_here(campaigns, await campaigns.finish(campaign))
