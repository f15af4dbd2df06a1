# SPDX-License-Identifier: Apache-2.0
"""``libedge events tail``: a site's event stream for integrators.

Subscribes to ``lib/v1/{tenant}/{site}/{node|+}/evt/+``, de-duplicates by event id (QoS 1
delivers at least once; the last ``DEDUP_WINDOW`` ids are remembered) and prints one line per
event (time, source node, seq, type, id) or, with ``--json``, the envelope as one JSON line.
Messages that are not contract events, and events that do not belong on their topic (a
``source`` naming another node, a type of another kind: ``check_event_topic``), are reported on
stderr and skipped, before de-duplication, so a stray copy cannot hide the real event.

Not responsible for: gap detection by ``seq`` across kinds (see docs/mqtt, durability rule 4),
storing anything. A throwaway MQTT session: events published while it is not running are not
shown later.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

DEDUP_WINDOW = 100_000


def _topic_filter(tenant: str, site: str, node: str | None) -> str:
    from protocols.contract import node_prefix  # noqa: PLC0415 - keep `libedge --help` fast

    prefix = node_prefix(tenant, site, node or "x")
    if node is None:
        prefix = prefix[: -len("x")] + "+"
    return prefix + "/evt/+"


async def tail(args: argparse.Namespace) -> int:
    from edge_service.sync import ClientSettings, MqttClient, Tls  # noqa: PLC0415
    from protocols.contract import (  # noqa: PLC0415
        ContractError,
        check_event_topic,
        decode_event,
    )

    password = None
    if args.password_file:
        password = Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
    tls = None
    if args.ca_file or args.cert_file:
        tls = Tls(ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file)
    client = MqttClient(ClientSettings(
        host=args.host, port=args.port, client_id=f"libedge-tail-{uuid.uuid4().hex[:12]}",
        protocol=args.protocol, persistent_session=False, username=args.username,
        password=password, tls=tls))
    topic_filter = _topic_filter(args.tenant, args.site, args.node)
    client.subscribe(topic_filter, 1)

    async def listening() -> None:
        print(f"listening on {topic_filter}", file=sys.stderr, flush=True)

    client.on_connect.append(listening)
    # The client's own lines (connect failed, connection lost) tell why nothing comes; it
    # retries with back-off by itself.
    said = logging.StreamHandler(sys.stderr)
    said.setFormatter(logging.Formatter("%(message)s"))
    client_log = logging.getLogger("edge_service.sync.mqtt_client")
    client_log.addHandler(said)
    client_log.setLevel(logging.INFO)
    print(f"connecting to {args.host}:{args.port} (retried until it answers; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    seen: OrderedDict[str, None] = OrderedDict()
    printed = 0
    running = asyncio.create_task(client.run())
    try:
        async for message in client.messages():
            try:
                event = decode_event(message.payload)
            except ContractError as exc:
                print(f"not a contract event on {message.topic}: {exc}", file=sys.stderr)
                continue
            try:
                check_event_topic(event, message.topic)
            except ContractError as exc:
                print(f"rejected event {event.id} on {message.topic}: {exc}", file=sys.stderr)
                continue
            if event.id in seen:
                continue
            seen[event.id] = None
            if len(seen) > DEDUP_WINDOW:
                seen.popitem(last=False)
            if args.json:
                print(json.dumps(event.to_dict(), sort_keys=True, separators=(",", ":")))
            else:
                node = event.source.rsplit("/", 1)[-1]
                print(f"{event.time} {node} seq={event.seq} {event.type} {event.id}")
            sys.stdout.flush()
            printed += 1
            if args.count and printed >= args.count:
                return 0
    finally:
        await client.close()
        await asyncio.wait([running])
        client_log.removeHandler(said)
    return 0


def _cmd_tail(args: argparse.Namespace) -> int:
    return asyncio.run(tail(args))


def register(commands: Any) -> None:
    events = commands.add_parser("events", help="watch a site's MQTT event stream")
    sub = events.add_subparsers(dest="events_command", required=True, metavar="SUBCOMMAND")
    tail_parser = sub.add_parser("tail", help="print a site's events, de-duplicated by id")
    tail_parser.add_argument("--host", default="localhost",
                             help="the site's MQTT broker (default: localhost)")
    tail_parser.add_argument("--port", type=int, default=1883,
                             help="the broker's port (default: 1883; TLS usually 8883)")
    tail_parser.add_argument("--tenant", required=True)
    tail_parser.add_argument("--site", required=True)
    tail_parser.add_argument("--node", help="only this node (default: every node of the site)")
    tail_parser.add_argument("--json", action="store_true", help="one JSON envelope per line")
    tail_parser.add_argument("--count", type=int, default=0, help="exit after N events")
    tail_parser.add_argument("--protocol", type=int, choices=(5, 311), default=5)
    tail_parser.add_argument("--username")
    tail_parser.add_argument("--password-file")
    tail_parser.add_argument("--ca-file")
    tail_parser.add_argument("--cert-file")
    tail_parser.add_argument("--key-file")
    tail_parser.set_defaults(handler=_cmd_tail)
