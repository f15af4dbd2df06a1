# SPDX-License-Identifier: Apache-2.0
"""Writing one encoded tag image through a reader, verified step by step.

Shared by ``libedge reader write`` and the staff station (``workflows.staff``), so both program
a tag the same way:

1. the DSFID the model needs (``Reader.set_dsfid``, read back): the image's own (part 2:
   0x06), or 0x00 when a tag that claimed part 2 now holds another model, so that no reader
   decodes it as part 2 any more; otherwise left as it is. First, because no command reads
   whether the DSFID is locked: a locked one refuses here, before the data is touched;
2. the image into user memory from block 0 (``Reader.write_memory``: read back and compared,
   transient failures retried);
3. with ``lock``, the image's lock plan (``Reader.lock_and_verify``: the block security status
   read back). The plan is in the image's block size; a tag with larger blocks locks only the
   blocks wholly inside the plan, so data meant to stay writable is never locked;
4. the written blocks read again and decoded afresh (``written``): what the tag holds now, not
   what was meant.

``steps`` (when given) receives one line per step done, so a caller whose write failed half way
can record exactly what the tag went through.

:func:`write_changes` is the sequence for a tag that is not ours to rewrite whole (another
library's item on interlibrary loan): only the blocks whose content changes are written, each
run of them read back and compared (``Reader.write_memory``), then the image's blocks read again
and decoded; the DSFID and the lock bits are left as they are. The caller checks first that
none of :func:`changed_blocks` is locked.

Not responsible for: choosing the tag, deciding whether it may be overwritten, security
(AFI/EAS), events or the cache (the callers do).
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge import Reader, TagSystemInfo, Unsupported
from protocols.iso15693 import Uid
from protocols.iso28560 import LibraryTag, TagImage, decode_any, part2

__all__ = ["NO_DSFID", "WrittenImage", "changed_blocks", "dsfid_to_write", "lock_plan_for",
           "locked_blocks", "write_changes", "write_image"]

NO_DSFID = 0x00
"""ISO/IEC 15693 DSFID 0x00: no data storage format given."""


@dataclass(frozen=True, slots=True)
class WrittenImage:
    """What :func:`write_image` verified on the tag."""

    dsfid: int | None
    """The DSFID as read back (None: the reader does not report it)."""
    locked_blocks: tuple[int, ...]
    """Blocks verified locked by this write (empty without ``lock`` or without a lock plan)."""
    lock_plan: tuple[int, ...]
    """The blocks the image asked to lock, in the tag's block numbers."""
    written: LibraryTag
    """The written blocks as read back and decoded."""


def dsfid_to_write(image: TagImage, current: int | None) -> int | None:
    """The DSFID to write with ``image`` on a tag whose DSFID is ``current`` (None: leave it)."""
    if image.dsfid is not None:
        return image.dsfid
    if current == part2.DSFID:
        return NO_DSFID  # rewritten in another model: the tag must stop claiming part 2
    return None


def lock_plan_for(image: TagImage, block_size: int) -> tuple[int, ...]:
    """The image's lock plan in blocks of ``block_size`` bytes: a tag block is locked only when
    every image block inside it is to be locked."""
    if block_size == image.block_size:
        return tuple(sorted(set(image.locked_blocks)))
    planned = set(image.locked_blocks)
    tag_blocks = -(-len(image.memory) // block_size)
    out: list[int] = []
    for block in range(tag_blocks):
        first = block * block_size // image.block_size
        last = ((block + 1) * block_size - 1) // image.block_size
        if all(b in planned for b in range(first, last + 1)):
            out.append(block)
    return tuple(out)


async def write_image(reader: Reader, uid: Uid, image: TagImage, *, info: TagSystemInfo,
                      lock: bool, steps: list[str] | None = None,
                      current: bytes | None = None) -> WrittenImage:
    """Write, verify, set the DSFID and lock ``image`` on tag ``uid`` (see the module doc).

    ``info`` is the tag's system information as read before the write (block size, DSFID).
    ``current``: the tag's memory as just read, when some of its blocks are locked already
    holding what the image puts there (a lock step or a commit cut short before): only the
    blocks that differ are written, so the locked ones are not touched.
    Raises the reader's errors unchanged (``BridgeError``); ``steps`` then says how far it got.
    """
    done = steps if steps is not None else []
    block_size = info.block_size or image.block_size
    blocks = -(-len(image.memory) // block_size)
    dsfid = info.dsfid
    wanted = dsfid_to_write(image, info.dsfid)
    if wanted is not None and wanted != info.dsfid:
        # First: a locked DSFID (no command reads its lock) is refused before the data is
        # touched, so a tag that cannot take the model keeps what it held.
        dsfid = (await reader.set_dsfid(uid, wanted)).dsfid
        done.append(f"DSFID {wanted:02X} written and verified")
    if current is None:
        await reader.write_memory(uid, image.memory, block_size=block_size)
        done.append(f"data written to blocks 0-{blocks - 1} and verified")
    else:
        await _write_changed(reader, uid, image, current, block_size=block_size, done=done)
    plan = lock_plan_for(image, block_size)
    locked: tuple[int, ...] = ()
    if lock and plan:
        locked = await reader.lock_and_verify(uid, plan)
        done.append(f"blocks {', '.join(map(str, locked))} locked and verified")
    memory = await reader.read_blocks(uid, 0, blocks)
    return WrittenImage(dsfid, locked, plan, decode_any(memory, dsfid=dsfid))


async def _write_changed(reader: Reader, uid: Uid, image: TagImage, current: bytes, *,
                         block_size: int, done: list[str]) -> None:
    """Each run of blocks in which ``image`` differs from ``current``, written and read back
    (the last block's bytes beyond the image kept as they are)."""
    padded = image.memory + current[len(image.memory):len(image.memory) + (
        -len(image.memory) % block_size)]
    for first, last in _runs(changed_blocks(image, current, block_size)):
        data = padded[first * block_size:(last + 1) * block_size]
        await reader.write_memory(uid, data, first_block=first, block_size=block_size)
        done.append(f"blocks {first}-{last} written and verified")


async def locked_blocks(reader: Reader, uid: Uid, memory_bytes: int, block_size: int
                        ) -> tuple[int, ...] | None:
    """The locked blocks among those holding ``memory_bytes``; None if the reader cannot tell
    (its driver has no block security status). Other reader errors are raised unchanged."""
    count = -(-memory_bytes // block_size)
    try:
        status = await reader.read_lock_status(uid, 0, count)
    except Unsupported:
        return None
    return tuple(block for block, locked in enumerate(status) if locked)


def changed_blocks(image: TagImage, current: bytes, block_size: int) -> tuple[int, ...]:
    """The blocks (of ``block_size`` bytes) in which ``image`` differs from ``current``, the
    tag's memory as read; ``image`` may not be longer than ``current``."""
    if len(image.memory) > len(current):
        raise ValueError(f"a {len(image.memory)}-byte image on {len(current)} bytes of memory")
    blocks = -(-len(image.memory) // block_size)
    return tuple(block for block in range(blocks)
                 if image.memory[block * block_size:(block + 1) * block_size]
                 != current[block * block_size:(block + 1) * block_size])


async def write_changes(reader: Reader, uid: Uid, image: TagImage, current: bytes, *,
                        info: TagSystemInfo, steps: list[str] | None = None) -> WrittenImage:
    """Write the blocks of ``image`` that differ from ``current`` (see the module doc).

    ``current`` is the tag's user memory as just read, ``info`` its system information.
    Raises the reader's errors unchanged (``BridgeError``); ``steps`` then says how far it got.
    """
    done = steps if steps is not None else []
    block_size = info.block_size or image.block_size
    await _write_changed(reader, uid, image, current, block_size=block_size, done=done)
    blocks = -(-len(image.memory) // block_size)
    memory = await reader.read_blocks(uid, 0, blocks)
    return WrittenImage(info.dsfid, (), (), decode_any(memory, dsfid=info.dsfid))


def _runs(blocks: tuple[int, ...]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted block numbers, as (first, last): one verified write each."""
    runs: list[tuple[int, int]] = []
    for block in blocks:
        if runs and block == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], block)
        else:
            runs.append((block, block))
    return runs
