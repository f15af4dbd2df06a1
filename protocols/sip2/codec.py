# SPDX-License-Identifier: Apache-2.0
"""SIP2 lines <-> messages, with the optional AY/AZ error detection.

Wire form of one message (3M SIP2 guide; landscape.md §D)::

    NN  fixed fields ...  XXvalue| XXvalue| ...  [AYn]AZxxxx  CR
    id  wire order         variable fields       error detection  line ending (CR or CR LF)

* ``n`` is the sequence number 0-9 (the SC increments it, the ACS echoes it); the resend
  requests 97/96 carry ``AZ`` but no ``AY``.
* ``xxxx`` is four hex digits: the two's complement of the 16-bit sum of every **byte** from the
  message id up to and including ``AZ``, in the session's charset. A receiver checks that the
  sum of those bytes plus the checksum is 0 mod 65536. Summing characters instead of bytes is
  the classic bug with UTF-8 names (php-sip2 #8); here the sum is always over encoded bytes.

Decoding never trusts the peer and raises :class:`~protocols.sip2.errors.Sip2Error` naming the
reason, byte offset and field for: a bad checksum, a malformed AY/AZ trailer, a bad fixed field,
a bad date, a truncated message (fixed part short, variable field without its ``|``), bytes
that are not valid in the charset, and an unknown message id. Unknown ids are an error by
default because a client that gets an unexpected reply must not guess; ``keep_unknown=True``
returns an :class:`~protocols.sip2.messages.UnknownMessage` instead (for an ACS that must log
and skip requests it does not implement). A missing required variable field decodes as ``""``
(ILSs omit them routinely); ``strict=True`` makes it an error.

Charsets must be ASCII-compatible (UTF-8, Latin-1, cp1252 ...): ids, fixed fields, codes and
the trailer are ASCII, and ``|`` (0x7C) never occurs inside a multi-byte UTF-8 character.

Not responsible for: sockets, timeouts, choosing sequence numbers, or resending.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

from protocols.sip2.catalogue import BY_ID
from protocols.sip2.errors import Sip2Error
from protocols.sip2.fields import FIELD_DELIMITER, parse_fixed, render_fixed
from protocols.sip2.messages import LAYOUTS, Message, UnknownMessage

LINE_ENDINGS = ("\r", "\r\n")
MAX_MESSAGE_BYTES = 64 * 1024  # no legitimate SIP2 line is near this; bounds a hostile peer
_NO_SEQUENCE_IDS = frozenset({"97", "96"})  # resend requests carry AZ but not AY
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_TRAILER_CHECKSUM = len("AZxxxx")
_TRAILER_SEQUENCE = len("AYn")


def charset_problem(charset: str) -> str | None:
    """Why ``charset`` cannot carry SIP2, or None: it must be a codec Python knows and be
    ASCII-compatible, since message ids, fixed fields, field codes and ``|`` are single ASCII
    bytes on the wire."""
    try:
        codecs.lookup(charset)
    except LookupError:
        return f"unknown charset {charset!r}"
    try:
        compatible = "\x00".encode(charset) == b"\x00" and "|".encode(charset) == b"|"
    except (LookupError, ValueError):   # a codec that is no text encoding (rot13, base64)
        compatible = False
    return None if compatible else f"{charset!r} is not an ASCII-compatible charset"


def checksum(data: bytes) -> int:
    """Two's complement of the 16-bit sum of ``data`` (which ends with ``AZ``)."""
    return -sum(data) & 0xFFFF


def checksum_ok(data: bytes, value: int) -> bool:
    return (sum(data) + value) & 0xFFFF == 0


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded line: the message, its AY sequence number (``None`` when absent) and
    whether it carried a checksum (which, when present, has been verified)."""

    message: Message | UnknownMessage
    sequence: int | None
    checksummed: bool


def _body(message: Message | UnknownMessage) -> list[tuple[str | None, str]]:
    """(field name or None, text) pieces in wire order, so encode errors can name the field."""
    if isinstance(message, UnknownMessage):
        return [("message id", message.command), (None, message.body)]
    pieces: list[tuple[str | None, str]] = [("message id", message.ID)]
    table = LAYOUTS[type(message)]
    pieces.extend((spec.attr, render_fixed(spec, getattr(message, spec.attr)))
                  for spec in table.fixed)
    for var in table.variable:
        value = getattr(message, var.attr)
        if var.repeatable:
            pieces.extend((var.code, f"{var.code}{v}|") for v in value)
        elif value is not None:
            pieces.append((var.code, f"{var.code}{value}|"))
    pieces.extend((code, f"{code}{value}|") for code, value in message.extra)
    return pieces


def encode(
    message: Message | UnknownMessage,
    *,
    charset: str = "utf-8",
    error_detection: bool = True,
    sequence: int = 0,
    line_ending: str = "\r",
) -> bytes:
    """The wire bytes of ``message``; with error detection, ``AYn`` (not for 96/97) and ``AZ``
    plus the checksum over the encoded bytes."""
    if line_ending not in LINE_ENDINGS:
        raise Sip2Error("line ending must be CR or CR LF")
    if not 0 <= sequence <= 9:
        raise Sip2Error("sequence number is one digit 0-9", field="AY")
    out = bytearray()
    for name, text in _body(message):
        try:
            out += text.encode(charset)
        except UnicodeEncodeError as exc:
            raise Sip2Error(f"character not representable in {charset}",
                            offset=len(out) + len(text[: exc.start].encode(charset, "replace")),
                            field=name) from None
    if error_detection:
        command = message.command if isinstance(message, UnknownMessage) else message.ID
        if command not in _NO_SEQUENCE_IDS:
            out += b"AY%d" % sequence
        out += b"AZ"
        out += b"%04X" % checksum(bytes(out))
    out += line_ending.encode("ascii")
    return bytes(out)


def _strip_line(data: bytes) -> bytes:
    # A CR LF peer read up to CR leaves its LF at the start of the next line.
    line = data.removeprefix(b"\n")
    for ending in (b"\r\n", b"\r", b"\n"):
        if line.endswith(ending):
            line = line[: -len(ending)]
            break
    return line


def _fixed_end(line: bytes) -> int:
    """Where a known message's fixed fields end: a trailer can only start there or later (a
    fixed field's text, e.g. a protocol version "00AZ", is never an AZ trailer)."""
    cls = BY_ID.get(line[:2].decode("ascii", "replace")) if line[:2].isdigit() else None
    return 0 if cls is None else 2 + sum(spec.width for spec in LAYOUTS[cls].fixed)


def _split_trailer(line: bytes) -> tuple[bytes, int | None, bool]:
    """Verify and remove AY/AZ; returns (body, sequence, checksummed)."""
    # A checksummed line ends in four hex digits; one that ends with "|" ends with a variable
    # field, even if its text happens to hold "AZ" (e.g. field 0A with the value "Z000").
    if line.endswith(b"|"):
        return line, None, False
    first = _fixed_end(line)
    trailer_at = len(line) - _TRAILER_CHECKSUM
    if trailer_at < first or line[-_TRAILER_CHECKSUM:-4] != b"AZ":
        # "...AZ12" (cut short) or an AZ in the last six bytes: not a message we can trust.
        cut = line.rfind(b"AZ", max(first, trailer_at))
        if cut != -1 and line.rfind(b"|") < cut:
            raise Sip2Error("truncated checksum", offset=cut, field="AZ")
        return line, None, False
    digits = line[-4:]
    if not set(digits) <= _HEX:
        raise Sip2Error("checksum is not four hex digits", offset=len(line) - 4, field="AZ")
    if not checksum_ok(line[:-4], int(digits, 16)):
        raise Sip2Error("bad checksum", offset=len(line) - 4, field="AZ")
    body = line[:-_TRAILER_CHECKSUM]
    sequence: int | None = None
    if len(body) >= _TRAILER_SEQUENCE and body[-3:-1] == b"AY" and body[-1:].isdigit():
        sequence = body[-1] - ord("0")
        body = body[:-_TRAILER_SEQUENCE]
    return body, sequence, True


def _decode_text(raw: bytes, charset: str, offset: int, field: str) -> str:
    try:
        return raw.decode(charset)
    except UnicodeDecodeError as exc:
        raise Sip2Error(f"not valid {charset}", offset=offset + exc.start, field=field) from None


def decode_frame(
    data: bytes,
    *,
    charset: str = "utf-8",
    strict: bool = False,
    keep_unknown: bool = False,
) -> Frame:
    """Decode one line (its CR / CR LF optional). See the module docstring for what is refused."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise Sip2Error(f"message longer than {MAX_MESSAGE_BYTES} bytes", offset=MAX_MESSAGE_BYTES)
    line = _strip_line(data)
    lead = len(data) - len(data.removeprefix(b"\n"))
    for bad in (b"\r", b"\n"):
        if (at := line.find(bad)) != -1:
            raise Sip2Error("line terminator inside a message", offset=lead + at)
    body, sequence, checksummed = _split_trailer(line)
    if len(body) < 2:
        raise Sip2Error("truncated message: no message id", offset=lead + len(body),
                        field="message id")
    if not (body[:2].isascii() and body[:2].isdigit()):
        raise Sip2Error("message id is not two digits", offset=lead, field="message id")
    command = body[:2].decode("ascii")
    cls = BY_ID.get(command)
    if cls is None:
        if keep_unknown:
            text = _decode_text(body[2:], charset, lead + 2, "body")
            return Frame(UnknownMessage(command=command, body=text), sequence, checksummed)
        raise Sip2Error(f"unknown message id {command}", offset=lead, field="message id")
    table = LAYOUTS[cls]
    values: dict[str, Any] = {}
    pos = 2
    for spec in table.fixed:
        raw = body[pos : pos + spec.width]
        if len(raw) < spec.width:
            raise Sip2Error(f"truncated message: fixed field {spec.attr} needs {spec.width} "
                            f"characters", offset=lead + pos, field=spec.attr)
        if not raw.isascii():
            raise Sip2Error(f"bad fixed field {spec.attr}: not ASCII", offset=lead + pos,
                            field=spec.attr)
        values[spec.attr] = parse_fixed(spec, raw.decode("ascii"), lead + pos)
        pos += spec.width
    by_code = table.by_code()
    repeated: dict[str, list[str]] = {v.code: [] for v in table.variable if v.repeatable}
    extra: list[tuple[str, str]] = []
    delimiter = FIELD_DELIMITER.encode("ascii")
    while pos < len(body):
        raw_code = body[pos : pos + 2]
        if len(raw_code) < 2 or not raw_code.isascii() or delimiter in raw_code:
            raise Sip2Error("truncated message: bad variable field code", offset=lead + pos)
        code = raw_code.decode("ascii")
        if not code.isprintable():
            raise Sip2Error("variable field code is not printable", offset=lead + pos)
        end = body.find(delimiter, pos + 2)
        if end == -1:
            raise Sip2Error("truncated message: variable field not terminated by '|'",
                            offset=lead + pos, field=code)
        value = _decode_text(body[pos + 2 : end], charset, lead + pos + 2, code)
        var = by_code.get(code)
        if var is not None and var.repeatable:
            repeated[code].append(value)
        elif var is not None and var.attr not in values:
            values[var.attr] = value
        else:  # unknown, or a repeat of a single-valued field: kept, in order
            extra.append((code, value))
        pos = end + 1
    for var in table.variable:
        if var.repeatable:
            values[var.attr] = tuple(repeated[var.code])
        elif var.attr not in values and var.required:
            if strict:
                raise Sip2Error("required field missing", offset=lead + len(body), field=var.code)
            values[var.attr] = ""
    values["extra"] = tuple(extra)
    return Frame(cls(**values), sequence, checksummed)


def decode(
    data: bytes,
    *,
    charset: str = "utf-8",
    strict: bool = False,
    keep_unknown: bool = False,
) -> Message | UnknownMessage:
    """The message of one line; :func:`decode_frame` also gives the sequence number."""
    return decode_frame(data, charset=charset, strict=strict, keep_unknown=keep_unknown).message
