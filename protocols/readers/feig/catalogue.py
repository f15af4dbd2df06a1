# SPDX-License-Identifier: Apache-2.0
"""The FEIG command catalogue as data, and dispatch from frames to typed commands.

One row per command: CMD, [0xB1] manufacturer, ISO sub-command, name, request and response
layouts in the manual's notation, the typed classes, and one line of the spec. Layout notation:
``[X]`` optional, ``X(n)`` n bytes, ``{...} x N`` repeated.

Not responsible for: sending anything, or deciding what a failure means to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from protocols.errors import FrameError
from protocols.readers.feig import blocks, brm, commands, isohost, nxp
from protocols.readers.feig._wire import RequestBody, ResponseBody
from protocols.readers.feig.commands import Acknowledgement
from protocols.readers.feig.framing import FeigRequest, FeigResponse
from protocols.readers.feig.status import Failure

CommandKey = tuple[int, int | None, int | None]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    code: int
    name: str
    request: type[RequestBody]
    response: type[ResponseBody]
    request_layout: str
    response_layout: str
    spec: str

    @property
    def mfr(self) -> int | None:
        return self.request.MFR

    @property
    def sub(self) -> int | None:
        return self.request.SUB

    @property
    def key(self) -> CommandKey:
        return (self.code, self.mfr, self.sub)


_C = CommandSpec
_ACK = Acknowledgement
_ADDR = "MODE [UID(8)]"
CATALOGUE: tuple[CommandSpec, ...] = (
    # --- Buffered read mode (ISC) --------------------------------------------------------------
    _C(0x22, "Read Buffer", brm.ReadBuffer, brm.BufferRecords,
       "DATA-SETS(2)", "TR-DATA1 [TR-DATA2] DATA-SETS(2) {RecLen(2) ...} x DATA-SETS",
       "reads the first available BRM data sets; clear them with [0x32] to reach the next"),
    _C(0x31, "Read Data Buffer Info", brm.ReadDataBufferInfo, brm.BufferInfo,
       "-", "TAB-SIZE(2) TAB-START(2) TAB-LEN(2)", "capacity, start and fill of the BRM table"),
    _C(0x32, "Clear Data Buffer", brm.ClearDataBuffer, _ACK,
       "-", "-", "removes the data sets already read"),
    _C(0x33, "Initialize Buffer", brm.InitializeBuffer, _ACK,
       "-", "-", "restarts buffered read mode"),
    # --- Control -----------------------------------------------------------------------------
    _C(0x52, "Baud Rate Detection", commands.BaudRateDetection, _ACK,
       "00", "-", "answered only if baud rate and parity match"),
    _C(0x63, "CPU Reset", commands.CpuReset, _ACK, "-", "-", "resets the CPU; RF goes off"),
    _C(0x64, "System Reset", commands.SystemReset, _ACK,
       "-", "-", "resets the reader (ISC); a USB reader enumerates anew"),
    _C(0x65, "Get Software Version", commands.GetSoftwareVersion, commands.SoftwareVersion,
       "-", "SW-REV(2) D-REV HW-TYPE SW-TYPE TR-TYPE(2)", "firmware and reader family"),
    _C(0x66, "Get Reader Info", commands.GetReaderInfo, commands.ReaderInfo,
       "MODE", "mode-specific; mode 0: [0x65] fields RX-BUF(2) TX-BUF(2)",
       "reader details, buffer sizes in mode 0"),
    _C(0x69, "RF Reset", commands.RfReset, _ACK,
       "-", "-", "field off for 15 ms; tags unselected and un-quieted"),
    _C(0x6A, "RF Output ON/OFF", commands.RfOutput, _ACK,
       "RF_OUTPUT", "-", "b0 antenna 1, b1 antenna 2, 0 all off"),
    _C(0x71, "Set Output (CPR)", commands.SetOutputCpr, _ACK,
       "OS(2) OSF(2) OS_TIME(2) OUT_TIME(2)", "-", "green/red LED and beeper with times"),
    _C(0x72, "Set Output", commands.SetOutput, _ACK,
       "MODE OUT-N {OUT OUT-STATE OUT-TIME(2)} x OUT-N", "-",
       "digital outputs and relays (newer ISC); bit order uncertain"),
    _C(0x74, "Get Input", commands.GetInput, commands.InputState,
       "-", "INPUTS", "IN1..3 level and changed-since-last-poll latches"),
    _C(0x80, "Read Configuration", commands.ReadConfiguration, commands.ConfigurationBlock,
       "CFG-ADR", "CFG-DATA(14)", "one configuration block from RAM or EEPROM"),
    # --- ISO host commands [0xB0] ------------------------------------------------------------
    _C(0xB0, "Inventory", isohost.Inventory, isohost.InventoryResult,
       "01 MODE [AFI] [NTFC_TIME]", "DATA-SETS {TR-TYPE DSFID UID(8)} x DATA-SETS",
       "UIDs in the field; status 0x94 pages the rest with MODE.MORE"),
    _C(0xB0, "Stay Quiet", isohost.StayQuiet, _ACK, "02 MODE UID(8)", "-", "addressed only"),
    _C(0xB0, "Lock Multiple Blocks", blocks.LockMultipleBlocks, _ACK,
       f"22 {_ADDR} DB_ADR DB-N", "-", "locks blocks; a failure names DB_ADR-E"),
    _C(0xB0, "Read Multiple Blocks", blocks.ReadMultipleBlocks, blocks.ReadBlocksResult,
       f"23 {_ADDR} DB_ADR DB-N", "DB-N DB-SIZE {SEC-STATUS DB(DB-SIZE)} x DB-N",
       "at most 128 data bytes; blocks arrive MSB first (reversed)"),
    _C(0xB0, "Write Multiple Blocks", blocks.WriteMultipleBlocks, _ACK,
       f"24 {_ADDR} DB_ADR DB-N DB-SIZE DB", "-",
       "0x03 DB_ADR-E or 0x95 ISO-ERROR DB_ADR-E on failure"),
    _C(0xB0, "Select", isohost.Select, isohost.SelectResult,
       "25 MODE UID(8)", "[FORMAT CARD_INFO]", "the tag that selected mode addresses"),
    _C(0xB0, "Reset to Ready", isohost.ResetToReady, _ACK, f"26 {_ADDR}", "-", "quiet -> ready"),
    _C(0xB0, "Write AFI", isohost.WriteAfi, _ACK, f"27 {_ADDR} AFI", "-", "writes the AFI"),
    _C(0xB0, "Lock AFI", isohost.LockAfi, _ACK, f"28 {_ADDR}", "-", "locks the AFI for good"),
    _C(0xB0, "Write DSFID", isohost.WriteDsfid, _ACK, f"29 {_ADDR} DSFID", "-", "writes DSFID"),
    _C(0xB0, "Lock DSFID", isohost.LockDsfid, _ACK, f"2A {_ADDR}", "-", "locks DSFID for good"),
    _C(0xB0, "Get System Information", isohost.GetSystemInformation, isohost.SystemInformation,
       f"2B {_ADDR}", "DSFID UID(8) AFI MEM-SIZE(2) IC-REF", "identity and memory size"),
    _C(0xB0, "Get Multiple Block Security Status", blocks.GetMultipleBlockSecurityStatus,
       blocks.SecurityStatusResult, f"2C {_ADDR} DB_ADR DB-N", "DB-N {SEC-STATUS} x DB-N",
       "lock state per block"),
    # --- NXP custom commands [0xB1] ----------------------------------------------------------
    _C(0xB1, "NXP Set EAS", nxp.SetEas, _ACK, f"04 A2 {_ADDR}", "-", "arms EAS"),
    _C(0xB1, "NXP Reset EAS", nxp.ResetEas, _ACK, f"04 A3 {_ADDR}", "-", "disarms EAS"),
    _C(0xB1, "NXP Lock EAS", nxp.LockEas, _ACK, f"04 A4 {_ADDR}", "-", "locks EAS for good"),
    _C(0xB1, "NXP EAS Alarm", nxp.EasAlarm, nxp.EasAlarmResult,
       f"04 A5 {_ADDR}", "- (status 00 alarm, 01 none)", "any armed tag answers"),
    _C(0xB1, "NXP Get Random Number", nxp.GetRandomNumber, nxp.RandomNumber,
       f"04 B2 {_ADDR}", "RANDOM(2)", "16-bit random for SET PASSWORD"),
    _C(0xB1, "NXP Set Password", nxp.SetPassword, _ACK,
       f"04 B3 {_ADDR} PWD-ID XOR-PWD(4)", "-", "a wrong password mutes the tag until RF reset"),
)

COMMANDS: Mapping[CommandKey, CommandSpec] = MappingProxyType(
    {spec.key: spec for spec in CATALOGUE}
)


def key_of(request: FeigRequest) -> CommandKey:
    """Catalogue key of a request: CMD, plus MFR and sub-command where they apply."""
    if request.command == commands.Command.ISO_HOST and request.data:
        return (request.command, None, request.data[0])
    if request.command == commands.Command.CUSTOM and len(request.data) >= 2:
        return (request.command, request.data[0], request.data[1])
    return (request.command, None, None)


def lookup(request: FeigRequest) -> CommandSpec:
    key = key_of(request)
    spec = COMMANDS.get(key)
    if spec is None:
        shown = " ".join(f"{part:02X}" for part in key if part is not None)
        raise FrameError(f"no command [{shown}] in the catalogue", frame=request.encode())
    return spec


def decode_request_body(request: FeigRequest) -> RequestBody:
    """The typed request inside ``request`` (what a simulator acts on)."""
    return lookup(request).request.from_request(request)


def decode_response_body(
    response: FeigResponse, request: FeigRequest
) -> ResponseBody | Failure:
    """The typed answer to ``request``, or the :class:`Failure` its status reports."""
    if response.command != request.command:
        raise FrameError(
            f"response to [0x{response.command:02X}] for a [0x{request.command:02X}] request",
            frame=response.encode(),
        )
    spec = lookup(request)
    if response.status in spec.response.STATUSES:
        return spec.response.from_response(response, request)
    return Failure.from_response(response)
