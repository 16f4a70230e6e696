"""Benchmark 6: what running a Task through the API and a compute service costs over running it directly.

Direct: gufe's ``execute_DAG`` on the Transformation's ProtocolDAG in this process.
Through the service: the Tasks are actioned on a TaskHub and a compute service is launched as
in production (``python -m alchemiscale.compute.service -c CONFIG``, ``max_tasks`` set to the
number of Tasks). The time runs from its launch to its exit, so it includes the interpreter start,
registration and deregistration once, and per Task: claiming, retrieving the Transformation,
executing the ProtocolDAG in a worker process, pushing the result.

The per-Task overhead is the slope: services run with a small and a large number of Tasks, and
the extra time per extra Task, less the direct time per Task, is what each Task costs the service
path (the once-per-service costs cancel). Two execution modes are measured side by side, their
repeats interleaved so both see the same load: a fresh worker process per Task
(``worker_max_tasks: 1``, what every Task paid before warm workers) and a warm worker reused
across Tasks (the default). Each figure is the median of ``REPEATS`` runs, printed with the load.

Both presets run the test protocol, whose work is negligible, so it measures the pure per-Task
overhead of the service path. The full preset also runs the built-in hydration protocol (fast
preset, methane, CPU), where the target is at least 95% of direct throughput.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from gufe import AlchemicalNetwork, Transformation

from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.tests.protocols import execute_locally

from .data import transformation_network
from .harness import Report, Stack, running_stack, timed, unique_scope

TARGET_FRACTION = 0.95
TARGET_OVERHEAD_SECONDS = 0.5
REPEATS = 3
# worker_max_tasks per mode: a fresh worker process per Task, or one warm worker for all
MODES = {"fresh worker process per Task": {"worker_max_tasks": 1}, "warm worker": {}}


def hydration_methane() -> list[Transformation]:
    from alchemiscale.protocols.hydration import HydrationSettings, hydration_transformation

    settings = HydrationSettings.fast(engine_settings={"platform": "CPU"})
    return [hydration_transformation("C", "methane", settings=settings)]


def test_protocol_transformations(count: int) -> list[Transformation]:
    return sorted(transformation_network(count, name="overhead network").edges, key=lambda t: t.name)


def run_direct(transformations: list[Transformation], workdir: Path) -> float:
    def run_all() -> None:
        for i, transformation in enumerate(transformations):
            shared = workdir / f"direct-{i}"
            shared.mkdir(parents=True)
            result = execute_locally(transformation.create(), shared)
            if not result.ok():
                raise RuntimeError(f"direct execution of {transformation.name} failed")

    seconds, _ = timed(run_all)
    return seconds


def service_config(stack: Stack, workdir: Path, scope, n_tasks: int, **settings: Any) -> Path:
    """A compute service YAML for ``n_tasks`` Tasks of ``scope``; ``settings`` override any field."""
    identifier, key = stack.compute_identity
    config = workdir / "compute-service.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "api_url": stack.compute_url,
                "identifier": identifier,
                "key": key,
                "name": "bench_service",
                "shared_basedir": str(workdir / "shared"),
                "scratch_basedir": str(workdir / "scratch"),
                "n_retries": 0,
                "sleep_interval": 1,
                "scopes": [str(scope)],
                "max_tasks": n_tasks,
                "loglevel": "WARN",
                "client_max_retries": 2,
                **settings,
            }
        )
    )
    return config


def run_service(
    stack: Stack, transformations: list[Transformation], workdir: Path, env: dict[str, str] | None = None, **settings
) -> float:
    """Seconds from launching ``python -m alchemiscale.compute.service`` until it exits after the last Task."""
    scope = unique_scope("bench", "service", "p")
    network = AlchemicalNetwork(edges=transformations, name="service bench")
    network_sk, taskhub_sk, _ = stack.store.assemble_network(to_keyed_chain_json(network), scope)
    tasks = stack.store.create_tasks(stack.store.get_network_transformations(network_sk), creator="bench")
    stack.store.action_tasks(tasks, taskhub_sk)
    workdir.mkdir(parents=True, exist_ok=True)
    config = service_config(stack, workdir, scope, len(tasks), **settings)
    command = [sys.executable, "-m", "alchemiscale.compute.service", "-c", str(config)]
    seconds, _ = timed(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env))
    statuses = stack.store.get_task_status(tasks)
    if statuses != ["complete"] * len(tasks):
        failures = [tb for per_task in stack.store.get_task_tracebacks(tasks) for ref in per_task for tb in ref["tracebacks"]]
        last_lines = sorted({tb.strip().splitlines()[-1] for tb in failures if tb.strip()})
        raise RuntimeError(f"the compute service left Tasks in statuses {statuses}; failures: {last_lines or 'none recorded'}")
    return seconds


def per_task_overhead(report: Report, stack: Stack, small: int, large: int) -> None:
    """Service runs with ``small`` and ``large`` test-protocol Tasks per mode; the slope is the per-Task cost."""
    transformations = test_protocol_transformations(large)
    times: dict[tuple[str, int], list[float]] = {(mode, n): [] for mode in MODES for n in (small, large)}
    direct: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as root:
        for repeat in range(REPEATS):
            direct.append(run_direct(transformations, Path(root) / f"direct-{repeat}") / large)
            for mode, settings in MODES.items():
                for n in (small, large):
                    workdir = Path(root) / f"{repeat}-{len(times[(mode, n)])}-{n}-{mode.split()[0]}"
                    times[(mode, n)].append(run_service(stack, transformations[:n], workdir, **settings))
                    print(f"compute_overhead: repeat {repeat + 1}/{REPEATS}, {mode}, {n} Task(s): "
                          f"{times[(mode, n)][-1]:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    direct_per_task = report.add("test protocol: direct execution per Task", statistics.median(direct), "s")
    for mode in MODES:
        for n in (small, large):
            report.add(f"test protocol, {mode}: {n} Task(s) through API + compute service",
                       statistics.median(times[(mode, n)]), "s")
        slopes = [
            (big - little) / (large - small) - direct_per_task
            for little, big in zip(times[(mode, small)], times[(mode, large)])
        ]
        overhead = statistics.median(slopes)
        report.add(
            f"test protocol, {mode}: service overhead per Task",
            overhead,
            "s",
            repeats=REPEATS,
            **({"target": f"<= {TARGET_OVERHEAD_SECONDS:g}", "met": overhead <= TARGET_OVERHEAD_SECONDS}
               if mode == "warm worker" else {}),
        )


def run(stack: Stack, full: bool, preset: str, small: int = 2, large: int = 6) -> Report:
    report = Report("compute_overhead", preset)
    per_task_overhead(report, stack, small, large)
    if full:
        label, transformations = "hydration (methane, fast preset, CPU)", hydration_methane()
        with tempfile.TemporaryDirectory(prefix="bench-overhead-") as root:
            direct = run_direct(transformations, Path(root))
            service = run_service(stack, transformations, Path(root) / "service")
        report.add(f"{label}: executed directly", direct, "s")
        report.add(f"{label}: through API + compute service", service, "s")
        fraction = direct / service
        report.add(
            f"{label}: service throughput as a fraction of direct",
            fraction,
            "",
            target=f">= {TARGET_FRACTION:g}",
            met=fraction >= TARGET_FRACTION,
        )
    return report


def main() -> None:
    """``python -m bench.compute_overhead [--full]``: this benchmark alone, on a stack of its own."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also the hydration Task against direct execution")
    args = parser.parse_args()
    with running_stack() as stack:
        run(stack, args.full, "full" if args.full else "quick").write()


if __name__ == "__main__":
    main()
