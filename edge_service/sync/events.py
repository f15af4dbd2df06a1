# SPDX-License-Identifier: Apache-2.0
"""Making an event inside a writer operation, in the same transaction as its state change.

    def checkout(conn: WriteConnection) -> Event:
        write_security_expected(conn, owner, item, False, now=now)
        return record_event(conn, store.outbox, node, "circ", "lib.circ.checkout.v1", data,
                            now=now, rand=os.urandom(10))
    event = await store.writer.submit(checkout)
    sync.wake_outbox()

:func:`record_event` takes the node's next ``seq`` from the outbox (same transaction: gap-free,
never reused), builds the CloudEvents envelope with a UUIDv7 id, checks it against the contract
(catalogued type on its own ``evt/{kind}`` topic, typed data, the privacy guard) and queues the
encoded bytes. A contract violation raises before anything is queued, so the whole operation
rolls back: no state change without its event.

Not responsible for: publishing (``outbox_publisher``), the randomness and the clock (passed in).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edge_service.config import NodeConfig
from edge_service.store import Outbox, WriteConnection
from protocols.contract import (
    Event,
    Message,
    check_event_topic,
    encode_event,
    event_data,
    event_topic,
    format_time,
    node_prefix,
    uuid7,
)


def unix_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
    return int(moment.timestamp() * 1000)


def record_event(  # noqa: PLR0917 - the order reads like the sentence: who, where, what
        conn: WriteConnection, outbox: Outbox, node: NodeConfig, kind: str,
        type: str, data:  # noqa: A002 - the envelope's own word
 Message | dict[str, Any], *, now: datetime, rand: bytes,
                 offline: bool = False) -> Event:
    """Queue one event in the caller's writer transaction and return it (see module doc).

    ``kind`` is the topic's ``evt/{kind}``, ``type`` the envelope type (``lib.circ.checkout.v1``);
    ``data`` the typed payload (or its dict); ``rand`` 10 random bytes for the id."""
    ms = unix_ms(now)
    topic = event_topic(node.tenant, node.site, node.node, kind)
    payload = data.to_dict() if isinstance(data, Message) else dict(data)
    seq = outbox.next_seq(conn)
    event = Event(id=uuid7(ms, rand), source=node_prefix(node.tenant, node.site, node.node),
                  type=type, time=format_time(ms), seq=seq, offline=offline, data=payload)
    check_event_topic(event, topic)
    event_data(event)   # the data must follow its type's schema, not just be JSON
    outbox.add(conn, topic, encode_event(event), event.id, seq=seq)
    return event
