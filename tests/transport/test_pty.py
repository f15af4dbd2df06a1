# SPDX-License-Identifier: Apache-2.0
"""PtyEndpoint and WireFaults: a real pty, and hostile wires that do exactly what they promise."""

from __future__ import annotations

import asyncio
import os
import termios
from pathlib import Path

import pytest

from firmware_bridge.errors import ConfigurationError, PortClosed
from firmware_bridge.pty import PtyEndpoint, WireFaults
from firmware_bridge.transport import SerialTransport
from firmware_bridge.wiretap import Direction

MESSAGES = [bytes(range(i, i + 20)) for i in range(0, 200, 20)]


def is_subsequence(short: bytes, long: bytes) -> bool:
    remaining = iter(long)
    return all(byte in remaining for byte in short)


# -- WireShaper: pure and seeded -------------------------------------------------------------


def test_same_seed_shapes_identically() -> None:
    for faults in (*WireFaults.matrix(), WireFaults(max_chunk_bytes=3, drop_probability=0.1)):
        first, second = faults.shaper(), faults.shaper()
        assert [first.shape(m) for m in MESSAGES] == [second.shape(m) for m in MESSAGES]


def test_perfect_wire_passes_each_write_as_one_chunk() -> None:
    shaper = WireFaults.perfect().shaper()
    assert [shaper.shape(m) for m in MESSAGES] == [[m] for m in MESSAGES]
    assert shaper.shape(b"") == []


def test_byte_by_byte_splits_every_byte() -> None:
    shaper = WireFaults.byte_by_byte().shaper()
    for message in MESSAGES:
        chunks = shaper.shape(message)
        assert all(len(chunk) == 1 for chunk in chunks)
        assert b"".join(chunks) == message


def test_garbage_goes_between_writes_only() -> None:
    faults = WireFaults.garbage(max_bytes=5, seed=3)
    shaper = faults.shaper()
    assert shaper.shape(MESSAGES[0]) == [MESSAGES[0]]  # nothing before the first write
    total_noise = 0
    for message in MESSAGES[1:]:
        (chunk,) = shaper.shape(message)
        noise = len(chunk) - len(message)
        assert 1 <= noise <= 5
        assert chunk.endswith(message)
        total_noise += noise
    assert shaper.garbage_bytes == total_noise


def test_lossy_drops_bytes_at_the_promised_rate() -> None:
    shaper = WireFaults.lossy(probability=0.1, seed=9).shaper()
    data = bytes(range(256)) * 40
    (kept,) = shaper.shape(data)
    assert is_subsequence(kept, data)
    assert shaper.dropped_bytes == len(data) - len(kept)
    assert 0.08 < shaper.dropped_bytes / len(data) < 0.12


def test_delayed_chunks_stay_within_their_size() -> None:
    shaper = WireFaults.delayed(max_chunk_bytes=4).shaper()
    chunks = shaper.shape(bytes(100))
    assert all(1 <= len(chunk) <= 4 for chunk in chunks)
    assert sum(map(len, chunks)) == 100
    assert len({len(chunk) for chunk in chunks}) > 1


def test_matrix_names_are_unique_and_faults_validate() -> None:
    names = [faults.name for faults in WireFaults.matrix()]
    assert len(set(names)) == len(names) == 5
    with pytest.raises(ConfigurationError):
        WireFaults(drop_probability=1.0)
    with pytest.raises(ConfigurationError):
        WireFaults(max_chunk_bytes=-1)
    with pytest.raises(ConfigurationError):
        WireFaults(chunk_delay_s=-0.1)


# -- the same faults end to end, through a real pty into the production transport ----------


@pytest.mark.parametrize("faults", WireFaults.matrix(), ids=lambda faults: faults.name)
async def test_hostile_wire_delivers_what_it_promises(faults: WireFaults) -> None:
    on_the_wire: list[bytes] = []
    expected = faults.shaper()
    planned = [expected.shape(message) for message in MESSAGES]
    async with (
        PtyEndpoint(
            faults=faults, wire_tap=lambda _d, chunk: on_the_wire.append(chunk)
        ) as endpoint,
        SerialTransport(endpoint.device_path) as port,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()
        for message in MESSAGES:
            await endpoint.write(message)
        elapsed = loop.time() - started
        want = b"".join(b"".join(chunks) for chunks in planned)
        received = bytearray()
        async with asyncio.timeout(2.0):
            while len(received) < len(want):
                received += await port.read(1.0)
        assert await port.read(0.02) == b""
    assert received == want
    assert on_the_wire == [chunk for chunks in planned for chunk in chunks]
    assert endpoint.counters.chunks_out == len(on_the_wire)
    if faults.max_chunk_bytes == 1:
        assert len(on_the_wire) == sum(map(len, MESSAGES))
    if faults.drop_probability:
        assert len(received) < sum(map(len, MESSAGES))
    if faults.garbage_max_bytes:
        assert len(received) > sum(map(len, MESSAGES))
    if faults.chunk_delay_s:
        assert elapsed >= len(on_the_wire) * faults.chunk_delay_s * 0.9


# -- the pty itself --------------------------------------------------------------------------


async def test_pty_is_raw_and_does_not_echo() -> None:
    control_bytes = b"\r\n\x03\x04\x11\x13\x1a\x7f\xff"
    async with PtyEndpoint() as endpoint:
        client = os.open(endpoint.device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            lflag = termios.tcgetattr(client)[3]
            assert not lflag & (termios.ECHO | termios.ICANON | termios.ISIG)
            os.write(client, control_bytes)
            received = b""
            async with asyncio.timeout(2.0):
                while len(received) < len(control_bytes):
                    received += await endpoint.read(1.0)
            assert received == control_bytes
            await asyncio.sleep(0.02)
            with pytest.raises(BlockingIOError):
                os.read(client, 100)  # no echo came back
        finally:
            os.close(client)


async def test_stable_link_follows_the_pty_across_vanish_and_come_back(tmp_path: Path) -> None:
    link = tmp_path / "by-id" / "usb-3M_RFID_Reader_210-if00"
    link.parent.mkdir()
    async with PtyEndpoint(link) as endpoint:
        assert endpoint.device_path == str(link)
        first = endpoint.slave_name
        assert os.readlink(link) == first
        endpoint.vanish()
        assert not endpoint.is_present
        assert not link.exists()
        assert endpoint.slave_name == ""
        endpoint.come_back()
        assert endpoint.is_present
        assert os.readlink(link) == endpoint.slave_name
        assert endpoint.counters.vanishes == 1
        assert sorted(p.name for p in link.parent.iterdir()) == [link.name]  # no staging left
    assert not link.exists()


async def test_writes_while_vanished_are_lost_and_counted() -> None:
    async with PtyEndpoint() as endpoint:
        endpoint.vanish()
        await endpoint.write(b"nobody hears this")
        assert endpoint.counters.lost_while_absent == 17
        assert endpoint.counters.bytes_out == 0
        assert await endpoint.read(0.01) == b""


async def test_client_sees_eof_then_eio_after_vanish() -> None:
    async with PtyEndpoint() as endpoint:
        client = os.open(endpoint.device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            endpoint.vanish()
            assert os.read(client, 10) == b""
            with pytest.raises(OSError, match="Input/output error"):
                os.write(client, b"x")
        finally:
            os.close(client)


async def test_endpoint_tap_sees_both_directions() -> None:
    tapped: list[tuple[Direction, bytes]] = []
    async with (
        PtyEndpoint(wire_tap=lambda d, b: tapped.append((d, b))) as endpoint,
        SerialTransport(endpoint.device_path) as port,
    ):
        await port.write(b"req")
        async with asyncio.timeout(2.0):
            received = b""
            while len(received) < 3:
                received += await endpoint.read(1.0)
        await endpoint.write(b"rsp")
        async with asyncio.timeout(2.0):
            while not await port.read(1.0):
                pass
    assert (Direction.RX, b"req") in tapped
    assert (Direction.TX, b"rsp") in tapped
    assert endpoint.counters.bytes_in == 3


async def test_closed_endpoint_refuses_and_releases_reader() -> None:
    endpoint = PtyEndpoint()
    with pytest.raises(RuntimeError, match="open"):
        await endpoint.read(0)
    endpoint.open()
    pending = asyncio.create_task(endpoint.read())
    await asyncio.sleep(0)
    await endpoint.close()
    with pytest.raises(PortClosed):
        await pending
    with pytest.raises(PortClosed):
        await endpoint.write(b"x")
    with pytest.raises(PortClosed):
        endpoint.open()


async def test_vanish_releases_a_write_blocked_on_a_full_pty() -> None:
    async with PtyEndpoint() as endpoint:  # no client reads, so the tty input queue fills up
        writing = asyncio.create_task(endpoint.write(bytes(256 * 1024)))
        await asyncio.sleep(0.05)
        assert not writing.done()
        endpoint.vanish()
        await asyncio.wait_for(writing, 1.0)
        sent = endpoint.counters.bytes_out
        assert 0 < sent < 256 * 1024
        assert endpoint.counters.lost_while_absent == 256 * 1024 - sent
