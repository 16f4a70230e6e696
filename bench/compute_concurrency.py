"""Benchmark: aggregate Tasks per hour of one compute service running K Tasks at once, on this CPU.

Short real hydration Tasks (the built-in protocol, methane, a very short custom preset of the fast
preset: 3 windows, about 9 ps of MD per Task, CPU platform) are actioned on a TaskHub and one
compute service is launched as in production with ``max_concurrent_tasks: K``. The machine's
cores are shared out: each Task's OpenMM gets ``OPENMM_CPU_THREADS = cores // K``. Tasks per hour
is the number of Tasks over the seconds from the service's launch to its exit (after the last
Task), so interpreter start, registration and the warm workers' imports are counted once per run.
The repeats of K = 1 and K = 2 are interleaved so both see the same load; each figure is the median
of ``--repeats`` runs, printed with the load average.

``python -m bench.compute_concurrency [--tasks 2] [--repeats 3] [--cores 2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from gufe import Transformation

from .compute_overhead import run_service
from .harness import Report, Stack, running_stack

LEVELS = (1, 2)


def short_hydration_settings():
    """The fast preset cut down to 3 windows and about 9 ps of MD: a Task of tens of seconds on 2 CPU threads."""
    from alchemiscale.protocols.hydration import HydrationSettings

    return HydrationSettings.fast(
        engine_settings={"platform": "CPU"},
        lambda_settings={"lambda_electrostatics": (1.0, 0.0, 0.0), "lambda_sterics": (1.0, 1.0, 0.0)},
        sampling_settings={
            "minimization_max_iterations": 100,
            "equilibration_md_steps": 500,
            "equilibration_iterations": 1,
            "n_iterations": 5,
            "vacuum_n_iterations": 5,
            "steps_per_iteration": 100,
        },
    )


def hydration_tasks(count: int, tag: str) -> list[Transformation]:
    """``count`` distinct methane hydration Transformations (distinct names, so distinct keys)."""
    from alchemiscale.protocols.hydration import hydration_transformation

    settings = short_hydration_settings()
    return [hydration_transformation("C", f"methane {tag} {i}", settings=settings) for i in range(count)]


def run(stack: Stack, n_tasks: int, repeats: int, cores: int) -> Report:
    report = Report("compute_concurrency", f"{n_tasks} tasks")
    seconds: dict[int, list[float]] = {k: [] for k in LEVELS}
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as root:
        for repeat in range(repeats):
            for k in LEVELS:
                threads = max(1, cores // k)
                env = {**os.environ, "OPENMM_CPU_THREADS": str(threads)}
                workdir = Path(root) / f"k{k}-{repeat}"
                elapsed = run_service(
                    stack, hydration_tasks(n_tasks, f"k{k} r{repeat}"), workdir, env=env, max_concurrent_tasks=k
                )
                seconds[k].append(elapsed)
                print(f"compute_concurrency: repeat {repeat + 1}/{repeats}, K={k}, {threads} thread(s) per Task: "
                      f"{elapsed:.1f} s for {n_tasks} Tasks (load {os.getloadavg()[0]:.1f})", flush=True)
    per_hour = {}
    for k in LEVELS:
        median = statistics.median(seconds[k])
        report.add(f"K={k} ({max(1, cores // k)} OpenMM thread(s) per Task): {n_tasks} Tasks", median, "s",
                   repeats=repeats)
        per_hour[k] = report.add(f"K={k}: aggregate Tasks per hour", 3600 * n_tasks / median, "Tasks/h")
    ratios = [one / two for one, two in zip(seconds[1], seconds[2])]
    report.add("K=2 over K=1: aggregate throughput", statistics.median(ratios), "x", repeats=repeats)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2, help="Tasks per service run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per K (median reported)")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="CPU cores shared out among the Tasks")
    args = parser.parse_args()
    with running_stack() as stack:
        run(stack, args.tasks, args.repeats, args.cores).write()


if __name__ == "__main__":
    main()
