# SPDX-License-Identifier: Apache-2.0
"""Shared test helpers: hex like the datasheets, vector files with their provenance, and
``async def`` tests run on a fresh event loop each (``asyncio.run``; no pytest-asyncio needed:
it closes the loop and reports leaked tasks at the end of each test)."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).parent / "vectors"


def H(text: str) -> bytes:  # noqa: N802 - reads like the datasheet: H('91 00 05')
    """Bytes from hex written with spaces, as in datasheets and the vector files."""
    return bytes.fromhex(text.replace(" ", ""))


def load_vectors(name: str) -> list[dict[str, Any]]:
    """Entries of tests/vectors/<name>.json, each with its `source` (provenance)."""
    data: list[dict[str, Any]] = json.loads((VECTORS / f"{name}.json").read_text())
    return data


ASYNC_TEST_TIMEOUT_S = 30.0


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), timeout=ASYNC_TEST_TIMEOUT_S))
    return True


