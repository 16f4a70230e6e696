"""Benchmark 3: a claim storm, many compute services claiming at once over HTTP.

Each simulated service is a thread with its own HTTP connection and its own registered compute
service id; all share one bearer token (one bcrypt check instead of hundreds, which would
otherwise dominate the setup). They start together and claim one Task per request until the
queue is empty or the time limit passes, first from one TaskHub (``POST /taskhubs/{hub}/claim``),
then across 50 TaskHubs in one Scope (``POST /claim``). Every level gets fresh hubs.

Baseline: the same claims made straight on ``Neo4jStore.claim_taskhub_tasks`` from 8 threads in
this process (no HTTP, no authentication), on a fresh hub of the same size, right after the
8-client storm (so Neo4j's plans and JIT are equally warm).
A Task claimed twice is a correctness failure, counted from the clients' answers and from the
graph (Tasks with more than one ``TaskAttempt``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

import httpx
from gufe import AlchemicalNetwork

from alchemiscale.gufe_chain import to_keyed_chain_json
from alchemiscale.models import ComputeServiceID, Scope, ScopedKey
from alchemiscale.storage.models import ComputeServiceRegistration, utcnow

from .data import transformation_network
from .harness import Report, Stack, percentile, unique_scope

TARGET_CLAIMS_PER_SECOND = 200.0
TARGET_CLIENTS = 256
N_HUBS = 50
BASELINE_THREADS = 8


@dataclass
class StormResult:
    clients: int
    seconds: float
    claimed: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

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

    threads = [threading.Thread(target=claimer, args=(i,), daemon=True) for i in range(n_clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + time_limit
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return StormResult(
        n_clients, seconds, [t for c in claimed for t in c], [x for per in latencies for x in per], errors
    )


class HttpClaimers:
    """``n`` registered compute services, each with its own connection, sharing one token."""

    def __init__(self, stack: Stack, n: int):
        self.url = stack.compute_url
        identifier, key = stack.compute_identity
        response = httpx.post(f"{self.url}/token", data={"username": identifier, "password": key}, timeout=60)
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        self.http = [httpx.Client(base_url=self.url, headers=headers, timeout=600) for _ in range(n)]
        self.services = [str(ComputeServiceID.new_from_name(f"bench_{i}")) for i in range(n)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(self._register, range(n)))

    def _register(self, i: int) -> None:
        self._post(i, f"/computeservice/{self.services[i]}/register", {"compute_manager_id": None})

    def _post(self, i: int, path: str, body: dict):
        response = self.http[i].post(path, json=body)
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
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: self._post(i, f"/computeservice/{self.services[i]}/deregister", {}),
                          range(len(self.http))))
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


def report_storm(report: Report, label: str, result: StormResult, double_in_graph: int, n_tasks: int) -> None:
    at_target = result.clients == TARGET_CLIENTS and label == "one hub"
    rate = result.claims_per_second
    report.add(
        f"{label}, {result.clients} clients: claims/s",
        rate,
        "claims/s",
        **({"target": f">= {TARGET_CLAIMS_PER_SECOND:g}", "met": rate >= TARGET_CLAIMS_PER_SECOND} if at_target else {}),
        claimed=len(result.claimed),
        of_tasks=n_tasks,
        seconds=round(result.seconds, 3),
    )
    for q in (0.5, 0.95, 0.99):
        report.add(f"{label}, {result.clients} clients: latency p{round(q * 100)}", percentile(result.latencies, q) * 1e3, "ms")
    report.add(
        f"{label}, {result.clients} clients: tasks claimed twice",
        max(result.duplicates, double_in_graph),
        "tasks",
        target="0",
        met=result.duplicates == 0 and double_in_graph == 0,
    )
    if result.errors:
        report.note(f"{label}, {result.clients} clients: {len(result.errors)} claimer(s) failed, first: {result.errors[0]}")


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

    return storm(BASELINE_THREADS, claim, time_limit)


def hubs_with_tasks(stack: Stack, chains: list[list], scope: Scope, n_tasks: int) -> None:
    """One TaskHub per chain, all in ``scope`` and sharing their Transformations, with Tasks split evenly."""
    per_hub = n_tasks // len(chains)
    for chain in chains:
        network_sk, taskhub_sk, _ = stack.store.assemble_network(chain, scope)
        transformations = stack.store.get_network_transformations(network_sk)
        targets = [tf for tf in transformations for _ in range(math.ceil(per_hub / len(transformations)))][:per_hub]
        stack.store.action_tasks(stack.store.create_tasks(targets, creator="bench"), taskhub_sk)


def warm_up(stack: Stack, chain: list) -> None:
    """Claim a few Tasks over HTTP and on the store first, so no level pays Cypher planning or JIT."""
    claimers = HttpClaimers(stack, BASELINE_THREADS)
    try:
        hub = hub_with_tasks(stack, chain, unique_scope("bench", "claimwarmup", "p"), 200)
        storm(BASELINE_THREADS, claimers.claim_from_hub(hub), 5.0)
        campaign_scope = unique_scope("bench", "claimwarmup", "h")
        hubs_with_tasks(stack, [chain], campaign_scope, 100)
        storm(BASELINE_THREADS, claimers.claim_in_scope(campaign_scope), 5.0)
    finally:
        claimers.close()
    baseline(stack, chain, 200, 5.0)


def run(stack: Stack, levels: tuple[int, ...], n_tasks: int, time_limit: float, preset: str) -> Report:
    report = Report("claims", preset)
    one_hub_chain = to_keyed_chain_json(transformation_network(100, name="claim storm"))
    small = transformation_network(10, name="claim storm small")
    hub_chains = [to_keyed_chain_json(AlchemicalNetwork(small.edges, name=f"claim storm hub {h}")) for h in range(N_HUBS)]
    report.note(
        f"{n_tasks} actioned Tasks per level (one hub: 100 Transformations; {N_HUBS} hubs in one Scope sharing "
        f"10 Transformations: {n_tasks // N_HUBS} Tasks each), one Task per claim request, "
        f"time limit {time_limit:g} s per level"
    )

    warm_up(stack, one_hub_chain)
    for n_clients in levels:
        claimers = HttpClaimers(stack, n_clients)
        try:
            scope = unique_scope("bench", "claims", f"c{n_clients}")
            hub = hub_with_tasks(stack, one_hub_chain, scope, n_tasks)
            result = storm(n_clients, claimers.claim_from_hub(hub), time_limit)
            report_storm(report, "one hub", result, tasks_attempted_twice(stack, scope), n_tasks)
            if n_clients == BASELINE_THREADS:
                direct = baseline(stack, one_hub_chain, n_tasks, time_limit)
                report.add(f"baseline: store claims, {BASELINE_THREADS} threads in process", direct.claims_per_second,
                           "claims/s")
                report.add(f"baseline: store claim latency p50 ({BASELINE_THREADS} threads)",
                           percentile(direct.latencies, 0.5) * 1e3, "ms")
                report.add(
                    f"one hub, {n_clients} clients over HTTP / direct store claims",
                    result.claims_per_second / direct.claims_per_second,
                    "x",
                )

            scope = unique_scope("bench", "storm", f"c{n_clients}")
            hubs_with_tasks(stack, hub_chains, scope, n_tasks)
            result = storm(n_clients, claimers.claim_in_scope(scope), time_limit)
            report_storm(report, f"{N_HUBS} hubs", result, tasks_attempted_twice(stack, scope), n_tasks)
        finally:
            claimers.close()
    return report
