"""Prometheus metrics of the APIs, served at ``GET /metrics`` (see ``docs/monitoring.rst``).

Two kinds of metric:

- counted in each process as requests pass: requests by route template and status, latency
  histograms, claims, result uploads and their sizes, and the size of the batches of store calls
  sent to Neo4j together (``base/batching.py``). Under gunicorn these go through
  prometheus-client's multiprocess mode: ``alchemiscale api``/``compute api`` point
  ``PROMETHEUS_MULTIPROC_DIR`` at an empty folder before the workers start, and a scrape of any
  worker sums every worker's files. Without that variable (one uvicorn process) the process's
  own registry is served.
- read from the stores when scraped: Tasks by status per scope, compute services and managers
  registered, the oldest heartbeat's age, and whether Neo4j and the object store answer. Each is
  one aggregate Cypher query (parameterized), and results are kept for
  ``ALCHEMISCALE_METRICS_CACHE_SECONDS`` so that frequent scrapes of many workers cost little.

``ALCHEMISCALE_METRICS_TOKEN``, when set, must be presented as ``Authorization: Bearer <token>``
(Prometheus' ``authorization`` setting); unset (the default) the endpoint is open, as scrapers
usually carry no credentials: keep it on an internal network.
"""

import hmac
import logging
import os
import threading
import time
from typing import Annotated, Iterable, Optional

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.routing import Match, Mount

from ..settings import MetricsSettings, get_metrics_settings
from ..storage.models import utcnow

logger = logging.getLogger(__name__)

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "<unmatched>"

REQUESTS = Counter(
    "alchemiscale_http_requests", "HTTP requests answered, by route template and status.",
    ["api", "method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "alchemiscale_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["api", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TASKS_CLAIMED = Counter("alchemiscale_compute_tasks_claimed", "Tasks handed to compute services by claims.")
RESULTS_UPLOADED = Counter(
    "alchemiscale_compute_results_uploaded", "ProtocolDAGResults recorded, by outcome.", ["ok"]
)
STORE_BATCH_SIZE = Histogram(
    "alchemiscale_store_batch_size", "Requests sent to the state store together, by kind (claims, upload_states, results).",
    ["kind"], buckets=(1, 2, 4, 8, 16, 32, 64),
)
RESULT_BYTES = Histogram(
    "alchemiscale_compute_result_bytes", "Size of uploaded ProtocolDAGResults as stored (compressed bytes).",
    buckets=tuple(2**n for n in range(10, 32, 2)),
)


def route_template(scope: dict, routes: Iterable) -> str:
    """The path template of the route that served (or would serve) the request: bounded label values.

    ``scope`` is the request's scope as received (routing rewrites the one passed down)."""
    for candidate in iter_route_contexts(routes):  # not routed (yet): e.g. refused by the body limits
        if candidate.matches(scope)[0] == Match.FULL:
            return candidate.path
    for mount in routes:  # static files, e.g. the docs pages' assets
        if isinstance(mount, Mount) and mount.matches(scope)[0] == Match.FULL:
            return mount.path
    return UNMATCHED_ROUTE


ROUTE_TEMPLATES_KEPT = 4096  # (method, path) pairs whose route template is remembered


class MetricsMiddleware:
    """Counts every HTTP request and its latency; installed outermost so refusals are counted too.

    Matching a path against every route costs about as much as a small request's own work, so the
    template of each recent (method, path) is remembered: a compute service repeats the same paths.
    """

    def __init__(self, app, api_name: str, fastapi_app: FastAPI):
        self.app = app
        self.api_name = api_name
        self.fastapi_app = fastapi_app
        self._templates: dict[tuple[str, str], str] = {}

    def template(self, scope: dict) -> str:
        key = (scope.get("method", ""), scope.get("path", ""))
        found = self._templates.get(key)
        if found is None:
            found = route_template(scope, self.fastapi_app.router.routes)
            if len(self._templates) >= ROUTE_TEMPLATES_KEPT:
                self._templates.clear()
            self._templates[key] = found
        return found

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        received_scope = dict(scope)
        answered = {"status": 500}

        async def send_counted(message):
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = self.template(received_scope)
            method = scope.get("method", "")
            REQUESTS.labels(self.api_name, method, route, str(answered["status"])).inc()
            REQUEST_SECONDS.labels(self.api_name, method, route).observe(time.perf_counter() - started)


class StoreCollector:
    """Gauges read from the state store and object store at scrape time."""

    def __init__(self, n4js, objectstore):
        self.n4js = n4js
        self.objectstore = objectstore

    def collect(self) -> Iterable[Metric]:
        neo4j_up = GaugeMetricFamily("alchemiscale_neo4j_up", "1 when the Neo4j state store answers.")
        objectstore_up = GaugeMetricFamily("alchemiscale_objectstore_up", "1 when the object store answers.")
        neo4j_ok = _probe("neo4j", self.n4js.driver.verify_connectivity)
        neo4j_up.add_metric([], 1.0 if neo4j_ok else 0.0)
        objectstore_up.add_metric([], 1.0 if _probe("objectstore", self.objectstore.check) else 0.0)
        yield neo4j_up
        yield objectstore_up
        if neo4j_ok:
            yield from self._state_gauges()

    def _state_gauges(self) -> Iterable[Metric]:
        tasks = GaugeMetricFamily(
            "alchemiscale_tasks", "Tasks by status and scope.", labels=["org", "campaign", "project", "status"]
        )
        for record in self.n4js.execute_query(
            "MATCH (t:Task) RETURN t._org AS org, t._campaign AS campaign, t._project AS project, "
            "t.status AS status, count(t) AS n"
        ):
            tasks.add_metric([record["org"], record["campaign"], record["project"], str(record["status"])], record["n"])
        yield tasks

        services = self.n4js.execute_query(
            "MATCH (csr:ComputeServiceRegistration) RETURN count(csr) AS n, min(csr.heartbeat) AS oldest"
        )[0]
        alive = GaugeMetricFamily("alchemiscale_compute_services", "Compute services registered (alive).")
        alive.add_metric([], services["n"])
        yield alive
        age = GaugeMetricFamily(
            "alchemiscale_compute_service_oldest_heartbeat_age_seconds",
            "Seconds since the least recent heartbeat of a registered compute service (0 when none).",
        )
        oldest = services["oldest"]
        age.add_metric([], max(0.0, (utcnow() - oldest.to_native()).total_seconds()) if oldest is not None else 0.0)
        yield age

        managers = GaugeMetricFamily(
            "alchemiscale_compute_managers", "Compute managers registered, by status.", labels=["status"]
        )
        for record in self.n4js.execute_query(
            "MATCH (cmr:ComputeManagerRegistration) RETURN cmr.status AS status, count(cmr) AS n"
        ):
            managers.add_metric([str(record["status"])], record["n"])
        yield managers


def _probe(name: str, check) -> bool:
    try:
        check()
        return True
    except Exception as e:  # any failure means the backend is unusable
        logger.warning("metrics: %s did not answer: %s: %s", name, type(e).__name__, e)
        return False


class _StoreCache:
    """The last exposition of the store gauges, reused for ``ALCHEMISCALE_METRICS_CACHE_SECONDS``."""

    def __init__(self):
        self.lock = threading.Lock()
        self.expires = 0.0
        self.text = b""

    def get(self, collector: StoreCollector, lifetime: float) -> bytes:
        with self.lock:
            now = time.monotonic()
            if now >= self.expires:
                registry = CollectorRegistry(auto_describe=False)
                registry.register(collector)
                self.text = generate_latest(registry)
                self.expires = now + lifetime
            return self.text


_store_cache = _StoreCache()


def process_metrics() -> bytes:
    """Counters and histograms: every worker's when multiprocess mode is on, else this process's."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_access(request: Request, settings: Annotated[MetricsSettings, Depends(get_metrics_settings)]) -> None:
    """Refuses the scrape unless it presents ``ALCHEMISCALE_METRICS_TOKEN`` (when one is set)."""
    expected: Optional[str] = (
        settings.ALCHEMISCALE_METRICS_TOKEN.get_secret_value() if settings.ALCHEMISCALE_METRICS_TOKEN else None
    )
    if expected is None:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "metrics need ALCHEMISCALE_METRICS_TOKEN as a bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


def make_metrics_router() -> APIRouter:
    from .api import N4jsDepends, ObjectStoreDepends  # (api imports this module; its annotations must resolve here)

    router = APIRouter()

    @router.get("/metrics", include_in_schema=False, dependencies=[Depends(metrics_access)])
    def metrics(
        n4js: N4jsDepends, objectstore: ObjectStoreDepends,
        settings: Annotated[MetricsSettings, Depends(get_metrics_settings)],
    ) -> Response:
        store_text = _store_cache.get(StoreCollector(n4js, objectstore), settings.ALCHEMISCALE_METRICS_CACHE_SECONDS)
        return Response(process_metrics() + store_text, media_type=CONTENT_TYPE_LATEST)

    return router


def add_metrics(app: FastAPI, api_name: str) -> None:
    """``GET /metrics`` and the request-counting middleware (outermost of those added so far)."""
    app.include_router(make_metrics_router())
    app.add_middleware(MetricsMiddleware, api_name=api_name, fastapi_app=app)
