# SPDX-License-Identifier: Apache-2.0
"""A simulator with the sample catalogue on 127.0.0.1 and a client profile that logs in to it."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_service.ils import IlsSimulator, SimFaults, Sip2Client, Sip2Profile, load_simulator_data

SAMPLE = Path(__file__).parents[2] / "edge_service" / "ils" / "sample_catalog.json"
NOW = datetime(2024, 5, 1, 10, 30, 0)  # noqa: DTZ001 - SIP2 local time
SOREN, ZOE, KAREN, HC = "2000000001", "2000000002", "2000000003", "2000000004"
PINS = {SOREN: "9431", ZOE: "8642", KAREN: "7531", HC: "6420"}
BOOK = "5012345601"
SET_ITEM = "5012345622"
NOT_FOR_LOAN = "5012345623"
ON_HOLD_FOR_ZOE = "5012345624"
ON_HOLD_FOR_SOREN_AT_EAST = "5012345625"
EAST_ITEM = "5012345626"
FOREIGN_ITEM = "7750000001"
LOANED_TO_HC = "5012345618"


def clock() -> datetime:
    return NOW


def profile_for(sim: IlsSimulator, **changes: Any) -> Sip2Profile:
    base = Sip2Profile(host="127.0.0.1", port=sim.port, name="sim", login_user="kiosk1",
                       login_password="kiosk1-secret", location_code="MAIN",
                       institution_id="DK-718500", timeout_s=2.0, heartbeat_s=0)
    return dataclasses.replace(base, **changes)


@contextlib.asynccontextmanager
async def simulator(faults: SimFaults | None = None, **settings: Any
                    ) -> AsyncIterator[IlsSimulator]:
    data = load_simulator_data(SAMPLE)
    if settings:
        data.settings = dataclasses.replace(data.settings, **settings)
    async with IlsSimulator(data, faults=faults, clock=clock) as sim:
        yield sim


@contextlib.asynccontextmanager
async def connected(faults: SimFaults | None = None, settings: dict[str, Any] | None = None,
                    **profile: Any) -> AsyncIterator[tuple[IlsSimulator, Sip2Client]]:
    async with (simulator(faults, **(settings or {})) as sim,
                Sip2Client(profile_for(sim, **profile), clock=clock) as client):
        yield sim, client
