# SPDX-License-Identifier: Apache-2.0
"""``libedge sim ils``: argument wiring and data-file errors (the server itself is tested in
test_simulator.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from edge_service.cli import build_parser, sim_ils


def _parser() -> argparse.ArgumentParser:
    return build_parser()  # the real `libedge` parser, so the wiring itself is tested


def test_arguments_are_wired() -> None:
    args = _parser().parse_args(["sim", "ils", "--port", "0", "--latency-ms", "5"])
    assert (args.port, args.latency_ms, args.data) == (0, 5, None)
    assert args.handler is sim_ils._cmd_ils


def test_unusable_data_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    args = _parser().parse_args(["sim", "ils", "--port", "0", "--data", str(bad)])
    assert args.handler(args) == 1
    assert "format" in capsys.readouterr().err
