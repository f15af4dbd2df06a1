# SPDX-License-Identifier: Apache-2.0
"""Journal recovery on a box with more than one pad: it settles only what no kiosk's session
owns. It used to ask the first kiosk alone, so every 5 s it settled the other pads' live
transactions (an item waiting to be put back was undone in the ILS while its patron stood at
the pad). Found by a review; the first test failed before the change."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from edge_service.config import LibraryConfig, SelfCheckConfig, parse_config
from edge_service.workflows import LiveEvents
from edge_service.workflows.recovery import Recovery
from edge_service.workflows.runtime import Workflows
from edge_service.workflows.selfcheck import ItemState, SelfCheck
from firmware_bridge.security import PRESETS
from firmware_bridge.simulator import Fault, FaultKind
from protocols.iso15693 import Command
from tests.ils.helpers import BOOK, PINS, SOREN
from tests.workflows.kiosk import NODE, SALT, kiosk
from tests.workflows.rig import catalog_tag, catalog_uid, fast_timers, pad_rig, wait_for

OWNER = "DK-718500"


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)


async def test_a_put_back_item_on_another_pad_is_left_to_its_session(tmp_path: Path) -> None:
    policy = SelfCheckConfig(set_wait_ms=200, put_back_attempts=3, pin_required=False)
    async with kiosk(tmp_path, [catalog_tag(BOOK)], policy=policy) as k:
        await k.rig.wait_field(1)
        first_pad = SelfCheck(k.rig.supervisor, store=k.store, node=NODE, link=lambda: k.link,
                              scheme=PRESETS["iso"], policy=policy,
                              library=LibraryConfig(isil=OWNER), live=k.live, salt=SALT)
        box = {"first": first_pad, "second": k.selfcheck}
        recovery = Recovery(first_pad, live_journal_ids=lambda: set().union(
            *(pad.live_journal_ids() for pad in box.values())))
        # One verified write round fails: the item waits to be put back, checked out in the ILS.
        k.rig.field.inject(Fault(FaultKind.NO_TAG, uid=catalog_uid(BOOK),
                                 command=Command.WRITE_AFI, count=3))
        session = await k.selfcheck.open_session(SOREN, PINS[SOREN])
        item = await wait_for(lambda: next((i for i in session.items.values()
                                            if i.state is ItemState.PUT_BACK), None),
                              10.0, "the item asked back")
        assert item.journal_id in recovery.live_journal_ids()
        assert await recovery.settle() == 0
        entry = k.store.journal.get(item.journal_id)
        assert entry is not None
        assert entry.ended_at is None
        assert k.ils.data.items[BOOK].loaned_to == SOREN
        k.rig.take(catalog_uid(BOOK))   # the patron lifts it and puts it back
        await k.rig.wait_field(0)
        k.rig.put(catalog_tag(BOOK))
        await wait_for(lambda: item.state is ItemState.DONE, 10.0, "the retry after put-back")
        await k.selfcheck.end_session(session.id)
        assert k.ils.data.items[BOOK].loaned_to == SOREN


async def test_the_box_recovery_asks_every_kiosk(tmp_path: Path) -> None:
    async with pad_rig(tmp_path) as rig:
        config = parse_config({"library": {"isil": OWNER}}, {})
        workflows = Workflows(config, rig.store, link=lambda: None, live=LiveEvents())
        await workflows.start({"pad": rig.supervisor})
        try:
            assert workflows.recovery is not None
            pad = workflows.kiosk("pad")
            assert pad is not None
            pad.live_journal_ids = lambda: {"journal-a"}  # type: ignore[method-assign]
            workflows.kiosks["pad-2"] = types.SimpleNamespace(  # type: ignore[assignment]
                live_journal_ids=lambda: {"journal-b"})
            assert workflows.recovery.live_journal_ids() == {"journal-a", "journal-b"}
        finally:
            del workflows.kiosks["pad-2"]
            await workflows.stop()
