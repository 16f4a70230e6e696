"""Benchmark 6: what running a Task through the API and a compute service costs over running it directly.

Direct: gufe's ``execute_DAG`` on the Transformation's ProtocolDAG in this process.
Through the service: the Tasks are actioned on a TaskHub and a compute service is launched as
in production (``python -m alchemiscale.compute.service -c CONFIG``, ``max_tasks`` set to the
number of Tasks). The time runs from its launch to its exit, so it includes the interpreter start,
registration, and per Task: claiming, retrieving the Transformation, executing the ProtocolDAG in
a fresh child process, pushing the result; then deregistration.

Both presets run the test protocol, whose work is negligible, so it measures the pure per-Task
overhead of the service path. The full preset also runs the built-in hydration protocol (fast
preset, methane, CPU), where the target is at least 95% of direct throughput.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from gufe import AlchemicalNetwork, Transformation

from alchemiscale.gufe_chain import to_keyed_chain_json
from alchemiscale.tests.protocols import execute_locally

from .data import transformation_network
from .harness import Report, Stack, timed, unique_scope

TARGET_FRACTION = 0.95


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


def run_service(stack: Stack, transformations: list[Transformation], workdir: Path) -> float:
    """Seconds from launching ``python -m alchemiscale.compute.service`` until it exits after the last Task."""
    scope = unique_scope("bench", "overhead", "p")
    network = AlchemicalNetwork(edges=transformations, name="overhead")
    network_sk, taskhub_sk, _ = stack.store.assemble_network(to_keyed_chain_json(network), scope)
    tasks = stack.store.create_tasks(stack.store.get_network_transformations(network_sk), creator="bench")
    stack.store.action_tasks(tasks, taskhub_sk)
    identifier, key = stack.compute_identity
    config = workdir / "compute-service.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "api_url": stack.compute_url,
                "identifier": identifier,
                "key": key,
                "name": "bench_overhead",
                "shared_basedir": str(workdir / "shared"),
                "scratch_basedir": str(workdir / "scratch"),
                "n_retries": 0,
                "sleep_interval": 1,
                "scopes": [str(scope)],
                "max_tasks": len(tasks),
                "loglevel": "WARN",
                "client_max_retries": 2,
            }
        )
    )
    command = [sys.executable, "-m", "alchemiscale.compute.service", "-c", str(config)]
    seconds, _ = timed(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL))
    statuses = stack.store.get_task_status(tasks)
    if statuses != ["complete"] * len(tasks):
        raise RuntimeError(f"the compute service left Tasks in statuses {statuses}")
    return seconds


def run(stack: Stack, full: bool, preset: str, n_test_tasks: int = 5) -> Report:
    report = Report("compute_overhead", preset)
    cases = [("test protocol", test_protocol_transformations(n_test_tasks), False)]
    if full:
        cases.append(("hydration (methane, fast preset, CPU)", hydration_methane(), True))
    for label, transformations, has_target in cases:
        n = len(transformations)
        with tempfile.TemporaryDirectory(prefix="bench-overhead-") as root:
            direct = run_direct(transformations, Path(root))
            service = run_service(stack, transformations, Path(root))
        report.add(f"{label}: {n} Task(s) executed directly", direct, "s")
        report.add(f"{label}: {n} Task(s) through API + compute service", service, "s")
        report.add(f"{label}: service overhead per Task", (service - direct) / n, "s")
        fraction = direct / service
        report.add(
            f"{label}: service throughput as a fraction of direct",
            fraction,
            "",
            **({"target": f">= {TARGET_FRACTION:g}", "met": fraction >= TARGET_FRACTION} if has_target else {}),
        )
    return report
