# SPDX-License-Identifier: Apache-2.0
"""Rewrite an ISO 28560-2 tag around its locked data sets: the locked bytes stay where they are.

A library's tag locks some data sets (the owner library's primary item id, ISIL, ... per its
lock plan) and leaves the rest free. Adding or removing an element in the free part with a
fresh encoding (:func:`part2.encode`) moves every data set after it, so a tag whose locked group
follows its free elements (the dp2 / Annex D layout: PII, content parameter and free elements,
then the locked group) could never take an ILL element. ISO 28560-2 lets optional data sets come
"in any sequence" after the PII and the content parameter, so the new image is laid out like
this instead::

    existing memory   [PII][CP][free a][free b][ locked group ][0x00 ...]
    new image         [PII][CP'][free a][b + pad][ locked group ][new elements][0x00 ...]
                       ^ every data set touching a locked block, byte for byte in place

- a data set any of whose bytes lie in a locked block is *fixed*: copied verbatim (its own
  compaction and padding, whoever wrote it) at its position; its value must not change;
- every other data set of the new tag (re-compacted, the content parameter recomputed over all
  OIDs present) is *movable*: placed, in order (PII first, content parameter next, then by
  OID), into the spans around the fixed ones; a span that ends at a fixed data set is filled
  exactly, the last movable data set in it taking the rest as offset padding (ISO/IEC 15962
  offset byte), as the encoder pads before a lock boundary;
- what does not fit before the last fixed data set goes after it, then the 0x00 terminator.

The result is refused (``TagFormatError`` naming why) when a changed element is locked, when a
span cannot be filled exactly (a hole would end the data early), when the PII or the content
parameter would not come first, or when any locked block would differ: the caller then leaves
the tag as it is.

Not responsible for: which blocks are locked (the reader's block security status), writing
only the changed blocks (``edge_service.tag_writer``), other models.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from protocols.errors import TagFormatError
from protocols.iso28560 import part2
from protocols.iso28560.model import LibraryTag, TagImage

__all__ = ["relayout_part2"]

PII_OID = 1
CONTENT_PARAMETER_OID = 2
MAX_PAD = 256
"""An offset byte counts 0-255 pad bytes after itself: 1-256 extra bytes in all."""


@dataclass(frozen=True, slots=True)
class _Fixed:
    oid: int
    start: int
    raw: bytes
    """The data set's bytes as on the tag, padding included."""

    @property
    def end(self) -> int:
        return self.start + len(self.raw)


def relayout_part2(memory: bytes, tag: LibraryTag, *, locked_blocks: Collection[int],
             block_size: int, changed: Collection[str]) -> TagImage:
    """The image of ``tag`` on a tag holding ``memory`` whose ``locked_blocks`` keep their
    bytes; ``changed`` names the ISO 28560-1 elements that differ from what the tag holds."""
    if block_size < 1 or len(memory) % block_size:
        raise TagFormatError(f"memory of {len(memory)} bytes is not whole {block_size}-byte "
                             "blocks")
    fixed = _fixed_sets(memory, locked_blocks, block_size)
    fixed_oids = {f.oid for f in fixed}
    for name in changed:
        (oid,) = part2.lock_oids([name])
        if oid in fixed_oids:
            raise TagFormatError(f"{name} is in a locked block and cannot change")
    movable = _movable(tag, fixed_oids)
    if CONTENT_PARAMETER_OID in fixed_oids:
        old = next(f for f in fixed if f.oid == CONTENT_PARAMETER_OID)
        new = _content_parameter(fixed_oids, movable)
        if new.data not in old.raw:
            raise TagFormatError("the content parameter is locked and would have to change")
    else:
        movable.insert(0, _content_parameter(fixed_oids, movable))
    if PII_OID not in fixed_oids:
        pii = [e for e in part2.elements_to_write(tag, isil_compaction=True) if e.oid == PII_OID]
        movable[:0] = pii
    image = bytes(_assemble(memory, fixed, movable, locked_blocks, block_size))
    _check_order(image)
    for block in locked_blocks:
        span = slice(block * block_size, (block + 1) * block_size)
        if image[span] != memory[span]:
            raise TagFormatError(f"block {block} is locked and would change")
    return TagImage(image, block_size, (), dsfid=part2.DSFID)


def _fixed_sets(memory: bytes, locked_blocks: Collection[int], block_size: int
                ) -> list[_Fixed]:
    sets, stop = part2.decode_data_sets(memory)
    ends = [s.position for s in sets[1:]] + [stop] if sets else []
    locked = set(locked_blocks)
    fixed = []
    for data_set, end in zip(sets, ends, strict=True):
        blocks = range(data_set.position // block_size, (end - 1) // block_size + 1)
        if locked.intersection(blocks):
            fixed.append(_Fixed(data_set.oid, data_set.position, memory[data_set.position:end]))
    return fixed


def _movable(tag: LibraryTag, fixed_oids: Collection[int]) -> list[part2.Element]:
    return [e for e in part2.elements_to_write(tag, isil_compaction=True)
            if e.oid not in fixed_oids and e.oid != PII_OID]


def _content_parameter(fixed_oids: Collection[int],
                       movable: Sequence[part2.Element]) -> part2.Element:
    """OID 2 over every element the new image holds."""
    return part2.content_parameter({e.oid for e in movable} | set(fixed_oids))


def _assemble(memory: bytes, fixed: Sequence[_Fixed], movable: list[part2.Element],
              locked_blocks: Collection[int], block_size: int) -> bytearray:
    out = bytearray()
    pending = list(movable)
    for anchor in fixed:
        _fill_exactly(out, pending, anchor.start)
        out += anchor.raw
    room = _tail_end(memory, fixed, locked_blocks, block_size)
    for element in pending:
        part2.append_data_set(out, element, 0)
    if len(out) > room:
        raise TagFormatError(f"the data needs {len(out)} bytes; {room} are free to the end of "
                             "the tag or its next locked block")
    return out + bytes(len(memory) - len(out))


def _fill_exactly(out: bytearray, pending: list[part2.Element], until: int) -> None:
    """Move data sets from ``pending`` into ``out`` so that it ends exactly at ``until``."""
    placed: list[part2.Element] = []
    size = len(out)
    while pending and size + pending[0].size <= until:
        size += pending[0].size
        placed.append(pending.pop(0))
    pad = until - size
    taker = part2.pad_taker(placed)
    if pad and (taker is None or pad > MAX_PAD):
        raise TagFormatError(f"{pad} free bytes before the locked data set at byte {until} "
                             "cannot be filled")
    part2.append_run(out, placed, pad, -1 if taker is None else taker)


def _tail_end(memory: bytes, fixed: Sequence[_Fixed], locked_blocks: Collection[int],
              block_size: int) -> int:
    """Where new data after the last fixed data set must stop: the next locked block."""
    start = fixed[-1].end if fixed else 0
    later = [b * block_size for b in locked_blocks if b * block_size >= start]
    return min(later, default=len(memory))


def _check_order(image: bytes) -> None:
    sets, _ = part2.decode_data_sets(image)
    oids = [s.oid for s in sets]
    if oids[:1] != [PII_OID] or (CONTENT_PARAMETER_OID in oids
                                 and oids.index(CONTENT_PARAMETER_OID) != 1):
        raise TagFormatError("the primary item id and the content parameter would not come "
                             "first")
