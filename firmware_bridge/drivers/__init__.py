# SPDX-License-Identifier: Apache-2.0
"""Reader drivers by protocol name. The daemon opens the configured device with the configured
driver; there is no probing of ports at start-up (nfcpy's most reported problem).

How to write one, with its simulator front-end: docs/driver-guide.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from firmware_bridge.reader import Reader

DRIVERS: dict[str, str] = {
    "feig": "firmware_bridge.drivers.feig:FeigReader",
    "3m": "firmware_bridge.drivers.d6:D6Reader",
    "trf7970a": "firmware_bridge.drivers.trf7970a:TrfReader",
}


def reader_for(protocol: str, port: str, **options: Any) -> Reader:
    """An unopened driver for ``protocol`` on ``port`` (device path or ``socket://host:port``)."""
    try:
        module_name, _, class_name = DRIVERS[protocol].partition(":")
    except KeyError:
        raise ValueError(
            f"unknown reader protocol {protocol!r}; known: {', '.join(DRIVERS)}"
        ) from None
    cls: Callable[..., Reader] = getattr(importlib.import_module(module_name), class_name)
    return cls(port, **options)


__all__ = ["DRIVERS", "reader_for"]
