# SPDX-License-Identifier: Apache-2.0
"""Interlibrary loan at the staff station: another library's item received on loan to us, and
returned to it.

``receive()``: the tag on the pad (``uid``, or the only tag there) is read and decoded in any
supported model; it must name an item of another library (its owner ISIL, or
``owner_institution`` when the tag has none, e.g. a 3M tag). The ILL borrowing institution (our
``library.isil``) and the ILL transaction number are written to the tag *where it allows*:

- the tag is re-encoded in its own model with the two elements added
  (``protocols.iso28560.convert`` to the same model: everything else it holds is kept, and the
  new image is verified element by element before use);
- only the blocks that change are written (``tag_writer.write_changes``), each run read back
  and compared, then the tag decoded afresh and compared with what was meant; the DSFID and
  the owner's lock bits are never touched;
- an ISO 28560-2 tag whose locked owner group follows its free elements (the usual lock plan)
  would have that group moved by a fresh image: its elements are laid out around the locked
  data sets instead (``relayout_part2``: the ILL elements go after the group, the locked
  blocks stay byte-identical);
- the tag is left as it is (``tag_written`` false, ``tag_note`` saying why) when its model has
  no place for the elements (3M), when a block that would change is locked and the elements
  cannot go around it (no room after the locked group, a locked content parameter), or when
  the reader cannot tell which blocks are locked.

Then security is set (``secured``, on by default: the item is in our stock until lent to a
patron) and read back, and the loan (``store.ill``), the ``lib.ill.v1`` event (``received``)
and the tag observation are recorded in one transaction. The gate treats the item as ours while
the loan is open (``GateMonitor``: the record, or our ISIL as the tag's ILL borrowing
institution).

``give_back()``: the tag is found the same way; the loan must be recorded, or the tag must name
us as its ILL borrowing institution. The ILL elements are cleared from the tag in the same
way (changed blocks only, verified), then the loan is deleted and ``lib.ill.v1`` (``returned``)
recorded in one transaction. Security is left as it is (the item travels back secured).

After a verified write the supervisor's entry for the tag shows the read-back, so the tag stays
listed at the desk with its new data, as after the station's own writes
(``DeviceSupervisor.remember_written``); after a failed one it reads the tag afresh. The
security set (even on a tag whose memory is left as it is) reaches the entry from the driver.

A write that fails after the tag was touched records ``lib.exception.v1`` (``write_failed``)
saying which steps were done, and the image meant for the tag is kept, so doing it again
finishes the write even when the half-written tag no longer decodes. No event claims a write
that was not verified.

Not responsible for: the ILL request workflow between libraries, circulation of the item to a
patron (the kiosk), the gate's decision (``gate``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from edge_service.config import same_isil
from edge_service.store import (
    IllLoan,
    StoreError,
    WriteConnection,
    delete_ill_loan,
    utc_now,
    utc_timestamp,
    write_ill_loan,
    write_tag_seen,
)
from edge_service.sync.events import record_event
from edge_service.tag_json import tag_to_json
from edge_service.tag_writer import WrittenImage, changed_blocks, write_changes
from edge_service.workflows.errors import WorkflowError
from edge_service.workflows.staff import StaffStation
from edge_service.workflows.staff_results import SecurityChange, afi_text
from edge_service.workflows.tag_access import (
    TagOnPad,
    locked_among,
    only_tag,
    read_tag,
    record_exception,
    station_reader,
)
from edge_service.workflows.tag_errors import tag_failure
from firmware_bridge import BridgeError, VerificationFailed
from protocols import ProtocolError
from protocols.contract import ContractError, IllData, ItemRef
from protocols.iso15693 import Uid
from protocols.iso28560 import LibraryTag, TagImage, TagModel, convert, relayout_part2

__all__ = ["IllResult", "InterlibraryLoans"]

logger = logging.getLogger(__name__)

ILL_ELEMENTS = ("ill_borrowing_institution", "ill_borrowing_transaction_number")
_SIZE_OPTION = {TagModel.PART2: "memory_size", TagModel.PART3: "size",
                TagModel.LEGACY_3M: "size"}
"""Each encoder's name for the tag's user memory size."""
MAX_TRANSACTION_CHARS = 64

Action = Literal["received", "returned"]



@dataclass(frozen=True, slots=True)
class IllResult:
    """What ``receive``/``give_back`` did, and the event that records it."""

    action: Action
    uid: Uid
    primary_item_id: str
    owner_institution: str
    borrowing_institution: str
    transaction_number: str | None
    tag: LibraryTag
    """The tag as read back at the end (decoded afresh)."""
    tag_written: bool
    tag_note: str | None
    security: SecurityChange | None
    event_id: str

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "uid": str(self.uid),
                "primary_item_id": self.primary_item_id,
                "owner_institution": self.owner_institution,
                "borrowing_institution": self.borrowing_institution,
                "transaction_number": self.transaction_number,
                "tag_written": self.tag_written, "tag_note": self.tag_note,
                "security": None if self.security is None else self.security.to_json(),
                "event_id": self.event_id, "tag": tag_to_json(self.tag)}


@dataclass(slots=True)
class _Plan:
    """The tag change to make, or why there is none (``note``)."""

    image: TagImage | None
    meant: LibraryTag | None
    note: str | None = None
    steps: list[str] = field(default_factory=list)


class InterlibraryLoans:
    """ILL on one staff station; see the module docstring."""

    def __init__(self, station: StaffStation, *, clock: Callable[[], datetime] = utc_now,
                 rand: Callable[[int], bytes] = os.urandom) -> None:
        self.station = station
        self.store = station.store
        self._clock = clock
        self._rand = rand
        self._unfinished: dict[Uid, TagImage] = {}
        """Tags a failed ILL write left half-changed, with the image meant for them."""

    def loans(self, limit: int = 500) -> list[IllLoan]:
        """The loans open now (box-wide), newest first."""
        return self.store.ill.open_loans(limit)

    # -- receive --------------------------------------------------------------------------------

    async def receive(self, *, uid: str | Uid | None = None,
                      transaction_number: str | None = None,
                      owner_institution: str | None = None, secured: bool = True,
                      operator: str | None = None) -> IllResult:
        """Receive an ILL item; see the module docstring."""
        borrowing = self._borrowing_institution()
        transaction = _transaction(transaction_number)
        async with self.station.pad_lock:
            reader = station_reader(self.station)
            target = await only_tag(self.station, reader, uid)
            read = await read_tag(reader, target)
            item, owner = self._identity(read.tag, owner_institution)
            if self.station.library.ours(owner):
                raise WorkflowError("own_item", f"Item {item} belongs to this library "
                                    f"({owner}); it is not an interlibrary loan.")
            plan = await self._plan(read, {"ill_borrowing_institution": borrowing,
                                           "ill_borrowing_transaction_number": transaction})
            with self._changing(target):
                written = await self._apply(read, plan, item, owner)
                change = await self._secure(read, item, owner, secured, plan)
            tag = self._show(read, written)
            loan = IllLoan(owner, item, str(target), transaction, borrowing,
                           tag.model.value, plan.image is not None,
                           utc_timestamp(self._clock()))
            data = self._event("received", loan, plan, change, operator)

            def record(conn: WriteConnection, now: datetime) -> None:
                write_ill_loan(conn, loan)
                write_tag_seen(conn, str(target), owner, item, afi=change.after.afi,
                               eas=change.after.eas, now=now)

            event_id = await self._commit(record, data, "ILL receive")
        result = IllResult("received", target, item, owner, borrowing, transaction, tag,
                           plan.image is not None, plan.note, change, event_id)
        self._announce(result)
        return result

    def _borrowing_institution(self) -> str:
        isil = self.station.library.isil
        if not isil:
            raise WorkflowError("no_isil", "This box has no library ISIL configured "
                                "(library.isil): the ILL borrowing institution is ours.")
        return isil

    def _identity(self, tag: LibraryTag, owner_institution: str | None) -> tuple[str, str]:
        if not tag.primary_item_id:
            raise WorkflowError("no_item", f"This tag holds no item id ({tag.model.value}); "
                                "an interlibrary loan is received by its tag.")
        owner = tag.owner_institution or owner_institution
        if tag.owner_institution and owner_institution and \
                not same_isil(owner_institution, tag.owner_institution):
            raise WorkflowError("owner_differs", f"The tag names owner {tag.owner_institution}, "
                                f"not {owner_institution}.", field="owner_institution")
        if not owner:
            raise WorkflowError("no_owner", "This tag names no owner: give the lending "
                                "library's ISIL (owner_institution).", field="owner_institution")
        try:
            ItemRef(primary_item_id=tag.primary_item_id)
        except ContractError as exc:
            raise WorkflowError("unrecordable_item", f"The tag's item id cannot be recorded: "
                                f"{exc.reason}.") from None
        try:
            ItemRef(primary_item_id=tag.primary_item_id, owner_institution=owner)
        except ContractError as exc:
            raise WorkflowError("invalid_request", f"owner_institution: {exc.reason}",
                                status=422, field="owner_institution") from None
        return tag.primary_item_id, owner

    # -- give back ------------------------------------------------------------------------------

    async def give_back(self, *, uid: str | Uid | None = None,
                        operator: str | None = None) -> IllResult:
        """Return an ILL item to its owner; see the module docstring."""
        async with self.station.pad_lock:
            reader = station_reader(self.station)
            target = await only_tag(self.station, reader, uid)
            read = await read_tag(reader, target)
            loan = self._loan_of(target, read.tag)
            clear: dict[str, Any] = dict.fromkeys(ILL_ELEMENTS)
            if any(getattr(read.tag, name) for name in ILL_ELEMENTS) \
                    or target in self._unfinished:
                plan = await self._plan(read, clear)
            else:
                plan = _Plan(None, None, "the tag carries no ILL elements")
            with self._changing(target):
                written = await self._apply(read, plan, loan.primary_item_id,
                                            loan.owner_institution)
            tag = self._show(read, written)
            data = self._event("returned", loan, plan, None, operator, model=tag.model.value)

            def record(conn: WriteConnection, _now: datetime) -> None:
                delete_ill_loan(conn, loan.owner_institution, loan.primary_item_id)

            event_id = await self._commit(record, data, "ILL return")
        result = IllResult("returned", target, loan.primary_item_id, loan.owner_institution,
                           loan.borrowing_institution, loan.transaction_number, tag,
                           plan.image is not None, plan.note, None, event_id)
        self._announce(result)
        return result

    def _loan_of(self, uid: Uid, tag: LibraryTag) -> IllLoan:
        """The open loan of the tag's item; a tag naming us as its ILL borrower counts too
        (received at another of our boxes)."""
        loan = None
        if tag.primary_item_id and tag.owner_institution:
            loan = self.store.ill.get(tag.owner_institution, tag.primary_item_id)
        loan = loan or self.store.ill.by_uid(str(uid))
        if loan is not None:
            return loan
        borrower = tag.ill_borrowing_institution
        if borrower and self.station.library.ours(borrower) and tag.primary_item_id \
                and tag.owner_institution:
            return IllLoan(tag.owner_institution, tag.primary_item_id, str(uid),
                           tag.ill_borrowing_transaction_number, borrower, tag.model.value,
                           True, "")
        raise WorkflowError("not_on_loan", "This item is not on interlibrary loan to us (no "
                            "loan was recorded and its tag names no ILL borrower of ours).")

    # -- the tag --------------------------------------------------------------------------------

    async def _plan(self, read: TagOnPad, changes: dict[str, Any]) -> _Plan:
        """The image with ``changes``, or why the tag is to be left as it is."""
        tag = read.tag
        image = self._unfinished.get(read.uid)
        meant: LibraryTag | None = None
        if image is None:
            options: dict[str, Any] = {_SIZE_OPTION.get(tag.model, "size"): len(read.memory)}
            try:
                conversion = convert(tag, tag.model, overrides=changes, **options)
            except ProtocolError as exc:
                return _Plan(None, None, f"the tag's model ({tag.model.value}) cannot hold the "
                             f"ILL elements: {exc}"[:256])
            # Zero-filled to the tag's size: what follows the data must not keep the bytes
            # of elements that were there before (cleared ILL elements, a longer old image).
            image = replace(conversion.image,
                            memory=conversion.image.memory.ljust(len(read.memory), b"\0"))
            meant = conversion.tag
        changing = changed_blocks(image, read.memory, read.block_size)
        every = await locked_among(read.reader, read.uid,
                                   range(len(read.memory) // read.block_size) if changing
                                   else (), len(read.memory), read.block_size)
        if every is None:
            return _Plan(None, None, "this reader cannot tell which blocks are locked, so the "
                         "owner's tag is left as it is")
        locked = tuple(block for block in changing if block in every)
        if locked and meant is not None and tag.model is TagModel.PART2:
            return self._around_locks(read, meant, locked, every)
        if locked:
            return _Plan(None, None, f"blocks {', '.join(map(str, locked))} that would change "
                         "are locked (the owner's data)")
        return _Plan(image, meant)

    @staticmethod
    def _around_locks(read: TagOnPad, meant: LibraryTag, locked: tuple[int, ...],
                      every: tuple[int, ...]) -> _Plan:
        """An ISO 28560-2 tag whose fresh image would move locked data sets (``locked``, of
        the tag's locked blocks ``every``): its free elements are laid out around them instead
        (``relayout_part2``: the ILL elements go after the owner's locked group), or the tag
        is left as it is, saying why."""
        try:
            image = relayout_part2(read.memory, meant, locked_blocks=every,
                                   block_size=read.block_size, changed=ILL_ELEMENTS)
        except ProtocolError as exc:
            return _Plan(None, None, f"blocks {', '.join(map(str, locked))} that would change "
                         f"are locked (the owner's data), and the elements cannot go around "
                         f"them: {exc}"[:256])
        return _Plan(image, meant)

    async def _apply(self, read: TagOnPad, plan: _Plan, item: str, owner: str
                     ) -> WrittenImage | None:
        """Write the plan's changed blocks, verified; None when there is none."""
        if plan.image is None:
            return None
        uid = read.uid
        self._unfinished[uid] = plan.image
        try:
            written = await write_changes(read.reader, uid, plan.image, read.memory,
                                          info=read.info, steps=plan.steps)
            if plan.meant is not None:
                _same_elements(uid, plan.meant, written.written)
        except BridgeError as exc:
            await record_exception(self.station, uid, exc, item=item, owner=owner,
                                   steps=plan.steps, clock=self._clock, rand=self._rand)
            raise tag_failure(exc, "writing the ILL elements") from exc
        self._unfinished.pop(uid, None)
        return written

    @contextlib.contextmanager
    def _changing(self, uid: Uid) -> Iterator[None]:
        """Around the steps that change the tag: after a failure the supervisor reads it
        afresh (what it holds now is not known)."""
        try:
            yield
        except BaseException:
            self.station.supervisor.forget(uid)
            raise

    def _show(self, read: TagOnPad, written: WrittenImage | None) -> LibraryTag:
        """The tag as it is now: the verified read-back, which the supervisor's entry shows
        from now on, as after the station's own writes; the tag as read when nothing was
        written."""
        if written is None:
            return read.tag
        self.station.supervisor.remember_written(read.uid, written)
        return written.written

    async def _secure(self, read: TagOnPad, item: str, owner: str, secured: bool,
                      plan: _Plan) -> SecurityChange:
        reader, uid = read.reader, read.uid
        try:
            before = await reader.read_security(uid, self.station.scheme)
        except BridgeError as exc:
            raise tag_failure(exc, "reading the tag's security") from exc
        try:
            after = await reader.set_security(uid, secured, self.station.scheme)
        except BridgeError as exc:
            await record_exception(self.station, uid, exc, item=item, owner=owner,
                                   steps=plan.steps, kind="security_failed",
                                   clock=self._clock, rand=self._rand)
            raise tag_failure(exc, "setting the security") from exc
        plan.steps.append(f"security {'on' if secured else 'off'} and verified")
        return SecurityChange(uid, before, after)

    # -- records --------------------------------------------------------------------------------

    def _event(self, action: Action, loan: IllLoan, plan: _Plan,
               change: SecurityChange | None, operator: str | None, *,
               model: str | None = None) -> IllData:
        model = model or loan.data_model
        try:
            return IllData(action=action, primary_item_id=loan.primary_item_id,
                           owner_institution=loan.owner_institution,
                           borrowing_institution=loan.borrowing_institution,
                           tag_written=plan.image is not None, uid=loan.uid,
                           transaction_number=loan.transaction_number,
                           data_model=model if model in _EVENT_MODELS else None,
                           tag_note=plan.note[:256] if plan.note else None,
                           afi=afi_text(change.after.afi) if change is not None else None,
                           operator=operator)
        except ContractError as exc:
            raise WorkflowError("invalid_request", f"{exc.field}: {exc.reason}", status=422,
                                field=exc.field) from None

    async def _commit(self, record: Callable[[WriteConnection, datetime], None],
                      data: IllData, what: str) -> str:
        now = self._clock()
        rand = self._rand(10)

        def commit(conn: WriteConnection) -> str:
            record(conn, now)
            return record_event(conn, self.store.outbox, self.station.node, "ill",
                                "lib.ill.v1", data, now=now, rand=rand).id

        try:
            event_id: str = await self.store.writer.submit(commit, name=what, commit_now=True)
        except StoreError as exc:
            logger.exception("staff %s: %s of item %s done on the tag but not recorded",
                             self.station.name, what, data.primary_item_id)
            raise WorkflowError("store_failed", "The tag is done, but the record of it could "
                                "not be saved. Do it again.", status=503) from exc
        self.station.wake_outbox()
        logger.info("staff %s: ILL item %s of %s %s (tag %s)", self.station.name,
                    data.primary_item_id, data.owner_institution, data.action,
                    "written" if data.tag_written else "left as it is",
                    extra={"fields": {"device": self.station.name, "event": "ill"}})
        return event_id

    def _announce(self, result: IllResult) -> None:
        self.station.live.publish("staff.ill", {"reader": self.station.name,
                                                **result.to_json()})


_EVENT_MODELS = frozenset(m.value for m in TagModel
                          if m not in (TagModel.BLANK, TagModel.UNKNOWN))


def _transaction(value: str | None) -> str | None:
    """The ILL transaction number as given (any text the contract carries: 1-64 characters;
    a tag model that cannot encode it is left unwritten, as for any other reason)."""
    if value is None or value == "":
        return None
    if len(value) > MAX_TRANSACTION_CHARS:
        raise WorkflowError("invalid_request", f"transaction_number: 1-{MAX_TRANSACTION_CHARS} "
                            "characters", status=422, field="transaction_number")
    return value


def _same_elements(uid: Uid, meant: LibraryTag, written: LibraryTag) -> None:
    """VerificationFailed unless the tag decodes to exactly what was meant."""
    if written.model is not meant.model or written.elements() != meant.elements():
        raise VerificationFailed("decoded data", uid=uid, expected=str(meant.elements()),
                                 actual=f"{written.model.value} {written.elements()}")
