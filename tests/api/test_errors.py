# SPDX-License-Identifier: Apache-2.0
"""One error shape for every error, through the real server. Routes that raise a workflow
error, fail validation or crash are added to a real app for these tests: the handlers are the
app's own, whatever route raises."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel

from edge_service.api import ANY_ROLE, require
from edge_service.workflows import WorkflowError
from tests.api.helpers import REMOTE, Served, error_of, make_app, serve

PATRON = "23456000123456"
"""A made-up patron barcode: it must show up in no log line and no 500 body."""


class Item(BaseModel):
    uid: str
    afi: int


class Checkout(BaseModel):
    items: list[Item]


def add_test_routes(app: FastAPI) -> None:
    staff = Depends(require("staff"))

    @app.get("/test/workflow", dependencies=[staff])
    async def workflow() -> None:
        raise WorkflowError("patron_refused", "Your card is blocked; please ask at the desk.",
                            status=409, field="patron")

    @app.get("/test/limit", dependencies=[staff])
    async def limit(limit: Annotated[int, Query(ge=1, le=100)]) -> dict[str, int]:
        return {"limit": limit}

    @app.post("/test/checkout", dependencies=[staff])
    async def checkout(body: Checkout) -> dict[str, int]:
        return {"items": len(body.items)}

    @app.get("/test/crash/{patron}", dependencies=[Depends(require(*ANY_ROLE))])
    async def crash(patron: str) -> None:
        raise RuntimeError(f"database said no for {patron}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    app, _, tokens = make_app(tmp_path_factory.mktemp("errors"))
    add_test_routes(app)
    with serve(app) as server:
        yield server, tokens["admin"]


def post_json(server: Served, path: str, token: str, body: Any) -> tuple[int, bytes]:
    status, _, raw = server.request("POST", path, token=token, body=json.dumps(body).encode(),
                                    headers={"Content-Type": "application/json"})
    return status, raw


def test_unknown_route_is_404(served: tuple[Served, str]) -> None:
    server, token = served
    for path in ("/api/v1/nothing", "/nothing", "/api/v2/devices"):   # "/": the pages
        status, _, body = server.request("GET", path, token=token)
        assert status == 404, path
        error = error_of(body)
        assert error == {"code": "not_found", "field": None,
                         "message": "no endpoint at this path; the API is described at /docs"}


def test_wrong_method_is_405_with_allow(served: tuple[Served, str]) -> None:
    server, token = served
    status, headers, body = server.request("DELETE", "/api/v1/devices", token=token)
    assert status == 405
    assert headers["allow"] == "GET"
    assert error_of(body) == {"code": "method_not_allowed", "field": None,
                              "message": "DELETE is not allowed here; use GET"}


def test_workflow_error_keeps_its_code_status_and_field(served: tuple[Served, str]) -> None:
    server, token = served
    status, _, body = server.request("GET", "/test/workflow", token=token)
    assert status == 409
    assert error_of(body) == {"code": "patron_refused", "field": "patron",
                              "message": "Your card is blocked; please ask at the desk."}


@pytest.mark.parametrize(("query", "field", "message"), [
    ("", "query.limit", "query.limit: Field required"),
    ("?limit=lots", "query.limit",
     "query.limit: Input should be a valid integer, unable to parse string as an integer"),
    ("?limit=0", "query.limit", "query.limit: Input should be greater than or equal to 1"),
])
def test_query_validation_names_the_field(served: tuple[Served, str], query: str,
                                          field: str, message: str) -> None:
    server, token = served
    status, _, body = server.request("GET", "/test/limit" + query, token=token)
    assert status == 422
    assert error_of(body) == {"code": "invalid_request", "field": field, "message": message}


def test_body_validation_names_the_nested_field_and_counts_the_rest(
        served: tuple[Served, str]) -> None:
    server, token = served
    status, body = post_json(server, "/test/checkout", token,
                             {"items": [{"uid": "E004", "afi": 7}, {"uid": PATRON}]})
    assert status == 422
    error = error_of(body)
    assert error["field"] == "body.items[1].afi"
    assert error["message"] == "body.items[1].afi: Field required"

    status, body = post_json(server, "/test/checkout", token,
                             {"items": [{"afi": "x"}, {}]})
    error = error_of(body)
    assert error["field"] == "body.items[0].uid"
    assert error["message"].endswith("(and 3 more problems)")
    assert PATRON not in body.decode()

    status, _, raw = server.request("POST", "/test/checkout", token=token, body=b"{not json",
                                    headers={"Content-Type": "application/json"})
    assert status == 422
    assert error_of(raw) == {"code": "invalid_request", "field": "body", "message":
                             "body: not valid JSON (Expecting property name enclosed in double "
                             "quotes) at character 1"}
    assert post_json(server, "/test/checkout", token, {"items": []})[0] == 200


def test_auth_comes_before_validation(served: tuple[Served, str]) -> None:
    server, _ = served
    status, _, body = server.request("GET", "/test/limit?limit=x", headers=REMOTE)
    assert status == 401
    assert error_of(body)["code"] == "unauthorized"


def test_crash_is_a_generic_500_with_a_reference_in_the_log(
        served: tuple[Served, str], caplog: pytest.LogCaptureFixture) -> None:
    server, token = served
    with caplog.at_level(logging.ERROR, logger="edge_service.api.errors"):
        status, _, body = server.request("GET", f"/test/crash/{PATRON}", token=token)
    assert status == 500
    error = error_of(body)
    assert error["code"] == "internal_error"
    assert error["field"] is None
    assert "database" not in error["message"]
    assert PATRON not in body.decode()
    reference = error["message"].split("reference ")[1].split(")")[0]
    assert len(reference) == 8
    records = [r for r in caplog.records if reference in r.getMessage()]
    assert len(records) == 1
    assert records[0].getMessage() == (
        f"api: unhandled error in GET /test/crash/{{patron}} (reference {reference})")
    assert records[0].exc_info is not None   # the traceback is in the log, not the answer
    assert all(PATRON not in r.getMessage() for r in caplog.records)
    # The server lives on.
    assert server.request("GET", "/api/v1/devices", token=token)[0] == 200


HEALTH_503 = ("/api/v1/health", "503")
"""The one error status whose body is not an error: health says why it is unhealthy."""


def test_error_responses_are_declared_with_the_error_schema(tmp_path: Path) -> None:
    app, _, _ = make_app(tmp_path)
    document = app.openapi()
    reference = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            declared = operation["responses"]
            assert "500" in declared, (method, path)
            for status, response in declared.items():
                if not status.startswith(("4", "5")) or (path, status) == HEALTH_503:
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == reference, (method, path, status)
    schema = document["components"]["schemas"]["ErrorBody"]
    assert schema["required"] == ["code", "message"]
    assert set(schema["properties"]) == {"code", "message", "field"}


def test_a_route_that_declares_no_422_is_still_documented_in_the_error_shape(
        tmp_path: Path) -> None:
    app, _, _ = make_app(tmp_path)
    add_test_routes(app)   # /test/limit and /test/checkout declare no 422 of their own
    document = app.openapi()
    for path in ("/test/limit", "/test/checkout"):
        operation = next(iter(document["paths"][path].values()))
        schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, path
    assert "HTTPValidationError" not in json.dumps(document)
    assert app.openapi() == document   # idempotent


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/staff/desk/inventory", {"location": "shelf\x00"}, "body.location"),
    ("/api/v1/staff/desk/inventory",
     {"expected": [{"primary_item_id": "1", "shelf_location": "a\nb"}]},
     "body.expected[0].shelf_location"),
    ("/api/v1/staff/desk/campaigns", {"name": "x\x1b[2J", "source_models": ["3m"]},
     "body.name"),
    ("/api/v1/staff/desk/acquisitions/deliveries", {"orders": ["PO\x00"]}, "body.orders[0]"),
])
def test_control_characters_in_staff_text_are_refused_naming_the_field(
        served: tuple[Served, str], path: str, body: Any, field: str) -> None:
    """They were accepted (201) and would have failed the contract later, in an event far
    from the request. Found by a review."""
    server, token = served
    status, raw = post_json(server, path, token, body)
    assert status == 422, raw
    assert error_of(raw)["field"] == field


@pytest.mark.parametrize("raw", [b'{"items": "\xff\xfe"}', b'{"a":' * 5000 + b"1" + b"}" * 5000])
def test_a_body_that_cannot_be_decoded_is_named(served: tuple[Served, str], raw: bytes) -> None:
    """FastAPI answered a bare 400 'There was an error parsing the body'. Found by a review."""
    server, token = served
    status, _, body = server.request("POST", "/test/checkout", token=token, body=raw,
                                     headers={"Content-Type": "application/json"})
    assert status == 422
    assert error_of(body) == {"code": "invalid_request", "field": "body", "message":
                              "body: not valid JSON (not UTF-8 text, or nested too deeply)"}


STAFF = "/api/v1/staff/desk"


@pytest.mark.parametrize(("path", "body", "field"), [
    (f"{STAFF}/program", {"barcode": "5012345691", "overwrite": "yes"}, "body.overwrite"),
    (f"{STAFF}/program", {"barcode": "5012345691", "secured": "off"}, "body.secured"),
    (f"{STAFF}/program", {"barcode": "5012345691", "overwrite": 1}, "body.overwrite"),
    (f"{STAFF}/convert", {"uid": "E004010000000001", "allow_loss": "true"}, "body.allow_loss"),
    (f"{STAFF}/security", {"uid": "E004010000000001", "secured": "no"}, "body.secured"),
    (f"{STAFF}/security", {"uid": "E004010000000001", "secured": 0}, "body.secured"),
    (f"{STAFF}/batch", {"kind": "secure", "secured": "off"}, "body.secured"),
    (f"{STAFF}/acquisitions/deliveries", {"accept_on_arrival": "on"},
     "body.accept_on_arrival"),
    (f"{STAFF}/ill/receive", {"secured": "false"}, "body.secured"),
    (f"{STAFF}/campaigns", {"name": "c", "source_models": ["3m"], "allow_loss": "1"},
     "body.allow_loss"),
    (f"{STAFF}/campaigns/c1/run", {"check_passwords": "no"}, "body.check_passwords"),
])
def test_booleans_in_request_bodies_are_json_true_or_false_only(
        served: tuple[Served, str], path: str, body: Any, field: str) -> None:
    """"overwrite": "yes" was taken as true (pydantic's lax mode), and "secured": "off" as
    false: one permanently overwrote and locked a tag. Found by a review."""
    server, token = served
    status, raw = post_json(server, path, token, body)
    assert status == 422, raw
    error = error_of(raw)
    assert (error["code"], error["field"]) == ("invalid_request", field)
    assert error["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(("entry", "field"), [
    ({"primary_item_id": "50123\x0145606"}, "body.expected[0].primary_item_id"),
    ({"primary_item_id": "5012 345606"}, "body.expected[0].primary_item_id"),
    ({"primary_item_id": "5012345606", "owner_institution": "bad isil!"},
     "body.expected[0].owner_institution"),
    ({"primary_item_id": "5012345606", "owner_institution": "DK718500"},
     "body.expected[0].owner_institution"),
])
def test_an_inventory_expected_entry_is_checked_as_a_program_input_is(
        served: tuple[Served, str], entry: dict[str, str], field: str) -> None:
    """Control characters in an item id and any text as an owner were accepted, while a
    program's barcode and a shelf location refuse them. Found by a review."""
    server, token = served
    status, raw = post_json(server, f"{STAFF}/inventory", token,
                            {"location": "Fic A1", "expected": [entry]})
    assert status == 422, raw
    assert error_of(raw)["field"] == field


ISIL_REFUSED = "not an ISIL (a prefix, a hyphen, then up to 11 characters: DK-718500)"


@pytest.mark.parametrize(("path", "body", "field"), [
    (f"{STAFF}/inventory", {"expected": [{"primary_item_id": "1", "owner_institution": owner}]},
     "body.expected[0].owner_institution") for owner in ("DK718500", "bad isil!")
] + [
    (f"{STAFF}/ill/receive", {"owner_institution": owner}, "body.owner_institution")
    for owner in ("DK718500", "718500", "", "DK-", "DK-7185001234567")
] + [
    ("/api/v1/sessions/s1/renew", {"primary_item_id": "1", "owner_institution": owner},
     "body.owner_institution") for owner in ("DK718500", "718500", "DK-")
])
def test_an_owner_isil_is_checked_and_refused_in_one_way_everywhere(
        served: tuple[Served, str], path: str, body: Any, field: str) -> None:
    """An ILL receipt and a kiosk renewal took any of ``A-Z a-z 0-9 : / -`` as an owner
    (``DK718500``, ``718500``) where an inventory list and the configuration want an ISIL;
    and an inventory list's refusal quoted a regular expression. Found by a review."""
    server, token = served
    status, raw = post_json(server, path, token, body)
    assert status == 422, raw
    assert error_of(raw) == {"code": "invalid_request", "field": field,
                             "message": f"{field}: {ISIL_REFUSED}"}
