"""Prometheus metrics, held per app (no module-level registry) and served at /metrics."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the handler)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter("callcenter_http_requests_total", "HTTP requests answered",
                                     ["route", "method", "status"], registry=r)
        self.http_duration = Histogram("callcenter_http_request_duration_seconds", "HTTP request duration",
                                       ["route"], registry=r,
                                       buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        self.messages_stored = Counter("callcenter_messages_stored_total", "Messages written to the store",
                                       ["sender_type"], registry=r)
        self.events_published = Counter("callcenter_events_published_total", "Events published on the bus",
                                        ["type"], registry=r)
        self.bus_reconnects = Gauge("callcenter_bus_reconnects", "Times the bus subscriber reconnected",
                                    registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
