# SPDX-License-Identifier: Apache-2.0
"""The tokens file: its format, every refusal naming file and line, generation, appending,
re-reading, and the CLI that appends (real files with real modes)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from edge_service.api import ROLES, TokenBook, TokensFileError, append_token, open_token_book
from edge_service.api import tokens as tokens_module
from edge_service.api.tokens import create_tokens_file, named_tokens, parse_tokens
from edge_service.cli import main
from edge_service.cli import tokens as tokens_cli
from tests.api.helpers import tokens_of
from tests.daemon.harness import start_daemon, stop, write_config

GOOD = "A" * 16
OTHER = "b" * 20 + "=="


def private_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_format_roles_names_comments_and_blank_lines(tmp_path: Path) -> None:
    path = private_file(tmp_path / "tokens", (
        "# role token name\n"
        "\n"
        f"kiosk {GOOD}   kiosk by the door\n"
        f"   # indented comment\n"
        f"admin\t{OTHER}\n"))
    book = TokenBook.load(path)
    assert [(p.role, p.name) for p in book.principals] == [
        ("kiosk", "kiosk by the door"), ("admin", "admin (line 5)")]
    assert book.identify(GOOD) == book.principals[0]
    assert book.identify(OTHER) == book.principals[1]
    assert book.identify(GOOD + "x") is None
    assert book.identify(GOOD[:-1]) is None
    assert book.identify("") is None


@pytest.mark.parametrize(("line", "reason"), [
    ("kiosk", 'expected "ROLE TOKEN [NAME]"'),
    (f"kiosc {GOOD}", "unknown role 'kiosc' (expected kiosk, gate, staff, admin)"),
    ("staff abcdefghijklmno", "token shorter than 16 characters"),
    ("staff abcdefghijklmnop\u00e9", "characters a Bearer header cannot carry"),
    ("staff abcdefgh=ijklmnop", "characters a Bearer header cannot carry"),
    (f"gate {GOOD}", "same token as line 1"),
    (f"gate:gate-1 {GOOD}x", "only kiosk tokens can be bound to a pad, not 'gate' ones"),
    (f"kiosk: {GOOD}x", "'' is no pad name"),
    (f"kiosk:pad:2 {GOOD}x", "'pad:2' is no pad name"),
    # Columns swapped: the token is not printed (the error goes to the log).
    (f"{GOOD} staff", (f"unknown role a {len(GOOD)}-character value (not shown: it may be a "
                      "token; lines are ROLE TOKEN)")),
])
def test_bad_line_is_refused_naming_file_and_line(tmp_path: Path, line: str,
                                                  reason: str) -> None:
    path = private_file(tmp_path / "tokens", f"admin {GOOD}\n# a comment\n{line}\n")
    with pytest.raises(TokensFileError) as caught:
        TokenBook.load(path)
    assert caught.value.line == 3
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path} line 3: ")
    assert reason in str(caught.value)
    assert GOOD not in str(caught.value)   # never echoes a token


def test_a_kiosk_token_can_be_bound_to_one_pad(tmp_path: Path) -> None:
    path = private_file(tmp_path / "tokens", f"kiosk:pad-2 {GOOD}  the kiosk upstairs\n"
                                             f"kiosk {OTHER}\n")
    book = TokenBook.load(path)
    assert [(p.role, p.pad, p.name) for p in book.principals] == [
        ("kiosk", "pad-2", "the kiosk upstairs"), ("kiosk", None, "kiosk (line 2)")]
    token = append_token(path, "kiosk", pad="pad-3")
    principal = TokenBook.load(path).identify(token)
    assert principal is not None
    assert (principal.role, principal.pad, principal.name) == ("kiosk", "pad-3", "kiosk:pad-3")
    with pytest.raises(TokensFileError, match="only kiosk tokens can be bound"):
        append_token(path, "staff", pad="pad-3")


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_bytes(f"admin {GOOD}\nkiosk \xff{GOOD}\n".encode("latin-1"))
    path.chmod(0o600)
    with pytest.raises(TokensFileError, match=r"line 2: not UTF-8 text"):
        TokenBook.load(path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660, 0o644])
def test_file_others_may_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = private_file(tmp_path / "tokens", f"admin {GOOD}\n")
    path.chmod(mode)
    with pytest.raises(TokensFileError) as caught:
        TokenBook.load(path)
    assert f"(mode {mode:04o}); run: chmod 600 {path}" in str(caught.value)


def test_owner_only_modes_are_accepted(tmp_path: Path) -> None:
    path = private_file(tmp_path / "tokens", f"admin {GOOD}\n")
    path.chmod(0o400)   # systemd's LoadCredential= hands files over like this
    assert len(TokenBook.load(path).principals) == 1


def test_missing_file_and_directory_are_named(tmp_path: Path) -> None:
    with pytest.raises(TokensFileError, match=r"nope: cannot read: No such file"):
        TokenBook.load(tmp_path / "nope")
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(TokensFileError, match=r"dir: (not a regular file|cannot read)"):
        TokenBook.load(directory)


def test_empty_file_loads_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = private_file(tmp_path / "tokens", "# nobody yet\n")
    with caplog.at_level(logging.WARNING):
        book = TokenBook.load(path)
    assert book.principals == ()
    assert book.identify(GOOD) is None
    assert "holds no tokens" in caplog.text


def test_created_file_is_private_and_has_one_token_per_role(tmp_path: Path) -> None:
    path = tmp_path / "api-tokens"
    create_tokens_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tokens = tokens_of(path)
    assert list(tokens) == list(ROLES)
    assert len(set(tokens.values())) == 4
    assert all(len(token) >= 43 for token in tokens.values())
    book = TokenBook.load(path)
    assert {role: book.identify(token).role for role, token in tokens.items()  # type: ignore[union-attr]
            } == {role: role for role in ROLES}
    assert [p.name for p in parse_tokens(path.read_text(), path)] == [
        f"{role} (generated)" for role in ROLES]
    assert sorted(os.listdir(tmp_path)) == ["api-tokens"]   # no temporary file left
    with pytest.raises(TokensFileError, match="exists already; not overwritten"):
        create_tokens_file(path)
    assert tokens_of(path) == tokens


def test_open_token_book_generates_once_then_reuses(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        first = open_token_book("", tmp_path)
    assert first.path == tmp_path / "api-tokens"
    assert "api.tokens_file is not set: created" in caplog.text
    tokens = tokens_of(first.path)
    assert all(token not in caplog.text for token in tokens.values())   # never logged
    second = open_token_book("", tmp_path)
    assert tokens_of(second.path) == tokens
    assert second.identify(tokens["staff"]).role == "staff"  # type: ignore[union-attr]
    configured = private_file(tmp_path / "mine", f"gate {GOOD}\n")
    assert open_token_book(str(configured), tmp_path).principals[0].role == "gate"


def test_append_creates_private_file_and_validates_existing(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    kiosk = append_token(path, "kiosk", "kiosk 2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text(path.read_text().rstrip("\n"))   # an editor that drops the last newline
    staff = append_token(path, "staff")
    book = TokenBook.load(path)
    assert [(p.role, p.name) for p in book.principals] == [("kiosk", "kiosk 2"),
                                                            ("staff", "staff")]
    assert book.identify(kiosk).role == "kiosk"  # type: ignore[union-attr]
    assert book.identify(staff).role == "staff"  # type: ignore[union-attr]

    with pytest.raises(TokensFileError, match="unknown role 'root'"):
        append_token(path, "root")
    with pytest.raises(TokensFileError, match="name is one line"):
        append_token(path, "kiosk", "two\nlines")
    before = path.read_text()
    path.write_text(before + "kiosk short\n")
    with pytest.raises(TokensFileError, match="line 3: token shorter"):
        append_token(path, "kiosk")
    path.write_text(before)
    path.chmod(0o644)
    with pytest.raises(TokensFileError, match="mode 0644"):
        append_token(path, "kiosk")
    assert path.read_text() == before   # nothing added to a refused file


def test_book_rereads_a_changed_file_and_keeps_tokens_when_it_breaks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(tokens_module, "RELOAD_CHECK_S", 0.0)
    path = private_file(tmp_path / "tokens", f"kiosk {GOOD}\n")
    book = TokenBook.load(path)
    assert book.identify(OTHER) is None
    added = append_token(path, "gate")
    assert book.identify(added).role == "gate"  # type: ignore[union-attr]

    path.write_text(f"gate {added}\n")   # the kiosk token revoked
    assert book.identify(GOOD) is None
    with caplog.at_level(logging.ERROR):
        path.write_text(f"gate {added}\nkiosk tooshort\n")
        assert book.identify(added).role == "gate"  # type: ignore[union-attr]
        assert book.identify(added).role == "gate"  # type: ignore[union-attr]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1   # once per problem, not once per request
    assert "keeping the ones last read" in errors[0].getMessage()
    assert "line 2: token shorter" in errors[0].getMessage()
    path.unlink()
    assert book.identify(added).role == "gate"  # type: ignore[union-attr]


def test_a_file_opened_to_others_while_in_force_is_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # chmod changes no content (inode, time and size stay): the mode is looked at too.
    monkeypatch.setattr(tokens_module, "RELOAD_CHECK_S", 0.0)
    path = private_file(tmp_path / "tokens", f"kiosk {GOOD}\n")
    book = TokenBook.load(path)
    with caplog.at_level(logging.ERROR):
        path.chmod(0o644)
        book.identify(GOOD)
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "group or others may access it (mode 0644)" in error.getMessage()


def test_a_token_is_held_while_its_line_stands_wherever_it_moves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An unnamed line's name is "ROLE (line N)": a line added above it must not end the
    # token's open event streams (TokenBook.holds), its removal must.
    monkeypatch.setattr(tokens_module, "RELOAD_CHECK_S", 0.0)
    path = private_file(tmp_path / "tokens", f"kiosk {GOOD}\n")
    book = TokenBook.load(path)
    holder = book.identify(GOOD)
    assert holder is not None
    assert book.holds(holder)
    path.write_text(f"staff {OTHER}\nkiosk {GOOD}\n")
    assert book.holds(holder)
    path.write_text(f"staff {OTHER}\n")
    assert not book.holds(holder)


def test_book_looks_at_the_file_at_most_every_reload_check(tmp_path: Path) -> None:
    path = private_file(tmp_path / "tokens", f"kiosk {GOOD}\n")
    book = TokenBook.load(path)
    path.write_text(f"kiosk {OTHER}\n")
    # Within RELOAD_CHECK_S (1 s) of loading, the old tokens still answer.
    assert book.identify(GOOD) is not None


def test_cli_tokens_new_appends_and_prints_the_token(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tokens_cli.ROLES == ROLES
    path = tmp_path / "api-tokens"
    assert main(["tokens", "new", "--role", "staff", "--file", str(path),
                 "--name", "desk 1"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert f"added a staff token to {path}" in err
    principal = TokenBook.load(path).identify(token)
    assert principal is not None
    assert (principal.role, principal.name) == ("staff", "desk 1")
    assert main(["tokens", "new", "--role", "kiosk", "--file", str(path), "--pad", "pad-2"]) == 0
    out, err = capsys.readouterr()
    assert f"added a kiosk token bound to pad pad-2 to {path}" in err
    principal = TokenBook.load(path).identify(out.strip())
    assert principal is not None
    assert (principal.role, principal.pad) == ("kiosk", "pad-2")

    path.chmod(0o640)
    assert main(["tokens", "new", "--role", "kiosk", "--file", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"libedge: {path}: group or others may access it" in err
    with pytest.raises(SystemExit):
        main(["tokens", "new", "--role", "root", "--file", str(path)])


def test_daemon_refuses_to_start_with_a_bad_tokens_file(tmp_path: Path) -> None:
    bad = private_file(tmp_path / "tokens", f"admin {GOOD}\nkiosk short-token\n")
    config = write_config(tmp_path / "libedge.toml", [], db=tmp_path / "libedge.db")
    config.write_text(config.read_text().replace(
        "[api]\nport = 0\n", f'[api]\nport = 0\ntokens_file = "{bad}"\n'))
    daemon = start_daemon(config, tmp_path / "stderr.log")
    try:
        assert daemon.wait(timeout=20) == 1
    finally:
        stop(daemon)
    log = (tmp_path / "stderr.log").read_text()
    assert f"cannot start: {bad} line 2: token shorter than 16 characters" in log
    assert "Traceback" not in log


def test_named_tokens_key_by_role_and_name_first_line_winning(tmp_path: Path) -> None:
    path = tmp_path / "api-tokens"
    kiosk = append_token(path, "kiosk", "front desk")
    staff = append_token(path, "staff", "front desk")   # another role: another key
    append_token(path, "kiosk", "front desk")    # a later line of that role and name does not win
    gate = append_token(path, "gate")            # named after its role
    assert named_tokens(path) == {("kiosk", "front desk"): kiosk,
                                  ("staff", "front desk"): staff, ("gate", "gate"): gate}
    path.chmod(0o644)
    with pytest.raises(TokensFileError, match="group or others"):
        named_tokens(path)
