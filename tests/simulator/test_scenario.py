# SPDX-License-Identifier: Apache-2.0
"""Scenario files: the simple form, timed events, and errors that name the JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.simulator import (
    FAMILY_BY_KEY,
    AirOutcome,
    FaultKind,
    InjectFault,
    ScenarioError,
    load_scenario,
)
from protocols.iso15693 import EasAlarmResponse, Request, Uid
from tests.conftest import H

UID = "E004015012345678"


def test_simplest_form(tmp_path: Path) -> None:
    path = tmp_path / "pad.json"
    path.write_text(json.dumps({"tags": [
        {"uid": UID, "memory": "11 22 33 44 55 66 77 88", "afi": "07", "eas": True, "dsfid": "00"},
    ]}))
    scenario = load_scenario(path)
    spec = scenario.tags[0]
    assert (spec.uid, spec.family, spec.afi, spec.eas) == (Uid.from_text(UID),
                                                           FAMILY_BY_KEY["slix"], 0x07, True)
    rf_field = scenario.field()
    tag = rf_field.tag(spec.uid)
    assert tag.block(1) == H("55 66 77 88")
    assert rf_field.inventory_all(afi=0x07)[0] == (spec.uid,)
    assert isinstance(rf_field.transact(Request.eas_alarm()).response, EasAlarmResponse)


def test_type_and_defaults() -> None:
    scenario = load_scenario({"tags": [{"uid": UID, "type": "slix2", "locked": [0]},
                                       {"uid": "E007000011223344"}]})
    assert scenario.tags[0].family.block_count == 80
    assert scenario.tags[0].locked_blocks == (0,)
    assert scenario.tags[1].family.key == "tagit-plus"


def test_timed_events() -> None:
    other = "E0040150AABBCCDD"
    scenario = load_scenario({
        "tags": [{"uid": UID}],
        "events": [
            {"at": 3.0, "remove": UID},
            {"at": 1.5, "add": {"uid": other}},
            {"at": 2.0, "coupling": {"uid": UID, "value": 0.05}},
            {"at": 0, "fault": {"kind": "no_tag", "uid": other, "count": 1, "until": 9}},
        ],
    })
    assert [event.at for event in scenario.events] == [0, 1.5, 2.0, 3.0]
    fault_event = scenario.events[0]
    assert isinstance(fault_event, InjectFault)
    assert fault_event.fault.kind is FaultKind.NO_TAG
    assert fault_event.fault.end_s == 9
    rf_field = scenario.field()
    assert rf_field.inventory_all()[0] == (Uid.from_text(UID),)
    rf_field.at(1.6)
    request = Request.read_single_block(0, uid=Uid.from_text(other))
    assert rf_field.transact(request).outcome is AirOutcome.NO_REPLY    # the fault, once
    assert rf_field.transact(request).outcome is AirOutcome.REPLY
    rf_field.at(2.5)
    assert rf_field.inventory_all()[0] == (Uid.from_text(other),)      # UID lost power


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"tags": [{"uid": UID}, {"uid": UID}]},
         r"tags\[1\].uid: duplicate of tags\[0\]"),
        ({"tags": [{"uid": UID}, {"uid": "E0040150AABBCCDD"},
                   {"uid": "E0040150AABBCCEE", "memory": "123"}]},
         r"tags\[2\].memory: odd number of hex digits"),
        ({"tags": [{"uid": UID, "memory": "zz"}]}, r"tags\[0\].memory: not hexadecimal"),
        ({"tags": [{"uid": UID, "memory": "00" * 113}]},
         r"tags\[0\].memory: 113 bytes do not fit"),
        ({"tags": [{"uid": "78563412500104E0"}]}, r"tags\[0\].uid: .* does not start with E0"),
        ({"tags": [{"uid": "E00401"}]}, r"tags\[0\].uid: UID .* has 6 hex digits"),
        ({"tags": [{}]}, r"tags\[0\].uid: missing"),
        ({"tags": [{"uid": UID, "afi": "1FF"}]}, r"tags\[0\].afi: .* is not a byte"),
        ({"tags": [{"uid": UID, "eas": "yes"}]}, r"tags\[0\].eas: expected true or false"),
        ({"tags": [{"uid": UID, "type": "mifare"}]}, r"tags\[0\].type: unknown tag type"),
        ({"tags": [{"uid": "E016000011223344"}]}, r"tags\[0\].type: required for manufacturer"),
        ({"tags": [{"uid": UID, "colour": "red"}]}, r"tags\[0\].colour: unknown key"),
        ({"tags": [{"uid": UID, "locked": [28]}]}, r"tags\[0\].locked\[0\]: block 28 beyond"),
        ({"tags": {}}, r"tags: expected a list"),
        ({"events": [{"remove": UID}]}, r"events\[0\].at: missing"),
        ({"events": [{"at": -1, "remove": UID}]}, r"events\[0\].at: -1 is outside"),
        ({"events": [{"at": 1, "remove": UID}]}, r"events\[0\]: no tag E004015012345678"),
        ({"events": [{"at": 1}]}, r"events\[0\]: needs exactly one of"),
        ({"tags": [{"uid": UID}], "events": [{"at": 1, "coupling": {"uid": UID, "value": 2}}]},
         r"events\[0\].coupling.value: 2 is outside"),
        ({"events": [{"at": 1, "fault": {"kind": "gremlins"}}]},
         r"events\[0\].fault.kind: expected one of"),
        ({"events": [{"at": 1, "fault": {"kind": "no_tag", "count": 0}}]},
         r"events\[0\].fault.count: expected an integer >= 1"),
        ({"events": [{"at": 2, "fault": {"kind": "no_tag", "until": 1}}]},
         r"events\[0\].fault.until: 1 is outside"),
    ],
)
def test_bad_scenarios_name_the_json_path(document: Any, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(document)


def test_bad_json_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(ScenarioError, match="not JSON"):
        load_scenario(path)


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]")
    with pytest.raises(ScenarioError, match="expected an object, got list"):
        load_scenario(path)
