"""Task status counters: always what a full recount of the Tasks gives, and rebuilt for older stores."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from alchemiscale.storage.statestore import Neo4jStoreError

from .compute_helpers import claim_all, fail_task, register

RECOUNT = """
MATCH (t:Task)-[:PERFORMS]->(tf) WHERE tf._scoped_key IN $tfs
RETURN tf._scoped_key AS tf, t.status AS status, count(t) AS n
"""

COUNTERS = """
MATCH (c:TaskStatusCounter) WHERE c.transformation IN $tfs
WITH c.transformation AS tf, c.status AS status, sum(c.n) AS n WHERE n <> 0
RETURN tf, status, n
"""

# get_scope_status as it was before counters: a walk over every Task
WALKED_SCOPE_STATUS = """
MATCH (m:NetworkMark)-[:MARKS]->(an:AlchemicalNetwork)
WHERE an._org = $org AND an._campaign = $campaign AND an._project = $project AND m.state = 'active'
MATCH (an)-[:DEPENDS_ON {attribute: 'edges'}]->(tf)
WITH DISTINCT tf
MATCH (tf)<-[:PERFORMS]-(t:Task)
RETURN t.status AS status, count(t) AS n
"""


def by_transformation(store, query: str, tfs) -> dict[tuple[str, str], int]:
    return {(r["tf"], r["status"]): r["n"] for r in store.execute_query(query, {"tfs": [str(t) for t in tfs]})}


def assert_counters_match(store, tfs) -> None:
    assert by_transformation(store, COUNTERS, tfs) == by_transformation(store, RECOUNT, tfs)


def test_counters_match_a_recount_after_mixed_changes(n4js, make_synthetic_chain, unique_scope):
    big, hub, _ = n4js.assemble_network(make_synthetic_chain(6, name="counters"), unique_scope)
    small, _, _ = n4js.assemble_network(make_synthetic_chain(2, name="counters"), unique_scope)  # shares 2
    tfs = n4js.get_network_transformations(big)
    tasks = n4js.create_tasks(tfs * 5)
    extension = n4js.create_tasks([tfs[0]], extends=[tasks[0]])
    n4js.action_tasks(tasks + extension, hub)
    service = register(n4js)

    def claim_one(_):
        return claim_all(n4js, hub, service, count=1)

    with ThreadPoolExecutor(4) as pool:  # concurrent claimers update the same counters
        claimed = [t for won in pool.map(claim_one, range(12)) for t in won]
    assert len(claimed) == len(set(claimed)) == 12
    assert_counters_match(n4js, tfs)

    n4js.set_task_complete(claimed[:3])
    fail_task(n4js, claimed[3], service, "boom")
    n4js.set_task_waiting([claimed[3]])
    fail_task(n4js, claimed[4], service, "boom")
    n4js.set_task_invalid([tasks[0]])  # cascades to the extension
    n4js.set_task_deleted(tasks[-2:])
    n4js.set_task_waiting(tasks[:1] + claimed[:3])  # refused: invalid and complete stay
    n4js.deregister_computeservice(service)  # its running Tasks go back to waiting
    assert_counters_match(n4js, tfs)

    walked = {r["status"]: r["n"] for r in n4js.execute_query(WALKED_SCOPE_STATUS, unique_scope.to_dict())}
    assert n4js.get_scope_status(unique_scope) == walked
    assert n4js.get_network_status([big]) == [walked]
    assert sum(walked.values()) == len(tasks) + 1 and walked["invalid"] == 2

    n4js.delete_network(small)  # its Transformations are still in ``big``: counts stay
    assert n4js.get_network_status([big]) == [walked]
    n4js.delete_network(big)
    assert by_transformation(n4js, COUNTERS, tfs) == {}
    assert n4js.execute_query(
        "MATCH (c:TaskStatusCounter) WHERE c.transformation IN $tfs RETURN count(c)", {"tfs": [str(t) for t in tfs]}
    )[0][0] == 0


def test_store_from_before_counters_is_recounted_by_initialize(n4js_fresh, make_synthetic_chain, unique_scope):
    network, _, _ = n4js_fresh.assemble_network(make_synthetic_chain(3, name="older"), unique_scope)
    tfs = n4js_fresh.get_network_transformations(network)
    tasks = n4js_fresh.create_tasks(tfs * 4)
    n4js_fresh.set_task_running(tasks[:5])
    n4js_fresh.set_task_complete(tasks[:2])
    expected = n4js_fresh.get_network_status([network])
    # what a store written before counters looks like: Tasks, no counters, no marker
    n4js_fresh.execute_query("MATCH (c:TaskStatusCounter) DELETE c")
    n4js_fresh.execute_query("MATCH (m:TaskStatusCounting) DELETE m")
    with pytest.raises(Neo4jStoreError, match="Task status counters"):
        n4js_fresh.check()

    n4js_fresh.initialize()
    n4js_fresh.check()
    assert_counters_match(n4js_fresh, tfs)
    assert n4js_fresh.get_network_status([network]) == expected == [{"waiting": 7, "running": 3, "complete": 2}]
    n4js_fresh.set_task_running(tasks[5:6])  # maintained from here on
    assert n4js_fresh.get_network_status([network]) == [{"waiting": 6, "running": 4, "complete": 2}]
