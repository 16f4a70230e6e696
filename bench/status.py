"""Benchmark 4: status counts over 10^5 and 10^6 Tasks, the project and upstream 0.8.0 side by side.

Each size gets a Scope of its own holding the openfe-planned network of 2,000 Transformations
(``data.rbfe_network``). Its Tasks are written in bulk straight with Cypher (``CALL ... IN
TRANSACTIONS``), with a fixed mix of statuses so the answers can be checked exactly; on the
project's side that is a store from before status counters, so the counters are then rebuilt
(``rebuild_task_status_counters``, what ``initialize`` does on such a store, timed), and 1,000
Tasks are moved through the store so the maintained counters carry changes too. Upstream gets
the same network, the same bulk write and the same checks on its own Neo4j.

Each call is timed first (right after the data was written) and then as the median of
``REPEATS`` more calls; every figure carries the load average when measured. The rest of the
database (other benchmarks' data) stays, so the scope filter has real work to do.

Baseline: the cheapest possible walk, ``MATCH (t:Task)`` filtered on the scope properties (served
by the ``task_scope_status`` index) on the driver, with no walk through networks and no HTTP.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Optional

from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.models import Scope

from .data import rbfe_network
from .harness import Report, Stack, timed, unique_scope
from .upstream import UpstreamStack

TARGET_SECONDS = 1.0
N_TRANSFORMATIONS = 2000
REPEATS = 3
MOVED = 1000  # Tasks moved waiting -> running through the store after the bulk write
# One cycle of statuses; Task i gets STATUS_CYCLE[i % len(STATUS_CYCLE)].
STATUS_CYCLE = ("complete",) * 4 + ("waiting",) * 2 + ("running", "error", "invalid", "deleted")

_BULK_TASKS = """
MATCH (:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})-[:DEPENDS_ON {attribute: 'edges'}]->(tf)
WITH collect(tf) AS transformations
UNWIND range(0, $count - 1) AS i
WITH transformations[i % size(transformations)] AS tf, i
CALL (tf, i) {
    WITH tf, i, 'Task-' + replace(randomUUID(), '-', '') AS key
    CREATE (t:GufeTokenizable:Task {
        _gufe_key: key, _scoped_key: key + '-' + $org + '-' + $campaign + '-' + $project,
        _org: $org, _campaign: $campaign, _project: $project,
        status: $statuses[i % size($statuses)], priority: 10, datetime_created: datetime(),
        creator: 'bench', extends: null, claim: null
    })
    CREATE (t)-[:PERFORMS]->(tf)
} IN TRANSACTIONS OF 20000 ROWS
"""

_BASELINE = """
MATCH (t:Task) WHERE t._org = $org AND t._campaign = $campaign AND t._project = $project
RETURN t.status AS status, count(t) AS count
"""


def expected_counts(n_tasks: int) -> dict[str, int]:
    return dict(Counter(STATUS_CYCLE[i % len(STATUS_CYCLE)] for i in range(n_tasks)))


def create_tasks_in_bulk(driver, dbname: str, network: str, scope: Scope, n_tasks: int) -> float:
    def write() -> None:
        with driver.session(database=dbname) as session:
            session.run(
                _BULK_TASKS, network=network, count=n_tasks, statuses=list(STATUS_CYCLE), **scope.to_dict()
            ).consume()

    seconds, _ = timed(write)
    return seconds


def first_and_median(report: Report, label: str, call, expected: dict[str, int], target: bool = False) -> None:
    """Time ``call`` once, then ``REPEATS`` more times; check every answer against ``expected``."""
    first, counts = timed(call)
    if counts != expected:
        raise RuntimeError(f"{label} counted {counts}, expected {expected}")
    report.add(f"{label} (first call)", first, "s", **_target(first) if target else {})
    rest = [timed(call)[0] for _ in range(REPEATS)]
    median = statistics.median(rest)
    report.add(f"{label} (median of {REPEATS})", median, "s", repeats=rest, **_target(median) if target else {})


def _target(seconds: float) -> dict:
    return {"target": f"<= {TARGET_SECONDS:g} s", "met": seconds <= TARGET_SECONDS}


def run(stack: Stack, sizes: tuple[int, ...], preset: str, upstream: Optional[UpstreamStack] = None) -> Report:
    report = Report("status", preset)
    chain = to_keyed_chain_json(rbfe_network(N_TRANSFORMATIONS, name="status network"))
    chain_file = upstream.write_chain("status-network", chain) if upstream else None
    for n_tasks in sizes:
        scope = unique_scope("bench", "status", f"n{n_tasks}")
        network_sk, _, _ = stack.store.assemble_network(chain, scope)
        seconds = create_tasks_in_bulk(stack.driver, stack.neo4j.dbname, str(network_sk), scope, n_tasks)
        report.add(f"setup: {n_tasks} Tasks written in bulk with Cypher", seconds, "s")
        seconds, counters = timed(stack.store.rebuild_task_status_counters)
        report.add(f"rebuild status counters of every Task in the store ({n_tasks} in this Scope)", seconds, "s",
                   counters=counters)
        expected = expected_counts(n_tasks)
        waiting = stack.store.get_network_tasks(network_sk, status="waiting")[:MOVED]
        seconds, _ = timed(lambda: stack.store.set_task_running(waiting))
        report.add(f"set_task_running on {len(waiting)} Tasks, counters maintained", seconds, "s")
        expected["waiting"] -= len(waiting)
        expected["running"] += len(waiting)
        with stack.user_client() as client:
            client.get_scopes()
            first_and_median(report, f"get_scope_status {n_tasks} Tasks",
                             lambda: client.get_scope_status(scope, visualize=False), expected, target=True)
            first_and_median(report, f"get_network_status {n_tasks} Tasks",
                             lambda: client.get_network_status(network_sk, visualize=False), expected, target=True)
        first_and_median(report, f"store get_scope_status {n_tasks} Tasks",
                         lambda: stack.store.get_scope_status(scope), expected)
        walked = {r["status"]: r["count"] for r in stack.cypher(_BASELINE, **scope.to_dict())}
        first_and_median(report, f"baseline: indexed Task walk by scope {n_tasks} Tasks",
                         lambda: {r["status"]: r["count"] for r in stack.cypher(_BASELINE, **scope.to_dict())}, walked)
        if upstream is not None:
            upstream_status(report, upstream, chain_file, n_tasks)
    return report


def upstream_status(report: Report, upstream: UpstreamStack, chain_file: str, n_tasks: int) -> None:
    """The same network and bulk write on upstream's Neo4j, its store and API timed the same way."""
    scope = unique_scope("bench", "status", f"n{n_tasks}")
    network = upstream.peer("network_key", chain_file=chain_file, scope=str(scope))[0]["value"]
    seconds = create_tasks_in_bulk(upstream.driver, upstream.neo4j.dbname, network, scope, n_tasks)
    report.add(f"upstream setup: {n_tasks} Tasks written in bulk with Cypher", seconds, "s")
    entry = {"size": n_tasks, "scope": str(scope), "network": network, "repeats": REPEATS,
             "expected": expected_counts(n_tasks)}
    for figure in upstream.peer("status", status=[entry]):
        report.add(f"upstream {figure.pop('name')}", figure.pop("value"), figure.pop("unit"), **figure)
    for call in ("get_scope_status", "get_network_status", "store get_scope_status"):
        for kind in ("first call", f"median of {REPEATS}"):
            name = f"{call} {n_tasks} Tasks ({kind})"
            report.ratio(name, name, f"upstream {name}")
