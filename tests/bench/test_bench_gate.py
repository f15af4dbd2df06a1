# SPDX-License-Identifier: Apache-2.0
"""bench/gate.py measures from the wire tap: its pairing of an alarm command with the inventory
response that caused it, on real FEIG frames built by the codec. Failable: a pairing that took
the wrong response, the second [0x71] of an alarm, or a response without the tag would give
other numbers than these."""

from __future__ import annotations

from bench.gate import WireLog, uid_text
from firmware_bridge import Direction
from protocols.readers import feig
from protocols.readers.feig import BROADCAST, InventoryRecord, InventoryResult, OutputMode


def _inventory_request() -> bytes:
    return feig.Inventory(afi=0x07).to_request(BROADCAST).encode()


def _inventory_response(*numbers: int) -> bytes:
    records = tuple(InventoryRecord(bytes.fromhex(uid_text(n))) for n in numbers)
    return InventoryResult(records).to_response(0).encode()


def _set_output(*, red: OutputMode = OutputMode.UNCHANGED,
                beeper: OutputMode = OutputMode.UNCHANGED) -> bytes:
    command = feig.SetOutputCpr(red=red, beeper=beeper, os_time_100ms=30)
    return command.to_request(BROADCAST).encode()


def test_an_alarm_is_timed_from_the_response_that_carried_its_tag() -> None:
    log = WireLog()
    response = _inventory_response(7)
    log.chunks += [
        (0.000, Direction.TX, _inventory_request()),
        (0.010, Direction.RX, _inventory_response()),            # empty field
        (0.100, Direction.TX, _inventory_request()),
        (0.110, Direction.RX, response[:5]),                     # the response in two reads
        (0.112, Direction.RX, response[5:]),
        (0.1135, Direction.TX, _set_output(red=OutputMode.ON)),  # the alarm: 1.5 ms
        (0.120, Direction.RX, b"\x05\x00\x71\x00\x00"),
        (0.125, Direction.TX, _set_output(beeper=OutputMode.ON)),  # same alarm, not counted
        (0.130, Direction.RX, b"\x05\x00\x71\x00\x00"),
        (0.200, Direction.TX, _inventory_request()),
        (0.210, Direction.RX, _inventory_response(8)),           # another tag ...
        (0.212, Direction.TX, _set_output(red=OutputMode.ON)),   # ... not one we walk
    ]
    latencies, unmatched = log.alarm_latencies({bytes.fromhex(uid_text(7)): 7})
    assert [round(s * 1000, 3) for s in latencies] == [1.5]
    assert unmatched == 1
