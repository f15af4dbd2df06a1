# SPDX-License-Identifier: Apache-2.0
"""The privacy guard: patron keys hold null or a salted hash, at any depth, in events and command
responses; the JSON Schema rule (common.json#/$defs/privacySafe) gives the same verdict."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.contract import (
    CommandResponse,
    ContractError,
    Event,
    check_no_patron_identifiers,
    uuid7,
)
from protocols.contract.privacy import is_patron_key
from tests.contract.schema_tools import schema_errors

HASH = "h:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(("data", "field"), [
    ({"patron": "30012345678"}, "data.patron"),
    ({"patron": 30012345678}, "data.patron"),
    ({"patron": {"hash": HASH}}, "data.patron"),
    ({"patron_id": "P1"}, "data.patron_id"),
    ({"Patron-Name": "Jane Doe"}, "data.Patron-Name"),
    ({"borrower": "B1"}, "data.borrower"),
    ({"BORROWER_ID": "B1"}, "data.BORROWER_ID"),
    ({"card": "1234"}, "data.card"),
    ({"cardNumber": "1234"}, "data.cardNumber"),
    ({"card-number": "1234"}, "data.card-number"),
    ({"pin": "0000"}, "data.pin"),
    ({"PIN": 1234}, "data.PIN"),
    ({"password": "secret"}, "data.password"),
    ({"sip": {"ok": True, "patron": "P1"}}, "data.sip.patron"),
    ({"items": [{"x": 1}, {"card": "1"}]}, "data.items[1].card"),
    ({"patron": "h:" + "a" * 31}, "data.patron"),             # too short for 128 bits
    ({"patron": "h:" + "A" * 64}, "data.patron"),             # upper-case hex
    ({"patron": "H:" + "a" * 64}, "data.patron"),
    ({"patron": "h:" + "a" * 129}, "data.patron"),
    ({"patron": HASH + "\n"}, "data.patron"),
    ({"patron": True}, "data.patron"),
])
def test_patron_identifiers_in_clear_are_refused(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError) as caught:
        check_no_patron_identifiers(data)
    assert caught.value.field == field


@pytest.mark.parametrize("data", [
    {},
    {"patron": None},
    {"patron": HASH},
    {"patron": "h:" + "f" * 128, "card": None},
    {"sip": {"patron_status": None}},
    {"patronage": "public", "cardinality": 3, "pinned": True, "spin": 1, "carding": "x",
     "user": "staff-1", "passwords_rotated": 2, "borrowed": 4},
    {"items": [["patron"], "card"]},          # words as values are fine
])
def test_hashes_nulls_and_unrelated_keys_are_allowed(data: dict[str, Any]) -> None:
    check_no_patron_identifiers(data)


def test_the_guard_runs_when_events_and_responses_are_built_and_decoded() -> None:
    with pytest.raises(ContractError) as caught:
        Event(id=uuid7(0, bytes(10)), source="lib/v1/t/s/n", type="lib.exception.v1",
              time="2026-10-01T10:15:02.123Z", seq=0, offline=False,
              data={"kind": "other", "patron": "4711"})
    assert caught.value.field == "data.patron"
    with pytest.raises(ContractError) as caught:
        CommandResponse.from_json(b'{"corr":"c1","status":"ok","data":{"log":[{"card":"1"}]}}')
    assert caught.value.field == "data.log[0].card"


key_fragments = st.sampled_from([
    "patron", "Patron", "borrower", "card", "CARD", "number", "pin", "Pin", "password", "_", "-",
    "id", "x", "\n",
    "\u017f", "\u212a",   # long s, Kelvin sign: Unicode case folding would turn them into s, k
])
keys = st.lists(key_fragments, min_size=1, max_size=4).map("".join) | st.text(max_size=8)
values = st.none() | st.just(HASH) | st.just("1234") | st.integers(-99, 99) | st.booleans() \
    | st.from_regex("h:[0-9a-fA-F]{30,34}", fullmatch=True)
trees = st.recursive(
    st.dictionaries(keys, values, max_size=3),
    lambda inner: st.dictionaries(keys, inner | values, max_size=3) | st.lists(inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(keys, trees | values, max_size=3))
def test_the_json_schema_rule_gives_the_same_verdict(data: dict[str, Any]) -> None:
    try:
        check_no_patron_identifiers(data)
        python_ok = True
    except ContractError:
        python_ok = False
    for draft in ("2020-12", "draft-07"):
        assert (not _privacy_errors(data, draft)) is python_ok, (draft, data)


def _privacy_errors(data: dict[str, Any], draft: str) -> list[str]:
    # The envelope applies privacySafe to data; validate through it.
    event = {"specversion": "1.0", "id": uuid7(0, bytes(10)), "source": "lib/v1/t/s/n",
             "type": "lib.x.v1", "time": "2026-10-01T10:15:02.123Z", "seq": 0,
             "offline": False, "data": data}
    return schema_errors("envelope.json", event, draft)


@pytest.mark.parametrize(("key", "expected"), [
    ("patron", True), ("patron_", True), ("patron-x", True), ("patronx", False),
    ("cardnumber", True), ("card_number", True), ("card__number", False), ("cards", False),
    ("pa\u017f\u017fword", False),   # only ASCII case folding, as in the JSON Schema pattern
    ("pin\n", True),       # "$" before a final newline, as a Python JSON Schema validator
])
def test_patron_key_edges(key: str, expected: bool) -> None:
    assert is_patron_key(key) is expected
