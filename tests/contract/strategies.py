# SPDX-License-Identifier: Apache-2.0
"""Hypothesis strategies for the contract, derived from the field specs of the Python types:
every message class gets a strategy of valid instances without a hand-written list of fields."""

from __future__ import annotations

from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from protocols.contract import (
    EVENT_TYPES,
    ContractError,
    Event,
    Message,
    format_time,
    make_event,
    uuid7,
)
from protocols.contract.circulation import REQUEST_TYPES, CirculationOutcome, CirculationReply
from protocols.contract.events import GateCountData, SetParts
from protocols.contract.fields import (
    Array,
    Boolean,
    Choice,
    Codec,
    Counters,
    Integer,
    JsonObject,
    Nested,
    Nullable,
    Text,
    Timestamp,
    Version,
)
from protocols.contract.jsonio import MAX_SAFE_INTEGER
from protocols.contract.messages import CORR, ResponseError
from protocols.contract.privacy import is_patron_key
from protocols.contract.timefmt import MAX_TIME_MS, MIN_TIME_MS
from protocols.contract.topics import (
    ID_PATTERN,
    NODE_PREFIX_PATTERN,
    RESERVED_NODE_IDS,
    RESERVED_SITE_IDS,
    RESPONSE_TOPIC_PATTERN,
)

TEXT_CHARS = st.characters(exclude_categories=["Cs"])
ids = st.from_regex(f"(?:{ID_PATTERN})", fullmatch=True)
sites = ids.filter(lambda s: s not in RESERVED_SITE_IDS)
nodes = ids.filter(lambda s: s not in RESERVED_NODE_IDS)
node_prefixes = st.builds(lambda t, s, n: f"lib/v1/{t}/{s}/{n}", ids, sites, nodes)
times_ms = st.integers(MIN_TIME_MS, MAX_TIME_MS)
times = times_ms.map(format_time)
patron_hashes = st.from_regex("h:[0-9a-f]{32,128}", fullmatch=True)
uuid7s = st.builds(uuid7, st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))

json_scalars = (
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.floats(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER, allow_nan=False)
    | st.text(TEXT_CHARS, max_size=20)
)
plain_keys = st.text(TEXT_CHARS, max_size=12).filter(lambda k: not is_patron_key(k))


def json_objects(*, privacy_keys: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects (depth <= 4) without patron keys; with ``privacy_keys``, some patron keys
    holding what the guard allows (null or a salted hash)."""
    values = st.recursive(
        json_scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_keys, inner, max_size=3),
        max_leaves=8,
    )
    plain = st.dictionaries(plain_keys, values, max_size=4)
    if not privacy_keys:
        return plain
    patron = st.dictionaries(st.sampled_from(["patron", "card_number", "Patron-Id", "pin"]),
                             st.none() | patron_hashes, max_size=2)
    return st.builds(lambda a, b: {**a, **b}, plain, patron)


_SPECIAL_TEXT = {
    NODE_PREFIX_PATTERN: node_prefixes,
    RESPONSE_TOPIC_PATTERN: node_prefixes.map(lambda p: p + "/res"),
}


def codec_strategy(codec: Codec) -> st.SearchStrategy[Any]:
    """Valid Python values for one field."""
    if isinstance(codec, Text):
        if codec.pattern in _SPECIAL_TEXT:
            return _SPECIAL_TEXT[codec.pattern]
        if codec.pattern is not None:
            return st.from_regex(f"(?:{codec.pattern})", fullmatch=True).filter(
                lambda s: codec.min_length <= len(s) <= codec.max_length)
        short = st.text(TEXT_CHARS, min_size=codec.min_length, max_size=min(codec.max_length, 24))
        full = st.text(TEXT_CHARS, min_size=codec.max_length, max_size=codec.max_length)
        return short | full
    if isinstance(codec, Integer):
        return st.integers(codec.minimum, codec.maximum)
    if isinstance(codec, Boolean):
        return st.booleans()
    if isinstance(codec, Choice):
        return st.sampled_from(codec.values)
    if isinstance(codec, Timestamp):
        return times
    if isinstance(codec, Version):
        return st.integers(0, MAX_SAFE_INTEGER) | st.text(TEXT_CHARS, min_size=1, max_size=64)
    if isinstance(codec, Nullable):
        return st.none() | codec_strategy(codec.inner)
    if isinstance(codec, Array):
        return st.lists(codec_strategy(codec.inner), min_size=codec.min_items,
                        max_size=min(codec.max_items, codec.min_items + 3),
                        unique=codec.unique).map(tuple)
    if isinstance(codec, Nested):
        return messages(codec.cls)
    if isinstance(codec, JsonObject):
        return json_objects(privacy_keys=codec.privacy)
    if isinstance(codec, Counters):
        return st.dictionaries(st.from_regex(f"(?:{codec.key_pattern})", fullmatch=True),
                               st.integers(0, MAX_SAFE_INTEGER), max_size=4)
    raise TypeError(f"no strategy for {codec!r}")


@st.composite
def _set_parts(draw: st.DrawFn) -> SetParts:
    of = draw(st.integers(1, 255))
    seen = draw(st.lists(st.integers(1, of), unique=True, max_size=min(of, 6)))
    return SetParts(n=draw(st.integers(1, of)), of=of, seen=tuple(seen))


@st.composite
def _gate_counts(draw: st.DrawFn) -> GateCountData:
    start, end = sorted(draw(st.lists(times_ms, min_size=2, max_size=2)))
    return GateCountData(gate=draw(ids), entered=draw(st.integers(0, 10**6)),
                         left=draw(st.integers(0, 10**6)), start=format_time(start),
                         end=format_time(end))


@st.composite
def _circulation_replies(draw: st.DrawFn) -> CirculationReply:
    common = {"corr": draw(codec_strategy(CORR)), "replayed": draw(st.none() | st.booleans()),
              "request": draw(st.sampled_from(sorted(REQUEST_TYPES)))}
    if draw(st.booleans()):
        return CirculationReply(status="ok", outcome=draw(messages(CirculationOutcome)),
                                **common)
    return CirculationReply(status="error", error=draw(messages(ResponseError)), **common)


_OVERRIDES: dict[type[Message], st.SearchStrategy[Any]] = {
    CirculationReply: _circulation_replies(),
    SetParts: _set_parts(),
    GateCountData: _gate_counts(),
}


def messages(cls: type[Message]) -> st.SearchStrategy[Any]:
    """Valid instances of ``cls``; rules across fields are met by filtering (or an override)."""
    if cls in _OVERRIDES:
        return _OVERRIDES[cls]

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        values = {s.name: draw(codec_strategy(s.codec)) for s in cls.field_specs()}
        try:
            return cls(**values)
        except ContractError:   # a rule across fields: draw again
            reject()

    return build()


@st.composite
def events(draw: st.DrawFn, type_name: str | None = None) -> Event:
    """Events of catalogued types with typed data."""
    name = type_name or draw(st.sampled_from(sorted(EVENT_TYPES)))
    data = draw(messages(EVENT_TYPES[name].data))
    return make_event(name, data, id=draw(uuid7s), source=draw(node_prefixes), time=draw(times),
                      seq=draw(st.integers(0, MAX_SAFE_INTEGER)), offline=draw(st.booleans()))
