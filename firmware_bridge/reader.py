# SPDX-License-Identifier: Apache-2.0
"""One reader interface for every protocol, and the verified operations built on it.

A driver implements the *primitives* (inventory, read/write blocks, AFI, EAS, lock, system info,
RF control, outputs, inputs) in its firmware's terms; :class:`Reader` builds the operations the
daemon uses on top of them, the same way for every protocol:

- :meth:`Reader.read_memory` reads a whole tag (size from system information, asked once per
  tag while it stays in the field: see :meth:`Reader.remembered_info`);
- :meth:`Reader.write_memory` writes, reads back and compares, retrying transient failures;
- :meth:`Reader.set_security` writes AFI and/or EAS per a :class:`SecurityScheme`, reads them
  back and reports the verified state (to the caller, and to the owner's ``on_security_set``;
  after a failure, what the tag holds then to ``on_security_failed``);
- :meth:`Reader.set_dsfid` writes the DSFID and reads it back from the system information;
- :meth:`Reader.lock_and_verify` locks blocks and reads their security status back.

"No tag in the field" is a result (an empty inventory), not an exception. An addressed tag that
does not answer raises :class:`TagNotResponding` (transient: the patron may move the item back).
A tag that refuses (locked block, out of range) raises :class:`TagRefused` (not transient).

Not responsible for: framing, timeouts and late replies (see :mod:`firmware_bridge.session`),
deciding what to write (the workflows do), or tag data models (:mod:`protocols.iso28560`).
"""

from __future__ import annotations

import abc
import contextlib
import enum
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from firmware_bridge.errors import BridgeError, TransientError
from firmware_bridge.security import SecurityScheme
from firmware_bridge.transport import TransportCounters
from protocols.iso15693 import Uid

T = TypeVar("T")

TAG_INFO_MEMORY = 64
"""Tags whose system information a reader remembers (a pad's stack is a few dozen items); the
oldest is forgotten first."""
WRITE_ATTEMPTS = 3
"""Biblio-RFID and pyrfidgeek retry writes; three verified attempts cover a patron's hand
moving the item once (reader_protocols.md §5.8)."""
# An armed tag is silent too when its EAS alarm reply is lost (weak coupling, an air CRC
# error), and a disarmed one only ever answers with silence: "off" after one silent alarm would
# verify a checkout whose item still alarms at the gate. So "off" takes this many consecutive
# silent alarms (each one after the first counted in health.extra["eas_retries"]).
EAS_OFF_CONFIRMATIONS = 3


class Capability(enum.Flag):
    """What a reader can do; each driver's docstring opens with its table."""

    INVENTORY = enum.auto()
    AFI_FILTER = enum.auto()
    READ = enum.auto()
    WRITE = enum.auto()
    LOCK = enum.auto()
    AFI = enum.auto()
    EAS = enum.auto()
    SYSTEM_INFO = enum.auto()
    RF_CONTROL = enum.auto()
    OUTPUTS = enum.auto()
    INPUTS = enum.auto()
    BUFFERED_READ = enum.auto()


class TagNotResponding(TransientError):
    """An addressed tag did not answer (left the field, weak coupling, air CRC error)."""

    def __init__(self, reason: str, *, uid: Uid | None = None, port: str | None = None) -> None:
        self.uid = uid
        super().__init__(f"tag {uid}: {reason}" if uid else reason, port=port)


class TagRefused(BridgeError):
    """The tag answered with an ISO 15693 error (locked block, block not available, ...)."""

    def __init__(
        self, reason: str, *, uid: Uid | None = None, iso_error: int | None = None,
        block: int | None = None, port: str | None = None,
    ) -> None:
        self.uid = uid
        self.iso_error = iso_error
        self.block = block
        where = f" (block {block})" if block is not None else ""
        code = f" [ISO error 0x{iso_error:02X}]" if iso_error is not None else ""
        super().__init__(f"tag {uid}: {reason}{where}{code}", port=port)


class ReaderFault(BridgeError):
    """The reader reported a failure of its own (bad parameter, hardware, unsupported)."""

    def __init__(self, reason: str, *, status: int | None = None, port: str | None = None) -> None:
        self.status = status
        shown = f" [status 0x{status:02X}]" if status is not None else ""
        super().__init__(f"{reason}{shown}", port=port)


class TransientReaderFault(ReaderFault, TransientError):
    """A reader status that says "try again" (collision, RF noise, busy)."""


class VerificationFailed(BridgeError):
    """A write was acknowledged but reading it back shows something else."""

    def __init__(
        self, what: str, *, uid: Uid, expected: str, actual: str, port: str | None = None
    ) -> None:
        self.uid = uid
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"tag {uid}: {what} read back as {actual}, expected {expected}", port=port
        )


class Unsupported(BridgeError):
    """The reader or its protocol has no such operation (see the driver's capability table)."""


@dataclass(frozen=True, slots=True)
class TagSighting:
    """One tag seen by an inventory; fields the protocol does not report are None."""

    uid: Uid
    dsfid: int | None = None
    afi: int | None = None
    antenna: int | None = None


@dataclass(frozen=True, slots=True)
class TagSystemInfo:
    uid: Uid
    dsfid: int | None
    afi: int | None
    block_count: int | None
    block_size: int | None
    ic_reference: int | None = None


@dataclass(frozen=True, slots=True)
class SecurityState:
    """AFI and EAS as read from the tag (None: not read / not supported)."""

    afi: int | None
    eas: bool | None
    secured: bool | None = None


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    protocol: str
    model: str
    firmware: str
    capabilities: Capability


@dataclass(frozen=True, slots=True)
class OutputPulse:
    """Drive one output (LED, buzzer, relay) for ``duration_s`` (0 = off, None = steady on)."""

    output: int
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class InputState:
    """Digital inputs (light barriers, door contacts): ``inputs`` their levels as bits (bit 0 =
    input 1), ``changed`` the inputs that changed since the previous read (latches the reader
    clears when read; 0 when the reader has none). ``counters`` are people counters, empty
    unless a reader reports them: none of the three drivers does (FEIG's [0x78] counters have
    no documented read command)."""

    inputs: int
    changed: int = 0
    counters: tuple[int, ...] = ()


@dataclass
class HealthCounters:
    """Per-device health, exported as metrics by the daemon."""

    frames_sent: int = 0
    frames_received: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    garbage_bytes: int = 0
    late_replies: int = 0
    reconnects: int = 0
    retries: int = 0
    writes_ok: int = 0
    writes_failed: int = 0
    reader_errors: int = 0
    last_error: str = ""
    extra: dict[str, int] = field(default_factory=dict)


class Reader(abc.ABC):
    """The common reader interface. Subclasses implement the ``_primitive`` methods."""

    protocol: str = ""
    capabilities: Capability = Capability(0)

    def __init__(self, port: str) -> None:
        self.port = port
        self.health = HealthCounters()
        self.on_link_lost: Callable[[str], None] | None = None
        """Called (with the reason) as soon as the transport loses the link, while the driver
        waits for its reopen: the owner shows the reader as not connected at once. It must be
        quick and must not raise."""
        self.on_security_set: Callable[[Uid, SecurityState], None] | None = None
        """Called with the verified state after every :meth:`set_security` that succeeded,
        whoever asked for it: inventories report neither AFI nor EAS, so this is how the owner
        of what is known of the field learns of the change. It must be quick and must not
        raise."""
        self.on_security_failed: Callable[[Uid, SecurityScheme, SecurityState | None],
                                          None] | None = None
        """Called when a :meth:`set_security` failed (before it raises), with the scheme and
        the state read back after the failure (not what was asked: an AFI written before the
        EAS was refused stays written; None when the tag could not be read either, so the
        carriers the scheme uses are unknown now). Quick, must not raise."""
        self._tag_info: OrderedDict[Uid, TagSystemInfo] = OrderedDict()

    # -- lifecycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Open the port, probe the reader; the driver re-probes after every reopen."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    def link_counters(self) -> TransportCounters | None:
        """The counters of the transport under this driver (opens, open failures, link
        losses), or None for a driver without one."""
        return None

    def _link_lost(self, reason: str) -> None:
        """Drivers give this to their transport as its ``on_lost`` hook."""
        if self.on_link_lost is not None:
            self.on_link_lost(reason)

    async def __aenter__(self) -> Reader:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- primitives (one firmware operation each) --------------------------------------------
    @abc.abstractmethod
    async def info(self) -> ReaderInfo: ...

    @abc.abstractmethod
    async def inventory(self, *, afi: int | None = None) -> list[TagSighting]:
        """Every tag in the field (only those with a matching AFI when ``afi`` is given)."""

    @abc.abstractmethod
    async def read_blocks(self, uid: Uid, first: int, count: int) -> bytes:
        """``count`` blocks from ``first``, in tag memory order."""

    @abc.abstractmethod
    async def write_blocks(self, uid: Uid, first: int, data: bytes, *, block_size: int) -> None:
        """Write whole blocks (no read-back; see :meth:`write_memory`)."""

    @abc.abstractmethod
    async def system_info(self, uid: Uid) -> TagSystemInfo: ...

    async def write_afi(self, uid: Uid, afi: int) -> None:
        raise Unsupported(f"{self.protocol}: writing the AFI is not supported")

    async def set_eas(self, uid: Uid, enabled: bool) -> None:
        raise Unsupported(f"{self.protocol}: the EAS bit is not supported")

    async def read_eas(self, uid: Uid) -> bool:
        raise Unsupported(f"{self.protocol}: reading the EAS bit is not supported")

    async def write_dsfid(self, uid: Uid, dsfid: int) -> None:
        """Write the DSFID (no read-back; see :meth:`set_dsfid`)."""
        raise Unsupported(f"{self.protocol}: writing the DSFID is not supported")

    async def lock_blocks(self, uid: Uid, blocks: Sequence[int]) -> None:
        """Lock blocks (no read-back; see :meth:`lock_and_verify`)."""
        raise Unsupported(f"{self.protocol}: locking blocks is not supported")

    async def read_lock_status(self, uid: Uid, first: int, count: int) -> tuple[bool, ...]:
        """Whether each of ``count`` blocks from ``first`` is locked (block security status)."""
        raise Unsupported(f"{self.protocol}: reading the block lock status is not supported")

    async def rf_reset(self) -> None:
        raise Unsupported(f"{self.protocol}: RF reset is not supported")

    async def rf_power(self, on: bool) -> None:
        raise Unsupported(f"{self.protocol}: RF on/off is not supported")

    async def set_outputs(self, pulses: Sequence[OutputPulse]) -> None:
        raise Unsupported(f"{self.protocol}: this reader has no outputs")

    async def get_inputs(self) -> InputState:
        raise Unsupported(f"{self.protocol}: this reader has no inputs")

    # -- system information remembered while a tag stays in the field ----------------------
    def remembered_info(self, uid: Uid) -> TagSystemInfo | None:
        """The system information this reader last read from ``uid``, if the tag has not left
        the field since (as far as the inventories show) and nothing here changed it.

        What is remembered: every :meth:`system_info` answer that :meth:`read_memory` and
        :meth:`read_security` got, with the AFI this reader wrote since. Forgotten: tags an
        inventory does not report (:meth:`_inventory_seen`), a tag that did not answer, the
        oldest beyond :data:`TAG_INFO_MEMORY`. :meth:`system_info` itself always asks the tag,
        and verification read-backs always use it; only :meth:`read_memory` (which needs the
        memory size and returns the DSFID and AFI with the data) takes the remembered answer.
        """
        return self._tag_info.get(uid)

    def forget_tag_info(self, uid: Uid | None = None) -> None:
        """Forget one tag's remembered system information, or every tag's."""
        if uid is None:
            self._tag_info.clear()
        else:
            self._tag_info.pop(uid, None)

    def _remember(self, info: TagSystemInfo) -> None:
        self._tag_info[info.uid] = info
        self._tag_info.move_to_end(info.uid)
        while len(self._tag_info) > TAG_INFO_MEMORY:
            self._tag_info.popitem(last=False)

    def _inventory_seen(self, uids: Iterable[Uid]) -> None:
        """Drivers call this with every UID an inventory reported: the others left the field
        (or were filtered out by AFI) and may come back changed, so they are forgotten."""
        seen = set(uids)
        for uid in [uid for uid in self._tag_info if uid not in seen]:
            del self._tag_info[uid]

    def _afi_written(self, uid: Uid, afi: int) -> None:
        """Drivers call this after a successful WRITE AFI."""
        info = self._tag_info.get(uid)
        if info is not None:
            self._tag_info[uid] = replace(info, afi=afi)

    def _dsfid_written(self, uid: Uid, dsfid: int) -> None:
        """Drivers call this after a successful WRITE DSFID."""
        info = self._tag_info.get(uid)
        if info is not None:
            self._tag_info[uid] = replace(info, dsfid=dsfid)

    async def _eas_from_alarms(
        self, alarm: Callable[[], Awaitable[bool]], present: Callable[[], Awaitable[object]],
    ) -> bool:
        """The EAS bit from addressed EAS alarms (``alarm``: True when the tag answered one).

        True at the first answer; False only after :data:`EAS_OFF_CONFIRMATIONS` consecutive
        silences, with ``present`` (which raises for an absent tag) asked after the first, so
        an absent tag is an error rather than "off".
        """
        for silence in range(EAS_OFF_CONFIRMATIONS):
            if silence:
                self.health.extra["eas_retries"] = self.health.extra.get("eas_retries", 0) + 1
            if await alarm():
                return True
            if not silence:
                await present()
        return False

    async def _fresh_info(self, uid: Uid) -> TagSystemInfo:
        try:
            info = await self.system_info(uid)
        except BridgeError:
            self.forget_tag_info(uid)
            raise
        self._remember(info)
        return info

    # -- verified operations, the same for every protocol ------------------------------------
    async def read_memory(self, uid: Uid) -> tuple[bytes, TagSystemInfo]:
        """The whole user memory, sized from the tag's system information (remembered from an
        earlier read of the same tag while it stayed in the field, see
        :meth:`remembered_info`; asked otherwise)."""
        info = self.remembered_info(uid) or await self._fresh_info(uid)
        if not info.block_count:
            raise ReaderFault(f"tag {uid}: system information gave no memory size")
        try:
            return await self.read_blocks(uid, 0, info.block_count), info
        except BridgeError:
            self.forget_tag_info(uid)
            raise

    async def write_memory(
        self, uid: Uid, data: bytes, *, first_block: int = 0, block_size: int = 4,
        attempts: int = WRITE_ATTEMPTS,
    ) -> None:
        """Write ``data`` (padded to whole blocks), read it back, retry transient failures.

        A tag that leaves the field mid-write has its earlier blocks written and later ones not;
        the retry rewrites everything and the read-back proves the final state.
        """
        padded = data + bytes(-len(data) % block_size)
        count = len(padded) // block_size

        async def write_and_check() -> tuple[None, BridgeError | None]:
            await self.write_blocks(uid, first_block, padded, block_size=block_size)
            actual = await self.read_blocks(uid, first_block, count)
            return None, None if actual == padded else VerificationFailed(
                f"blocks {first_block}-{first_block + count - 1}", uid=uid,
                expected=padded.hex().upper(), actual=actual.hex().upper(),
            )

        await self._write_verified(write_and_check, attempts)

    async def read_security(self, uid: Uid, scheme: SecurityScheme) -> SecurityState:
        """AFI and/or EAS as read from the tag now (never from memory)."""
        afi = (await self._fresh_info(uid)).afi if scheme.use_afi else None
        eas = await self.read_eas(uid) if scheme.use_eas else None
        return SecurityState(afi=afi, eas=eas, secured=scheme.is_secured(afi=afi, eas=eas))

    async def set_security(
        self, uid: Uid, secured: bool, scheme: SecurityScheme, *, attempts: int = WRITE_ATTEMPTS,
    ) -> SecurityState:
        """Write AFI and/or EAS for ``secured``, read back, and return the verified state."""
        read_back: SecurityState | None = None

        async def write_and_check() -> tuple[SecurityState, BridgeError | None]:
            nonlocal read_back
            read_back = None
            if scheme.use_afi:
                await self.write_afi(uid, scheme.afi_for(secured))
            if scheme.use_eas:
                await self.set_eas(uid, secured)
            state = read_back = await self.read_security(uid, scheme)
            return state, None if state.secured is secured else VerificationFailed(
                "security", uid=uid, expected="secured" if secured else "unsecured",
                actual=f"AFI {state.afi!r} EAS {state.eas!r}",
            )

        try:
            state = await self._write_verified(write_and_check, attempts)
        except BridgeError:
            if self.on_security_failed is not None:
                if read_back is None:   # the failure came before the read-back: ask once
                    with contextlib.suppress(BridgeError):
                        read_back = await self.read_security(uid, scheme)
                self.on_security_failed(uid, scheme, read_back)
            raise
        if self.on_security_set is not None:
            self.on_security_set(uid, state)
        return state

    async def set_dsfid(
        self, uid: Uid, dsfid: int, *, attempts: int = WRITE_ATTEMPTS,
    ) -> TagSystemInfo:
        """Write the DSFID, read it back from the system information, retry transient
        failures; returns the verified system information."""
        if not 0 <= dsfid <= 0xFF:
            raise ValueError(f"DSFID {dsfid} is not a byte")

        async def write_and_check() -> tuple[TagSystemInfo, BridgeError | None]:
            await self.write_dsfid(uid, dsfid)
            info = await self._fresh_info(uid)
            return info, None if info.dsfid == dsfid else VerificationFailed(
                "DSFID", uid=uid, expected=f"{dsfid:02X}",
                actual="none" if info.dsfid is None else f"{info.dsfid:02X}",
            )

        return await self._write_verified(write_and_check, attempts)

    async def lock_and_verify(
        self, uid: Uid, blocks: Sequence[int], *, attempts: int = WRITE_ATTEMPTS,
    ) -> tuple[int, ...]:
        """Lock ``blocks``, read their security status back, retry transient failures; returns
        the blocks verified locked (sorted). A block still unlocked after an acknowledged lock
        is :class:`VerificationFailed`."""
        wanted = tuple(sorted(set(blocks)))
        if not wanted:
            return ()

        async def lock_and_check() -> tuple[tuple[int, ...], BridgeError | None]:
            await self.lock_blocks(uid, wanted)
            unlocked = await self._unlocked(uid, wanted)
            return wanted, None if not unlocked else VerificationFailed(
                "lock status", uid=uid, expected=f"blocks {list(wanted)} locked",
                actual=f"blocks {unlocked} unlocked",
            )

        return await self._write_verified(lock_and_check, attempts)

    async def _write_verified(
        self,
        write_and_check: Callable[[], Awaitable[tuple[T, BridgeError | None]]],
        attempts: int,
    ) -> T:
        """The one verified-write loop: run ``write_and_check`` (a write and its read-back,
        returning the value and a mismatch or None) until the read-back agrees, retrying only
        transient failures and mismatches, at most ``attempts`` times; counted in health."""
        last: BridgeError | None = None
        for attempt in range(attempts):
            if attempt:
                self.health.retries += 1
            try:
                value, mismatch = await write_and_check()
            except TransientError as exc:
                last = exc
                continue
            except BridgeError:
                self.health.writes_failed += 1
                raise
            if mismatch is None:
                self.health.writes_ok += 1
                return value
            last = mismatch
        self.health.writes_failed += 1
        assert last is not None
        raise last

    async def _unlocked(self, uid: Uid, blocks: Sequence[int]) -> list[int]:
        """Those of ``blocks`` (sorted, distinct) whose security status says unlocked."""
        unlocked: list[int] = []
        for first, last in block_runs(blocks):
            status = await self.read_lock_status(uid, first, last - first + 1)
            if len(status) != last - first + 1:
                raise ReaderFault(
                    f"tag {uid}: asked the lock status of blocks {first}-{last}, "
                    f"got {len(status)}", port=self.port,
                )
            unlocked += [first + i for i, locked in enumerate(status) if not locked]
        return unlocked


def block_runs(blocks: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of block numbers (sorted, duplicates dropped), as (first, last)."""
    runs: list[tuple[int, int]] = []
    for block in sorted(set(blocks)):
        if runs and block == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], block)
        else:
            runs.append((block, block))
    return runs
