# SPDX-License-Identifier: Apache-2.0
"""Journal-friendly logging: <N> priority prefixes when stderr IS the journal stream."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_service.logs import configure_logging, journal_stream_is_stderr, set_level
from firmware_bridge import TRACE


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _log_through(path: Path, environ: dict[str, str]) -> str:
    with path.open("w") as stream:
        configure_logging("debug", environ=environ, stream=stream)
        logger = logging.getLogger("edge_service.test")
        logger.warning("reader lost", extra={"fields": {"device": "pad", "error": "port gone"}})
        logger.info("two\nlines")
    return path.read_text()


def test_journal_lines_carry_priority_and_fields(tmp_path: Path,
                                                 root_logger: logging.Logger) -> None:
    path = tmp_path / "stderr"
    path.touch()
    info = os.stat(path)
    text = _log_through(path, {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"})
    assert text.splitlines() == [
        '<4>edge_service.test: reader lost device=pad error="port gone"',
        "<6>edge_service.test: two",
        "<6>edge_service.test: lines",
    ]


def test_text_lines_without_the_journal(tmp_path: Path, root_logger: logging.Logger) -> None:
    path = tmp_path / "stderr"
    path.touch()
    # JOURNAL_STREAM inherited from a parent whose stderr was the journal, ours is a file.
    text = _log_through(path, {"JOURNAL_STREAM": "1:2"})
    first = text.splitlines()[0]
    assert not first.startswith("<")
    assert first.endswith('WARNING edge_service.test: reader lost device=pad error="port gone"')


def test_trace_level_and_reload_level(tmp_path: Path, root_logger: logging.Logger) -> None:
    with (tmp_path / "log").open("w") as stream:
        configure_logging("trace", environ={}, stream=stream)
        assert logging.getLevelName(TRACE) == "TRACE"
        assert root_logger.level == TRACE
        set_level("warning")
        assert root_logger.level == logging.WARNING
        configure_logging("info", environ={}, stream=stream)  # replaces, never stacks
        assert len([h for h in root_logger.handlers if h.get_name() == "libedge"]) == 1


def test_journal_stream_check_needs_the_same_file(tmp_path: Path) -> None:
    with (tmp_path / "a").open("w") as stream:
        assert not journal_stream_is_stderr({}, stream)
        assert not journal_stream_is_stderr({"JOURNAL_STREAM": "garbage"}, stream)
