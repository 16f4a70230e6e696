"""Mixed peers: upstream 0.8.0's client with our compute service, and our client with upstream's service.

- Network M: upstream's AlchemiscaleClient builds it from gufe 1.x objects, submits it and actions a
  Task per Transformation; our client submits the very same network (rebuilt by gufe from the
  keyed chain upstream's side made) and must land on the same nodes; our SynchronousComputeService
  executes M's Tasks.
- Network N: built here by the same recipe, in this process's gufe 1.x; our client submits it and
  actions its Tasks; upstream's client resubmits it and must land on the same nodes; upstream's
  SynchronousComputeService executes N's Tasks.

Then both clients read both networks' results and failures, and must find the same ProtocolDAGResults.
Each network has the layout of ``devtools/upstream_peer/peer_common.peer_network``: roles ``ok1``
and ``ok2`` (gufe's DummyProtocol), ``broken`` (BrokenProtocol) and ``non`` (a NonTransformation,
never executed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from gufe.tokenization import JSON_HANDLER, GufeTokenizable, KeyedChain

from alchemiscale.compute.service import SynchronousComputeService
from alchemiscale.compute.settings import ComputeServiceSettings
from alchemiscale.models import Scope, ScopedKey
from alchemiscale.tests.integration.compute.service.conftest import FAST
from alchemiscale.tests.integration.upstream.checks import BROKEN_FAILURE, DUMMY_ESTIMATE, dummy_result, gufe_key
from alchemiscale.tests.integration.upstream.conftest import (
    peer_common,
    peer_config,
    run_peer,
    upstream_service_settings,
)

pytestmark = pytest.mark.xdist_group("upstream_peer")

ROLES = ("ok1", "ok2", "broken", "non")
EXPECTED_COUNTS = {"ok1": (1, 0), "ok2": (1, 0), "broken": (0, 1), "non": (0, 0)}  # (results, failures)
EXECUTED = ("ok1", "ok2", "broken")
STATUS_AFTER = {"complete": 2, "error": 1}


@dataclass(frozen=True)
class MixedRun:
    upstream_sk: str  # network M, submitted by upstream's client
    ours_sk: str  # network M, submitted by our client
    m_transformations: dict[str, str]  # by role
    m_tasks: dict[str, str]
    n_sk: str  # network N, submitted by our client
    n_transformations: dict[str, str]
    n_tasks: dict[str, str]
    our_service_tasks: int
    upstream: dict  # the reading peer's output (and upstream's resubmission of N)
    upstream_service: dict


def our_service_config(peer_servers, peer_identities, workdir, scope: Scope, max_tasks: int) -> dict:
    identifier, key = peer_identities.compute
    base = workdir / "our-service"
    return {
        **FAST,
        "api_url": peer_servers.compute_url,
        "identifier": identifier,
        "key": key,
        "name": "ourmixedservice",
        "shared_basedir": str(base / "shared"),
        "scratch_basedir": str(base / "scratch"),
        "logfile": str(base / "service.log"),
        "scopes": [str(scope)],
        "max_tasks": max_tasks,
        "max_time": 120,  # a bound should claiming go wrong
    }


@pytest.fixture(scope="module")
def mixed(upstream_python, peer_servers, peer_identities, peer_workdir, our_client) -> MixedRun:
    org = peer_identities.org
    m_scope, n_scope = Scope(org, "campaign", "upstream"), Scope(org, "campaign", "ours")
    config = peer_config(peer_servers, peer_identities, peer_workdir)

    submitted = run_peer(
        upstream_python,
        "network_peer.py",
        {**config, "phase": "submit", "scope": str(m_scope), "name": "upstream mixed network"},
        peer_workdir,
    )
    for record in submitted["records"].values():
        assert record["ok"], record
    m_network = GufeTokenizable.from_keyed_chain(json.loads(submitted["keyed_chain"], cls=JSON_HANDLER.decoder))
    ours_sk = our_client.create_network(m_network, m_scope, visualize=False)

    n_network, _, n_edges = peer_common().peer_network("our mixed network")  # built here, by our gufe
    n_sk = our_client.create_network(n_network, n_scope, visualize=False)
    n_transformations = {role: ScopedKey(gufe_key=str(tf.key), **n_scope.to_dict()) for role, tf in n_edges.items()}
    n_tasks = our_client.create_transformations_tasks([n_transformations[role] for role in EXECUTED])
    assert our_client.action_tasks(n_tasks, n_sk) == n_tasks

    settings = our_service_config(peer_servers, peer_identities, peer_workdir, m_scope, len(EXECUTED))
    service = SynchronousComputeService(ComputeServiceSettings(**settings))
    service.start()  # returns after max_tasks Tasks

    upstream_service = run_peer(
        upstream_python,
        "compute.py",
        {**config, "service": upstream_service_settings(peer_workdir, "upstreammixedservice", n_scope, len(EXECUTED))},
        peer_workdir,
    )
    n_chain = json.dumps(KeyedChain.gufe_to_keyed_chain_rep(n_network), cls=JSON_HANDLER.encoder)
    resubmit = {"scope": str(n_scope), "keyed_chain": n_chain}
    upstream = run_peer(
        upstream_python,
        "network_peer.py",
        {**config, "phase": "read", "networks": {"M": submitted["network"], "N": str(n_sk)}, "resubmit": resubmit},
        peer_workdir,
    )
    return MixedRun(
        upstream_sk=submitted["network"],
        ours_sk=str(ours_sk),
        m_transformations=submitted["transformations"],
        m_tasks=submitted["tasks"],
        n_sk=str(n_sk),
        n_transformations={role: str(sk) for role, sk in n_transformations.items()},
        n_tasks=dict(zip(EXECUTED, map(str, n_tasks))),
        our_service_tasks=service.tasks_executed,
        upstream=upstream,
        upstream_service=upstream_service["service"],
    )


def upstream_record(run: MixedRun, label: str):
    record = run.upstream["records"][label]
    assert record["ok"], f"{label}: {record['error']}"
    return record["value"]


def test_same_network_from_both_clients_is_the_same_nodes(mixed, our_client):
    """gufe 1.12's keys, whichever client sends them: one network, one set of Transformations and systems."""
    assert mixed.ours_sk == mixed.upstream_sk
    assert upstream_record(mixed, "create_network@resubmit") == mixed.n_sk
    networks = {mixed.upstream_sk: mixed.m_transformations, mixed.n_sk: mixed.n_transformations}
    for network, transformations in networks.items():
        network_sk = ScopedKey.from_str(network)
        assert our_client.query_networks(scope=network_sk.scope) == [network_sk]
        assert sorted(map(str, our_client.get_network_transformations(network_sk))) == sorted(transformations.values())
        assert len(our_client.get_network_chemicalsystems(network_sk)) == 3


def test_our_service_executes_upstreams_network(mixed, our_client):
    assert mixed.our_service_tasks == len(EXECUTED)
    tasks = [ScopedKey.from_str(mixed.m_tasks[role]) for role in EXECUTED]
    assert our_client.get_tasks_status(tasks) == ["complete", "complete", "error"]


def test_upstream_service_executes_our_network(mixed, our_client):
    service = mixed.upstream_service
    assert service["error"] is None, f"{service['error']}\n{service['log']}"
    assert service["tasks_executed"] == len(EXECUTED), service["log"]
    tasks = [ScopedKey.from_str(mixed.n_tasks[role]) for role in EXECUTED]
    assert our_client.get_tasks_status(tasks) == ["complete", "complete", "error"]


@pytest.mark.parametrize("network", ["M", "N"])
def test_upstream_client_reads_results(mixed, network):
    """Upstream's client reads what either service uploaded: estimates, successes, BrokenProtocol's failure."""
    transformations = mixed.m_transformations if network == "M" else mixed.n_transformations
    assert upstream_record(mixed, f"get_network_status@{network}") == STATUS_AFTER
    assert upstream_record(mixed, f"get_network_results@{network}") == {
        transformations["ok1"]: dummy_result(1),
        transformations["ok2"]: dummy_result(1),
        transformations["broken"]: None,
        transformations["non"]: None,
    }
    results = upstream_record(mixed, f"get_transformation_results@{network}")
    failures = upstream_record(mixed, f"get_transformation_failures@{network}")
    for role in ROLES:
        tf = transformations[role]
        expected_results, expected_failures = EXPECTED_COUNTS[role]
        assert (len(results[tf]), len(failures[tf])) == (expected_results, expected_failures), role
        for pdr in results[tf]:
            assert pdr["ok"] and pdr["transformation_key"] == gufe_key(tf), pdr
    [failure] = failures[transformations["broken"]]
    assert not failure["ok"] and failure["failures"] == [BROKEN_FAILURE], failure


@pytest.mark.parametrize("network", ["M", "N"])
def test_our_client_reads_the_same_results(mixed, our_client, network):
    network_sk = ScopedKey.from_str(mixed.upstream_sk if network == "M" else mixed.n_sk)
    transformations = mixed.m_transformations if network == "M" else mixed.n_transformations
    upstream_results = upstream_record(mixed, f"get_transformation_results@{network}")
    upstream_failures = upstream_record(mixed, f"get_transformation_failures@{network}")
    for role in ROLES:
        tf = ScopedKey.from_str(transformations[role])
        ours = our_client.get_transformation_results(tf, return_as="ProtocolDAGResults", visualize=False)
        assert sorted(str(p.key) for p in ours) == sorted(p["key"] for p in upstream_results[str(tf)]), role
        failed = our_client.get_transformation_failures(tf, visualize=False)
        assert sorted(str(p.key) for p in failed) == sorted(p["key"] for p in upstream_failures[str(tf)]), role
    results = our_client.get_network_results(network_sk, visualize=False)
    estimates = {str(tf): None if r is None else float(r.get_estimate()) for tf, r in results.items()}
    assert estimates == {
        transformations["ok1"]: DUMMY_ESTIMATE,
        transformations["ok2"]: DUMMY_ESTIMATE,
        transformations["broken"]: None,
        transformations["non"]: None,
    }
    assert our_client.get_network_status(network_sk, visualize=False) == STATUS_AFTER
