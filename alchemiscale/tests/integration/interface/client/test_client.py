"""AlchemiscaleClient against the real user API: networks, queries, objects, Tasks, actioning, statuses."""

from __future__ import annotations

import networkx as nx
import pytest
from gufe import AlchemicalNetwork, Transformation
from gufe.tokenization import GufeTokenizable

from alchemiscale.base.client import AlchemiscaleClientError
from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.models import Scope, ScopedKey
from alchemiscale.local.neo4jserver import free_port
from alchemiscale.tests.conftest import build_network
from alchemiscale.tests.protocols import SuccessProtocol


def scoped(obj, scope: Scope) -> ScopedKey:
    return ScopedKey(gufe_key=str(obj.key), **scope.to_dict())


class ToyStrategy(GufeTokenizable):
    """A stand-in Strategy: the server stores strategies as keyed chains without running them."""

    def __init__(self, max_weight: float):
        self.max_weight = max_weight

    @classmethod
    def _defaults(cls):
        return {}

    def _to_dict(self):
        return {"max_weight": self.max_weight}

    @classmethod
    def _from_dict(cls, dct):
        return cls(**dct)


@pytest.fixture(scope="module")
def network_sk(client, network, user_scope) -> ScopedKey:
    return client.create_network(network, user_scope, visualize=False)


@pytest.fixture(scope="module")
def tf_sk(transformation, user_scope) -> ScopedKey:
    return scoped(transformation, user_scope)


# -- identity, networks, queries ----------------------------------------------------------------


def test_scopes(client, module_org):
    assert client.get_scopes() == [Scope(module_org)]
    assert client.list_scopes() == client.get_scopes()


def test_create_network(client, network, network_sk, user_scope):
    assert network_sk == scoped(network, user_scope)
    assert client.check_exists(network_sk)
    assert not client.check_exists(ScopedKey(gufe_key="AlchemicalNetwork-0123abcd", **user_scope.to_dict()))
    # submitting again changes nothing
    assert client.create_network(network, user_scope, visualize=True) == network_sk


def test_create_network_refuses_bad_input(client, network, chemicalsystem, user_scope, forbidden_scope):
    with pytest.raises(ValueError, match="specific"):
        client.create_network(network, Scope(user_scope.org), visualize=False)
    protocol = SuccessProtocol(SuccessProtocol.default_settings())
    selfish = AlchemicalNetwork([Transformation(chemicalsystem, chemicalsystem, protocol, name="self")])
    with pytest.raises(ValueError, match="same ChemicalSystem"):
        client.create_network(selfish, user_scope, visualize=False)
    with pytest.raises(AlchemiscaleClientError) as error:
        client.create_network(network, forbidden_scope, visualize=False)
    assert error.value.status_code == 401


def test_get_scoped_key_is_deprecated(client, network, network_sk, user_scope):
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert client.get_scoped_key(network, user_scope) == network_sk


def test_network_state(client, network_sk):
    assert client.get_network_state(network_sk) == "active"
    assert client.set_network_state(network_sk, "inactive") == network_sk
    try:
        assert client.get_networks_state([network_sk]) == ["inactive"]
        assert network_sk not in client.query_networks()
        assert network_sk in client.query_networks(state=None)
        assert network_sk in client.query_networks(state="inact.*")
    finally:
        assert client.set_networks_state([network_sk], ["active"]) == [network_sk]
    with pytest.raises(ValueError, match="unknown network state"):
        client.set_network_state(network_sk, "sleeping")


def test_queries(client, network, network_sk, transformation, tf_sk, chemicalsystem, user_scope, other_scope):
    assert client.query_networks(name=network.name, scope=user_scope) == [network_sk]
    assert client.query_networks(scope=other_scope) == []
    assert client.query_transformations(name=transformation.name, scope=user_scope) == [tf_sk]
    assert client.query_chemicalsystems(name=chemicalsystem.name, scope=user_scope) == [scoped(chemicalsystem, user_scope)]
    assert len(client.query_transformations(scope=user_scope)) == len(network.edges)


def test_relations(client, network, network_sk, transformation, tf_sk, user_scope):
    assert set(client.get_network_transformations(network_sk)) == {scoped(t, user_scope) for t in network.edges}
    assert set(client.get_network_chemicalsystems(network_sk)) == {scoped(c, user_scope) for c in network.nodes}
    assert client.get_transformation_networks(tf_sk) == [network_sk]
    state_a, state_b = scoped(transformation.stateA, user_scope), scoped(transformation.stateB, user_scope)
    assert client.get_transformation_chemicalsystems(tf_sk) == [state_a, state_b]
    assert client.get_chemicalsystem_networks(state_a) == [network_sk]
    assert tf_sk in client.get_chemicalsystem_transformations(state_b)


def test_weights(client, network_sk):
    assert client.get_network_weight(network_sk) == 0.5
    assert client.set_network_weight(network_sk, 0.25) == network_sk
    assert client.get_networks_weight([network_sk]) == [0.25]
    assert client.set_networks_weight([network_sk], [0.75], batch_size=1) == [network_sk]
    assert client.get_network_weight(network_sk) == 0.75
    with pytest.raises(ValueError, match="between 0 and 1"):
        client.set_network_weight(network_sk, 1.5)


def test_get_gufe_objects_and_cache(client, user_api_url, user_identity, client_cache_dir, network, network_sk,
                                    transformation, tf_sk, chemicalsystem, user_scope):
    assert client.get_network(network_sk, visualize=False) == network
    assert client.get_transformation(tf_sk, visualize=False) == transformation
    assert client.get_chemicalsystem(scoped(chemicalsystem, user_scope)) == chemicalsystem
    assert client._cache_get("network", network_sk) is not None
    # a second client sharing the disk cache needs no server for objects fetched before
    unreachable = f"http://127.0.0.1:{free_port()}"
    with AlchemiscaleClient(unreachable, user_identity["identifier"], user_identity["key"],
                            cache_directory=client_cache_dir, max_retries=0) as offline:
        assert offline.get_network(network_sk, visualize=False) == network
        with pytest.raises(AlchemiscaleClientError, match="could not reach"):
            offline.get_network_weight(network_sk)


def test_strategy(client, network_sk):
    assert client.get_network_strategy(network_sk) is None
    strategy = ToyStrategy(0.8)
    strategy_sk = client.set_network_strategy(network_sk, strategy, max_tasks_per_transformation=5)
    assert strategy_sk is not None and strategy_sk.gufe_key == str(strategy.key)
    assert client.get_network_strategy(network_sk) == strategy
    state = client.get_network_strategy_state(network_sk)
    assert state["max_tasks_per_transformation"] == 5 and state["mode"] == "partial"
    assert client.get_network_strategy_status(network_sk) == "awake"
    assert client.set_network_strategy_awake(network_sk) == network_sk
    assert client.set_network_strategy(network_sk, None) is None
    assert client.get_network_strategy(network_sk) is None


# -- Tasks --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tasks(client, network_sk, tf_sk) -> list[ScopedKey]:
    return client.create_tasks(tf_sk, count=2)


def test_create_and_list_tasks(client, network_sk, tf_sk, tasks, user_scope):
    assert len(tasks) == 2 and all(t.qualname == "Task" for t in tasks)
    extension = client.create_tasks(tf_sk, extends=tasks[0])[0]
    bulk = client.create_transformations_tasks([tf_sk, tf_sk], extends=[extension, None])
    assert len(bulk) == 2
    everything = set(tasks) | {extension} | set(bulk)
    assert set(client.get_transformation_tasks(tf_sk)) == everything
    assert set(client.get_transformation_tasks(tf_sk, extends=tasks[0])) == {extension, bulk[0]}
    graph = client.get_transformation_tasks(tf_sk, return_as="graph")
    assert isinstance(graph, nx.DiGraph) and set(graph.nodes) == everything
    assert set(graph.edges) == {(extension, tasks[0]), (bulk[0], extension)}
    assert everything <= set(client.query_tasks(scope=user_scope, status="waiting"))
    assert everything <= set(client.get_network_tasks(network_sk))
    assert client.get_network_tasks(network_sk, status="complete") == []
    assert client.get_task_networks(tasks[0]) == [network_sk]
    assert client.get_task_transformation(tasks[0]) == tf_sk
    with pytest.raises(ValueError, match="return_as"):
        client.get_transformation_tasks(tf_sk, return_as="tree")


def test_actioning(client, network_sk, tasks):
    assert client.action_tasks(tasks, network_sk) == tasks
    assert set(client.get_network_actioned_tasks(network_sk)) == set(tasks)
    assert client.get_network_actioned_tasks(network_sk, task_weights=True) == {t: 0.5 for t in tasks}
    # already actioned: nothing new is actioned (None), but an explicit weight still applies
    assert client.action_tasks(tasks, network_sk, weight=[0.2, 0.9]) == [None, None]
    assert client.get_networks_actioned_tasks([network_sk], task_weights=True) == [{tasks[0]: 0.2, tasks[1]: 0.9}]
    assert client.get_task_actioned_networks(tasks[1], task_weights=True) == {network_sk: 0.9}
    assert client.get_task_actioned_networks(tasks[1]) == [network_sk]
    assert client.cancel_tasks([tasks[1]], network_sk) == [tasks[1]]
    assert client.get_network_actioned_tasks(network_sk) == [tasks[0]]
    with pytest.raises(ValueError, match="one per Task"):
        client.action_tasks(tasks, network_sk, weight=[0.1])


def test_status_and_priority(client, network, user_scope, tf_sk):
    client.create_network(network, user_scope, visualize=False)  # again: a fresh-store test may have run since
    fresh = client.create_tasks(tf_sk, count=3)
    assert client.get_tasks_status(fresh, batch_size=2) == ["waiting"] * 3
    assert client.set_tasks_priority(fresh, 3, batch_size=2) == fresh
    assert client.get_tasks_priority(fresh) == [3, 3, 3]
    assert client.set_tasks_status(fresh[:1], "invalid") == fresh[:1]
    assert client.get_tasks_status(fresh) == ["invalid", "waiting", "waiting"]
    assert client.set_tasks_status(fresh[:1], "waiting") == [None]  # invalid is final
    with pytest.raises(AlchemiscaleClientError) as error:
        client.set_tasks_status(fresh[1:], "complete")
    assert error.value.status_code == 400
    with pytest.raises(ValueError, match="priority"):
        client.set_tasks_priority(fresh, 0)


def test_status_views(client, network, network_sk, tf_sk, user_scope, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich sizes the console from COLUMNS when output is captured
    client.create_network(network, user_scope, visualize=False)  # again: a fresh-store test may have run since
    client.create_tasks(tf_sk, count=2)  # waiting ones, whichever tests ran before in this process
    network_counts = client.get_network_status(network_sk, visualize=True)
    assert network_counts["waiting"] >= 2
    printed = capsys.readouterr().out
    assert str(network_sk) in printed and "waiting" in printed and "complete" in printed
    assert client.get_transformation_status(tf_sk, visualize=False) == network_counts  # only tf_sk has Tasks
    scope_counts = client.get_scope_status(user_scope, visualize=True)
    assert scope_counts == network_counts
    assert str(user_scope) in capsys.readouterr().out
    unknown = ScopedKey(gufe_key="AlchemicalNetwork-feedbeef", **user_scope.to_dict())
    assert client.get_networks_status([network_sk, unknown]) == [network_counts, {}]


def test_restart_patterns(client, network_sk):
    client.add_task_restart_patterns(network_sk, ["RuntimeError: .*", "Timeout"], 3)
    assert client.get_task_restart_patterns(network_sk) == {"RuntimeError: .*": 3, "Timeout": 3}
    client.set_task_restart_patterns_allowed_restarts(network_sk, ["Timeout"], 5)
    assert client.get_task_restart_patterns(network_sk) == {"RuntimeError: .*": 3, "Timeout": 5}
    client.remove_task_restart_patterns(network_sk, ["Timeout"])
    assert client.get_task_restart_patterns(network_sk) == {"RuntimeError: .*": 3}
    client.clear_task_restart_patterns(network_sk)
    assert client.get_task_restart_patterns(network_sk) == {}


def test_restart_patterns_with_upstream_keyword(client, network_sk):
    """Upstream's client names the network ``network_scoped_key``; code written for it works unchanged."""
    added = client.add_task_restart_patterns(network_scoped_key=network_sk, patterns=["Timeout"], num_allowed_restarts=2)
    assert added == network_sk
    client.set_task_restart_patterns_allowed_restarts(network_scoped_key=network_sk, patterns=["Timeout"],
                                                      num_allowed_restarts=4)
    assert client.get_task_restart_patterns(network_scoped_key=network_sk) == {"Timeout": 4}
    client.remove_task_restart_patterns(network_scoped_key=network_sk, patterns=["Timeout"])
    client.add_task_restart_patterns(network_sk, ["Timeout"], 1)
    assert client.clear_task_restart_patterns(network_scoped_key=network_sk) == network_sk
    assert client.get_task_restart_patterns(network=network_sk) == {}
    with pytest.raises(TypeError, match="both 'network' and 'network_scoped_key'"):
        client.clear_task_restart_patterns(network=network_sk, network_scoped_key=network_sk)


def test_history_and_tracebacks_of_unrun_task(client, tasks):
    assert client.get_task_history(tasks[0]) == []
    assert client.get_tasks_tracebacks(tasks) == [[], []]


def test_delete_network(client, ligands, solvent, network_sk, tf_sk, user_scope):
    doomed = build_network(ligands, solvent, name="network to delete")
    doomed_sk = client.create_network(doomed, user_scope, visualize=False)
    assert client.check_exists(doomed_sk)
    summary = client.delete_network(doomed_sk)
    assert summary["network"] == str(doomed_sk) and summary["objects"] >= 1
    assert not client.check_exists(doomed_sk)
    # what the deleted network shared with the remaining one stays
    assert client.check_exists(tf_sk)
    assert client.get_transformation_networks(tf_sk) == [network_sk]


def test_errors_carry_status_and_detail(client, user_scope, forbidden_scope):
    unknown = ScopedKey(gufe_key="AlchemicalNetwork-0badc0de", **user_scope.to_dict())
    with pytest.raises(AlchemiscaleClientError) as error:
        client.get_network(unknown, visualize=False)
    assert error.value.status_code == 404
    assert str(unknown) in str(error.value.detail) and str(error.value.detail) in str(error.value)
    foreign = ScopedKey(gufe_key="AlchemicalNetwork-0badc0de", **forbidden_scope.to_dict())
    with pytest.raises(AlchemiscaleClientError) as error:
        client.get_network_weight(foreign)
    assert error.value.status_code == 401
