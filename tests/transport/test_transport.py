# SPDX-License-Identifier: Apache-2.0
"""SerialTransport over a real pty and a real local TCP socket; no mocks on the serial path."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from pathlib import Path

import pytest

from firmware_bridge import transport as transport_module
from firmware_bridge.errors import (
    BridgeError,
    ConfigurationError,
    PortBusy,
    PortClosed,
    PortUnavailable,
    TransientError,
    WriteTimeout,
)
from firmware_bridge.pty import PtyEndpoint, WireFaults
from firmware_bridge.transport import (
    LineSettings,
    SerialTransport,
    TransportState,
    reopen_delay_s,
)
from firmware_bridge.wiretap import TRACE, Direction
from protocols.errors import FrameError
from protocols.framing import NeedMoreData, Reassembler
from tests.conftest import H

# A toy framing for the reassembly test: STX, LEN, payload, XOR of LEN and payload.
STX = 0x02


def toy_encode(payload: bytes) -> bytes:
    check = len(payload)
    for byte in payload:
        check ^= byte
    return bytes([STX, len(payload), *payload, check])


def toy_decode(data: bytes) -> tuple[bytes, bytes]:
    if len(data) < 2 or len(data) < data[1] + 3:
        raise NeedMoreData("toy frame incomplete")
    length = data[1]
    frame = data[: length + 3]
    check = 0
    for byte in frame[1:-1]:
        check ^= byte
    if check != frame[-1]:
        raise FrameError("bad toy checksum", frame=frame)
    return frame[2:-1], data[length + 3 :]


def toy_next_header(data: bytes, start: int) -> int:
    index = data.find(STX, start)
    return len(data) if index < 0 else index


async def read_exactly(port: SerialTransport, count: int, timeout_s: float = 2.0) -> bytes:
    received = bytearray()
    async with asyncio.timeout(timeout_s):
        while len(received) < count:
            received += await port.read(timeout_s)
    return bytes(received)


async def read_from_device(endpoint: PtyEndpoint, count: int, timeout_s: float = 2.0) -> bytes:
    received = bytearray()
    async with asyncio.timeout(timeout_s):
        while len(received) < count:
            received += await endpoint.read(timeout_s)
    return bytes(received)


async def wait_for_state(port: SerialTransport, state: TransportState) -> None:
    async with asyncio.timeout(2.0):
        while port.state is not state:
            await asyncio.sleep(0.005)


# -- round trip, raw bytes -----------------------------------------------------------------


async def test_round_trip_over_pty_is_byte_transparent() -> None:
    every_byte = bytes(range(256))
    async with (
        PtyEndpoint() as endpoint,
        SerialTransport(endpoint.device_path, LineSettings(38400, parity="E")) as port,
    ):
        assert port.state is TransportState.OPEN
        request = H("02 00 07 FF 65 6E 61")  # FEIG [0x65] Get Software Version, CRC as sent
        await port.write(request)
        assert await read_from_device(endpoint, len(request)) == request

        await endpoint.write(every_byte)  # CR, LF, XON/XOFF, ^C, 0xFF: nothing translated
        assert await read_exactly(port, 256) == every_byte
        await port.write(every_byte)
        assert await read_from_device(endpoint, 256) == every_byte

        assert port.counters.bytes_out == len(request) + 256
        assert port.counters.bytes_in == 256
        assert port.counters.opens == 1
        assert port.counters.errors == 0
    assert port.state.value == "closed"


async def test_read_returns_empty_after_max_wait() -> None:
    async with PtyEndpoint() as endpoint, SerialTransport(endpoint.device_path) as port:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await port.read(0.05) == b""
        assert loop.time() - started >= 0.04
        assert await port.read(0) == b""


async def test_concurrent_reads_are_refused() -> None:
    async with PtyEndpoint() as endpoint, SerialTransport(endpoint.device_path) as port:
        first = asyncio.create_task(port.read(1.0))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="concurrent"):
            await port.read(1.0)
        await endpoint.write(b"\x01")
        assert await first == b"\x01"


# -- opening -------------------------------------------------------------------------------


async def test_exclusive_open_refuses_a_second_opener() -> None:
    async with PtyEndpoint() as endpoint, SerialTransport(endpoint.device_path) as first:
        second = SerialTransport(endpoint.device_path)
        with pytest.raises(PortBusy) as caught:
            await second.open()
        assert isinstance(caught.value, TransientError)
        assert caught.value.port == endpoint.device_path
        assert endpoint.device_path in str(caught.value)
        assert "locked by another process" in str(caught.value)
        assert second.state is TransportState.CLOSED
        assert second.counters.open_failures == 1
        await second.close()

        await first.write(b"still mine")
        assert await read_from_device(endpoint, 10) == b"still mine"


async def test_missing_device_is_a_transient_error_naming_the_path(tmp_path: Path) -> None:
    path = str(tmp_path / "no-such-reader")
    port = SerialTransport(path)
    with pytest.raises(PortUnavailable) as caught:
        await port.open()
    assert path in str(caught.value)
    assert "No such file" in str(caught.value)
    with pytest.raises(PortClosed):
        await port.wait_open(0.01)
    await port.close()


async def test_background_open_waits_for_the_device_to_appear(tmp_path: Path) -> None:
    link = tmp_path / "reader0"
    opened: list[str] = []

    async def on_open() -> None:
        opened.append(os.path.realpath(link))

    port = SerialTransport(str(link), on_open=on_open)
    await port.open(keep_trying=True)
    with pytest.raises(PortUnavailable, match="not open after"):
        await port.wait_open(0.05)
    assert port.state is TransportState.DOWN
    assert port.counters.open_failures >= 2
    with pytest.raises(PortUnavailable):
        await port.write(b"x")

    async with PtyEndpoint(link) as endpoint:
        await port.wait_open(2.0)
        assert opened == [endpoint.slave_name]
        assert port.counters.opens == 1
        assert port.counters.reopens == 0
        await port.close()


def test_configuration_errors_are_not_transient() -> None:
    for url in ("rfc2217://host:1", "socket://host", "socket://:4001", "socket://h:1/x", ""):
        with pytest.raises(ConfigurationError) as caught:
            SerialTransport(url)
        assert not isinstance(caught.value, TransientError)
    with pytest.raises(ConfigurationError, match="parity"):
        LineSettings(parity="X")
    with pytest.raises(ConfigurationError, match="stopbits"):
        LineSettings(stopbits=3)
    with pytest.raises(ConfigurationError, match="min_frame_gap_s"):
        SerialTransport("/dev/null", min_frame_gap_s=-1)


def test_line_settings_line_time() -> None:
    feig = LineSettings(38400, parity="E")
    assert feig.bits_per_char == 11
    assert feig.line_time_s(17) == pytest.approx(4.87e-3, rel=1e-2)  # reference §3.2: 4.9 ms


def test_reopen_delay_grows_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(7)
    first = transport_module.REOPEN_FIRST_DELAY_S
    fraction = transport_module.REOPEN_JITTER_FRACTION
    delays = [reopen_delay_s(attempt, rng) for attempt in range(10)]
    assert first * (1 - fraction) <= delays[0] <= first * (1 + fraction)
    assert first * 2 * (1 - fraction) <= delays[1] <= first * 2 * (1 + fraction)
    assert max(delays) <= transport_module.REOPEN_MAX_DELAY_S
    assert reopen_delay_s(10_000, rng) <= transport_module.REOPEN_MAX_DELAY_S
    assert len(set(delays[:3])) == 3


# -- partial frames ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [WireFaults.byte_by_byte(), WireFaults.garbage(seed=5), WireFaults.delayed(delay_s=0.002)],
    ids=lambda faults: faults.name,
)
async def test_partial_reads_reassemble_into_frames(faults: WireFaults) -> None:
    payloads = [b"", b"\x01", bytes(range(40)), b"\x02\x02\x02"]
    reads: list[bytes] = []
    async with (
        PtyEndpoint(faults=faults) as endpoint,
        SerialTransport(endpoint.device_path) as port,
    ):

        async def device() -> None:
            for payload in payloads:
                await endpoint.write(toy_encode(payload))

        sending = asyncio.create_task(device())
        reassembler: Reassembler[bytes] = Reassembler(toy_decode, toy_next_header)
        frames: list[bytes] = []
        async with asyncio.timeout(2.0):
            while len(frames) < len(payloads):
                chunk = await port.read(1.0)
                reads.append(chunk)
                frames += reassembler.feed(chunk)
        await sending
    assert frames == payloads
    if faults.chunk_delay_s:
        # 4-byte chunks 2 ms apart: the 43-byte frame cannot have come in one read
        assert max(len(chunk) for chunk in reads) < 43


# -- the device vanishing --------------------------------------------------------------------


async def test_device_vanishes_and_comes_back_under_its_stable_name(tmp_path: Path) -> None:
    link = tmp_path / "usb-FEIG_ID_ISC.MR102-if00"
    probes: list[str] = []

    async def reprobe() -> None:
        assert port.state is TransportState.PROBING
        probes.append(os.path.realpath(link))
        await port.write(b"\x65")  # the hook may use the port before waiters are released

    port = SerialTransport(str(link), on_open=reprobe)
    async with PtyEndpoint(link) as endpoint:
        await port.open()
        first_slave = endpoint.slave_name
        assert await read_from_device(endpoint, 1) == b"\x65"

        endpoint.vanish()
        with pytest.raises(PortUnavailable) as caught:
            await port.read(1.0)  # EOF on the pty is seen as the device going away
        assert "end of file" in str(caught.value)
        assert port.state is TransportState.DOWN
        with pytest.raises(PortUnavailable, match="not open"):
            await port.write(b"lost")
        await asyncio.sleep(0.05)  # a few reopen attempts fail while the link is absent
        assert port.counters.open_failures >= 1

        endpoint.come_back()
        await port.wait_open(2.0)
        assert probes == [first_slave, endpoint.slave_name]
        assert await read_from_device(endpoint, 1) == b"\x65"
        await endpoint.write(b"back")
        assert await read_exactly(port, 4) == b"back"
        assert port.counters.opens == 2
        assert port.counters.reopens == 1
        assert port.counters.link_losses == 1
        assert port.counters.errors >= 2
        await port.close()


async def test_write_error_on_unplug_schedules_a_reopen(tmp_path: Path) -> None:
    link = tmp_path / "reader0"
    async with PtyEndpoint(link) as endpoint, SerialTransport(str(link)) as port:
        endpoint.vanish()
        with pytest.raises(PortUnavailable) as caught:
            await port.write(b"\x02\x00\x07")  # before the reader callback can see the EOF
        assert "write failed" in str(caught.value)
        assert "Input/output error" in str(caught.value)
        assert port.counters.link_losses == 1
        endpoint.come_back()
        await port.wait_open(2.0)
        await port.write(b"ok")
        assert await read_from_device(endpoint, 2) == b"ok"


async def test_on_lost_hook_hears_of_a_loss_at_once_and_once(tmp_path: Path) -> None:
    link = tmp_path / "reader0"
    lost: list[tuple[str, TransportState]] = []
    async with PtyEndpoint(link) as endpoint:
        port = SerialTransport(str(link))
        port.on_lost = lambda reason: lost.append((reason, port.state))
        async with port:
            endpoint.vanish()
            async with asyncio.timeout(5):
                while not lost:
                    await asyncio.sleep(0.01)
            # Called as the loss is seen, before the reopen; not for failed reopen attempts.
            assert lost[0][1] is TransportState.DOWN
            await asyncio.sleep(0.2)
            assert len(lost) == 1
            endpoint.come_back()
            await port.wait_open(2.0)
            assert len(lost) == 1


async def test_failing_on_open_hook_closes_the_port_and_retries(tmp_path: Path) -> None:
    link = tmp_path / "reader0"
    calls = 0

    async def flaky_probe() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise PortUnavailable("reader still booting", port=str(link))

    async with PtyEndpoint(link) as endpoint:
        port = SerialTransport(str(link), on_open=flaky_probe)
        await port.open()
        endpoint.vanish()
        endpoint.come_back()
        await wait_for_state(port, TransportState.DOWN)
        await port.wait_open(2.0)
        assert calls == 3
        assert port.counters.open_failures >= 1
        assert port.counters.reopens == 1
        await port.close()


async def test_first_open_raises_what_the_hook_raised() -> None:
    async def broken_probe() -> None:
        raise BridgeError("wrong reader model on this port")

    async with PtyEndpoint() as endpoint:
        port = SerialTransport(endpoint.device_path, on_open=broken_probe)
        with pytest.raises(BridgeError, match="wrong reader model"):
            await port.open()
        assert port.state is TransportState.CLOSED
        again = SerialTransport(endpoint.device_path)  # the lock was released
        await again.open()
        await again.close()
        await port.close()


async def test_wedged_reader_gives_write_timeout() -> None:
    async with PtyEndpoint() as endpoint, SerialTransport(endpoint.device_path) as port:
        endpoint.stall()
        request = bytes(256 * 1024)
        with pytest.raises(WriteTimeout) as caught:
            await port.write(request)
        error = caught.value
        assert 0 < error.sent < len(request)
        assert error.request == request
        assert "device stopped accepting bytes" in str(error)
        assert port.counters.write_timeouts == 1
        assert port.counters.bytes_out == error.sent
        assert port.state is TransportState.OPEN  # a timeout is not an unplug
        endpoint.resume()
        assert len(await read_from_device(endpoint, error.sent)) == error.sent


# -- closing ---------------------------------------------------------------------------------


async def test_close_releases_pending_and_later_calls() -> None:
    async with PtyEndpoint() as endpoint:
        port = SerialTransport(endpoint.device_path)
        await port.open()
        pending = asyncio.create_task(port.read(5.0))
        await asyncio.sleep(0)
        await port.close()
        await port.close()
        with pytest.raises(PortClosed):
            await pending
        for call in (port.read(0.0), port.write(b"x"), port.wait_open(), port.open()):
            with pytest.raises(PortClosed):
                await call
        with pytest.raises(PortClosed):
            port.drain_input()
        reopened = SerialTransport(endpoint.device_path)  # the exclusive lock is gone
        await reopened.open()
        await reopened.close()


# -- buffers, gaps, taps -------------------------------------------------------------------


async def test_drain_input_discards_stale_bytes() -> None:
    async with PtyEndpoint() as endpoint, SerialTransport(endpoint.device_path) as port:
        await endpoint.write(b"late answer")
        await asyncio.sleep(0.02)
        assert port.drain_input() == 11
        assert port.counters.drained_bytes == 11
        assert port.drain_input() == 0  # an empty queue reads b"" on a tty: not an unplug
        assert port.state is TransportState.OPEN
        assert port.counters.link_losses == 0
        assert await port.read(0.02) == b""
        await endpoint.write(b"fresh")
        assert await read_exactly(port, 5) == b"fresh"


async def test_unread_bytes_beyond_the_limit_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "MAX_BUFFERED_BYTES", 16)
    async with PtyEndpoint() as endpoint, SerialTransport(endpoint.device_path) as port:
        data = bytes(range(40))
        await endpoint.write(data)
        await asyncio.sleep(0.02)
        port.drain_input()  # pulls everything the kernel holds through the buffer
        assert port.counters.overflow_bytes == 24
        assert port.counters.bytes_in == 40


async def test_min_frame_gap_spaces_writes() -> None:
    gap = 0.03
    async with (
        PtyEndpoint() as endpoint,
        SerialTransport(endpoint.device_path, LineSettings(115200), min_frame_gap_s=gap) as port,
    ):
        loop = asyncio.get_running_loop()
        await asyncio.sleep(gap)  # the gap also runs from the open
        started = loop.time()
        for _ in range(3):
            await port.write(b"\x55")
        assert loop.time() - started >= 2 * gap
        await endpoint.write(b"\xaa")
        await read_exactly(port, 1)
        received_at = loop.time()
        await port.write(b"\x55")
        assert loop.time() - received_at >= gap * 0.9


async def test_wire_tap_and_trace_log_see_every_byte(caplog: pytest.LogCaptureFixture) -> None:
    tapped: list[tuple[Direction, bytes]] = []
    caplog.set_level(TRACE, logger="firmware_bridge.transport")
    async with (
        PtyEndpoint(faults=WireFaults.byte_by_byte()) as endpoint,
        SerialTransport(endpoint.device_path, wire_tap=lambda d, b: tapped.append((d, b))) as port,
    ):
        await port.write(H("02 00 07 FF 65"))
        await endpoint.write(H("02 00 0D 00 65 00"))
        await read_exactly(port, 6)
        await port.write(H("AA"))
        await read_from_device(endpoint, 6)
        port.drain_input()
    tx = b"".join(data for direction, data in tapped if direction is Direction.TX)
    rx = b"".join(data for direction, data in tapped if direction is Direction.RX)
    assert tx == H("02 00 07 FF 65 AA")
    assert rx == H("02 00 0D 00 65 00")
    trace_lines = [r.getMessage() for r in caplog.records if r.levelno == TRACE]
    assert f"{endpoint.device_path} tx 02 00 07 FF 65" in trace_lines


async def test_a_failing_wire_tap_does_not_break_io(caplog: pytest.LogCaptureFixture) -> None:
    def broken_tap(direction: Direction, data: bytes) -> None:
        raise ValueError("disk full")

    async with (
        PtyEndpoint() as endpoint,
        SerialTransport(endpoint.device_path, wire_tap=broken_tap) as port,
    ):
        with caplog.at_level(logging.ERROR):
            await port.write(b"x")
        assert await read_from_device(endpoint, 1) == b"x"
        assert "wire tap failed" in caplog.text


# -- socket:// -------------------------------------------------------------------------------


async def test_socket_url_round_trip_and_reconnect() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def echo_reader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        try:
            while data := await reader.read(100):
                writer.write(data.upper())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(echo_reader, "127.0.0.1", 0)
    host, tcp_port = server.sockets[0].getsockname()[:2]
    opens = 0

    async def on_open() -> None:
        nonlocal opens
        opens += 1

    tapped: list[tuple[Direction, bytes]] = []
    async with server:
        port = SerialTransport(
            f"socket://{host}:{tcp_port}",
            on_open=on_open,
            wire_tap=lambda d, b: tapped.append((d, b)),
        )
        await port.open()
        await port.write(b"inventory")
        assert await read_exactly(port, 9) == b"INVENTORY"

        connections[0].close()  # the LAN reader drops the connection
        with pytest.raises(PortUnavailable, match="closed by peer"):
            await port.read(1.0)
        await port.wait_open(2.0)
        await port.write(b"again")
        assert await read_exactly(port, 5) == b"AGAIN"
        assert opens == 2
        assert port.counters.reopens == 1
        assert port.counters.link_losses == 1
        assert port.counters.bytes_in == port.counters.bytes_out == 14
        assert b"".join(b for d, b in tapped if d is Direction.RX) == b"INVENTORYAGAIN"
        await port.close()
        for writer in connections:
            writer.close()


async def test_socket_url_refused_is_transient() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    tcp_port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    port = SerialTransport(f"socket://127.0.0.1:{tcp_port}")
    with pytest.raises(PortUnavailable, match="cannot connect"):
        await port.open()
    await port.close()


async def test_close_during_first_open_wins() -> None:
    async with PtyEndpoint() as endpoint:
        port = SerialTransport(endpoint.device_path)

        async def slow_probe() -> None:
            await asyncio.sleep(0.05)

        port.on_open = slow_probe
        opening = asyncio.create_task(port.open())
        await asyncio.sleep(0.01)
        await port.close()
        with pytest.raises(PortClosed, match="while opening"):
            await opening
        again = SerialTransport(endpoint.device_path)  # nothing kept the port
        await again.open()
        await again.close()
