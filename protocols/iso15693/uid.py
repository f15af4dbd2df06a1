# SPDX-License-Identifier: Apache-2.0
"""The 64-bit ISO/IEC 15693 UID, in one canonical order.

ISO/IEC 15693-3 clause 4.1: the UID is ``E0``, the IC manufacturer code (ISO/IEC 7816-6), then a
48-bit serial number assigned by the manufacturer. On the air it travels **least significant
byte first**, so ``E0`` is the last byte of the field; FEIG and 3M readers print it most
significant byte first. :class:`Uid` holds the value as an int (MSB-first reading), prints it the
way FEIG and 3M do, and gives the air order as :attr:`Uid.wire`.

Anticollision works on the UID's least significant bits (clause 8.2): a mask of ``n`` bits is
compared with the UID's ``n`` low bits, and in a 16-slot round the next four bits pick the slot.

Not responsible for: knowing which chip a UID belongs to beyond the manufacturer code (the
simulator's tag families do that).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.errors import FrameError

UID_LENGTH = 8
UID_BITS = 64
# ISO/IEC 15693-3 clause 4.1: "The UID shall begin with the value E0h."
ISO15693_MARKER = 0xE0

# ISO/IEC 7816-6 IC manufacturer codes seen on HF library tags (second UID byte).
MANUFACTURERS: dict[int, str] = {
    0x02: "STMicroelectronics",
    0x04: "NXP Semiconductors",
    0x05: "Infineon Technologies",
    0x07: "Texas Instruments",
    0x08: "Fujitsu",
    0x16: "EM Microelectronic-Marin",
    0x17: "KSW Microtec",
}

MFG_ST = 0x02
MFG_NXP = 0x04
MFG_TI = 0x07


@dataclass(frozen=True, slots=True, order=True)
class Uid:
    """A UID; ``value`` reads MSB first, so ``str(uid)`` starts with ``E0``."""

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value < 1 << UID_BITS:
            raise FrameError(f"UID {self.value:#x} does not fit in 64 bits")

    @classmethod
    def from_text(cls, text: str) -> Uid:
        """From 16 hex digits, MSB first as readers print them (``"E004015012345678"``)."""
        digits = text.replace(" ", "").replace(":", "")
        if len(digits) != 2 * UID_LENGTH:
            raise FrameError(f"UID {text!r} has {len(digits)} hex digits, expected 16")
        try:
            return cls(int(digits, 16))
        except ValueError:
            raise FrameError(f"UID {text!r} is not hexadecimal") from None

    @classmethod
    def from_bytes(cls, data: bytes) -> Uid:
        """From 8 bytes MSB first (the FEIG/3M order)."""
        if len(data) != UID_LENGTH:
            raise FrameError(f"UID needs 8 bytes, got {len(data)}", frame=data)
        return cls(int.from_bytes(data, "big"))

    @classmethod
    def from_wire(cls, data: bytes) -> Uid:
        """From 8 bytes LSB first, as they appear in an air frame."""
        if len(data) != UID_LENGTH:
            raise FrameError(f"UID needs 8 bytes, got {len(data)}", frame=data)
        return cls(int.from_bytes(data, "little"))

    @property
    def msb_first(self) -> bytes:
        return self.value.to_bytes(UID_LENGTH, "big")

    @property
    def wire(self) -> bytes:
        """The air order: LSB first, ``E0`` last."""
        return self.value.to_bytes(UID_LENGTH, "little")

    @property
    def is_iso15693(self) -> bool:
        """True when the UID starts with ``E0`` as the standard requires."""
        return self.value >> 56 == ISO15693_MARKER

    @property
    def manufacturer_code(self) -> int:
        return (self.value >> 48) & 0xFF

    @property
    def manufacturer(self) -> str | None:
        """The IC manufacturer's name, or ``None`` for a code outside :data:`MANUFACTURERS`."""
        return MANUFACTURERS.get(self.manufacturer_code)

    @property
    def serial_number(self) -> int:
        return self.value & ((1 << 48) - 1)

    def matches_mask(self, mask_length: int, mask: int) -> bool:
        """Clause 8.2: the ``mask_length`` least significant bits equal ``mask``."""
        return (self.value & ((1 << mask_length) - 1)) == mask

    def slot(self, mask_length: int) -> int:
        """Clause 8.2: the 16-slot round's slot is the 4 UID bits just above the mask."""
        return (self.value >> mask_length) & 0xF

    def __str__(self) -> str:
        return f"{self.value:016X}"

    def __repr__(self) -> str:
        return f"Uid('{self}')"
