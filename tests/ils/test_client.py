# SPDX-License-Identifier: Apache-2.0
"""SIP2 client against the ILS simulator over real TCP on 127.0.0.1: session, circulation,
loan rules, charsets and quirk profiles, slow/dropped/garbled transports, pool, privacy."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from edge_service.ils import (
    IlsConfigError,
    IlsDisconnected,
    IlsLoginRefused,
    IlsProtocolError,
    IlsTimeout,
    PatronSecret,
    SimFaults,
    Sip2Client,
    Sip2Pool,
    Sip2Profile,
    Sip2Session,
    TransientIlsError,
)
from protocols.sip2 import SipDate
from tests.ils.helpers import (
    BOOK,
    EAST_ITEM,
    FOREIGN_ITEM,
    HC,
    KAREN,
    LOANED_TO_HC,
    NOT_FOR_LOAN,
    NOW,
    ON_HOLD_FOR_SOREN_AT_EAST,
    ON_HOLD_FOR_ZOE,
    PINS,
    SET_ITEM,
    SOREN,
    ZOE,
    clock,
    connected,
    profile_for,
    simulator,
)

DUE = SipDate(NOW + timedelta(days=28))

# --- session -------------------------------------------------------------------------------------


async def test_login_and_acs_status() -> None:
    async with connected() as (sim, client):
        status = client.session.acs_status
        assert status is not None
        assert status.online
        assert status.checkout_ok
        assert status.offline_ok
        assert status.timeout_s == 10.0
        assert {"checkout", "checkin", "renew", "login"} <= status.supported
        assert status.institution_id == "DK-718500"
        assert sim.counters.logins == 1


async def test_wrong_login_is_refused_not_transient() -> None:
    async with simulator() as sim:
        client = Sip2Client(profile_for(sim, login_password="wrong"), clock=clock)
        with pytest.raises(IlsLoginRefused) as info:
            await client.connect()
        assert not isinstance(info.value, TransientIlsError)
        assert "wrong" not in str(info.value)
        await client.close()


async def test_heartbeat_sends_sc_status_on_its_interval() -> None:
    async with connected(heartbeat_s=0.02) as (sim, _client):
        for _ in range(200):
            if sim.counters.executed.get("99", 0) >= 3:
                break
            await asyncio.sleep(0.01)
        assert sim.counters.executed["99"] >= 3


# --- circulation happy paths ---------------------------------------------------------------------


async def test_checkout_checkin_renew_happy_path() -> None:
    async with connected() as (_sim, client):
        out = await client.checkout(BOOK, SOREN, pin=PINS[SOREN])
        assert out.ok
        assert out.desensitize is True
        assert out.due_date == DUE
        assert out.title == "Enten - Eller"
        assert out.media_type == "001"
        assert not out.renewal_ok
        info = await client.item_information(BOOK)
        assert info.circulation_status == 4
        assert info.due_date == DUE
        renewed = await client.renew(BOOK, SOREN, pin=PINS[SOREN])
        assert renewed.ok
        assert renewed.renewal_ok
        back = await client.checkin(BOOK)
        assert back.ok
        assert back.resensitize
        assert not back.alert
        assert back.sort_bin == "A1"
        assert back.permanent_location == "MAIN"
        assert (await client.item_information(BOOK)).circulation_status == 3


async def test_renew_limit_and_renewing_someone_elses_loan_are_refused() -> None:
    async with connected() as (_sim, client):
        assert (await client.checkout(BOOK, SOREN)).ok
        assert (await client.renew(BOOK, SOREN)).ok
        assert (await client.renew(BOOK, SOREN)).ok
        third = await client.renew(BOOK, SOREN)
        assert not third.ok
        assert third.screen_message == ("Renewal limit reached",)
        other = await client.renew(LOANED_TO_HC, SOREN)
        assert not other.ok
        assert other.screen_message == ("Item is not checked out to you",)


@pytest.mark.parametrize(
    ("item", "patron", "pin", "message"),
    [
        (BOOK, KAREN, PINS[KAREN], "Patron blocked: please contact the desk"),
        (ON_HOLD_FOR_ZOE, SOREN, PINS[SOREN], "Item is on hold for another patron"),
        (NOT_FOR_LOAN, SOREN, PINS[SOREN], "Item not for loan"),
        (BOOK, SOREN, "9999", "Wrong PIN"),
        (LOANED_TO_HC, SOREN, PINS[SOREN], "Item is checked out to another patron"),
        ("0000000000", SOREN, PINS[SOREN], "Item not found"),
        (BOOK, "2999999999", "1", "Patron not found"),
        (SET_ITEM, SOREN, PINS[SOREN], "Set of 2 parts: put all parts on the pad"),
    ],
    ids=["blocked", "hold-for-other", "not-for-loan", "wrong-pin", "out-to-other",
         "unknown-item", "unknown-patron", "incomplete-set"],
)
async def test_loan_rules_refuse_as_results(item: str, patron: str, pin: str,
                                            message: str) -> None:
    async with connected() as (_sim, client):
        result = await client.checkout(item, patron, pin=pin)
        assert not result.ok
        assert result.desensitize is False  # a refused item stays secured
        assert result.screen_message[0] == message


async def test_hold_for_this_patron_is_filled_by_checkout() -> None:
    async with connected() as (_sim, client):
        assert (await client.checkout(ON_HOLD_FOR_ZOE, ZOE, pin=PINS[ZOE])).ok
        assert (await client.item_information(ON_HOLD_FOR_ZOE)).hold_queue_length == 0


async def test_complete_set_is_lent_with_its_set_information() -> None:
    async with connected() as (_sim, client):
        result = await client.checkout(SET_ITEM, SOREN, item_properties="set-parts-present=2")
        assert result.ok
        assert result.item_properties == "set-parts=2"
        assert result.screen_message == ("Set of 2 parts: all parts must be together",)
        back = await client.checkin(SET_ITEM)
        assert back.item_properties == "set-parts=2"


async def test_set_policy_refuse_sends_every_set_to_the_desk() -> None:
    async with connected(settings={"sets_policy": "refuse"}) as (_sim, client):
        result = await client.checkout(SET_ITEM, SOREN, item_properties="set-parts-present=2")
        assert not result.ok
        assert "desk" in result.screen_message[0]


@pytest.mark.parametrize(
    ("item", "alert_type", "destination", "sort_bin", "hold_pending"),
    [
        (ON_HOLD_FOR_ZOE, "01", "MAIN", "HOLDS", True),
        (ON_HOLD_FOR_SOREN_AT_EAST, "02", "EAST", "TRANSIT", True),
        (EAST_ITEM, "04", "EAST", "TRANSIT", False),
        (FOREIGN_ITEM, "04", "DK-775100", "TRANSIT", False),
    ],
    ids=["hold-here", "hold-elsewhere", "other-branch", "other-library"],
)
async def test_checkin_sorting_alerts(item: str, alert_type: str, destination: str,
                                      sort_bin: str, hold_pending: bool) -> None:
    async with connected() as (_sim, client):
        result = await client.checkin(item)
        assert result.ok
        assert result.resensitize
        assert result.alert
        assert (result.alert_type, result.destination_location, result.sort_bin) == (
            alert_type, destination, sort_bin)
        assert result.hold_pending is hold_pending


async def test_checkin_of_unknown_item_alerts() -> None:
    async with connected() as (_sim, client):
        result = await client.checkin("0000000000")
        assert not result.ok
        assert result.alert
        assert not result.resensitize


# --- off-line replay -----------------------------------------------------------------------------

ORIGINAL = datetime(2024, 4, 20, 15, 0, 0)  # noqa: DTZ001


async def test_offline_replay_is_accepted_with_its_original_date() -> None:
    async with connected() as (_sim, client):
        # Blocked patron: the loan already happened off-line, the ACS must not refuse (no block).
        result = await client.checkout(BOOK, KAREN, no_block=True, transaction_date=ORIGINAL)
        assert result.ok
        assert result.due_date == SipDate(ORIGINAL + timedelta(days=28))
        promised = datetime(2024, 5, 10, 23, 59, 0)  # noqa: DTZ001
        other = await client.checkout(EAST_ITEM, KAREN, no_block=True,
                                      transaction_date=ORIGINAL, nb_due_date=promised)
        assert other.due_date == SipDate(promised)


async def test_offline_replay_refused_by_setting_and_by_runtime_fault() -> None:
    async with connected(settings={"accept_offline_replay": False}) as (_sim, client):
        result = await client.checkout(BOOK, SOREN, no_block=True, transaction_date=ORIGINAL)
        assert not result.ok
        assert result.screen_message == ("Off-line transactions are not accepted",)
    async with connected() as (sim, client):
        sim.set_faults(refuse_offline_replay=True)
        assert not (await client.checkout(BOOK, SOREN, no_block=True)).ok
        sim.set_faults(refuse_offline_replay=False)
        assert (await client.checkout(BOOK, SOREN, no_block=True)).ok


# --- patrons and items ---------------------------------------------------------------------------


async def test_patron_status_validity_and_blocks() -> None:
    async with connected() as (_sim, client):
        soren = await client.patron_status(SOREN, pin=PINS[SOREN])
        assert soren.valid
        assert soren.password_valid
        assert soren.may_borrow
        assert soren.personal_name == "Søren Kierkegaard"
        karen = await client.patron_status(KAREN, pin=PINS[KAREN])
        assert not karen.may_borrow
        assert "charge privileges denied" in karen.blocks
        assert karen.fee_amount == "250.00"
        wrong = await client.patron_status(SOREN, pin="0000")
        assert wrong.password_valid is False
        assert not wrong.may_borrow
        unknown = await client.patron_status("2999999999")
        assert unknown.valid is False


async def test_patron_information_lists() -> None:
    async with connected() as (_sim, client):
        info = await client.patron_information(HC, summary="charged items")
        assert info.charged_items_count == 1
        assert info.charged_items == (LOANED_TO_HC,)
        waiting = await client.patron_information(SOREN, summary="unavailable holds")
        assert waiting.unavailable_hold_items == (ON_HOLD_FOR_SOREN_AT_EAST,)
        assert waiting.hold_items == ()


async def test_patron_information_pages_charged_items_and_lists_the_overdue_ones() -> None:
    """BP/BQ are 1-based and inclusive; "overdue items" are the loans due before now (the
    sample catalogue's loan to H.C. is due three days before the simulator started)."""
    books = [f"50123456{n:02d}" for n in range(1, 8)]
    async with connected() as (_sim, client):
        for book in books:
            assert (await client.checkout(book, ZOE, pin=PINS[ZOE])).ok
        first = await client.patron_information(ZOE, summary="charged items", start_item=1,
                                                end_item=3)
        assert first.charged_items == tuple(books[:3])
        assert (first.charged_items_count, first.overdue_items_count) == (7, 0)
        rest = await client.patron_information(ZOE, summary="charged items", start_item=4,
                                               end_item=50)
        assert rest.charged_items == tuple(books[3:])
        assert rest.overdue_items == ()   # one list per request: the one asked for
        one = await client.patron_information(ZOE, summary="charged items", start_item=7,
                                              end_item=7)
        assert one.charged_items == (books[6],)
        zero = await client.patron_information(ZOE, summary="charged items", start_item=0,
                                               end_item=2)
        assert zero.charged_items == tuple(books[:2])   # position 0 read as 1, never wraps
        backwards = await client.patron_information(ZOE, summary="charged items", start_item=5,
                                                    end_item=4)
        assert backwards.charged_items == ()
        beyond = await client.patron_information(ZOE, summary="charged items", start_item=8,
                                                 end_item=20)
        assert (beyond.charged_items, beyond.charged_items_count) == ((), 7)

        late = await client.patron_information(HC, summary="overdue items", end_item=50)
        assert (late.overdue_items, late.overdue_items_count) == ((LOANED_TO_HC,), 1)
        assert late.charged_items == ()
        due = (await client.item_information(LOANED_TO_HC)).due_date
        assert due is not None
        assert due.moment == NOW - timedelta(days=3)
        renewed = await client.renew(LOANED_TO_HC, HC, pin=PINS[HC])
        assert renewed.ok
        after = await client.patron_information(HC, summary="overdue items", end_item=50)
        assert (after.overdue_items, after.overdue_items_count) == ((), 0)


async def test_item_information_status_update_and_end_session() -> None:
    async with connected() as (_sim, client):
        foreign = await client.item_information(FOREIGN_ITEM)
        assert foreign.owner == "DK-775100"
        assert foreign.circulation_status_name == "available"
        assert not (await client.item_information("0000000000")).known
        update = await client.item_status_update(BOOK, "rfid=iso28560-2")
        assert update.ok
        assert (await client.item_information(BOOK)).item_properties == "rfid=iso28560-2"
        assert (await client.end_session(SOREN)).ended


# --- charsets and quirk profiles -----------------------------------------------------------------


@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
@pytest.mark.parametrize("line_ending", ["\r", "\r\n"])
async def test_names_survive_charset_and_line_ending(charset: str, line_ending: str) -> None:
    wire: list[bytes] = []
    async with simulator(charset=charset) as sim:
        profile = profile_for(sim, charset=charset, line_ending=line_ending)
        async with Sip2Client(profile, clock=clock,
                              wire_tap=lambda _d, data: wire.append(data)) as client:
            assert (await client.patron_status(SOREN)).personal_name == "Søren Kierkegaard"
            assert (await client.patron_status(ZOE)).personal_name == "Zoë Andersen"
    assert any("Zoë".encode(charset) in line for line in wire)


async def test_without_error_detection_the_acs_answers_without_checksum() -> None:
    wire: list[tuple[str, bytes]] = []
    async with simulator() as sim:
        profile = profile_for(sim, error_detection=False)
        async with Sip2Client(profile, clock=clock,
                              wire_tap=lambda d, data: wire.append((d, data))) as client:
            assert (await client.checkout(BOOK, SOREN)).ok
    assert wire
    assert all(b"AZ" not in data for _, data in wire)


async def test_pin_semantics_none_sends_no_secret() -> None:
    wire: list[bytes] = []
    async with simulator() as sim:
        profile = profile_for(sim, patron_secret=PatronSecret.NONE)
        async with Sip2Client(profile, clock=clock,
                              wire_tap=lambda _d, data: wire.append(data)) as client:
            # With no secret sent, the wrong PIN is never checked.
            assert (await client.checkout(BOOK, SOREN, pin="9999")).ok
    assert not any(b"AD9999" in line for line in wire)


async def test_ignored_and_expected_fields() -> None:
    async with connected(ignore_fields=frozenset({"CV"})) as (_sim, client):
        result = await client.checkin(ON_HOLD_FOR_ZOE)
        assert result.alert
        assert result.alert_type is None
    async with connected(expect_fields={"10": frozenset({"CL", "ZZ"})}) as (_sim, client):
        with pytest.raises(IlsProtocolError, match=r"\['ZZ'\]"):
            await client.checkin(BOOK)


def test_profile_from_configuration_table() -> None:
    profile = Sip2Profile.from_mapping({
        "host": "ils.example.org", "port": 6001, "institution_id": "DK-718500",
        "charset": "latin-1", "line_ending": "CRLF", "error_detection": False,
        "patron_secret": "password", "secret_in": ["23", "63"], "timeout_s": 5,
        "expect_fields": {"12": ["AH"]}, "ignore_fields": ["CV"]})
    assert profile.line_ending == "\r\n"
    assert profile.patron_secret is PatronSecret.PASSWORD
    assert profile.sends_secret("23")
    assert not profile.sends_secret("11")
    assert profile.expect_fields["12"] == frozenset({"AH"})
    bad_tables: list[tuple[dict[str, Any], str]] = [
        ({"colour": 1}, "colour"), ({"line_ending": "LF"}, "line_ending"),
        ({"port": "6001"}, "port"), ({"charset": "utf-16"}, "charset"),
        ({"charset": "rot13"}, "charset"),   # no text encoding: was a LookupError escaping
        ({"error_detection": "yes"}, "error_detection")]
    for bad, key in bad_tables:
        with pytest.raises(IlsConfigError, match=key):
            Sip2Profile.from_mapping(bad)


# --- hostile transport ---------------------------------------------------------------------------


async def test_slow_reply_is_resent_and_executed_once() -> None:
    async with connected(timeout_s=0.15, resend_limit=2) as (sim, client):
        sim.set_faults(latency_ms=250)
        result = await client.checkout(BOOK, SOREN)
        assert result.ok
        assert client.session.counters.resends >= 1
        sim.set_faults(latency_ms=0)
        # The late duplicate reply (same sequence) is discarded by the next request.
        assert (await client.item_information(BOOK)).circulation_status == 4
        assert (await client.checkin(BOOK)).ok
        assert sim.counters.executed["11"] == 1
        assert sim.counters.duplicates >= 1


async def test_no_reply_at_all_is_a_transient_timeout() -> None:
    async with connected(timeout_s=0.05, resend_limit=1) as (sim, client):
        sim.set_faults(latency_ms=5000)
        with pytest.raises(IlsTimeout) as info:
            await client.checkout(BOOK, SOREN)
        assert isinstance(info.value, TransientIlsError)
        assert info.value.sent
        assert info.value.message_id == "11"


async def test_dropped_connection_reconnects_logs_in_again_and_retries_safe_calls() -> None:
    async with connected() as (sim, client):
        sim.set_faults(drop_after=0)
        status = await client.patron_status(SOREN)
        assert status.valid
        assert sim.counters.logins == 2
        assert sim.counters.drops == 1


async def test_dropped_checkout_is_not_retried_but_reported_as_sent() -> None:
    async with connected() as (sim, client):
        sim.set_faults(drop_after=0)
        with pytest.raises(IlsDisconnected) as info:
            await client.checkout(BOOK, SOREN)
        assert info.value.sent
        assert "11" not in sim.counters.executed
        assert (await client.checkout(BOOK, SOREN)).ok  # the next call reconnects
        assert sim.counters.logins == 2


async def test_one_garbage_reply_is_recovered_with_request_resend() -> None:
    async with connected() as (sim, client):
        sim.set_faults(garbage_replies=1)
        assert (await client.checkout(BOOK, SOREN)).ok
        assert sim.counters.resends == 1
        assert sim.counters.executed["11"] == 1


async def test_persistent_garbage_is_a_clear_protocol_error() -> None:
    async with connected(resend_limit=2) as (sim, client):
        sim.set_faults(garbage_replies=10)
        with pytest.raises(IlsProtocolError) as info:
            await client.item_information(BOOK)
        assert not isinstance(info.value, TransientIlsError)
        assert "after 2 resend requests" in str(info.value)
        assert info.value.offset is not None
        sim.set_faults(garbage_replies=0)
        assert (await client.item_information(BOOK)).title == "Enten - Eller"


async def test_unreachable_ils_backs_off_and_fails_fast() -> None:
    async with simulator() as sim:
        profile = profile_for(sim, backoff_initial_s=30.0)
    session = Sip2Session(profile, rng=random.Random(7))
    with pytest.raises(IlsDisconnected, match="cannot connect") as info:
        await session.open()
    assert str(info.value) == (f"cannot connect to ILS {profile.name} at 127.0.0.1:"
                               f"{profile.port}: Connection refused")
    with pytest.raises(IlsDisconnected, match="next attempt in"):
        await session.open()
    await session.close()


async def test_connect_failures_say_why_in_words() -> None:
    async with simulator() as sim:
        unresolved = Sip2Session(profile_for(sim, host="ils.invalid"))
        with pytest.raises(IlsDisconnected) as info:
            await unresolved.open()
        expected = f"cannot connect to ILS sim at ils.invalid:{sim.port}: host name not resolved"
        assert expected in str(info.value)
        # The simulator expects a login: without one it closes the connection.
        no_login = Sip2Session(profile_for(sim, login_user=None))
        with pytest.raises(IlsDisconnected) as info:
            await no_login.open()
        assert "closed the connection before answering (no SC login was sent" \
               in str(info.value)
        for session in (unresolved, no_login):
            await session.close()


# --- pool ----------------------------------------------------------------------------------------


async def test_pool_of_three_serves_concurrent_requests() -> None:
    async with (simulator(SimFaults(latency_ms=20)) as sim,
                Sip2Pool(profile_for(sim), 3, clock=clock) as pool):
        items = [BOOK, "5012345602", "5012345603", "5012345604", "5012345605", "5012345606"]
        results, infos = await asyncio.gather(
            asyncio.gather(*(pool.checkout(i, SOREN) for i in items)),
            asyncio.gather(*(pool.item_information(i) for i in items)))
        assert all(r.ok for r in results)
        assert len({i.title for i in infos}) == len(items)
        assert sim.counters.logins == 3
        busy = [c.session.counters.requests for c in pool.clients]
        assert all(n > 2 for n in busy), busy  # login + status + work on every connection
        checked_in = await asyncio.gather(*(pool.checkin(i) for i in items))
        assert all(r.ok for r in checked_in)


# --- privacy -------------------------------------------------------------------------------------


async def test_logs_and_errors_carry_no_patron_identifiers_or_pins(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with connected(timeout_s=0.1, resend_limit=1) as (sim, client):
        await client.patron_status(SOREN, pin=PINS[SOREN])
        await client.checkout(BOOK, SOREN, pin=PINS[SOREN])
        sim.set_faults(garbage_replies=5)
        with pytest.raises(IlsProtocolError) as info:
            await client.renew(BOOK, SOREN, pin=PINS[SOREN])
        assert client.patron_ref(SOREN) in caplog.text
    text = caplog.text + str(info.value)
    for secret in (SOREN, PINS[SOREN], "Kierkegaard", "kiosk1-secret"):
        assert secret not in text
