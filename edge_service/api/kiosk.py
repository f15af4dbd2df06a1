# SPDX-License-Identifier: Apache-2.0
"""Self-check routes: the pad, sessions, check-out and check-in, renew, receipts, exceptions.

    GET  /api/v1/pad                         items on the kiosk pad now          kiosk, staff
    POST /api/v1/sessions                    open a session (card + PIN, or the  kiosk
                                             patron card on the pad; mode
                                             checkout or checkin)
    GET  /api/v1/sessions/{id}               the session and its items           kiosk
    POST /api/v1/sessions/{id}/activity      the patron is still there           kiosk
    POST /api/v1/sessions/{id}/renew         renew one item                      kiosk
    GET  /api/v1/sessions/{id}/account       the patron's loans (title, due,     kiosk
                                             overdue), the first 50
    POST /api/v1/sessions/{id}/end           end it; answers the receipt         kiosk
    POST /api/v1/pad/end-session             end the pad's open session (no id)  kiosk
    GET  /api/v1/sessions/{id}/receipt       the receipt (text and JSON)         kiosk
    GET  /api/v1/exceptions                  what staff must look at (rejected   staff
                                             replays, undone checkouts, ...)

Check-out and check-in happen as items are placed on the pad during an open session (the
session's ``mode``); these routes open, watch and end sessions, they do not take items.
A box with several pads names one with ``?kiosk=<reader name>`` (default: the pad a kiosk
token is bound to, else the first); a token bound to a pad gets 403 ``other_pad`` for another.
The exception queue is the box's (one journal): it answers on a box without a pad too.

Not responsible for: what a session does (``edge_service.workflows.selfcheck``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from edge_service.api.auth import require
from edge_service.api.errors import ApiError, error_responses
from edge_service.api.staff import IsilOrEmpty
from edge_service.api.tokens import Principal
from edge_service.circulation import ItemKey
from edge_service.workflows import WorkflowError
from edge_service.workflows.runtime import Workflows
from edge_service.workflows.selfcheck import SelfCheck

__all__ = ["kiosk_router"]

EXCEPTION_STATES = ("replay_rejected", "rolled_back", "rollback_pending", "needs_staff")
KIOSK = Query(max_length=64, description="the pad reader's name (default: the pad a kiosk "
                                         "token is bound to, else the first)")
KioskRole = Annotated[Principal | None, Depends(require("kiosk"))]
PadRole = Annotated[Principal | None, Depends(require("kiosk", "staff"))]
StaffRole = Annotated[Principal | None, Depends(require("staff"))]
KioskName = Annotated[str | None, KIOSK]


class WorkflowsView(Protocol):
    @property
    def workflows(self) -> Workflows | None: ...


# What SIP2 and the MQTT contract can carry: printable ASCII, no space, no "|" (SIP2's field
# separator); anything else used to end in a 500 from the SIP2 encoder.
SIP2_TEXT = r"^[!-{}~]+$"


class SessionRequest(BaseModel):
    patron: str | None = Field(None, min_length=1, max_length=64, pattern=SIP2_TEXT,
                               description="library card number (printable ASCII, no spaces, "
                                           "no |); omit to use the patron card on the pad "
                                           "(or for check-in)")
    pin: str | None = Field(None, min_length=1, max_length=32, pattern=SIP2_TEXT)
    mode: Literal["checkout", "checkin"] = "checkout"


class RenewRequest(BaseModel):
    primary_item_id: str = Field(min_length=1, max_length=64, pattern=SIP2_TEXT)
    owner_institution: IsilOrEmpty = Field("", description="the loan's owner ISIL, as the "
                                                           "account lists it; empty: ours")


class Item(BaseModel):
    owner_institution: str | None
    primary_item_id: str
    uids: list[str]
    state: str
    message: str
    title: str | None
    due: str | None
    sort_bin: str | None
    destination: str | None
    warning: str | None
    parts_seen: list[int]
    set_total: int | None
    offline: bool
    renewed: bool = Field(description="it was already on loan to this patron: the checkout "
                                      "renewed it (the new due date is ``due``)")


class Session(BaseModel):
    id: str = Field(description="the session's capability: only the kiosk that opened it "
                                "gets it; the session's reads and actions need it")
    ref: str = Field(description="the session's public name, as the live stream and "
                                 "GET /api/v1/pad show it")
    mode: str
    offline: bool
    open: bool
    started_at: str
    ended_at: str | None
    end_reason: str | None
    screen_message: list[str]
    items: list[Item]
    counts: dict[str, int]


class Receipt(BaseModel):
    session: str
    mode: str
    text: str
    items: list[Item]
    not_processed: list[Item]


class PadItem(BaseModel):
    owner_institution: str | None
    primary_item_id: str
    uids: list[str]
    parts_seen: list[int]
    set_total: int | None
    title: str | None
    state: str | None


class PadSession(BaseModel):
    """The open session as every kiosk token may see it: no id, no patron, no items."""

    ref: str
    mode: str
    offline: bool
    open: bool
    started_at: str


class PadEnded(BaseModel):
    ended: str | None = Field(description="the public ref of the session ended; null: none "
                                          "was open")


class Pad(BaseModel):
    reader: str
    connected: bool
    items: list[PadItem]
    patron_card: bool
    unidentified: list[str]
    reading: int
    session: PadSession | None


class Renewal(BaseModel):
    primary_item_id: str
    renewed: bool
    due: str | None
    title: str | None
    message: str = Field(description="the ILS's first screen line, else a plain English "
                                     "summary")
    screen_message: list[str] = Field(description="what the ILS said, for the patron's "
                                                  "screen (a refusal's reason)")


class Loan(BaseModel):
    primary_item_id: str
    owner_institution: str | None = Field(description="the library's ISIL (the ILS names "
                                                      "loans by item id only)")
    title: str | None
    due: str | None = Field(description="the ILS's due date text (a SIP2 date at most ILSs)")
    overdue: bool = Field(description="the ILS lists it overdue")
    in_session: bool = Field(description="it was on the pad in this session")


class Account(BaseModel):
    session: str
    loans: list[Loan] = Field(description="in the ILS's order; at most 50")
    charged_count: int | None = Field(description="all the patron's loans, as the ILS "
                                                  "counts them")
    more: bool = Field(description="the patron has more loans than listed")


class JournalException(BaseModel):
    id: str
    kind: str
    state: str
    primary_item_id: str | None
    owner_institution: str | None
    detail: str | None
    created_at: str
    updated_at: str


class Exceptions(BaseModel):
    exceptions: list[JournalException]


def _kiosk(view: WorkflowsView, name: str | None, who: Principal | None) -> SelfCheck:
    """The self-check of pad ``name`` (None: the token's pad, else the box's first)."""
    bound = who.pad if who is not None else None
    if bound is not None:
        if name is not None and name != bound:
            raise ApiError(403, "other_pad", f"this kiosk token acts on pad {bound!r} only, "
                                             f"not on {name!r}")
        name = bound
    workflows = view.workflows
    kiosk = workflows.kiosk(name) if workflows is not None else None
    if kiosk is None:
        raise WorkflowError("no_kiosk", "This box has no self-check pad"
                            + (f" named {name!r}." if name else "."), status=404)
    return kiosk


def kiosk_router(view: WorkflowsView) -> APIRouter:
    router = APIRouter(tags=["self-check"], responses=error_responses(401, 403, 500))

    @router.get("/api/v1/pad", response_model=Pad, responses=error_responses(404))
    async def pad(who: PadRole,
                  kiosk: KioskName = None) -> dict[str, Any]:
        """What is on the pad now, grouped into items (sets together), and the open session."""
        selfcheck = _kiosk(view, kiosk, who)
        session = selfcheck.session
        return {**selfcheck.pad_json(),
                "session": session.public_json() if session is not None else None}

    @router.post("/api/v1/pad/end-session", response_model=PadEnded,
                 responses=error_responses(404))
    async def end_pad_session(who: KioskRole, kiosk: KioskName = None) -> dict[str, Any]:
        """End the session open on this pad, if any, without its id: for a kiosk page that
        starts afresh (reloaded, its browser restarted) and finds a visit it can no longer
        name. Nothing of the session is answered (its receipt needs the id)."""
        selfcheck = _kiosk(view, kiosk, who)
        session = selfcheck.session
        if session is None or not session.open:
            return {"ended": None}
        await selfcheck.end_session(session.id, "restart")
        return {"ended": session.ref}

    @router.post("/api/v1/sessions", response_model=Session, status_code=201,
                 responses=error_responses(400, 404, 409, 422, 403, 503))
    async def open_session(body: SessionRequest, who: KioskRole,
                           kiosk: KioskName = None) -> dict[str, Any]:
        """Open a session: the ILS checks the card (and PIN) for check-out; check-in needs
        none. 409 while another session is open on this pad."""
        session = await _kiosk(view, kiosk, who).open_session(body.patron, body.pin, body.mode)
        return session.to_json()

    @router.get("/api/v1/sessions/{session_id}", response_model=Session,
                responses=error_responses(404))
    async def get_session(session_id: str, who: KioskRole,
                          kiosk: KioskName = None) -> dict[str, Any]:
        return _kiosk(view, kiosk, who).get_session(session_id).to_json()

    @router.post("/api/v1/sessions/{session_id}/activity", response_model=Session,
                 responses=error_responses(400, 404))
    async def activity(session_id: str, who: KioskRole,
                       kiosk: KioskName = None) -> dict[str, Any]:
        """The patron is still at the kiosk (a touch on the screen): restarts the timeout."""
        selfcheck = _kiosk(view, kiosk, who)
        selfcheck.touch(session_id)
        return selfcheck.get_session(session_id).to_json()

    @router.post("/api/v1/sessions/{session_id}/renew", response_model=Renewal,
                 responses=error_responses(400, 404, 409, 422, 503))
    async def renew(session_id: str, body: RenewRequest,
                    who: KioskRole,
                    kiosk: KioskName = None) -> dict[str, Any]:
        """Renew one of the patron's loans (from the account view or a receipt). 409
        ``loan_unfinished`` for an item whose checkout in this session has not finished (it
        is undone if the item's security cannot be set)."""
        key = ItemKey(body.owner_institution, body.primary_item_id)
        return await _kiosk(view, kiosk, who).renew(session_id, key)

    @router.get("/api/v1/sessions/{session_id}/account", response_model=Account,
                responses=error_responses(403, 404, 409, 422, 503))
    async def account(session_id: str, who: KioskRole,
                      kiosk: KioskName = None) -> dict[str, Any]:
        """The patron's loans for the account view: the first 50 the ILS lists, each with
        title, due date and whether it is overdue; renew one with ``POST .../renew``. 409
        ``no_session`` unless the session is an open check-out session; 503
        ``ils_unreachable`` off-line or when the ILS does not answer; 403 ``patron_refused``
        when the ILS no longer accepts the card."""
        return await _kiosk(view, kiosk, who).account(session_id)

    @router.post("/api/v1/sessions/{session_id}/end", response_model=Receipt,
                 responses=error_responses(400, 404))
    async def end(session_id: str, who: KioskRole,
                  kiosk: KioskName = None) -> dict[str, Any]:
        """End the session (waits for items in progress; undoes what could not be finished)
        and answer its receipt."""
        selfcheck = _kiosk(view, kiosk, who)
        session = await selfcheck.end_session(session_id, "patron")
        return session.receipt(selfcheck.library.isil or "Library")

    @router.get("/api/v1/sessions/{session_id}/receipt", response_model=Receipt,
                responses=error_responses(404))
    async def receipt(session_id: str, who: KioskRole,
                      kiosk: KioskName = None) -> dict[str, Any]:
        selfcheck = _kiosk(view, kiosk, who)
        return selfcheck.get_session(session_id).receipt(selfcheck.library.isil or "Library")

    @router.get("/api/v1/exceptions", response_model=Exceptions,
                responses=error_responses(404, 503))
    async def exceptions(who: StaffRole,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100,
                         kiosk: KioskName = None) -> dict[str, Any]:
        """The exception queue: transactions staff must look at, newest first. It is the
        box's (one journal for every pad): a box without a self-check pad answers it too (the
        staff page asks on any box); ``kiosk``, if given, must name a pad of the box."""
        workflows = view.workflows
        store = (workflows.store if kiosk is None and workflows is not None
                 else _kiosk(view, kiosk, who).store)
        entries = store.journal.in_states(EXCEPTION_STATES, limit=limit)
        return {"exceptions": [
            {"id": e.id, "kind": e.kind, "state": e.state,
             "primary_item_id": _text(e.data.get("primary_item_id")),
             "owner_institution": _text(e.data.get("owner_institution")),
             "detail": _text(e.data.get("detail")), "created_at": e.created_at,
             "updated_at": e.updated_at} for e in entries]}

    return router


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
