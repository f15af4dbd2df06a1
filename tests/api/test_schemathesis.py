# SPDX-License-Identifier: Apache-2.0
"""Schemathesis against the daemon as systemd runs it (``python -m edge_service run``: a
self-check pad, a staff pad and a gate, each a simulated reader on a real pty, a real SQLite
file, real uvicorn), with its generated admin
token: every operation of the OpenAPI document, including those added later, gets generated
requests, and every answer must be documented (status, content type, headers, body schema)
and never a 5xx. The requests carry X-Forwarded-For so that they count as coming from another
host: the loopback exemption of /metrics does not apply, and a token is always checked.

Requests are generated valid (positive) and invalid (negative): an invalid one must get a
documented answer and never a 5xx too. Schemathesis' ``negative_data_rejection`` check is left
out: it wants unknown query parameters refused, and the API ignores them, as HTTP APIs commonly
do (a browser's EventSource URL may carry a cache-buster). ``positive_data_acceptance`` (a
schema-valid request is not refused with 422) is left out only for the operations in
``POSITIVE_DATA_EXCEPTIONS``, each with its reason. Half of the generated cases name the
daemon's own staff station and gate (``ON_THIS_BOX``), so staff writes, batches, inventories
and gate snapshots really happen rather than ending in a 404.

Limits, said plainly: examples per operation are capped (``MAX_EXAMPLES``) to keep the run
near a minute; the event stream is read for ``STREAM_READ_S`` only (an idle daemon
publishes nothing, so its message blocks are exercised by test_stream.py, not here)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from tests.api.helpers import REMOTE, make_app, tokens_of
from tests.conftest import load_vectors
from tests.daemon.harness import (
    api_base,
    notify_socket,
    simulated_reader,
    start_daemon,
    stop,
    write_config,
)
from tests.workflows.rig import OWNER, item_tag

MAX_EXAMPLES = 20
STREAM_READ_S = 0.5
REQUEST_TIMEOUT_S = 5.0
"""Every other operation: a staff write (program, convert) takes about a second on the
simulated pad, and a request cut short by the timeout would count as a failure."""
STREAM = "GET /api/v1/events/stream"
BRANCHED_3M = load_vectors("iso28560")[21]["hex"]   # Biblio-RFID: 3M, branch/library/custom

STAFF_PAD = {"tags": [
    {"uid": "E0040100B1A40001"},                                    # blank: may get programmed
    item_tag(1, afi=0xC2),                                         # ours, ISO 28560-2
    {"uid": "E0040100B1A40003", "memory": BRANCHED_3M, "afi": "D7"},  # 3M: refused without loss
]}
GATE = {"tags": [item_tag(2, afi=0x07)]}   # a secured item at the door: the gate alarms
ON_THIS_BOX = {"station": "staff", "gate": "gate"}
"""Path parameters naming this daemon's readers. A generated name is hardly ever one of them:
half of the cases get the real name, so they reach the workflow rather than its 404."""
OFFLINE_KIOSK = "[selfcheck]\noffline_checkout = true\n"
"""This box has no ILS. Without off-line check-out a check-out session with a card answers 503
``ils_unreachable`` (documented, and right), which the server-error check counts as a failure:
whether a run met one depended on whether a check-in session happened to open first."""


@pytest.fixture(scope="module")
def daemon_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of a running daemon with a self-check pad, a staff pad and a
    gate, each a simulated reader: every workflow's routes answer from a live workflow."""
    tmp_path = tmp_path_factory.mktemp("schemathesis")
    with (simulated_reader(tmp_path, "feig", "feig-pad") as port,
          simulated_reader(tmp_path, "feig", "feig-staff", STAFF_PAD) as staff_port,
          simulated_reader(tmp_path, "feig", "feig-gate", GATE) as gate_port,
          notify_socket(tmp_path / "notify") as notify):
        config = write_config(tmp_path / "libedge.toml", [
            {"name": "pad", "protocol": "feig", "port": port, "poll_interval_ms": 200},
            {"name": "staff", "protocol": "feig", "port": staff_port, "role": "staff",
             "poll_interval_ms": 200},
            {"name": "gate", "protocol": "feig", "port": gate_port, "role": "gate"}],
            db=tmp_path / "libedge.db", extra=OFFLINE_KIOSK + f'[library]\nisil = "{OWNER}"\n')
        daemon = start_daemon(config, tmp_path / "stderr.log", NOTIFY_SOCKET=notify.address)
        try:
            base = api_base(notify.wait_for(lambda f: f.get("READY") == "1", 15))
            yield base, tokens_of(tmp_path / "api-tokens")["admin"]
        finally:
            assert stop(daemon) == 0
    log = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def api_schema(daemon_api: tuple[str, str]) -> Any:
    base, _ = daemon_api
    return schemathesis.openapi.from_url(f"{base}/openapi.json")


def operation_labels() -> list[str]:
    """``METHOD /path`` of every operation, from the app built in-process at collection time
    (the daemon serves the same app): a route added later gets its own test id."""
    with tempfile.TemporaryDirectory(prefix="libedge-openapi-") as directory:
        app, _, _ = make_app(Path(directory))
    return [f"{method.upper()} {path}" for path, methods in app.openapi()["paths"].items()
            for method in methods]


POSITIVE_DATA_EXCEPTIONS = {
    "POST /api/v1/staff/{station}/program":
        "set_part <= set_total, both or neither, and a barcode the tag's memory can hold: "
        "rules JSON Schema cannot state, so a schema-valid body may rightly get a 422",
    "POST /api/v1/staff/{station}/acquisitions/expected":
        "exactly one of copies and csv, each copy's fields (item id, GS1 digits, a type of "
        "usage byte), no item id twice, and CSV text's own syntax: a 422 names the line",
    "POST /api/v1/staff/{station}/campaigns":
        "a source model may not be the library's own (library.data_model, this box's "
        "configuration, which the document does not carry)",
}
"""Operations left out of Schemathesis' ``positive_data_acceptance`` check, and why. Every
other operation's schema says all its rules: a schema-valid body is never refused with 422."""


def on_this_box(case: Any) -> Any:
    """``case`` with the path parameters of ``ON_THIS_BOX`` naming this daemon's readers."""
    for name, value in ON_THIS_BOX.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    return case


@pytest.mark.parametrize("label", operation_labels())
def test_api_answers_as_documented(label: str, api_schema: Any,
                                   daemon_api: tuple[str, str]) -> None:
    # schemathesis.pytest.from_fixture needs pytest < 9.2 (it sets Function._nodeid); the
    # strategy API below is the same generation and the same checks, one test per operation.
    _, token = daemon_api
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the daemon's OpenAPI document"
    headers = {**REMOTE, "Authorization": f"Bearer {token}"}
    timeout = STREAM_READ_S if label == STREAM else REQUEST_TIMEOUT_S
    excluded = [negative_data_rejection] + (
        [positive_data_acceptance] if label in POSITIVE_DATA_EXCEPTIONS else [])

    generated = (operation.as_strategy(GenerationMode.POSITIVE)
                 | operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=generated | generated.map(on_this_box))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    def answers_as_documented(case: Any) -> None:
        case.call_and_validate(headers=headers, timeout=timeout, excluded_checks=excluded)

    answers_as_documented()


def test_every_route_is_in_the_schema(api_schema: Any) -> None:
    """The daemon's document lists every operation the app in this process has."""
    served = {f"{result.ok().method.upper()} {result.ok().path}"
              for result in api_schema.get_all_operations()}
    assert served == set(operation_labels())
    assert {"GET /api/v1/health", "GET /api/v1/devices", "GET /api/v1/events/stream",
            "GET /metrics", "GET /api/v1/staff/{station}/tags",
            "POST /api/v1/staff/{station}/program", "GET /api/v1/gates/{gate}"} <= served
