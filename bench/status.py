"""Benchmark 4: status counts over 10^5 (and 10^6) Tasks through the user API.

The Tasks are written in bulk straight with Cypher (``CALL ... IN TRANSACTIONS``), spread over the
2,000 Transformations of one network in a Scope of their own, with a fixed mix of statuses so the
answers can be checked exactly. The rest of the database (other benchmarks' data) stays, so the
scope filter has real work to do.

Baseline: the cheapest possible count, ``MATCH (t:Task)`` filtered on the scope properties (served
by the ``task_scope_status`` index) on the driver, with no walk through networks and no HTTP.
"""

from __future__ import annotations

from collections import Counter

from alchemiscale.gufe_chain import to_keyed_chain_json
from alchemiscale.models import Scope

from .data import transformation_network
from .harness import Report, Stack, median_seconds, timed, unique_scope

TARGET_SECONDS = 1.0
N_TRANSFORMATIONS = 2000
REPEATS = 5
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


def create_tasks_in_bulk(stack: Stack, network: str, scope: Scope, n_tasks: int) -> float:
    def write() -> None:
        with stack.driver.session(database=stack.neo4j.dbname) as session:
            session.run(
                _BULK_TASKS, network=network, count=n_tasks, statuses=list(STATUS_CYCLE), **scope.to_dict()
            ).consume()

    seconds, _ = timed(write)
    return seconds


def run(stack: Stack, sizes: tuple[int, ...], preset: str) -> Report:
    report = Report("status", preset)
    chain = to_keyed_chain_json(transformation_network(N_TRANSFORMATIONS, name="status network"))
    for n_tasks in sizes:
        scope = unique_scope("bench", "status", f"n{n_tasks}")
        network_sk, _, _ = stack.store.assemble_network(chain, scope)
        seconds = create_tasks_in_bulk(stack, str(network_sk), scope, n_tasks)
        report.add(f"setup: {n_tasks} Tasks written in bulk with Cypher", seconds, "s")
        expected = expected_counts(n_tasks)
        with stack.user_client() as client:
            client.get_scopes()
            calls = {
                "get_scope_status": lambda: client.get_scope_status(scope, visualize=False),
                "get_network_status": lambda: client.get_network_status(network_sk, visualize=False),
            }
            for name, call in calls.items():
                first, counts = timed(call)
                if counts != expected:
                    raise RuntimeError(f"{name} counted {counts}, expected {expected}")
                _, median = median_seconds(call, REPEATS)
                report.add(f"{name} {n_tasks} Tasks (first call)", first, "s")
                report.add(
                    f"{name} {n_tasks} Tasks (median of {REPEATS - 1})",
                    median,
                    "s",
                    target=f"<= {TARGET_SECONDS:g} s",
                    met=median <= TARGET_SECONDS and first <= TARGET_SECONDS,
                )
        _, baseline = median_seconds(lambda: stack.cypher(_BASELINE, **scope.to_dict()), REPEATS)
        report.add(f"baseline: indexed Task count by scope ({n_tasks} Tasks, median)", baseline, "s")
        _, scope_median = median_seconds(lambda: stack.store.get_scope_status(scope), REPEATS)
        report.add(f"store get_scope_status without HTTP ({n_tasks} Tasks, median)", scope_median, "s")
    return report
