# SPDX-License-Identifier: Apache-2.0
"""Prometheus metrics: one collector that reads the daemon's snapshots at scrape time.

Contract: :func:`metrics_registry` returns a NEW :class:`CollectorRegistry` per app (never the
process-global one, so two daemons in one test process, or a reload, never collide) holding a
:class:`DaemonCollector`. Counters are not kept twice: each scrape reads the cumulative counters
the device supervisors and the store writer already keep (``edge_service.health`` snapshots).

Names (all prefixed ``libedge_``): per device (label ``device``) ``device_connected``,
``device_frames_sent_total``, ``device_frames_received_total``, ``device_timeouts_total``,
``device_crc_errors_total``, ``device_reconnects_total``, ``device_writes_ok_total``,
``device_writes_failed_total``, ``device_retries_total``, ``device_reader_errors_total``,
``device_inventories_total``, ``device_tags_recorded_total``, ``device_tags_in_field``; store
``store_outbox_backlog``, ``store_commits_total``, ``store_commits_failed_total``,
``store_operations_failed_total``, ``store_liveness_probes_total``; ``mqtt_connected``;
``loop_alive`` per heartbeat (label ``loop``); per gate (label ``gate``, the gate reader's
name) the :data:`GATE_COUNTERS` as ``gate_<name>_total``.

Privacy: labels are configured device names only; no tag, item or patron identifier ever
becomes a label.

Not responsible for: serving the text (the app's ``/metrics`` route) or pushing anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_service.health import DaemonView

__all__ = ["DEVICE_COUNTERS", "GATE_COUNTERS", "DaemonCollector", "metrics_registry"]

DEVICE_COUNTERS: dict[str, tuple[str, str]] = {
    # metric name: (snapshot counter, help)
    "frames_sent": ("frames_sent", "Frames sent to the reader."),
    "frames_received": ("frames_received", "Frames received from the reader."),
    "timeouts": ("timeouts", "Requests the reader did not answer in time."),
    "crc_errors": ("crc_errors", "Frames from the reader dropped for a bad checksum."),
    "reconnects": ("reconnects", "Reader re-probed after its port was reopened."),
    "writes_ok": ("writes_ok", "Verified tag writes (memory or security) that succeeded."),
    "writes_failed": ("writes_failed", "Verified tag writes that failed."),
    "retries": ("retries", "Requests or operations retried."),
    "reader_errors": ("reader_errors", "Error statuses reported by the reader."),
    "inventories": ("inventories", "Presence inventories completed."),
    "tags_recorded": ("tags_recorded", "Tag sightings recorded in the cache."),
    "open_failures": ("open_failures", "Failed attempts to open or reopen the device."),
    "link_losses": ("link_losses", "Open links to the reader lost (unplugged, reset)."),
    "record_errors": ("record_errors", "Tag sightings the cache refused to record."),
}

GATE_COUNTERS: dict[str, str] = {
    # a GateMonitor counter (also the metric's name): help
    "alarms": "Alarms raised (one per decision and group of items; outputs on or failed).",
    "reports": "Items reported without an alarm (foreign or unknown items, per policy).",
    "mismatches": "Secured tags of items the cache says were checked out (mismatch events).",
    "ignored": "Secured foreign items ignored (gate.foreign = ignore).",
    "alarms_without_outputs": "Alarms on a reader without alarm outputs (events only).",
    "output_commands": "Alarm output commands the reader carried out.",
    "output_errors": "Alarm output commands that failed.",
    "events_recorded": "Gate events committed to the outbox.",
    "events_failed": "Gate events the store refused (not recorded).",
    "security_checks": "Tags whose security was read to decide.",
    "security_unknown": "Tags whose security could not be read.",
    "cache_errors": "Item cache lookups that failed.",
    "decision_errors": "Decisions or bookings that failed on an unexpected error.",
    "input_errors": "Light-barrier input reads that failed.",
    "passages_in": "People counted walking in.",
    "passages_out": "People counted walking out.",
    "passages_unknown_direction": "People counted whose direction was not known.",
}


class DaemonCollector(Collector):
    """Yields the daemon's metrics from fresh snapshots on every scrape."""

    def __init__(self, view: DaemonView) -> None:
        self._view = view

    def collect(self) -> Iterable[Metric]:
        devices = self._view.devices()
        connected = GaugeMetricFamily("libedge_device_connected",
                                      "1 while the reader answers, else 0.", labels=["device"])
        in_field = GaugeMetricFamily("libedge_device_tags_in_field",
                                     "Tags in the reader's field at the last inventory.",
                                     labels=["device"])
        counters = {name: CounterMetricFamily(f"libedge_device_{name}", text, labels=["device"])
                    for name, (_, text) in DEVICE_COUNTERS.items()}
        for device in devices:
            connected.add_metric([device.name], 1.0 if device.connected else 0.0)
            in_field.add_metric([device.name], float(device.tags_in_field))
            for name, (key, _) in DEVICE_COUNTERS.items():
                counters[name].add_metric([device.name], float(device.counters.get(key, 0)))
        yield connected
        yield in_field
        yield from counters.values()

        store = self._view.storage()
        if store.outbox_backlog is not None:
            yield GaugeMetricFamily("libedge_store_outbox_backlog",
                                    "Events in the outbox waiting for the broker's ack.",
                                    value=float(store.outbox_backlog))
        for name, value, text in (
                ("commits", store.commits, "Group commits of the store writer."),
                ("commits_failed", store.commits_failed, "Group commits that failed."),
                ("operations_failed", store.operations_failed, "Store operations that failed."),
                ("liveness_probes", store.liveness_probes,
                 "Empty commits of the writer's liveness probe (included in commits).")):
            yield CounterMetricFamily(f"libedge_store_{name}", text, value=float(value))

        mqtt = self._view.mqtt_connected
        if mqtt is not None:
            yield GaugeMetricFamily("libedge_mqtt_connected", "1 while the broker link is up.",
                                    value=1.0 if mqtt else 0.0)
        alive = GaugeMetricFamily("libedge_loop_alive",
                                  "1 while the loop's heartbeat is fresh (feeds the watchdog).",
                                  labels=["loop"])
        alive.add_metric(["storage"], 1.0 if store.alive else 0.0)
        for device in devices:
            alive.add_metric([f"reader {device.name}"], 1.0 if device.alive else 0.0)
        yield alive
        yield from self._gates()

    def _gates(self) -> Iterable[Metric]:
        workflows = self._view.workflows
        gates = sorted(workflows.gates.items()) if workflows is not None else []
        families = {name: CounterMetricFamily(f"libedge_gate_{name}", text, labels=["gate"])
                    for name, text in GATE_COUNTERS.items()}
        for gate, monitor in gates:
            for name, family in families.items():
                family.add_metric([gate], float(monitor.counters.get(name, 0)))
        yield from families.values()


def metrics_registry(view: DaemonView) -> CollectorRegistry:
    """A registry of its own for one app; the global ``REGISTRY`` is never touched."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(view))
    return registry
