# SPDX-License-Identifier: Apache-2.0
"""Schemathesis against the daemon as systemd runs it (``python -m edge_service run``: a
simulated reader on a real pty, a real SQLite file, real uvicorn), with its generated admin
token: every operation of the OpenAPI document, including those added later, gets generated
requests, and every answer must be documented (status, content type, headers, body schema)
and never a 5xx. The requests carry X-Forwarded-For so that they count as coming from another
host: the loopback exemption of /metrics does not apply, and a token is always checked.

Requests are generated valid (positive) and invalid (negative): an invalid one must get a
documented answer and never a 5xx too. Schemathesis' ``negative_data_rejection`` check is left
out: it wants unknown query parameters refused, and the API ignores them, as HTTP APIs commonly
do (a browser's EventSource URL may carry a cache-buster).

Limits, said plainly: examples per operation are capped (``MAX_EXAMPLES``) to keep the run
near a minute; the event stream is read for ``REQUEST_TIMEOUT_S`` only (an idle daemon
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
from schemathesis.specs.openapi.checks import negative_data_rejection

from tests.api.helpers import REMOTE, make_app, tokens_of
from tests.daemon.harness import (
    api_base,
    notify_socket,
    simulated_reader,
    start_daemon,
    stop,
    write_config,
)

MAX_EXAMPLES = 20
REQUEST_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def daemon_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of a running daemon with one simulated reader."""
    tmp_path = tmp_path_factory.mktemp("schemathesis")
    with (simulated_reader(tmp_path, "feig", "feig-pad") as port,
          notify_socket(tmp_path / "notify") as notify):
        config = write_config(tmp_path / "libedge.toml", [
            {"name": "pad", "protocol": "feig", "port": port, "poll_interval_ms": 200}],
            db=tmp_path / "libedge.db")
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


@pytest.mark.parametrize("label", operation_labels())
def test_api_answers_as_documented(label: str, api_schema: Any,
                                   daemon_api: tuple[str, str]) -> None:
    # schemathesis.pytest.from_fixture needs pytest < 9.2 (it sets Function._nodeid); the
    # strategy API below is the same generation and the same checks, one test per operation.
    _, token = daemon_api
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the daemon's OpenAPI document"
    headers = {**REMOTE, "Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy(GenerationMode.POSITIVE)
           | operation.as_strategy(GenerationMode.NEGATIVE))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    def answers_as_documented(case: Any) -> None:
        case.call_and_validate(headers=headers, timeout=REQUEST_TIMEOUT_S,
                               excluded_checks=[negative_data_rejection])

    answers_as_documented()


def test_every_route_is_in_the_schema(api_schema: Any) -> None:
    """The daemon's document lists every operation the app in this process has."""
    served = {f"{result.ok().method.upper()} {result.ok().path}"
              for result in api_schema.get_all_operations()}
    assert served == set(operation_labels())
    assert {"GET /api/v1/health", "GET /api/v1/devices", "GET /api/v1/events/stream",
            "GET /metrics"} <= served
