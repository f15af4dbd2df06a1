# SPDX-License-Identifier: Apache-2.0
"""What the staff station's operations return: small frozen records with a ``to_json()`` dict
(the API's response bodies and the ``staff`` live messages).

AFI values are two upper-case hex digits in JSON, as in the events; ``None`` means not read.
A patron card on the pad is shown without its number (the tag's "item id").

Not responsible for: producing them (``staff``), HTTP status codes (``WorkflowError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_service.devices import is_patron_card
from edge_service.tag_json import tag_to_json
from firmware_bridge import SecurityState
from protocols.iso15693 import Uid
from protocols.iso28560 import LibraryTag, TagModel

__all__ = ["SecurityChange", "TagHealth", "TagView", "WriteResult", "afi_text"]


def afi_text(value: int | None) -> str | None:
    return None if value is None else f"{value:02X}"


def _state_json(state: SecurityState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"afi": afi_text(state.afi), "eas": state.eas, "secured": state.secured}


@dataclass(frozen=True, slots=True)
class TagHealth:
    """What staff should know about a tag's condition."""

    read_error: str | None = None
    security_error: str | None = None
    lock_status_error: str | None = None
    warnings: tuple[str, ...] = ()
    """The decoder's corrections and reasons (``LibraryTag.warnings``)."""
    problems: tuple[str, ...] = ()
    """Plain-language findings for staff (wrong model, security undecided, not ours...)."""
    protection: str | None = None
    """Password/EAS-AFI protection; None: the driver does not report it (none does yet)."""

    def to_json(self) -> dict[str, Any]:
        return {"read_error": self.read_error, "security_error": self.security_error,
                "lock_status_error": self.lock_status_error, "warnings": list(self.warnings),
                "problems": list(self.problems), "protection": self.protection}


@dataclass(frozen=True, slots=True)
class TagView:
    """One tag on the staff pad, as ``tags()`` shows it."""

    uid: Uid
    tag: LibraryTag | None
    """None when the memory could not be read."""
    security: SecurityState | None
    locked_blocks: tuple[int, ...] | None
    """None when the lock status could not be read."""
    health: TagHealth

    def to_json(self) -> dict[str, Any]:
        decoded: dict[str, Any] = (tag_to_json(self.tag) if self.tag is not None
                                   else {"model": None})
        if self.tag is not None and is_patron_card(self.tag):
            # A patron card's "item id" is its card number: never shown at the desk.
            decoded["primary_item_id"] = None
            decoded["elements"] = {key: value for key, value in decoded["elements"].items()
                                   if key != "primary_item_identifier"}
        return {"uid": str(self.uid), **decoded,
                "afi": afi_text(self.security.afi) if self.security else None,
                "eas": self.security.eas if self.security else None,
                "secured": self.security.secured if self.security else None,
                "locked_blocks": None if self.locked_blocks is None else list(self.locked_blocks),
                "health": self.health.to_json()}


@dataclass(frozen=True, slots=True)
class SecurityChange:
    """A verified security write: the state read before and after."""

    uid: Uid
    before: SecurityState | None
    after: SecurityState

    def to_json(self) -> dict[str, Any]:
        return {"uid": str(self.uid), "verified": True, "before": _state_json(self.before),
                "after": _state_json(self.after)}


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A verified program or conversion, and the event that records it."""

    uid: Uid
    written: LibraryTag
    """The tag as read back and decoded after the write."""
    dsfid: int | None
    locked_blocks: tuple[int, ...]
    security: SecurityChange
    event_id: str
    converted_from: TagModel | None = None
    dropped: tuple[str, ...] = ()
    """Elements a conversion dropped because ``allow_loss`` said so."""

    def to_json(self) -> dict[str, Any]:
        return {"uid": str(self.uid), "verified": True, "event_id": self.event_id,
                "data_model": self.written.model.value,
                "primary_item_id": self.written.primary_item_id,
                "owner_institution": self.written.owner_institution,
                "converted_from": None if self.converted_from is None
                else self.converted_from.value,
                "dropped": list(self.dropped), "dsfid": afi_text(self.dsfid),
                "locked_blocks": list(self.locked_blocks),
                "security": self.security.to_json(), "tag": tag_to_json(self.written)}
