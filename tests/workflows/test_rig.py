# SPDX-License-Identifier: Apache-2.0
"""The rig itself: the supervisor reads what is put on the simulated pad, forgets what leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflows.rig import OWNER, fast_timers, item_id, item_tag, pad_rig, uid_of


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)


async def test_the_pad_field_follows_the_tags(tmp_path: Path) -> None:
    async with pad_rig(tmp_path, [item_tag(1), item_tag(2, part=1, total=2)]) as rig:
        field = await rig.wait_field(2)
        first = field[uid_of(1)]
        assert (first.owner_institution, first.primary_item_id) == (OWNER, item_id(1))
        assert first.afi == 0x07
        assert (field[uid_of(2)].set_part, field[uid_of(2)].set_total) == (1, 2)
        rig.put(item_tag(2, part=2, total=2))
        await rig.wait_field(3)
        rig.take(uid_of(1))
        field = await rig.wait_field(2)
        assert uid_of(1) not in field
