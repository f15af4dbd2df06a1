# SPDX-License-Identifier: Apache-2.0
"""Direct mode: Sip2Backend against the ILS simulator over real TCP."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge_service.circulation import (
    ItemKey,
    Sip2Backend,
    TransientCirculationError,
    local_time,
)
from edge_service.config import ConfigError, parse_config
from tests.ils.helpers import (
    BOOK,
    KAREN,
    NOT_FOR_LOAN,
    ON_HOLD_FOR_ZOE,
    PINS,
    SOREN,
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
