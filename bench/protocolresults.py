"""Benchmark 5: ProtocolDAGResults of realistic size pushed through the compute API and read back.

Results come from really executing a small Protocol whose simulation units return sample arrays
(random floats compress about as badly as real trajectories do), sized so the compressed
results cycle through ~100 KB, 200 KB, 400 KB and 800 KB. Four Tasks per Transformation are
claimed by eight compute services, each of which pushes its own results through its own client, all
eight at once (the bytes are serialized beforehand, as a compute service's worker does). A fresh user client then fetches
the whole network with ``get_network_results``; its peak resident memory is sampled meanwhile.

Baseline: the same bytes pushed into, and pulled and deserialized from, a local object store
directly (eight threads, no HTTP, no state store).

Neo4j is warmed first with ``WARM_UP_RECORDS`` results recorded straight into the store, one per
transaction, each after its upload's early read, as the compute API records them: the JVM compiles
those statements' code paths only after some thousand transactions, and until then each costs
several times its steady CPU (both ends of the warm-up are printed). A deployment's Neo4j, up for
days, is warm.

Every figure is the median of ``REPEATS`` measurements, each printed with the load average: the
results are pushed in ``REPEATS`` + 1 equal batches, the first untimed (it warms the servers' own
connections and caches), each timed one followed by the same batch pushed into
the object store directly, with the CPU time per push of the API, Neo4j and the clients; and the
network is fetched ``REPEATS`` times by fresh clients without a cache (each followed by a direct
pull of the same bytes).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from itertools import zip_longest
from pathlib import Path

import numpy as np
from gufe.protocols import ProtocolUnit

from alchemiscale.serialization.compression import deserialize_protocoldagresult, serialize_protocoldagresult
from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.models import ComputeServiceID, ScopedKey
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.storage.statestore import ResultRecord, UploadStateRequest
from alchemiscale.tests.integration.storage.compute_helpers import make_ref, register
from alchemiscale.tests.protocols import FinishUnit, SetupUnit, SuccessProtocol, TestSettings, execute_locally, protocol_settings

from .data import transformation_network
from .harness import CpuMeter, PeakRSS, Report, Stack, store_batches, timed, unique_scope

TASKS_PER_TRANSFORMATION = 4
PUSH_THREADS = 8
VALUES_PER_WINDOW = (2500, 5000, 10000, 20000)  # ~10 bytes per value once compressed, 4 windows
REPEATS = 3
WARM_UP_RECORDS = 1500
WARM_UP_SAMPLE = 200  # transactions at each end of the warm-up whose Neo4j CPU is printed


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


def claim_shares(clients, services: list[ComputeServiceID], taskhub: ScopedKey, n_tasks: int) -> list[tuple]:
    """Each service claims its share of the hub's Tasks; ``(Task, service index)`` pairs, services taking turns."""
    shares: list[list[ScopedKey]] = []
    for i, (client, service) in enumerate(zip(clients, services)):
        wanted = n_tasks // len(services) + (i < n_tasks % len(services))
        claimed: list[ScopedKey] = []
        while len(claimed) < wanted:
            got = [t for t in client.claim_taskhub_tasks(taskhub, service, count=wanted - len(claimed)) if t is not None]
            if not got:
                raise RuntimeError(f"service {i} claimed only {len(claimed)} of {wanted} Tasks")
            claimed.extend(got)
        shares.append(claimed)
    return [(task, i) for turn in zip_longest(*shares) for i, task in enumerate(turn) if task is not None]


def warm_up_records(stack: Stack, report: Report, n_records: int) -> None:
    """Record ``n_records`` results straight into the store, as the compute API does, on a throwaway
    network; report Neo4j's CPU per record at both ends."""
    network = transformation_network(n_records // TASKS_PER_TRANSFORMATION, "results warm-up")
    network_sk, taskhub_sk, _ = stack.store.assemble_network(to_keyed_chain_json(network), unique_scope("bench", "resultswarmup", "p"))
    transformations = stack.store.get_network_transformations(network_sk)
    stack.store.action_tasks(
        stack.store.create_tasks([tf for tf in transformations for _ in range(TASKS_PER_TRANSFORMATION)], creator="bench"),
        taskhub_sk,
    )
    service = register(stack.store, "bench_results_warmup")
    claimed = [t for t in stack.store.claim_taskhub_tasks(taskhub_sk, service, count=n_records) if t is not None]
    n, sample = len(claimed), min(WARM_UP_SAMPLE, len(claimed) // 2)
    meter = CpuMeter()
    neo4j_cpu = {0: meter.read()["Neo4j"]}  # after this many records
    for i, task in enumerate(claimed, 1):
        ref = make_ref(task, ok=True)
        stack.store.get_result_upload_states([UploadStateRequest(task, service, ref.obj_key, True)])
        stack.store.record_task_results([ResultRecord(task, ref, service)])
        if i in (sample, n - sample, n):
            neo4j_cpu[i] = meter.read()["Neo4j"]
        if i % 500 == 0:
            print(f"  warm-up: {i} of {n} results recorded", flush=True)
    stack.store.deregister_computeservice(service)
    first, last = neo4j_cpu[sample] - neo4j_cpu[0], neo4j_cpu[n] - neo4j_cpu[n - sample]
    report.add(f"warm-up: Neo4j CPU per recorded result, first {sample} of {n} (store direct)", first / sample * 1e3, "ms")
    report.add(f"warm-up: Neo4j CPU per recorded result, last {sample} of {n} (store direct)", last / sample * 1e3, "ms")


def run(stack: Stack, n_results: int, preset: str, n_warm_up: int = WARM_UP_RECORDS) -> Report:
    report = Report("results", preset)
    if n_warm_up:
        warm_up_records(stack, report, n_warm_up)
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

    services = [ComputeServiceID.new_from_name(f"bench_results_{i}") for i in range(PUSH_THREADS)]
    clients = [stack.compute_client() for _ in range(PUSH_THREADS)]
    try:
        for client, service in zip(clients, services):
            client.register(service)
        claimed = [task for task, _ in claim_shares(clients, services, taskhub_sk, len(tasks))]

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

        def push(i: int) -> ScopedKey:  # Tasks were claimed with the services taking turns
            return clients[i % PUSH_THREADS].set_task_result_bytes(claimed[i], payloads[i], services[i % PUSH_THREADS])

        for client in clients:
            client.list_scopes()  # authenticate before timing
        warm_up, *batches = [list(range(len(claimed)))[r::REPEATS + 1] for r in range(REPEATS + 1)]
        push_rates, push_base_rates, loads = [], [], []
        cpu_per_push: dict[str, list[float]] = {}
        records_per_batch: list[float] = []
        meter = CpuMeter()
        with tempfile.TemporaryDirectory(prefix="bench-objects-") as root, ThreadPoolExecutor(PUSH_THREADS) as pool:
            direct = DirectStore(root, claimed[0])
            list(pool.map(push, warm_up))
            for batch in batches:
                records_before = store_batches(stack.compute_url, "results")
                before = meter.read()
                seconds, _ = timed(lambda: list(pool.map(push, batch)))
                after = meter.read()
                records_after = store_batches(stack.compute_url, "results")
                sent = records_after[0] - records_before[0], records_after[1] - records_before[1]
                records_per_batch.append(sent[0] / sent[1] if sent[1] else 0.0)
                push_rates.append(len(batch) / seconds)
                loads.append(os.getloadavg()[0])
                for name in after:
                    cpu_per_push.setdefault(name, []).append((after[name] - before[name]) / len(batch) * 1e3)
                seconds, _ = timed(lambda: list(pool.map(lambda i: direct.push(i, payloads[i]), batch)))
                push_base_rates.append(len(batch) / seconds)
        for client, service in zip(clients, services):
            client.deregister(service)
    finally:
        for client in clients:
            client.close()
    push_mb_per_s = statistics.median(push_rates) * total_mb / len(payloads)
    report.add(f"push throughput through the compute API ({PUSH_THREADS} services at once, median of {REPEATS} batches)",
               statistics.median(push_rates), "results/s", mb_per_s=round(push_mb_per_s, 1),
               repeats=[round(r, 1) for r in push_rates], load=[round(x, 1) for x in loads])
    report.add(f"baseline: direct object store push ({PUSH_THREADS} threads, median)",
               statistics.median(push_base_rates), "results/s", repeats=[round(r, 1) for r in push_base_rates])
    for name, values in cpu_per_push.items():
        report.add(f"push: CPU per result, {name} (median)", statistics.median(values), "ms",
                   repeats=[round(v, 1) for v in values])
    report.add("push: result records per Neo4j transaction (mean per batch, median)", statistics.median(records_per_batch),
               "records", repeats=[round(v, 2) for v in records_per_batch])
    push_ratio = statistics.median([a / b for a, b in zip(push_rates, push_base_rates)])
    report.add("push through API / direct (median of paired batches)", push_ratio, "x",
               target=">= 0.5", met=push_ratio >= 0.5)

    pull_rates, pull_base_rates, peaks, loads = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-objects-") as root, ThreadPoolExecutor(PUSH_THREADS) as pool:
        direct = DirectStore(root, claimed[0])
        refs = list(pool.map(lambda i: direct.push(i, payloads[i]), range(len(payloads))))
        for _ in range(REPEATS):
            with stack.user_client() as user:
                user.get_scopes()
                with PeakRSS() as memory:
                    seconds, results = timed(
                        lambda: user.get_network_results(network_sk, return_as="ProtocolDAGResults", visualize=False)
                    )
            fetched = sum(len(pdrs) for pdrs in results.values())
            if fetched != len(payloads):
                raise RuntimeError(f"get_network_results returned {fetched} results, expected {len(payloads)}")
            del results
            pull_rates.append(fetched / seconds)
            peaks.append(memory.peak_bytes / 2**20)
            loads.append(os.getloadavg()[0])
            seconds, _ = timed(lambda: list(pool.map(direct.pull, refs)))
            pull_base_rates.append(len(refs) / seconds)
    pull_rate = statistics.median(pull_rates)
    report.add(f"get_network_results throughput ({len(payloads)} results, median of {REPEATS})", pull_rate,
               "results/s", mb_per_s=round(pull_rate * total_mb / len(payloads), 1),
               repeats=[round(r, 1) for r in pull_rates], load=[round(x, 1) for x in loads])
    report.add("get_network_results peak client memory above start (RSS, median)", statistics.median(peaks), "MiB",
               results_mib=round(total_mb * 1e6 / 2**20, 1))
    report.add(f"baseline: direct object store pull + deserialize ({PUSH_THREADS} threads, median)",
               statistics.median(pull_base_rates), "results/s", repeats=[round(r, 1) for r in pull_base_rates])
    pull_ratio = statistics.median([a / b for a, b in zip(pull_rates, pull_base_rates)])
    report.add("get_network_results / direct pull + deserialize (median of paired runs)", pull_ratio, "x",
               target=">= 0.5", met=pull_ratio >= 0.5)
    return report


class DirectStore:
    """A fresh local object store in ``root``: push and pull+deserialize results directly."""

    def __init__(self, root: str, task: ScopedKey):
        self.store = LocalObjectStore(root)
        self.store.initialize()
        self.transformation = ScopedKey(gufe_key="Transformation-bench", **task.scope.to_dict())

    def push(self, i: int, payload: bytes):
        return self.store.push_protocoldagresult(payload, True, f"ProtocolDAGResult-{i:032x}", self.transformation)

    def pull(self, ref):
        return deserialize_protocoldagresult(self.store.pull_protocoldagresult(ref, self.transformation))


def main(argv=None) -> None:
    import argparse

    from .harness import running_stack

    parser = argparse.ArgumentParser(description="result push and retrieval alone: python -m bench.protocolresults")
    parser.add_argument("--results", type=int, default=400)
    parser.add_argument("--warm-up", type=int, default=WARM_UP_RECORDS,
                        help="results recorded straight into the store first, to warm Neo4j (default: %(default)s; 0: none)")
    args = parser.parse_args(argv)
    if 0 < args.warm_up < 2 * TASKS_PER_TRANSFORMATION:
        parser.error(f"--warm-up must be 0 or at least {2 * TASKS_PER_TRANSFORMATION}")
    with running_stack() as stack:
        report = run(stack, args.results, "custom", args.warm_up)
    print(f"wrote {report.write()}")


if __name__ == "__main__":
    main()
