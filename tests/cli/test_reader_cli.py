# SPDX-License-Identifier: Apache-2.0
"""`libedge sim reader` in a child process, driven by `libedge reader ...` over its real pty."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_service.cli import main
from tests.conftest import load_vectors

PART3 = load_vectors("iso28560")[14]["hex"]
SECURED_ITEM = "E004015012345678"
BLANK = "E004015012345679"


@pytest.fixture
def simulated_3m(tmp_path: Path) -> Iterator[str]:
    with simulated(tmp_path, "3m", [
        {"uid": SECURED_ITEM, "memory": PART3, "afi": "D7"},
        {"uid": BLANK, "afi": "DA"},
    ]) as port:
        yield port


@contextlib.contextmanager
def simulated(tmp_path: Path, protocol: str, tags: list[dict[str, str]]) -> Iterator[str]:
    """`libedge sim reader` with ``tags`` in a child process; yields its pty."""
    scenario = tmp_path / "pad.json"
    scenario.write_text(json.dumps({"tags": tags}))
    child = subprocess.Popen(
        [sys.executable, "-m", "edge_service", "sim", "reader", "--protocol", protocol,
         "--scenario", str(scenario)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("pty: "), first
        yield first.split(" ", 1)[1].strip()
    finally:
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=10)
        assert child.returncode == 0


def reader(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["reader", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_inventory_read_write_secure(simulated_3m: str, capsys: pytest.CaptureFixture[str]) -> None:
    port = ["--port", simulated_3m, "--protocol", "3m", "--security", "3m"]
    code, out, _ = reader(capsys, "inventory", *port, "--json")
    assert code == 0
    assert {t["uid"] for t in json.loads(out)["tags"]} == {SECURED_ITEM, BLANK}

    code, out, _ = reader(capsys, "read", *port, "--uid", SECURED_ITEM, "--json")
    record = json.loads(out)
    assert (record["model"], record["primary_item_id"], record["secured"]) == (
        "iso28560-3", "11223344", True,
    )

    code, _, err = reader(capsys, "read", *port)
    assert code == 2
    assert "2 tags in the field" in err

    code, out, _ = reader(
        capsys, "write", *port, "--uid", BLANK, "--model", "iso28560-2",
        "--item-id", "5012345678", "--owner", "DK-718500", "--json",
    )
    assert code == 0
    assert json.loads(out)["tag"]["primary_item_id"] == "5012345678"

    code, _, err = reader(
        capsys, "write", *port, "--uid", BLANK, "--model", "iso28560-2", "--item-id", "1",
    )
    assert code == 2
    assert "--force" in err

    code, out, _ = reader(capsys, "secure", *port, "--uid", BLANK, "--json")
    assert json.loads(out) == {"uid": BLANK, "secured": True, "verified": True, "afi": "D7",
                               "eas": None}


PART2_ITEM = "E004015012345670"


def test_write_sets_the_dsfid_and_locks_per_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Part 2 gets DSFID 06 and its lock plan; a part 2 tag rewritten as part 3 gets DSFID 00
    (it must stop claiming part 2), and part 3 has no lock plan to lock."""
    tags = [{"uid": BLANK}, {"uid": PART2_ITEM, "dsfid": "06", "memory": "AA" * 16}]
    with simulated(tmp_path, "feig", tags) as port:
        on = ["--port", port, "--protocol", "feig"]
        code, out, err = reader(
            capsys, "write", *on, "--uid", BLANK, "--model", "iso28560-2", "--item-id", "1234",
            "--lock", "--json",
        )
        assert code == 0, err
        result = json.loads(out)
        assert (result["dsfid"], result["locked_blocks"]) == ("06", [0])
        assert "lock" not in result
        assert result["tag"]["model"] == "iso28560-2"

        code, out, err = reader(
            capsys, "write", *on, "--uid", PART2_ITEM, "--model", "iso28560-3",
            "--item-id", "5678", "--force", "--lock", "--json",
        )
        assert code == 0, err
        result = json.loads(out)
        assert (result["dsfid"], result["locked_blocks"]) == ("00", [])
        assert result["lock"] == "no lock plan for iso28560-3"

        code, out, _ = reader(capsys, "inventory", *on, "--json")
        assert {tag["uid"]: tag["dsfid"] for tag in json.loads(out)["tags"]} == {
            BLANK: "06", PART2_ITEM: "00",
        }
        code, out, _ = reader(capsys, "read", *on, "--uid", PART2_ITEM, "--json")
        assert (json.loads(out)["model"], json.loads(out)["primary_item_id"]) == (
            "iso28560-3", "5678")


def test_write_refuses_a_tag_with_locked_blocks_before_touching_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The DSFID is written first (its lock cannot be read); a locked data block must stop
    the write before that, or the tag is left claiming another model. Found by a review."""
    tags = [{"uid": PART2_ITEM, "dsfid": "06", "memory": "AA" * 16, "locked": [0]}]
    with simulated(tmp_path, "feig", tags) as port:
        on = ["--port", port, "--protocol", "feig"]
        code, _, err = reader(capsys, "write", *on, "--uid", PART2_ITEM, "--model",
                              "iso28560-3", "--item-id", "5678", "--force")
        assert code == 2
        assert "has locked blocks (0)" in err
        code, out, _ = reader(capsys, "inventory", *on, "--json")
        assert json.loads(out)["tags"][0]["dsfid"] == "06"


def test_missing_device_is_a_clear_failure(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    code, _, err = reader(capsys, "info", "--port", os.fspath(tmp_path / "ttyNONE"),
                          "--protocol", "3m")
    assert code == 1
    assert "ttyNONE" in err


def test_repeated_commands_reopen_the_same_pty(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """FEIG asks for 8E1; a pty cannot carry parity, and reopening it must still work."""
    scenario = tmp_path / "one.json"
    scenario.write_text(json.dumps({"tags": [{"uid": SECURED_ITEM, "memory": PART3}]}))
    child = subprocess.Popen(
        [sys.executable, "-m", "edge_service", "sim", "reader", "--protocol", "feig",
         "--scenario", str(scenario)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        port = child.stdout.readline().split(" ", 1)[1].strip()
        for _ in range(3):
            code, out, err = reader(capsys, "inventory", "--port", port, "--protocol", "feig")
            assert (code, out.split()[0]) == (0, SECURED_ITEM), err
    finally:
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=10)


@pytest.mark.parametrize(("extra", "words"), [
    (["--model", "iso28560-4", "--item-id", "1"], "UHF"),
    (["--model", "iso28560-2", "--item-id", "1", "--type-of-usage", "zz"], "two hex digits"),
    (["--model", "3m", "--item-id", "1", "--element", "title=x"], "no place for title"),
])
def test_write_arguments_are_checked_before_any_device_is_opened(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], words: str) -> None:
    """The port does not exist: a usage error proves nothing was opened or read."""
    code, _, err = reader(capsys, "write", "--port", os.fspath(tmp_path / "ttyNONE"),
                          "--protocol", "3m", *extra)
    assert code == 2
    assert words in err


def test_a_uid_written_backwards_is_refused(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    code, _, err = reader(capsys, "read", "--port", os.fspath(tmp_path / "ttyNONE"),
                          "--protocol", "3m", "--uid", "78563412500104E0")
    assert code == 2
    assert "starts with E0" in err


def test_a_missing_scenario_file_is_named_like_a_bad_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "stack.json"
    assert main(["sim", "reader", "--protocol", "feig", "--scenario", str(missing)]) == 2
    assert capsys.readouterr().err == f"scenario {missing}: No such file or directory\n"
