# SPDX-License-Identifier: Apache-2.0
"""TI TRF7970A EVM ASCII protocol: vectors, builders, reply lines, end rules, fuzzing, resync."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import FrameError
from protocols.framing import NeedMoreData, Reassembler
from protocols.readers import trf7970a as trf
from protocols.readers.trf7970a import GroupKind, TrfGroup, TrfLine
from tests.conftest import H, load_vectors

UID = "E004010012345678"           # canonical, MSB first
UID_AIR = H("78 56 34 12 00 01 04 E0")  # as the EVM prints and takes it, LSB first

VECTORS = [(i, v) for i, v in enumerate(load_vectors("reader_frames"))
           if v["protocol"] == "TI TRF7970A EVM ASCII (RFIDGeek)"]
BYTE_EXACT = [(i, v) for i, v in VECTORS if "FORMAT SKETCH" not in v["meaning"]]
SKETCHES = [(i, v) for i, v in VECTORS if "FORMAT SKETCH" in v["meaning"]]


def wire(vector: dict[str, Any]) -> bytes:
    """The ASCII characters of a request vector (its hex field carries a trailing note)."""
    text: str = vector["hex"].split()[0]
    return text.encode("ascii")


def lines_of(text: bytes) -> list[TrfLine]:
    reassembler = Reassembler(trf.decode_response, trf.next_header)
    out = reassembler.feed(text)
    assert reassembler.buffer == bytearray()
    assert reassembler.garbage_bytes == 0
    return out


# --- vectors -------------------------------------------------------------------------------------


def test_vector_set_is_complete() -> None:
    assert len(VECTORS) == 13
    assert len(BYTE_EXACT) == 9


@pytest.mark.parametrize(("index", "vector"), BYTE_EXACT, ids=[f"v{i}" for i, _ in BYTE_EXACT])
def test_request_vector_decodes_and_reencodes_byte_exact(index: int,
                                                         vector: dict[str, Any]) -> None:
    assert vector["source"]
    raw = wire(vector)
    frame, rest = trf.decode_request(raw + b"01")
    assert rest == b"01"
    assert frame.encode() == raw
    assert frame.length == len(raw) // 2
    for cut in range(len(raw)):
        with pytest.raises(NeedMoreData):
            trf.decode_request(raw[:cut])


BUILT_REQUESTS: dict[int, Callable[[], trf.TrfRequest]] = {
    73: trf.ping,
    74: trf.iso15693_setup,
    75: trf.agc_toggle,
    76: lambda: trf.am_pm_toggle(am=True),
    77: trf.inventory,
    78: lambda: trf.inventory(single_slot=True),
    79: lambda: trf.iso_request(H("20 27") + trf.uid_to_air(UID) + H("C2")),
    80: lambda: trf.iso_request(H("20 23") + trf.uid_to_air(UID) + H("00 08")),
    81: lambda: trf.iso_request(H("60 21") + trf.uid_to_air(UID) + H("01 11 22 33 44")),
}


@pytest.mark.parametrize("index", sorted(BUILT_REQUESTS), ids=[f"v{i}" for i in
                                                              sorted(BUILT_REQUESTS)])
def test_builder_reproduces_request_vector(index: int) -> None:
    assert BUILT_REQUESTS[index]().encode() == wire(dict(VECTORS)[index])


def test_encode_request_matches_builder() -> None:
    assert trf.encode_request(0xFF) == b"0108000304FF0000"
    assert trf.encode_request(0x14, H("04 01 00")) == b"010B000304140401000000"


def test_v81_option_flag_write_gets_eof_delay_v79_does_not() -> None:
    vectors = dict(VECTORS)
    v81, _ = trf.decode_request(wire(vectors[81]))
    v79, _ = trf.decode_request(wire(vectors[79]))
    assert trf.needs_eof_delay(v81.params)
    assert not trf.needs_eof_delay(v79.params)
    assert trf.reply_timeout_s(v81) - trf.reply_timeout_s(v79) == pytest.approx(
        trf.EOF_DELAY_S + trf.frame_time_s(len(v81.encode()) - len(v79.encode())))


def test_v79_addressed_uid_is_lsb_first_on_this_interface() -> None:
    request, _ = trf.decode_request(wire(dict(VECTORS)[79]))
    assert request.params[2:10] == UID_AIR
    assert trf.uid_from_air(request.params[2:10]) == UID


@pytest.mark.parametrize(("index", "vector"), SKETCHES[1:], ids=[f"v{i}" for i, _ in SKETCHES[1:]])
def test_request_mode_sketches_parse(index: int, vector: dict[str, Any]) -> None:
    """Vectors 83-85 are format sketches (CRLF written as an escape), not byte-exact captures."""
    text = vector["hex"].replace("\\r\\n", "\r\n").encode("ascii")
    result = trf.collect_reply(0x18, lines_of(text))
    assert result is not None
    reply, used = result
    assert used == 2
    assert reply.echo == "Request mode."
    assert {83: reply.iso_response == H("00"), 84: reply.no_response,
            85: reply.collision}[index]
    assert trf.encode_reply(0x18, groups=reply.groups) == text  # and back, byte for byte


# --- reply lines ---------------------------------------------------------------------------------

# host.c rev 03 / iso15693.c: echo, then CRLF + [UID,RSSI] per tag, then the final CRLF.
INVENTORY_TWO_TAGS = (b"ISO 15693 Inventory request.\r\n"
                      b"\r\n[78563412000104E0,4F]\r\n[EFCDAB8967452301,52]\r\n")


def test_inventory_reply_uids_are_canonical_msb_first() -> None:
    lines = lines_of(INVENTORY_TWO_TAGS)
    assert trf.collect_reply(0x14, lines) is None  # no end marker: needs the quiet time
    result = trf.collect_reply(0x14, lines, idle=True)
    assert result is not None
    reply, used = result
    assert used == 4
    assert reply.uids == (UID, "0123456789ABCDEF")
    assert [g.rssi for g in reply.groups] == [0x4F, 0x52]
    assert not reply.collision


def test_inventory_no_tags() -> None:
    result = trf.collect_reply(0x14, lines_of(b"ISO 15693 Inventory request.\r\n\r\n"), idle=True)
    assert result is not None
    assert result[0].uids == ()


def test_inventory_slot_forms_of_older_firmware() -> None:
    line = b"[78563412000104E0,78][,40][z,40][78563412000104E0,z]\r\n"
    (parsed,) = lines_of(line)
    assert [g.kind for g in parsed.groups] == [GroupKind.SLOT_TAG, GroupKind.SLOT_EMPTY,
                                               GroupKind.SLOT_COLLISION, GroupKind.SLOT_COLLISION]
    assert parsed.groups[3].uid == UID
    assert parsed.encode() == line


def test_iso_error_flags_and_code() -> None:
    result = trf.collect_reply(0x18, lines_of(b"Request mode.\r\n[0112]\r\n"))
    assert result is not None
    assert result[0].iso_error == 0x12
    ok = trf.collect_reply(0x18, lines_of(b"Request mode.\r\n[00]\r\n"))
    assert ok is not None
    assert ok[0].iso_error is None


def test_read_blocks_response_without_crc_uses_parentheses() -> None:
    (line,) = lines_of(b"(001122334455667788)\r\n")
    assert line.groups == (TrfGroup(GroupKind.DATA, H("00 11 22 33 44 55 66 77 88"), crc=False),)


@pytest.mark.parametrize(("command", "text", "used"), [
    (0xFF, b"TRF7970A EVM \r\n\r\n", 2),
    (0x10, b"Register write request.\r\n\r\n", 2),
    (0xF0, b"AGC Toggle\r\n", 1),
    (0xF1, b"AM PM Toggle\r\n", 1),
    (0xF2, b"\r\n", 1),
    (0x12, b"Register read request.\r\n[21][00]\r\n\r\n", 3),
    (0xFE, b"Firmware Revision 03 from 11/Nov/2013 \r\n\r\n", 2),
])
def test_end_rules(command: int, text: bytes, used: int) -> None:
    lines = lines_of(text)
    for cut in range(used):
        assert trf.collect_reply(command, lines[:cut]) is None
    result = trf.collect_reply(command, lines)
    assert result is not None
    assert result[1] == used
    assert b"".join(line.encode() for line in lines) == text


def test_collect_skips_leftovers_of_an_earlier_reply() -> None:
    lines = lines_of(b"[00]\r\n\r\nRequest mode.\r\n[]\r\n")
    result = trf.collect_reply(0x18, lines)
    assert result is not None
    assert result[0].no_response
    assert result[1] == 4


def test_catalogue_has_no_duplicates_and_every_command_an_end_rule() -> None:
    codes = [c.code for c in trf.CATALOGUE]
    names = [c.name for c in trf.CATALOGUE]
    echoes = [t for c in trf.CATALOGUE for t in c.echo]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)
    assert len(set(echoes)) == len(echoes)  # an echo names its command
    for command in trf.CATALOGUE:
        assert isinstance(command.end, trf.EndRule)
        assert command.reply
        assert command.spec
        assert command.params


def test_builders_reject_bad_input() -> None:
    with pytest.raises(FrameError, match="UID"):
        trf.uid_to_air("E004")
    with pytest.raises(FrameError, match="AFI"):
        trf.inventory(afi=0x100)
    with pytest.raises(FrameError, match="lacks flags"):
        trf.iso_request(b"\x20")
    with pytest.raises(FrameError, match="exceed"):
        trf.TrfRequest(0x18, bytes(120))


def test_inventory_with_afi() -> None:
    assert trf.inventory(afi=0x07).params == H("14 01 07 00")
    assert trf.reply_timeout_s(trf.inventory()) > trf.reply_timeout_s(trf.inventory(
        single_slot=True))


@pytest.mark.parametrize(("raw", "message"), [
    (b"0208000304FF0000", "SOF"),
    (b"0108000305FF0000", "03 04"),
    (b"0108000304FF0001", "EOF"),
    (b"0107000304FF00", "length 7"),
    (b"0108010304FF0000", "length 264"),
    (b"01080003G4FF0000", "hex character"),
])
def test_request_garbage_is_frame_error(raw: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        trf.decode_request(raw)


@pytest.mark.parametrize(("raw", "message"), [
    (b"Hello\r\n", "not a known echo"),
    (b"Hello", "not the beginning of a known echo"),
    (b"Request mode!\r\n", "not a known echo"),
    (b"[0a]\r\n", "inside a result group"),
    (b"[012]\r\n", "even number"),
    (b"[12,34]\r\n", "UID,RSSI"),
    (b"[00\r\n", "not closed"),
    (b"[00]x\r\n", "expected"),
    (b"[00]\rx", "CR without LF"),
])
def test_reply_garbage_is_frame_error(raw: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        trf.decode_response(raw)


@pytest.mark.parametrize("prefix", [b"", b"Req", b"Request mode.", b"Request mode.\r", b"[00",
                                    b"[7856,", b"Firmware Revision 0"])
def test_reply_prefixes_need_more_data(prefix: bytes) -> None:
    with pytest.raises(NeedMoreData):
        trf.decode_response(prefix)


def test_next_header_takes_cr_only_at_a_line_start() -> None:
    assert trf.next_header(b"xx\r\n", 0) == 4
    assert trf.next_header(b"\r\n", 0) == 0
    assert trf.next_header(b"\n\r\n", 0) == 1
    assert trf.next_header(b"xy[00]", 0) == 2


# --- property tests ------------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=48) | st.text(alphabet="[](),z0123456789ABCDEF\r\nRequst mod.",
                                        max_size=40).map(lambda s: s.encode("ascii")))
def test_fuzz_decoders_only_return_or_raise_protocol_signals(data: bytes) -> None:
    for decode in (trf.decode_request, trf.decode_response):
        try:
            _frame, rest = decode(data)
        except (NeedMoreData, FrameError):
            continue
        assert data.endswith(rest)


groups = st.one_of(
    st.builds(TrfGroup, st.just(GroupKind.DATA), st.binary(min_size=1, max_size=12)),
    st.just(TrfGroup(GroupKind.NO_RESPONSE)),
    st.just(TrfGroup(GroupKind.COLLISION, crc=False)),
    st.builds(TrfGroup, st.just(GroupKind.SLOT_TAG), st.binary(min_size=8, max_size=8),
              st.integers(0, 255)),
    st.builds(TrfGroup, st.just(GroupKind.SLOT_EMPTY), st.just(b""), st.integers(0, 255)),
)
reply_lines = st.one_of(
    st.sampled_from(sorted(trf.ECHO_TEXTS)).map(TrfLine),
    st.just(TrfLine()),
    st.lists(groups, min_size=1, max_size=4).map(lambda gs: TrfLine(groups=tuple(gs))),
)
# Line noise for a protocol without checksum: bytes that cannot begin a reply line (no '[', '(',
# no first letter of an echo text) and no CRLF pair. Well-formed reply text is not noise: it
# would be a reply line, and nothing on the wire could say otherwise.
NOISE_BYTES = sorted(set(range(256)) - set(trf.LINE_STARTS))
line_noise = st.lists(st.sampled_from(NOISE_BYTES), max_size=12).map(bytes).filter(
    lambda b: b"\r\n" not in b)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(line_noise, reply_lines), min_size=1, max_size=6), st.data())
def test_noise_and_lines_in_random_chunks_yield_exactly_the_lines(
        items: list[tuple[bytes, TrfLine]], data: st.DataObject) -> None:
    """An empty line glued to noise (CRLF right after a noise byte) reads as the end of a garbled
    line and is dropped: the decoder never invents an empty line, so it cannot tell this one
    either. Noise before an empty line therefore ends in LF (a burst that ended a line)."""
    lines = [line for _, line in items]
    stream = b"".join(
        noise + (b"\n" if line.blank and noise[-1:] not in (b"", b"\n", b"\r") else b"")
        + line.encode() for noise, line in items)
    reassembler = Reassembler(trf.decode_response, trf.next_header)
    out: list[TrfLine] = []
    position = 0
    while position < len(stream):
        size = data.draw(st.integers(1, 16), label="chunk")
        out += reassembler.feed(stream[position:position + size])
        position += size
    assert out == lines


@settings(max_examples=300, deadline=None)
@given(st.lists(reply_lines, min_size=3, max_size=6), st.data())
def test_a_garbled_line_never_eats_its_neighbours(lines: list[TrfLine],
                                                  data: st.DataObject) -> None:
    """One content byte of a line is hit by noise (a byte outside the reply alphabet): the lines
    before and after come out unchanged; from the garbled line at most fragments survive."""
    candidates = [i for i, line in enumerate(lines) if not line.blank]
    if not candidates:
        return
    target = data.draw(st.sampled_from(candidates), label="target")
    encoded = [line.encode() for line in lines]
    victim = bytearray(encoded[target])
    victim[data.draw(st.integers(0, len(victim) - 3), label="position")] = data.draw(
        st.sampled_from([0x00, 0x07, 0x1B, 0x80, 0xFF]), label="noise byte")
    encoded[target] = bytes(victim)
    out = Reassembler(trf.decode_response, trf.next_header).feed(b"".join(encoded))
    before, after = lines[:target], lines[target + 1:]
    assert out[:len(before)] == before
    assert out[len(out) - len(after):] == after
    assert len(out) - len(before) - len(after) <= victim.count(b"[") + victim.count(b"(") + 1
