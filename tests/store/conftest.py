# SPDX-License-Identifier: Apache-2.0
"""Store tests: real SQLite files in tmp_path, small builders for item records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_service.store import ItemRecord

OWNER = "DK-718500"


def item(number: int, **changes: Any) -> ItemRecord:
    """Item record ``number`` of the test library; keyword arguments override fields."""
    fields: dict[str, Any] = {
        "owner_institution": OWNER,
        "primary_item_id": f"{number:010d}",
        "circulation_status": "03",
        "security_expected": True,
        "catalog_version": "1",
        "title": f"Title {number}",
        "media": "book",
    }
    fields.update(changes)
    return ItemRecord(**fields)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "libedge.sqlite"
