# SPDX-License-Identifier: Apache-2.0
"""Role tokens: the tokens file, its validation, and constant-time look-up.

The file (``api.tokens_file``; docs/configuration.md#api) is UTF-8 text, one token per line::

    # role   token                                         name (optional, to the end of the line)
    kiosk    mY6kR0c2o0h4D9nqk1h3bQ8sVn0s4Y1lZk9r2bT7xQe  kiosk by the entrance
    admin    Zq3...                                        the library's IT

- Blank lines and lines whose first non-blank character is ``#`` are ignored.
- ``role``: ``kiosk``, ``gate``, ``staff`` or ``admin`` (:data:`ROLES`). A kiosk token may be
  bound to one pad, ``kiosk:PAD`` (the pad reader's name, :data:`PAD_NAME`): it then acts on
  that pad's self-check only (another pad answers 403), its event stream shows that pad's
  messages only and ``/api/v1/devices`` that pad only. An unbound kiosk token acts on any pad
  of the box (one pad per box: the same).
- ``token``: at least :data:`MIN_TOKEN_LENGTH` characters of the RFC 6750 token alphabet
  (``A-Z a-z 0-9 - . _ ~ + /``, then ``=`` padding), unique in the file.
- ``name``: what logs and audit records show for the token, never the token itself.
- The file must not be accessible to group or others (``mode & 0o077 == 0``): it is refused, as
  ssh refuses a private key, because anyone who can read it can act as its admin.

Contract:
- :meth:`TokenBook.load` validates the whole file or raises :class:`TokensFileError` naming the
  file and the line; nothing is half-loaded.
- :meth:`TokenBook.identify` hashes the presented token once and compares its SHA-256 digest
  with every known token's digest by ``hmac.compare_digest``, without stopping at a match:
  the time taken says neither which token matched nor how much of one. Only digests are kept.
- The book re-reads its file when the file changes (looked at no more often than every
  :data:`RELOAD_CHECK_S`): a token added by ``libedge tokens new`` works, and a removed one
  stops working, without a restart. A file that became invalid is logged and the tokens last
  read stay in force.
- :func:`create_tokens_file` writes one fresh token per role into a new 0600 file, atomically;
  :func:`append_token` adds one (``libedge tokens new``).

Not responsible for: HTTP (``auth`` reads the header and checks roles), accounts, expiry.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge_service.config import READER_NAME, READER_NAME_RULE

__all__ = ["DEFAULT_TOKENS_FILE", "MIN_TOKEN_LENGTH", "RELOAD_CHECK_S", "ROLES", "Principal",
           "TokenBook", "TokensFileError", "append_token", "check_role", "check_token",
           "create_tokens_file", "named_tokens", "open_token_book", "parse_tokens"]

logger = logging.getLogger(__name__)

ROLES = ("kiosk", "gate", "staff", "admin")
"""Who holds a token: a self-check kiosk, a security gate's monitor, a staff station, the
box's administrator (passes every check)."""
MIN_TOKEN_LENGTH = 16
"""Shorter tokens are refused: 16 characters of this alphabet are ~96 bits at the least."""
GENERATED_TOKEN_BYTES = 32
"""``secrets.token_urlsafe(32)``: 43 characters, 256 bits."""
DEFAULT_TOKENS_FILE = "api-tokens"
"""Where the daemon keeps its tokens when ``api.tokens_file`` is empty: in the state directory
(the directory of ``storage.path``)."""
RELOAD_CHECK_S = 1.0
"""How often, at most, a request makes the book look at its file's modification time."""

_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
"""RFC 6750 section 2.1 ``b64token``: what a Bearer header can carry unescaped."""
PAD_NAME = READER_NAME
"""A pad a kiosk token can be bound to: a reader's name, as the configuration admits it."""


class TokensFileError(OSError):
    """A tokens file that cannot be used; names the file and, when known, the line.

    An ``OSError`` like :class:`~edge_service.api.server.ApiUnavailable`: the API cannot start
    without its tokens, and the daemon reports either the same way (exit 1, the message)."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        self.key = "api.tokens_file"
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path} line {line}"
        super().__init__(f"{where}: {reason}")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: the token's role and its name (never the token); ``pad``:
    the one pad a kiosk token is bound to, None for any (only kiosk tokens have one:
    :func:`split_role`). ``digest``: the SHA-256 of its token (internal: whether that token is
    still in force, :meth:`TokenBook.holds`)."""

    role: str
    name: str
    pad: str | None = None
    digest: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    digest: bytes


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def _shown(value: str) -> str:
    """``value`` for an error message, unless it is long enough to be a token (a line with its
    columns swapped must not print the token into the log)."""
    if len(value) < MIN_TOKEN_LENGTH:
        return repr(value)
    return f"a {len(value)}-character value (not shown: it may be a token; lines are ROLE TOKEN)"


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {_shown(role)} (expected {', '.join(ROLES)})")
    return role


def split_role(field: str) -> tuple[str, str | None]:
    """``kiosk`` -> (kiosk, None); ``kiosk:pad-2`` -> (kiosk, pad-2); ValueError otherwise."""
    role, colon, pad = field.partition(":")
    check_role(role)
    if not colon:
        return role, None
    if role != "kiosk":
        raise ValueError(f"only kiosk tokens can be bound to a pad, not {role!r} ones")
    return role, check_pad(pad)


def check_pad(pad: str) -> str:
    if not PAD_NAME.fullmatch(pad):
        raise ValueError(f"{_shown(pad)} is no pad name ({READER_NAME_RULE}: the pad reader's "
                         "name)")
    return pad


def check_token(token: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"token shorter than {MIN_TOKEN_LENGTH} characters")
    if not _TOKEN.fullmatch(token):
        raise ValueError("token has characters a Bearer header cannot carry "
                         "(allowed: A-Z a-z 0-9 - . _ ~ + / and trailing =)")
    return token


def parse_tokens(text: str, path: Path | str) -> tuple[Principal, ...]:
    """The principals of a tokens file's ``text``; raises :class:`TokensFileError`."""
    return tuple(entry.principal for entry in _parse(text, path))


def _lines(text: str, path: Path | str) -> Iterator[tuple[int, list[str]]]:
    """Each token line's number and fields (ROLE, TOKEN[, NAME]); comments and blanks skipped."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, 2)
        if len(fields) < 2:
            raise TokensFileError(path, 'expected "ROLE TOKEN [NAME]"', number)
        yield number, fields


def _parse(text: str, path: Path | str) -> list[_Entry]:
    entries: list[_Entry] = []
    first_line: dict[bytes, int] = {}
    for number, fields in _lines(text, path):
        token = fields[1]
        try:
            role, pad = split_role(fields[0])
            check_token(token)
        except ValueError as exc:
            raise TokensFileError(path, str(exc), number) from None
        digest = _digest(token)
        if digest in first_line:
            raise TokensFileError(path, f"same token as line {first_line[digest]}", number)
        first_line[digest] = number
        name = fields[2] if len(fields) == 3 else f"{fields[0]} (line {number})"
        entries.append(_Entry(Principal(role, name, pad, digest), digest))
    return entries


def _check_private(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise TokensFileError(path, "not a regular file")
    if st.st_mode & 0o077:
        raise TokensFileError(path, f"group or others may access it (mode "
                                    f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}")


def _read(path: Path) -> tuple[list[_Entry], tuple[int, int, int, int]]:
    try:
        with path.open("rb") as file:
            st = os.fstat(file.fileno())
            _check_private(path, st)
            data = file.read()
    except TokensFileError:
        raise
    except OSError as exc:
        raise TokensFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise TokensFileError(path, "not UTF-8 text", line) from None
    return _parse(text, path), _stamp(st)


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    """What tells a changed file: its inode, content (time, size) and mode (a ``chmod`` that
    opens it to others changes no content, and must not go unnoticed)."""
    return (st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode)


class TokenBook:
    """The tokens in force; see the module docstring."""

    def __init__(self, path: Path, entries: Iterable[_Entry],
                 stamp: tuple[int, int, int, int]) -> None:
        self.path = path
        self._entries = tuple(entries)
        self._stamp = stamp
        self._checked_s = time.monotonic()
        self._reported: str | None = None

    @classmethod
    def load(cls, path: Path | str) -> TokenBook:
        path = Path(path)
        entries, stamp = _read(path)
        if not entries:
            logger.warning("%s holds no tokens: every endpoint but health refuses requests",
                           path)
        return cls(path, entries, stamp)

    @property
    def principals(self) -> tuple[Principal, ...]:
        return tuple(entry.principal for entry in self._entries)

    def identify(self, token: str) -> Principal | None:
        """The holder of ``token``, or None; constant time in the token's content."""
        self._maybe_reload()
        presented = _digest(token)
        found: Principal | None = None
        for entry in self._entries:
            # No early exit: every entry is compared whatever matched before.
            if hmac.compare_digest(presented, entry.digest):
                found = entry.principal
        return found

    def holds(self, principal: Principal) -> bool:
        """Whether ``principal``'s token is still in force, with the same role and pad
        (re-reading a changed file as :meth:`identify` does): an open event stream ends when
        its token is withdrawn. Not the name: an unnamed line's ("ROLE (line N)") moves when a
        line above it is added or removed."""
        self._maybe_reload()
        found = False
        for entry in self._entries:
            if hmac.compare_digest(principal.digest, entry.digest):
                found = (entry.principal.role, entry.principal.pad) == (principal.role,
                                                                        principal.pad)
        return found

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked_s < RELOAD_CHECK_S:
            return
        self._checked_s = now
        try:
            stamp = _stamp(self.path.stat())
        except OSError as exc:
            self._report(f"{self.path}: cannot read: {exc.strerror or exc}")
            return
        if stamp == self._stamp:
            return
        try:
            entries, stamp = _read(self.path)
        except TokensFileError as exc:
            self._report(str(exc))
            return
        self._entries, self._stamp, self._reported = tuple(entries), stamp, None
        logger.info("api tokens re-read from %s: %d token(s)", self.path, len(self._entries))

    def _report(self, problem: str) -> None:
        if problem != self._reported:  # once per problem, not once per request
            self._reported = problem
            logger.error("api tokens unchanged, keeping the ones last read: %s", problem)


def open_token_book(tokens_file: str, state_directory: Path) -> TokenBook:
    """The daemon's tokens: ``tokens_file`` when configured; else ``DEFAULT_TOKENS_FILE`` in
    ``state_directory``, created with one fresh token per role on the first start."""
    if tokens_file:
        return TokenBook.load(tokens_file)
    path = state_directory / DEFAULT_TOKENS_FILE
    if not path.exists():
        create_tokens_file(path)
        logger.warning("api.tokens_file is not set: created %s with one token per role "
                       "(mode 0600); give each kiosk, gate and staff station its role's token",
                       path)
    return TokenBook.load(path)


def _token_line(role: str, token: str, name: str) -> str:
    return f"{role:<6} {token}  {name}\n"


def create_tokens_file(path: Path | str, roles: Iterable[str] = ROLES) -> None:
    """A new 0600 file with one fresh token per role; TokensFileError if ``path`` exists.

    Written to a temporary file first and linked into place, so a crash leaves either no
    file or a complete one."""
    path = Path(path)
    lines = ["# LibEdge API role tokens: ROLE TOKEN [NAME]; keep this file mode 0600.\n",
             "# Generated at first start; add more with `libedge tokens new --role ROLE`.\n"]
    lines.extend(_token_line(check_role(role), secrets.token_urlsafe(GENERATED_TOKEN_BYTES),
                             f"{role} (generated)") for role in roles)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        _write_new(temporary, "".join(lines))
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise TokensFileError(path, "exists already; not overwritten") from None
    except TokensFileError:
        raise
    except OSError as exc:
        raise TokensFileError(path, f"cannot create: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def _write_new(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def append_token(path: Path | str, role: str, name: str = "", *,
                 pad: str | None = None) -> str:
    """Append a fresh ``role`` token (a kiosk one bound to ``pad`` if given) to ``path``
    (created 0600 if missing) and return it.

    An existing file is validated first: a token is never added to a file the daemon would
    refuse."""
    path = Path(path)
    field = role if pad is None else f"{role}:{pad}"
    try:
        split_role(field)
    except ValueError as exc:
        raise TokensFileError(path, str(exc)) from None
    if any(c in name for c in "\r\n"):
        raise TokensFileError(path, "a token's name is one line")
    if path.exists():
        _read(path)
    token = secrets.token_urlsafe(GENERATED_TOKEN_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as file:
            _check_private(path, os.fstat(file.fileno()))
            if file.tell() > 0 and not _ends_with_newline(path):
                file.write(b"\n")
            file.write(_token_line(field, token, name.strip() or field).encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
    except TokensFileError:
        raise
    except OSError as exc:
        raise TokensFileError(path, f"cannot write: {exc.strerror or exc}") from None
    return token


def named_tokens(path: Path | str) -> dict[tuple[str, str], str]:
    """``(ROLE, NAME) -> TOKEN`` of a tokens file checked as the daemon checks it (the first
    line of a role and name wins; a name on a line of another role is another key): for a
    tool that hands its own tokens out again, as the demo does with a kept state directory.
    Raises :class:`TokensFileError`."""
    path = Path(path)
    _read(path)
    named: dict[tuple[str, str], str] = {}
    for _, fields in _lines(path.read_text(encoding="utf-8"), path):
        if len(fields) == 3:
            named.setdefault((fields[0], fields[2]), fields[1])
    return named


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"
