# SPDX-License-Identifier: Apache-2.0
"""A kiosk token bound to one pad (``kiosk:PAD`` in the tokens file) acts on that pad only,
through the whole daemon: `libedge run` (a subprocess) with two simulated pads on ptys and the
ILS simulator over SIP2. An unbound kiosk token still reaches either pad."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def two_pads(tmp_path: Path) -> Iterator[str]:
    """The daemon with pads ``pad-a`` and ``pad-b``, logging to ``daemon.log``; yields the API's
    URL. It generates ``api-tokens`` in ``tmp_path`` unless the file is there already."""
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
            yield api_base(notes.wait_for(lambda f: f.get("READY") == "1", 20.0))
        finally:
            stop(daemon)


def _until_known(url: str, token: str) -> None:
    """The daemon re-reads its tokens file within a second of a change."""
    deadline = time.monotonic() + 10
    while get_json(url, token)[0] == 401:
        assert time.monotonic() < deadline, "the appended token was never accepted"
        time.sleep(0.1)


def test_a_kiosk_token_bound_to_a_pad_acts_on_that_pad_only(tmp_path: Path) -> None:
    with two_pads(tmp_path) as base:
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


def test_a_kiosk_token_bound_to_a_pad_sees_that_pads_device_only(tmp_path: Path) -> None:
    with two_pads(tmp_path) as base:
        pad_b_only = append_token(tmp_path / "api-tokens", "kiosk", "upstairs", pad="pad-b")
        _until_known(f"{base}/api/v1/devices", pad_b_only)

        status, devices = get_json(f"{base}/api/v1/devices", pad_b_only)
        assert status == 200, devices
        assert [d["name"] for d in devices["devices"]] == ["pad-b"]
        assert devices["ils"]["backend"] == "sip2"           # the kiosk needs the ILS link
        for role in ("kiosk", "staff"):                      # unbound: every reader
            status, devices = get_json(f"{base}/api/v1/devices", api_token(tmp_path, role))
            assert status == 200, devices
            assert sorted(d["name"] for d in devices["devices"]) == ["pad-a", "pad-b"]


def test_a_token_bound_to_no_pad_of_the_box_is_warned_about_by_name(tmp_path: Path) -> None:
    tokens_file = tmp_path / "api-tokens"
    upstairs = append_token(tokens_file, "kiosk", "upstairs", pad="pad-c")
    pad_b = append_token(tokens_file, "kiosk", pad="pad-b")     # a pad here: no warning
    nameless = "u" * 43
    with tokens_file.open("a") as file:                         # no name: its line stands in
        file.write(f"kiosk:pad-c {nameless}\n")
    with two_pads(tmp_path):
        pass
    log = (tmp_path / "daemon.log").read_text()
    warnings = [line for line in log.splitlines() if "which is no pad reader here" in line]
    assert len(warnings) == 2, log
    assert warnings[0].endswith("api token 'upstairs' is bound to pad 'pad-c', which is no pad "
                                "reader here (pads: pad-a, pad-b): its self-check requests "
                                "find no pad (404 no_kiosk)")
    assert "api token 'kiosk:pad-c (line 3)' is bound to pad 'pad-c'" in warnings[1]
    assert all(token not in log for token in (upstairs, pad_b, nameless))   # never logged
