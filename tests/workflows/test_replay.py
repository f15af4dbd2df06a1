# SPDX-License-Identifier: Apache-2.0
"""Replaying off-line transactions when the ILS is back: exactly once, in order, and never
behind a transaction the kiosk makes on-line. Real parts: the pad simulator on a pty, a real
SQLite journal, the ILS simulator over SIP2/TCP. Found by a review of the off-line mode."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from edge_service.circulation import (
    INVALID_REQUEST,
    CirculationFailed,
    ItemKey,
    TransientCirculationError,
)
from edge_service.config import SelfCheckConfig
from edge_service.store import utc_now
from edge_service.workflows.recovery import Recovery
from edge_service.workflows.selfcheck import ItemState
from firmware_bridge.security import AFI_ISO_ON_LOAN
from protocols.contract import CheckoutRequest
from tests.ils.helpers import BOOK, KAREN, LOANED_TO_HC, PINS, SOREN, ZOE
from tests.workflows.kiosk import Kiosk, kiosk
from tests.workflows.rig import catalog_tag, fast_timers, wait_for

OWNER = "DK-718500"
KEY = ItemKey(OWNER, BOOK)
CHECKOUT, CHECKIN = "11", "09"


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)


async def _queued(k: Kiosk, entry_id: str, kind: str, *, state: str = "offline_queued",
                  patron: str | None = None) -> None:
    """An off-line transaction as the kiosk journals it (``offline`` data, original time)."""
    await k.store.journal.begin(entry_id, kind, state,
                                {"owner_institution": OWNER, "primary_item_id": BOOK,
                                 "offline": True}, patron=patron)


def _state(k: Kiosk, entry_id: str) -> str:
    entry = k.store.journal.get(entry_id)
    assert entry is not None
    return entry.state


async def test_a_replay_is_marked_in_the_journal_before_the_ils_hears_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with kiosk(tmp_path) as k:
        await _queued(k, "out", "checkout", patron=SOREN)
        backend = k.selfcheck.backend()
        seen: list[str] = []
        checkout = backend.checkout

        async def spy(*args: Any, **kwargs: Any) -> Any:
            seen.append(_state(k, "out"))   # what a restart at this moment would find
            return await checkout(*args, **kwargs)

        monkeypatch.setattr(backend, "checkout", spy)
        assert await Recovery(k.selfcheck).settle() == 1
        assert seen == ["replaying"]
        assert _state(k, "out") == "replayed"
        assert k.ils.data.items[BOOK].loaned_to == SOREN


async def test_a_checkout_cut_short_mid_replay_is_not_sent_twice(tmp_path: Path) -> None:
    """The ILS said yes, then the box restarted before the row ended: checking the item out
    again would renew it over direct SIP2. Item information says it took effect."""
    async with kiosk(tmp_path) as k:
        await k.selfcheck.backend().checkout(KEY, SOREN, pin=PINS[SOREN])
        before = k.ils.counters.executed[CHECKOUT]
        await _queued(k, "out", "checkout", state="replaying", patron=SOREN)
        assert await Recovery(k.selfcheck).settle() == 1
        assert _state(k, "out") == "replayed"
        assert k.ils.counters.executed[CHECKOUT] == before
        assert k.store.journal.patron_of("out") is None


async def test_a_checkout_that_never_reached_the_ils_is_sent_again(tmp_path: Path) -> None:
    async with kiosk(tmp_path) as k:
        await _queued(k, "out", "checkout", state="replaying", patron=SOREN)
        assert await Recovery(k.selfcheck).settle() == 1
        assert _state(k, "out") == "replayed"
        assert k.ils.data.items[BOOK].loaned_to == SOREN


async def test_a_return_cut_short_mid_replay_goes_to_staff_if_still_on_loan(
        tmp_path: Path) -> None:
    """Sending it again could return an item someone borrowed since; staff decide."""
    async with kiosk(tmp_path) as k:
        await k.selfcheck.backend().checkout(KEY, SOREN, pin=PINS[SOREN])
        await _queued(k, "in", "checkin", state="replaying")
        assert await Recovery(k.selfcheck).settle() == 1
        assert _state(k, "in") == "needs_staff"
        assert k.ils.data.items[BOOK].loaned_to == SOREN
        assert k.ils.counters.executed.get(CHECKIN, 0) == 0
        (exception,) = k.events("lib.exception.v1")
        assert exception["data"]["kind"] == "offline_rejected"
        assert exception["data"]["primary_item_id"] == BOOK


async def test_a_return_that_took_effect_mid_replay_ends_replayed(tmp_path: Path) -> None:
    async with kiosk(tmp_path) as k:
        await _queued(k, "in", "checkin", state="replaying")
        assert await Recovery(k.selfcheck).settle() == 1
        assert _state(k, "in") == "replayed"
        assert k.events("lib.exception.v1") == []


@pytest.mark.parametrize(("before", "dedupe_s"), [
    # Refused before sending (the link dropped): not "maybe sent", so back in the queue and
    # no staff exception.
    ("offline_queued", 0.0),
    # An earlier send may have reached the ILS: putting it back in the queue would forget
    # that (and restart the gateway's dedupe window from now). Found by a review. Within the
    # window it is resent, and this send does not leave either.
    ("replaying", 3600.0),
])
async def test_a_replay_not_sent_now_keeps_what_is_known_of_earlier_sends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str, dedupe_s: float) -> None:
    async with kiosk(tmp_path) as k:
        await _queued(k, "in", "checkin", state=before)
        backend = k.selfcheck.backend()
        monkeypatch.setattr(backend, "replay_dedupe_s", dedupe_s)

        async def unsent(*_args: Any, **_kwargs: Any) -> Any:
            raise TransientCirculationError("checkin", "not connected", sent=False)

        monkeypatch.setattr(backend, "checkin", unsent)
        assert await Recovery(k.selfcheck).settle() == 0
        assert _state(k, "in") == before


async def test_an_items_later_replay_waits_for_its_earlier_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A return then a checkout of one item, both off-line: when the return cannot be replayed
    yet, the checkout must not go first (the return would then cancel the new loan)."""
    async with kiosk(tmp_path) as k:
        await k.selfcheck.backend().checkout(KEY, SOREN, pin=PINS[SOREN])
        await _queued(k, "1-in", "checkin")
        await _queued(k, "2-out", "checkout", patron=KAREN)
        backend = k.selfcheck.backend()
        checkin = backend.checkin

        async def no_answer(*_args: Any, **_kwargs: Any) -> Any:
            raise TransientCirculationError("checkin", "no answer in time", sent=True)

        monkeypatch.setattr(backend, "checkin", no_answer)
        assert await Recovery(k.selfcheck).settle() == 0
        assert k.ils.data.items[BOOK].loaned_to == SOREN
        assert _state(k, "2-out") == "offline_queued"

        monkeypatch.setattr(backend, "checkin", checkin)
        # The return is "replaying" now: the ILS still shows Soren's loan, so staff are asked
        # and the checkout behind it is replayed (and refused: the item is not back).
        recovery = Recovery(k.selfcheck)
        assert await recovery.settle() == 2
        assert _state(k, "1-in") == "needs_staff"
        assert _state(k, "2-out") in ("replayed", "replay_rejected")


async def test_an_online_checkout_waits_for_the_queued_offline_return(tmp_path: Path) -> None:
    """Søren returned the book while the ILS was away; the ILS is back, the replay has not run
    yet and Zoe puts the book on the pad. Her checkout used to reach the ILS first, and the
    replayed return then cancelled her loan. Now the item waits for the replay."""
    policy = SelfCheckConfig(set_wait_ms=200, pin_required=False)
    async with kiosk(tmp_path, [catalog_tag(BOOK, afi=AFI_ISO_ON_LOAN)], policy=policy) as k:
        await k.rig.wait_field(1)
        await k.selfcheck.backend().checkout(KEY, SOREN, pin=PINS[SOREN])
        await k.link.close()
        returns = await k.selfcheck.open_session(None, mode="checkin")
        assert returns.offline
        await k.settled(returns, 1)
        await k.selfcheck.end_session(returns.id)
        (queued,) = k.store.journal.in_states(("offline_queued",))

        k.link.start()
        await wait_for(lambda: k.link.state == "connected", 5.0, "the ILS link again")
        session = await k.selfcheck.open_session(ZOE, PINS[ZOE])
        await wait_for(lambda: KEY in session.items, 5.0, "the book on the pad")
        await k.rig.wait_field(1)
        item = session.items[KEY]
        assert item.state is ItemState.WAITING
        assert k.ils.data.items[BOOK].loaned_to == SOREN   # nothing sent for Zoe yet

        assert await Recovery(k.selfcheck).settle() == 1
        assert _state(k, queued.id) == "replayed"
        await k.settled(session, 1)
        assert item.state is ItemState.DONE
        assert k.ils.data.items[BOOK].loaned_to == ZOE
        await k.selfcheck.end_session(session.id)


async def test_a_cut_short_checkout_the_ils_lends_to_someone_else_is_rejected(
        tmp_path: Path) -> None:
    """'On loan' alone would have ended Karen's replay as done, her item on Soren's account."""
    async with kiosk(tmp_path) as k:
        await k.selfcheck.backend().checkout(KEY, SOREN, pin=PINS[SOREN])
        await _queued(k, "out", "checkout", state="replaying", patron=KAREN)
        assert await Recovery(k.selfcheck).settle() == 1
        assert _state(k, "out") == "replay_rejected"
        (exception,) = k.events("lib.exception.v1")
        assert exception["data"]["kind"] == "offline_rejected"
        assert "another patron" in exception["data"]["detail"]
        assert KAREN not in str(exception)


@pytest.mark.parametrize("refusal", ["failed", "contract"])
async def test_a_replay_that_cannot_work_is_rejected_and_holds_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: str) -> None:
    """A request refused for what it holds, or a card number the contract refuses (typed with
    a space at an off-line kiosk, gateway mode): sending it again changes nothing. It used to
    stay 'replaying', resent every pass, its item held on the pad; a contract error even ended
    every pass, holding every later item too."""
    other = ItemKey(OWNER, LOANED_TO_HC)
    policy = SelfCheckConfig(set_wait_ms=200, pin_required=False)
    async with kiosk(tmp_path, [catalog_tag(LOANED_TO_HC, afi=AFI_ISO_ON_LOAN)],
                     policy=policy) as k:
        await k.rig.wait_field(1)
        await _queued(k, "1-bad", "checkout", patron="1234 5678")
        await k.store.journal.begin("2-good", "checkin", "offline_queued",
                                    {"owner_institution": OWNER,
                                     "primary_item_id": LOANED_TO_HC, "offline": True})
        backend = k.selfcheck.backend()

        async def refused(item: ItemKey, patron_id: str, **_kwargs: Any) -> Any:
            if refusal == "failed":   # what the gateway or the SIP2 encoder says
                raise CirculationFailed("circ.checkout", "a field SIP2 cannot carry",
                                        code=INVALID_REQUEST)
            # What the gateway backend builds: the contract refuses the card number.
            CheckoutRequest(corr="replay-x", expires="2026-01-01T00:00:00.000Z",
                            primary_item_id=item.primary_item_id,
                            owner_institution=item.owner_institution, patron_id=patron_id)
            raise AssertionError("the contract took a card number with a space")

        monkeypatch.setattr(backend, "checkout", refused)
        assert await Recovery(k.selfcheck).settle() == 2
        assert _state(k, "1-bad") == "replay_rejected"
        assert _state(k, "2-good") == "replayed"
        (exception,) = k.events("lib.exception.v1")
        assert "1234 5678" not in str(exception)
        session = await k.selfcheck.open_session(None, mode="checkin")
        await wait_for(lambda: other in session.items
                       and session.items[other].state is not ItemState.WAITING, 5.0,
                       "the other item processed")
        await k.selfcheck.end_session(session.id)


async def test_an_ils_that_refuses_the_login_does_not_reject_the_replays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the request's fault (a wrong SIP2 login, a garbled answer after the loan was
    made): the replay waits, 'replaying', and item information decides once the ILS answers
    properly. Found by a review."""
    async with kiosk(tmp_path) as k:
        await _queued(k, "out", "checkout", patron=SOREN)
        backend = k.selfcheck.backend()
        checkout = backend.checkout

        async def login_refused(*_args: Any, **_kwargs: Any) -> Any:
            raise CirculationFailed("circ.checkout", "the ILS refused the login")

        monkeypatch.setattr(backend, "checkout", login_refused)
        recovery = Recovery(k.selfcheck)
        assert await recovery.settle() == 0
        assert _state(k, "out") == "replaying"
        assert k.events("lib.exception.v1") == []
        monkeypatch.setattr(backend, "checkout", checkout)
        assert await recovery.settle() == 1
        assert _state(k, "out") == "replayed"
        assert k.ils.data.items[BOOK].loaned_to == SOREN


async def test_a_bug_in_one_row_does_not_stop_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with kiosk(tmp_path) as k:
        await _queued(k, "1-broken", "checkout", patron=SOREN)
        await k.store.journal.begin("2-other", "checkin", "offline_queued",
                                    {"owner_institution": OWNER,
                                     "primary_item_id": LOANED_TO_HC, "offline": True})
        backend = k.selfcheck.backend()

        async def bug(*_args: Any, **_kwargs: Any) -> Any:
            raise KeyError(SOREN)

        monkeypatch.setattr(backend, "checkout", bug)
        recovery = Recovery(k.selfcheck)
        assert await recovery.settle() == 1
        assert _state(k, "2-other") == "replayed"
        assert _state(k, "1-broken") == "replaying"   # left for staff / the next pass
        assert await recovery.settle() == 0
        (stuck,) = k.events("lib.exception.v1")        # staff are told, once
        assert (stuck["data"]["kind"], stuck["data"]["primary_item_id"]) == ("other", BOOK)
        assert SOREN not in str(stuck)


async def test_a_later_replay_waits_for_an_earlier_one_a_live_session_owns(
        tmp_path: Path) -> None:
    """Two pads: pad A's open session holds an off-line return of the book, pad B's later
    off-line checkout of it must not be replayed first (the return would cancel it)."""
    async with kiosk(tmp_path) as k:
        await k.selfcheck.backend().checkout(KEY, SOREN, pin=PINS[SOREN])
        await _queued(k, "1-in", "checkin")
        await _queued(k, "2-out", "checkout", patron=ZOE)
        live = {"1-in"}
        recovery = Recovery(k.selfcheck, live_journal_ids=lambda: set(live))
        assert await recovery.settle() == 0
        assert _state(k, "2-out") == "offline_queued"
        live.clear()
        assert await recovery.settle() == 2
        assert k.ils.data.items[BOOK].loaned_to == ZOE


async def test_a_replay_cut_short_does_not_hold_its_item_while_off_line(
        tmp_path: Path) -> None:
    """Off-line, a new transaction is queued behind it anyway; only on-line must it wait."""
    policy = SelfCheckConfig(set_wait_ms=200, pin_required=False)
    async with kiosk(tmp_path, [catalog_tag(BOOK, afi=AFI_ISO_ON_LOAN)], policy=policy) as k:
        await k.rig.wait_field(1)
        await k.selfcheck.backend().checkout(KEY, SOREN, pin=PINS[SOREN])
        await _queued(k, "earlier", "checkout", state="replaying", patron=SOREN)
        await k.link.close()
        session = await k.selfcheck.open_session(None, mode="checkin")
        assert session.offline
        await k.settled(session, 1)
        assert session.items[KEY].state is ItemState.DONE
        await k.selfcheck.end_session(session.id)


async def test_through_the_gateway_a_cut_short_replay_is_sent_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway answers a repeat of a replay's correlation id from its dedupe window, so
    within it the replay is simply sent again: no item information, no staff."""
    async with kiosk(tmp_path) as k:
        await k.selfcheck.backend().checkout(KEY, SOREN, pin=PINS[SOREN])
        await _queued(k, "in", "checkin", state="replaying")
        backend = k.selfcheck.backend()
        monkeypatch.setattr(backend, "replay_dedupe_s", 3600.0)
        assert await Recovery(k.selfcheck).settle() == 1
        assert _state(k, "in") == "replayed"
        assert k.ils.data.items[BOOK].loaned_to is None
        assert k.events("lib.exception.v1") == []
        # Past the window it is item information again: on loan -> staff.
        await k.selfcheck.backend().checkout(KEY, SOREN, pin=PINS[SOREN])
        await _queued(k, "in-2", "checkin", state="replaying")
        later = Recovery(k.selfcheck, clock=lambda: utc_now() + timedelta(hours=2))
        assert await later.settle() == 1
        assert _state(k, "in-2") == "needs_staff"
