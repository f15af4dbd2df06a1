# SPDX-License-Identifier: Apache-2.0
"""FEIG OBID/ISC readers (classic-pro CPR, i-scan ISC.MR/LR) over the host protocol.

| operation         | supported    | how                                                         |
|-------------------|--------------|-------------------------------------------------------------|
| info              | yes          | [0x65] Get Software Version, run again after every (re)open |
| inventory         | yes          | [0xB0 01]; status 0x94 pages the rest with MODE.MORE        |
| AFI filter        | yes          | [0xB0 01] MODE.AFI ([UNCERTAIN] bit position, see codec)    |
| read blocks       | yes          | [0xB0 23] addressed, at most 128 data bytes per call        |
| write blocks      | yes          | [0xB0 24] addressed; one block per call if the tag refuses  |
| lock blocks       | yes          | [0xB0 22] addressed; "already locked" only once [0xB0 2C]   |
|                   |              | confirms it                                                 |
| lock status       | yes          | [0xB0 2C] Get multiple block security status                |
| AFI               | yes          | [0xB0 27] write; read back through [0xB0 2B]                |
| DSFID             | yes          | [0xB0 29] write; read back through [0xB0 2B]                |
| EAS               | NXP tags     | [0xB1 04 A2/A3] set/reset; read: addressed [0xB1 04 A5],    |
|                   |              | "off" after ``EAS_OFF_CONFIRMATIONS`` silent alarms         |
| system info       | yes          | [0xB0 2B]; MEM-SIZE minus-one coded [INFERRED]              |
| passwords         | firmware     | [0xB1 04 B2/B3]; an RF reset follows a wrong password       |
| RF reset / on-off | yes          | [0x69] / [0x6A]                                             |
| outputs           | yes          | [0x71]: 1 green LED, 2 red LED, 3 beeper, 4 relay           |
| inputs            | yes          | [0x74] IN1..IN3 levels and change latches, sent once        |
| buffered read     | no           | the codec has [0x22]..[0x33]; no driver method yet          |

"firmware": a :class:`FeigFirmware` method, not part of the common interface.

:class:`FeigFirmware` holds one typed async method per firmware command and owns the port;
:class:`FeigReader` builds the common :class:`~firmware_bridge.reader.Reader` interface on it.

Statuses (reference reader_protocols.md §1.1 status table, §4 fault table):
0x01 no transponder -> :class:`TagNotResponding` in addressed operations, an empty inventory
otherwise; 0x02 air CRC error -> :class:`TagNotResponding` (transient); 0x83 RF communication
error (anticollision not finished) -> :class:`TransientReaderFault`; 0x03 write error ->
:class:`TagWriteFailed` (transient) carrying DB_ADR-E, the block where it stopped (earlier ones
are written); 0x95 ISO error -> :class:`TagRefused` with ``iso_error`` (0x12 locked, 0x10 no such
block, 0x0F wrong password ...), or :class:`TagWriteFailed` for the transient 0x13/0x14; other
statuses -> :class:`ReaderFault`, transient where the codec's table says so.

Serial level: a reply with a bad CRC is dropped by the :class:`~protocols.framing.Reassembler`
(a reader does the same to ours and stays silent); no reply within the per-command timeout
(:func:`~protocols.readers.feig.command_timeout_s`) is :class:`ReaderTimeout`, and idempotent
requests are sent again up to ``EXCHANGE_ATTEMPTS`` times; those that are not ([0x74], which
clears the change latches; SET PASSWORD; a MORE page) are sent once. While the port is down an
exchange waits up to ``RECONNECT_WAIT_S`` for the transport to reopen it; the transport's
``on_open`` hook re-probes the reader with [0x65] after every open (reference §5.1).

Byte order: FEIG sends UIDs and block data "MSB first", each block byte-reversed relative to tag
memory [INFERRED from Biblio-RFID; CPR Annex F is images only]; ``reverse_blocks=False`` turns
the reversal off for a reader that proves otherwise.

Not responsible for: retrying whole operations (the :class:`Reader` verified operations and the
workflows do), reader configuration ([0x80]-[0x83]), or choosing the port.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from firmware_bridge.errors import (
    BridgeError,
    PortUnavailable,
    ReaderTimeout,
    TransientError,
)
from firmware_bridge.reader import (
    Capability,
    HealthCounters,
    InputState,
    OutputPulse,
    Reader,
    ReaderFault,
    ReaderInfo,
    TagNotResponding,
    TagRefused,
    TagSighting,
    TagSystemInfo,
    TransientReaderFault,
    Unsupported,
    block_runs,
)
from firmware_bridge.session import FrameSession
from firmware_bridge.transport import LineSettings, SerialTransport, TransportCounters
from firmware_bridge.wiretap import WireTap
from protocols.errors import FrameError
from protocols.iso15693 import MFG_NXP, Uid
from protocols.readers import feig
from protocols.readers.feig import (
    BROADCAST,
    Failure,
    FeigRequest,
    FeigResponse,
    OutputMode,
    RequestBody,
    ResponseBody,
    Status,
)

logger = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 38400
"""CPR default line: 38400 baud, 8 data bits, even parity, 1 stop bit [CPR §4.2]."""
DEFAULT_PARITY = "E"

TR_RESPONSE_TIME_S = feig.TR_RESPONSE_TIME_S
"""TR-RESPONSE-TIME, "the maximum duration of a transponder command" (CFG1 default 1 s); the
base of every command timeout. Tests patch it down."""
INTER_BYTE_TIMEOUT_S = 0.05
"""A reply whose bytes stop for this long will not complete (a garbage byte read as a long LEN,
a truncated reply); the reader sends a reply in one go, USB-serial adapters add up to 16 ms."""
EXCHANGE_ATTEMPTS = 3
"""Sends of an idempotent request whose reply did not come (lost, garbled, reader rebooting)."""
PROBE_ATTEMPTS = 3
"""[0x65] tries in the on_open hook before the open counts as failed (the transport retries)."""
RECONNECT_WAIT_S = 10.0
"""How long an exchange waits for the transport to reopen an unplugged port (USB re-enumeration
takes a few hundred ms; the transport backs off up to 30 s between attempts)."""
INVENTORY_TIMEOUT_TAGS = feig.MAX_RECORDS_STANDARD_FRAME
"""Tags an inventory timeout allows for: one full standard frame of records."""
UNKNOWN_BLOCK_SIZE = 8
"""Block size assumed to size reads before a tag's is known (8 covers ICODE, ST and TI)."""
MAX_SECURITY_STATUS_BLOCKS = 64
"""[INFERRED] Blocks per [0xB0 2C] call: one status byte each, so the reply stays as short as a
128-byte read's."""
MAX_WRITE_BYTES = feig.MAX_READ_BYTES
"""[INFERRED] Data bytes per [0x24] call: the read cap; a short run keeps a write within
TR-RESPONSE-TIME even at 26 ms per block (TI option-flag writes)."""

# [0x71] outputs, as the Reader interface numbers them.
OUTPUT_GREEN_LED = 1
OUTPUT_RED_LED = 2
OUTPUT_BEEPER = 3
OUTPUT_RELAY = 4
OUTPUT_NAMES = {
    OUTPUT_GREEN_LED: "green",
    OUTPUT_RED_LED: "red",
    OUTPUT_BEEPER: "beeper",
    OUTPUT_RELAY: "relay",
}

# [0x65] SW-TYPE -> model: only values with a source are listed; others print as numbers.
READER_MODELS: dict[int, str] = {
    0x53: "ID CPR40.xx",  # Amarok79 FeigReader test vector "SW-TYPE 53 (=83 CPR40.xx-Cx/-Ax)"
}

# ISO errors that say "this command, not this data": the tag lacks WRITE MULTIPLE BLOCKS.
_MULTI_BLOCK_REFUSALS = frozenset({0x01, 0x02, 0x03})
_ALREADY_LOCKED = 0x11
_SEC_STATUS_LOCKED = 0x01  # ISO 15693 block security status b0: the block is locked
# [0x74] INPUTS: b0..2 IN1..IN3 levels, b4..6 their "changed since last poll" latches [CPR §6.9].
INPUT_LEVEL_BITS = 0b111
INPUT_LATCH_SHIFT = 4
_WRONG_PASSWORD = 0x0F

CAPABILITIES = (
    Capability.INVENTORY
    | Capability.AFI_FILTER
    | Capability.READ
    | Capability.WRITE
    | Capability.LOCK
    | Capability.AFI
    | Capability.EAS
    | Capability.SYSTEM_INFO
    | Capability.RF_CONTROL
    | Capability.OUTPUTS
    | Capability.INPUTS
)

BodyT = TypeVar("BodyT", bound=ResponseBody)


class TagWriteFailed(TransientError):
    """A write or lock stopped at ``block``: blocks before it are done, it and later ones may not
    be (status 0x03, "too far, noise", or ISO error 0x13/0x14). Retrying the whole write is
    safe; the verified write does that."""

    def __init__(
        self,
        reason: str,
        *,
        uid: Uid,
        block: int | None,
        status: int,
        iso_error: int | None = None,
        port: str | None = None,
    ) -> None:
        self.uid = uid
        self.block = block
        self.status = status
        self.iso_error = iso_error
        where = f" at block {block}" if block is not None else ""
        super().__init__(f"tag {uid}: {reason}{where}", port=port)


def _uid_bytes(uid: Uid) -> bytes:
    return uid.msb_first


def _output_time(duration_s: float | None) -> int:
    """OS_TIME / OUT_TIME in 100 ms units: 0xFFFF permanent; 1 ends a permanent output."""
    if duration_s is None:
        return feig.PERMANENT
    if duration_s <= 0:
        return 1  # "To switch off a permanent output, send 1" [CPR §6.8]
    return min(feig.PERMANENT - 1, max(1, math.ceil(duration_s / feig.OUTPUT_TIME_UNIT_S)))


class FeigFirmware:
    """The FEIG firmware command set on one port: one typed async method per command.

    Methods take UIDs as :class:`Uid` and block data in tag memory order, and raise the bridge
    exceptions described in the module docstring. ``com_adr`` 255 reaches any reader.
    """

    def __init__(
        self,
        port: str,
        *,
        com_adr: int = BROADCAST,
        settings: LineSettings,
        health: HealthCounters,
        wire_tap: WireTap | None = None,
        exclusive: bool = True,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        if not 0 <= com_adr <= BROADCAST:
            raise ValueError(f"COM-ADR {com_adr} is not 0..255")
        self.port = port
        self.com_adr = com_adr
        self.settings = settings
        self.health = health
        self.version: feig.SoftwareVersion | None = None
        self.probes = 0
        self.transport = SerialTransport(
            port,
            settings,
            exclusive=exclusive,
            min_frame_gap_s=feig.PSST_S,
            on_open=self._probe,
            on_lost=on_lost,
            wire_tap=wire_tap,
        )
        self.session: FrameSession[FeigRequest, FeigResponse] = FrameSession(
            self.transport,
            encode=FeigRequest.encode,
            decode=feig.decode_response,
            next_header=feig.next_header,
            answers=self._answers,
            health=health,
            inter_byte_timeout_s=INTER_BYTE_TIMEOUT_S,
        )

    # -- plumbing --------------------------------------------------------------------------------

    async def open(self) -> None:
        await self.transport.open()

    async def close(self) -> None:
        await self.transport.close()

    def _answers(self, request: FeigRequest, response: FeigResponse) -> bool:
        if response.command != request.command:
            return False
        return request.com_adr in (BROADCAST, response.com_adr)

    async def _probe(self) -> None:
        """on_open hook: the reader may have reset on the DTR blip or re-enumerated (§5.1)."""
        self.version = await self.call(
            feig.GetSoftwareVersion(),
            feig.SoftwareVersion,
            what="probe [0x65]",
            attempts=PROBE_ATTEMPTS,
            reconnect=False,
        )
        self.probes += 1
        if self.probes > 1:
            self.health.reconnects += 1
        logger.info("%s: FEIG reader SW-REV %04X answers", self.port, self.version.sw_rev)

    def _timeout_s(
        self, request: FeigRequest, tags: int, blocks: int | None, body: RequestBody | None = None
    ) -> float:
        return feig.command_timeout_s(
            request,
            tags=tags,
            blocks=blocks,
            baud=self.settings.baudrate,
            bits_per_char=math.ceil(self.settings.bits_per_char),
            tr_response_time_s=TR_RESPONSE_TIME_S,
            body=body,
        )

    async def _exchange(
        self, request: FeigRequest, timeout_s: float, *, attempts: int, reconnect: bool
    ) -> FeigResponse:
        last: TransientError | None = None
        for attempt in range(max(1, attempts)):
            if attempt:
                self.health.retries += 1
            try:
                return await self.session.exchange(request, timeout_s=timeout_s)
            except ReaderTimeout as exc:
                last = exc
            except PortUnavailable as exc:
                if not reconnect:
                    raise
                last = exc
                await self.transport.wait_open(RECONNECT_WAIT_S)
        assert last is not None
        self.health.last_error = str(last)
        raise last

    async def execute(
        self,
        body: RequestBody,
        *,
        what: str,
        attempts: int = EXCHANGE_ATTEMPTS,
        reconnect: bool = True,
        tags: int = INVENTORY_TIMEOUT_TAGS,
        blocks: int | None = None,
    ) -> ResponseBody | Failure:
        """Send ``body`` and return the typed answer or the :class:`Failure` its status names."""
        request = body.to_request(self.com_adr)
        timeout_s = self._timeout_s(request, tags, blocks, body)
        response = await self._exchange(
            request, timeout_s, attempts=attempts, reconnect=reconnect
        )
        try:
            return feig.decode_response_body(response, request)
        except FrameError as exc:
            self.health.reader_errors += 1
            raise ReaderFault(
                f"{what}: response does not decode ({exc})", status=response.status,
                port=self.port,
            ) from exc

    async def call(
        self,
        body: RequestBody,
        expected: type[BodyT],
        *,
        what: str,
        uid: Uid | None = None,
        attempts: int = EXCHANGE_ATTEMPTS,
        reconnect: bool = True,
        blocks: int | None = None,
    ) -> BodyT:
        """:meth:`execute`, raising the mapped error for a failure status."""
        answer = await self.execute(
            body, what=what, attempts=attempts, reconnect=reconnect, blocks=blocks
        )
        if isinstance(answer, Failure):
            raise self.error(answer, what=what, uid=uid)
        if not isinstance(answer, expected):
            self.health.reader_errors += 1
            raise ReaderFault(f"{what}: unexpected answer {answer!r}", port=self.port)
        return answer

    async def acknowledge(
        self, body: RequestBody, *, what: str, uid: Uid | None = None,
        attempts: int = EXCHANGE_ATTEMPTS, blocks: int | None = None,
    ) -> None:
        await self.call(
            body, feig.Acknowledgement, what=what, uid=uid, attempts=attempts, blocks=blocks
        )

    def error(self, failure: Failure, *, what: str, uid: Uid | None) -> BridgeError:
        """The bridge exception for a failure status (module docstring, reference §4)."""
        health = self.health
        health.reader_errors += 1
        status, port = failure.status, self.port
        text = f"{what}: {failure}"
        error: BridgeError
        if status in (Status.NO_TRANSPONDER, Status.DATA_FALSE) and uid is not None:
            reason = "no transponder" if status == Status.NO_TRANSPONDER else "air CRC error"
            error = TagNotResponding(f"{what}: {reason} (status 0x{status:02X})", uid=uid,
                                     port=port)
        elif uid is not None and (
            status == Status.WRITE_ERROR or (status == Status.ISO15693_ERROR and failure.transient)
        ):
            error = TagWriteFailed(
                text, uid=uid, block=failure.failed_block, status=status,
                iso_error=failure.iso_error, port=port,
            )
        elif status in (Status.ISO15693_ERROR, Status.ADDRESS_ERROR) and uid is not None:
            error = TagRefused(
                text, uid=uid, iso_error=failure.iso_error, block=failure.failed_block, port=port
            )
        elif failure.transient:
            error = TransientReaderFault(text, status=status, port=port)
        else:
            error = ReaderFault(text, status=status, port=port)
        health.last_error = str(error)
        return error

    # -- control commands ------------------------------------------------------------------------

    async def get_software_version(self) -> feig.SoftwareVersion:
        """[0x65] SW-REV, D-REV, HW-TYPE, SW-TYPE, TR-TYPE."""
        return await self.call(
            feig.GetSoftwareVersion(), feig.SoftwareVersion, what="[0x65] software version"
        )

    async def get_reader_info(
        self, mode: int = feig.ReaderInfoMode.GENERAL
    ) -> feig.ReaderInfo:
        """[0x66] reader info; ``.general()`` decodes mode 0 (with RX-BUF and TX-BUF)."""
        return await self.call(
            feig.GetReaderInfo(mode), feig.ReaderInfo, what=f"[0x66] reader info mode {mode:02X}"
        )

    async def baud_rate_detection(self) -> None:
        """[0x52]: answered only when baud rate and parity match."""
        await self.acknowledge(feig.BaudRateDetection(), what="[0x52] baud rate detection")

    async def rf_reset(self) -> None:
        """[0x69] field off for 15 ms: tags unselected, un-quieted, muted ones speak again."""
        await self.acknowledge(feig.RfReset(), what="[0x69] RF reset")

    async def rf_output(self, antennas: int) -> None:
        """[0x6A] RF_OUTPUT: b0 antenna 1, b1 antenna 2, 0 = field off."""
        await self.acknowledge(feig.RfOutput(antennas), what=f"[0x6A] RF output {antennas:02b}")

    async def set_output_cpr(self, command: feig.SetOutputCpr) -> None:
        """[0x71] green/red LED and beeper for OS_TIME, relay for OUT_TIME (100 ms units)."""
        await self.acknowledge(command, what="[0x71] set output")

    async def set_output(self, command: feig.SetOutput) -> None:
        """[0x72] outputs of newer ISC readers ([UNCERTAIN] bit layout, see the codec)."""
        await self.acknowledge(command, what="[0x72] set output")

    async def get_input(self) -> feig.InputState:
        """[0x74] IN1..IN3 levels and changed-since-last-poll latches (cleared by reading).

        Sent once: were the reply lost, a resend would find the latches already cleared.
        """
        return await self.call(
            feig.GetInput(), feig.InputState, what="[0x74] get input", attempts=1
        )

    # -- ISO host commands [0xB0] ----------------------------------------------------------------

    async def inventory(
        self, *, afi: int | None = None, more: bool = False
    ) -> feig.InventoryResult:
        """[0xB0 01] one frame of records; 0x01, 0x83, 0x84, 0x93 and 0x94 come as results.

        A MORE request is sent once only: were its reply lost, a second MORE would skip a page.
        """
        body = feig.Inventory.next_page() if more else feig.Inventory(afi=afi)
        answer = await self.execute(
            body, what="[0xB0 01] inventory", attempts=1 if more else EXCHANGE_ATTEMPTS
        )
        if isinstance(answer, Failure):
            raise self.error(answer, what="[0xB0 01] inventory", uid=None)
        if not isinstance(answer, feig.InventoryResult):
            raise ReaderFault(f"inventory: unexpected answer {answer!r}", port=self.port)
        return answer

    async def read_multiple_blocks(
        self, uid: Uid, first: int, count: int, *, security_status: bool = False
    ) -> feig.ReadBlocksResult:
        """[0xB0 23] addressed; block data stay in wire order (``tag_memory()`` reverses)."""
        body = feig.ReadMultipleBlocks(
            first, count, feig.Addressing.ADDRESSED, _uid_bytes(uid), security_status
        )
        return await self.call(
            body, feig.ReadBlocksResult, what=f"[0xB0 23] read blocks {first}+{count}", uid=uid
        )

    async def write_multiple_blocks(
        self, uid: Uid, first: int, data: bytes, block_size: int, *, reverse: bool = True
    ) -> None:
        """[0xB0 24] addressed; ``data`` in tag memory order, reversed per block if ``reverse``."""
        if reverse:
            body = feig.WriteMultipleBlocks.from_tag_memory(
                first, data, block_size, uid=_uid_bytes(uid)
            )
        else:
            body = feig.WriteMultipleBlocks(
                first, block_size, data, feig.Addressing.ADDRESSED, _uid_bytes(uid)
            )
        count = len(data) // block_size
        await self.acknowledge(
            body, what=f"[0xB0 24] write blocks {first}+{count}", uid=uid, blocks=count
        )

    async def lock_multiple_blocks(self, uid: Uid, first: int, count: int) -> None:
        """[0xB0 22] addressed; a failure names DB_ADR-E."""
        body = feig.LockMultipleBlocks(first, count, feig.Addressing.ADDRESSED, _uid_bytes(uid))
        await self.acknowledge(
            body, what=f"[0xB0 22] lock blocks {first}+{count}", uid=uid, blocks=count
        )

    async def get_multiple_block_security_status(
        self, uid: Uid, first: int, count: int
    ) -> feig.SecurityStatusResult:
        """[0xB0 2C] addressed: one SEC-STATUS byte per block (b0: locked)."""
        body = feig.GetMultipleBlockSecurityStatus(
            first, count, feig.Addressing.ADDRESSED, _uid_bytes(uid)
        )
        return await self.call(
            body, feig.SecurityStatusResult,
            what=f"[0xB0 2C] block security status {first}+{count}", uid=uid,
        )

    async def write_afi(self, uid: Uid, afi: int) -> None:
        """[0xB0 27] addressed."""
        body = feig.WriteAfi.to(_uid_bytes(uid), afi)
        await self.acknowledge(body, what=f"[0xB0 27] write AFI {afi:02X}", uid=uid)

    async def write_dsfid(self, uid: Uid, dsfid: int) -> None:
        """[0xB0 29] addressed."""
        body = feig.WriteDsfid.to(_uid_bytes(uid), dsfid)
        await self.acknowledge(body, what=f"[0xB0 29] write DSFID {dsfid:02X}", uid=uid)

    async def get_system_information(self, uid: Uid) -> feig.SystemInformation:
        """[0xB0 2B] addressed: DSFID, UID, AFI, MEM-SIZE, IC-REF."""
        return await self.call(
            feig.GetSystemInformation.to(_uid_bytes(uid)), feig.SystemInformation,
            what="[0xB0 2B] system information", uid=uid,
        )

    # -- NXP custom commands [0xB1] --------------------------------------------------------------

    async def nxp_set_eas(self, uid: Uid, enabled: bool) -> None:
        """[0xB1 04 A2] SET EAS or [0xB1 04 A3] RESET EAS, addressed."""
        cls = feig.SetEas if enabled else feig.ResetEas
        name = "A2 set" if enabled else "A3 reset"
        await self.acknowledge(cls.to(_uid_bytes(uid)), what=f"[0xB1 04 {name} EAS]", uid=uid)

    async def nxp_eas_alarm(self, uid: Uid | None = None) -> bool:
        """[0xB1 04 A5] EAS ALARM: True when an armed tag (``uid``, or any) answered.

        Status 0x01 is "no armed tag answered": absent and disarmed look the same.
        """
        body = feig.EasAlarm.to(_uid_bytes(uid)) if uid is not None else feig.EasAlarm()
        result = await self.call(
            body, feig.EasAlarmResult, what="[0xB1 04 A5 EAS alarm]", uid=uid
        )
        return result.alarm

    async def nxp_get_random_number(self, uid: Uid) -> int:
        """[0xB1 04 B2] the 16-bit random number SET PASSWORD is masked with."""
        body = feig.GetRandomNumber.to(_uid_bytes(uid))
        result = await self.call(
            body, feig.RandomNumber, what="[0xB1 04 B2 random number]", uid=uid
        )
        return result.random

    async def nxp_set_password(self, uid: Uid, password_id: int, password: bytes) -> None:
        """[0xB1 04 B2] then [0xB1 04 B3] SET PASSWORD (4 bytes, MSB first), addressed.

        Sent once: the tag spends its random number on the first try, so a resent frame would
        be a wrong password. A wrong password mutes an SLIX tag until the field drops, so an RF
        reset [0x69] follows it before :class:`TagRefused` (ISO error 0x0F) is raised (§5.9);
        so it does after any other failure of the command, whose outcome on the tag is unknown.
        """
        try:
            # Back to back: any other command (the daemon's presence inventory) between the
            # two voids the random number, and the tag would refuse even its own password.
            async with self.session.held():
                random = await self.nxp_get_random_number(uid)
                body = feig.SetPassword.masked(
                    password, random, password_id,
                    addressing=feig.Addressing.ADDRESSED, uid=_uid_bytes(uid),
                )
                await self.acknowledge(
                    body, what=f"[0xB1 04 B3 set password {password_id:02X}]", uid=uid,
                    attempts=1)
        except BridgeError as exc:
            if isinstance(exc, TagRefused) and exc.iso_error != _WRONG_PASSWORD:
                raise
            with contextlib.suppress(BridgeError):
                await self.rf_reset()
            raise


class FeigReader(Reader):
    """The common reader interface on a FEIG reader (see the module's capability table)."""

    protocol = "feig"
    capabilities = CAPABILITIES

    def __init__(
        self,
        port: str,
        *,
        com_adr: int = BROADCAST,
        baudrate: int = DEFAULT_BAUDRATE,
        parity: str = DEFAULT_PARITY,
        wire_tap: WireTap | None = None,
        reverse_blocks: bool = True,
        exclusive: bool = True,
    ) -> None:
        super().__init__(port)
        self.reverse_blocks = reverse_blocks
        self.firmware = FeigFirmware(
            port,
            com_adr=com_adr,
            settings=LineSettings(baudrate, 8, parity, 1),
            health=self.health,
            wire_tap=wire_tap,
            exclusive=exclusive,
            on_lost=self._link_lost,
        )
        self._block_sizes: dict[Uid, int] = {}
        self._single_block_writes: set[Uid] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the port and probe with [0x65]; later reopens re-probe by themselves."""
        await self.firmware.open()

    async def close(self) -> None:
        await self.firmware.close()

    def link_counters(self) -> TransportCounters:
        return self.firmware.transport.counters

    # -- primitives -----------------------------------------------------------------------------

    async def info(self) -> ReaderInfo:
        version = self.firmware.version or await self.firmware.get_software_version()
        model = READER_MODELS.get(
            version.sw_type,
            f"FEIG reader HW-TYPE 0x{version.hw_type:02X} SW-TYPE 0x{version.sw_type:02X}",
        )
        firmware = f"{version.sw_rev >> 8:02X}.{version.sw_rev & 0xFF:02X}.{version.d_rev:02X}"
        return ReaderInfo(self.protocol, model, firmware, self.capabilities)

    async def inventory(self, *, afi: int | None = None) -> list[TagSighting]:
        last: ReaderTimeout | None = None
        for attempt in range(EXCHANGE_ATTEMPTS):
            if attempt:
                self.health.retries += 1
            try:
                sightings = await self._inventory_pages(afi)
            except ReaderTimeout as exc:  # a lost MORE page: start the inventory afresh
                last = exc
            else:
                self._inventory_seen(sighting.uid for sighting in sightings)
                return sightings
        assert last is not None
        raise last

    async def _inventory_pages(self, afi: int | None) -> list[TagSighting]:
        result = await self.firmware.inventory(afi=afi)
        records = list(result.records)
        while result.more_data:
            result = await self.firmware.inventory(more=True)
            records += result.records
        if result.status == Status.RF_COMMUNICATION_ERROR:
            raise self.firmware.error(Failure(result.status), what="inventory", uid=None)
        if result.status in (Status.DATA_BUFFER_OVERFLOW, Status.RF_WARNING):
            key = f"inventory_status_{result.status:02x}"
            self.health.extra[key] = self.health.extra.get(key, 0) + 1
        seen: dict[Uid, TagSighting] = {}
        for record in records:
            uid = Uid.from_bytes(record.uid)
            seen.setdefault(uid, TagSighting(uid, dsfid=record.dsfid))
        return list(seen.values())

    async def read_blocks(self, uid: Uid, first: int, count: int) -> bytes:
        if count < 1:
            raise ValueError(f"read of {count} blocks")
        data = bytearray()
        block = first
        while block < first + count:
            per_call = max(1, feig.MAX_READ_BYTES // self._block_sizes.get(uid, UNKNOWN_BLOCK_SIZE))
            n = min(per_call, first + count - block)
            result = await self.firmware.read_multiple_blocks(uid, block, n)
            if len(result.blocks) != n:
                raise ReaderFault(
                    f"tag {uid}: asked for {n} blocks from {block}, got {len(result.blocks)}",
                    port=self.port,
                )
            self._block_sizes[uid] = result.block_size
            if self.reverse_blocks:
                data += result.tag_memory()
            else:
                data += b"".join(item.data for item in result.blocks)
            block += n
        return bytes(data)

    async def write_blocks(self, uid: Uid, first: int, data: bytes, *, block_size: int) -> None:
        if block_size < 1 or not data or len(data) % block_size:
            raise ValueError(f"{len(data)} bytes are not whole blocks of {block_size}")
        per_call = 1 if uid in self._single_block_writes else max(1, MAX_WRITE_BYTES // block_size)
        blocks = len(data) // block_size
        index = 0
        while index < blocks:
            n = min(per_call, blocks - index)
            chunk = data[index * block_size : (index + n) * block_size]
            try:
                await self.firmware.write_multiple_blocks(
                    uid, first + index, chunk, block_size, reverse=self.reverse_blocks
                )
            except TagRefused as exc:
                if n == 1 or exc.iso_error not in _MULTI_BLOCK_REFUSALS:
                    raise
                # The tag has no WRITE MULTIPLE BLOCKS: one block per call from now on.
                logger.info("%s: tag %s refuses multi-block writes; writing singly", self.port, uid)
                self._single_block_writes.add(uid)
                per_call = 1
                continue
            index += n

    async def lock_blocks(self, uid: Uid, blocks: Sequence[int]) -> None:
        for first, last in block_runs(blocks):
            start = first
            while start <= last:
                try:
                    await self.firmware.lock_multiple_blocks(uid, start, last - start + 1)
                except TagRefused as exc:
                    if exc.iso_error != _ALREADY_LOCKED or exc.block is None:
                        raise
                    # A retried lock meets its own earlier success: that block is done, once
                    # its security status says so.
                    if not all(await self.read_lock_status(uid, exc.block, 1)):
                        raise
                    start = exc.block + 1
                else:
                    break

    async def read_lock_status(self, uid: Uid, first: int, count: int) -> tuple[bool, ...]:
        if count < 1:
            raise ValueError(f"lock status of {count} blocks")
        locked: list[bool] = []
        for start in range(first, first + count, MAX_SECURITY_STATUS_BLOCKS):
            n = min(MAX_SECURITY_STATUS_BLOCKS, first + count - start)
            result = await self.firmware.get_multiple_block_security_status(uid, start, n)
            if len(result.security) != n:
                raise ReaderFault(
                    f"tag {uid}: asked the security status of {n} blocks from {start}, got "
                    f"{len(result.security)}", port=self.port,
                )
            locked += (bool(status & _SEC_STATUS_LOCKED) for status in result.security)
        return tuple(locked)

    async def system_info(self, uid: Uid) -> TagSystemInfo:
        info = await self.firmware.get_system_information(uid)
        block_count = block_size = None
        if info.mem_size:
            block_size = (info.mem_size >> 8 & 0x1F) + 1
            block_count = (info.mem_size & 0xFF) + 1
            self._block_sizes[uid] = block_size
        return TagSystemInfo(
            uid=Uid.from_bytes(info.uid),
            dsfid=info.dsfid,
            afi=info.afi,
            block_count=block_count,
            block_size=block_size,
            ic_reference=info.ic_reference,
        )

    async def write_afi(self, uid: Uid, afi: int) -> None:
        await self.firmware.write_afi(uid, afi)
        self._afi_written(uid, afi)

    async def write_dsfid(self, uid: Uid, dsfid: int) -> None:
        await self.firmware.write_dsfid(uid, dsfid)
        self._dsfid_written(uid, dsfid)

    async def set_eas(self, uid: Uid, enabled: bool) -> None:
        _require_nxp(uid, self.protocol)
        await self.firmware.nxp_set_eas(uid, enabled)

    async def read_eas(self, uid: Uid) -> bool:
        _require_nxp(uid, self.protocol)
        # 0x01 means "no armed tag answered": system information checks this one is there.
        return await self._eas_from_alarms(
            lambda: self.firmware.nxp_eas_alarm(uid),
            lambda: self.firmware.get_system_information(uid),
        )

    async def rf_reset(self) -> None:
        await self.firmware.rf_reset()

    async def rf_power(self, on: bool) -> None:
        await self.firmware.rf_output(0b01 if on else 0b00)

    async def set_outputs(self, pulses: Sequence[OutputPulse]) -> None:
        """One [0x71] per pulse: OS_TIME is shared by the emitters of one command."""
        for pulse in pulses:
            if pulse.output not in OUTPUT_NAMES:
                raise Unsupported(
                    f"output {pulse.output}: [0x71] drives 1 green LED, 2 red LED, 3 beeper, "
                    "4 relay", port=self.port,
                )
            time_100ms = _output_time(pulse.duration_s)
            if pulse.output == OUTPUT_RELAY:
                command = feig.SetOutputCpr(out_time_100ms=time_100ms)
            else:
                mode = OutputMode.OFF if pulse.duration_s == 0 else OutputMode.ON
                command = feig.SetOutputCpr(
                    green=mode if pulse.output == OUTPUT_GREEN_LED else OutputMode.UNCHANGED,
                    red=mode if pulse.output == OUTPUT_RED_LED else OutputMode.UNCHANGED,
                    beeper=mode if pulse.output == OUTPUT_BEEPER else OutputMode.UNCHANGED,
                    os_time_100ms=time_100ms,
                )
            await self.firmware.set_output_cpr(command)

    async def get_inputs(self) -> InputState:
        state = await self.firmware.get_input()
        return InputState(
            inputs=state.inputs & INPUT_LEVEL_BITS,
            changed=state.inputs >> INPUT_LATCH_SHIFT & INPUT_LEVEL_BITS,
        )


def _require_nxp(uid: Uid, protocol: str) -> None:
    # The EAS bit is an NXP ICODE custom command; other ICs ignore MFR 04 and stay silent.
    if uid.manufacturer_code != MFG_NXP:
        raise Unsupported(
            f"{protocol}: tag {uid} ({uid.manufacturer or 'unknown maker'}) has no NXP EAS bit"
        )


__all__ = [
    "CAPABILITIES",
    "OUTPUT_BEEPER",
    "OUTPUT_GREEN_LED",
    "OUTPUT_RED_LED",
    "OUTPUT_RELAY",
    "FeigFirmware",
    "FeigReader",
    "TagWriteFailed",
]
