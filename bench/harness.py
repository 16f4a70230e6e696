"""What every benchmark needs: a running stack, generated networks, timers and a report.

:func:`running_stack` starts a private Neo4j server, a local-folder object store and the user and
compute APIs (uvicorn subprocesses) on loopback, and creates one user and one compute identity
that may access every Scope. :class:`Report` prints each figure on its own line as it is measured
and writes them all to ``bench/results/<benchmark>.json``.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families
from neo4j import Driver, GraphDatabase

from alchemiscale.compute.client import AlchemiscaleComputeClient
from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.models import Scope
from alchemiscale.local.neo4jserver import Neo4jServer, default_lib_dir, fetch_jars, has_jars
from alchemiscale.security.auth import hash_key
from alchemiscale.security.models import CredentialedComputeIdentity, CredentialedUserIdentity
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.storage.statestore import Neo4jStore
from alchemiscale.tests.integration.servers import running_uvicorn

RESULTS_DIR = Path(__file__).parent / "results"
USER_APP = "alchemiscale.interface.api:app"
COMPUTE_APP = "alchemiscale.compute.api:app"
EVERY_SCOPE = "*-*-*"
# on two cores shared with other jobs, Neo4j and the API servers can take minutes to start
NEO4J_START_SECONDS = 600.0
SERVER_START_SECONDS = 300.0


# -- reporting ------------------------------------------------------------------------------------


@dataclass
class Report:
    """Figures of one benchmark: printed as they come, then written as JSON."""

    benchmark: str
    preset: str
    figures: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        target: Optional[str] = None,
        met: Optional[bool] = None,
        **details: Any,
    ) -> float:
        """Record and print one figure with the load average; ``target``/``met`` state its goal, if any."""
        row = {"name": name, "value": value, "unit": unit, "load": round(os.getloadavg()[0], 2), **details}
        load = row["load"] if isinstance(row["load"], (int, float)) else row["load"][-1]  # or one per repeat
        verdict = ""
        if target is not None:
            row.update(target=target, met=met)
            verdict = f"   [target {target}: {'met' if met else 'MISSED'}]"
        self.figures.append(row)
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{self.benchmark}: {name} = {shown} {unit} (load {load:.1f}){verdict}", flush=True)
        return value

    def value(self, name: str) -> float:
        return next(f["value"] for f in self.figures if f["name"] == name)

    def ratio(self, label: str, project: str, upstream: str) -> float:
        """Add ``project / upstream`` of two figures already recorded (for times, below 1 means faster)."""
        ours, theirs = self.value(project), self.value(upstream)
        return self.add(f"project/upstream: {label}", ours / theirs, "x", project=ours, upstream=theirs)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"{self.benchmark}: note: {text}", flush=True)

    def as_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "preset": self.preset, "figures": self.figures, "notes": self.notes}

    def write(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"{self.benchmark}.json"
        out.write_text(json.dumps({**machine_info(), **self.as_dict()}, indent=2, default=str) + "\n")
        return out


def machine_info() -> dict[str, Any]:
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


# -- measuring ------------------------------------------------------------------------------------


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> "Stopwatch":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = time.perf_counter() - self._start


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def median_seconds(action: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """``(first, median of the rest)``: the first call warms caches, the rest show steady state."""
    first, _ = timed(action)
    rest = [timed(action)[0] for _ in range(max(repeats - 1, 1))]
    return first, statistics.median(rest)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class PeakRSS:
    """Peak resident memory of this process above its level at entry, sampled every 10 ms."""

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.peak_bytes = 0
        self._process = psutil.Process()
        self._stop = threading.Event()

    def __enter__(self) -> "PeakRSS":
        self.baseline_bytes = self._process.memory_info().rss
        self._peak = self.baseline_bytes
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.peak_bytes = self._peak - self.baseline_bytes


class CpuMeter:
    """CPU seconds (user + system) of this process (``own``), the compute API's processes and Neo4j over a span."""

    def __init__(self, compute_app: str = COMPUTE_APP, own: str = "clients") -> None:
        me = psutil.Process()
        self.processes: dict[str, list[psutil.Process]] = {own: [me], "compute API": [], "Neo4j": []}
        for child in me.children(recursive=True):
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if compute_app in cmdline or "compute api" in cmdline:  # uvicorn, or gunicorn and its workers
                self.processes["compute API"].append(child)
            elif "java" in cmdline and "neo4j" in cmdline.lower():
                self.processes["Neo4j"].append(child)

    def read(self) -> dict[str, float]:
        totals = {}
        for name, processes in self.processes.items():
            total = 0.0
            for process in processes:
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                total += times.user + times.system
            totals[name] = total
        return totals


def store_batches(compute_url: str, kind: str) -> tuple[float, float]:
    """``(requests, batches)`` of ``kind`` (claims, results) the compute API has sent to Neo4j so far,
    from its ``alchemiscale_store_batch_size`` histogram."""
    totals = {"_sum": 0.0, "_count": 0.0}
    for family in text_string_to_metric_families(httpx.get(f"{compute_url}/metrics", timeout=60).text):
        for sample in family.samples:
            suffix = sample.name.removeprefix("alchemiscale_store_batch_size")
            if suffix in totals and sample.labels.get("kind") == kind:
                totals[suffix] += sample.value
    return totals["_sum"], totals["_count"]


# -- the stack ------------------------------------------------------------------------------------


@dataclass
class Stack:
    """A running Neo4j, object store and both APIs, with credentials that reach every Scope."""

    workdir: Path
    neo4j: Neo4jServer
    driver: Driver
    store: Neo4jStore
    objectstore: LocalObjectStore
    user_url: str
    compute_url: str
    user_identity: tuple[str, str]
    compute_identity: tuple[str, str]

    def user_client(self) -> AlchemiscaleClient:
        """A user client without the disk cache, so every read goes to the server."""
        return AlchemiscaleClient(
            self.user_url, *self.user_identity, use_local_cache=False, max_retries=2, timeout=600.0
        )

    def compute_client(self) -> AlchemiscaleComputeClient:
        return AlchemiscaleComputeClient(
            self.compute_url, *self.compute_identity, use_local_cache=False, max_retries=2, timeout=600.0
        )

    def cypher(self, query: str, **parameters: Any) -> list:
        records, _, _ = self.driver.execute_query(query, parameters_=parameters, database_=self.neo4j.dbname)
        return records


def _api_env(neo4j: Neo4jServer, objectstore_root: Path) -> dict[str, str]:
    return {
        "NEO4J_URL": neo4j.url,
        "NEO4J_USER": neo4j.user,
        "NEO4J_PASS": neo4j.password,
        "NEO4J_DBNAME": neo4j.dbname,
        "JWT_SECRET_KEY": secrets.token_hex(32),
        "ALCHEMISCALE_OBJECT_STORE": "local",
        "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(objectstore_root),
    }


@contextmanager
def running_stack(workdir: Optional[Path] = None, heap: str = "2g", pagecache: str = "1g") -> Iterator[Stack]:
    """Start everything in ``workdir`` (default: a temporary folder, removed afterwards)."""
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="alchemiscale-bench-")))
        workdir.mkdir(parents=True, exist_ok=True)
        lib_dir = default_lib_dir()
        if not has_jars(lib_dir):
            fetch_jars(lib_dir)
        neo4j = Neo4jServer(workdir / "neo4j", lib_dir=lib_dir, heap=heap, pagecache=pagecache)
        started = time.perf_counter()
        neo4j.start(timeout=NEO4J_START_SECONDS)
        stack.callback(neo4j.stop)
        print(f"harness: Neo4j started in {time.perf_counter() - started:.1f} s at {neo4j.url}", flush=True)
        driver = stack.enter_context(
            GraphDatabase.driver(
                neo4j.url,
                auth=(neo4j.user, neo4j.password),
                notifications_disabled_categories=["UNRECOGNIZED", "DEPRECATION", "HINT", "PERFORMANCE"],
            )
        )
        store = Neo4jStore(driver, neo4j.dbname)
        store.initialize()
        objectstore = LocalObjectStore(workdir / "objects")
        objectstore.initialize()

        user = ("bench-user", secrets.token_urlsafe(24))
        compute = ("bench-compute", secrets.token_urlsafe(24))
        store.create_credentialed_entity(
            CredentialedUserIdentity(identifier=user[0], hashed_key=hash_key(user[1]), scopes=[EVERY_SCOPE])
        )
        store.create_credentialed_entity(
            CredentialedComputeIdentity(identifier=compute[0], hashed_key=hash_key(compute[1]), scopes=[EVERY_SCOPE])
        )

        env = _api_env(neo4j, objectstore.root)
        user_url = stack.enter_context(
            running_uvicorn(USER_APP, env, log_path=workdir / "user-api.log", timeout=SERVER_START_SECONDS)
        )
        compute_url = stack.enter_context(
            running_uvicorn(COMPUTE_APP, env, log_path=workdir / "compute-api.log", timeout=SERVER_START_SECONDS)
        )
        yield Stack(workdir, neo4j, driver, store, objectstore, user_url, compute_url, user, compute)


def unique_scope(org: str, campaign: str, project: str) -> Scope:
    """A Scope no earlier benchmark in this run used (a run-unique suffix on the project)."""
    return Scope(org, campaign, f"{project}{secrets.token_hex(3)}")
