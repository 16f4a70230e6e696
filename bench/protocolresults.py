"""Benchmark 5: ProtocolDAGResults of realistic size pushed through the compute API and read back.

Results come from really executing a small Protocol whose simulation units return sample arrays
(random floats compress about as badly as real trajectories do), sized so the compressed
results cycle through ~100 KB, 200 KB, 400 KB and 800 KB. Four Tasks per Transformation are
claimed by one compute service; eight compute clients push the results concurrently (the bytes
are serialized beforehand, as a compute service's worker does). A fresh user client then fetches
the whole network with ``get_network_results``; its peak resident memory is sampled meanwhile.

Baseline: the same bytes pushed into, and pulled and deserialized from, a local object store
directly (eight threads, no HTTP, no state store).
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from gufe.protocols import ProtocolUnit

from alchemiscale.compression import deserialize_protocoldagresult, serialize_protocoldagresult
from alchemiscale.gufe_chain import to_keyed_chain_json
from alchemiscale.models import ComputeServiceID, ScopedKey
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.tests.protocols import FinishUnit, SetupUnit, SuccessProtocol, TestSettings, execute_locally, protocol_settings

from .data import transformation_network
from .harness import PeakRSS, Report, Stack, timed, unique_scope

TASKS_PER_TRANSFORMATION = 4
PUSH_THREADS = 8
VALUES_PER_WINDOW = (2500, 5000, 10000, 20000)  # ~10 bytes per value once compressed, 4 windows
CLAIM_BATCH = 1000


class SamplingUnit(ProtocolUnit):
    """A simulation window that keeps its samples, as real free energy units keep energies."""

    @staticmethod
    def _execute(ctx, *, setup, window, n_values, **inputs):
        samples = np.random.default_rng().normal(size=n_values)
        return {"window": window, "value": float(samples.mean()), "samples": samples}


class PayloadSettings(TestSettings):
    values_per_window: int = 2500


def payload_settings(values_per_window: int) -> PayloadSettings:
    return PayloadSettings(**dict(protocol_settings(n_windows=4)), values_per_window=values_per_window)


class PayloadProtocol(SuccessProtocol):
    """SuccessProtocol with sample arrays (``settings.n_windows`` windows of ``values_per_window``)."""

    _settings_cls = PayloadSettings

    @classmethod
    def _default_settings(cls):
        return payload_settings(2500)

    def _create(self, stateA, stateB, mapping=None, extends=None):
        setup = SetupUnit(name="setup", stateA=stateA, stateB=stateB, start=None)
        windows = [
            SamplingUnit(name=f"window {i}", setup=setup, window=i, n_values=self.settings.values_per_window)
            for i in range(self.settings.n_windows)
        ]
        return [setup, *windows, FinishUnit(name="finish", simulations=windows)]


def claim_all(client, taskhub: ScopedKey, service: ComputeServiceID, n_tasks: int) -> list[ScopedKey]:
    claimed: list[ScopedKey] = []
    while len(claimed) < n_tasks:
        got = [t for t in client.claim_taskhub_tasks(taskhub, service, count=CLAIM_BATCH) if t is not None]
        if not got:
            raise RuntimeError(f"claimed only {len(claimed)} of {n_tasks} Tasks")
        claimed.extend(got)
    return claimed


def run(stack: Stack, n_results: int, preset: str) -> Report:
    report = Report("results", preset)
    protocols = [PayloadProtocol(payload_settings(n)) for n in VALUES_PER_WINDOW]
    network = transformation_network(n_results // TASKS_PER_TRANSFORMATION, "results network", protocols)
    scope = unique_scope("bench", "results", "p")
    network_sk, taskhub_sk, _ = stack.store.assemble_network(to_keyed_chain_json(network), scope)
    by_key = {str(t.key): t for t in network.edges}
    transformations = stack.store.get_network_transformations(network_sk)
    tasks = stack.store.create_tasks(
        [tf for tf in transformations for _ in range(TASKS_PER_TRANSFORMATION)], creator="bench"
    )
    stack.store.action_tasks(tasks, taskhub_sk)

    service = ComputeServiceID.new_from_name("bench_results")
    clients = [stack.compute_client() for _ in range(PUSH_THREADS)]
    try:
        clients[0].register(service)
        claimed = claim_all(clients[0], taskhub_sk, service, len(tasks))

        def make_payload(task: ScopedKey) -> bytes:
            transformation = by_key[stack.store.get_task_transformation(task).gufe_key]
            with tempfile.TemporaryDirectory(prefix="bench-results-") as shared:
                return serialize_protocoldagresult(execute_locally(transformation.create(), Path(shared)))

        make_seconds, payloads = timed(lambda: [make_payload(task) for task in claimed])
        total_mb = sum(len(p) for p in payloads) / 1e6
        report.add(f"setup: executed and serialized {len(payloads)} ProtocolDAGResults", make_seconds, "s")
        report.add("result size: total compressed", total_mb, "MB")
        report.add("result size: smallest", min(len(p) for p in payloads) / 1e3, "KB")
        report.add("result size: largest", max(len(p) for p in payloads) / 1e3, "KB")

        def push(i: int) -> ScopedKey:
            return clients[i % PUSH_THREADS].set_task_result_bytes(claimed[i], payloads[i], service)

        for client in clients:
            client.list_scopes()  # authenticate before timing
        with ThreadPoolExecutor(PUSH_THREADS) as pool:
            push_seconds, refs = timed(lambda: list(pool.map(push, range(len(claimed)))))
        report.add(f"push {len(refs)} results through the compute API ({PUSH_THREADS} clients)", push_seconds, "s")
        report.add("push throughput", len(refs) / push_seconds, "results/s", mb_per_s=round(total_mb / push_seconds, 1))
        clients[0].deregister(service)
    finally:
        for client in clients:
            client.close()

    with stack.user_client() as user:
        user.get_scopes()
        with PeakRSS() as memory:
            pull_seconds, results = timed(
                lambda: user.get_network_results(network_sk, return_as="ProtocolDAGResults", visualize=False)
            )
    fetched = sum(len(pdrs) for pdrs in results.values())
    if fetched != len(payloads):
        raise RuntimeError(f"get_network_results returned {fetched} results, expected {len(payloads)}")
    report.add(f"get_network_results ({fetched} results)", pull_seconds, "s")
    report.add("get_network_results throughput", fetched / pull_seconds, "results/s",
               mb_per_s=round(total_mb / pull_seconds, 1))
    report.add("get_network_results peak client memory above start (RSS)", memory.peak_bytes / 2**20, "MiB",
               results_mib=round(total_mb * 1e6 / 2**20, 1))

    push_base, pull_base = direct_objectstore(payloads, claimed)
    report.add(f"baseline: direct object store push ({PUSH_THREADS} threads)", len(payloads) / push_base, "results/s")
    report.add("baseline: direct object store pull + deserialize", len(payloads) / pull_base, "results/s")
    report.add("push through API / direct", push_seconds / push_base, "x")
    report.add("get_network_results / direct pull + deserialize", pull_seconds / pull_base, "x")
    return report


def direct_objectstore(payloads: list[bytes], tasks: list[ScopedKey]) -> tuple[float, float]:
    """Seconds to push every payload into a fresh local store, then to pull and deserialize them."""
    with tempfile.TemporaryDirectory(prefix="bench-objects-") as root:
        store = LocalObjectStore(root)
        store.initialize()
        transformation = ScopedKey(gufe_key="Transformation-bench", **tasks[0].scope.to_dict())

        def push(i: int):
            return store.push_protocoldagresult(payloads[i], True, f"ProtocolDAGResult-{i:032x}", transformation)

        with ThreadPoolExecutor(PUSH_THREADS) as pool:
            push_seconds, refs = timed(lambda: list(pool.map(push, range(len(payloads)))))
            pull_seconds, _ = timed(
                lambda: list(
                    pool.map(lambda ref: deserialize_protocoldagresult(store.pull_protocoldagresult(ref, transformation)),
                             refs)
                )
            )
    return push_seconds, pull_seconds
