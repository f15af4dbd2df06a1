# SPDX-License-Identifier: Apache-2.0
"""Faults the virtual field can inject, as data (reader_protocols.md §4 fault table).

A :class:`Fault` names what goes wrong, for which tag (``uid``; ``None`` = every tag), from
when to when on the field's clock, for how many affected replies (``count``; ``None`` = all
while active) and, optionally, only for one command code. Each front-end maps the air-level
effect to its own status codes; the field only produces the air-level effect.

Not responsible for: serial-level faults (garbage, truncated frames, reboots, a vanishing
device): those belong to the pty front-ends and the transport tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from protocols.iso15693 import Command, Uid


class FaultKind(Enum):
    # kind = JSON name                   air-level effect
    NO_TAG = "no_tag"  # the tag does not hear the request: no reply
    AIR_CRC_ERROR = "air_crc_error"  # the tag acts, its reply arrives with a bad CRC
    COLLISION = "collision"  # the reply overlaps another transmission
    LEAVE_MID_WRITE = "leave_mid_write"  # after `after_blocks` blocks the tag leaves the field
    LOCKED_BLOCK = "locked_block"  # writes and locks answer error 0x12, nothing written
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - SET PASSWORD fails: 0x0F, then mute


# The commands a fault kind concerns when the fault names none.
DEFAULT_COMMANDS: dict[FaultKind, frozenset[int] | None] = {
    FaultKind.NO_TAG: None,
    FaultKind.AIR_CRC_ERROR: None,
    FaultKind.COLLISION: None,
    FaultKind.LEAVE_MID_WRITE: frozenset(
        {Command.WRITE_SINGLE_BLOCK, Command.WRITE_MULTIPLE_BLOCKS}
    ),
    FaultKind.LOCKED_BLOCK: frozenset(
        {Command.WRITE_SINGLE_BLOCK, Command.WRITE_MULTIPLE_BLOCKS, Command.LOCK_BLOCK}
    ),
    FaultKind.WRONG_PASSWORD: frozenset({Command.SET_PASSWORD}),
}


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    uid: Uid | None = None
    start_s: float = 0.0
    end_s: float | None = None
    count: int | None = None
    command: int | None = None
    after_blocks: int = 0  # LEAVE_MID_WRITE: blocks programmed before the tag leaves
    block: int | None = None  # LOCKED_BLOCK: only requests touching this block

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise ValueError(f"fault count {self.count} must be at least 1")
        if self.end_s is not None and self.end_s < self.start_s:
            raise ValueError(f"fault ends at {self.end_s} before it starts at {self.start_s}")
        if self.after_blocks < 0:
            raise ValueError(f"after_blocks {self.after_blocks} is negative")

    def concerns(self, uid: Uid, command: int, now: float) -> bool:
        """Whether the fault is active now for this tag and command."""
        if self.uid is not None and self.uid != uid:
            return False
        if now < self.start_s or (self.end_s is not None and now >= self.end_s):
            return False
        if self.command is not None:
            return command == self.command
        commands = DEFAULT_COMMANDS[self.kind]
        return commands is None or command in commands
