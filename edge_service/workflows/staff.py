# SPDX-License-Identifier: Apache-2.0
"""The staff station: program, convert and secure tags on a desk pad, and show their health.

One :class:`StaffStation` per reader with role ``staff``. What it promises:

- ``tags()``: every tag on the pad now, decoded (the JSON of ``tag_json``), with its AFI/EAS
  read now and judged by the site's security scheme (a 3M tag's, and a cut conversion's from
  3M, with 3M's values when the scheme's say neither), its locked blocks (block security
  status) and its health: read errors, decoder warnings, and the problems staff should act on
  (a model other than the library's, security neither on nor off, another library's item, a
  write of the station's cut short). A patron card is shown without its number.
- ``program(barcode)``: a new tag in the library's data model (``library.data_model``, owner
  ``library.isil``), written through :func:`edge_service.tag_writer.write_image` (read back
  and compared, DSFID verified), then security set and read back, then the model's lock plan
  locked and verified, last because it cannot be undone. The tag is the one blank tag on the pad
  (or ``uid``); two blank tags stop the write rather than guess, a tag holding data is refused
  without ``overwrite``, and so is a tag whose blocks to write are locked. A patron card and
  another library's item are refused even with ``overwrite`` (as by ``convert``).
- ``convert(uid)``: a legacy tag (3M, ISO 28560-3 or -2) re-encoded in the library's model by
  ``protocols.iso28560.convert``; refused, naming the data, when the target cannot carry
  something the tag holds (unless ``allow_loss``). The security state is kept (a 3M D7/DA
  AFI is read with the 3M meaning); without any readable state the item is secured.
- ``set_security(uid, secured)``: set or repair AFI/EAS, verified; reports before and after.
- Each verified program or conversion records ONE ``lib.tag.write.v1`` event and the tag
  observation (``tag_uids``) in one store transaction, then wakes the outbox and publishes a
  ``staff`` message. A write that fails after the tag was touched records a
  ``lib.exception.v1`` (``write_failed``/``security_failed``) saying which steps were done, and
  never a ``tag.write``: no event claims a write that was not verified. The station remembers
  such a tag, so programming it again needs no ``overwrite``.
- Batch mode (``start_batch``, see :mod:`edge_service.workflows.staff_batch`): a cart of items
  processed as they arrive on the pad, progress on ``batch()`` and the ``staff.batch`` stream.
  While a batch runs, single operations are refused (the batch owns the pad).
- Inventory: one shelf-reading session at a time on the reader (``start_inventory``,
  ``inventory``, ``finish_inventory``; the rules are :mod:`edge_service.workflows.inventory`'s).
  ``stop()`` finishes an open session, so its findings are recorded rather than dropped.
- Refusals are :class:`WorkflowError` with a message for the person at the desk; device
  trouble is ``device_unavailable`` (503).
- For the technical services built on the station (``workflows.acquisitions``, ``ill``,
  ``campaigns``): ``program_tag`` takes further ISO 28560-1 ``elements`` for the new tag and an
  ``also`` callback that records the caller's own state and event in the same transaction as
  the ``tag.write`` event; ``pad_lock`` is held by every tag operation of the station, and by a
  service writing the pad's tags in its own way.

Not responsible for: reading the pad (``devices``), encoding (``protocols.iso28560``), HTTP,
the inventory rules (``inventory``), deciding whether an item should circulate.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, TypeVar

from edge_service.config import LibraryConfig, NodeConfig
from edge_service.devices import DeviceSupervisor, TagInField, is_patron_card
from edge_service.store import Store, StoreError, WriteConnection, utc_now, write_tag_seen
from edge_service.sync.events import record_event
from edge_service.tag_writer import WrittenImage, changed_blocks, locked_blocks, write_image
from edge_service.workflows.errors import WorkflowError
from edge_service.workflows.inventory import ExpectedItem, InventoryReport, InventorySession
from edge_service.workflows.live import LiveEvents
from edge_service.workflows.staff_batch import BatchKind, BatchProgress, StaffBatch
from edge_service.workflows.staff_results import (
    SecurityChange,
    TagHealth,
    TagView,
    WriteResult,
    afi_text,
)
from edge_service.workflows.tag_errors import ISO_BLOCK_LOCKED
from edge_service.workflows.tag_errors import parse_uid as _parse_uid
from edge_service.workflows.tag_errors import tag_failure as _tag_failure
from edge_service.workflows.tag_errors import tag_silent as _tag_silent
from firmware_bridge import (
    SECURITY_PRESETS,
    BridgeError,
    Reader,
    SecurityScheme,
    SecurityState,
    TagRefused,
    TagSystemInfo,
    VerificationFailed,
)
from protocols import ProtocolError
from protocols.contract import ContractError, ExceptionData, ItemRef, Message, TagWriteData
from protocols.iso15693 import Uid
from protocols.iso28560 import (
    Conversion,
    ConversionRefused,
    LibraryTag,
    TagImage,
    TagModel,
    convert,
    decode_any,
    encode_tag,
)

__all__ = ["SecurityChange", "StaffStation", "TagHealth", "TagView", "WriteResult"]

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
FailureKind = Literal["write_failed", "security_failed"]
AlsoRecord = Callable[[WriteConnection, LibraryTag, datetime], None]
"""More records of a caller, made in the transaction of a verified write's ``tag.write`` event:
(connection, the tag as read back, the event's time)."""

DETAIL_MAX = 512
"""``ExceptionData.detail`` holds at most this many characters."""
_SIZE_OPTION = {TagModel.PART2: "memory_size", TagModel.PART3: "size"}
"""Each target encoder's name for the tag's user memory size (``convert`` passes it on)."""



@dataclass(frozen=True, slots=True)
class _Unfinished:
    """What a cut write meant to leave on a tag: finishing it is not an overwrite, and a cut
    conversion is finished from here (the tag itself no longer holds the source data)."""

    item: str | None
    conversion: Conversion | None = None
    converted_from: TagModel | None = None


@dataclass(slots=True)
class _Attempt:
    """What one write operation did to the tag so far (the exception event's detail)."""

    uid: Uid
    item: str | None
    owner: str | None
    steps: list[str] = field(default_factory=list)


# --- the station ---------------------------------------------------------------------------

class StaffStation:
    """The staff desk workflows on one reader; see the module docstring."""

    def __init__(  # noqa: PLR0917 - the daemon builds it in this order: reader, store, who
            self, supervisor: DeviceSupervisor, store: Store, node: NodeConfig,
            library: LibraryConfig, scheme: SecurityScheme, live: LiveEvents, *,
            wake_outbox: Callable[[], None] = lambda: None,
            clock: Callable[[], datetime] = utc_now,
            rand: Callable[[int], bytes] = os.urandom,
            pad_lock: asyncio.Lock | None = None) -> None:
        self.supervisor = supervisor
        self.store = store
        self.node = node
        self.library = library
        self.scheme = scheme
        self.live = live
        self.wake_outbox = wake_outbox
        self._clock = clock
        self._rand = rand
        self.target_model = TagModel(library.data_model)
        self._lock = pad_lock or asyncio.Lock()
        """``pad_lock``: a kiosk lends its own tag lock to the station that converts its
        checked-in items, so its tag work and theirs take turns."""
        self._unfinished: dict[Uid, _Unfinished] = {}
        """Tags a failed write left in an unknown state, with what was meant for them."""
        self._batch: StaffBatch | None = None
        self.campaign_running: Callable[[], str | None] = lambda: None
        """The migration campaign running on this reader (``campaigns`` sets it), if any."""
        self._inventory: InventorySession | None = None

    @property
    def name(self) -> str:
        return self.supervisor.name

    @property
    def pad_lock(self) -> asyncio.Lock:
        """Held by every tag operation of this station (one at a time on the pad)."""
        return self._lock

    def left_unfinished(self, uid: Uid) -> bool:
        """Whether a write of this station to ``uid`` failed after it began (and no later
        write finished it)."""
        return uid in self._unfinished

    async def stop(self) -> None:
        """Stop a running batch (after its current tag) and finish an open inventory session
        (its findings are recorded, not dropped); safe to call twice."""
        if self._batch is not None and self._batch.running:
            await self._batch.stop()
        if self._inventory is not None and not self._inventory.finished:
            logger.info("staff %s: inventory %s finished by shutdown", self.name,
                        self._inventory.session_id)
            try:
                await self._inventory.finish()
            except WorkflowError as exc:
                logger.warning("staff %s: inventory %s not recorded: %s", self.name,
                               self._inventory.session_id, exc.message)

    # -- tags on the pad ---------------------------------------------------------------------

    async def tags(self) -> list[TagView]:
        """Every tag on the pad now; see the module docstring."""
        reader = self._reader()
        field_now = dict(self.supervisor.field)
        return [await self._view(reader, uid, field_now[uid]) for uid in sorted(field_now)]

    async def _view(self, reader: Reader, uid: Uid, seen: TagInField) -> TagView:
        read_error = security_error = lock_error = None
        tag: LibraryTag | None = None
        memory, dsfid = seen.memory, seen.dsfid
        if not seen.read or memory is None:
            try:
                memory, info = await reader.read_memory(uid)
                dsfid = info.dsfid
            except BridgeError as exc:
                read_error, memory = str(exc), None
        if memory is not None:
            tag = decode_any(memory, dsfid=dsfid)
        security: SecurityState | None = None
        try:
            security = await reader.read_security(uid, self.scheme)
        except BridgeError as exc:
            security_error = str(exc)
        cut = self._unfinished.get(uid)
        in_3m = (tag is not None and tag.model is TagModel.LEGACY_3M) or (
            cut is not None and cut.converted_from is TagModel.LEGACY_3M)
        if in_3m and security is not None and security.secured is None:
            # A 3M tag's AFI (D7/DA) means what 3M's system says, as convert reads it.
            security = replace(security, secured=SECURITY_PRESETS["3m"].is_secured(
                afi=security.afi, eas=None))
        else:
            in_3m = False
        locked: tuple[int, ...] | None = None
        if memory is not None:
            try:
                locked = await locked_blocks(reader, uid, len(memory),
                                             self._block_size(reader, uid))
            except BridgeError as exc:
                lock_error = str(exc)
        health = TagHealth(read_error=read_error, security_error=security_error,
                           lock_status_error=lock_error,
                           warnings=tag.warnings if tag is not None else (),
                           problems=tuple(self._problems(tag, security, cut, in_3m=in_3m)))
        return TagView(uid, tag, security, locked, health)

    def _problems(self, tag: LibraryTag | None, security: SecurityState | None,
                  cut: _Unfinished | None, *, in_3m: bool) -> Iterable[str]:
        """What staff should act on. ``cut``: a write of this station left the tag half
        done (its data and security are whatever the cut left); ``in_3m``: its security was
        read with 3M's values."""
        if cut is not None:
            what = f"item {cut.item}" if cut.item else "this tag"
            again = "convert" if cut.conversion is not None else "program"
            yield f"writing {what} was cut short: {again} it again to finish it"
            return
        if tag is not None and is_patron_card(tag):
            yield "a library card (patron card), not an item: its number is not shown"
        elif tag is not None:
            if tag.model is TagModel.UNKNOWN:
                yield "the tag's data is in no known model (see warnings)"
            elif tag.model not in (TagModel.BLANK, self.target_model):
                yield (f"the tag is in {tag.model.value}; this library writes "
                       f"{self.target_model.value} (convert it)")
            if tag.primary_item_id and not self.library.ours(tag.owner_institution):
                yield f"the item belongs to another library ({tag.owner_institution})"
        if security is not None and security.secured is None:
            action = "converting the tag secures it" if in_3m else "set it"
            yield (f"security is neither on nor off (AFI {afi_text(security.afi)}, "
                   f"EAS {security.eas}): {action}")
        elif security is not None and in_3m:
            yield (f"security is {'on' if security.secured else 'off'} in 3M's values (AFI "
                   f"{afi_text(security.afi)}): converting the tag keeps it, in this "
                   "library's values")

    @staticmethod
    def _block_size(reader: Reader, uid: Uid) -> int:
        """The tag's block size as its system information gave it (4 when not known)."""
        info = reader.remembered_info(uid)
        return (info.block_size if info else None) or 4

    # -- program -----------------------------------------------------------------------------

    async def program(self, barcode: str, *, uid: str | Uid | None = None,
                      overwrite: bool = False, secured: bool = True,
                      set_part: int | None = None, set_total: int | None = None,
                      operator: str | None = None) -> WriteResult:
        """Program a tag for item ``barcode``; see the module docstring."""
        self._no_batch()
        return await self.program_tag(barcode, uid=uid, overwrite=overwrite, secured=secured,
                                      set_part=set_part, set_total=set_total, operator=operator)

    async def program_tag(self, barcode: str, *, uid: str | Uid | None = None,
                          overwrite: bool = False, secured: bool = True,
                          set_part: int | None = None, set_total: int | None = None,
                          operator: str | None = None,
                          elements: Mapping[str, Any] | None = None,
                          also: AlsoRecord | None = None) -> WriteResult:
        """:meth:`program` without the batch check (the batch and the technical services call
        this): ``elements`` more ISO 28560-1 elements for the tag (``type_of_usage``...),
        ``also`` the caller's records in the write's transaction (see the module docstring)."""
        wanted = self._new_tag(barcode, set_part, set_total, elements)
        given = _parse_uid(uid)
        async with self._lock:
            reader = self._reader()
            target = await self._program_target(reader, given)
            draft = _checked(lambda: TagWriteData(
                primary_item_id=barcode, uid=str(target), data_model=self.target_model.value,
                verified=False, locked_blocks=(), owner_institution=wanted.owner_institution,
                operator=operator))
            memory, info, current = await self._read(reader, target)
            self._may_overwrite(target, current, barcode, overwrite)
            image = _encoded(wanted, len(memory))
            around_locks = await self._refuse_locked(reader, target, image, memory)
            attempt = _Attempt(target, barcode, wanted.owner_institution)
            written, change = await self._write(reader, attempt, image, info, secured,
                                                current=memory if around_locks else None)
            result = await self._commit(attempt, written, change, draft, also=also)
        self._announce("programmed", result)
        return result

    def _new_tag(self, barcode: str, set_part: int | None, set_total: int | None,
                 elements: Mapping[str, Any] | None = None) -> LibraryTag:
        _checked(lambda: ItemRef(primary_item_id=barcode), field_name="barcode")
        if (set_part is None) != (set_total is None):
            raise WorkflowError("invalid_request", "Give both the part number and the number "
                                "of parts of the set, or neither.", status=422, field="set_part")
        try:
            return LibraryTag(self.target_model, **{
                "primary_item_id": barcode, "owner_institution": self.library.isil or None,
                "set_part": set_part, "set_total": set_total, **(elements or {})})
        except ProtocolError as exc:
            raise WorkflowError("invalid_request", str(exc), status=422,
                                field="set_part") from None

    async def _program_target(self, reader: Reader, given: Uid | None) -> Uid:
        """The tag to program: ``given``, the only tag, or the one blank tag on the pad, as an
        inventory taken now shows it (the supervisor's last poll may be up to a period old: a
        second blank tag just put down would not count)."""
        if given is not None:
            await self._on_pad(reader, given)
            return given
        try:
            present = sorted({sighting.uid for sighting in await reader.inventory()})
        except BridgeError as exc:
            raise _tag_failure(exc, "looking at the tags on the pad") from exc
        if not present:
            raise WorkflowError("no_tag", "Put the item with its new tag on the pad.")
        if len(present) == 1:
            return present[0]
        known = dict(self.supervisor.field)
        blank: list[Uid] = []
        for uid in present:
            seen = known.get(uid)
            model = seen.model if seen is not None and seen.read \
                else await self._model_now(reader, uid)
            if model == TagModel.BLANK.value:
                blank.append(uid)
        if len(blank) > 1:
            raise WorkflowError(
                "several_blank_tags",
                f"{len(blank)} blank tags are on the pad, so which one is this item's cannot "
                "be told. Leave only the item to program on the pad (or choose its tag).")
        if not blank:
            raise WorkflowError(
                "no_blank_tag", f"{len(present)} tags are on the pad and none is blank. "
                "Leave only the item to program on the pad (or choose its tag).")
        return blank[0]

    async def _model_now(self, reader: Reader, uid: Uid) -> str | None:
        try:
            memory, info = await reader.read_memory(uid)
        except BridgeError as exc:
            raise _tag_failure(exc, "reading the tags on the pad") from exc
        return decode_any(memory, dsfid=info.dsfid).model.value

    def _may_overwrite(self, uid: Uid, current: LibraryTag, item: str | None,
                       overwrite: bool) -> None:
        """Refuse a tag holding data unless ``overwrite``; refuse a patron card and another
        library's item even then (as a conversion does: ``left_as_written``)."""
        if current.model is TagModel.BLANK:
            return
        cut = self._unfinished.get(uid)
        if cut is not None and cut.item == item:
            return  # our own write of this item, cut short: finishing it is not an overwrite
        refusal = self.left_as_written(current)
        if refusal is not None:
            code, reason = refusal
            raise WorkflowError(code, f"Not programmed: {reason}.", field="uid")
        if overwrite:
            return
        raise WorkflowError(
            "tag_not_blank", f"This tag already holds {_holds(current)}. Overwrite it only "
            "if that item is not in use (overwrite).", field="uid")

    # -- convert -----------------------------------------------------------------------------

    async def convert(self, uid: str | Uid, *, allow_loss: bool = False,
                      secured: bool | None = None, operator: str | None = None) -> WriteResult:
        """Re-encode a legacy tag in the library's model; see the module docstring."""
        self._no_batch()
        return await self.convert_tag(uid, allow_loss=allow_loss, secured=secured,
                                      operator=operator)

    async def convert_tag(self, uid: str | Uid, *, allow_loss: bool = False,
                          secured: bool | None = None, operator: str | None = None
                          ) -> WriteResult:
        """:meth:`convert` without the batch check (the batch itself calls this)."""
        target = _parse_uid(uid)
        if target is None:
            raise WorkflowError("invalid_request", "Choose the tag to convert.", status=422,
                                field="uid")
        async with self._lock:
            reader = self._reader()
            await self._on_pad(reader, target)
            memory, info, source = await self._read(reader, target)
            cut = self._unfinished.get(target)
            if cut is not None and cut.conversion is not None and cut.converted_from:
                conversion, source_model = cut.conversion, cut.converted_from
            else:
                conversion = self._conversion(source, len(memory), allow_loss)
                source_model = source.model
            written_model = conversion.tag
            draft = _checked(lambda: TagWriteData(
                primary_item_id=written_model.primary_item_id or "", uid=str(target),
                data_model=self.target_model.value, verified=False, locked_blocks=(),
                owner_institution=written_model.owner_institution,
                converted_from=source_model.value, operator=operator))
            around_locks = await self._refuse_locked(reader, target, conversion.image, memory)
            if secured is None:
                secured = await self._kept_security(reader, target)
            attempt = _Attempt(target, written_model.primary_item_id,
                               written_model.owner_institution)
            written, change = await self._write(
                reader, attempt, conversion.image, info, secured,
                meant=_Unfinished(attempt.item, conversion, source_model),
                current=memory if around_locks else None)
            result = await self._commit(attempt, written, change, draft,
                                        converted_from=source_model,
                                        dropped=conversion.dropped)
        self._announce("converted", result)
        return result

    def left_as_written(self, tag: TagInField | LibraryTag) -> tuple[str, str] | None:
        """Why no conversion (a single one, a batch, a campaign, the kiosk's at check-in) ever
        rewrites ``tag``, as (error code, reason); None when it may. A patron card: its "item
        id" is a card number, which an event and the tag cache would keep. Another library's
        item: re-encoded and locked, its owner could neither read nor rewrite it."""
        if is_patron_card(tag):
            return "patron_card", "a library card, not an item"
        owner = tag.owner_institution
        if owner and not self.library.ours(owner):
            return "not_ours", (f"another library's item ({owner}): its tag stays as that "
                                "library wrote it")
        return None

    def _conversion(self, source: LibraryTag, memory_bytes: int, allow_loss: bool
                    ) -> Conversion:
        refusal = self.left_as_written(source)
        if refusal is not None:
            code, reason = refusal
            raise WorkflowError(code, f"Not converted: {reason}.")
        if source.model in (TagModel.BLANK, TagModel.UNKNOWN):
            raise WorkflowError("nothing_to_convert", f"This tag is {source.model.value}: "
                                "there is nothing to convert (program it instead).")
        if source.model is self.target_model:
            raise WorkflowError("already_converted",
                                f"This tag is already in {self.target_model.value}.")
        if not source.primary_item_id:
            raise WorkflowError("nothing_to_convert", "This tag holds no item id: program it "
                                "instead.")
        overrides = ({"owner_institution": self.library.isil}
                     if self.library.isil and not source.owner_institution else None)
        options = {_SIZE_OPTION.get(self.target_model, "size"): memory_bytes}
        try:
            return convert(source, self.target_model, allow_loss=allow_loss,
                           overrides=overrides, **options)
        except ConversionRefused as exc:
            raise WorkflowError(
                "conversion_refused",
                f"Converting this tag to {self.target_model.value} would lose "
                f"{', '.join(exc.lost)}. Convert anyway only if that data is not needed "
                "(allow loss).") from None
        except ProtocolError as exc:
            raise WorkflowError("cannot_encode", f"This tag cannot be converted: {exc}",
                                status=422) from None

    async def _kept_security(self, reader: Reader, uid: Uid) -> bool:
        """The security state to keep across a conversion: the tag's own, read with the
        site's scheme, else with the 3M values (a 3M tag's D7/DA), else secured."""
        try:
            state = await reader.read_security(uid, self.scheme)
        except BridgeError as exc:
            raise _tag_failure(exc, "reading the tag's security") from exc
        if state.secured is not None:
            return state.secured
        legacy = SECURITY_PRESETS["3m"].is_secured(afi=state.afi, eas=None)
        return True if legacy is None else legacy

    # -- security ----------------------------------------------------------------------------

    async def set_security(self, uid: str | Uid, secured: bool) -> SecurityChange:
        """Set (or repair) the tag's security and read it back; see the module docstring."""
        self._no_batch()
        return await self.secure_tag(uid, secured)

    async def secure_tag(self, uid: str | Uid, secured: bool) -> SecurityChange:
        """:meth:`set_security` without the batch check (the batch itself calls this)."""
        target = _parse_uid(uid)
        if target is None:
            raise WorkflowError("invalid_request", "Choose the tag.", status=422, field="uid")
        cut = self._unfinished.get(target)
        if cut is not None:
            # Its data may decode as complete (a part 2 tag cut after the item id) while the
            # owner, security and locks are missing: securing it would hide that.
            what = f"item {cut.item} on this tag" if cut.item else "this tag"
            raise WorkflowError("unfinished", f"Writing {what} was cut short. Program (or "
                                "convert) it again to finish it first.")
        async with self._lock:
            reader = self._reader()
            await self._on_pad(reader, target)
            owner, item, card = await self._identity(reader, target)
            if card and secured:
                # A secured card alarms at the gate like an item (a card is no item there):
                # switching its security off is a repair, on is a mistake.
                raise WorkflowError("patron_card", "This is a library card, not an item: it "
                                    "is never secured.")
            if card:
                item = None   # a card number: neither cached, recorded nor shown
            attempt = _Attempt(target, item, owner)
            change = await self._secure(reader, attempt, secured)
            if item:
                await self._record_seen(target, owner, item, change.after)
        self.live.publish("staff", {"event": "security", "reader": self.name,
                                    "primary_item_id": item, **change.to_json()})
        return change

    async def _identity(self, reader: Reader, uid: Uid
                        ) -> tuple[str | None, str | None, bool]:
        """(owner, item id, is a patron card) of a tag: the supervisor's reading, or the tag
        read now when the supervisor has not read it (yet, or again since this station
        rewrote it)."""
        seen = self.supervisor.field.get(uid)
        if seen is not None and seen.read:
            return seen.owner_institution, seen.primary_item_id, is_patron_card(seen)
        _, _, tag = await self._read(reader, uid)
        return tag.owner_institution, tag.primary_item_id, is_patron_card(tag)

    async def _secure(self, reader: Reader, attempt: _Attempt, secured: bool) -> SecurityChange:
        try:
            before = await reader.read_security(attempt.uid, self.scheme)
        except BridgeError as exc:
            if attempt.steps:   # after the data was written: the tag was touched
                await self._record_failure(attempt, "security_failed", exc)
            raise _tag_failure(exc, "reading the tag's security") from exc
        try:
            after = await reader.set_security(attempt.uid, secured, self.scheme)
        except BridgeError as exc:
            await self._record_failure(attempt, "security_failed", exc)
            raise _tag_failure(exc, "setting the security") from exc
        return SecurityChange(attempt.uid, before, after)

    async def _record_seen(self, uid: Uid, owner: str | None, item: str,
                           after: SecurityState) -> None:
        try:
            await self.store.cache.record_tag_seen(str(uid), owner or "", item, afi=after.afi,
                                                   eas=after.eas)
        except StoreError as exc:  # the tag is right; only the cache's note of it is late
            logger.warning("staff %s: tag %s not recorded: %s", self.name, uid, exc)

    # -- batch -------------------------------------------------------------------------------

    async def start_batch(self, kind: str, items: Sequence[str] = (), *, secured: bool = True,
                          operator: str | None = None) -> BatchProgress:
        """Start processing a cart; see :mod:`edge_service.workflows.staff_batch`."""
        self._no_batch()
        running = self.campaign_running()
        if running is not None:
            # Both would take each arriving tag: a convert batch would count the campaign's
            # conversions as failures, a program batch write over what the campaign reads.
            raise WorkflowError("campaign_running", f"Campaign {running} runs on this pad; "
                                "stop it first.")
        batch = StaffBatch.create(self, _batch_kind(kind), items, secured=secured,
                                  operator=operator)
        self._batch = batch
        batch.start()
        return batch.progress()

    def batch(self) -> BatchProgress | None:
        """The running (or last) batch's progress; None if there was none."""
        return self._batch.progress() if self._batch is not None else None

    async def stop_batch(self) -> BatchProgress:
        """Stop the batch after the tag being written; its progress as it ended."""
        if self._batch is None:
            raise WorkflowError("no_batch", "No batch was started.", status=404)
        await self._batch.stop()
        return self._batch.progress()

    def _no_batch(self) -> None:
        if self._batch is not None and self._batch.running:
            raise WorkflowError("batch_active", "A batch is running on this pad; stop it first.")

    # -- inventory ---------------------------------------------------------------------------

    def start_inventory(self, location: str | None = None,
                        expected: Iterable[ExpectedItem | tuple[str | None, str, str | None]] = (),
                        *, session_id: str | None = None) -> InventoryReport:
        """Start a shelf-reading session on this reader (see :mod:`.inventory`)."""
        if self._inventory is not None and not self._inventory.finished:
            raise WorkflowError("inventory_active", "An inventory session is open on this "
                                "reader; finish it first.")
        session = InventorySession(self.supervisor, store=self.store, node=self.node,
                                   live=self.live, location=location, expected=expected,
                                   session_id=session_id, wake_outbox=self.wake_outbox,
                                   clock=self._clock, rand=self._rand)
        session.start()
        self._inventory = session
        return session.report()

    def inventory(self) -> InventoryReport:
        """The open (or last) inventory session's report."""
        if self._inventory is None:
            raise WorkflowError("no_inventory", "No inventory session was started.",
                                status=404)
        return self._inventory.report()

    async def finish_inventory(self) -> InventoryReport:
        """Finish the open session: its event is recorded (see :mod:`.inventory`)."""
        if self._inventory is None:
            raise WorkflowError("no_inventory", "No inventory session was started.",
                                status=404)
        return await self._inventory.finish()

    # -- the shared steps --------------------------------------------------------------------

    def _reader(self) -> Reader:
        reader = self.supervisor.reader
        if reader is None or self.supervisor.state != "connected":
            raise WorkflowError("device_unavailable",
                                f"The staff reader {self.name} is not connected.", status=503)
        return reader

    async def _on_pad(self, reader: Reader, uid: Uid) -> None:
        """``not_found`` unless the tag is on the pad: in the supervisor's field, or answering
        now (the supervisor reads a tag this station rewrote again at its next inventory)."""
        if uid in self.supervisor.field:
            return
        try:
            await reader.system_info(uid)
        except BridgeError as exc:
            if _tag_silent(exc):
                raise WorkflowError("not_found", f"Tag {uid} is not on the pad.", status=404,
                                    field="uid") from None
            raise _tag_failure(exc, "looking for the tag") from exc

    async def _read(self, reader: Reader, uid: Uid
                    ) -> tuple[bytes, TagSystemInfo, LibraryTag]:
        try:
            memory, info = await reader.read_memory(uid)
        except BridgeError as exc:
            raise _tag_failure(exc, "reading the tag") from exc
        return memory, info, decode_any(memory, dsfid=info.dsfid)

    async def _refuse_locked(self, reader: Reader, uid: Uid, image: TagImage,
                             current: bytes) -> bool:
        """Refuse before writing anything when a block to write is locked and holds something
        else: the write would stop part way at that block. True when blocks are locked
        already holding what ``image`` puts there (this station's lock step, or its commit,
        was cut short): the write then goes around them (``write_image(current=...)``)."""
        block_size = self._block_size(reader, uid)
        try:
            locked = await locked_blocks(reader, uid, len(image.memory), block_size)
        except BridgeError as exc:
            raise _tag_failure(exc, "reading the tag's lock status") from exc
        if not locked:
            return False
        changed = set(changed_blocks(image, current, block_size))
        if any(block in changed for block in locked):
            raise WorkflowError(
                "tag_locked", f"Blocks {', '.join(map(str, locked))} of this tag are locked, "
                "so it cannot be rewritten. Give the item a new tag.", field="uid")
        return True

    async def _write(self, reader: Reader, attempt: _Attempt, image: TagImage,
                     info: TagSystemInfo, secured: bool, *, meant: _Unfinished | None = None,
                     current: bytes | None = None) -> tuple[WrittenImage, SecurityChange]:
        """Data (+DSFID) and its decoded read-back, security, then the lock plan, last as it
        cannot be undone; every step verified. The supervisor's field then shows the verified
        read-back; after a failure the supervisor reads the tag afresh."""
        uid = attempt.uid
        before = self._unfinished.get(uid)
        self._unfinished[uid] = meant or _Unfinished(attempt.item)
        try:
            try:
                written = await self._write_data(reader, attempt, image, info, current)
            except WorkflowError as exc:
                if exc.code == "dsfid_locked":   # refused before anything was written
                    if before is None:
                        self._unfinished.pop(uid, None)
                    else:
                        self._unfinished[uid] = before
                raise
            change = await self._secure(reader, attempt, secured)
            attempt.steps.append(f"security {'on' if secured else 'off'} and verified")
            if written.lock_plan:
                try:
                    locked = await reader.lock_and_verify(uid, written.lock_plan)
                except BridgeError as exc:
                    await self._record_failure(attempt, "write_failed", exc)
                    raise _tag_failure(exc, "locking the tag's blocks") from exc
                written = replace(written, locked_blocks=locked)
        except BaseException:
            self.supervisor.forget(uid)
            raise
        self.supervisor.remember_written(uid, written)
        return written, change

    async def _write_data(self, reader: Reader, attempt: _Attempt, image: TagImage,
                          info: TagSystemInfo, current: bytes | None = None) -> WrittenImage:
        uid = attempt.uid
        try:
            written = await write_image(reader, uid, image, info=info, lock=False,
                                        steps=attempt.steps, current=current)
            tag = written.written
            if tag.model is not self.target_model or tag.primary_item_id != attempt.item:
                raise VerificationFailed(
                    "decoded data", uid=uid, expected=f"{self.target_model.value} item "
                    f"{attempt.item}", actual=f"{tag.model.value} item {tag.primary_item_id}")
        except BridgeError as exc:
            await self._record_failure(attempt, "write_failed", exc)
            if isinstance(exc, TagRefused) and exc.iso_error == ISO_BLOCK_LOCKED \
                    and exc.block is None and not attempt.steps:
                # The DSFID goes first (tag_writer) and its lock cannot be read beforehand.
                raise WorkflowError(
                    "dsfid_locked", "This tag's data format identifier (DSFID) is locked: it "
                    f"cannot hold {self.target_model.value}. Nothing was written; give the "
                    "item a new tag.") from exc
            raise _tag_failure(exc, "writing the tag") from exc
        return written

    async def _commit(self, attempt: _Attempt, written: WrittenImage,
                      change: SecurityChange, draft: TagWriteData, *,
                      converted_from: TagModel | None = None, dropped: tuple[str, ...] = (),
                      also: AlsoRecord | None = None) -> WriteResult:
        """The tag.write event and the tag observation (and ``also``'s), in one transaction."""
        uid, tag = attempt.uid, written.written
        data = replace(draft, verified=True, locked_blocks=written.locked_blocks,
                       owner_institution=tag.owner_institution, afi=afi_text(change.after.afi))
        now = self._clock()
        rand = self._rand(10)

        def commit(conn: WriteConnection) -> str:
            event = record_event(conn, self.store.outbox, self.node, "tag.write",
                                 "lib.tag.write.v1", data, now=now, rand=rand)
            write_tag_seen(conn, str(uid), tag.owner_institution or "",
                           tag.primary_item_id or "", afi=change.after.afi,
                           eas=change.after.eas, now=now)
            if also is not None:
                also(conn, tag, now)
            return event.id

        try:
            event_id = await self.store.writer.submit(commit, name="staff tag write",
                                                      commit_now=True)
        except StoreError as exc:
            logger.exception("staff %s: tag %s was written and verified but its event could "
                             "not be stored", self.name, uid)
            raise WorkflowError("store_failed", "The tag was written, but the record of it "
                                "could not be saved. Do it again.", status=503) from exc
        self._unfinished.pop(uid, None)
        self.wake_outbox()
        logger.info("staff %s: tag %s holds item %s (%s), verified", self.name, uid,
                    tag.primary_item_id, tag.model.value,
                    extra={"fields": {"device": self.name, "event": "tag_write"}})
        return WriteResult(uid, tag, written.dsfid, written.locked_blocks, change, event_id,
                           converted_from, dropped)

    async def _record_failure(self, attempt: _Attempt, kind: FailureKind,
                              exc: BridgeError) -> None:
        """A ``lib.exception.v1`` for a write that touched the tag and did not finish."""
        done = "; ".join(attempt.steps) or "nothing verified"
        detail = f"done: {done}; failed: {exc}"[:DETAIL_MAX]
        item = attempt.item if attempt.item and _valid(
            lambda: ItemRef(primary_item_id=attempt.item or "")) else None
        owner = attempt.owner if attempt.owner and _valid(
            lambda: ItemRef(primary_item_id="x", owner_institution=attempt.owner)) else None
        data = ExceptionData(kind=kind, primary_item_id=item,
                             owner_institution=owner, uid=str(attempt.uid), detail=detail)
        now = self._clock()
        rand = self._rand(10)
        try:
            await self.store.writer.submit(
                lambda conn: record_event(conn, self.store.outbox, self.node, "exception",
                                          "lib.exception.v1", data, now=now, rand=rand),
                name="staff write failure", commit_now=True)
        except StoreError:
            logger.exception("staff %s: the failed write of tag %s could not be recorded",
                             self.name, attempt.uid)
            return
        self.wake_outbox()
        logger.warning("staff %s: tag %s: %s", self.name, attempt.uid, detail,
                       extra={"fields": {"device": self.name, "event": kind}})
        self.live.publish("staff", {"event": "failed", "reader": self.name,
                                    "uid": str(attempt.uid), "primary_item_id": item,
                                    "detail": detail})

    def _announce(self, what: str, result: WriteResult) -> None:
        self.live.publish("staff", {"event": what, "reader": self.name, **result.to_json()})


# --- helpers ----------------------------------------------------------------------------------

def _batch_kind(kind: str) -> BatchKind:
    try:
        return BatchKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in BatchKind)
        raise WorkflowError("invalid_request", f"A batch is one of {known}, not {kind!r}.",
                            status=422, field="kind") from None


def _holds(tag: LibraryTag) -> str:
    """What a tag holding data holds, for staff: the item and its owner when known."""
    if not tag.primary_item_id:
        return f"data ({tag.model.value})"
    owner = f" of {tag.owner_institution}" if tag.owner_institution else ""
    return f"item {tag.primary_item_id}{owner} ({tag.model.value})"


def _encoded(tag: LibraryTag, memory_bytes: int) -> TagImage:
    try:
        image = encode_tag(tag, size=memory_bytes or None).image
    except ProtocolError as exc:
        raise WorkflowError("cannot_encode", f"This item cannot be written on this tag: {exc}",
                            status=422, field="barcode") from None
    assert image is not None  # HF models only: config allows part 2 and 3
    return image


def _checked(build: Callable[[], M], *, field_name: str | None = None) -> M:
    """``build()``, or a 422 naming the field the contract refused."""
    try:
        return build()
    except ContractError as exc:
        where = field_name or exc.field
        raise WorkflowError("invalid_request", f"{where}: {exc.reason}", status=422,
                            field=where) from None


def _valid(build: Callable[[], Message]) -> bool:
    try:
        build()
    except ContractError:
        return False
    return True
