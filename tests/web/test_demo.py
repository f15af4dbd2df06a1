# SPDX-License-Identifier: Apache-2.0
"""The demo on its own: its props (real simulated fields, no reader: where things are, the walk
through the gate, refusals by name), its stack in this process (the real daemon, ILS simulator,
ptys, mosquitto and gateway when installed), and `libedge demo` on a port that is taken."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from edge_service.api import TokenBook, append_token
from edge_service.demo import DemoOptions, demo_stack, find_mosquitto, sample_catalog, sample_props
from edge_service.demo import props as props_module
from edge_service.demo import stack as stack_module
from edge_service.demo.props import DemoProps
from protocols.iso28560 import TagModel, decode_any
from tests.web.demo import ROOT, running_demo


def fresh() -> DemoProps:
    return DemoProps(sample_props(sample_catalog()))


def present(props: DemoProps, field: str) -> set[str]:
    return {str(tag.uid) for tag in props.fields[field].present}


async def test_a_prop_is_in_one_place_and_keeps_its_tag() -> None:
    props = fresh()
    book = props.prop("book-5012345601")
    uid = str(book.tags[0].uid)
    memory = bytes(book.tags[0].memory)
    assert props.place("book-5012345601", "pad")["place"] == "pad"
    assert uid in present(props, "pad")
    props.place("book-5012345601", "staff")
    assert uid not in present(props, "pad")
    assert uid in present(props, "staff")
    assert bytes(props.fields["staff"].tag(book.tags[0].uid).memory) == memory
    props.place("book-5012345601", "shelf")
    assert all(uid not in present(props, f) for f in ("pad", "staff", "gate"))


async def test_a_set_moves_with_both_its_parts() -> None:
    props = fresh()
    props.place("set-5012345622", "pad")
    assert len(present(props, "pad")) == 2


async def test_a_walk_through_the_gate_ends_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(props_module, "WALK_S", 0.05)
    props = fresh()
    props.place("book-5012345602", "gate")
    assert len(present(props, "gate")) == 1
    await asyncio.sleep(0.2)
    assert props.prop("book-5012345602").place == "outside"
    assert present(props, "gate") == set()


async def test_moving_a_walker_elsewhere_cancels_the_walk(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(props_module, "WALK_S", 0.05)
    props = fresh()
    props.place("book-5012345602", "gate")
    props.place("book-5012345602", "pad")
    await asyncio.sleep(0.2)
    assert props.prop("book-5012345602").place == "pad"
    assert len(present(props, "pad")) == 1


async def test_unknown_props_and_places_are_refused_and_nothing_moves() -> None:
    props = fresh()
    with pytest.raises(LookupError, match="no demo object 'nothing'"):
        props.place("nothing", "pad")
    with pytest.raises(ValueError, match="place must be one of"):
        props.place("book-5012345601", "moon")
    assert props.prop("book-5012345601").place == "shelf"
    assert all(not props.fields[f].present for f in ("pad", "staff", "gate"))


async def test_failing_writes_is_marked_once() -> None:
    props = fresh()
    assert props.fail_writes("book-5012345603")["writes_fail"] is True
    assert props.fail_writes("book-5012345603")["writes_fail"] is True
    assert props.prop("book-5012345601").writes_fail is False


def test_the_supplier_props_are_tagged_as_a_supplier_delivers() -> None:
    """Two copies of one order line, acquisition stage, no item id of the library's yet, not
    secured: what the receiving workflow matches against the expected copies."""
    props = fresh()
    suppliers = [p for p in props.objects() if p["kind"] == "supplier"]
    assert len(suppliers) == 2
    for prop in suppliers:
        [tag] = props.prop(prop["id"]).tags
        decoded = decode_any(bytes(tag.memory), dsfid=tag.dsfid)
        assert (decoded.model, decoded.primary_item_id, decoded.supplier_identifier,
                decoded.order_number, decoded.gs1_product_identifier,
                decoded.supplier_invoice_number, decoded.type_of_usage) == (
            TagModel.PART2, None, "BTJ", "PO-2026-0815", "9788702173055", "INV-77812", 0x01)
        assert tag.afi == 0xC2   # not secured


def test_the_demo_says_what_to_do_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "edge_service", "demo", "--port", str(port), "--no-mqtt",
             "--state", str(tmp_path / "state")], capture_output=True, text=True, timeout=60,
            cwd=ROOT, check=False)
    assert result.returncode == 1, result
    assert f"api.host/api.port 127.0.0.1:{port}" in result.stderr
    assert "--port 0 takes a free one" in result.stderr
    assert "Traceback" not in result.stderr
    assert "http://" not in result.stdout   # no URLs of a demo that is not running


@pytest.mark.skipif(find_mosquitto() is None, reason="needs mosquitto (make test installs it)")
def test_ctrl_c_stops_the_demo_and_its_broker_in_order(tmp_path: Path) -> None:
    # running_demo sends SIGINT to the demo's whole process group, as a terminal does, and
    # checks that the MQTT links were closed before their broker went.
    with running_demo(tmp_path) as demo:
        assert "through the catalog gateway over MQTT" in demo.output
    assert not [line for line in (tmp_path / "demo-stderr.log").read_text().splitlines()
                if "WARNING" in line or "ERROR" in line]
    leftover = subprocess.run(["pgrep", "-f", str(demo.state_directory)], capture_output=True,
                              text=True, check=False)
    assert leftover.stdout == "", "a process of the demo outlived it"


def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("mqtt", [True, False], ids=["mqtt-if-installed", "direct-sip2"])
async def test_the_stack_starts_everything_and_stops_on_request(tmp_path: Path,
                                                                mqtt: bool) -> None:
    state = tmp_path / "state"
    options = DemoOptions(port=0, mqtt=mqtt, state_directory=state)
    async with demo_stack(options) as demo:
        gateway = mqtt and find_mosquitto() is not None
        assert demo.circulation == ("gateway" if gateway else "sip2")
        assert demo.warnings == []
        health = await asyncio.to_thread(get_json, f"{demo.base_url}/api/v1/health")
        assert health["status"] == "ok", health
        assert health["ils"]["state"] == "connected"
        assert health["mqtt"] == {"enabled": gateway, "connected": gateway or None}
        assert sorted(health["devices"]) == ["kiosk-pad", "main-door", "staff-desk"]
        assert demo.daemon.store is not None
        assert demo.daemon.store.cache.count() == len(sample_catalog().items)
        assert (state / "reader-pad").is_symlink()
        tokens = state / "api-tokens"
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
        assert demo.page_url("kiosk") == f"{demo.base_url}/kiosk/#token={demo.tokens['kiosk']}"
        objects = await asyncio.to_thread(get_json, f"{demo.base_url}/api/v1/demo",
                                          demo.tokens["staff"])
        assert len(objects["objects"]) == len(demo.props.objects())
        if mqtt:   # once is enough: a walk breaks the gate's light barriers, a person is counted
            demo.props.place("book-5012345602", "gate")
            gate_url = f"{demo.base_url}/api/v1/gates/main-door"
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                counts = (await asyncio.to_thread(get_json, gate_url, demo.tokens["gate"])
                          )["counts"]
                if counts.get("left") == 1 or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert counts["available"] is True, counts
            assert (counts["left"], counts["entered"]) == (1, 0), counts
        demo.daemon.request_stop()
        assert await demo.wait() == 0
    assert not (state / "reader-pad").exists()   # the ptys' links went with the readers


def test_a_kept_state_directory_keeps_the_demo_tokens(tmp_path: Path) -> None:
    first = stack_module._tokens(tmp_path)
    assert stack_module._tokens(tmp_path) == first   # a kiosk's open page goes on working
    book = TokenBook.load(tmp_path / "api-tokens")
    assert {role: book.identify(token).role for role, token in first.items()  # type: ignore[union-attr]
            } == {role: role for role in first}
    (tmp_path / "api-tokens").chmod(0o644)           # a file the daemon would refuse
    replaced = stack_module._tokens(tmp_path)
    assert set(replaced.values()).isdisjoint(first.values())
    assert stat.S_IMODE((tmp_path / "api-tokens").stat().st_mode) == 0o600


def test_a_demo_name_on_a_line_of_another_role_does_not_grow_the_file(tmp_path: Path) -> None:
    """'demo kiosk' first named a gate token (an edit by hand): the kiosk's demo token that
    follows is found again, not appended anew on every run."""
    path = tmp_path / "api-tokens"
    append_token(path, "gate", "demo kiosk")
    first = stack_module._tokens(tmp_path)
    lines = path.read_text().count("\n")
    assert stack_module._tokens(tmp_path) == first
    assert path.read_text().count("\n") == lines
