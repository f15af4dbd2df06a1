# SPDX-License-Identifier: Apache-2.0
"""TI TRF7970A EVM firmware (RFIDGeek boards) on top of the virtual field.

Answers the ASCII host protocol as TI's EVM firmware (host.c, iso15693.c, uart.c; "Firmware
Revision 03") does, reusing :mod:`protocols.readers.trf7970a` to parse requests and print
replies:

    request                        what goes on the wire (echo first, the rest after the air time)
    FF ping                        "TRF7970A EVM \\r\\n" "\\r\\n"
    10 register write              "Register write request.\\r\\n", 100 ms, "\\r\\n"
    12 register read               "Register read request.\\r\\n" "[vv]..\\r\\n" "\\r\\n"
    14 inventory                   "ISO 15693 Inventory request.\\r\\n", then "\\r\\n[UID,RSSI]" per
                                   tag found by the 16-slot anticollision (collided slots recurse
                                   on a 4-bit longer mask, as Iso15693Anticollision), "\\r\\n"
    18 request mode                "Request mode.\\r\\n", then "[resp]" / "[]" / "[z]", "\\r\\n"
    others                         their echo (if any) and the final "\\r\\n"

The tunnelled ISO 15693 frame gets its CRC here (the chip adds it) and goes to
:meth:`RfField.transact_frame`; the answer is printed without CRC. A receive CRC error prints
``[z]`` like a collision: the TRF797x ISR sets the same ``i_reg = 0x02`` for both [READ
trf797x.c]. RF is off and the ISO control register at its power-on value until the host's
register write turns RF on (what the tools send after every open); with RF off every request
times out (``[]``) and an inventory finds nothing. ``print_every_slot`` makes the inventory print
``[,RSSI]`` / ``[z,RSSI]`` for empty and collided slots, as the firmware variants that the node
tools parse do (the reference firmware has those lines commented out).

Not responsible for: serial pacing and reader-level faults (:class:`SimulatedReader`), tag
behaviour and air faults (:class:`RfField`), or anything a driver decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_bridge.simulator.field import AirOutcome, RfField
from firmware_bridge.simulator.server import FrontEnd, WireReply
from firmware_bridge.transport import LineSettings
from protocols.errors import FrameError
from protocols.framing import NeedMoreData
from protocols.iso15693 import InventoryResponse, Request, RequestFlag, Uid, append_crc
from protocols.iso15693.timing import (
    INVENTORY_REPLY_BYTES,
    INVENTORY_REQUEST_BYTES,
    request_time_s,
    slot_time_s,
)
from protocols.readers import trf7970a as trf

# [INFERRED] MSP430 time to parse a request and print the echo.
FIRMWARE_OVERHEAD_S = 0.001
# host.c case 0x10: "McuDelayMillisecond(100)" after a register write.
REGISTER_WRITE_DELAY_S = 0.100
# host.c HostRequestCommand writes 0xFF to the RX no-response wait register (37.76 us steps):
# a request nobody answers is reported after this long.
NO_RESPONSE_WAIT_S = 0xFF * 37.76e-6
# iso15693.c: "McuDelayMillisecond(2)" before every recursive sub-round.
SUBROUND_DELAY_S = 0.002
# iso15693.c: the recursion continues while "new_length < 61".
MAX_MASK_LENGTH = 60
# [INFERRED] Inventory lines completed less than this apart go to the pty as one write: finer
# writes would only cost event-loop wake-ups.
PRINT_MERGE_S = 0.002
# TRF7970A power-on register values [INFERRED from the datasheet defaults]: RF off, ISO
# 15693 high data rate.
POWER_ON_CHIP_STATUS = 0x01
POWER_ON_ISO_CONTROL = 0x02
# ISO control b4..b0 below 8 select ISO 15693 [host.c HostRequestCommand "< 8 ... ISO15693"].
ISO_MODE_MASK = 0x1F
ISO15693_MODES = range(8)
# RSSI register (0x0F) [INFERRED]: b6 oscillator stable, b5..b3 and b2..b0 the two channels'
# levels 0-7; the virtual tag's coupling 0..1 is scaled to the level.
RSSI_OSCILLATOR_OK = 0x40
RSSI_LEVELS = 7


@dataclass(slots=True)
class _Registers:
    values: dict[int, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.values = {
            trf.CHIP_STATUS_CONTROL: POWER_ON_CHIP_STATUS,
            trf.ISO_CONTROL_REGISTER: POWER_ON_ISO_CONTROL,
        }

    @property
    def rf_on(self) -> bool:
        return bool(self.values.get(trf.CHIP_STATUS_CONTROL, 0) & trf.CHIP_STATUS_RF_ON)

    @property
    def iso15693(self) -> bool:
        return (self.values.get(trf.ISO_CONTROL_REGISTER, 0) & ISO_MODE_MASK) in ISO15693_MODES


class TrfFrontEnd(FrontEnd):
    """The EVM firmware's host interface; see the module docstring."""

    protocol = "trf7970a"
    line = LineSettings(115200, 8, "N", 1)

    def __init__(self, field: RfField, *, print_every_slot: bool = False) -> None:
        super().__init__(field)
        self.print_every_slot = print_every_slot
        self.registers = _Registers()
        self._buffer = bytearray()
        self.requests: list[trf.TrfRequest] = []
        self.reboot()

    def reboot(self) -> None:
        self._buffer.clear()
        self.registers.reset()

    def receive(self, data: bytes) -> list[WireReply]:
        self._buffer += data
        replies: list[WireReply] = []
        while self._buffer:
            start = trf.next_request_header(bytes(self._buffer), 0)
            del self._buffer[:start]
            try:
                request, rest = trf.decode_request(bytes(self._buffer))
            except NeedMoreData:
                break
            except FrameError:
                # uart.c waits for the next '0' '1'; drop this character and look again.
                del self._buffer[:1]
                continue
            self._buffer[:] = rest
            self.requests.append(request)
            replies += self._handle(request)
        return replies

    # -- commands ------------------------------------------------------------------------

    def _handle(self, request: trf.TrfRequest) -> list[WireReply]:
        command, params = request.command, request.params
        echo = trf.encode_echo(command, params)
        match command:
            case 0x10:
                self._register_write(params)
                return [WireReply(echo, FIRMWARE_OVERHEAD_S),
                        WireReply(trf.CRLF, REGISTER_WRITE_DELAY_S)]
            case 0x12:
                values = [trf.data_group(bytes([self.registers.values.get(a, 0)]))
                          for a in params]
                return [WireReply(trf.encode_reply(0x12, params, values), FIRMWARE_OVERHEAD_S)]
            case 0x14:
                return self._inventory(echo, params)
            case 0x18:
                return self._request_mode(echo, params)
            case 0x17:
                self.reboot()
            case 0xF2 if params:
                self._power(full=params[0] == 0xFF)
        return [WireReply(echo + trf.CRLF, FIRMWARE_OVERHEAD_S)]

    def _register_write(self, params: bytes) -> None:
        was_on = self.registers.rf_on
        for index in range(0, len(params) - 1, 2):
            self.registers.values[params[index]] = params[index + 1]
        if self.registers.rf_on and not was_on:
            self.field.rf_reset()  # the field comes up: every tag powers up afresh

    def _power(self, *, full: bool) -> None:
        status = self.registers.values.get(trf.CHIP_STATUS_CONTROL, 0)
        half = trf.CHIP_STATUS_RF_ON_HALF_POWER ^ trf.CHIP_STATUS_RF_ON_FULL_POWER
        self.registers.values[trf.CHIP_STATUS_CONTROL] = status & ~half if full else status | half

    @property
    def _air_ready(self) -> bool:
        return self.registers.rf_on and self.registers.iso15693

    def _request_mode(self, echo: bytes, params: bytes) -> list[WireReply]:
        frame = append_crc(params)
        if not self._air_ready:
            group = trf.no_response_group()
            delay = request_time_s(len(frame)) + NO_RESPONSE_WAIT_S
        else:
            result = self.field.transact_frame(frame)
            delay = result.air_time_s
            if result.outcome is AirOutcome.REPLY:
                group = trf.data_group(result.slots[0].frame[:-2])
            elif result.outcome is AirOutcome.NO_REPLY:
                group = trf.no_response_group()
                delay += NO_RESPONSE_WAIT_S
            else:
                group = trf.collision_group()
        return [WireReply(echo, FIRMWARE_OVERHEAD_S),
                WireReply(trf.encode_groups([group]) + trf.CRLF, delay + FIRMWARE_OVERHEAD_S)]

    def _inventory(self, echo: bytes, params: bytes) -> list[WireReply]:
        """Each tag's line goes out at the end of its slot, as the firmware prints it."""
        flags = params[0] if params else trf.FLAG_INVENTORY
        afi = params[2] if flags & trf.FLAG_AFI and len(params) > 2 else None
        slots = 1 if flags & trf.FLAG_ONE_SLOT else 16
        prints: list[tuple[float, trf.TrfGroup]] = []
        if self._air_ready:
            base = RequestFlag(flags & ~(trf.FLAG_AFI | trf.FLAG_ONE_SLOT | trf.FLAG_INVENTORY))
            end = self._round(prints, base, afi, slots=slots, mask_length=0, mask=0, start=0.0)
        else:
            end = request_time_s(INVENTORY_REQUEST_BYTES) + slots * slot_time_s(None)
        pieces = [(at, trf.encode_inventory_slots([group])) for at, group in prints]
        pieces.append((max(end, pieces[-1][0] if pieces else 0.0), trf.CRLF))
        return [WireReply(echo, FIRMWARE_OVERHEAD_S),
                *self._uart_stream(pieces, busy_until=FIRMWARE_OVERHEAD_S + self._line_s(echo))]

    def _line_s(self, text: bytes) -> float:
        return self.line.line_time_s(len(text))

    def _uart_stream(self, pieces: list[tuple[float, bytes]], *, busy_until: float
                     ) -> list[WireReply]:
        """Prints due at ``at`` (seconds after the request) as the UART sends them: each one
        starts when it is due or when the one before has left, whichever is later.

        The pty gets the text line by line: a write ends where a CRLF has just left the UART,
        at that moment. A tag print (CRLF, then ``[UID,RSSI]``) completes the line before it,
        and its own line is completed by the next print; the host can act on a line only once
        its CRLF is in, so this loses no timing, and wire noise between writes falls between
        lines, never inside one. Writes less than PRINT_MERGE_S apart are joined.
        ``busy_until`` is when the echo has left.
        """
        cuts: list[tuple[float, bytes]] = []  # (when its last byte has left, text)
        pending, uart_free = b"", busy_until
        for at, text in pieces:
            start = max(at, uart_free)
            uart_free = start + self._line_s(text)
            done = 0
            while (end := text.find(trf.CRLF, done) + len(trf.CRLF)) >= len(trf.CRLF):
                cuts.append((start + self._line_s(text[:end]), pending + text[done:end]))
                pending, done = b"", end
            pending += text[done:]
        if pending:
            cuts.append((uart_free, pending))
        merged: list[tuple[float, bytes]] = []
        for left_at, text in cuts:
            if merged and left_at - merged[-1][0] <= PRINT_MERGE_S:
                merged[-1] = (left_at, merged[-1][1] + text)
            else:
                merged.append((left_at, text))
        # The server sleeps each reply's delay plus its line time, then writes.
        replies, written_at = [], busy_until
        for left_at, text in merged:
            replies.append(WireReply(text, max(0.0, left_at - self._line_s(text) - written_at)))
            written_at = left_at
        return replies

    def _round(self, prints: list[tuple[float, trf.TrfGroup]], flags: RequestFlag,
               afi: int | None, *, slots: int, mask_length: int, mask: int,
               start: float) -> float:
        """One Iso15693Anticollision call from ``start``: print its slots (with the time each
        slot ends), recurse on the collided ones; returns when the last sub-round ends."""
        request = Request.inventory(afi=afi, slots=slots, mask_length=mask_length, mask=mask,
                                    flags=flags)
        result = self.field.transact(request)
        at = start + request_time_s(len(result.request_frame))
        high_rate = RequestFlag.DATA_RATE in flags  # what the host's flags asked the tags for
        collided: list[int] = []
        for slot in result.slots:
            busy = slot.outcome is not AirOutcome.NO_REPLY
            at += slot_time_s(INVENTORY_REPLY_BYTES if busy else None, high_rate=high_rate)
            if slot.outcome is AirOutcome.REPLY:
                response = slot.replies[0].response
                if isinstance(response, InventoryResponse):
                    group = trf.slot_group(str(response.uid), self._rssi(response.uid))
                    prints.append((at, group))
            elif not busy:
                if self.print_every_slot:
                    prints.append((at, trf.empty_slot_group(RSSI_OSCILLATOR_OK)))
            else:
                collided.append(slot.index)
                if self.print_every_slot:
                    prints.append((at, trf.slot_collision_group(RSSI_OSCILLATOR_OK)))
        end = max(at, start + result.air_time_s)
        if slots == 16 and mask_length + 4 <= MAX_MASK_LENGTH:
            for index in reversed(collided):  # the firmware pops its slot stack from the top
                end = self._round(prints, flags, afi, slots=slots, mask_length=mask_length + 4,
                                  mask=mask | index << mask_length,
                                  start=end + SUBROUND_DELAY_S)
        return end

    def _rssi(self, uid: Uid) -> int:
        level = min(RSSI_LEVELS, round(self.field.tag(uid).coupling * RSSI_LEVELS))
        return RSSI_OSCILLATOR_OK | level << 3 | level
