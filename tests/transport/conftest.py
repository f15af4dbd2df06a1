# SPDX-License-Identifier: Apache-2.0
"""Transport tests: shrink the timers instead of sleeping through them."""

from __future__ import annotations

import pytest

from firmware_bridge import transport


@pytest.fixture(autouse=True)
def fast_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patch the protocol timers down instead of sleeping through them (bellows-style)."""
    monkeypatch.setattr(transport, "REOPEN_FIRST_DELAY_S", 0.01)
    monkeypatch.setattr(transport, "REOPEN_MAX_DELAY_S", 0.05)
    monkeypatch.setattr(transport, "WRITE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(transport, "CONNECT_TIMEOUT_S", 1.0)
