"""Benchmark 3b: claims from one TaskHub, the project and upstream 0.8.0 measured the same way in one run.

At each client count, ``n`` threads claim one Task per call for ``WINDOW_SECONDS`` (or until the
hub is empty), first straight on the store (``Neo4jStore.claim_taskhub_tasks``, one registered
service), then over HTTP with one compute client and registered service per thread. Both sides
use the openfe-planned network (``data.rbfe_network``) with ``N_TASKS`` actioned Tasks on a fresh
hub per repeat; clients are made once per level. Each figure is the median of ``REPEATS``
windows with the load average; project/upstream ratios follow (above 1: the project claims faster).
``bench/claims.py`` covers the project's own claim storm (256 clients, 50 hubs, latencies).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Callable, Optional

from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.models import ComputeServiceID, Scope, ScopedKey
from alchemiscale.storage.models import ComputeServiceRegistration, utcnow

from .data import rbfe_network
from .harness import Report, Stack, unique_scope
from .upstream import UpstreamStack

LEVELS = (8, 64)
N_TASKS = 2000
N_TRANSFORMATIONS = 120
WINDOW_SECONDS = 10.0
REPEATS = 3


def claim_window(claim_once: Callable[[int], bool], clients: int, seconds: float) -> tuple[int, float]:
    """``clients`` threads claiming one Task at a time for ``seconds``; (claims, elapsed)."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            if not claim_once(i):
                break
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - start


def hub(stack: Stack, chain: list, scope: Scope) -> ScopedKey:
    network_sk, taskhub_sk, _ = stack.store.assemble_network(chain, scope)
    transformations = stack.store.get_network_transformations(network_sk)
    tasks = stack.store.create_tasks([transformations[i % len(transformations)] for i in range(N_TASKS)])
    stack.store.action_tasks(tasks, taskhub_sk)
    return taskhub_sk


def run(stack: Stack, preset: str, upstream: Optional[UpstreamStack] = None) -> Report:
    report = Report("claims_sidebyside", preset)
    chain = to_keyed_chain_json(rbfe_network(N_TRANSFORMATIONS, name="claims network"))
    scopes: dict[str, list[str]] = {}
    for level in LEVELS:
        for mode in ("store", "api"):
            rates = []
            if mode == "store":
                service = ComputeServiceID.new_from_name(f"bench_store_{level}")
                now = utcnow()
                stack.store.register_computeservice(ComputeServiceRegistration(identifier=service, registered=now,
                                                                               heartbeat=now))
                services = [service] * level
                claimers = [stack.store] * level
            else:
                services = [ComputeServiceID.new_from_name(f"bench_api_{level}_{i}") for i in range(level)]
                claimers = [stack.compute_client() for _ in range(level)]
                for client, service in zip(claimers, services):
                    client.register(service)
            for _ in range(REPEATS):
                taskhub = hub(stack, chain, unique_scope("bench", "claims", f"{mode}{level}"))

                def claim_once(i: int, taskhub=taskhub) -> bool:
                    return claimers[i].claim_taskhub_tasks(taskhub, services[i], count=1)[0] is not None

                claimed, elapsed = claim_window(claim_once, level, WINDOW_SECONDS)
                rates.append(claimed / elapsed)
            report.add(f"claims {mode} {level} clients", statistics.median(rates), "claims/s",
                       repeats=[round(r, 1) for r in rates])
            scopes[f"{mode}-{level}"] = [str(unique_scope("bench", "claims", f"{mode}{level}")) for _ in range(REPEATS)]
    if upstream is not None:
        spec = {"levels": list(LEVELS), "tasks": N_TASKS, "seconds": WINDOW_SECONDS, "scopes": scopes,
                "chain_file": upstream.write_chain("claims-network", chain)}
        for figure in upstream.peer("claims", claims=spec):
            report.add(f"upstream {figure.pop('name')}", figure.pop("value"), figure.pop("unit"), **figure)
        for level in LEVELS:
            for mode in ("store", "api"):
                name = f"claims {mode} {level} clients"
                report.ratio(name, name, f"upstream {name}")
    return report
