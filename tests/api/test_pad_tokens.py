# SPDX-License-Identifier: Apache-2.0
"""A kiosk token bound to one pad (``kiosk:PAD`` in the tokens file) acts on that pad only,
through the whole daemon: `libedge run` (a subprocess) with two simulated pads on ptys and the
ILS simulator over SIP2. An unbound kiosk token still reaches either pad."""

from __future__ import annotations

import time
from pathlib import Path

from edge_service.api import append_token
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
from tests.daemon.test_circulation import direct_mode, ils_simulator

OWNER = "DK-718500"


def _until_known(url: str, token: str) -> None:
    """The daemon re-reads its tokens file within a second of a change."""
    deadline = time.monotonic() + 10
    while get_json(url, token)[0] == 401:
        assert time.monotonic() < deadline, "the appended token was never accepted"
        time.sleep(0.1)


def test_a_kiosk_token_bound_to_a_pad_acts_on_that_pad_only(tmp_path: Path) -> None:
    with (ils_simulator() as sip2_port,
          simulated_reader(tmp_path, "feig", "pad-a", {"tags": []}) as pad_a,
          simulated_reader(tmp_path, "feig", "pad-b", {"tags": []}) as pad_b,
          notify_socket(tmp_path / "notify") as notes):
        config = direct_mode(tmp_path, sip2_port)
        config.write_text(config.read_text() + f'\n[library]\nisil = "{OWNER}"\n' + "".join(
            f'\n[[readers]]\nname = "{name}"\nprotocol = "feig"\nport = "{port}"\n'
            f'role = "pad"\n' for name, port in (("pad-a", pad_a), ("pad-b", pad_b))))
        daemon = start_daemon(config, tmp_path / "daemon.log", NOTIFY_SOCKET=notes.address)
        try:
            base = api_base(notes.wait_for(lambda f: f.get("READY") == "1", 20.0))
            any_pad = api_token(tmp_path, "kiosk")
            pad_b_only = append_token(tmp_path / "api-tokens", "kiosk", "upstairs", pad="pad-b")
            _until_known(f"{base}/api/v1/pad", pad_b_only)

            status, pad = get_json(f"{base}/api/v1/pad", pad_b_only)
            assert (status, pad["reader"]) == (200, "pad-b")     # its pad, unasked
            status, refused = get_json(f"{base}/api/v1/pad?kiosk=pad-a", pad_b_only)
            assert (status, refused["error"]["code"]) == (403, "other_pad"), refused
            assert "pad 'pad-b' only" in refused["error"]["message"]
            status, refused = send_json(f"{base}/api/v1/sessions?kiosk=pad-a",
                                        {"mode": "checkin"}, pad_b_only)
            assert (status, refused["error"]["code"]) == (403, "other_pad"), refused

            status, session = send_json(f"{base}/api/v1/sessions", {"mode": "checkin"},
                                        pad_b_only)
            assert status == 201, session
            status, seen = get_json(f"{base}/api/v1/pad?kiosk=pad-b", any_pad)
            assert (status, seen["session"]["ref"]) == (200, session["ref"])
            status, other = get_json(f"{base}/api/v1/pad?kiosk=pad-a", any_pad)
            assert (status, other["reader"], other["session"]) == (200, "pad-a", None)
        finally:
            stop(daemon)
