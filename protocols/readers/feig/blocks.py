# SPDX-License-Identifier: Apache-2.0
"""FEIG [0xB0] block commands: read, write and lock multiple blocks, block security status.

Block data travel "MSB first": each block arrives byte-reversed relative to tag memory
(Biblio-RFID's CPRM02 reverses each block on read and write [INFERRED; CPR Annex F is images
only]). Values here keep wire order; ``tag_memory()`` and ``from_tag_memory()`` convert.

Not responsible for: what the memory means (:mod:`protocols.iso28560`), or splitting a large
read into calls of at most ``MAX_READ_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from protocols.errors import FrameError
from protocols.readers.feig._wire import Cursor, RequestBody, ResponseBody, check_byte
from protocols.readers.feig.commands import Command
from protocols.readers.feig.framing import FeigRequest
from protocols.readers.feig.isohost import (
    MODE_SEC,
    Addressing,
    IsoCommand,
    address_bytes,
    check_uid,
    read_address,
)

#: "The maximum number of bytes is 128" per [0x23] on the CPR [CPR30 §6.1.8].
MAX_READ_BYTES = 128

@dataclass(frozen=True, slots=True)
class _BlockRange(RequestBody):
    """Base of MODE [UID] DB_ADR DB-N requests."""

    COMMAND: ClassVar[int] = Command.ISO_HOST
    ALLOWED_MODE: ClassVar[int] = 0
    first_block: int
    block_count: int
    addressing: Addressing = Addressing.NON_ADDRESSED
    uid: bytes | None = None

    def __post_init__(self) -> None:
        check_uid(self.uid, self.addressing)
        check_byte("DB_ADR", self.first_block)
        check_byte("DB-N", self.block_count)
        if self.block_count == 0:
            raise FrameError("DB-N 0: at least one block")

    def extra_mode(self) -> int:
        return 0

    def payload(self) -> bytes:
        return address_bytes(self.addressing, self.uid, self.extra_mode()) + bytes(
            (self.first_block, self.block_count)
        )

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        addressing, uid, extra = read_address(cursor, allowed_mode=cls.ALLOWED_MODE)
        first, count = cursor.u8("DB_ADR"), cursor.u8("DB-N")
        if count == 0:
            raise cursor.error("DB-N 0: at least one block")
        return cls._build(first, count, addressing, uid, extra)

    @classmethod
    def _build(
        cls, first: int, count: int, addressing: Addressing, uid: bytes | None, extra: int
    ) -> Self:
        return cls(first, count, addressing, uid)


@dataclass(frozen=True, slots=True)
class LockMultipleBlocks(_BlockRange):
    """[0x22] Lock multiple blocks; on a write error the response names DB_ADR-E."""

    SUB: ClassVar[int | None] = IsoCommand.LOCK_MULTIPLE_BLOCKS


@dataclass(frozen=True, slots=True)
class ReadMultipleBlocks(_BlockRange):
    """[0x23] Read multiple blocks; MODE.SEC asks for each block's security status.

    At most 128 data bytes per call on the CPR (``MAX_READ_BYTES``).
    """

    SUB: ClassVar[int | None] = IsoCommand.READ_MULTIPLE_BLOCKS
    ALLOWED_MODE: ClassVar[int] = MODE_SEC
    security_status: bool = False

    def extra_mode(self) -> int:
        return MODE_SEC if self.security_status else 0

    @classmethod
    def _build(
        cls, first: int, count: int, addressing: Addressing, uid: bytes | None, extra: int
    ) -> Self:
        return cls(first, count, addressing, uid, bool(extra & MODE_SEC))


@dataclass(frozen=True, slots=True)
class GetMultipleBlockSecurityStatus(_BlockRange):
    """[0x2C] Get multiple block security status."""

    SUB: ClassVar[int | None] = IsoCommand.GET_MULTIPLE_BLOCK_SECURITY_STATUS


@dataclass(frozen=True, slots=True)
class Block:
    """One block of a [0x23] response: SEC-STATUS (0x00 unless MODE.SEC) and DB in wire order."""

    security: int
    data: bytes

    def __post_init__(self) -> None:
        check_byte("SEC-STATUS", self.security)

    @property
    def locked(self) -> bool:
        """ISO 15693 block security status b0: the block is locked."""
        return bool(self.security & 0x01)


def _reverse_blocks(data: bytes, block_size: int) -> bytes:
    return b"".join(
        data[start : start + block_size][::-1] for start in range(0, len(data), block_size)
    )


@dataclass(frozen=True, slots=True)
class ReadBlocksResult(ResponseBody):
    """[0x23] response: DB-N, DB-SIZE, then DB-N x (SEC-STATUS, DB[DB-SIZE])."""

    COMMAND: ClassVar[int] = Command.ISO_HOST
    block_size: int
    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        check_byte("DB-SIZE", self.block_size)
        check_byte("DB-N", len(self.blocks))
        for index, block in enumerate(self.blocks):
            if len(block.data) != self.block_size:
                raise FrameError(
                    f"block {index} has {len(block.data)} bytes, DB-SIZE is {self.block_size}"
                )

    @classmethod
    def from_tag_memory(
        cls, memory: bytes, block_size: int, security: tuple[int, ...] = ()
    ) -> Self:
        """Build the response a reader sends for ``memory`` (tag order), reversing each block."""
        if block_size == 0 or len(memory) % block_size:
            raise FrameError(f"{len(memory)} bytes are not whole blocks of {block_size}")
        wire = _reverse_blocks(memory, block_size)
        count = len(memory) // block_size
        status = security or (0,) * count
        if len(status) != count:
            raise FrameError(f"{len(status)} security bytes for {count} blocks")
        return cls(
            block_size,
            tuple(
                Block(status[i], wire[i * block_size : (i + 1) * block_size]) for i in range(count)
            ),
        )

    def tag_memory(self) -> bytes:
        """Block data in tag memory order (each block reversed from FEIG's MSB-first)."""
        return _reverse_blocks(b"".join(block.data for block in self.blocks), self.block_size)

    def payload(self) -> bytes:
        body = bytearray((len(self.blocks), self.block_size))
        for block in self.blocks:
            body += bytes((block.security,)) + block.data
        return bytes(body)

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        count, size = cursor.u8("DB-N"), cursor.u8("DB-SIZE")
        blocks = tuple(
            Block(cursor.u8(f"SEC-STATUS {i}"), cursor.take(size, f"DB {i}")) for i in range(count)
        )
        return cls(size, blocks)


@dataclass(frozen=True, slots=True)
class SecurityStatusResult(ResponseBody):
    """[0x2C] response: DB-N, then DB-N x SEC-STATUS."""

    COMMAND: ClassVar[int] = Command.ISO_HOST
    security: tuple[int, ...]

    def __post_init__(self) -> None:
        check_byte("DB-N", len(self.security))
        for value in self.security:
            check_byte("SEC-STATUS", value)

    def payload(self) -> bytes:
        return bytes((len(self.security), *self.security))

    @classmethod
    def parse(cls, cursor: Cursor, status: int, request: FeigRequest | None) -> Self:
        count = cursor.u8("DB-N")
        return cls(tuple(cursor.take(count, "SEC-STATUS")))


@dataclass(frozen=True, slots=True)
class WriteMultipleBlocks(RequestBody):
    """[0x24] Write multiple blocks: MODE [UID] DB_ADR DB-N DB-SIZE DB (wire order).

    The reader sends one block as Write Single, and N single writes to a tag without Write
    Multiple. On failure: 0x03 with DB_ADR-E, or 0x95 with ISO-ERROR and DB_ADR-E; earlier
    blocks stay written [CPR §7.1.4].
    """

    COMMAND: ClassVar[int] = Command.ISO_HOST
    SUB: ClassVar[int | None] = IsoCommand.WRITE_MULTIPLE_BLOCKS
    first_block: int
    block_size: int
    data: bytes
    addressing: Addressing = Addressing.NON_ADDRESSED
    uid: bytes | None = None

    def __post_init__(self) -> None:
        check_uid(self.uid, self.addressing)
        check_byte("DB_ADR", self.first_block)
        check_byte("DB-SIZE", self.block_size)
        if self.block_size == 0 or not self.data or len(self.data) % self.block_size:
            raise FrameError(f"{len(self.data)} bytes are not whole blocks of {self.block_size}")
        check_byte("DB-N", self.block_count)

    @property
    def block_count(self) -> int:
        return len(self.data) // self.block_size

    @classmethod
    def from_tag_memory(
        cls,
        first_block: int,
        memory: bytes,
        block_size: int = 4,
        *,
        uid: bytes | None = None,
    ) -> Self:
        """Write ``memory`` (tag order) to ``uid`` (or non-addressed), reversing each block."""
        if block_size == 0 or len(memory) % block_size:
            raise FrameError(f"{len(memory)} bytes are not whole blocks of {block_size}")
        addressing = Addressing.ADDRESSED if uid is not None else Addressing.NON_ADDRESSED
        return cls(first_block, block_size, _reverse_blocks(memory, block_size), addressing, uid)

    def tag_memory(self) -> bytes:
        return _reverse_blocks(self.data, self.block_size)

    def payload(self) -> bytes:
        head = (self.first_block, self.block_count, self.block_size)
        return address_bytes(self.addressing, self.uid) + bytes(head) + self.data

    @classmethod
    def parse(cls, cursor: Cursor) -> Self:
        addressing, uid, _ = read_address(cursor)
        first, count, size = cursor.u8("DB_ADR"), cursor.u8("DB-N"), cursor.u8("DB-SIZE")
        if count == 0 or size == 0:
            raise cursor.error(f"DB-N {count} DB-SIZE {size}: nothing to write")
        return cls(first, size, cursor.take(count * size, "DB"), addressing, uid)
