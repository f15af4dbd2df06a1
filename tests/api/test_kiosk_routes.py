# SPDX-License-Identifier: Apache-2.0
"""The kiosk's account view over HTTP, through the whole daemon: `libedge run` (a subprocess)
with a simulated pad on a pty and the ILS simulator (`libedge sim ils`, the packaged sample
catalogue) over SIP2, driven with a kiosk token as the kiosk page would. The due dates are
checked against the simulator's rules (the sample loan to H.C. is due three days after the
simulator started; a renewal lends for ``loan_days`` = 28 days from now)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

from tests.daemon.harness import (
    api_base,
    api_token,
    get_json,
    notify_socket,
    send_json,
    simulated_reader,
    start_daemon,
    stop,
)
from tests.daemon.test_circulation import direct_mode, ils_simulator, ils_until
from tests.ils.helpers import HC, LOANED_TO_HC, PINS

OWNER = "DK-718500"
LOAN_DAYS = 28   # the sample catalogue's settings


def _sip2_day(text: str | None) -> date:
    assert text is not None
    return datetime.strptime(text[:8], "%Y%m%d").date()  # noqa: DTZ007 - the ILS's local day


def _today() -> date:
    return datetime.now().date()  # noqa: DTZ005 - the simulator lends in local time


def _near(day: date, expected: date) -> bool:
    """The ILS's day, allowing for midnight passing between its clock and ours."""
    return abs((day - expected).days) <= 1


def test_a_patron_lists_loans_renews_the_overdue_one_and_sees_the_new_date(
        tmp_path: Path) -> None:
    with (ils_simulator() as sip2_port,
          simulated_reader(tmp_path, "feig", "pad", {"tags": []}) as pad,
          notify_socket(tmp_path / "notify") as notes):
        config = direct_mode(tmp_path, sip2_port)
        config.write_text(config.read_text() + (
            f'\n[library]\nisil = "{OWNER}"\n\n'
            f'[[readers]]\nname = "pad"\nprotocol = "feig"\nport = "{pad}"\nrole = "pad"\n'))
        daemon = start_daemon(config, tmp_path / "daemon.log", NOTIFY_SOCKET=notes.address)
        try:
            base = api_base(notes.wait_for(lambda f: f.get("READY") == "1", 20.0))
            kiosk = api_token(tmp_path, "kiosk")
            ils_until(base, "connected", kiosk)
            status, session = send_json(f"{base}/api/v1/sessions",
                                        {"patron": HC, "pin": PINS[HC]}, kiosk)
            assert status == 201, session
            url = f"{base}/api/v1/sessions/{session['id']}"
            # Any kiosk token sees the pad: the session by its public ref, never its id (the
            # capability to the patron's loans). Found by a review.
            status, on_pad = get_json(f"{base}/api/v1/pad", kiosk)
            assert status == 200, on_pad
            assert on_pad["session"]["ref"] == session["ref"]
            assert session["id"] not in json.dumps(on_pad)

            status, account = get_json(f"{url}/account", kiosk)
            assert status == 200, account
            assert (account["session"], account["charged_count"], account["more"]) == (
                session["id"], 1, False)
            (loan,) = account["loans"]
            assert (loan["primary_item_id"], loan["owner_institution"], loan["title"],
                    loan["overdue"], loan["in_session"]) == (
                LOANED_TO_HC, OWNER, "Bogen om Ørsted", True, False)
            assert _near(_sip2_day(loan["due"]), _today() - timedelta(days=3))

            status, renewal = send_json(f"{url}/renew", {
                "primary_item_id": LOANED_TO_HC, "owner_institution": OWNER}, kiosk)
            assert status == 200, renewal
            assert (renewal["renewed"], renewal["title"]) == (True, "Bogen om Ørsted")
            assert _near(_sip2_day(renewal["due"]), _today() + timedelta(days=LOAN_DAYS))

            status, after = get_json(f"{url}/account", kiosk)
            assert status == 200, after
            (renewed,) = after["loans"]
            assert (renewed["due"], renewed["overdue"]) == (renewal["due"], False)
            for body in (session, account, renewal, after):
                assert HC not in json.dumps(body)
                assert PINS[HC] not in json.dumps(body)

            # What SIP2 cannot carry is refused naming the field (it was a 500 from the
            # encoder), without echoing it.
            for path, body_sent, field in (
                    ("/api/v1/sessions", {"patron": "2000|AC"}, "body.patron"),
                    ("/api/v1/sessions", {"patron": HC, "pin": "12\r\n"}, "body.pin"),
                    (f"/api/v1/sessions/{session['id']}/renew",
                     {"primary_item_id": "50|AB"}, "body.primary_item_id")):
                status, body = send_json(f"{base}{path}", body_sent, kiosk)
                assert (status, body["error"]["field"]) == (422, field), body
                assert not any(value in body["error"]["message"]
                               for value in body_sent.values())
            # Who may ask, and about what.
            status, body = get_json(f"{url}/account", api_token(tmp_path, "gate"))
            assert (status, body["error"]["code"]) == (403, "forbidden")
            status, body = get_json(f"{base}/api/v1/sessions/nope/account", kiosk)
            assert (status, body["error"]["code"]) == (404, "not_found")
            status, _ = send_json(f"{url}/end", {}, kiosk)
            assert status == 200
            status, body = get_json(f"{url}/account", kiosk)
            assert (status, body["error"]["code"]) == (409, "no_session")
            status, returning = send_json(f"{base}/api/v1/sessions", {"mode": "checkin"}, kiosk)
            assert status == 201, returning
            status, body = get_json(f"{base}/api/v1/sessions/{returning['id']}/account", kiosk)
            assert (status, body["error"]["code"]) == (409, "no_session")
        finally:
            assert stop(daemon) == 0
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()
