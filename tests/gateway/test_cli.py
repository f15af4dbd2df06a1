# SPDX-License-Identifier: Apache-2.0
"""``libedge gateway`` and ``libedge gateway import`` through the real command line: exit codes
and messages in-process, and an import as a child process publishing to a real Mosquitto."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from edge_service.cli import main
from protocols.contract import ItemDelta
from tests.gateway.broker import MOSQUITTO, free_port, mosquitto
from tests.gateway.helpers import S, T
from tests.gateway.listener import listening
from tests.gateway.marc import OWNER, field, record, write

ROOT = Path(__file__).resolve().parents[2]
GOOD = f'[gateway]\ntenant = "{T}"\n'
HEADER = "owner_institution,primary_item_id,title,media,circulation_status,set_size,sort_bin\n"
needs_mosquitto = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is needed")


def config(tmp_path: Path, text: str, *, tables: str = "", mqtt_port: int | None = None
           ) -> Path:
    path = tmp_path / "gateway.toml"
    state = tmp_path / "gateway.db"
    port = mqtt_port or free_port()   # nothing listens there unless a broker was started
    path.write_text(f'{text}state_path = "{state}"\n{tables}'
                    f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n')
    return path


@pytest.mark.parametrize(("text", "tables", "key"), [
    (GOOD + 'pool_size = "four"\n', "", "gateway.pool_size: expected int, got 'four'"),
    (GOOD + 'default_offline_policy = "sometimes"\n', "", "gateway.offline_policy.(default)"),
    (GOOD, f'[gateway.offline_policy]\n{S} = "maybe"\n',
     f"gateway.offline_policy.{S}: expected one of no_block, checked, refuse, got 'maybe'"),
    ('[gateway]\ntenant = "a/b"\n', "", "gateway.tenant/group"),
    (GOOD + "snapshot_page_items = 1.5\n", "", "gateway.snapshot_page_items"),
    (GOOD + "snapshot_page_items = 1001\n", "",
     "gateway.snapshot_page_items: expected 1..1000, got 1001"),
    (GOOD, '[sip2]\nport = "x"\n', "sip2"),
    (GOOD + 'instance = "gw 1"\n', "", "gateway.instance: 'gw 1' has characters outside"),
])
def test_a_bad_config_exits_2_naming_the_key(tmp_path: Path, text: str, tables: str, key: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, text, tables=tables)
    assert main(["gateway", "--config", str(path)]) == 2
    assert key in capsys.readouterr().err


def test_config_file_problems_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "--config", str(tmp_path / "none.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "broken.toml").write_text("[gateway\n")
    assert main(["gateway", "--config", str(tmp_path / "broken.toml")]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    secret = config(tmp_path, GOOD).read_text() + f'password_file = "{tmp_path}/nope"\n'
    (tmp_path / "secret.toml").write_text(secret)
    assert main(["gateway", "--config", str(tmp_path / "secret.toml")]) == 2
    assert "mqtt.password_file: cannot read" in capsys.readouterr().err
    assert main(["gateway"]) == 2
    assert "--config FILE is required" in capsys.readouterr().err


def test_a_bad_import_file_exits_2_and_publishes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No broker on the configured port: reaching it would fail with 1 after a timeout, so a
    # quick 2 shows the file was refused before anything was connected or published.
    path = config(tmp_path, GOOD)
    items = tmp_path / "items.csv"
    items.write_text(HEADER + f"{OWNER},5012345601,,,,,\n{OWNER},5012345602,,,7,,\n")
    argv = ["gateway", "import", "--config", str(path), "--site", S, str(items)]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {items}:3: circulation_status: '7' is not 01..13\n"
    assert not (tmp_path / "gateway.db").exists()
    argv[5] = "DK/718501"
    assert main(argv) == 2
    assert "error: --site: " in capsys.readouterr().err
    marc = write(tmp_path / "x.mrc", record("Kalevala", field("852", p="3001")))
    assert main([*argv[:5], S, str(marc)]) == 2
    assert "x.mrc record 1: 852 without $a and no --owner" in capsys.readouterr().err


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_service", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@needs_mosquitto
async def test_imports_through_the_command_line_reach_the_broker(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    items.write_text(HEADER + "DK-718500,5012345601,Kalevala,,,,\n,5012345602,,,04,,\n")
    marc = write(tmp_path / "export.mrc", record("Kalevala", field("952", p="5012345601"),
                                                 field("952", p="5012345603")),
                 record("Without holdings"))
    with mosquitto(tmp_path) as port:
        path = config(tmp_path, GOOD, mqtt_port=port)
        delta_topic = f"lib/v1/{T}/+/items/delta"
        async with listening(port, delta_topic, f"lib/v1/{T}/probe/items/delta") as listener:
            base = ("gateway", "import", "--config", str(path), "--site", S, "--owner", OWNER)
            code, out, err = await cli(*base, str(items))
            assert (code, err) == (0, "")
            assert out == f"2 items published to site {S} in 1 deltas (seq 1..1)\n"
            first = await listener.next_on(f"/{S}/items/delta")
            code, out, _ = await cli(*base, str(marc))
            assert (code, out) == (0, f"2 items published to site {S} in 1 deltas (seq 2..2)\n")
            second = await listener.next_on(f"/{S}/items/delta")
    one, two = ItemDelta.from_json(first.payload), ItemDelta.from_json(second.payload)
    assert (one.seq, two.seq) == (1, 2)
    assert [(i.owner_institution, i.primary_item_id, i.circulation_status, i.version)
            for i in one.items] == [(OWNER, "5012345601", "03", 1), (OWNER, "5012345602", "04", 1)]
    assert [(i.primary_item_id, i.version, i.title) for i in two.items] == [
        ("5012345601", 2, "Kalevala a novel"), ("5012345603", 1, "Kalevala a novel")]
