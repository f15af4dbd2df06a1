# SPDX-License-Identifier: Apache-2.0
"""The event envelope (CloudEvents 1.0 attribute names, structured JSON mode):

    {"data":{...},"id":"0192...","offline":false,"seq":18234,
     "source":"lib/v1/DK-718500/DK-718501/kiosk-2","specversion":"1.0",
     "time":"2026-10-01T10:15:02.123Z","type":"lib.circ.checkout.v1"}

    attribute    rule
    specversion  "1.0"
    id           UUIDv7, canonical lowercase: consumers de-duplicate by it
    source       the producing node's prefix lib/v1/{tenant}/{site}/{node}
    type         lib.<area>[.<name>].v<N>  (lowercase words; N = 1..9999)
    time         when it happened at the edge: 2026-10-01T10:15:02.123Z (UTC, ms)
    seq          per-node counter, 0..2**53-1, +1 per event: consumers detect gaps by it
    offline      true when the edge acted without the ILS (replayed later)
    data         a JSON object, checked by the privacy guard

:func:`decode_event` never trusts its input: the JSON rules of
:mod:`protocols.contract.jsonio` (size, UTF-8, duplicate keys, NaN, huge numbers, depth), then
each attribute; any violation is a :class:`ContractError` naming the attribute. Unknown
attributes (CloudEvents extensions) are ignored. :func:`encode_event` writes compact JSON with
sorted keys, so equal events are equal bytes.

Not responsible for: what ``data`` holds per type (:mod:`protocols.contract.events`).
"""

from __future__ import annotations

from typing import Any

from protocols.contract.errors import ContractError
from protocols.contract.fields import (
    Boolean,
    Choice,
    Integer,
    JsonObject,
    Message,
    Text,
    Timestamp,
    message,
    spec,
)
from protocols.contract.jsonio import load_json_object
from protocols.contract.privacy import check_no_patron_identifiers
from protocols.contract.timefmt import parse_time
from protocols.contract.topics import NODE_PREFIX_PATTERN
from protocols.contract.uuid7 import UUID7_PATTERN

TYPE_PATTERN = "lib(?:[.][a-z][a-z0-9_]*){1,3}[.]v[1-9][0-9]{0,3}"



@message
class Event(Message):
    """One event as it travels: envelope attributes and the raw ``data`` object."""

    id: str = spec(Text(36, UUID7_PATTERN, min_length=36))
    source: str = spec(Text(204, NODE_PREFIX_PATTERN))
    type: str = spec(Text(128, TYPE_PATTERN))
    time: str = spec(Timestamp())
    seq: int = spec(Integer())
    offline: bool = spec(Boolean())
    data: dict[str, Any] = spec(JsonObject(privacy=True))
    specversion: str = spec(Choice(("1.0",)), default="1.0")

    @property
    def time_ms(self) -> int:
        return parse_time(self.time)


def encode_event(event: Event) -> bytes:
    """Compact UTF-8 JSON of ``event``; ContractError if its data names a patron in clear
    (the check also runs when an Event is built) or the result would exceed the size limit."""
    if not isinstance(event, Event):
        raise ContractError(f"expected an Event, not {type(event).__name__}")
    check_no_patron_identifiers(event.data)
    return event.to_json()


def decode_event(payload: bytes) -> Event:
    """The Event in ``payload``; ContractError for anything outside the contract."""
    return Event.from_dict(load_json_object(payload))
