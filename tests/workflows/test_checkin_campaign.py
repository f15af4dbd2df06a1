# SPDX-License-Identifier: Apache-2.0
"""Migration campaigns at kiosk check-in, through real parts (pad simulator on a pty, driver,
SQLite, the ILS simulator over SIP2): returned items in legacy models are converted on the pad
after their check-in committed, still secured; items already in the library's model are left
alone; a conversion cut short leaves the return done and the campaign's tag failed. Tags are
checked by decoding the simulated memory afresh, the ILS by its loan records, events by
decoding the outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edge_service.config import SelfCheckConfig, parse_config
from edge_service.store import CampaignRow, write_campaign
from edge_service.workflows import LiveEvents
from edge_service.workflows.campaign_checkin import KIOSK_OPERATOR, CheckinCampaigns
from edge_service.workflows.runtime import Workflows
from edge_service.workflows.selfcheck import ItemState
from firmware_bridge.security import AFI_ISO_IN_STOCK
from firmware_bridge.simulator import Fault, FaultKind
from protocols.contract import decode_event
from protocols.iso15693 import Command, Uid
from protocols.iso28560 import LibraryTag, TagModel, decode_any, encode_tag, legacy_3m
from tests.ils.helpers import SOREN
from tests.workflows.kiosk import Kiosk, kiosk
from tests.workflows.rig import (
    MEMORY_BYTES,
    OWNER,
    catalog_tag,
    catalog_uid,
    fast_timers,
    pad_rig,
    wait_for,
)

PART3_BOOK, LEGACY_BOOK, PART2_BOOK = "5012345602", "5012345603", "5012345604"
SECURED_OFF = 0xC2   # on loan: the tags come back unsecured


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)


def part3_tag(barcode: str) -> dict[str, object]:
    image = encode_tag(LibraryTag(TagModel.PART3, primary_item_id=barcode,
                                  owner_institution=OWNER, set_total=1, set_part=1,
                                  type_of_usage=0x10), size=MEMORY_BYTES).image
    assert image is not None
    return {"uid": str(catalog_uid(barcode)), "memory": image.memory.hex(),
            "afi": f"{SECURED_OFF:02X}", "dsfid": f"{image.dsfid or 0:02X}"}


def legacy_tag(barcode: str) -> dict[str, object]:
    image = legacy_3m.encode(LibraryTag(TagModel.LEGACY_3M, primary_item_id=barcode,
                                        media_format=1))
    return {"uid": str(catalog_uid(barcode)), "memory": image.memory.hex(),
            "afi": f"{SECURED_OFF:02X}"}


def fresh(k: Kiosk, uid: Uid) -> LibraryTag:
    tag = k.rig.field.tag(uid)
    return decode_any(bytes(tag.memory), dsfid=tag.dsfid)


async def active_campaign(k: Kiosk, *, state: str = "active") -> str:
    row = CampaignRow("c-kiosk", "Danish and 3M to part 2", ("iso28560-3", "3m"), 100, False,
                      state, "2026-12-01T10:00:00.000Z")
    await k.store.writer.submit(lambda conn: write_campaign(conn, row), name="campaign",
                                commit_now=True)
    return row.id


def loan_all(k: Kiosk, *barcodes: str) -> None:
    """The items are on loan to a patron in the ILS (borrowed before the campaign began)."""
    for barcode in barcodes:
        k.ils.data.items[barcode].loaned_to = SOREN


def events(k: Kiosk, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in map(decode_event, (o.payload for o in k.store.outbox.peek(1000)))
            if e.type == kind]


async def test_returned_legacy_tags_are_converted_after_their_checkin(tmp_path: Path) -> None:
    tags = [part3_tag(PART3_BOOK), legacy_tag(LEGACY_BOOK),
            catalog_tag(PART2_BOOK, afi=SECURED_OFF)]
    async with kiosk(tmp_path, tags) as k:
        k.selfcheck.after_checkin = CheckinCampaigns.on(k.selfcheck)
        campaign_id = await active_campaign(k)
        loan_all(k, PART3_BOOK, LEGACY_BOOK, PART2_BOOK)
        part2_before = bytes(k.rig.field.tag(catalog_uid(PART2_BOOK)).memory)
        await k.rig.wait_field(3)
        watching = k.live.subscribe(frozenset({"item"}))
        session = await k.selfcheck.open_session(None, mode="checkin")
        await k.settled(session, 3, timeout_s=20.0)

        assert {i.key.primary_item_id: i.state for i in session.items.values()} == dict.fromkeys(
            (PART3_BOOK, LEGACY_BOOK, PART2_BOOK), ItemState.DONE)
        for barcode in (PART3_BOOK, LEGACY_BOOK, PART2_BOOK):
            assert k.ils.data.items[barcode].loaned_to is None
            assert k.rig.tag_afi(catalog_uid(barcode)) == AFI_ISO_IN_STOCK   # still secured
        for barcode in (PART3_BOOK, LEGACY_BOOK):
            tag = fresh(k, catalog_uid(barcode))
            assert (tag.model, tag.primary_item_id, tag.owner_institution) == (
                TagModel.PART2, barcode, OWNER)
        assert bytes(k.rig.field.tag(catalog_uid(PART2_BOOK)).memory) == part2_before

        # The pad reads the converted tags afresh (the 3M one now names its owner: a new
        # item key); the session must not take them for new items and return them again.
        await wait_for(lambda: all(
            (t := k.rig.supervisor.field.get(catalog_uid(b))) is not None and t.read
            and t.model == TagModel.PART2.value for b in (PART3_BOOK, LEGACY_BOOK)),
            10.0, "the converted tags read again")
        await asyncio.sleep(0.3)   # the kiosk's loop has seen the fresh reads
        assert len(session.items) == 3
        assert k.selfcheck.counters["checkins"] == 3

        counts = k.store.campaigns.counts(campaign_id)
        assert counts == {"converted": 2, "failed": 0, "already": 0, "skipped": 0}
        writes = events(k, "lib.tag.write.v1")
        assert sorted(w["converted_from"] for w in writes) == ["3m", "iso28560-3"]
        assert {w["operator"] for w in writes} == {KIOSK_OPERATOR}
        assert len(events(k, "lib.circ.checkin.v1")) == 3

        # The converted items were shown "updating the tag" before done; the other was not.
        shown: dict[str, list[str]] = {}
        while (message := await watching.next(0)) is not None:
            shown.setdefault(message.data["primary_item_id"], []).append(message.data["state"])
        for barcode in (PART3_BOOK, LEGACY_BOOK):
            states = shown[barcode]
            assert states.index("updating_tag") < states.index("done")
        assert "updating_tag" not in shown[PART2_BOOK]


async def test_nothing_is_converted_without_an_active_campaign(tmp_path: Path) -> None:
    async with kiosk(tmp_path, [part3_tag(PART3_BOOK)]) as k:
        k.selfcheck.after_checkin = CheckinCampaigns.on(k.selfcheck)
        campaign_id = await active_campaign(k, state="finished")
        loan_all(k, PART3_BOOK)
        before = bytes(k.rig.field.tag(catalog_uid(PART3_BOOK)).memory)
        await k.rig.wait_field(1)
        session = await k.selfcheck.open_session(None, mode="checkin")
        await k.settled(session, 1)
        (item,) = session.items.values()
        assert item.state is ItemState.DONE
        assert bytes(k.rig.field.tag(catalog_uid(PART3_BOOK)).memory) == before
        assert sum(k.store.campaigns.counts(campaign_id).values()) == 0
        assert events(k, "lib.tag.write.v1") == []


async def test_a_conversion_cut_by_lifting_the_item_is_finished_when_it_is_put_back(
        tmp_path: Path) -> None:
    """The patron lifts the item after two blocks: the tag is half-written (it decodes as
    nothing); the kiosk asks for the item back and finishes the write from the image meant
    for it; the return is recorded once, the tag secured throughout."""
    async with kiosk(tmp_path, [part3_tag(PART3_BOOK)]) as k:
        k.selfcheck.after_checkin = CheckinCampaigns.on(k.selfcheck)
        campaign_id = await active_campaign(k)
        loan_all(k, PART3_BOOK)
        await k.rig.wait_field(1)
        uid = catalog_uid(PART3_BOOK)
        k.rig.field.inject(Fault(FaultKind.LEAVE_MID_WRITE, uid=uid, after_blocks=2))
        session = await k.selfcheck.open_session(None, mode="checkin")
        item = await wait_for(lambda: next(
            (i for i in session.items.values() if i.state is ItemState.TAG_PUT_BACK), None),
            10.0, "the kiosk asking for the item back")
        lifted = k.rig.field.tag(uid)
        assert uid not in k.rig.field.present
        assert fresh(k, uid).primary_item_id is None        # half-written: no item id now
        row = k.store.campaigns.tag(campaign_id, str(uid))
        assert row is not None
        assert row.outcome == "failed"
        assert [e["kind"] for e in events(k, "lib.exception.v1")] == ["write_failed"]

        k.rig.field.add(lifted)                              # put back
        await k.settled(session, 1, timeout_s=20.0)
        assert item.state is ItemState.DONE
        tag = fresh(k, uid)
        assert (tag.model, tag.primary_item_id, tag.owner_institution) == (
            TagModel.PART2, PART3_BOOK, OWNER)
        assert k.rig.tag_afi(uid) == AFI_ISO_IN_STOCK
        assert k.ils.data.items[PART3_BOOK].loaned_to is None
        assert len(events(k, "lib.circ.checkin.v1")) == 1
        assert len(session.items) == 1
        row = k.store.campaigns.tag(campaign_id, str(uid))
        assert row is not None
        assert (row.outcome, row.attempts) == ("converted", 2)


async def test_a_cut_conversion_never_finished_sends_the_item_to_staff(tmp_path: Path) -> None:
    """Every block write goes unanswered: the kiosk tries ``put_back_attempts`` times, then
    the returned item (recorded, secured) goes to the staff desk; the campaign says failed."""
    async with kiosk(tmp_path, [part3_tag(PART3_BOOK)],
                     policy=SelfCheckConfig(set_wait_ms=300, put_back_attempts=2,
                                            pin_required=False)) as k:
        k.selfcheck.after_checkin = CheckinCampaigns.on(k.selfcheck)
        campaign_id = await active_campaign(k)
        loan_all(k, PART3_BOOK)
        await k.rig.wait_field(1)
        uid = catalog_uid(PART3_BOOK)
        k.rig.field.inject(Fault(FaultKind.NO_TAG, uid=uid, count=1000,
                                 command=Command.WRITE_SINGLE_BLOCK))
        session = await k.selfcheck.open_session(None, mode="checkin")
        await k.settled(session, 1, timeout_s=20.0)
        (item,) = session.items.values()
        assert item.state is ItemState.NEEDS_STAFF
        assert "tag needs repair" in item.message
        assert k.ils.data.items[PART3_BOOK].loaned_to is None
        assert k.rig.tag_afi(uid) == AFI_ISO_IN_STOCK
        assert len(events(k, "lib.circ.checkin.v1")) == 1
        row = k.store.campaigns.tag(campaign_id, str(uid))
        assert row is not None
        assert (row.outcome, row.attempts) == ("failed", 2)
        assert row.detail is not None
        assert "stopped answering while writing" in row.detail


@pytest.mark.parametrize("convert", [True, False])
async def test_the_daemon_wires_conversion_at_checkin_per_config(tmp_path: Path,
                                                                 convert: bool) -> None:
    """``[selfcheck] convert_at_checkin`` decides whether the daemon's kiosks convert."""
    async with pad_rig(tmp_path) as rig:
        config = parse_config({"library": {"isil": OWNER},
                               "selfcheck": {"convert_at_checkin": convert}}, {})
        workflows = Workflows(config, rig.store, link=lambda: None, live=LiveEvents())
        await workflows.start({"pad": rig.supervisor})
        try:
            kiosk_ = workflows.kiosk("pad")
            assert kiosk_ is not None
            assert isinstance(kiosk_.after_checkin, CheckinCampaigns) is convert
            if isinstance(kiosk_.after_checkin, CheckinCampaigns):
                assert kiosk_.after_checkin.station.pad_lock is kiosk_.tag_lock
        finally:
            await workflows.stop()
