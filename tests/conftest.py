# SPDX-License-Identifier: Apache-2.0
"""Shared test helpers: hex like the datasheets, and the vector files with their provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parent / "vectors"


def H(text: str) -> bytes:  # noqa: N802 - reads like the datasheet: H('91 00 05')
    """Bytes from hex written with spaces, as in datasheets and the vector files."""
    return bytes.fromhex(text.replace(" ", ""))


def load_vectors(name: str) -> list[dict[str, Any]]:
    """Entries of tests/vectors/<name>.json, each with its `source` (provenance)."""
    data: list[dict[str, Any]] = json.loads((VECTORS / f"{name}.json").read_text())
    return data
