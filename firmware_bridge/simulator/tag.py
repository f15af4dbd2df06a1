# SPDX-License-Identifier: Apache-2.0
"""A virtual ISO/IEC 15693 tag: memory, lock bits, AFI, DSFID, EAS, passwords, ISO state.

:meth:`VirtualTag.handle` takes a decoded :class:`~protocols.iso15693.Request` and returns the
:data:`~protocols.iso15693.Response` the IC would send, or ``None`` when it stays silent. It
follows ISO/IEC 15693-3 clause 8-10 and the NXP ICODE custom commands:

* states: ready, quiet (answers addressed requests only), selected (also answers requests with
  the select flag); power-on (``rf_reset``) returns to ready and forgets passwords;
* addressed requests reach only the tag with that UID; address and select flags together are
  invalid and ignored; custom commands with another IC manufacturer code are ignored;
* AFI filtering with the family/sub-family wildcards (``protocols.iso15693.afi_matches``);
* errors: block out of range 0x10, already locked 0x11, locked block/AFI/DSFID/EAS 0x12,
  unsupported command 0x01, bad data length 0x02, missing EAS/AFI password 0x0F;
* TI Tag-it writes and locks need option flag 1: with option 0 the write happens but the
  tag never confirms it (reader_protocols.md §2.7, fault table; [INFERRED] which of the two
  "never answers, or write not confirmed" a real tag does);
* a wrong SET PASSWORD answers error 0x0F and mutes the IC until an RF reset (SLIX datasheet).

Not modelled: privacy mode, page protection (SLIX2 B6), the SLIX2 counter block, EAS ID masks
in EAS ALARM, inventory read. The EAS sequence is a placeholder (the NXP value was not at hand).

Not responsible for: presence, coupling effects, faults, or air time (see :mod:`.field`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum

from protocols.iso15693 import (
    MFG_NXP,
    MFG_ST,
    MFG_TI,
    BlocksResponse,
    Command,
    EasAlarmResponse,
    ErrorCode,
    ErrorResponse,
    InventoryResponse,
    PasswordId,
    RandomNumberResponse,
    Request,
    RequestFlag,
    Response,
    SecurityStatusResponse,
    StatusResponse,
    SystemInfoResponse,
    Uid,
    afi_matches,
    is_custom,
)
from protocols.iso15693.timing import WRITE_TIME_ST_S

# ISO/IEC 15693-3 clause 8.2: "the mask length ... 0 to 60 when 16 slots are used".
MAX_MASK_LENGTH_16_SLOTS = 60
# Placeholder for the NXP 256-bit EAS sequence; front-ends must not rely on its value.
EAS_SEQUENCE = bytes.fromhex("A5" * 32)
# Block security status byte, b0: "the block is locked".
BLOCK_LOCKED = 0x01

_WRITE_OR_LOCK = frozenset(
    {
        Command.WRITE_SINGLE_BLOCK,
        Command.LOCK_BLOCK,
        Command.WRITE_MULTIPLE_BLOCKS,
        Command.WRITE_AFI,
        Command.LOCK_AFI,
        Command.WRITE_DSFID,
        Command.LOCK_DSFID,
    }
)


class IsoState(Enum):
    """ISO/IEC 15693-3 clause 8.4; "power off" is the field's business (absence)."""

    READY = "ready"
    QUIET = "quiet"
    SELECTED = "selected"


@dataclass(frozen=True, slots=True)
class TagFamily:
    """One IC type: memory geometry and the behaviour that differs between vendors."""

    key: str
    name: str
    manufacturer_code: int
    block_count: int
    block_size: int
    ic_reference: int  # [UNCERTAIN] placeholders, not checked against datasheets
    nxp_custom: bool  # A2-A7, B2-B4
    option_for_writes: bool  # TI: writes and locks need option flag 1
    write_multiple: bool  # ISO WRITE MULTIPLE BLOCKS supported
    programming_s: float  # per block, option flag 0
    source: str


FAMILIES: tuple[TagFamily, ...] = (
    # key, name, mfg, blocks, size, IC ref, NXP custom, option, write multiple, prog., source
    TagFamily(
        "slix",
        "NXP ICODE SLIX (SL2S2002)",
        MFG_NXP,
        28,
        4,
        0x01,
        True,
        False,
        False,
        WRITE_TIME_ST_S,
        "FEIG CPR §9.1.7; ACR1552 capture 1B 03 = 28 x 4",
    ),
    TagFamily(
        "slix2",
        "NXP ICODE SLIX2 (SL2S2602)",
        MFG_NXP,
        80,
        4,
        0x01,
        True,
        False,
        False,
        WRITE_TIME_ST_S,
        "79 user blocks + counter block 79 [UNCERTAIN, §2.6]",
    ),
    TagFamily(
        "sli-s",
        "NXP ICODE SLI-S (SL2ICS53)",
        MFG_NXP,
        40,
        4,
        0x01,
        True,
        False,
        False,
        WRITE_TIME_ST_S,
        "FEIG CPR §9.1.8",
    ),
    TagFamily(
        "tagit-plus",
        "TI Tag-it HF-I Plus",
        MFG_TI,
        64,
        4,
        0x00,
        False,
        True,
        False,
        WRITE_TIME_ST_S,
        "FEIG CPR §9.1.14; TI S6350: option flag 1 for writes",
    ),
    TagFamily(
        "lri2k",
        "ST LRI2K",
        MFG_ST,
        64,
        4,
        0x00,
        False,
        False,
        False,
        WRITE_TIME_ST_S,
        "FEIG CPR §9.1.12; ST Wt = 5.76 ms",
    ),
)

FAMILY_BY_KEY: dict[str, TagFamily] = {family.key: family for family in FAMILIES}
# A UID's manufacturer picks the family when a scenario does not name one.
DEFAULT_FAMILY_BY_MANUFACTURER: dict[int, TagFamily] = {
    MFG_NXP: FAMILY_BY_KEY["slix"],
    MFG_TI: FAMILY_BY_KEY["tagit-plus"],
    MFG_ST: FAMILY_BY_KEY["lri2k"],
}


@dataclass(frozen=True, slots=True)
class TagSpec:
    """A tag as a scenario describes it; :meth:`build` makes a fresh :class:`VirtualTag`."""

    uid: Uid
    family: TagFamily
    memory: bytes = b""
    afi: int = 0
    dsfid: int = 0
    eas: bool = False
    coupling: float = 1.0
    locked_blocks: tuple[int, ...] = ()

    def build(self) -> VirtualTag:
        tag = VirtualTag(
            self.uid,
            self.family,
            afi=self.afi,
            dsfid=self.dsfid,
            eas=self.eas,
            coupling=self.coupling,
        )
        tag.memory[: len(self.memory)] = self.memory
        for block in self.locked_blocks:
            tag.locked[block] = 1
        return tag


@dataclass(slots=True, eq=False)
class VirtualTag:
    """One tag's persistent memory and volatile ISO state."""

    uid: Uid
    family: TagFamily
    memory: bytearray = field(default_factory=bytearray)
    locked: bytearray = field(default_factory=bytearray)  # one byte per block, 1 = locked
    afi: int = 0
    afi_locked: bool = False
    dsfid: int = 0
    dsfid_locked: bool = False
    eas: bool = False
    eas_locked: bool = False
    eas_id: int = 0
    eas_protected: bool = False
    afi_protected: bool = False
    passwords: dict[int, int] = field(default_factory=lambda: dict.fromkeys(PasswordId, 0))
    coupling: float = 1.0
    # Volatile state, lost at power-on reset.
    state: IsoState = IsoState.READY
    muted: bool = False
    authenticated: set[int] = field(default_factory=set)
    random_number: int | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        size = self.family.block_count * self.family.block_size
        if len(self.memory) > size:
            raise ValueError(f"{len(self.memory)} bytes do not fit {self.family.name}")
        self.memory = bytearray(self.memory) + bytes(size - len(self.memory))
        self.locked = bytearray(self.locked) + bytes(self.family.block_count - len(self.locked))
        # Seeded from the UID so a benchmark run is reproducible.
        self._rng = random.Random(self.uid.value)

    def block(self, number: int) -> bytes:
        size = self.family.block_size
        return bytes(self.memory[number * size : (number + 1) * size])

    def rf_reset(self) -> None:
        """Power-on reset: ready state, passwords forgotten, mute lifted."""
        self.state = IsoState.READY
        self.muted = False
        self.authenticated.clear()
        self.random_number = None

    def write_blocks(self, first: int, data: bytes) -> None:
        """Program blocks directly (the field uses it for a write cut short)."""
        start = first * self.family.block_size
        self.memory[start : start + len(data)] = data

    def handle(self, request: Request) -> Response | None:
        """The IC's answer to one request, ``None`` for silence."""
        if self.muted:
            return None
        if request.inventory_mode:
            return self._inventory(request)
        command = request.command
        if command == Command.SELECT:
            return self._select(request)
        if not self._reachable(request):
            return None
        if is_custom(command) and not self.family.nxp_custom:
            return ErrorResponse(ErrorCode.NOT_SUPPORTED)
        response = self._execute(request)
        if command in _WRITE_OR_LOCK and self.family.option_for_writes and not request.option:
            return None
        return response

    def accepts(self, request: Request) -> bool:
        """Whether this tag would act on ``request`` (mute, addressing, state, mfg code)."""
        if self.muted:
            return False
        if request.inventory_mode:
            return self.state is not IsoState.QUIET
        if request.command == Command.SELECT:
            return request.uid == self.uid
        return self._reachable(request)

    def _reachable(self, request: Request) -> bool:
        # Clause 7.3.1 and 8.4: address and select flags together are invalid; a quiet VICC
        # only acts on addressed requests; custom commands carry the IC manufacturer code.
        if request.addressed:
            if request.uid != self.uid or RequestFlag.SELECT in request.flags:
                return False
        elif request.selected_mode:
            if self.state is not IsoState.SELECTED:
                return False
        elif self.state is IsoState.QUIET:
            return False
        return not is_custom(request.command) or request.mfg_code == self.uid.manufacturer_code

    def _execute(self, request: Request) -> Response | None:
        match request.command:
            case Command.STAY_QUIET:
                if request.addressed:
                    self.state = IsoState.QUIET
                return None
            case Command.RESET_TO_READY:
                self.state = IsoState.READY
                return StatusResponse()
            case Command.READ_SINGLE_BLOCK:
                return self._read(request, 1)
            case Command.READ_MULTIPLE_BLOCKS:
                return self._read(request, request.block_count or 1)
            case Command.WRITE_SINGLE_BLOCK:
                return self._write(request, 1)
            case Command.WRITE_MULTIPLE_BLOCKS:
                if not self.family.write_multiple:
                    return ErrorResponse(ErrorCode.NOT_SUPPORTED)
                return self._write(request, request.block_count or 1)
            case Command.LOCK_BLOCK:
                return self._lock_block(request)
            case Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS:
                return self._security_status(request)
            case Command.WRITE_AFI:
                return self._write_afi(request)
            case Command.LOCK_AFI:
                return self._lock_afi()
            case Command.WRITE_DSFID:
                if self.dsfid_locked:
                    return ErrorResponse(ErrorCode.BLOCK_LOCKED)
                self.dsfid = request.dsfid or 0
                return StatusResponse()
            case Command.LOCK_DSFID:
                if self.dsfid_locked:
                    return ErrorResponse(ErrorCode.BLOCK_ALREADY_LOCKED)
                self.dsfid_locked = True
                return StatusResponse()
            case Command.GET_SYSTEM_INFO:
                return SystemInfoResponse(
                    self.uid,
                    self.dsfid,
                    self.afi,
                    self.family.block_count,
                    self.family.block_size,
                    self.family.ic_reference,
                )
            case Command.SET_EAS | Command.RESET_EAS:
                return self._set_eas(request.command == Command.SET_EAS)
            case Command.LOCK_EAS:
                return self._lock_eas()
            case Command.EAS_ALARM:
                return EasAlarmResponse(EAS_SEQUENCE) if self.eas else None
            case Command.PASSWORD_PROTECT_EAS_AFI:
                return self._protect(afi=request.option)
            case Command.WRITE_EAS_ID:
                if self._eas_afi_denied(self.eas_protected):
                    return ErrorResponse(ErrorCode.UNKNOWN)
                self.eas_id = request.eas_id or 0
                return StatusResponse()
            case Command.GET_RANDOM_NUMBER:
                self.random_number = self._rng.getrandbits(16)
                return RandomNumberResponse(self.random_number)
            case Command.SET_PASSWORD:
                return self._set_password(request)
            case Command.WRITE_PASSWORD:
                return self._write_password(request)
        return ErrorResponse(ErrorCode.NOT_SUPPORTED)

    def _inventory(self, request: Request) -> Response | None:
        # Other inventory-mode commands (NXP INVENTORY READ) are not modelled: silence.
        if request.command != Command.INVENTORY or self.state is IsoState.QUIET:
            return None
        if request.afi is not None and not afi_matches(request.afi, self.afi):
            return None
        if request.slots == 16 and request.mask_length > MAX_MASK_LENGTH_16_SLOTS:
            return None
        if not self.uid.matches_mask(request.mask_length, request.mask):
            return None
        return InventoryResponse(self.dsfid, self.uid)

    def _select(self, request: Request) -> Response | None:
        # Clause 10.4.6: the VICC with another UID in the selected state returns to ready.
        if request.uid == self.uid:
            self.state = IsoState.SELECTED
            return StatusResponse()
        if self.state is IsoState.SELECTED:
            self.state = IsoState.READY
        return None

    def _range_error(self, first: int, count: int) -> ErrorResponse | None:
        if first + count > self.family.block_count:
            return ErrorResponse(ErrorCode.BLOCK_NOT_AVAILABLE)
        return None

    def _read(self, request: Request, count: int) -> Response:
        first = request.block_number or 0
        error = self._range_error(first, count)
        if error:
            return error
        blocks = tuple(self.block(number) for number in range(first, first + count))
        security = tuple(self.locked[first : first + count]) if request.option else None
        return BlocksResponse(blocks, security)

    def _write(self, request: Request, count: int) -> Response:
        first = request.block_number or 0
        error = self._range_error(first, count)
        if error:
            return error
        if len(request.data) != count * self.family.block_size:
            return ErrorResponse(ErrorCode.NOT_RECOGNISED)
        if any(self.locked[first : first + count]):
            return ErrorResponse(ErrorCode.BLOCK_LOCKED)
        self.write_blocks(first, request.data)
        return StatusResponse()

    def _lock_block(self, request: Request) -> Response:
        number = request.block_number or 0
        error = self._range_error(number, 1)
        if error:
            return error
        if self.locked[number]:
            return ErrorResponse(ErrorCode.BLOCK_ALREADY_LOCKED)
        self.locked[number] = 1
        return StatusResponse()

    def _security_status(self, request: Request) -> Response:
        first, count = request.block_number or 0, request.block_count or 1
        error = self._range_error(first, count)
        if error:
            return error
        return SecurityStatusResponse(
            tuple(BLOCK_LOCKED if locked else 0 for locked in self.locked[first : first + count])
        )

    def _eas_afi_denied(self, protected: bool) -> bool:
        return protected and PasswordId.EAS_AFI not in self.authenticated

    def _write_afi(self, request: Request) -> Response:
        if self.afi_locked:
            return ErrorResponse(ErrorCode.BLOCK_LOCKED)
        if self._eas_afi_denied(self.afi_protected):
            return ErrorResponse(ErrorCode.UNKNOWN)
        self.afi = request.afi or 0
        return StatusResponse()

    def _lock_afi(self) -> Response:
        if self.afi_locked:
            return ErrorResponse(ErrorCode.BLOCK_ALREADY_LOCKED)
        if self._eas_afi_denied(self.afi_protected):
            return ErrorResponse(ErrorCode.UNKNOWN)
        self.afi_locked = True
        return StatusResponse()

    def _set_eas(self, value: bool) -> Response:
        if self.eas_locked:
            return ErrorResponse(ErrorCode.BLOCK_LOCKED)
        if self._eas_afi_denied(self.eas_protected):
            return ErrorResponse(ErrorCode.UNKNOWN)
        self.eas = value
        return StatusResponse()

    def _lock_eas(self) -> Response:
        if self.eas_locked:
            return ErrorResponse(ErrorCode.BLOCK_ALREADY_LOCKED)
        if self._eas_afi_denied(self.eas_protected):
            return ErrorResponse(ErrorCode.UNKNOWN)
        self.eas_locked = True
        return StatusResponse()

    def _protect(self, *, afi: bool) -> Response:
        # SLIX 9.4.3.11: needs the EAS/AFI password first; the protection is irreversible.
        if PasswordId.EAS_AFI not in self.authenticated:
            return ErrorResponse(ErrorCode.UNKNOWN)
        if afi:
            self.afi_protected = True
        else:
            self.eas_protected = True
        return StatusResponse()

    def _set_password(self, request: Request) -> Response | None:
        # SET/WRITE PASSWORD work in addressed or selected mode only (§2.5).
        if not (request.addressed or request.selected_mode):
            return None
        password_id = request.password_id or 0
        if password_id not in self.passwords:
            return ErrorResponse(ErrorCode.UNKNOWN)
        random_number = self.random_number
        self.random_number = None
        scrambled = request.password or 0
        if (
            random_number is None
            or scrambled ^ (random_number << 16 | random_number) != self.passwords[password_id]
        ):
            return self.reject_password()
        self.authenticated.add(password_id)
        return StatusResponse()

    def reject_password(self) -> ErrorResponse:
        """A wrong password: error 0x0F now, silence until RF reset (SLIX datasheet)."""
        self.muted = True
        return ErrorResponse(ErrorCode.UNKNOWN)

    def _write_password(self, request: Request) -> Response | None:
        if not (request.addressed or request.selected_mode):
            return None
        password_id = request.password_id or 0
        if password_id not in self.authenticated:
            return ErrorResponse(ErrorCode.UNKNOWN)
        self.passwords[password_id] = request.password or 0
        return StatusResponse()
