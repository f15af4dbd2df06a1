# SPDX-License-Identifier: Apache-2.0
"""Reader protocol front-ends for the simulator, by protocol name (explicit table, no probing).

How to write one, with its driver: docs/driver-guide.md.
"""

from __future__ import annotations

import importlib

from firmware_bridge.simulator.field import RfField
from firmware_bridge.simulator.server import FrontEnd

FRONT_ENDS: dict[str, str] = {
    "feig": "firmware_bridge.simulator.frontends.feig:FeigFrontEnd",
    "3m": "firmware_bridge.simulator.frontends.d6:D6FrontEnd",
    "trf7970a": "firmware_bridge.simulator.frontends.trf7970a:TrfFrontEnd",
}


def front_end_for(protocol: str, field: RfField) -> FrontEnd:
    """A front-end instance for ``protocol`` ("feig", "3m", "trf7970a")."""
    try:
        module_name, _, class_name = FRONT_ENDS[protocol].partition(":")
    except KeyError:
        raise ValueError(
            f"unknown reader protocol {protocol!r}; known: {', '.join(FRONT_ENDS)}"
        ) from None
    cls: type[FrontEnd] = getattr(importlib.import_module(module_name), class_name)
    return cls(field)


__all__ = ["FRONT_ENDS", "front_end_for"]
