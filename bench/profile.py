"""Profiles of the slow server paths, run in process on the state store: ``python -m bench.profile``.

The APIs are thin over ``Neo4jStore``, so the store calls behind the slowest figures are run here
under cProfile (Python time: keyed-chain validation, row building, driver decoding) and each of
their Cypher statements is timed and PROFILEd on its own (database time and db hits).
Writes ``bench/results/profile.json`` and prints the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from pathlib import Path
from typing import Any, Callable, Optional

from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.models import ComputeServiceID
from alchemiscale.storage.models import ComputeServiceRegistration, utcnow
from alchemiscale.storage.statestore import claims as claim_queries

from .claims import hub_with_tasks
from .data import transformation_network
from .harness import Report, Stack, running_stack, timed, unique_scope

TOP_FUNCTIONS = 15


def profiled(action: Callable[[], Any]) -> tuple[float, str]:
    """Run ``action`` under cProfile; its seconds and the top functions by cumulative time."""
    profiler = cProfile.Profile()
    seconds, _ = timed(lambda: profiler.runcall(action))
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(TOP_FUNCTIONS)
    return seconds, text.getvalue()


def db_hits(stack: Stack, query: str, parameters: dict[str, Any]) -> int:
    """Total db hits of one PROFILEd run of ``query`` (it is executed: use it on read queries)."""
    with stack.driver.session(database=stack.neo4j.dbname) as session:
        summary = session.run("PROFILE " + query, parameters).consume()

    def total(plan: Optional[dict]) -> int:
        if not plan:
            return 0
        return plan.get("dbHits", 0) + sum(total(child) for child in plan.get("children", []))

    profile = summary.profile
    return total(profile if isinstance(profile, dict) else getattr(profile, "__dict__", None))


def profile_submission(stack: Stack, report: Report, size: int) -> None:
    chain = to_keyed_chain_json(transformation_network(size, name=f"profile network {size}"))
    seconds, top = profiled(lambda: stack.store.assemble_network(chain, unique_scope("bench", "profile", "n")))
    report.add(f"store.assemble_network {size} transformations, in process", seconds, "s")
    print(top)
    report.figures[-1]["profile"] = top


def profile_claiming(stack: Stack, report: Report, n_tasks: int) -> None:
    chain = to_keyed_chain_json(transformation_network(100, name="profile claims"))
    hub = hub_with_tasks(stack, chain, unique_scope("bench", "profile", "claims"), n_tasks)
    service = ComputeServiceID.new_from_name("bench_profile")
    now = utcnow()
    stack.store.register_computeservice(ComputeServiceRegistration(identifier=service, registered=now, heartbeat=now))
    params = {"taskhub": str(hub), "compute_service_id": str(service), "protocols": None,
              "limit": claim_queries.CANDIDATES_PER_CLAIM}
    for _ in range(3):  # warm the plans
        stack.store.claim_taskhub_tasks(hub, service, count=1)
    candidates_seconds, records = timed(lambda: stack.store.execute_query(claim_queries._CANDIDATES, params))
    report.add(f"claim: candidate read ({len(records[0]['candidates'])} candidates)", candidates_seconds * 1e3, "ms",
               db_hits=db_hits(stack, claim_queries._CANDIDATES, params))
    chosen = records[0]["candidates"][:1]
    claim_seconds, _ = timed(
        lambda: stack.store.execute_query(claim_queries._CLAIM, {**params, "tasks": chosen, "now": utcnow()})
    )
    report.add("claim: conditional claim write (1 Task)", claim_seconds * 1e3, "ms")
    seconds, top = profiled(lambda: [stack.store.claim_taskhub_tasks(hub, service, count=1) for _ in range(20)])
    report.add("claim: 20 serial store.claim_taskhub_tasks, in process", seconds, "s")
    print(top)
    report.figures[-1]["profile"] = top


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="Transformations in the submitted network")
    parser.add_argument("--tasks", type=int, default=2000, help="actioned Tasks on the claimed hub")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    report = Report("profile", "custom")
    with running_stack(args.workdir) as stack:
        profile_submission(stack, report, 100)  # warms the plans of every ingestion statement
        profile_submission(stack, report, args.size)
        profile_claiming(stack, report, args.tasks)
    print(f"wrote {report.write()}")


if __name__ == "__main__":
    main()
