# SPDX-License-Identifier: Apache-2.0
"""A migration campaign over a mixed stack on a simulated FEIG desk pad (real pty, driver,
supervisor and SQLite): legacy tags converted and verified, the library's own left alone, the
tag health survey's findings (a weak read, an unreadable block, locks that prevent conversion,
default passwords), the report and the finishing event. Tags are checked by decoding the
simulated memory afresh; events by decoding the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_service.workflows import WorkflowError
from firmware_bridge.simulator.faults import Fault, FaultKind
from protocols.iso15693 import Command, PasswordId, Uid
from protocols.iso28560 import TagModel
from tests.workflows.rig import OWNER, fast_timers, item_id, item_tag, uid_of, wait_for
from tests.workflows.technical import (
    Station,
    foreign_tag,
    foreign_uid,
    legacy_3m_tag,
    legacy_uid,
    station,
)

BLANK = {"uid": "E0040100B1A40001", "memory": "", "afi": "00"}
BLANK_UID = Uid.from_text(BLANK["uid"])


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_timers(monkeypatch)


def settled(s: Station, campaign_id: str, count: int) -> dict[str, int] | None:
    counts = s.services.campaigns.report(campaign_id)["counts"]
    return counts if sum(counts.values()) == count else None


async def test_a_campaign_over_a_mixed_stack(tmp_path: Path) -> None:
    stack = [
        legacy_3m_tag(1, afi="D7"),                    # 3M, secured: converted, still secured
        legacy_3m_tag(2, afi="DA"),                    # 3M, unsecured: converted; a weak read
        foreign_tag(3, owner=OWNER),                   # Danish model (part 3): converted
        foreign_tag(4, owner=OWNER),                   # part 3 with its password set
        item_tag(5),                                   # already ISO 28560-2
        BLANK,                                         # nothing on it: skipped
        {**legacy_3m_tag(7), "locked": [0, 1]},        # locked: cannot be converted
        legacy_3m_tag(8),                              # block 0 cannot be read
    ]
    # A desk pad's own poll period (1 s): a presence inventory resets the field, and one that
    # falls between GET RANDOM NUMBER and SET PASSWORD makes a default look refused once.
    async with station(tmp_path, stack, poll_interval_ms=1000) as s:
        await s.rig.wait_field(len(stack))
        before = {uid: s.raw(uid) for uid in (legacy_uid(7), legacy_uid(8))}
        s.rig.field.tag(foreign_uid(4)).passwords[PasswordId.EAS_AFI] = 0x5EC12E7
        # After the pad read every tag on arrival: the survey's first read of tag 2 is
        # garbled on the air, and tag 8 never answers a read of its block 0.
        s.rig.field.inject(Fault(FaultKind.AIR_CRC_ERROR, uid=legacy_uid(2), count=1,
                                 command=Command.READ_MULTIPLE_BLOCKS))
        s.rig.field.inject(Fault(FaultKind.NO_TAG, uid=legacy_uid(8), count=5,
                                 command=Command.READ_MULTIPLE_BLOCKS))
        campaigns = s.services.campaigns
        watching = s.live.subscribe(frozenset({"staff.campaign"}))
        created = await campaigns.create("Main 3M and Danish to part 2", ["3m", "iso28560-3"],
                                         estimate=10)
        campaign_id = created["campaign_id"]
        assert created["pending_estimate"] == 10
        await campaigns.run(campaign_id, operator="anna")
        counts = await wait_for(lambda: settled(s, campaign_id, len(stack)), 25.0,
                                "every tag settled")
        assert counts == {"converted": 4, "failed": 2, "already": 1, "skipped": 1}

        for uid, item in ((legacy_uid(1), "1302000001"), (legacy_uid(2), "1302000002"),
                          (foreign_uid(3), "5000000003"), (foreign_uid(4), "5000000004")):
            fresh = s.memory(uid)
            assert (fresh.model, fresh.primary_item_id, fresh.owner_institution) == (
                TagModel.PART2, item, OWNER)
        assert s.rig.tag_afi(legacy_uid(1)) == 0x07    # 3M "secured" D7 kept as ISO 07
        assert s.rig.tag_afi(legacy_uid(2)) == 0xC2    # 3M "unsecured" DA kept as ISO C2
        assert s.memory(uid_of(5)).primary_item_id == item_id(5)
        for uid, raw in before.items():
            assert s.raw(uid) == raw                   # nothing written to the failed ones
        writes = s.events("lib.tag.write.v1")
        assert sorted(e.data["converted_from"] for e in writes) == [
            "3m", "3m", "iso28560-3", "iso28560-3"]
        assert all(e.data["operator"] == "anna" for e in writes)

        report = campaigns.report(campaign_id)
        assert report["pending_estimate"] == 10 - 5
        assert report["by_model"] == {"3m": {"converted": 2, "failed": 2},
                                      "iso28560-3": {"converted": 2, "failed": 0}}
        health = report["health"]
        assert health["unreadable_blocks"] == [
            {"uid": str(legacy_uid(8)), "primary_item_id": "1302000008", "blocks": [0]}]
        assert [w["uid"] for w in health["weak_reads"]] == [str(legacy_uid(2))]
        assert health["weak_reads"][0]["read_attempts"] == 2
        blocked = health["blocked_by_locks"]
        assert [(b["uid"], b["primary_item_id"], b["blocks"]) for b in blocked] == [
            (str(legacy_uid(7)), "1302000007", [0, 1])]
        with_default = {entry["uid"] for entry in health["default_passwords"]}
        assert str(foreign_uid(4)) not in with_default   # its password was set
        assert str(legacy_uid(1)) in with_default       # never set: the factory's
        assert health["password_not_checked"] == 0
        failures = {f["uid"]: f["detail"] for f in report["failures"]}
        assert "locked blocks 0, 1" in failures[str(legacy_uid(7))]
        assert "blocks 0 cannot be read" in failures[str(legacy_uid(8))]
        assert await watching.next(1.0) is not None     # progress went to the screens

        finished = await campaigns.finish(campaign_id)
        assert finished["state"] == "finished"
        assert campaigns.running() is None
        [event] = s.events("lib.campaign.v1")
        assert event.data == {
            "campaign_id": campaign_id, "state": "finished", "target_model": "iso28560-2",
            "source_models": ["3m", "iso28560-3"], "converted": 4, "failed": 2, "already": 1,
            "skipped": 1, "unreadable_blocks": 1, "weak_reads": 1,
            "default_passwords": len(with_default), "blocked_by_locks": 1,
            "pending_estimate": 5, "name": "Main 3M and Danish to part 2"}
        with pytest.raises(WorkflowError) as caught:
            await campaigns.run(campaign_id)
        assert caught.value.code == "campaign_finished"


async def test_a_run_stops_and_resumes_and_settled_tags_are_not_touched_again(
        tmp_path: Path) -> None:
    async with station(tmp_path, [legacy_3m_tag(1)]) as s:
        await s.rig.wait_field(1)
        campaigns = s.services.campaigns
        campaign_id = (await campaigns.create("Branch", ["3m"]))["campaign_id"]
        await campaigns.run(campaign_id, check_passwords=False)
        await wait_for(lambda: settled(s, campaign_id, 1), 10.0, "the first tag")
        with pytest.raises(WorkflowError) as caught:
            await campaigns.run(campaign_id)
        assert caught.value.code == "campaign_running"
        # Nor a batch beside it (both would take each arriving tag). Found by a review.
        with pytest.raises(WorkflowError) as caught:
            await s.station.start_batch("convert")
        assert caught.value.code == "campaign_running"
        await campaigns.stop()
        assert campaigns.running() is None
        await s.station.start_batch("convert")
        await s.station.stop_batch()

        s.rig.put(legacy_3m_tag(2))
        await s.rig.wait_field(2)
        assert settled(s, campaign_id, 1) is not None   # stopped: nothing new
        await campaigns.run(campaign_id, check_passwords=False)
        await wait_for(lambda: settled(s, campaign_id, 2), 10.0, "the second tag")
        report = campaigns.report(campaign_id)
        assert report["counts"]["converted"] == 2
        assert report["health"]["password_not_checked"] == 2
        assert len(s.events("lib.tag.write.v1")) == 2  # the first was not converted twice
        assert report["pending_estimate"] is None


async def test_a_campaign_leaves_another_librarys_item_alone(tmp_path: Path) -> None:
    """An interlibrary loan in a source model passes the desk: skipped, not re-encoded and
    locked as ours. Found by a review."""
    async with station(tmp_path, [foreign_tag(2, owner="DE-705")]) as s:
        await s.rig.wait_field(1)
        uid = foreign_uid(2)
        before = s.raw(uid)
        campaigns = s.services.campaigns
        created = await campaigns.create("Danish to part 2", ["iso28560-3"])
        await campaigns.run(created["campaign_id"], check_passwords=False)
        report = await wait_for(
            lambda: (r := campaigns.report(created["campaign_id"]))
            and sum(r["counts"].values()) == 1 and r, 5.0, "the tag settled")
        assert report["counts"]["skipped"] == 1
        await campaigns.stop()
        assert s.raw(uid) == before


async def test_campaign_requests_are_checked(tmp_path: Path) -> None:
    async with station(tmp_path, []) as s:
        campaigns = s.services.campaigns
        for models, field in ((["iso28560-2"], "source_models[0]"), (["rfid"], "source_models[0]"),
                              ([], "source_models")):
            with pytest.raises(WorkflowError) as caught:
                await campaigns.create("x", models)
            assert (caught.value.status, caught.value.field) == (422, field)
        with pytest.raises(WorkflowError) as caught:
            campaigns.report("cmp-nothing")
        assert (caught.value.code, caught.value.status) == ("no_campaign", 404)
        created = await campaigns.create("x", ["3m", "3m"], estimate=3)
        assert created["source_models"] == ["3m"]
        assert [c["campaign_id"] for c in campaigns.campaigns()] == [created["campaign_id"]]
