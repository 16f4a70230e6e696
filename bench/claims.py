"""Benchmark 3: a claim storm, many compute services claiming at once over HTTP.

Each simulated service is a thread with its own HTTP connection and its own registered compute
service id; all share one bearer token (one bcrypt check instead of hundreds, which would
otherwise dominate the setup). They start together and claim one Task per request until the
queue is empty or the time limit passes, first from one TaskHub (``POST /taskhubs/{hub}/claim``),
then across 50 TaskHubs in one Scope (``POST /claim``). Every storm gets fresh hubs; each level
is repeated and its median printed with the load average.

A claimer whose connection drops (e.g. the server closed an idle keep-alive connection just as a
request went out) reconnects and sends the claim again, as the compute client does; retries are
counted. Such a re-sent claim can at worst claim a second Task for the same service, never give
one Task to two services.

Baseline: the same claims made straight on ``Neo4jStore.claim_taskhub_tasks`` from 8 threads in
this process (no HTTP, no authentication), on a fresh hub of the same size, right after each
256-client storm (so Neo4j's plans and JIT are equally warm, and the load is the same).
A Task claimed twice is a correctness failure, counted from the clients' answers and from the
graph (Tasks with more than one ``TaskAttempt``).

Where the time goes: the CPU seconds that the claimers (this process), the compute API and Neo4j
spent during each storm, per claim.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import httpx
from gufe import AlchemicalNetwork

from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.models import ComputeServiceID, Scope, ScopedKey
from alchemiscale.storage.models import ComputeServiceRegistration, utcnow

from .data import transformation_network
from alchemiscale.tests.integration.servers import free_port

from .harness import CpuMeter, Report, Stack, _api_env as api_env, percentile, running_stack, unique_scope

TARGET_CLAIMS_PER_SECOND = 200.0
TARGET_RATIO = 0.8
TARGET_CLIENTS = 256
N_HUBS = 50
BASELINE_THREADS = 8
REPEATS = 3
MAX_RETRIES = 5
# Clients drop idle connections before the server may (uvicorn closes them after 5 s, gunicorn's
# default is 2 s): a request is then never sent on a connection the server is closing.
CLIENT_KEEPALIVE_SECONDS = 1.0


@dataclass
class StormResult:
    clients: int
    seconds: float
    claimed: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    load: float = 0.0

    @property
    def claims_per_second(self) -> float:
        return len(self.claimed) / self.seconds if self.seconds else 0.0

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in Counter(self.claimed).values() if count > 1)


def hub_with_tasks(stack: Stack, chain: list, scope: Scope, n_tasks: int) -> ScopedKey:
    """Store ``chain`` in ``scope`` and action ``n_tasks`` Tasks spread over its Transformations."""
    network_sk, taskhub_sk, _ = stack.store.assemble_network(chain, scope)
    transformations = stack.store.get_network_transformations(network_sk)
    per_transformation = math.ceil(n_tasks / len(transformations))
    targets = [tf for tf in transformations for _ in range(per_transformation)][:n_tasks]
    tasks = stack.store.create_tasks(targets, creator="bench")
    stack.store.action_tasks(tasks, taskhub_sk)
    return taskhub_sk


def storm(
    n_clients: int, claim_once: Callable[[int], list[Optional[str]]], time_limit: float
) -> StormResult:
    """Start ``n_clients`` threads together; each calls ``claim_once(i)`` until it gets nothing."""
    barrier = threading.Barrier(n_clients + 1)
    claimed: list[list[str]] = [[] for _ in range(n_clients)]
    latencies: list[list[float]] = [[] for _ in range(n_clients)]
    errors: list[str] = []
    deadline = [0.0]

    def claimer(i: int) -> None:
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            start = time.perf_counter()
            try:
                got = [task for task in claim_once(i) if task is not None]
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                errors.append(f"{type(e).__name__}: {e}")
                return
            latencies[i].append(time.perf_counter() - start)
            if not got:
                return
            claimed[i].extend(got)

    meter = CpuMeter(own="claimers")
    threads = [threading.Thread(target=claimer, args=(i,), daemon=True) for i in range(n_clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + time_limit
    cpu_before = meter.read()
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    cpu_after = meter.read()
    return StormResult(
        n_clients, seconds, [t for c in claimed for t in c], [x for per in latencies for x in per], errors,
        {name: cpu_after[name] - cpu_before[name] for name in cpu_after}, os.getloadavg()[0],
    )


class HttpClaimers:
    """``n`` registered compute services, each with its own connection, sharing one token."""

    def __init__(self, url: str, identity: tuple[str, str], n: int):
        self.url = url
        identifier, key = identity
        response = httpx.post(f"{self.url}/token", data={"username": identifier, "password": key}, timeout=60)
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        limits = httpx.Limits(max_connections=1, keepalive_expiry=CLIENT_KEEPALIVE_SECONDS)
        self.http = [httpx.Client(base_url=self.url, headers=headers, timeout=600, limits=limits) for _ in range(n)]
        self.services = [str(ComputeServiceID.new_from_name(f"bench_{i}")) for i in range(n)]
        self.retries = 0
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(self._register, range(n)))

    def _register(self, i: int) -> None:
        self._post(i, f"/computeservice/{self.services[i]}/register", {"compute_manager_id": None})

    def _post(self, i: int, path: str, body: dict):
        for attempt in range(MAX_RETRIES + 1):
            try:
                response = self.http[i].post(path, json=body)
            except httpx.TransportError:
                if attempt == MAX_RETRIES:
                    raise
                self.retries += 1
                time.sleep(0.05 * 2**attempt)
                continue
            if response.status_code == 503 and attempt < MAX_RETRIES:
                self.retries += 1
                time.sleep(0.05 * 2**attempt)
                continue
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
            return response.json()

    def claim_from_hub(self, taskhub: ScopedKey) -> Callable[[int], list[Optional[str]]]:
        def claim(i: int) -> list[Optional[str]]:
            body = {"compute_service_id": self.services[i], "count": 1, "protocols": None}
            return self._post(i, f"/taskhubs/{taskhub}/claim", body)

        return claim

    def claim_in_scope(self, scope: Scope) -> Callable[[int], list[Optional[str]]]:
        def claim(i: int) -> list[Optional[str]]:
            body = {
                "scopes": [scope.to_dict()],
                "scopes_exclude": None,
                "compute_service_id": self.services[i],
                "count": 1,
                "protocols": None,
            }
            return self._post(i, "/claim", body) or []

        return claim

    def close(self) -> None:
        try:
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda i: self._post(i, f"/computeservice/{self.services[i]}/deregister", {}),
                              range(len(self.http))))
        finally:
            for client in self.http:
                client.close()


def tasks_attempted_twice(stack: Stack, scope: Scope) -> int:
    """Tasks in Scopes matching ``scope`` (``*`` allowed) with more than one TaskAttempt."""
    params = {name: value for name, value in scope.to_dict().items() if value is not None}
    where = " AND ".join(f"t._{name} = ${name}" for name in params) or "true"
    records = stack.cypher(
        f"MATCH (t:Task)-[:ATTEMPTED]->(a:TaskAttempt) WHERE {where} "
        "WITH t, count(a) AS attempts WHERE attempts > 1 RETURN count(t) AS n",
        **params,
    )
    return records[0]["n"]


def report_storms(
    report: Report, label: str, results: list[StormResult], double_in_graph: int, n_tasks: int, retries: int
) -> float:
    """Print the median rate of repeated storms (with their loads), latencies, CPU per claim and double claims."""
    clients = results[0].clients
    rates = [r.claims_per_second for r in results]
    rate = statistics.median(rates)
    at_target = clients == TARGET_CLIENTS and label == "one hub"
    report.add(
        f"{label}, {clients} clients: claims/s (median of {len(results)})",
        rate,
        "claims/s",
        **({"target": f">= {TARGET_CLAIMS_PER_SECOND:g}", "met": rate >= TARGET_CLAIMS_PER_SECOND} if at_target else {}),
        repeats=[round(r, 1) for r in rates],
        load=[round(r.load, 1) for r in results],
        claimed=[len(r.claimed) for r in results],
        of_tasks=n_tasks,
    )
    latencies = [x for r in results for x in r.latencies]
    for q in (0.5, 0.99):
        report.add(f"{label}, {clients} clients: latency p{round(q * 100)}", percentile(latencies, q) * 1e3, "ms")
    claims = sum(len(r.claimed) for r in results) or 1
    for name in results[0].cpu_seconds:
        report.add(f"{label}, {clients} clients: CPU per claim, {name}",
                   sum(r.cpu_seconds[name] for r in results) / claims * 1e3, "ms")
    duplicates = sum(r.duplicates for r in results)
    report.add(
        f"{label}, {clients} clients: tasks claimed twice",
        max(duplicates, double_in_graph),
        "tasks",
        target="0",
        met=duplicates == 0 and double_in_graph == 0,
    )
    errors = [e for r in results for e in r.errors]
    report.add(f"{label}, {clients} clients: claimers failed", len(errors), "claimers", retries=retries)
    if errors:
        report.note(f"{label}, {clients} clients: {len(errors)} claimer(s) failed, first: {errors[0]}")
    return rate


def baseline(stack: Stack, chain: list, n_tasks: int, time_limit: float) -> StormResult:
    scope = unique_scope("bench", "claimbase", "p")
    hub = hub_with_tasks(stack, chain, scope, n_tasks)
    services = []
    for i in range(BASELINE_THREADS):
        service = ComputeServiceID.new_from_name(f"bench_direct_{i}")
        now = utcnow()
        stack.store.register_computeservice(ComputeServiceRegistration(identifier=service, registered=now, heartbeat=now))
        services.append(service)

    def claim(i: int) -> list[Optional[str]]:
        return [str(t) if t else None for t in stack.store.claim_taskhub_tasks(hub, services[i], count=1)]

    result = storm(BASELINE_THREADS, claim, time_limit)
    for service in services:
        stack.store.deregister_computeservice(service)
    return result


def hubs_with_tasks(stack: Stack, chains: list[list], scope: Scope, n_tasks: int) -> None:
    """One TaskHub per chain, all in ``scope`` and sharing their Transformations, with Tasks split evenly."""
    per_hub = n_tasks // len(chains)
    for chain in chains:
        network_sk, taskhub_sk, _ = stack.store.assemble_network(chain, scope)
        transformations = stack.store.get_network_transformations(network_sk)
        targets = [tf for tf in transformations for _ in range(math.ceil(per_hub / len(transformations)))][:per_hub]
        stack.store.action_tasks(stack.store.create_tasks(targets, creator="bench"), taskhub_sk)


def warm_up(stack: Stack, url: str, chain: list) -> None:
    """Claim a few Tasks over HTTP and on the store first, so no level pays Cypher planning or JIT."""
    claimers = HttpClaimers(url, stack.compute_identity, BASELINE_THREADS)
    try:
        hub = hub_with_tasks(stack, chain, unique_scope("bench", "claimwarmup", "p"), 200)
        storm(BASELINE_THREADS, claimers.claim_from_hub(hub), 5.0)
        campaign_scope = unique_scope("bench", "claimwarmup", "h")
        hubs_with_tasks(stack, [chain], campaign_scope, 100)
        storm(BASELINE_THREADS, claimers.claim_in_scope(campaign_scope), 5.0)
    finally:
        claimers.close()
    baseline(stack, chain, 200, 5.0)


def run(
    stack: Stack,
    levels: tuple[int, ...],
    n_tasks: int,
    time_limit: float,
    preset: str,
    repeats: int = REPEATS,
    hubs: bool = True,
    url: Optional[str] = None,
) -> Report:
    """Storms at each client level (``repeats`` each), the store baseline after each storm at
    ``TARGET_CLIENTS`` (or at the largest level), and the 50-hub storms unless ``hubs`` is False."""
    url = url or stack.compute_url
    report = Report("claims", preset)
    one_hub_chain = to_keyed_chain_json(transformation_network(100, name="claim storm"))
    small = transformation_network(10, name="claim storm small")
    hub_chains = [to_keyed_chain_json(AlchemicalNetwork(small.edges, name=f"claim storm hub {h}")) for h in range(N_HUBS)]
    report.note(
        f"{n_tasks} actioned Tasks per storm (one hub: 100 Transformations; {N_HUBS} hubs in one Scope sharing "
        f"10 Transformations: {n_tasks // N_HUBS} Tasks each), one Task per claim request, "
        f"time limit {time_limit:g} s per storm, {repeats} storms per level, {os.cpu_count()} CPUs"
    )

    warm_up(stack, url, one_hub_chain)
    baseline_level = TARGET_CLIENTS if TARGET_CLIENTS in levels else max(levels)
    for n_clients in levels:
        claimers = HttpClaimers(url, stack.compute_identity, n_clients)
        try:
            results, directs, doubles = [], [], 0
            for _ in range(repeats):
                scope = unique_scope("bench", "claims", f"c{n_clients}")
                hub = hub_with_tasks(stack, one_hub_chain, scope, n_tasks)
                results.append(storm(n_clients, claimers.claim_from_hub(hub), time_limit))
                doubles += tasks_attempted_twice(stack, scope)
                if n_clients == baseline_level:
                    directs.append(baseline(stack, one_hub_chain, n_tasks, time_limit))
            http_rate = report_storms(report, "one hub", results, doubles, n_tasks, claimers.retries)
            if directs:
                direct_rates = [d.claims_per_second for d in directs]
                report.add(f"baseline: store claims, {BASELINE_THREADS} threads in process (median)",
                           statistics.median(direct_rates), "claims/s",
                           repeats=[round(r, 1) for r in direct_rates], load=[round(d.load, 1) for d in directs])
                report.add(f"baseline: store claim latency p50 ({BASELINE_THREADS} threads)",
                           percentile([x for d in directs for x in d.latencies], 0.5) * 1e3, "ms")
                claims = sum(len(d.claimed) for d in directs) or 1
                for name in ("claimers", "Neo4j"):
                    report.add(f"baseline: CPU per claim, {name}",
                               sum(d.cpu_seconds[name] for d in directs) / claims * 1e3, "ms")
                ratios = [r.claims_per_second / d.claims_per_second for r, d in zip(results, directs)]
                ratio = statistics.median(ratios)
                report.add(
                    f"one hub, {n_clients} clients over HTTP / direct store claims (median of paired storms)",
                    ratio, "x", target=f">= {TARGET_RATIO:g}", met=ratio >= TARGET_RATIO,
                    repeats=[round(r, 2) for r in ratios],
                )

            if hubs:
                results, doubles = [], 0
                for _ in range(repeats):
                    scope = unique_scope("bench", "storm", f"c{n_clients}")
                    hubs_with_tasks(stack, hub_chains, scope, n_tasks)
                    results.append(storm(n_clients, claimers.claim_in_scope(scope), time_limit))
                    doubles += tasks_attempted_twice(stack, scope)
                report_storms(report, f"{N_HUBS} hubs", results, doubles, n_tasks, claimers.retries)
        finally:
            claimers.close()
    return report


@contextmanager
def gunicorn_compute_api(stack: Stack, workers: int) -> Iterator[str]:
    """``alchemiscale compute api --workers N`` on the stack's Neo4j and object store, as deployed; its URL."""
    port = free_port()
    env = {**os.environ, **api_env(stack.neo4j, stack.objectstore.root)}
    command = [str(Path(sys.executable).with_name("alchemiscale")), "compute", "api", "--workers", str(workers),
               "--host", "127.0.0.1", "--port", str(port), "--loglevel", "warning"]
    log = open(stack.workdir / f"compute-api-gunicorn-{workers}.log", "wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{url}/ping", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /ping within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="claim storms alone: python -m bench.claims")
    parser.add_argument("--levels", type=int, nargs="+", default=[TARGET_CLIENTS])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--time-limit", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--no-hubs", action="store_true", help="skip the 50-hub storms")
    parser.add_argument("--gunicorn-workers", type=int, nargs="+",
                        help="claim from `alchemiscale compute api --workers N` for each N instead of one uvicorn")
    args = parser.parse_args(argv)
    with running_stack() as stack:
        if not args.gunicorn_workers:
            report = run(stack, tuple(args.levels), args.tasks, args.time_limit, "custom", args.repeats,
                         not args.no_hubs)
            print(f"wrote {report.write()}")
        for workers in args.gunicorn_workers or []:
            print(f"claims: gunicorn with {workers} worker(s)", flush=True)
            with gunicorn_compute_api(stack, workers) as url:
                report = run(stack, tuple(args.levels), args.tasks, args.time_limit, f"gunicorn-{workers}",
                             args.repeats, not args.no_hubs, url)
            report.benchmark = f"claims-gunicorn-{workers}"
            print(f"wrote {report.write()}")


if __name__ == "__main__":
    main()
