"""Result retrieval through AlchemiscaleClient: real ProtocolDAGResults, stored as the compute API stores them."""

from __future__ import annotations

from pathlib import Path

import pytest
from gufe.protocols import ProtocolDAGResult, ProtocolResult

from alchemiscale.compression import serialize_protocoldagresult, summarize_protocoldagresult
from alchemiscale.gufe_chain import to_keyed_chain_json
from alchemiscale.interface.client import ResultFormat
from alchemiscale.models import ComputeServiceID, ScopedKey
from alchemiscale.storage.models import ComputeServiceRegistration, Tracebacks, utcnow
from alchemiscale.tests.protocols import FAILURE_MESSAGE, execute_locally


def scoped(obj, scope) -> ScopedKey:
    return ScopedKey(gufe_key=str(obj.key), **scope.to_dict())


def store_result(n4js, objectstore, task: ScopedKey, transformation: ScopedKey, pdr: ProtocolDAGResult, service):
    """What the compute API does with an upload: object store first, then the state store records it."""
    data = serialize_protocoldagresult(pdr)
    summary = summarize_protocoldagresult(to_keyed_chain_json(pdr))
    ref = objectstore.push_protocoldagresult(data, summary["ok"], str(pdr.key), transformation, creator=str(service))
    tracebacks = None
    if not summary["ok"]:
        tracebacks = Tracebacks(
            tracebacks=[f["traceback"] or "" for f in summary["failures"]],
            source_keys=[f["source_key"] for f in summary["failures"]],
            failure_keys=[f["failure_key"] for f in summary["failures"]],
            result_ref=str(ref.scoped_key(ref.scope)),
        )
    n4js.record_task_result(task, ref, service, tracebacks=tracebacks)
    return ref.scoped_key(ref.scope)


@pytest.fixture(scope="module")
def computed(client, n4js, objectstore, network, transformation, failing_transformation, user_scope,
             tmp_path_factory):
    """Two successful Tasks on ``transformation`` and one failed Task on ``failing_transformation``."""
    network_sk = client.create_network(network, user_scope, visualize=False)
    tf_sk, failing_sk = scoped(transformation, user_scope), scoped(failing_transformation, user_scope)
    tasks = client.create_tasks(tf_sk, count=2)
    failing_tasks = client.create_tasks(failing_sk)
    client.action_tasks(tasks + failing_tasks, network_sk)

    now = utcnow()
    service = n4js.register_computeservice(
        ComputeServiceRegistration(identifier=ComputeServiceID.new_from_name("clienttests"), registered=now,
                                   heartbeat=now)
    )
    claimed = [t for t in n4js.claim_taskhub_tasks(n4js.get_taskhub(network_sk), service, count=10) if t is not None]
    assert set(claimed) == set(tasks + failing_tasks)

    refs, pdr_keys = {}, {}
    for task in claimed:
        tf, obj = (tf_sk, transformation) if task in tasks else (failing_sk, failing_transformation)
        pdr = execute_locally(obj.create(), Path(tmp_path_factory.mktemp("dag")))
        refs[task] = store_result(n4js, objectstore, task, tf, pdr, service)
        pdr_keys[task] = pdr.key
    return {"network": network_sk, "tf": tf_sk, "failing": failing_sk, "tasks": tasks,
            "failing_tasks": failing_tasks, "refs": refs, "pdr_keys": pdr_keys}


def test_transformation_results(client, computed, transformation):
    result = client.get_transformation_results(computed["tf"], visualize=False)
    assert isinstance(result, ProtocolResult)
    expected = transformation.gather(client.get_transformation_results(computed["tf"], return_as="ProtocolDAGResults"))
    assert len(result.data["estimates"]) == 2 and result.get_estimate() == expected.get_estimate()

    per_dag = client.get_transformation_results(computed["tf"], return_as=ResultFormat.PROTOCOL_RESULTS)
    assert len(per_dag) == 2 and all(len(r.data["estimates"]) == 1 for r in per_dag)

    with pytest.warns(DeprecationWarning, match="return_protocoldagresults"):
        pdrs = client.get_transformation_results(computed["tf"], return_protocoldagresults=True, visualize=False)
    assert len(pdrs) == 2 and all(isinstance(p, ProtocolDAGResult) and p.ok() for p in pdrs)
    assert client.get_transformation_results(computed["failing"], visualize=False) is None
    with pytest.raises(ValueError, match="return_as must be one of"):
        client.get_transformation_results(computed["tf"], return_as="numbers")


def test_failures(client, computed):
    failures = client.get_transformation_failures(computed["failing"], visualize=False)
    assert len(failures) == 1
    assert any(FAILURE_MESSAGE in str(f.exception) for f in failures[0].protocol_unit_failures)
    assert client.get_transformation_failures(computed["tf"], visualize=False) == []


def test_task_results_and_failures(client, computed):
    task, failing_task = computed["tasks"][0], computed["failing_tasks"][0]
    results = client.get_task_results(task, visualize=False)
    assert [r.key for r in results] == [computed["pdr_keys"][task]]
    assert client.get_task_failures(task, visualize=False) == []
    assert len(client.get_task_failures(failing_task, visualize=False)) == 1
    assert client.get_task_results(failing_task, visualize=False) == []


def test_network_results(client, computed, network, user_scope):
    results = client.get_network_results(computed["network"], visualize=True)
    assert set(results) == {scoped(t, user_scope) for t in network.edges}
    assert len(results[computed["tf"]].data["estimates"]) == 2
    assert sum(r is not None for r in results.values()) == 1

    dags = client.get_network_results(computed["network"], return_as="ProtocolDAGResults", visualize=False)
    assert len(dags[computed["tf"]]) == 2 and dags[computed["failing"]] == []

    failures = client.get_network_failures(computed["network"], visualize=False)
    assert len(failures[computed["failing"]]) == 1 and failures[computed["tf"]] == []


def test_result_bytes_are_cached(client, computed, objectstore):
    client.get_transformation_results(computed["tf"], visualize=False)
    for task in computed["tasks"]:
        ref_sk = computed["refs"][task]
        ref = client._cache_get("result", ref_sk)
        assert ref is not None and ref.startswith(b"\x28\xb5\x2f\xfd")  # the stored zstd bytes


def test_status_history_and_tracebacks(client, computed):
    assert client.get_transformation_status(computed["tf"], visualize=False) == {"complete": 2}
    assert client.get_transformation_status(computed["failing"], visualize=False) == {"error": 1}

    task = computed["tasks"][0]
    (attempt,) = client.get_task_history(task)
    assert attempt["outcome"] == "complete" and attempt["result_ref"] == computed["refs"][task]
    assert attempt["claimed"] <= attempt["ended"]

    failing_task = computed["failing_tasks"][0]
    (per_task,) = client.get_tasks_tracebacks([failing_task])
    (failure,) = per_task
    assert failure["result_ref"] == computed["refs"][failing_task]
    assert failure["tracebacks"] and all(FAILURE_MESSAGE in tb for tb in failure["tracebacks"])
