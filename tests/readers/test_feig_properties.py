# SPDX-License-Identifier: Apache-2.0
"""Property tests of the FEIG codec: fuzzing, round trips, reassembly through noise."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from protocols.errors import FrameError
from protocols.framing import NeedMoreData, Reassembler
from protocols.readers.feig import (
    FeigRequest,
    FeigResponse,
    decode_request,
    decode_request_body,
    decode_response,
    next_header,
)

FUZZ = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

responses = st.builds(
    FeigResponse,
    com_adr=st.integers(0, 254),
    command=st.integers(0, 255),
    status=st.integers(0, 255),
    data=st.binary(max_size=40) | st.binary(min_size=240, max_size=300),
    advanced=st.booleans(),
)
requests = st.builds(
    FeigRequest,
    com_adr=st.integers(0, 255),
    command=st.integers(0, 255),
    data=st.binary(max_size=40) | st.binary(min_size=245, max_size=300),
    advanced=st.booleans(),
)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_give_a_frame_need_more_data_or_frame_error(data: bytes) -> None:
    for decode in (decode_request, decode_response):
        try:
            frame, rest = decode(data)
        except (NeedMoreData, FrameError):
            continue
        assert frame.encode() + rest == data


@FUZZ
@given(st.sampled_from([0xB0, 0xB1, 0x22, 0x66, 0x6A, 0x71, 0x72, 0x80]), st.binary(max_size=40))
def test_any_request_data_gives_a_typed_command_or_frame_error(command: int, data: bytes) -> None:
    request = FeigRequest(0xFF, command, data)
    try:
        body = decode_request_body(request)
    except FrameError:
        return
    assert body.to_request(0xFF) == request


@settings(max_examples=500, deadline=None)
@given(responses)
def test_responses_round_trip(frame: FeigResponse) -> None:
    assert decode_response(frame.encode()) == (frame, b"")


@settings(max_examples=500, deadline=None)
@given(requests)
def test_requests_round_trip(frame: FeigRequest) -> None:
    assert decode_request(frame.encode()) == (frame, b"")


def _quiet_line(reassembler: Reassembler[FeigResponse]) -> list[FeigResponse]:
    """What the 12 ms inter-character timeout does once the line goes quiet.

    A noise byte that looks like a long LEN waits for bytes that never come; the stalled header
    byte is dropped and the rest of the buffer searched again.
    """
    frames: list[FeigResponse] = []
    while reassembler.buffer:
        del reassembler.buffer[:1]
        frames += reassembler.feed(b"")
    return frames


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.binary(max_size=12), responses), min_size=1, max_size=5),
    st.binary(max_size=12),
    st.data(),
)
def test_noise_and_frames_in_random_chunks_yield_exactly_the_frames(
    parts: list[tuple[bytes, FeigResponse]], trailing: bytes, data: st.DataObject
) -> None:
    stream = bytearray()
    noise_at: list[int] = []
    for noise, frame in parts:
        noise_at += range(len(stream), len(stream) + len(noise))
        stream += noise + frame.encode()
    noise_at += range(len(stream), len(stream) + len(trailing))
    stream += trailing
    for start in noise_at:  # noise that happens to hold a CRC-valid frame is a frame
        try:
            decode_response(bytes(stream[start:]))
        except (NeedMoreData, FrameError):
            continue
        assume(False)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=8)))
    reassembler = Reassembler(decode_response, next_header)
    got: list[FeigResponse] = []
    for begin, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += reassembler.feed(bytes(stream[begin:end]))
    got += _quiet_line(reassembler)
    assert got == [frame for _, frame in parts]
