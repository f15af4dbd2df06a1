# SPDX-License-Identifier: Apache-2.0
"""Direct mode: Sip2Backend against the ILS simulator over real TCP."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge_service.circulation import (
    CirculationFailed,
    ItemKey,
    Sip2Backend,
    TransientCirculationError,
    from_patron_loans,
    local_time,
)
from edge_service.config import ConfigError, parse_config
from edge_service.ils import PatronInformationResult
from protocols.contract import MAX_LOANS, CirculationReply
from protocols.sip2 import PatronInformationResponse
from tests.ils.helpers import (
    BOOK,
    HC,
    KAREN,
    LOANED_TO_HC,
    NOT_FOR_LOAN,
    ON_HOLD_FOR_ZOE,
    PINS,
    SOREN,
    ZOE,
    connected,
)

OWNER = "DK-718500"


async def test_checkout_checkin_item_info_and_renew() -> None:
    async with connected() as (sim, client):
        backend = Sip2Backend(client)
        patron = await backend.patron_check(SOREN, pin=PINS[SOREN])
        assert (patron.ok, patron.valid, patron.pin_ok, patron.may_borrow) == (
            True, True, True, True)
        wrong = await backend.patron_check(SOREN, pin="0000")
        assert wrong.pin_ok is False
        assert wrong.may_borrow is False

        out = await backend.checkout(ItemKey(OWNER, BOOK), SOREN, pin=PINS[SOREN])
        assert out.ok
        assert out.desensitize == "Y"
        assert out.due
        assert out.title
        info = await backend.item_info(ItemKey(OWNER, BOOK))
        assert (info.known, info.circulation_status) == (True, "04")
        renewed = await backend.renew(ItemKey(OWNER, BOOK), SOREN, pin=PINS[SOREN])
        assert renewed.ok
        back = await backend.checkin(ItemKey(OWNER, BOOK))
        assert back.ok
        assert back.resensitize is True
        assert back.sort_bin == "A1"
        assert sim.counters.executed["11"] == 1
        assert sim.counters.executed["09"] == 1


async def test_refusals_are_outcomes() -> None:
    async with connected() as (_, client):
        backend = Sip2Backend(client)
        refused = await backend.checkout(ItemKey(OWNER, NOT_FOR_LOAN), SOREN, pin=PINS[SOREN])
        assert refused.ok is False
        assert refused.desensitize == "N"
        assert refused.screen_message == ("Item not for loan",)
        held = await backend.checkout(ItemKey(OWNER, ON_HOLD_FOR_ZOE), KAREN, pin=PINS[KAREN])
        assert held.ok is False
        unknown = await backend.item_info(ItemKey(OWNER, "nonexistent"))
        assert unknown.known is False
        assert unknown.circulation_status == "01"


@pytest.mark.parametrize(("patron", "pin"), [("2000|AC", None), ("2000\r\n00", None),
                                              (SOREN, "12|AA")])
async def test_what_sip2_cannot_carry_is_a_failure_that_does_not_quote_it(
        patron: str, pin: str | None) -> None:
    """The encoder's refusal used to escape as a protocol error (a 500 at the API, a replay
    stuck for good); it is a CirculationFailed now, and nothing was sent."""
    async with connected() as (sim, client):
        backend = Sip2Backend(client)
        with pytest.raises(CirculationFailed) as failed:
            await backend.checkout(ItemKey(OWNER, BOOK), patron, pin=pin)
        assert patron not in str(failed.value)
        assert str(pin) not in str(failed.value)
        assert sim.counters.executed.get("11", 0) == 0
        assert (await backend.item_info(ItemKey(OWNER, BOOK))).known   # the session is fine


async def test_offline_replay_with_no_block_and_refused_replay() -> None:
    async with connected() as (sim, client):
        at = int(datetime(2024, 4, 30, 15, 0).timestamp() * 1000)  # noqa: DTZ001 - local
        assert local_time(at) == datetime(2024, 4, 30, 15, 0)  # noqa: DTZ001
        ok = await Sip2Backend(client).checkout(ItemKey(OWNER, NOT_FOR_LOAN), SOREN,
                                                offline_at_ms=at)
        assert ok.ok   # no block: the ILS records what happened at the kiosk
        sim.set_faults(refuse_offline_replay=True)
        refused = await Sip2Backend(client).checkout(ItemKey(OWNER, BOOK), SOREN,
                                                     offline_at_ms=at)
        assert refused.ok is False


async def test_patron_loans_lists_the_window_and_the_overdue_loans() -> None:
    """Over SIP2 to the simulator: H.C.'s one loan is three days overdue in the sample
    catalogue; Zoë borrows seven and asks for windows of them. Two patron information
    requests per call (charged, then overdue items); none of the second without loans."""
    books = [f"50123456{n:02d}" for n in range(1, 8)]
    async with connected() as (sim, client):
        backend = Sip2Backend(client)
        hc = await backend.patron_loans(HC, pin=PINS[HC])
        assert (hc.ok, hc.valid, hc.pin_ok) == (True, True, True)
        assert (hc.loans, hc.overdue, hc.charged_count) == (
            (LOANED_TO_HC,), (LOANED_TO_HC,), 1)
        assert sim.counters.executed["63"] == 2

        assert (await backend.patron_loans(ZOE, pin=PINS[ZOE])).loans == ()
        assert sim.counters.executed["63"] == 3   # no loans: no overdue request
        for book in books:
            assert (await backend.checkout(ItemKey(OWNER, book), ZOE, pin=PINS[ZOE])).ok
        everything = await backend.patron_loans(ZOE, pin=PINS[ZOE])
        assert (everything.loans, everything.overdue, everything.charged_count) == (
            tuple(books), (), 7)
        window = await backend.patron_loans(ZOE, pin=PINS[ZOE], start=3, end=5)
        assert (window.loans, window.charged_count) == (tuple(books[2:5]), 7)
        assert (await backend.patron_loans(ZOE, start=6)).loans == tuple(books[5:])

        wrong = await backend.patron_loans(HC, pin="0000")
        assert (wrong.ok, wrong.pin_ok, wrong.loans, wrong.overdue) == (False, False, None, None)
        unknown = await backend.patron_loans("2999999999")
        assert (unknown.ok, unknown.valid, unknown.loans) == (False, False, None)
        for outcome in (hc, everything, wrong, unknown):   # never the patron's name or id
            reply = CirculationReply(corr="c", request="circ.loans", status="ok",
                                     outcome=outcome).to_json()
            assert b"rsted" not in reply
            assert b"Zo" not in reply
            assert HC.encode() not in reply


def _information(charged: tuple[str, ...] = (), overdue: tuple[str, ...] = (),
                 count: int = 0, **fields: str) -> PatronInformationResult:
    return PatronInformationResult.from_reply(PatronInformationResponse(
        patron_status=" " * 14, transaction_date=None, hold_items_count=0,
        overdue_items_count=len(overdue), charged_items_count=count, fine_items_count=0,
        recall_items_count=0, unavailable_holds_count=0, institution_id="DK-718500",
        patron_identifier="2000000001", personal_name="Søren Kierkegaard",
        charged_items=charged, overdue_items=overdue, **fields))


def test_loans_from_any_ils_fit_the_contract() -> None:
    """What ILSs put in 64: blanks around ids, the same id twice, titles instead of barcodes
    (not ids: left out), more than one reply may carry, a count below the list."""
    many = tuple(f"id-{n}" for n in range(MAX_LOANS + 20))
    outcome = from_patron_loans(
        _information((" 5012345601 ", "5012345601", "Enten - Eller", "", *many), count=3,
                     valid_patron="Y", valid_patron_password="Y",
                     email_address="soren@example.org", home_address="Nytorv 2"),
        _information(overdue=("5012345601", "x" * 65, "5012345601")))
    assert outcome.loans is not None
    assert outcome.loans[:2] == ("5012345601", "id-0")
    assert len(outcome.loans) == MAX_LOANS
    assert outcome.overdue == ("5012345601",)
    assert outcome.charged_count == MAX_LOANS   # never fewer than listed
    text = CirculationReply(corr="c", request="circ.loans", status="ok",
                            outcome=outcome).to_json()
    for private in (b"Kierkegaard", b"2000000001", b"example.org", b"Nytorv"):
        assert private not in text
    # A card the ILS does not know (BL N) gives no lists, whatever the reply carried.
    refused = from_patron_loans(_information(("5012345601",), valid_patron="N"))
    assert (refused.ok, refused.valid, refused.loans, refused.charged_count) == (
        False, False, None, None)


async def test_an_unreachable_ils_is_transient() -> None:
    async with connected(timeout_s=0.3, resend_limit=0) as (sim, client):
        sim.set_faults(latency_ms=3000)
        with pytest.raises(TransientCirculationError) as caught:
            await Sip2Backend(client).checkout(ItemKey(OWNER, BOOK), SOREN, pin=PINS[SOREN])
        assert caught.value.sent is True
        assert SOREN not in str(caught.value)
        assert PINS[SOREN] not in str(caught.value)


def test_circulation_config_section() -> None:
    config = parse_config({"circulation": {"backend": "sip2", "sip2_host": "ils",
                                           "sip2_institution_id": "DK-718500"}},
                          {"LIBEDGE_CIRCULATION_SIP2_PORT": "6010"})
    assert (config.circulation.backend, config.circulation.sip2_port) == ("sip2", 6010)
    assert parse_config({}, {}).circulation.backend == "mqtt"
    for document, key in (
        ({"backend": "z39"}, "circulation.backend"),
        ({"backend": "sip2"}, "circulation.sip2_host"),
        ({"sip2_line_ending": "LF"}, "circulation.sip2_line_ending"),
        ({"sip2_prot": 1}, "circulation.sip2_prot"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_config({"circulation": document}, {})
        assert caught.value.key == key
