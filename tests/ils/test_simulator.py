# SPDX-License-Identifier: Apache-2.0
"""The ILS simulator seen from a raw socket: it behaves like an ACS (AY echo, AZ only when asked,
97 repeats, 96 on a bad checksum, duplicates not executed twice, no service before login), and
its data file is validated with errors that name the entry."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge_service.ils import IlsConfigError, load_simulator_data
from protocols.sip2 import (
    AcsStatus,
    CheckoutResponse,
    ItemInformationResponse,
    Login,
    LoginResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
    decode_frame,
    encode,
)
from protocols.sip2.messages import Checkout, ItemInformation
from tests.ils.helpers import BOOK, SAMPLE, SOREN, simulator

LOGIN = Login(login_user_id="kiosk1", login_password="kiosk1-secret", location_code="MAIN")


@contextlib.asynccontextmanager
async def raw_socket(port: int) -> AsyncIterator[tuple[asyncio.StreamReader,
                                                        asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wire: bytes) -> bytes:
    writer.write(wire)
    await writer.drain()
    return await asyncio.wait_for(reader.readuntil(b"\r"), 2.0)


async def test_sequence_echo_and_checksum_only_when_the_request_had_one() -> None:
    async with simulator() as sim, raw_socket(sim.port) as (reader, writer):
        reply = decode_frame(await ask(reader, writer, encode(LOGIN, sequence=7)))
        assert reply.message == LoginResponse(ok=True)
        assert (reply.sequence, reply.checksummed) == (7, True)
        status = ScStatus(status_code=0, max_print_width=40)
        plain = await ask(reader, writer, encode(status, error_detection=False))
        assert b"AZ" not in plain
        assert isinstance(decode_frame(plain).message, AcsStatus)


async def test_request_resend_repeats_the_last_message_and_bad_checksum_gets_96() -> None:
    async with simulator() as sim, raw_socket(sim.port) as (reader, writer):
        await ask(reader, writer, encode(LOGIN, sequence=1))
        info = ItemInformation(institution_id="DK-718500", item_identifier=BOOK)
        first = await ask(reader, writer, encode(info, sequence=2))
        assert isinstance(decode_frame(first).message, ItemInformationResponse)
        assert await ask(reader, writer, encode(RequestAcsResend())) == first
        corrupt = bytearray(encode(info, sequence=3))
        corrupt[5] ^= 0x01
        answer = decode_frame(await ask(reader, writer, bytes(corrupt)))
        assert isinstance(answer.message, RequestScResend)
        assert sim.counters.bad_requests == 1


async def test_duplicate_request_is_answered_again_not_executed_again() -> None:
    async with simulator() as sim, raw_socket(sim.port) as (reader, writer):
        await ask(reader, writer, encode(LOGIN, sequence=1))
        checkout = encode(Checkout(institution_id="DK-718500", patron_identifier=SOREN,
                                   item_identifier=BOOK), sequence=2)
        first = await ask(reader, writer, checkout)
        again = await ask(reader, writer, checkout)
        assert first == again
        message = decode_frame(first).message
        assert isinstance(message, CheckoutResponse)
        assert message.ok
        assert sim.counters.executed["11"] == 1
        assert sim.counters.duplicates == 1


async def test_no_service_before_login_and_unknown_messages_ignored() -> None:
    async with simulator() as sim:
        async with raw_socket(sim.port) as (reader, writer):
            writer.write(encode(ScStatus(status_code=0, max_print_width=40)))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 2.0) == b""  # closed, like Koha
        async with raw_socket(sim.port) as (reader, writer):
            await ask(reader, writer, encode(LOGIN, sequence=1))
            writer.write(b"65NN20240501    120000AOx|AAy|\r")  # renew all: not implemented
            status = await ask(reader, writer, encode(ScStatus(status_code=0, max_print_width=40)))
            assert isinstance(decode_frame(status).message, AcsStatus)


def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="other/1"), "format"),
        (lambda d: d["items"].append(dict(d["items"][0])), r"items\[30\]: duplicate"),
        (lambda d: d["items"][3].update(media="scroll"), r"items\[3\]\.media"),
        (lambda d: d["items"][3].update(set_parts="2"), r"items\[3\]\.set_parts"),
        (lambda d: d["patrons"][0].update(loans=["nope"]), "loans of unknown items"),
        (lambda d: d["patrons"][0].update(loans=[{"item": "nope", "due_in_days": 1}]),
         "loans of unknown items"),
        (lambda d: d["patrons"][0].update(loans=[{"item": "5012345601"}]),
         r"patrons\[0\]\.loans\[0\]: missing key 'due_in_days'"),
        (lambda d: d["patrons"][0].update(loans=[{"item": "5012345601", "due_in_days": "3"}]),
         r"patrons\[0\]\.loans\[0\]\.due_in_days: wrong type"),
        (lambda d: d["settings"].update(sets_policy="maybe"), "sets_policy"),
        (lambda d: d["items"][0].update(holds=[{"patron": "x"}]), "unknown patron"),
    ],
)
def test_data_file_errors_name_the_entry(tmp_path: Path, mutate: Any, message: str) -> None:
    document = _document()
    mutate(document)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(IlsConfigError, match=message):
        load_simulator_data(path)


def test_sample_catalogue_has_what_the_demo_needs() -> None:
    data = load_simulator_data(SAMPLE)
    items = data.items.values()
    assert 25 <= len(data.items) <= 35
    assert any(i.set_parts == 2 for i in items)
    assert any(i.not_for_loan for i in items)
    assert any(i.holds for i in items)
    assert any(i.owner != data.institution_id for i in items)
    assert len(data.patrons) == 4
    assert sum(p.blocked for p in data.patrons.values()) == 1
    loans = [i for i in items if i.loaned_to is not None]
    assert any(i.due_in_days is not None and i.due_in_days < 0 for i in loans)   # overdue
    assert any(i.due_in_days is not None and i.due_in_days > 0 for i in loans)
