"""Run the benchmarks: ``python -m bench.run`` (quick preset) or ``--full``.

Starts one stack (Neo4j, local object store, user and compute APIs) for all benchmarks and, unless
``--no-upstream``, upstream alchemiscale 0.8.0's stack beside it (its own Neo4j with the same
heap and page cache, its own servers; ``bench/upstream.py``), so submission, retrieval, claims
and status print project/upstream ratios measured in the same run. Runs them in order, prints
every figure on its own line with the load average, writes ``bench/results/<benchmark>.json``
for each and ``bench/results/summary.json`` with every figure that has a target. A benchmark
that fails is reported and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import claims, claims_sidebyside, compute_overhead, protocolresults, status, submission
from .harness import RESULTS_DIR, Report, Stack, machine_info, running_stack
from .upstream import UpstreamStack, UpstreamUnavailable, running_upstream


@dataclass(frozen=True)
class Preset:
    name: str
    network_sizes: tuple[int, ...]
    claim_levels: tuple[int, ...]
    claim_tasks: int
    claim_time_limit: float
    status_sizes: tuple[int, ...]
    results: int
    objectstore_count: int
    neo4j_heap: str  # both Neo4j servers, the project's and upstream's, get the same settings
    neo4j_pagecache: str


QUICK = Preset("quick", (100, 500, 2000), (8, 64, 256), 2000, 15.0, (10**5,), 400, 20, "2g", "1g")
FULL = Preset("full", (100, 500, 2000), (8, 64, 256), 10_000, 120.0, (10**5, 10**6), 4000, 100, "3g", "2g")

BENCHMARKS = ("networks", "claims", "claims_sidebyside", "status", "results", "compute_overhead", "objectstore")


def stack_benchmarks(
    preset: Preset, full: bool, upstream: Optional[UpstreamStack]
) -> dict[str, Callable[[Stack], Report]]:
    return {
        "networks": lambda stack: submission.run(stack, preset.network_sizes, preset.name, upstream),
        "claims": lambda stack: claims.run(
            stack, preset.claim_levels, preset.claim_tasks, preset.claim_time_limit, preset.name
        ),
        "claims_sidebyside": lambda stack: claims_sidebyside.run(stack, preset.name, upstream),
        "status": lambda stack: status.run(stack, preset.status_sizes, preset.name, upstream),
        "results": lambda stack: protocolresults.run(stack, preset.results, preset.name),
        "compute_overhead": lambda stack: compute_overhead.run(stack, full, preset.name),
    }


def run_objectstore(preset: Preset) -> Optional[dict]:
    """``bench/objectstore.py`` in its own process (it starts its own S3 server); its JSON report."""
    command = [sys.executable, "-m", "bench.objectstore", "--count", str(preset.objectstore_count)]
    subprocess.run(command, check=True, cwd=Path(__file__).parent.parent)
    return json.loads((RESULTS_DIR / "objectstore.json").read_text())


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="alchemiscale benchmarks")
    parser.add_argument("--full", action="store_true", help="full sizes (10^6 Tasks, 4,000 results, hydration)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    parser.add_argument("--workdir", type=Path, help="keep Neo4j data, logs and objects here (default: temporary)")
    parser.add_argument("--no-upstream", action="store_true", help="skip upstream 0.8.0 side by side")
    args = parser.parse_args(argv)
    preset = FULL if args.full else QUICK
    selected = args.only or list(BENCHMARKS)
    print(f"bench: preset {preset.name}: {', '.join(selected)}", flush=True)

    started = time.perf_counter()
    reports: list[dict] = []
    failures: list[str] = []
    if wanted := [name for name in selected if name != "objectstore"]:
        settings = {"heap": preset.neo4j_heap, "pagecache": preset.neo4j_pagecache}
        with ExitStack() as servers:
            stack = servers.enter_context(running_stack(args.workdir, **settings))
            upstream = None
            if not args.no_upstream:
                upstream_dir = args.workdir / "upstream" if args.workdir else None
                try:
                    upstream = servers.enter_context(running_upstream(upstream_dir, **settings))
                except (UpstreamUnavailable, RuntimeError, OSError) as e:
                    print(f"bench: upstream 0.8.0 side by side skipped: {e}", flush=True)
                    failures.append("upstream")
            benches = stack_benchmarks(preset, args.full, upstream)
            wanted = {name: benches[name] for name in wanted}
            for name, bench in wanted.items():
                section = time.perf_counter()
                try:
                    report = bench(stack)
                except Exception:
                    traceback.print_exc()
                    failures.append(name)
                    continue
                out = report.write()
                reports.append(report.as_dict())
                print(f"bench: {name} done in {time.perf_counter() - section:.0f} s; wrote {out}", flush=True)
    if "objectstore" in selected:
        try:
            reports.append(run_objectstore(preset))
        except (subprocess.CalledProcessError, OSError, ValueError):
            traceback.print_exc()
            failures.append("objectstore")

    targets = [
        {"benchmark": r["benchmark"], **f} for r in reports for f in r.get("figures", []) if "target" in f
    ]
    summary = {
        **machine_info(),
        "preset": preset.name,
        "upstream": not args.no_upstream,
        "seconds": round(time.perf_counter() - started, 1),
        "failed": failures,
        "targets": targets,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nbench: finished in {summary['seconds']:.0f} s; targets:")
    for t in targets:
        print(f"  [{'met' if t['met'] else 'MISSED'}] {t['benchmark']}: {t['name']} = {t['value']:.3f} {t['unit']} "
              f"(target {t['target']})")
    if failures:
        print(f"bench: FAILED: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
