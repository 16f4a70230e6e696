"""Result retrieval through AlchemiscaleClient: real ProtocolDAGResults, stored as the compute API stores them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from gufe.archival import AlchemicalArchive
from gufe.protocols import ProtocolDAGResult, ProtocolResult
from gufe.tokenization import JSON_HANDLER, GufeTokenizable

from alchemiscale.serialization.compression import (
    RESULT_MEDIA_TYPE,
    deserialize_protocoldagresult,
    latin1_to_bytes,
    serialize_protocoldagresult,
    summarize_protocoldagresult,
)
from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
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


def test_network_results_with_upstream_deprecated_keyword(client, computed):
    with pytest.warns(DeprecationWarning, match="return_protocoldagresults") as warned:
        dags = client.get_network_results(computed["network"], return_protocoldagresults=True, visualize=False)
    assert warned[0].filename == __file__  # the warning names the caller's line
    assert len(dags[computed["tf"]]) == 2 and all(isinstance(p, ProtocolDAGResult) for p in dags[computed["tf"]])
    with pytest.warns(DeprecationWarning):
        gathered = client.get_network_results(computed["network"], return_protocoldagresults=False, visualize=False)
    assert isinstance(gathered[computed["tf"]], ProtocolResult)  # False leaves return_as as it is


def test_network_archive(client, computed, network, transformation, failing_transformation):
    archive = client.get_network_archive(computed["network"], metadata={"campaign": "tests"}, visualize=False)
    assert isinstance(archive, AlchemicalArchive) and archive.network == network
    entries = {tf.key: pdrs for tf, pdrs in archive.transformation_results}
    assert set(entries) == {t.key for t in network.edges}
    assert sorted(p.key for p in entries[transformation.key]) == sorted(computed["pdr_keys"][t] for t in computed["tasks"])
    assert entries[failing_transformation.key] == []  # only successful results are archived
    assert archive.metadata == {"campaign": "tests"}
    # what an archive is for: gufe's own serialization carries it
    text = json.dumps(archive.to_keyed_chain(), cls=JSON_HANDLER.encoder)
    assert GufeTokenizable.from_keyed_chain(json.loads(text, cls=JSON_HANDLER.decoder)).key == archive.key


def test_network_archives_and_their_arguments(client, computed, user_scope, forbidden_scope):
    missing = ScopedKey(gufe_key="AlchemicalNetwork-" + "0" * 32, **user_scope.to_dict())
    archive, absent = client.get_network_archives([computed["network"], missing], metadata=[None, {"a": 1}],
                                                  visualize=False)
    assert archive.metadata == {} and absent is None
    with pytest.raises(ValueError, match="duplicate"):
        client.get_network_archives([computed["network"], str(computed["network"])])
    with pytest.raises(ValueError, match="2 entries for 1 networks"):
        client.get_network_archives([computed["network"]], metadata=[None, None])
    with pytest.raises(ValueError, match="must be a list"):
        client.get_network_archives([computed["network"]], metadata={"a": 1})
    with pytest.raises(ValueError, match="must be a dict or None"):
        client.get_network_archive(computed["network"], metadata=["not a dict"])
    # metadata is checked before any request: a foreign network would answer 401 otherwise
    foreign = ScopedKey(gufe_key="AlchemicalNetwork-" + "0" * 32, **forbidden_scope.to_dict())
    with pytest.raises(ValueError, match="cannot be serialized"):
        client.get_network_archives([foreign], metadata=[{"unserializable": object()}])


def test_result_bytes_are_cached(client, computed, objectstore):
    client.get_transformation_results(computed["tf"], visualize=False)
    for task in computed["tasks"]:
        ref_sk = computed["refs"][task]
        ref = client._cache_get("result", ref_sk)
        assert ref is not None and ref.startswith(b"\x28\xb5\x2f\xfd")  # the stored zstd bytes


def test_result_bytes_travel_as_stored_or_in_upstreams_json(client, computed):
    """``Accept: application/zstd`` gets the stored bytes themselves, never gzipped; other clients
    (upstream's) get them as a latin-1 string in a JSON list."""
    token = httpx.post(f"{client.api_url}/token", data=client._credentials()).json()["access_token"]
    task = computed["tasks"][0]
    path = f"{client.api_url}/transformations/{computed['tf']}/results/{computed['refs'][task]}"
    auth = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    raw = httpx.get(path, headers={**auth, "Accept": RESULT_MEDIA_TYPE})
    legacy = httpx.get(path, headers=auth)
    assert raw.status_code == legacy.status_code == 200
    assert raw.headers["content-type"] == RESULT_MEDIA_TYPE and "content-encoding" not in raw.headers
    assert legacy.headers["content-type"] == "application/json"
    assert raw.content == latin1_to_bytes(legacy.json()[0])
    assert deserialize_protocoldagresult(raw.content).key == computed["pdr_keys"][task]


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


def test_status_and_results_show_as_html_tables_in_jupyter(client, computed, transformation, user_scope):
    counts = client.get_network_status(computed["network"], visualize=False)
    assert counts == {"complete": 2, "error": 1}  # still the dict upstream's client returns
    html = counts._repr_html_()
    assert f"Status of Tasks in network {computed['network']}" in html
    assert "<td>complete</td><td style=\"text-align: right\">2</td>" in html
    assert "<td>error</td><td style=\"text-align: right\">1</td>" in html
    assert "<td>waiting</td><td style=\"text-align: right\">0</td>" in html

    results = client.get_network_results(computed["network"], visualize=False)
    html = results._repr_html_()
    expected = results[computed["tf"]]
    assert f"<td>{transformation.name}</td>" in html
    assert f"{expected.get_estimate()} ± {expected.get_uncertainty()}" in html
    assert "no result" in html  # the failing Transformation has no successful result
    dags = client.get_network_results(computed["network"], return_as="ProtocolDAGResults", visualize=False)
    assert "2 results" in dags._repr_html_() and "0 results" in dags._repr_html_()


def test_estimates_show_with_their_units():
    from openff.units import unit

    from alchemiscale.interface.client_html import quantity_text

    assert quantity_text(-1.23456 * unit.kilocalorie_per_mole) == "-1.235 kcal/mol"
    assert quantity_text(2.5 * unit.kilojoule / unit.mole) == "2.500 kJ/mol"
    assert quantity_text(3.0) == "3.0"
