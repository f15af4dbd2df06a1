# SPDX-License-Identifier: Apache-2.0
"""`libedge tag decode|encode|convert` as people and scripts use them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edge_service.cli import main
from tests.conftest import load_vectors

VECTORS = load_vectors("iso28560")
ANNEX_D = VECTORS[0]["hex"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_decode_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tag", "decode", ANNEX_D, "--json")
    record = json.loads(out)
    assert code == 0
    assert record["model"] == "iso28560-2"
    assert record["primary_item_id"] == "123456789012"
    assert record["owner_institution"] == "US-InU-Mu"
    assert (record["set_total"], record["set_part"]) == (12, 3)
    assert record["elements"]["shelf_location"] == "QA268.L55"
    assert record["warnings"] == []


def test_decode_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tag", "decode", " ".join([ANNEX_D[:8], ANNEX_D[8:]]))
    assert code == 0
    assert "model: iso28560-2" in out
    assert "shelf_location: QA268.L55" in out


def test_decode_bad_hex_names_the_position(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tag", "decode", "1101zz")
    assert code == 1
    assert "hex digit 4" in err


def test_encode_reproduces_annex_d_with_its_lock_map(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "tag", "encode", "--model", "iso28560-2", "--item-id", "123456789012",
        "--owner", "US-InU-Mu", "--set-total", "12", "--set-part", "3",
        "--element", "shelf_location=QA268.L55", "--json",
    )
    assert code == 0
    assert json.loads(out) == {"model": "iso28560-2", "hex": ANNEX_D, "lock_map": "ll....lll"}


def test_encode_refuses_data_that_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "tag", "encode", "--model", "iso28560-2", "--item-id", "X" * 60, "--size", "32",
    )
    assert code == 1
    assert "32" in err


def test_encode_rejects_unknown_element_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "tag", "encode", "--model", "iso28560-3", "--item-id", "1",
        "--element", "colour=red",
    )
    assert code == 1
    assert "unknown element" in err


def test_encode_then_decode_round_trip_part3(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(
        capsys, "tag", "encode", "--model", "iso28560-3", "--item-id", "5012345678",
        "--owner", "DK-718500", "--type-of-usage", "10", "--element", "title=Søren Kierkegaard",
    )
    _, decoded, _ = run(capsys, "tag", "decode", out.strip(), "--json")
    record = json.loads(decoded)
    assert record["model"] == "iso28560-3"
    assert record["elements"]["title"] == "Søren Kierkegaard"
    assert record["type_of_usage"] == 0x10


def test_convert_refusal_then_allow_loss(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tag", "convert", ANNEX_D, "--to", "3m")
    assert code == 1
    assert err == ("refused: converting to 3m would lose owner_institution, shelf_location; "
                   "add --allow-loss to convert anyway\n")
    code, out, err = run(capsys, "tag", "convert", ANNEX_D, "--to", "3m", "--allow-loss")
    assert code == 0
    assert out.strip().startswith("04")
    assert "dropped: owner_institution" in err


def test_decode_stdin_bulk_keeps_going_past_bad_lines() -> None:
    """The real console entry point in a child process, fed a batch with a broken line."""
    lines = [ANNEX_D, "not hex", VECTORS[14]["hex"], "", VECTORS[21]["hex"]] * 200
    done = subprocess.run(
        [sys.executable, "-m", "edge_service", "tag", "decode", "--stdin"],
        input="\n".join(lines), capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode == 1   # a script notices the bad lines without reading them all
    assert done.stderr == "libedge tag decode: 200 line(s) not decoded\n"
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 1000  # one answer per input line, empty ones included
    assert [r.get("model", "error") for r in records[:5]] == [
        "iso28560-2", "error", "iso28560-3", "error", "3m",
    ]
    assert records[1]["line"] == 2
    assert "not a hex digit" in records[1]["error"]
    assert records[3] == {"line": 4, "error": "empty line"}


def test_decode_stdin_of_good_lines_succeeds_and_refuses_hex_beside_it() -> None:
    command = [sys.executable, "-m", "edge_service", "tag", "decode", "--stdin"]
    done = subprocess.run(command, input=f"{ANNEX_D}\n\n", capture_output=True, text=True,
                          check=False, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")   # a blank line is no failed image
    both = subprocess.run([*command, ANNEX_D], input=ANNEX_D, capture_output=True, text=True,
                          check=False, timeout=60)
    assert both.returncode == 1
    assert both.stderr == "libedge tag decode: give HEX or --stdin, not both\n"
    assert both.stdout == ""


@pytest.mark.parametrize(("argv", "words"), [
    (["tag", "decode", "0102", "--dsfid", "zz"], "not hex"),
    (["tag", "decode", "0102", "--dsfid", "1FF"], "not one byte"),
    (["reader", "inventory", "--port", "/dev/null", "--protocol", "feig", "--afi", "ZZ"],
     "argument --afi: 'ZZ' is not hex"),
    (["reader", "inventory", "--port", "/dev/null", "--protocol", "feig", "--afi", "1FF"],
     "argument --afi: '1FF' is not one byte"),
    (["tag", "encode", "--model", "3m", "--item-id", "1", "--size", "100000000"], "4-byte blocks"),
    (["tag", "encode", "--model", "3m", "--item-id", "1", "--size", "33"], "4-byte blocks"),
])
def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str],
                                        words: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "words"), [
    (["--item-id", ""], "cannot be empty"),
    (["--item-id", "1", "--type-of-usage", "999"], "two hex digits"),
    (["--item-id", "1", "--element", "primary_item_identifier=5"], "--item-id"),
    (["--item-id", "31234", "--model", "3m", "--element", "media_format=6"], "no 3M item type"),
])
def test_encode_refuses_what_it_cannot_write(capsys: pytest.CaptureFixture[str],
                                             extra: list[str], words: str) -> None:
    model = [] if "--model" in extra else ["--model", "iso28560-2"]
    code, out, err = run(capsys, "tag", "encode", *model, *extra)
    assert code == 1
    assert out == ""
    assert words in err
