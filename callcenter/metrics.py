"""Prometheus metrics, held per app (no module-level registry) and served at /metrics.

With `serve --workers N` the supervisor sets PROMETHEUS_MULTIPROC_DIR before the
workers import prometheus_client, so every worker writes its values to shared
files and any worker's /metrics reports the sum of all of them.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the handler)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.batchers: dict = {}  # label -> Batcher whose queue depth is reported (watch_batcher)
        self.http_requests = Counter("callcenter_http_requests_total", "HTTP requests answered",
                                     ["route", "method", "status"], registry=r)
        self.http_duration = Histogram("callcenter_http_request_duration_seconds", "HTTP request duration",
                                       ["route"], registry=r,
                                       buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        self.messages_stored = Counter("callcenter_messages_stored_total", "Messages written to the store",
                                       ["sender_type"], registry=r)
        self.events_published = Counter("callcenter_events_published_total", "Events published on the bus",
                                        ["type"], registry=r)
        self.sockets_open = Gauge("callcenter_sockets_open", "WebSockets open and authenticated", ["kind"],
                                  registry=r, multiprocess_mode="livesum")
        self.frames_delivered = Counter("callcenter_frames_delivered_total", "Live event frames handed to sockets",
                                        registry=r)
        self.delivery_latency = Histogram("callcenter_delivery_latency_seconds",
                                          "From publishing a new message to handing it to this worker's sockets",
                                          registry=r, buckets=(.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1))
        self.attachments_stored = Counter("callcenter_attachments_stored_total", "Files uploaded and kept",
                                          ["kind"], registry=r)
        self.pushes = Counter("callcenter_pushes_total", "Web Push notifications to agents' devices by kind and "
                              "outcome (delivered, removed, refused, failed, dropped)", ["kind", "outcome"], registry=r)
        self.attachment_bytes = Counter("callcenter_attachment_bytes_total", "Bytes of the files uploaded and kept",
                                        registry=r)
        self.slow_disconnects = Counter("callcenter_slow_socket_disconnects_total",
                                        "Sockets closed because they stopped reading", registry=r)
        self.queue_depth = Gauge("callcenter_queue_depth", "Items waiting in a queue (socket_outbound: frames "
                                 "written to sockets and not yet taken by the client)", ["queue"], registry=r,
                                 multiprocess_mode="livesum")
        self.ai_jobs = Counter("callcenter_ai_jobs_total", "AI reply jobs by outcome (replied, handoff, fallback, "
                               "skipped, …)", ["outcome"], registry=r)
        self.ai_model_duration = Histogram("callcenter_ai_model_duration_seconds", "Model calls, retries included",
                                           ["kind"], registry=r, buckets=(.1, .25, .5, 1, 2, 4, 8, 15, 30))
        self.ai_tokens = Counter("callcenter_ai_tokens_total", "Tokens used by the AI", ["kind"], registry=r)
        self.batch_size = Histogram("callcenter_batch_size", "Calls coalesced into one round trip (store_sends: "
                                    "messages per group commit; bus_publishes; rate_limit_hits; socket_reads: sockets' "
                                    "sign-in and catch-up reads; presence_changes)", ["batcher"],
                                    registry=r, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
        self.bus_reconnects = Gauge("callcenter_bus_reconnects", "Times the bus subscriber reconnected",
                                    registry=r, multiprocess_mode="livesum")
        self.bus_events_received = Counter("callcenter_bus_events_received_total",
                                           "Events this worker received from the other workers through the bus",
                                           registry=r)
        self.bus_events_published = Counter("callcenter_bus_events_published_total",
                                            "Events this worker published on the bus for the other workers",
                                            registry=r)
        self.bus_subscriptions = Gauge("callcenter_bus_subscriptions",
                                       "Tenant channels this worker listens to", registry=r,
                                       multiprocess_mode="livesum")

    bus = None  # the app's bus and hub, read at scrape time (`watch`)
    hub = None

    def watch(self, *, bus, hub) -> None:
        """Count the bus's events as they go; report its reconnects, its subscriptions and the sockets' output
        queue at scrape time."""
        self.bus, self.hub = bus, hub
        bus.on_received = self.bus_events_received.inc
        bus.on_published = self.bus_events_published.inc

    def watch_batcher(self, label: str, batcher) -> None:
        self.batchers[label] = batcher
        batcher.on_batch = self.batch_size.labels(label).observe

    def render(self) -> bytes:
        if self.bus is not None:
            self.bus_reconnects.set(self.bus.reconnects)
            self.bus_subscriptions.set(self.bus.subscriptions)
        if self.hub is not None:
            self.queue_depth.labels("socket_outbound").set(
                sum(conn.pending_frames for conn in self.hub.all_connections()))
        for label, batcher in self.batchers.items():
            self.queue_depth.labels(label).set(batcher.waiting)
        if multiprocess_enabled():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
