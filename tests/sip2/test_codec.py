# SPDX-License-Identifier: Apache-2.0
"""SIP2 codec: published checksum vectors, round trips of every message, charsets, malformed
input, fuzzing, and the catalogue walk."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.sip2 import (
    BY_ID,
    CATALOGUE,
    LAYOUTS,
    MESSAGE_CLASSES,
    AcsStatus,
    Checkin,
    CheckinResponse,
    Checkout,
    CheckoutResponse,
    Message,
    PatronStatusResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
    Sip2Error,
    SipDate,
    UnknownMessage,
    checksum,
    checksum_ok,
    decode,
    decode_frame,
    encode,
    flags,
    format_sip_date,
    parse_sip_date,
)
from tests.sip2.strategies import messages

# --- published vectors ---------------------------------------------------------------------------
# Each: (line, provenance). Checksums were computed by the producing system, not by us.
VECTORS = [
    ("990 402.00AY1AZFCB4",
     "3M SIP2 Developers Guide p.26, quoted in Evergreen/Koha SIPServer t/checksum test"),
    ("98YYYYYN60000320130424    1135112.00AOEPLMNA|AMEPLMNA|BXYYYYYYYYYYYNNYYY|ANSIPCHK|AY1AZE80C",
     "SirsiDynix capture in Edmonton PL 'metro' SIPMessage.java"),
    (("98YYYYNN01000320130808    1509002.00AOst|AMSt. Albert Public Library|BXYYYYYYYYYYYYYYYY|"
     "ANUnassigned|VNSIP 2.00.106 SirsiDynix Inc. 7.5.074.40|AY1AZD3FA"),
     "SirsiDynix (St. Albert) capture in Edmonton PL 'metro' SIPMessage.java"),
    ("96AZFEF6", "SirsiDynix capture in Edmonton PL 'metro' SIPMessage.java"),
    ("97AZFEF5", "ceridwen SIP library ACSResend test case"),
]


@pytest.mark.parametrize(("line", "source"), VECTORS)
def test_published_checksums_verify_and_match(line: str, source: str) -> None:
    raw = line.encode("ascii")
    assert checksum(raw[:-4]) == int(line[-4:], 16), source
    frame = decode_frame(raw + b"\r")
    assert frame.checksummed
    assert frame.sequence == (None if line[:2] in ("96", "97") else 1)


@pytest.mark.parametrize(("line", "source"), VECTORS[1:])
def test_canonical_vectors_encode_back_byte_exact(line: str, source: str) -> None:
    frame = decode_frame(line.encode("ascii"))
    assert encode(frame.message, sequence=frame.sequence or 0) == line.encode("ascii") + b"\r"


def test_3m_guide_sc_status_fields() -> None:
    # "990 402.00": status 0, print width " 40" (blank-padded in the guide), version 2.00.
    message = decode(b"990 402.00AY1AZFCB4")
    assert message == ScStatus(status_code=0, max_print_width=40, protocol_version="2.00")


def test_acs_status_fields_and_unknown_field_kept() -> None:
    message = decode(VECTORS[2][0].encode())
    assert isinstance(message, AcsStatus)
    assert (message.online_status, message.status_update_ok, message.offline_ok) == (True, False,
                                                                                      False)
    assert message.timeout_period == 10
    assert message.retries_allowed == 3
    assert message.date_time_sync == SipDate(datetime(2013, 8, 8, 15, 9, 0))  # noqa: DTZ001
    assert message.extra == (("VN", "SIP 2.00.106 SirsiDynix Inc. 7.5.074.40"),)
    assert flags.supported_messages(message.supported_messages) == frozenset(
        flags.SUPPORTED_MESSAGES)


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: f"{c.ID}-{c.__name__}")
@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), sequence=st.integers(0, 9), error_detection=st.booleans(),
       line_ending=st.sampled_from(["\r", "\r\n"]))
def test_round_trip_every_message(cls: type[Message], charset: str, data: st.DataObject,
                                  sequence: int, error_detection: bool, line_ending: str) -> None:
    message = data.draw(messages(cls, charset))
    wire = encode(message, charset=charset, error_detection=error_detection, sequence=sequence,
                  line_ending=line_ending)
    assert wire.endswith(line_ending.encode())
    frame = decode_frame(wire, charset=charset, strict=True)
    assert frame.message == message
    assert frame.checksummed == error_detection
    has_sequence = error_detection and cls.ID not in ("96", "97")
    assert frame.sequence == (sequence if has_sequence else None)
    if error_detection:  # the receiver's rule: sum(bytes through AZ) + checksum == 0 mod 2**16
        body = wire.rstrip(b"\r\n")
        assert checksum_ok(body[:-4], int(body[-4:], 16))


# --- charsets ------------------------------------------------------------------------------------


def _patron_status(name: str) -> PatronStatusResponse:
    return PatronStatusResponse(patron_status=" " * 14, institution_id="DK-718500",
                                patron_identifier="P1", personal_name=name)


@pytest.mark.parametrize("name", ["Søren Kierkegaard", "Zoë"])
@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
def test_checksum_is_over_bytes_in_the_charset(name: str, charset: str) -> None:
    wire = encode(_patron_status(name), charset=charset, sequence=4)
    body = wire[:-1]
    through_az = body[:-4]
    assert name.encode(charset) in wire
    assert int(body[-4:], 16) == (-sum(through_az)) & 0xFFFF
    decoded = decode(wire, charset=charset)
    assert isinstance(decoded, PatronStatusResponse)
    assert decoded.personal_name == name
    if charset == "utf-8":
        # The php-sip2 #8 bug: a sum of characters gives another checksum for UTF-8 names.
        char_sum = (-sum(map(ord, through_az.decode("utf-8")))) & 0xFFFF
        assert char_sum != int(body[-4:], 16)


def test_latin1_line_read_as_utf8_is_a_clear_error_not_a_wrong_name() -> None:
    wire = encode(_patron_status("Zoë"), charset="latin-1")
    with pytest.raises(Sip2Error) as info:
        decode(wire, charset="utf-8")
    assert info.value.field == "AE"
    assert info.value.offset == wire.index(b"\xeb")


def test_name_not_representable_in_latin1_names_the_field() -> None:
    with pytest.raises(Sip2Error) as info:
        encode(_patron_status("Łukasz"), charset="latin-1")
    assert info.value.field == "AE"


# --- malformed input -----------------------------------------------------------------------------

CHECKIN_OK = encode(CheckinResponse(ok=True, resensitize=True, magnetic_media=False, alert=False,
                                    transaction_date=SipDate(datetime(2024, 5, 1, 12, 0, 0)),  # noqa: DTZ001
                                    institution_id="DK-718500", item_identifier="5012345678",
                                    permanent_location="MAIN"), sequence=2)


def _reencode(body: bytes) -> bytes:
    """A line with a correct checksum over an arbitrary body (to test the layers below)."""
    through = body + b"AY2AZ"
    return through + b"%04X\r" % checksum(through)


@pytest.mark.parametrize(
    ("line", "field", "offset"),
    [
        (CHECKIN_OK.replace(b"AY2", b"AY3"), "AZ", len(CHECKIN_OK) - 5),
        (_reencode(b"10X" + CHECKIN_OK[3:-10]), "ok", 2),
        (_reencode(b"101YNN20241301    120000AOx|ABy|AQz|"), "transaction_date", 6),
        (_reencode(b"101YNN2024050"), "transaction_date", 6),
        (_reencode(b"101YNN20240501    120000AOx|ABy|AQz"), "AQ", 32),
        (_reencode(b"99"), "status_code", 2),
        (_reencode(b"42abc|"), "message id", 0),
        (_reencode(b"X1"), "message id", 0),
        (_reencode(b"101YNN20240501    120000AOx|AB\xff|AQz|"), "AB", 30),
        (CHECKIN_OK[:-3] + b"\r", "AZ", len(CHECKIN_OK) - 7),
        (b"", "message id", 0),
    ],
    ids=["bad-checksum", "bad-fixed-flag", "bad-date", "truncated-fixed", "unterminated-field",
         "truncated-99", "unknown-id", "id-not-digits", "bad-utf8", "truncated-checksum", "empty"],
)
def test_malformed_lines_name_field_and_offset(line: bytes, field: str, offset: int) -> None:
    with pytest.raises(Sip2Error) as info:
        decode(line)
    assert (info.value.field, info.value.offset) == (field, offset), str(info.value)


def test_error_text_never_quotes_patron_data() -> None:
    line = _reencode(b"23001XXXXXXXX    120000AOlib|AA2000123456789|AC|ADsecret|")
    with pytest.raises(Sip2Error) as info:
        decode(line)
    assert "2000123456789" not in str(info.value)
    assert "secret" not in str(info.value)
    assert str(info.value).startswith("SIP2 date")


def test_unknown_message_is_kept_only_on_request() -> None:
    line = _reencode(b"65NN20240501    120000AOlib|AAp|")
    message = decode(line, keep_unknown=True)
    assert message == UnknownMessage(command="65", body="NN20240501    120000AOlib|AAp|")
    assert encode(message, sequence=2) == line


def test_strict_mode_refuses_missing_required_field_lenient_mode_fills_it() -> None:
    line = _reencode(b"101YNN20240501    120000AOx|ABy|")  # no AQ permanent location
    assert isinstance(message := decode(line), CheckinResponse)
    assert message.permanent_location == ""
    with pytest.raises(Sip2Error) as info:
        decode(line, strict=True)
    assert info.value.field == "AQ"


def test_repeated_single_field_kept_in_extra_and_round_trips() -> None:
    line = _reencode(b"101YNN20240501    120000AOx|ABy|AQz|AQw|ZZq|")
    message = decode(line)
    assert isinstance(message, CheckinResponse)
    assert message.permanent_location == "z"
    assert message.extra == (("AQ", "w"), ("ZZ", "q"))
    assert decode(encode(message)) == message


def test_crlf_and_lf_left_over_from_crlf_split_are_accepted() -> None:
    assert decode(b"\n" + CHECKIN_OK[:-1] + b"\r\n") == decode(CHECKIN_OK)


def test_two_messages_in_one_line_are_refused() -> None:
    with pytest.raises(Sip2Error, match="terminator"):
        decode(CHECKIN_OK + CHECKIN_OK)


def test_values_that_cannot_be_sent_are_refused_at_construction() -> None:
    with pytest.raises(Sip2Error) as info:
        Checkout(institution_id="a|b", patron_identifier="p", item_identifier="i")
    assert info.value.field == "AO"
    with pytest.raises(Sip2Error):
        ScStatus(status_code=10, max_print_width=0)
    # A known code in extra must repeat a present single-valued field (decode does the same).
    Checkin(current_location="x", institution_id="x", item_identifier="y", extra=(("AB", "z"),))
    with pytest.raises(Sip2Error):
        Checkin(current_location="x", institution_id="x", item_identifier="y", extra=(("CH", "z"),))
    with pytest.raises(Sip2Error):
        CheckinResponse(institution_id="x", item_identifier="y", extra=(("AF", "z"),))
    with pytest.raises(Sip2Error):
        encode(ScStatus(status_code=0, max_print_width=40), sequence=10)


# --- fuzzing -------------------------------------------------------------------------------------


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_message_or_sip2_error(data: bytes) -> None:
    with contextlib.suppress(Sip2Error):
        decode(data, keep_unknown=True)


@settings(max_examples=300)
@given(data=st.data(), cls=st.sampled_from(MESSAGE_CLASSES))
def test_mutated_valid_lines_decode_or_fail_cleanly(data: st.DataObject,
                                                    cls: type[Message]) -> None:
    wire = bytearray(encode(data.draw(messages(cls)), error_detection=data.draw(st.booleans())))
    for _ in range(data.draw(st.integers(1, 3))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    for candidate in (bytes(wire), bytes(wire[:cut])):
        with contextlib.suppress(Sip2Error):
            decode(candidate)


# --- dates ---------------------------------------------------------------------------------------


def test_dates_format_and_parse() -> None:
    moment = datetime(2024, 5, 1, 9, 5, 7)  # noqa: DTZ001
    assert format_sip_date(SipDate(moment)) == "20240501    090507"
    assert parse_sip_date("20240501    090507") == SipDate(moment)
    assert parse_sip_date(" " * 18) is None
    assert format_sip_date(None) == " " * 18
    aware = datetime(2024, 5, 1, 11, 5, 7, 123, tzinfo=timezone(timedelta(hours=2)))
    utc = SipDate.from_datetime(aware)
    assert str(utc) == "20240501   Z090507"
    assert utc.to_datetime() == moment.replace(tzinfo=UTC)
    for bad in ("20241301    090507", "2024050a    090507", "20240501    250000", "2024"):
        with pytest.raises(Sip2Error):
            parse_sip_date(bad)


# --- catalogue -----------------------------------------------------------------------------------


def test_catalogue_has_no_duplicate_ids_and_every_request_a_response() -> None:
    ids = [cls.ID for cls in MESSAGE_CLASSES]
    assert len(ids) == len(set(ids)) == len(BY_ID)
    in_rows = [row.request for row in CATALOGUE] + [r.response for r in CATALOGUE if r.response]
    assert sorted(c.ID for c in in_rows) == sorted(ids)
    for row in CATALOGUE:
        assert row.spec
        if row.request in (RequestAcsResend, RequestScResend):
            assert row.response is None
        else:
            assert row.response is not None
            assert abs(int(row.response.ID) - int(row.request.ID)) == 1, row  # SIP2 numbering


def test_every_layout_is_well_formed() -> None:
    for cls in MESSAGE_CLASSES:
        table = LAYOUTS[cls]
        codes = [v.code for v in table.variable]
        assert len(codes) == len(set(codes)), cls
        assert all(len(c) == 2 and c.isupper() for c in codes), cls
        assert all(f.width > 0 and f.spec for f in table.fixed), cls
        assert all(v.spec for v in table.variable), cls
        declared = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        assert declared == {f.attr for f in table.fixed} | {v.attr for v in table.variable}


def test_checkout_response_reads_like_the_spec() -> None:
    table = LAYOUTS[CheckoutResponse]
    assert [(f.attr, f.width) for f in table.fixed] == [
        ("ok", 1), ("renewal_ok", 1), ("magnetic_media", 1), ("desensitize", 1),
        ("transaction_date", 18)]
    assert sum(f.width for f in table.fixed) == table.fixed_width == 22


def test_patron_status_flags() -> None:
    status = flags.make_patron_status("charge privileges denied", "excessive outstanding fines")
    assert len(status) == 14
    assert status[0] == "Y"
    assert status[10] == "Y"
    assert flags.patron_status_flags(status) == ("charge privileges denied",
                                                 "excessive outstanding fines")
    assert flags.summary_position(flags.make_summary("charged items")) == "charged items"


def test_a_field_whose_text_looks_like_a_checksum_is_not_one() -> None:
    """Found by Hypothesis: field 0A with the value 'Z000' ends the line with '0AZ000|'."""
    line = b"1801000120261204    120000AB123|0AZ000|\r"
    message = decode(line, charset="latin-1")
    assert ("0A", "Z000") in message.extra


def test_az_inside_a_fixed_field_is_not_a_trailer() -> None:
    """Found by Hypothesis in CI: an SC Status whose protocol version reads "00AZ", sent
    without error detection, was refused as a truncated checksum."""
    line = b"99000000AZ\r"
    frame = decode_frame(line, strict=True)
    assert isinstance(frame.message, ScStatus)
    assert frame.message.protocol_version == "00AZ"
    assert not frame.checksummed
