# SPDX-License-Identifier: Apache-2.0
"""Conversion between tag data models: decode any, encode to a target, prove nothing was lost.

A conversion is refused (:class:`ConversionRefused`, listing every element affected) when the
target model cannot carry something the source tag holds, unless the caller allows the loss.
Either way the result is verified by decoding the new image and comparing it element by element
with what was meant to be written, so an encoder that silently truncated would be caught here.

Not responsible for: writing the image to a tag or locking it (the staff workflow does that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from protocols.errors import ProtocolError, TagFormatError
from protocols.iso28560 import legacy_3m, part2, part3, part4
from protocols.iso28560.model import ELEMENT_ATTRIBUTES, LibraryTag, TagImage, TagModel

_NOT_IN_PART3 = frozenset({
    "local_data_a", "local_data_b", "local_data_c", "alternative_unique_item_identifier",
    "unique_item_identifier",
})

# What each HF target model has a place for (ISO 28560-3 Table 2 blocks 1-5; RFID501 layout).
CARRIES: Mapping[TagModel, frozenset[str]] = {
    TagModel.PART2: ELEMENT_ATTRIBUTES - {"unique_item_identifier"} | {"set_information"},
    TagModel.PART3: ELEMENT_ATTRIBUTES - _NOT_IN_PART3 | {"set_information"},
    TagModel.LEGACY_3M: frozenset({"primary_item_id", "set_information", "media_format"}),
}

_ENCODERS: Mapping[TagModel, Callable[..., TagImage]] = {
    TagModel.PART2: part2.encode,
    TagModel.PART3: part3.encode,
    TagModel.LEGACY_3M: legacy_3m.encode,
}
_DECODERS: Mapping[TagModel, Callable[[bytes], LibraryTag]] = {
    TagModel.PART2: part2.decode,
    TagModel.PART3: part3.decode,
    TagModel.LEGACY_3M: legacy_3m.decode,
}

TARGETS: tuple[TagModel, ...] = tuple(_ENCODERS)


class ConversionRefused(ProtocolError):
    """The target model cannot carry some of the source tag's data."""

    def __init__(self, target: TagModel, lost: tuple[str, ...]) -> None:
        self.target = target
        self.lost = lost
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"converting to {self.target.value} would lose {', '.join(self.lost)}"
        )


@dataclass(frozen=True, slots=True)
class Conversion:
    """The new image, the tag it decodes to, and what was dropped on purpose."""

    image: TagImage
    tag: LibraryTag
    dropped: tuple[str, ...]


MEDIA_FORMAT_UNDEFINED = 0  # ISO 28560-1 4.2.19: 0 = undefined, i.e. no information


def _comparable(tag: LibraryTag) -> dict[str, Any]:
    """The elements that carry information: an empty text or media format 0 ("undefined")
    says nothing, and some models cannot store them at all (part 3 reads both as absent)."""
    # Sorted: ELEMENT_ATTRIBUTES is a frozenset, whose order changes with each process's string
    # hashing, and a refusal names what would be lost in this order.
    values = {name: getattr(tag, name) for name in sorted(ELEMENT_ATTRIBUTES)}
    values["set_information"] = tag.set_information
    if values.get("media_format") == MEDIA_FORMAT_UNDEFINED:
        values["media_format"] = None
    return {k: v for k, v in values.items() if v is not None and v != ""}


def _fits(target: TagModel, tag: LibraryTag, name: str) -> bool:
    """Whether ``target`` can hold ``tag``'s value of an element the model carries."""
    if target is TagModel.LEGACY_3M and name == "media_format":
        return tag.media_format in legacy_3m.ITEM_TYPE_BY_MEDIA_FORMAT
    if target is TagModel.LEGACY_3M and name == "set_information":
        return (tag.set_total or 0) <= legacy_3m.MAX_SET_TOTAL
    return True


def _vendor_value_elsewhere(tag: LibraryTag, key: str, value: int | str) -> bool:
    """A vendor value whose information an ISO element already carries (3M item type 1, book,
    is media format 1), so converting does not lose it."""
    return (
        key == "3m_item_type"
        and isinstance(value, int)
        and legacy_3m.MEDIA_FORMAT_BY_ITEM_TYPE.get(value) == tag.media_format
    )


def _meaningful_vendor_data(tag: LibraryTag) -> tuple[str, ...]:
    """Vendor values worth keeping: zero or empty placeholders carry no information."""
    return tuple(
        f"vendor:{key}" for key, value in tag.vendor_data
        if value not in (0, "") and not _vendor_value_elsewhere(tag, key, value)
    )


def convert(
    source: LibraryTag,
    target: TagModel,
    *,
    allow_loss: bool = False,
    overrides: Mapping[str, Any] | None = None,
    **encode_options: Any,
) -> Conversion:
    """Re-encode ``source`` as ``target``; ``overrides`` supplies or replaces elements
    (e.g. the owner ISIL a 3M tag never had).
    """
    if target not in _ENCODERS:
        names = ", ".join(t.value for t in TARGETS)
        raise TagFormatError(f"cannot encode to {target.value}; targets are {names}")
    if source.model in (TagModel.UNKNOWN, TagModel.BLANK):
        raise TagFormatError(f"nothing to convert: the source tag is {source.model.value}")
    wanted = replace(source, **(overrides or {}))
    carried = CARRIES[target]
    present = _comparable(wanted)
    lost = [name for name in present if name not in carried or not _fits(target, wanted, name)]
    if source.model is not target:
        lost += _meaningful_vendor_data(wanted)
        lost += [f"unknown:{u.kind}:{u.key}" for u in wanted.unknown_data]
    if lost and not allow_loss:
        raise ConversionRefused(target, tuple(lost))
    stripped: dict[str, Any] = {
        name: None for name in lost if name in ELEMENT_ATTRIBUTES
    }
    if "set_information" in lost:
        stripped |= {"set_total": None, "set_part": None}
    keep_extras = source.model is target
    to_write = replace(
        wanted,
        model=target,
        vendor_data=wanted.vendor_data if keep_extras else (),
        unknown_data=wanted.unknown_data if keep_extras else (),
        warnings=(),
        **stripped,
    )
    image = _ENCODERS[target](to_write, **encode_options)
    written = _DECODERS[target](image.memory)
    # Every element meant to be written must read back equal; elements the target format
    # always has (part 3's type of usage, 1/1 set information) may appear as its defaults.
    expected, got = _comparable(to_write), _comparable(written)
    mismatched = sorted(k for k in expected if expected[k] != got.get(k))
    if mismatched:
        raise TagFormatError(
            f"{target.value} encoder did not reproduce {', '.join(mismatched)}; image not used"
        )
    return Conversion(image=image, tag=written, dropped=tuple(lost))


@dataclass(frozen=True, slots=True)
class EncodedTag:
    """An encoder's output in any model: an HF image, or the two banks of a UHF tag."""

    model: TagModel
    image: TagImage | None = None
    epc_bank: bytes = b""
    user_bank: bytes = b""

    def hex(self) -> str:
        """Upper-case hex; UHF as ``EPC/USER`` (the form ``libedge tag decode`` reads)."""
        if self.image is not None:
            return self.image.memory.hex().upper()
        return f"{self.epc_bank.hex().upper()}/{self.user_bank.hex().upper()}"


def encode_tag(tag: LibraryTag, *, size: int | None = None) -> EncodedTag:
    """Encode ``tag`` in ``tag.model``; ``size`` is the tag's user memory in bytes (HF only)."""
    if tag.model is TagModel.PART4:
        if size is not None:
            raise TagFormatError("--size applies to HF tags; UHF banks are sized by their data")
        epc, user = part4.encode(tag)
        return EncodedTag(tag.model, epc_bank=epc, user_bank=user)
    if tag.model is TagModel.PART2:
        return EncodedTag(tag.model, image=part2.encode(tag, memory_size=size))
    if tag.model is TagModel.PART3:
        image = part3.encode(tag) if size is None else part3.encode(tag, size=size)
        return EncodedTag(tag.model, image=image)
    if tag.model is TagModel.LEGACY_3M:
        image = legacy_3m.encode(tag) if size is None else legacy_3m.encode(tag, size=size)
        return EncodedTag(tag.model, image=image)
    raise TagFormatError(f"cannot encode a tag of model {tag.model.value}")
