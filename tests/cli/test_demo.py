# SPDX-License-Identifier: Apache-2.0
"""`libedge demo --tour` works and shows every model the engine knows (the demo stack itself:
tests/web)."""

from __future__ import annotations

import pytest

from edge_service.cli import main
from edge_service.cli.demo import sample_tags


def test_demo_tours_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--tour"]) == 0
    out = capsys.readouterr().out
    for model in ("iso28560-2", "iso28560-3", "iso28560-4", "3m", "blank", "unknown"):
        assert f"model: {model}" in out
    assert "FKI" in out  # the reversed-block correction is shown, not hidden
    assert "refused:" in out


def test_sample_file_lists_labelled_images() -> None:
    samples = sample_tags()
    assert len(samples) >= 8
    assert all(label and image for label, image in samples)
