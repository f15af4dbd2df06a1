# SPDX-License-Identifier: Apache-2.0
"""The staff station over HTTP, through the whole daemon: `libedge run` with a simulated desk
pad on a real pty (`libedge sim reader`), driven with the staff token as the staff page would.
What was written is read back through the reader (``GET .../tags`` reads the tag's memory over
the pty and decodes it) and checked in the daemon's SQLite outbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_service.api.staff import _fields_of_body, operator_of
from edge_service.api.tokens import Principal
from edge_service.workflows import WorkflowError
from protocols.contract import ContractError, TagWriteData
from tests.api.daemon import Box, daemon_with, until
from tests.conftest import load_vectors
from tests.daemon.harness import get_json, send_json
from tests.workflows.rig import OWNER, item_id, item_tag

BRANCHED_3M = load_vectors("iso28560")[21]["hex"]   # Biblio-RFID: 3M, barcode 200901010123
BLANK = "E0040100B1A40001"
OTHER_BLANK = "E0040100B1A40002"
LIBRARY = f'[library]\nisil = "{OWNER}"\n'
STATION = "/api/v1/staff/desk"


def blank(uid: str = BLANK) -> dict[str, Any]:
    return {"uid": uid, "afi": "00"}


def desk(tmp_path: Path, tags: list[dict[str, Any]], *, data_model: str = "iso28560-2") -> Any:
    return daemon_with(tmp_path, [("desk", "staff", {"tags": tags})],
                       extra=LIBRARY + f'data_model = "{data_model}"\n')


def pad(box: Box, count: int) -> list[dict[str, Any]]:
    """The tags on the pad once ``count`` are there and read."""
    def probe() -> list[dict[str, Any]] | None:
        status, tags = get_json(f"{box.base}{STATION}/tags", box.token("staff"))
        assert status == 200, tags
        return tags if len(tags) == count and all(t["model"] for t in tags) else None
    return until(probe, 10.0, f"{count} tags on the pad")


def post(box: Box, path: str, body: Any, role: str = "staff") -> tuple[int, Any]:
    return send_json(f"{box.base}{STATION}{path}", body, box.token(role))


# --- program -------------------------------------------------------------------------------

def test_a_blank_tag_is_programmed_over_http_and_reads_back_decoded(tmp_path: Path) -> None:
    with desk(tmp_path, [blank()]) as box:
        status, stations = get_json(f"{box.base}/api/v1/staff", box.token("staff"))
        assert (status, stations) == (200, [{"name": "desk", "connected": True,
                                             "data_model": "iso28560-2",
                                             "batch": None, "inventory": None,
                                             "delivery": None}])
        [before] = pad(box, 1)
        assert (before["uid"], before["model"], before["primary_item_id"]) == (
            BLANK, "blank", None)

        status, result = post(box, "/program", {"barcode": "3000000042"})
        assert status == 200, result
        assert (result["uid"], result["verified"], result["data_model"],
                result["primary_item_id"], result["owner_institution"]) == (
            BLANK, True, "iso28560-2", "3000000042", OWNER)
        assert result["security"]["after"] == {"afi": "07", "eas": None, "secured": True}
        assert result["locked_blocks"]                          # part 2 locks its plan
        assert "vendor_data" not in result["tag"]               # the to_json shape, no nulls

        # Read back through the reader, decoded afresh once the supervisor re-read it.
        after = until(lambda: next((t for t in pad(box, 1)
                                    if t["primary_item_id"] == "3000000042"), None),
                      10.0, "the pad to show the programmed item")
        assert (after["model"], after["owner_institution"], after["secured"],
                after["afi"]) == ("iso28560-2", OWNER, True, "07")
        assert after["locked_blocks"] == result["locked_blocks"]
        assert after["health"]["problems"] == []

        [event] = box.events("lib.tag.write.v1")
        assert event["id"] == result["event_id"]
        assert event["data"]["operator"] == "staff-generated"   # the token's name, as an id
        assert event["data"]["verified"] is True

        # The tag holds data now: programming it again is a refusal, not an overwrite.
        status, refused = post(box, "/program", {"barcode": "3000000043"})
        assert (status, refused["error"]["code"]) == (409, "tag_not_blank")
        assert "3000000042" in refused["error"]["message"]
        assert len(box.events("lib.tag.write.v1")) == 1


def test_staff_routes_refuse_other_roles_bad_fields_and_unknown_stations(
        tmp_path: Path) -> None:
    with desk(tmp_path, [blank()]) as box:
        pad(box, 1)
        status, body = post(box, "/program", {"barcode": "3000000042"}, role="kiosk")
        assert (status, body["error"]["code"]) == (403, "forbidden")
        status, body = get_json(f"{box.base}/api/v1/staff", box.token("gate"))
        assert (status, body["error"]["code"]) == (403, "forbidden")

        status, body = post(box, "/program", {"barcode": "3000000042", "uid": "E00401ZZ"})
        assert (status, body["error"]["field"]) == (422, "body.uid")
        status, body = post(box, "/convert", {"uid": "12"})
        assert (status, body["error"]["field"]) == (422, "body.uid")
        status, body = post(box, "/program", {"barcode": "30 42"})  # no id has a space
        assert (status, body["error"]["code"], body["error"]["field"]) == (
            422, "invalid_request", "body.barcode")
        # The station's own refusal names the field as the body's, as validation does.
        status, body = post(box, "/program", {"barcode": "3000000042", "set_part": 1})
        assert (status, body["error"]["code"], body["error"]["field"]) == (
            422, "invalid_request", "body.set_part")
        status, body = post(box, "/program", {"barcode": "3000000042", "set_part": 3,
                                              "set_total": 2})
        assert (status, body["error"]["field"]) == (422, "body.set_part")
        assert "part 3 of 2" in body["error"]["message"]
        status, body = post(box, "/security", {"uid": OTHER_BLANK, "secured": True})
        assert (status, body["error"]["code"], body["error"]["field"]) == (
            404, "not_found", "body.uid")

        status, body = send_json(f"{box.base}/api/v1/staff/nope/program",
                                 {"barcode": "3000000042"}, box.token("staff"))
        assert (status, body["error"]["code"]) == (404, "no_station")
        status, body = get_json(f"{box.base}/api/v1/staff/nope/batch", box.token("admin"))
        assert (status, body["error"]["code"]) == (404, "no_station")
        assert box.events("lib.tag.write.v1") == []
        assert box.events("lib.exception.v1") == []             # refused before any write
        [tag] = pad(box, 1)
        assert tag["model"] == "blank"


# --- convert and security ------------------------------------------------------------------

def test_a_conversion_that_would_lose_data_is_refused_naming_it(tmp_path: Path) -> None:
    uid = "E0040100B1A40003"
    with desk(tmp_path, [{"uid": uid, "memory": BRANCHED_3M, "afi": "DA"}],
              data_model="iso28560-3") as box:
        [legacy] = pad(box, 1)
        assert legacy["model"] == "3m"
        assert any("convert it" in p for p in legacy["health"]["problems"])

        status, refused = post(box, "/convert", {"uid": uid})
        assert (status, refused["error"]["code"]) == (409, "conversion_refused")
        for lost in ("vendor:3m_branch", "vendor:3m_library", "vendor:3m_custom"):
            assert lost in refused["error"]["message"]
        assert box.events("lib.tag.write.v1") == []
        assert pad(box, 1)[0]["model"] == "3m"                  # nothing was written

        status, result = post(box, "/convert", {"uid": uid, "allow_loss": True})
        assert status == 200, result
        assert (result["data_model"], result["converted_from"], result["primary_item_id"],
                result["owner_institution"]) == ("iso28560-3", "3m", "200901010123", OWNER)
        assert set(result["dropped"]) == {"vendor:3m_branch", "vendor:3m_library",
                                          "vendor:3m_custom"}
        assert result["security"]["after"]["secured"] is False  # 3M "unsecured" DA kept
        [event] = box.events("lib.tag.write.v1")
        assert event["data"]["converted_from"] == "3m"
        after = until(lambda: next((t for t in pad(box, 1)
                                    if t["model"] == "iso28560-3"), None),
                      10.0, "the pad to show the converted tag")
        assert after["primary_item_id"] == "200901010123"

        status, change = post(box, "/security", {"uid": uid, "secured": True})
        assert status == 200, change
        assert change["before"]["secured"] is False
        assert change["after"] == {"afi": "07", "eas": None, "secured": True}
        until(lambda: pad(box, 1)[0]["secured"] is True, 5.0, "the tag read as secured")


# --- batch ---------------------------------------------------------------------------------

def test_a_program_batch_reports_its_progress_and_stops(tmp_path: Path) -> None:
    with desk(tmp_path, [blank()]) as box:
        pad(box, 1)
        status, body = post(box, "/batch", {"kind": "secure", "barcodes": ["3000000101"]})
        assert (status, body["error"]["field"]) == (422, "body.barcodes")
        status, body = post(box, "/batch", {"kind": "program",
                                            "barcodes": ["3000000101", "3000000101"]})
        assert (status, body["error"]["field"]) == (422, "body.barcodes[1]")
        assert body["error"]["message"] == ("body.barcodes[1]: barcode 3000000101 is listed "
                                            "twice")
        status, body = get_json(f"{box.base}{STATION}/batch", box.token("staff"))
        assert (status, body["error"]["code"]) == (404, "no_batch")

        status, started = post(box, "/batch", {"kind": "program",
                                               "barcodes": ["3000000101", "3000000102"]})
        assert status == 201, started
        assert (started["kind"], started["state"], started["total"]) == ("program", "running", 2)

        def one_done() -> dict[str, Any] | None:
            _, progress = get_json(f"{box.base}{STATION}/batch", box.token("staff"))
            return progress if progress["done"] == 1 else None
        progress = until(one_done, 10.0, "the first barcode written")
        assert (progress["pending"], progress["next_item"], progress["failed"]) == (
            1, "3000000102", 0)
        assert progress["entries"] == [{"uid": BLANK, "item": "3000000101", "outcome": "done",
                                        "attempts": 1, "message": None}]
        status, body = post(box, "/program", {"barcode": "3000000103"})
        assert (status, body["error"]["code"]) == (409, "batch_active")
        _, stations = get_json(f"{box.base}/api/v1/staff", box.token("staff"))
        assert stations[0]["batch"]["done"] == 1

        status, final = send_json(f"{box.base}{STATION}/batch", None, box.token("staff"),
                                  method="DELETE")
        assert status == 200, final
        assert (final["state"], final["done"], final["pending"]) == ("stopped", 1, 1)
        [event] = box.events("lib.tag.write.v1")
        assert event["data"]["primary_item_id"] == "3000000101"
        status, last = get_json(f"{box.base}{STATION}/batch", box.token("staff"))
        assert (status, last["state"]) == (200, "stopped")


def test_a_box_without_a_self_check_pad_answers_its_exception_queue(tmp_path: Path) -> None:
    # The staff page asks for the queue on any box; a staff station alone has one too (empty).
    with desk(tmp_path, []) as box:
        status, body = get_json(f"{box.base}/api/v1/exceptions", box.token("staff"))
        assert (status, body) == (200, {"exceptions": []})
        status, body = get_json(f"{box.base}/api/v1/exceptions?kiosk=desk", box.token("staff"))
        assert (status, body["error"]["code"]) == (404, "no_kiosk")   # desk is no pad


# --- inventory -----------------------------------------------------------------------------

def test_an_inventory_reports_seen_missing_misplaced_and_unknown(tmp_path: Path) -> None:
    tags = [item_tag(1), item_tag(2), item_tag(4), blank()]
    expected = [
        {"owner_institution": OWNER, "primary_item_id": item_id(1)},
        {"owner_institution": OWNER, "primary_item_id": item_id(3)},
        {"owner_institution": OWNER, "primary_item_id": item_id(4),
         "shelf_location": "Non-fiction 5"},
    ]
    with desk(tmp_path, tags) as box:
        status, body = get_json(f"{box.base}{STATION}/inventory", box.token("staff"))
        assert (status, body["error"]["code"]) == (404, "no_inventory")
        status, body = post(box, "/inventory", {"expected": [{"primary_item_id": " \x1c"}]})
        assert (status, body["error"]["field"]) == (422, "body.expected[0].primary_item_id")

        status, report = post(box, "/inventory", {"location": "Fic A1", "expected": expected})
        assert status == 201, report
        assert (report["location"], report["finished"]) == ("Fic A1", False)
        status, body = post(box, "/inventory", {})
        assert (status, body["error"]["code"]) == (409, "inventory_active")

        def all_read() -> dict[str, Any] | None:
            _, now = get_json(f"{box.base}{STATION}/inventory", box.token("staff"))
            return now if sum(now["counts"][k] for k in ("seen", "unknown")) == 4 else None
        report = until(all_read, 10.0, "every tag counted")
        assert report["counts"] == {"seen": 2, "missing": 1, "misplaced": 1, "unknown": 2}
        assert sorted(i["primary_item_id"] for i in report["seen"]) == [item_id(1), item_id(4)]
        assert report["missing"] == [{"primary_item_id": item_id(3),
                                      "owner_institution": OWNER, "shelf_location": None}]
        [misplaced] = report["misplaced"]
        assert (misplaced["primary_item_id"], misplaced["belongs_at"], misplaced["source"]) == (
            item_id(4), "Non-fiction 5", "expected")
        assert sorted(u["uid"] for u in report["unknown"]) == sorted(
            [BLANK, item_tag(2)["uid"]])                         # blank; not in cache or list
        _, stations = get_json(f"{box.base}/api/v1/staff", box.token("staff"))
        assert stations[0]["inventory"]["counts"] == report["counts"]

        status, final = post(box, "/inventory/finish", None)
        assert status == 200, final
        assert final["finished"] is True
        [event] = box.events("lib.inventory.v1")
        assert final["event_ids"] == [event["id"]]
        assert (event["data"]["seen"], event["data"]["unknown"], event["data"]["location"]) == (
            2, 2, "Fic A1")
        status, body = post(box, "/inventory/finish", None)
        assert (status, body["error"]["code"]) == (409, "session_finished")
        assert json.dumps(get_json(f"{box.base}{STATION}/inventory",
                                   box.token("staff"))[1]) == json.dumps(final)


def test_a_workflows_refusal_names_the_bodys_field_in_its_message_too() -> None:
    """A duplicate barcode said "barcodes[1]: ..." while every other message names the field
    as "body.<field>". Found by a review."""
    cases = [(WorkflowError("invalid_request", "items[1]: barcode 1 is listed twice",
                            status=422, field="items[1]"),
              "body.barcodes[1]", "body.barcodes[1]: barcode 1 is listed twice"),
             (WorkflowError("invalid_request", "expected[0].owner_institution: not an ISIL",
                            status=422, field="expected[0].owner_institution"),
              "body.expected[0].owner_institution",
              "body.expected[0].owner_institution: not an ISIL"),
             (WorkflowError("not_found", "Tag E004010000000001 is not on the pad.", status=404,
                            field="uid"), "body.uid", "Tag E004010000000001 is not on the pad.")]
    for raised, field, message in cases:
        with pytest.raises(WorkflowError) as caught, _fields_of_body():
            raise raised
        assert (caught.value.field, caught.value.message, caught.value.status) == (
            field, message, raised.status)


# --- the operator --------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "operator"), [
    ("staff (generated)", "staff-generated"),
    ("anna", "anna"),
    ("Åse at desk 2", "Ase-at-desk-2"),
    ("  -- (line 3) --", "line-3"),
    ("🙂", None),
    ("x" * 100, "x" * 64),
    ("a" + " " * 62 + "b", "a-b"),
])
def test_the_operator_is_the_token_name_in_the_contracts_id_alphabet(
        name: str, operator: str | None) -> None:
    assert operator_of(Principal("staff", name)) == operator
    try:
        TagWriteData(primary_item_id="1", uid="E004010012345678", data_model="iso28560-2",
                     verified=True, locked_blocks=(), operator=operator)
    except ContractError as exc:  # pragma: no cover - the assertion names it
        pytest.fail(f"{name!r} -> {operator!r} is refused by the contract: {exc}")
    assert operator_of(None) is None
