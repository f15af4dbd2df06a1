# SPDX-License-Identifier: Apache-2.0
"""PadLoop: work that runs each time a station's field changes, until stopped or done.

A staff batch and a migration campaign both wait for tags to arrive on one reader, take one
look at the pad (process what is due), and wait again. This is that loop:

- ``start()`` listens to the supervisor's field and takes a first look at once (the tags
  already on the pad count as arrived);
- each change of the field wakes it; a look is ``_turn()``, which answers True when the work
  is done; ``_may_go_on()`` is asked before each look;
- ``stop()`` ends it after the tag being processed (a cut write would be a half-done one); a
  subclass's look checks ``_stopping`` between tags; safe to call twice;
- ``_ended()`` runs once when a started loop ends, however it ends (not if ``start()`` was
  never called, nor if the task is cancelled before its first step).

Not responsible for: what is due or how a tag is processed (the subclasses).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from edge_service.devices import DeviceSupervisor, TagInField
from protocols.iso15693 import Uid

__all__ = ["PadLoop"]


class PadLoop:
    """The wake-look-wait loop on one supervisor's field; see the module docstring."""

    def __init__(self, supervisor: DeviceSupervisor, *, task_name: str) -> None:
        self._supervisor = supervisor
        self._task_name = task_name
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._supervisor.add_field_listener(self._on_field)
        self._task = asyncio.create_task(self._run(), name=self._task_name)
        self._wake.set()

    async def stop(self) -> None:
        """End once the tag being processed is done; safe to call twice."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    @property
    def looping(self) -> bool:
        """Whether the loop's task is alive."""
        return self._task is not None and not self._task.done()

    def _on_field(self, _name: str, _field: Mapping[Uid, TagInField]) -> None:
        self._wake.set()

    async def _run(self) -> None:
        try:
            while not self._stopping:
                await self._wake.wait()
                self._wake.clear()
                if self._stopping or not self._may_go_on():
                    break
                if await self._turn():
                    break
        finally:
            self._supervisor.remove_field_listener(self._on_field)
            self._ended()

    def _may_go_on(self) -> bool:
        return True

    async def _turn(self) -> bool:
        """One look at the pad; True when the work is done."""
        raise NotImplementedError

    def _ended(self) -> None:
        """Called once when the loop ends."""
