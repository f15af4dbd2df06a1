# SPDX-License-Identifier: Apache-2.0
"""The shipped unit and udev rules: exposure score, offline verification, rule syntax."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD / "libedge.service"
RULES = SYSTEMD / "60-libedge-readers.rules"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")

EXPOSURE_BUDGET = 2.0


@needs_analyze
def test_exposure_score_within_budget() -> None:
    result = subprocess.run([str(ANALYZE), "security", "--offline=yes", str(UNIT)],
                            capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"Overall exposure level for libedge\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= EXPOSURE_BUDGET


def test_serial_devices_stay_reachable() -> None:
    lines = UNIT.read_text().splitlines()
    assert "PrivateDevices=yes" not in lines  # would hide /dev/ttyUSB*
    for line in ("DevicePolicy=closed", "DeviceAllow=char-ttyUSB rw", "DeviceAllow=char-ttyACM rw",
                 "SupplementaryGroups=dialout", "Type=notify", "WatchdogSec=30"):
        assert line in lines


@needs_analyze
def test_verify_accepts_the_unit(tmp_path: Path) -> None:
    # Offline, /usr/bin/libedge is not installed: verify checks that ExecStart is executable,
    # so the copy points at this checkout's console script; everything else is the shipped unit.
    script = shutil.which("libedge") or str(Path(__file__).resolve().parents[2]
                                            / ".venv" / "bin" / "libedge")
    unit = tmp_path / "libedge.service"
    unit.write_text(UNIT.read_text().replace("/usr/bin/libedge", script))
    result = subprocess.run([str(ANALYZE), "verify", str(unit)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "libedge.service" not in result.stderr, result.stderr


KNOWN_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "ATTRS", "SYMLINK", "GROUP", "MODE", "TAG",
              "GOTO", "LABEL"}


def test_udev_rules_are_well_formed() -> None:
    symlinks: set[str] = set()
    for number, line in enumerate(RULES.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        for pair in (p.strip() for p in line.split(",")):
            match = re.fullmatch(r'([A-Z]+)(\{[a-zA-Z_]+\})?(==|!=|\+=|=)"([^"]*)"', pair)
            assert match, f"line {number}: {pair!r}"
            key, _, _, value = match.groups()
            assert key in KNOWN_KEYS, f"line {number}: {key}"
            if key == "ATTRS" and "idVendor" in pair:
                assert re.fullmatch(r"[0-9a-f]{4}", value), f"line {number}: {value}"
            if key == "SYMLINK":
                assert value.startswith("libedge/"), f"line {number}: {value}"
                symlinks.add(value.split("-")[0])
    assert {"libedge/feig", "libedge/3m", "libedge/trf7970a"} <= symlinks
