# SPDX-License-Identifier: Apache-2.0
"""The steps the technical services (``ill``, ``campaigns``) share when they work on a tag on a
staff station's pad outside the station's own operations: the reader, the one tag meant, its
memory, its locked blocks, and the record of a write that failed half way.

They run with the station's ``pad_lock`` held (one tag operation at a time on the pad) and say
what went wrong as the station does (``tag_errors``).

Not responsible for: writing (``tag_writer``), the station's own operations (``staff``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from edge_service.sync.events import record_event
from edge_service.tag_writer import locked_blocks
from edge_service.workflows.errors import WorkflowError
from edge_service.workflows.staff import StaffStation
from edge_service.workflows.tag_errors import parse_uid, tag_failure, tag_silent
from firmware_bridge import BridgeError, Reader, TagSystemInfo
from protocols.contract import ContractError, ExceptionData, ItemRef
from protocols.iso15693 import Uid
from protocols.iso28560 import LibraryTag, decode_any

__all__ = ["TagOnPad", "locked_among", "only_tag", "read_tag", "record_exception",
           "station_reader"]

logger = logging.getLogger(__name__)

DETAIL_MAX = 512
"""``ExceptionData.detail`` holds at most this many characters."""


def station_reader(station: StaffStation) -> Reader:
    """The station's open driver; 503 ``device_unavailable`` while the reader is away."""
    reader = station.supervisor.reader
    if reader is None or station.supervisor.state != "connected":
        raise WorkflowError("device_unavailable",
                            f"The staff reader {station.name} is not connected.", status=503)
    return reader


async def only_tag(station: StaffStation, reader: Reader, uid: str | Uid | None) -> Uid:
    """``uid`` when it is on the pad (404 otherwise), else the one tag on the pad (409 when
    there is none or more than one: which is meant cannot be told)."""
    given = parse_uid(uid)
    if given is None:
        field_now = station.supervisor.field
        if not field_now:
            raise WorkflowError("no_tag", "Put the item on the pad.")
        if len(field_now) > 1:
            raise WorkflowError("several_tags", f"{len(field_now)} tags are on the pad; leave "
                                "only the item (or choose its tag).")
        return next(iter(field_now))
    if given in station.supervisor.field:
        return given
    try:
        await reader.system_info(given)
    except BridgeError as exc:
        if tag_silent(exc):
            raise WorkflowError("not_found", f"Tag {given} is not on the pad.", status=404,
                                field="uid") from None
        raise tag_failure(exc, "looking for the tag") from exc
    return given


@dataclass(frozen=True, slots=True)
class TagOnPad:
    """A tag as just read through the station's reader."""

    reader: Reader
    uid: Uid
    memory: bytes
    info: TagSystemInfo
    tag: LibraryTag

    @property
    def block_size(self) -> int:
        return self.info.block_size or 4


async def read_tag(reader: Reader, uid: Uid) -> TagOnPad:
    """The tag's user memory, system information and decoded data, read now."""
    try:
        memory, info = await reader.read_memory(uid)
    except BridgeError as exc:
        raise tag_failure(exc, "reading the tag") from exc
    return TagOnPad(reader, uid, memory, info, decode_any(memory, dsfid=info.dsfid))


async def locked_among(reader: Reader, uid: Uid, blocks: Sequence[int], memory_bytes: int,
                       block_size: int) -> tuple[int, ...] | None:
    """Those of ``blocks`` that are locked; None when the reader cannot tell."""
    if not blocks:
        return ()
    try:
        locked = await locked_blocks(reader, uid, memory_bytes, block_size)
    except BridgeError as exc:
        raise tag_failure(exc, "reading the tag's lock status") from exc
    return None if locked is None else tuple(block for block in blocks if block in locked)


async def record_exception(station: StaffStation, uid: Uid, exc: BridgeError, *,
                           item: str | None, owner: str | None, steps: Sequence[str],
                           clock: Callable[[], datetime], rand: Callable[[int], bytes],
                           kind: str = "write_failed") -> None:
    """A ``lib.exception.v1`` for a write that touched the tag and did not finish: what was
    done, and what failed (as the station records its own)."""
    done = "; ".join(steps) or "nothing verified"
    detail = f"done: {done}; failed: {exc}"[:DETAIL_MAX]
    try:
        ItemRef(primary_item_id=item or "x", owner_institution=owner)
    except ContractError:
        owner = None
    if item is not None:
        try:
            ItemRef(primary_item_id=item)
        except ContractError:
            item = None
    data = ExceptionData(kind="security_failed" if kind == "security_failed"
                         else "write_failed", primary_item_id=item, owner_institution=owner,
                         uid=str(uid), detail=detail)
    now, random_bytes = clock(), rand(10)
    try:
        await station.store.writer.submit(
            lambda conn: record_event(conn, station.store.outbox, station.node, "exception",
                                      "lib.exception.v1", data, now=now, rand=random_bytes),
            name="tag write failure", commit_now=True)
    except Exception:   # the failure itself is raised to the caller; this is its record
        logger.exception("staff %s: the failed write of tag %s could not be recorded",
                         station.name, uid)
        return
    station.wake_outbox()
    logger.warning("staff %s: tag %s: %s", station.name, uid, detail,
                   extra={"fields": {"device": station.name, "event": kind}})
    station.live.publish("staff", {"event": "failed", "reader": station.name, "uid": str(uid),
                                   "primary_item_id": item, "detail": detail})
