# SPDX-License-Identifier: Apache-2.0
"""Real parts for the workflow tests: a simulated reader served on a real pty, the daemon's own
DeviceSupervisor polling it through the real driver, and a real SQLite store.

    async with pad_rig(tmp_path, [tag(1), tag(2)]) as rig:
        await rig.wait_field(2)            # the supervisor has read both tags
        rig.put(tag(3)); rig.take(uid)     # the patron moves items on the pad

Tags are ISO 28560-2 images encoded with the project's codec (``item_tag``), so the supervisor
decodes them as it would a real library's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from edge_service.config import ReaderConfig
from edge_service.devices import DeviceSupervisor, TagInField
from edge_service.health import Liveness
from edge_service.store import Store, StoreConfig
from firmware_bridge import transport
from firmware_bridge.drivers import feig as feig_driver
from firmware_bridge.pty import PtyEndpoint
from firmware_bridge.simulator import RfField, load_scenario
from firmware_bridge.simulator.frontends import front_end_for
from firmware_bridge.simulator.server import SimulatedReader
from protocols.iso15693 import Uid
from protocols.iso28560 import LibraryTag, TagModel, encode_tag

T = TypeVar("T")

OWNER = "DK-718500"
FOREIGN = "DE-705"
MEMORY_BYTES = 28 * 4   # an NXP SLIX: 28 blocks of 4 bytes


def item_id(number: int) -> str:
    return f"3{number:09d}"


def uid_of(number: int, part: int = 1) -> Uid:
    return Uid.from_text(f"E00401{part:02X}{number:08X}")


def item_tag(number: int, *, owner: str = OWNER, afi: int = 0x07, part: int | None = None,
             total: int | None = None, eas: bool = False, usage: int | None = 0x10,
             ) -> dict[str, Any]:
    """A scenario tag holding item ``number`` (ISO 28560-2) in the given security state."""
    library_tag = LibraryTag(TagModel.PART2, primary_item_id=item_id(number),
                             owner_institution=owner, set_part=part, set_total=total,
                             type_of_usage=usage)
    image = encode_tag(library_tag, size=MEMORY_BYTES).image
    assert image is not None
    return {"uid": str(uid_of(number, part or 1)), "memory": image.memory.hex(),
            "afi": f"{afi:02X}", "dsfid": f"{image.dsfid or 0:02X}", "eas": eas}


def catalog_uid(barcode: str, part: int = 1) -> Uid:
    return Uid.from_text(f"E00401{part:02X}{int(barcode) % 2**32:08X}")


def catalog_tag(barcode: str, *, owner: str = OWNER, afi: int = 0x07, part: int | None = None,
                total: int | None = None, usage: int | None = 0x10) -> dict[str, Any]:
    """A scenario tag holding the ILS barcode ``barcode`` (ISO 28560-2), e.g. an item of the
    ILS simulator's sample catalogue."""
    library_tag = LibraryTag(TagModel.PART2, primary_item_id=barcode, owner_institution=owner,
                             set_part=part, set_total=total, type_of_usage=usage)
    image = encode_tag(library_tag, size=MEMORY_BYTES).image
    assert image is not None
    return {"uid": str(catalog_uid(barcode, part or 1)), "memory": image.memory.hex(),
            "afi": f"{afi:02X}", "dsfid": f"{image.dsfid or 0:02X}"}


@dataclass
class Rig:
    store: Store
    supervisor: DeviceSupervisor
    simulator: SimulatedReader
    field: RfField
    endpoint: PtyEndpoint

    def put(self, *tags: Mapping[str, Any]) -> None:
        """Tags placed on the pad (they answer from the next inventory)."""
        for tag in load_scenario({"tags": list(tags)}).field(seed=1).present:
            self.field.add(tag)

    def take(self, *uids: Uid) -> None:
        for uid in uids:
            self.field.remove(uid)

    def tag_afi(self, uid: Uid) -> int:
        return self.field.tag(uid).afi

    async def wait_field(self, count: int, *, read: bool = True, timeout_s: float = 5.0
                         ) -> Mapping[Uid, TagInField]:
        """Wait until the supervisor sees ``count`` tags (all read, unless ``read=False``)."""
        return await wait_for(
            lambda: self.supervisor.field if len(self.supervisor.field) == count and (
                not read or all(t.read for t in self.supervisor.field.values())) else None,
            timeout_s, f"{count} tags in the field")


async def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


def fast_timers(monkeypatch: Any) -> None:
    """Quick driver timeouts and reopen; the simulator answers in milliseconds."""
    monkeypatch.setattr(feig_driver, "TR_RESPONSE_TIME_S", 0.3)
    monkeypatch.setattr(transport, "REOPEN_FIRST_DELAY_S", 0.01)
    monkeypatch.setattr(transport, "REOPEN_MAX_DELAY_S", 0.05)


@contextlib.asynccontextmanager
async def pad_rig(tmp_path: Path, tags: Sequence[Mapping[str, Any]] = (), *,
                  role: str = "pad", protocol: str = "feig", name: str = "pad",
                  poll_interval_ms: int = 50, store: Store | None = None,
                  inventory_afi: int | None = None) -> AsyncIterator[Rig]:
    field = load_scenario({"tags": list(tags)}).field(seed=1) if tags else RfField()
    own_store = store is None
    if store is None:
        store = await Store.open(StoreConfig(tmp_path / "libedge.sqlite", max_delay_s=0.005))
    async with PtyEndpoint(tmp_path / f"usb-{name}-if00") as endpoint:
        simulator = SimulatedReader(front_end_for(protocol, field), endpoint)
        serving = asyncio.create_task(simulator.serve())
        config = ReaderConfig(name=name, protocol=protocol, port=str(endpoint.device_path),
                              role=role, poll_interval_ms=poll_interval_ms)
        supervisor = DeviceSupervisor(config, store, Liveness(30.0),
                                      inventory_afi=inventory_afi)
        supervisor.start()
        try:
            await wait_for(lambda: supervisor.reader is not None and supervisor.state
                           == "connected", 5.0, "the reader to connect")
            yield Rig(store, supervisor, simulator, field, endpoint)
        finally:
            await supervisor.stop()
            simulator.stop()
            await serving
            if own_store:
                await store.close()
