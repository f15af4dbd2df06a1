# SPDX-License-Identifier: Apache-2.0
"""Topics: builders and parse_topic agree, every segment rule names its segment, the ACL of a
node grants exactly its own uplink and the downlink meant for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.contract import (
    CHANNELS,
    EVENT_KINDS,
    ContractError,
    Topic,
    TopicKind,
    acl_patterns,
    central_acl_patterns,
    central_status_topic,
    command_topic,
    device_state_topic,
    event_topic,
    gateway_request_filter,
    gateway_status_filter,
    gateway_status_topic,
    items_delta_topic,
    items_snapshot_topic,
    meta_topic,
    node_prefix,
    parse_source,
    parse_topic,
    render_mosquitto_acl,
    reply_topic,
    request_topic,
    response_topic,
    status_topic,
    topic_matches,
    twin_desired_topic,
    twin_reported_topic,
)
from protocols.contract.topics import NAME_PATTERN
from tests.contract.strategies import ids, nodes, sites

T, S, N = "DK-718500", "DK-718501", "kiosk-2"
BASE = f"lib/v1/{T}/{S}"

names = st.from_regex(f"(?:{NAME_PATTERN})", fullmatch=True).filter(lambda s: len(s) <= 64)


def node_topics(tenant: str, site: str, node: str) -> dict[TopicKind, str]:
    """One topic of every kind for this node (the site and central ones included)."""
    return {
        TopicKind.STATUS: status_topic(tenant, site, node),
        TopicKind.META: meta_topic(tenant, site, node),
        TopicKind.DEVICE_STATE: device_state_topic(tenant, site, node, "reader-1"),
        TopicKind.TWIN_DESIRED: twin_desired_topic(tenant, site, node),
        TopicKind.TWIN_REPORTED: twin_reported_topic(tenant, site, node),
        TopicKind.EVENT: event_topic(tenant, site, node, "gate.alarm"),
        TopicKind.COMMAND: command_topic(tenant, site, node, "sync.items"),
        TopicKind.RESPONSE: response_topic(tenant, site, node),
        TopicKind.REQUEST: request_topic(tenant, site, node, "circ.checkout"),
        TopicKind.REPLY: reply_topic(tenant, site, node),
        TopicKind.ITEMS_DELTA: items_delta_topic(tenant, site),
        TopicKind.ITEMS_SNAPSHOT: items_snapshot_topic(tenant, site, 3),
        TopicKind.CENTRAL_STATUS: central_status_topic(tenant),
        TopicKind.GATEWAY_STATUS: gateway_status_topic(tenant, "gw-1"),
    }


# --- builders and parser ------------------------------------------------------------------

def test_every_builder_gives_the_documented_topic() -> None:
    assert node_topics(T, S, N) == {
        TopicKind.STATUS: f"{BASE}/{N}/status",
        TopicKind.META: f"{BASE}/{N}/meta",
        TopicKind.DEVICE_STATE: f"{BASE}/{N}/dev/reader-1/state",
        TopicKind.TWIN_DESIRED: f"{BASE}/{N}/twin/desired",
        TopicKind.TWIN_REPORTED: f"{BASE}/{N}/twin/reported",
        TopicKind.EVENT: f"{BASE}/{N}/evt/gate.alarm",
        TopicKind.COMMAND: f"{BASE}/{N}/cmd/sync.items",
        TopicKind.RESPONSE: f"{BASE}/{N}/res",
        TopicKind.REQUEST: f"{BASE}/{N}/req/circ.checkout",
        TopicKind.REPLY: f"{BASE}/{N}/rsp",
        TopicKind.ITEMS_DELTA: f"{BASE}/items/delta",
        TopicKind.ITEMS_SNAPSHOT: f"{BASE}/items/snapshot/3",
        TopicKind.CENTRAL_STATUS: f"lib/v1/{T}/central/status",
        TopicKind.GATEWAY_STATUS: f"lib/v1/{T}/central/gateway/gw-1/status",
    }
    assert node_prefix(T, S, N) == f"{BASE}/{N}"
    assert parse_source(f"{BASE}/{N}") == (T, S, N)


@pytest.mark.parametrize("instance", ["gw-1", "evt", "cmd", "req"])
def test_a_gateway_instance_named_like_a_node_topic_segment_still_parses(instance: str) -> None:
    # lib/v1/T/central/gateway/evt/status has the shape of an event topic of site "central".
    topic = gateway_status_topic(T, instance)
    parsed = parse_topic(topic)
    assert (parsed.kind, parsed.instance, str(parsed)) == (TopicKind.GATEWAY_STATUS, instance,
                                                            topic)
    assert gateway_status_filter(T) == f"lib/v1/{T}/central/gateway/+/status"


def test_a_gateway_instance_id_is_checked() -> None:
    with pytest.raises(ContractError, match="instance"):
        gateway_status_topic(T, "gw/1")
    with pytest.raises(ContractError, match="instance"):
        parse_topic(f"lib/v1/{T}/central/gateway/+/status")


def test_every_channel_has_a_builder_and_parses_back_to_its_kind() -> None:
    built = node_topics(T, S, N)
    assert set(built) == set(CHANNELS)
    for kind, topic in built.items():
        parsed = parse_topic(topic)
        assert parsed.kind is kind
        assert str(parsed) == topic
        assert parsed.tenant == T


def test_parse_fills_exactly_the_placeholders() -> None:
    assert parse_topic(f"{BASE}/{N}/dev/gate-1/state") == Topic(
        TopicKind.DEVICE_STATE, T, S, N, device="gate-1")
    assert parse_topic(f"{BASE}/{N}/cmd/door.unlock") == Topic(
        TopicKind.COMMAND, T, S, N, command="door.unlock")
    assert parse_topic(f"{BASE}/{N}/req/circ.renew") == Topic(
        TopicKind.REQUEST, T, S, N, request="circ.renew")
    assert parse_topic(f"{BASE}/{N}/req/circ.loans") == Topic(
        TopicKind.REQUEST, T, S, N, request="circ.loans")
    assert parse_topic(f"{BASE}/items/snapshot/12").page == 12
    central = parse_topic(f"lib/v1/{T}/central/status")
    assert (central.site, central.node) == (None, None)


def test_the_channel_table_is_the_e2_layout() -> None:
    retained = {k for k, c in CHANNELS.items() if c.retain}
    assert retained == {TopicKind.STATUS, TopicKind.META, TopicKind.DEVICE_STATE,
                        TopicKind.TWIN_DESIRED, TopicKind.TWIN_REPORTED,
                        TopicKind.CENTRAL_STATUS, TopicKind.GATEWAY_STATUS}
    assert {c.qos for c in CHANNELS.values()} == {1}
    down = {k for k, c in CHANNELS.items() if c.direction == "down"}
    assert down == {TopicKind.TWIN_DESIRED, TopicKind.COMMAND, TopicKind.REPLY,
                    TopicKind.ITEMS_DELTA, TopicKind.ITEMS_SNAPSHOT, TopicKind.CENTRAL_STATUS,
                    TopicKind.GATEWAY_STATUS}


@settings(max_examples=300)
@given(ids, sites, nodes, ids, st.sampled_from(EVENT_KINDS), names, st.integers(1, 99_999))
def test_build_parse_round_trip(tenant: str, site: str, node: str, device: str, kind: str,
                                command: str, page: int) -> None:
    for topic in (
        status_topic(tenant, site, node), meta_topic(tenant, site, node),
        device_state_topic(tenant, site, node, device), twin_desired_topic(tenant, site, node),
        twin_reported_topic(tenant, site, node), event_topic(tenant, site, node, kind),
        command_topic(tenant, site, node, command), response_topic(tenant, site, node),
        items_delta_topic(tenant, site), items_snapshot_topic(tenant, site, page),
        central_status_topic(tenant),
    ):
        assert str(parse_topic(topic)) == topic


@settings(max_examples=3000)
@given(st.text(alphabet=st.sampled_from("lib/v1/+#\0 aZ9.-_:items/central/statusevtcmd"),
               max_size=60) | st.text(max_size=80))
def test_any_text_is_a_topic_or_a_contract_error(text: str) -> None:
    try:
        parsed = parse_topic(text)
    except ContractError:
        return
    assert str(parsed) == text   # parsing is exact: no normalisation


# --- rejections -----------------------------------------------------------------------------

@pytest.mark.parametrize(("topic", "field", "words"), [
    (f"{BASE}/kio+sk/status", "node", "'+'"),
    (f"{BASE}/kio#sk/status", "node", "'#'"),
    (f"{BASE}/kiosk\0/status", "node", "NUL"),
    (f"{BASE}//status", "node", "empty"),
    (f"lib/v1/{T}/{'s' * 65}/{N}/status", "site", "over 64"),
    (f"{BASE}/kiosk 2/status", "node", "outside"),
    (f"{BASE}/.kiosk/status", "node", "start"),
    (f"{BASE}/kiøsk/status", "node", "outside"),
    (f"{BASE}/items/status", "node", "reserved"),
    (f"{BASE}/central/meta", "node", "reserved"),
    (f"lib/v1/{T}/central/{N}/status", "site", "reserved"),
    (f"lib/v1/+/{S}/{N}/status", "tenant", "'+'"),
    (f"{BASE}/{N}/dev/a#/state", "device", "'#'"),
    (f"{BASE}/{N}/evt/checkout", "event_kind", "not an event kind"),
    (f"{BASE}/{N}/evt/audit", "event_kind", "not an event kind"),
    (f"{BASE}/{N}/cmd/Sync.Items", "command", "lowercase"),
    (f"{BASE}/{N}/cmd/sync..items", "command", "lowercase"),
    (f"{BASE}/items/snapshot/0", "page", "page number"),
    (f"{BASE}/items/snapshot/01", "page", "page number"),
    (f"{BASE}/items/snapshot/100000", "page", "page number"),
    (f"{BASE}/items/snapshot/x", "page", "page number"),
    (f"{BASE}/{N}/status/", "topic", "not a topic"),
    (f"{BASE}/{N}/state", "topic", "not a topic"),
    (f"{BASE}/{N}", "topic", "not a topic"),
    (f"{BASE}/items/delta/more", "topic", "not a topic"),
    (f"/{BASE}/{N}/status", "topic", "does not start"),
    (f"lib/v2/{T}/{S}/{N}/status", "topic", "not contract v1"),
    (f"$SYS/{BASE}/{N}/status", "topic", "does not start"),
    ("lib", "topic", "does not start"),
    ("", "topic", "does not start"),
    (f"{BASE}/{'n' * 600}/status", "topic", "over 512"),
])
def test_topics_outside_the_contract_are_refused_naming_the_segment(
        topic: str, field: str, words: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_topic(topic)
    assert caught.value.field == field
    assert words in str(caught.value)


@pytest.mark.parametrize(("call", "field"), [
    (lambda: status_topic("", S, N), "tenant"),
    (lambda: status_topic(T, "a/b", N), "site"),
    (lambda: status_topic(T, S, "items"), "node"),
    (lambda: device_state_topic(T, S, N, "+"), "device"),
    (lambda: event_topic(T, S, N, "circ/x"), "event_kind"),
    (lambda: command_topic(T, S, N, "#"), "command"),
    (lambda: items_snapshot_topic(T, S, 0), "page"),
    (lambda: items_snapshot_topic(T, S, True), "page"),
    (lambda: central_status_topic(7), "tenant"),  # type: ignore[arg-type]
    (lambda: Topic(TopicKind.ITEMS_DELTA, T, S, node=N), "node"),
    (lambda: parse_topic(b"lib/v1"), "topic"),  # type: ignore[arg-type]
    (lambda: parse_source("lib/v1/a/b"), "source"),
    (lambda: parse_source("lib/v1/a/central/c"), "source.site"),
])
def test_builders_refuse_bad_segments(call: object, field: str) -> None:
    with pytest.raises(ContractError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.field == field


# --- filters and ACL --------------------------------------------------------------------------

@pytest.mark.parametrize(("topic_filter", "topic", "expected"), [
    ("a/+/c", "a/b/c", True),
    ("a/+/c", "a/b/d", False),
    ("a/+", "a/b/c", False),
    ("a/#", "a", True),
    ("a/#", "a/b/c", True),
    ("#", "a/b", True),
    ("#", "$SYS/x", False),
    ("+/x", "$SYS/x", False),
    ("$SYS/#", "$SYS/x", True),
    ("a/b", "a/b", True),
    ("a/b", "a/b/", False),
    ("a/+/", "a/b/", True),
])
def test_topic_filter_matching_follows_mqtt(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


def allowed(rules: list[tuple[str, str]], access: str, topic: str) -> bool:
    return any(a == access and topic_matches(pattern, topic) for a, pattern in rules)


def test_a_node_writes_exactly_its_uplink_and_reads_exactly_its_downlink() -> None:
    rules = acl_patterns(T, S, N)
    for kind, topic in node_topics(T, S, N).items():
        up = CHANNELS[kind].direction == "up"
        assert allowed(rules, "write", topic) is up, topic
        assert allowed(rules, "read", topic) is not up, topic


@pytest.mark.parametrize("other", [
    (T, S, "kiosk-3"),           # another node of the same site
    (T, "DK-718502", N),         # the same node id at another site
    ("DK-999999", S, N),         # another tenant
])
def test_a_node_can_touch_nothing_of_another_node(other: tuple[str, str, str]) -> None:
    rules = acl_patterns(T, S, N)
    for kind, topic in node_topics(*other).items():
        shared = kind in (TopicKind.ITEMS_DELTA, TopicKind.ITEMS_SNAPSHOT,
                          TopicKind.CENTRAL_STATUS) and other[:2] == (T, S)
        shared |= kind in (TopicKind.CENTRAL_STATUS, TopicKind.GATEWAY_STATUS) \
            and other[0] == T
        assert not allowed(rules, "write", topic), topic
        assert allowed(rules, "read", topic) is shared, topic


def test_a_node_cannot_write_what_it_reads() -> None:
    # In particular its own commands and desired twin: only central issues those.
    rules = acl_patterns(T, S, N)
    for topic in (command_topic(T, S, N, "door.unlock"), twin_desired_topic(T, S, N),
                  items_delta_topic(T, S), central_status_topic(T)):
        assert not allowed(rules, "write", topic)


def test_central_reads_every_uplink_and_writes_every_downlink_of_its_tenant() -> None:
    rules = central_acl_patterns(T)
    for kind, topic in node_topics(T, S, N).items():
        up = CHANNELS[kind].direction == "up"
        assert allowed(rules, "read", topic) is up
        assert allowed(rules, "write", topic) is not up
    for topic in node_topics("DK-999999", S, N).values():
        assert not allowed(rules, "read", topic)
        assert not allowed(rules, "write", topic)


def test_mosquitto_acl_block() -> None:
    assert render_mosquitto_acl(T, S, N, username="kiosk-2.DK-718501") == f"""\
# LibEdge node {T}/{S}/{N}: MQTT contract v1
user kiosk-2.DK-718501
topic write {BASE}/{N}/status
topic write {BASE}/{N}/meta
topic write {BASE}/{N}/dev/+/state
topic write {BASE}/{N}/twin/reported
topic write {BASE}/{N}/evt/+
topic write {BASE}/{N}/res
topic write {BASE}/{N}/req/+
topic read {BASE}/{N}/twin/desired
topic read {BASE}/{N}/cmd/+
topic read {BASE}/{N}/rsp
topic read {BASE}/items/delta
topic read {BASE}/items/snapshot/+
topic read lib/v1/{T}/central/status
topic read lib/v1/{T}/central/gateway/+/status
"""


@pytest.mark.parametrize("username", ["", "kiosk 2", "kiosk\ntopic readwrite #", "a\tb",
                                      "x" * 257, "nul\0"])
def test_mosquitto_acl_refuses_usernames_that_could_inject_lines(username: str) -> None:
    with pytest.raises(ContractError) as caught:
        render_mosquitto_acl(T, S, N, username=username)
    assert caught.value.field == "username"


def test_acl_refuses_bad_ids() -> None:
    with pytest.raises(ContractError):
        acl_patterns(T, S, "#")
    with pytest.raises(ContractError):
        central_acl_patterns("+")


def test_the_readme_acl_example_is_what_the_code_renders() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "mqtt" / "README.md").read_text()
    block = readme.split("<!-- acl-example:")[1].split("```\n")[1]
    assert block == render_mosquitto_acl(T, S, N, username="DK-718501.kiosk-2")


def test_the_gateway_filter_is_a_shared_subscription_to_every_nodes_requests() -> None:
    shared = gateway_request_filter(T)
    assert shared == f"$share/gateway/lib/v1/{T}/+/+/req/+"
    plain = shared.split("/", 2)[2]
    assert topic_matches(plain, request_topic(T, S, N, "circ.patron"))
    assert not topic_matches(plain, request_topic("DK-999999", S, N, "circ.patron"))
    assert not topic_matches(plain, command_topic(T, S, N, "circ.patron"))
    assert gateway_request_filter(T, group="gw-2").startswith("$share/gw-2/")
    with pytest.raises(ContractError):
        gateway_request_filter(T, group="a/b")
    with pytest.raises(ContractError):
        request_topic(T, S, N, "Circ.Checkout")
