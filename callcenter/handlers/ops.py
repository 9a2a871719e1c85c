"""Operations: health, metrics, and the OpenAPI document."""
import asyncio

from .. import models
from ..errors import ApiError
from ..metrics import CONTENT_TYPE_LATEST
from .base import APIHandler, BaseHandler, route

HEALTH_CHECK_TIMEOUT_SECS = 3.0


class HealthHandler(APIHandler):
    """Readiness: whether this worker can serve chats now (send traffic here or not)."""
    cross_origin = True
    api = {"GET": {"summary": "Readiness: 200 when the store and the bus answer, 503 with the reason otherwise",
                   "tags": ["ops"], "response": models.HealthResponse, "errors": []}}

    async def get(self) -> None:
        # Both at once: the answer takes the slower of the two round trips, not their sum.
        probes = self.services.readiness_probes()
        results = await asyncio.gather(*(_probe(p) for p in probes.values()))
        checks = dict(zip(probes, results))
        healthy = all(v == "ok" for v in checks.values())
        self.write_json({"status": "ok" if healthy else "unavailable", "checks": checks},
                        status=200 if healthy else 503)


class LivenessHandler(APIHandler):
    """Liveness: the process serves requests. It asks nothing of the database or Redis, so a probe
    that restarts workers on failure never restarts them all during an outage of either (during a
    Redis outage sends are still taken and stored; /healthz says 503 meanwhile)."""
    cross_origin = True
    api = {"GET": {"summary": "Liveness: 200 while this process serves requests (checks no backing service)",
                   "tags": ["ops"], "response": models.HealthResponse, "errors": []}}

    def get(self) -> None:
        self.write_json({"status": "ok", "checks": {}})


async def _probe(probe) -> str:
    try:
        await asyncio.wait_for(probe(), HEALTH_CHECK_TIMEOUT_SECS)
        return "ok"
    except asyncio.TimeoutError:
        return "timeout"
    except (ApiError, OSError, ConnectionError) as exc:
        return f"unavailable: {getattr(exc, 'detail', None) or exc}"[:200]
    except Exception as exc:  # a health probe reports every failure rather than raising
        return f"error: {type(exc).__name__}"


class MetricsHandler(BaseHandler):
    api = {"GET": {"summary": "Prometheus metrics (text exposition format)", "tags": ["ops"],
                   "content_type": "text/plain", "errors": []}}

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(self.services.metrics.render())


class OpenAPIHandler(APIHandler):
    cross_origin = True
    api = {"GET": {"summary": "This OpenAPI 3 document", "tags": ["ops"], "content_type": "application/json",
                   "errors": []}}

    def get(self) -> None:
        self.write_json(self.settings["openapi"])


routes = [
    route("/healthz", HealthHandler),
    route("/livez", LivenessHandler),
    route("/metrics", MetricsHandler),
    route("/api/v1/openapi.json", OpenAPIHandler),
]
