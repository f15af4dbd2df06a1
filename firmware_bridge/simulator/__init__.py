# SPDX-License-Identifier: Apache-2.0
"""Hardware simulators: one shared virtual ISO/IEC 15693 field, reader front-ends on top.

Contract: the field and its tags speak ``protocols.iso15693`` requests and responses and model
air time; they never import a driver. Time is whatever the caller says it is.

Not responsible for: any reader's wire protocol (front-ends), ptys or serial I/O.
"""

from firmware_bridge.simulator.faults import DEFAULT_COMMANDS, Fault, FaultKind
from firmware_bridge.simulator.field import (
    AddTag,
    AirOutcome,
    AirResult,
    Event,
    InjectFault,
    InventoryRun,
    RemoveTag,
    Reply,
    RfField,
    SetCoupling,
    Slot,
)
from firmware_bridge.simulator.scenario import (
    READER_FAULT_KINDS,
    ReaderFault,
    Scenario,
    ScenarioError,
    load_scenario,
)
from firmware_bridge.simulator.server import FrontEnd, SimulatedReader, WireReply
from firmware_bridge.simulator.tag import (
    DEFAULT_FAMILY_BY_MANUFACTURER,
    EAS_SEQUENCE,
    FAMILIES,
    FAMILY_BY_KEY,
    IsoState,
    TagFamily,
    TagSpec,
    VirtualTag,
)

__all__ = [
    "DEFAULT_COMMANDS",
    "DEFAULT_FAMILY_BY_MANUFACTURER",
    "EAS_SEQUENCE",
    "FAMILIES",
    "FAMILY_BY_KEY",
    "READER_FAULT_KINDS",
    "AddTag",
    "AirOutcome",
    "AirResult",
    "Event",
    "Fault",
    "FaultKind",
    "FrontEnd",
    "InjectFault",
    "InventoryRun",
    "IsoState",
    "ReaderFault",
    "RemoveTag",
    "Reply",
    "RfField",
    "Scenario",
    "ScenarioError",
    "SetCoupling",
    "SimulatedReader",
    "Slot",
    "TagFamily",
    "TagSpec",
    "VirtualTag",
    "WireReply",
    "load_scenario",
]
