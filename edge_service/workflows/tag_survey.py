# SPDX-License-Identifier: Apache-2.0
"""The tag health survey of a migration campaign: how a tag reads, what is locked on it, and
whether its EAS/AFI password is still a factory default.

:func:`survey_tag` looks at one tag on a staff station's pad:

    finding            how
    weak read          the whole user memory was read, but only after a failed try (of
                       ``SURVEY_READS``): the tag did not answer every read cleanly
    unreadable blocks  after ``SURVEY_READS`` failed whole reads, every block is read on its
                       own (``BLOCK_READS`` tries each): those that never answer
    locked blocks      the block security status (ISO 15693 0x2C); None when the reader cannot
                       tell. A campaign counts a tag whose locked blocks lie where the new
                       image goes as "blocked by locks": a conversion would stop at them
    default password   the NXP EAS/AFI password (ICODE SLIX, id 0x10) is one of
                       ``DEFAULT_EAS_AFI_PASSWORDS``: SET PASSWORD with it is accepted. Anyone
                       with an NFC phone can then flip the item's security. Only on readers whose
                       driver sends NXP SET PASSWORD (FEIG); a refused password mutes an SLIX
                       tag, and the FEIG driver then resets the field (all tags on the pad power
                       up again). A refusal counts only the second time (``PASSWORD_TRIES``):
                       the driver sends GET RANDOM NUMBER and SET PASSWORD as two exchanges,
                       and a presence inventory between them resets the field, so the tag
                       forgets its random number and refuses even its own password. None: not
                       checked

Not responsible for: converting the tag (``campaigns`` via ``staff``), what to do about the
findings (staff decide: replace the tag, set a password).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from firmware_bridge import BridgeError, Reader, TagRefused, TagSystemInfo, TransientError
from protocols.iso15693 import PasswordId, Uid
from protocols.iso28560 import LibraryTag, decode_any

__all__ = ["BLOCK_READS", "DEFAULT_EAS_AFI_PASSWORDS", "PASSWORD_TRIES", "SURVEY_READS",
           "TagSurvey", "default_password", "survey_tag"]

logger = logging.getLogger(__name__)

SURVEY_READS = 3
"""Whole-memory reads before the tag is read block by block."""
BLOCK_READS = 2
"""Reads of one block before it counts as unreadable."""
DEFAULT_EAS_AFI_PASSWORDS = (0x00000000, 0x0F0F0F0F)
"""0x00000000: an ICODE SLIX whose passwords were never set (the simulator's SLIX, as shipped);
0x0F0F0F0F: the NXP default the security review checks for (reference reliability_perf.md,
S4 "Tag-security hygiene")."""
PASSWORD_TRIES = 2
"""SET PASSWORD tries per default password before it counts as refused (module docstring)."""
WRONG_PASSWORD = 0x0F
"""ISO 15693 error code an SLIX answers a wrong SET PASSWORD with (it then stays mute until
the field is reset)."""


@runtime_checkable
class NxpPasswords(Protocol):
    """A driver's firmware that sends NXP SET PASSWORD (FEIG's ``FeigFirmware``)."""

    async def nxp_set_password(self, uid: Uid, password_id: int, password: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class TagSurvey:
    """One tag's health, and its memory when it could be read."""

    uid: Uid
    memory: bytes | None
    """The user memory; blocks that could not be read are 0x00 (None: nothing was read)."""
    info: TagSystemInfo | None
    read_attempts: int
    """Whole-memory reads tried (1: clean)."""
    whole_read: bool
    """One of them succeeded (else the memory was read block by block)."""
    unreadable_blocks: tuple[int, ...] = ()
    locked_blocks: tuple[int, ...] | None = None
    default_password: bool | None = None

    @property
    def weak_read(self) -> bool:
        return self.whole_read and self.read_attempts > 1

    @property
    def readable(self) -> bool:
        return self.memory is not None and not self.unreadable_blocks

    def decoded(self) -> LibraryTag | None:
        if not self.readable or self.memory is None:
            return None
        return decode_any(self.memory, dsfid=self.info.dsfid if self.info else None)

    def to_json(self) -> dict[str, Any]:
        return {"read_attempts": self.read_attempts, "weak_read": self.weak_read,
                "unreadable_blocks": list(self.unreadable_blocks),
                "locked_blocks": None if self.locked_blocks is None
                else list(self.locked_blocks),
                "default_password": self.default_password}


async def survey_tag(reader: Reader, uid: Uid, *, check_password: bool = True) -> TagSurvey:
    """The survey of tag ``uid`` (see the module docstring). Raises the reader's error only
    when the tag cannot be asked anything at all (not even its system information)."""
    memory, info, attempts = await _read_whole(reader, uid)
    whole = memory is not None
    unreadable: tuple[int, ...] = ()
    if memory is None:
        info = info or reader.remembered_info(uid) or await reader.system_info(uid)
        memory, unreadable = await _read_by_block(reader, uid, info)
    locked = await _locked(reader, uid, info)
    password = await default_password(reader, uid) if check_password else None
    return TagSurvey(uid, memory, info, attempts, whole, unreadable, locked, password)


async def _read_whole(reader: Reader, uid: Uid
                      ) -> tuple[bytes | None, TagSystemInfo | None, int]:
    for attempt in range(1, SURVEY_READS + 1):
        try:
            memory, info = await reader.read_memory(uid)
        except TransientError as exc:
            logger.debug("survey: tag %s read %d failed: %s", uid, attempt, exc)
            continue
        return memory, info, attempt
    return None, None, SURVEY_READS


async def _read_by_block(reader: Reader, uid: Uid, info: TagSystemInfo
                         ) -> tuple[bytes | None, tuple[int, ...]]:
    size, count = info.block_size or 4, info.block_count or 0
    if not count:
        return None, ()
    data = bytearray()
    unreadable: list[int] = []
    for block in range(count):
        for _ in range(BLOCK_READS):
            try:
                data += await reader.read_blocks(uid, block, 1)
                break
            except TransientError:
                continue
        else:
            unreadable.append(block)
            data += bytes(size)
    return bytes(data), tuple(unreadable)


async def _locked(reader: Reader, uid: Uid, info: TagSystemInfo | None
                  ) -> tuple[int, ...] | None:
    count = (info.block_count if info else None) or 0
    if not count:
        return None
    try:
        status = await reader.read_lock_status(uid, 0, count)
    except BridgeError as exc:   # Unsupported, or the tag did not say
        logger.debug("survey: tag %s lock status not read: %s", uid, exc)
        return None
    return tuple(block for block, locked in enumerate(status) if locked)


async def default_password(reader: Reader, uid: Uid) -> bool | None:
    """Whether the tag accepts a default EAS/AFI password (None: cannot tell here)."""
    firmware = getattr(reader, "firmware", None)
    if not isinstance(firmware, NxpPasswords):
        return None
    for password in DEFAULT_EAS_AFI_PASSWORDS:
        for _ in range(PASSWORD_TRIES):
            try:
                await firmware.nxp_set_password(uid, PasswordId.EAS_AFI,
                                                password.to_bytes(4, "big"))
            except TagRefused as exc:
                if exc.iso_error == WRONG_PASSWORD:
                    continue
                return None   # no such password on this IC (not an NXP SLIX)
            except BridgeError as exc:
                logger.debug("survey: tag %s password not checked: %s", uid, exc)
                return None
            return True
    return False
