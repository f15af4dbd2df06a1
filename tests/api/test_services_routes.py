# SPDX-License-Identifier: Apache-2.0
"""The technical services over HTTP, through the whole daemon: `libedge run` with a simulated
desk pad on a real pty, driven with the staff token as the staff page would. The catalog's
``acq.expect`` command goes through a real mosquitto to the daemon's MQTT link. What was
written is checked through the reader (``GET .../tags`` reads the tag and decodes it) and in the
daemon's SQLite outbox."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from edge_service.sync import PublishProperties
from protocols.contract import CommandResponse, Event, command_topic, response_topic
from tests.api.daemon import Box, daemon_with, until
from tests.daemon.harness import get_json, send_json
from tests.sync.broker import Mosquitto
from tests.sync.helpers import client
from tests.workflows.rig import OWNER
from tests.workflows.technical import (
    foreign_tag,
    foreign_uid,
    legacy_3m_tag,
    legacy_uid,
    supplier_tag,
    supplier_uid,
)

TENANT, SITE, NODE = "DK-718500", "main", "staff-1"
LIBRARY = f'[library]\nisil = "{OWNER}"\n'
NODE_IDS = f'[node]\ntenant = "{TENANT}"\nsite = "{SITE}"\nnode = "{NODE}"\nmode = "staff"\n'
STATION = "/api/v1/staff/desk"
ORDER = "PO-2026-0815"
GS1 = "9788702173055"


def call(box: Box, path: str, body: Any = None, *, role: str = "staff",
         method: str = "POST") -> tuple[int, Any]:
    if method == "GET":
        return get_json(f"{box.base}{STATION}{path}", box.token(role))
    return send_json(f"{box.base}{STATION}{path}", body, box.token(role), method=method)


async def expect_over_mqtt(port: int, copies: list[dict[str, Any]]) -> CommandResponse:
    """Central publishes ``acq.expect`` (MQTT 5: response topic, correlation data, expiry)
    and waits for the node's answer."""
    res = response_topic(TENANT, SITE, NODE)
    async with client(port, "central", res) as (central, seen):
        payload = json.dumps({"name": "acq.expect", "args": {"copies": copies}}).encode()
        await central.publish(command_topic(TENANT, SITE, NODE, "acq.expect"), payload,
                              properties=PublishProperties(response_topic=res,
                                                           correlation_data=b"order-0815",
                                                           message_expiry_s=30))
        await seen.wait_for(lambda: any(b'"order-0815"' in m.payload for m in seen.others))
    [answer] = [m for m in seen.others if b'"order-0815"' in m.payload]
    return CommandResponse.from_json(answer.payload)


EVENTS = f"lib/v1/{TENANT}/{SITE}/{NODE}/evt/acq"


async def acq_events(port: int, count: int) -> list[Event]:
    """Central's persistent session on the node's ``evt/acq``: subscribed before the delivery,
    it gets the events the node published meanwhile (QoS 1, queued by the broker)."""
    async with client(port, "central-acq", EVENTS, persistent=True) as (_, seen):
        if count:
            await seen.wait_for(lambda: len(seen.events) >= count)
    return seen.events


def test_the_catalog_pushes_order_lines_and_a_delivery_is_received(tmp_path: Path) -> None:
    """``acq.expect`` over a real broker stores the copies; a delivery opened over HTTP
    re-programs the copy on the pad as it arrives and leaves the stranger alone; the receiving
    and delivery events reach central through the broker."""
    with tempfile.TemporaryDirectory(prefix="broker-") as directory:
        broker = Mosquitto(Path(directory))
        broker.start()
        try:
            mqtt = f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'
            tags = [supplier_tag(1, order=ORDER, gs1=GS1),
                    supplier_tag(2, order="PO-2026-0999", gs1=GS1)]
            with daemon_with(tmp_path, [("desk", "staff", {"tags": tags})],
                             extra=LIBRARY + NODE_IDS + mqtt) as box:
                _delivery_over_http(box, broker.port)
        finally:
            broker.stop()


def _delivery_over_http(box: Box, port: int) -> None:
    asyncio.run(acq_events(port, 0))    # central's session on the events, before they happen
    copies = [{"order_number": ORDER, "order_line": "1", "primary_item_id": "30012300001",
               "gs1_product_identifier": GS1, "title": "Enten - Eller"},
              {"order_number": ORDER, "order_line": "1", "primary_item_id": "30012300002",
               "gs1_product_identifier": GS1}]
    answer = until(lambda: _try_expect(port, copies), 20.0, "the daemon's MQTT link")
    assert (answer.status, answer.data) == ("ok", {"stored": 2, "kept": []})
    bad = asyncio.run(expect_over_mqtt(port, [{"order_number": ORDER}]))
    assert bad.error is not None
    assert (bad.error.code, bad.error.message) == (
        "invalid_args", "copies[0].primary_item_id: is required")

    status, expected = call(box, f"/acquisitions/expected?order={ORDER}", method="GET")
    assert status == 200, expected
    assert (expected["expected"], expected["received"]) == (2, 0)
    assert [c["primary_item_id"] for c in expected["copies"]] == ["30012300001", "30012300002"]

    assert _station(box)["delivery"] is None    # the station list says there is none yet
    status, opened = call(box, "/acquisitions/deliveries", {"accept_on_arrival": True})
    assert status == 201, opened
    assert _station(box)["delivery"] == {"delivery_id": opened["delivery_id"],
                                         "state": "accepted", "opened_at": opened["opened_at"],
                                         "closed_at": None}
    report = until(lambda: _delivery_with(box, programmed=1, unexpected=1), 15.0,
                   "the copy re-programmed")
    by_uid = {t["uid"]: t for t in report["tags"]}
    assert (by_uid[str(supplier_uid(1))]["primary_item_id"],
            by_uid[str(supplier_uid(1))]["supplier_invoice_number"]) == ("30012300001",
                                                                         "INV-77812")
    assert by_uid[str(supplier_uid(2))]["outcome"] == "unexpected"
    tag = until(lambda: _tag(box, str(supplier_uid(1)), "30012300001"), 10.0,
                "the pad to show the new item")
    assert (tag["model"], tag["owner_institution"], tag["secured"]) == (
        "iso28560-2", OWNER, True)

    status, closed = call(box, "/acquisitions/delivery/close")
    assert status == 200, closed
    assert (closed["state"], closed["counts"]["missing"]) == ("closed", 1)
    assert _station(box)["delivery"] == {key: closed[key] for key in (
        "delivery_id", "state", "opened_at", "closed_at")}
    received, summary = asyncio.run(acq_events(port, 2))
    assert (received.type, received.data["primary_item_id"], received.data["operator"]) == (
        "lib.acq.received.v1", "30012300001", "staff-generated")
    assert (summary.type, summary.data["received"], summary.data["unexpected"],
            summary.data["missing_items"]) == ("lib.acq.delivery.v1", 1, 1, ["30012300002"])
    status, again = call(box, "/acquisitions/delivery/close")
    assert (status, again["error"]["code"]) == (404, "no_delivery")


def _try_expect(port: int, copies: list[dict[str, Any]]) -> CommandResponse | None:
    try:
        answer = asyncio.run(asyncio.wait_for(expect_over_mqtt(port, copies), 3.0))
    except TimeoutError:
        return None     # the daemon has not subscribed yet: central sends it again
    return answer


def _station(box: Box) -> dict[str, Any]:
    """The desk's entry in the station list."""
    status, stations = get_json(f"{box.base}/api/v1/staff", box.token("staff"))
    assert status == 200, stations
    [desk] = stations
    return desk


def _delivery_with(box: Box, **counts: int) -> dict[str, Any] | None:
    status, report = call(box, "/acquisitions/delivery", method="GET")
    assert status == 200, report
    return report if all(report["counts"][k] == v for k, v in counts.items()) else None


def _tag(box: Box, uid: str, item: str) -> dict[str, Any] | None:
    status, tags = call(box, "/tags", method="GET")
    assert status == 200, tags
    return next((t for t in tags if t["uid"] == uid and t.get("primary_item_id") == item), None)


def test_ill_and_a_campaign_over_http(tmp_path: Path) -> None:
    tags = [foreign_tag(1, owner="DE-705"), legacy_3m_tag(1, afi="D7")]
    with daemon_with(tmp_path, [("desk", "staff", {"tags": tags})], extra=LIBRARY) as box:
        until(lambda: len(call(box, "/tags", method="GET")[1]) == 2 or None, 10.0, "the pad")
        ill_uid = str(foreign_uid(1))
        status, body = call(box, "/ill/receive", {"transaction_number": "ILL-1"})
        assert (status, body["error"]["code"]) == (409, "several_tags")
        status, received = call(box, "/ill/receive", {"uid": ill_uid,
                                                       "transaction_number": "ILL-1"})
        assert status == 200, received
        assert (received["tag_written"], received["tag"]["elements"][
            "ill_borrowing_institution"]) == (True, OWNER)
        status, loans = call(box, "/ill", method="GET")
        assert [loan["transaction_number"] for loan in loans["loans"]] == ["ILL-1"]
        status, returned = call(box, "/ill/return", {"uid": ill_uid})
        assert (status, returned["action"], returned["tag_written"]) == (200, "returned", True)
        assert "ill_borrowing_institution" not in returned["tag"]["elements"]
        status, body = call(box, "/ill/return", {"uid": ill_uid})
        assert (status, body["error"]["code"]) == (409, "not_on_loan")
        assert [e["data"]["action"] for e in box.events("lib.ill.v1")] == [
            "received", "returned"]

        status, created = call(box, "/campaigns", {"name": "3M", "source_models": ["3m"],
                                                   "estimate": 4})
        assert status == 201, created
        assert created["running"] is False
        campaign = created["campaign_id"]
        status, running = call(box, f"/campaigns/{campaign}/run", {})
        assert status == 200, running
        assert running["running"] is True   # on this station: the page offers Stop
        status, listed = call(box, "/campaigns", method="GET")
        assert [(c["campaign_id"], c["running"]) for c in listed] == [(campaign, True)]
        report = until(lambda: _campaign_with(box, campaign, converted=1, skipped=1), 20.0,
                       "the 3M tag converted, the part 3 one skipped")
        assert report["pending_estimate"] == 3
        assert report["health"]["password_not_checked"] == 0
        converted = until(lambda: _tag(box, str(legacy_uid(1)), "1302000001"), 10.0,
                          "the converted tag")
        assert converted["model"] == "iso28560-2"
        status, stopped = call(box, f"/campaigns/{campaign}/stop")
        assert (status, stopped["state"], stopped["running"]) == (200, "active", False)
        status, finished = call(box, f"/campaigns/{campaign}/finish")
        assert (status, finished["state"], finished["running"]) == (200, "finished", False)
        [event] = box.events("lib.campaign.v1")
        assert (event["data"]["converted"], event["data"]["skipped"]) == (1, 1)
        status, body = call(box, f"/campaigns/{campaign}/stop")
        assert (status, body["error"]["code"]) == (409, "not_running")


def _campaign_with(box: Box, campaign: str, **counts: int) -> dict[str, Any] | None:
    status, report = call(box, f"/campaigns/{campaign}", method="GET")
    assert status == 200, report
    return report if all(report["counts"][k] == v for k, v in counts.items()) else None


def test_services_refuse_other_roles_bad_fields_and_unknown_stations(tmp_path: Path) -> None:
    with daemon_with(tmp_path, [("desk", "staff", {"tags": []})], extra=LIBRARY) as box:
        status, body = call(box, "/acquisitions/deliveries", {}, role="kiosk")
        assert (status, body["error"]["code"]) == (403, "forbidden")
        status, body = call(box, "/acquisitions/expected", {"copies": [
            {"order_number": "PO-1", "primary_item_id": "3", "type_of_usage": 300}]})
        assert (status, body["error"]["field"]) == (422, "body.copies[0].type_of_usage")
        status, body = call(box, "/acquisitions/expected", {"csv": "order_number\nPO-1\n"})
        assert (status, body["error"]["field"]) == (422, "body.csv:1")
        status, body = call(box, "/acquisitions/expected", {})
        assert (status, body["error"]["code"]) == (422, "invalid_request")
        status, body = call(box, "/acquisitions/deliveries", {"orders": [""]})
        assert (status, body["error"]["field"]) == (422, "body.orders[0]")
        status, body = call(box, "/campaigns", {"name": "x", "source_models": ["iso28560-2"]})
        assert (status, body["error"]["field"]) == (422, "body.source_models[0]")
        status, body = call(box, "/campaigns/cmp-none/run", {})
        assert (status, body["error"]["code"]) == (404, "no_campaign")
        status, body = call(box, "/acquisitions/delivery", method="GET")
        assert (status, body["error"]["code"]) == (404, "no_delivery")
        status, body = call(box, "/ill/receive", {})
        assert (status, body["error"]["code"]) == (409, "no_tag")
        status, body = send_json(f"{box.base}/api/v1/staff/nope/ill/receive", {},
                                 box.token("staff"))
        assert (status, body["error"]["code"]) == (404, "no_station")
