"""Networks in the state store: ingestion, dedup, conflicts, retrieval, queries, relations, state, deletion."""

from __future__ import annotations

import copy
import time

import pytest
from gufe import AlchemicalNetwork, NonTransformation, Transformation

from alchemiscale.serialization.gufe_chain import from_keyed_chain_json, to_keyed_chain_json
from alchemiscale.serialization.keyedchain import KeyedChainError, canonical_json
from alchemiscale.models import Scope, ScopedKey
from alchemiscale.storage.models import NetworkMark, TaskHub
from alchemiscale.storage.statestore import ConflictError, InvalidInputError


def count_in_scope(store, scope: Scope) -> int:
    return store.execute_query(
        "MATCH (n) WHERE n._org = $o AND n._campaign = $c AND n._project = $p RETURN count(n) AS n",
        {"o": scope.org, "c": scope.campaign, "p": scope.project},
    )[0]["n"]


def canonical(chain: list) -> dict[str, str]:
    return {key: canonical_json(keyed_dict) for key, keyed_dict in chain}


def smaller_network(network: AlchemicalNetwork) -> tuple[AlchemicalNetwork, Transformation]:
    """A network sharing three Transformations with ``network`` and adding one of its own."""
    shared = sorted((t for t in network.edges if type(t) is Transformation), key=lambda t: str(t.key))[:3]
    extra = Transformation(shared[0].stateA, shared[0].stateB, shared[0].protocol, name="only in the smaller one")
    return AlchemicalNetwork(edges=shared + [extra], name="smaller"), extra


@pytest.fixture
def assembled(n4js, network_chain, unique_scope):
    network_sk, taskhub_sk, mark_sk = n4js.assemble_network(network_chain, unique_scope)
    return network_sk, taskhub_sk, mark_sk


class TestAssemble:
    def test_returns_network_taskhub_and_mark_keys(self, assembled, network, unique_scope):
        network_sk, taskhub_sk, mark_sk = assembled
        assert network_sk == ScopedKey(gufe_key=str(network.key), **unique_scope.to_dict())
        assert taskhub_sk == TaskHub(network=str(network_sk)).scoped_key(unique_scope)
        assert mark_sk == NetworkMark(target=str(network_sk)).scoped_key(unique_scope)

    def test_every_object_becomes_one_node(self, n4js, assembled, network_chain, unique_scope):
        # the chain's objects plus TaskHub and NetworkMark
        assert count_in_scope(n4js, unique_scope) == len(network_chain) + 2

    def test_resubmission_is_idempotent(self, n4js, assembled, network_chain, unique_scope):
        before = count_in_scope(n4js, unique_scope)
        assert n4js.assemble_network(network_chain, unique_scope) == assembled
        assert count_in_scope(n4js, unique_scope) == before

    def test_round_trip_equals_submission(self, n4js, assembled, network_chain, network):
        chain = n4js.get_keyed_chain(assembled[0])
        assert canonical(chain) == canonical(network_chain)
        assert chain[-1][0] == str(network.key)
        assert from_keyed_chain_json(chain) == network

    def test_queryable_properties(self, n4js, assembled, network):
        records = n4js.execute_query(
            "MATCH (n:GufeTokenizable {_scoped_key: $sk}) RETURN n.name AS name, labels(n) AS labels, "
            "n._module AS module",
            {"sk": str(assembled[0])},
        )
        assert records[0]["name"] == network.name
        assert set(records[0]["labels"]) == {"GufeTokenizable", "AlchemicalNetwork"}
        assert records[0]["module"] == "gufe.network"

    def test_root_must_be_a_network(self, n4js, transformation, unique_scope):
        with pytest.raises(ValueError, match="must be an AlchemicalNetwork"):
            n4js.assemble_network(to_keyed_chain_json(transformation), unique_scope)

    def test_self_transformation_rejected_and_nothing_written(self, n4js, chemicalsystem, network, unique_scope):
        protocol = next(iter(network.edges)).protocol
        loop = Transformation(chemicalsystem, chemicalsystem, protocol, name="loop")
        bad = AlchemicalNetwork(edges=[loop], name="bad")
        with pytest.raises(ValueError, match=str(loop.key)):
            n4js.assemble_network(to_keyed_chain_json(bad), unique_scope)
        assert count_in_scope(n4js, unique_scope) == 0

    @pytest.mark.parametrize(
        "chain",
        [[], "not a chain", [["AlchemicalNetwork-abc", {"__qualname__": "AlchemicalNetwork"}]], [["bad key", {}]]],
    )
    def test_malformed_chain(self, n4js, chain, unique_scope):
        with pytest.raises(KeyedChainError):
            n4js.assemble_network(chain, unique_scope)

    def test_wildcard_scope_rejected(self, n4js, network_chain):
        with pytest.raises(ValueError, match="wildcard"):
            n4js.assemble_network(network_chain, Scope("org", "campaign"))

    def test_invalid_state_rejected(self, n4js, network_chain, unique_scope):
        with pytest.raises(ValueError, match="invalid network state 'sleeping'"):
            n4js.assemble_network(network_chain, unique_scope, state="sleeping")

    def test_changed_content_conflicts_and_writes_nothing(self, n4js, assembled, network_chain, unique_scope):
        before = count_in_scope(n4js, unique_scope)
        changed = copy.deepcopy(network_chain)
        key, keyed_dict = next(item for item in changed if item[0].startswith("ChemicalSystem-"))
        keyed_dict["name"] = "something else"
        changed[-1][1]["name"] = "another network"  # a new root, so only the ChemicalSystem collides
        changed[-1][0] = "AlchemicalNetwork-0123456789abcdef"
        with pytest.raises(ConflictError, match=key):
            n4js.assemble_network(changed, unique_scope)
        assert count_in_scope(n4js, unique_scope) == before
        assert n4js.query_networks(scope=unique_scope) == [assembled[0]]

    def test_shared_objects_deduplicated_within_scope(self, n4js, network, unique_scope):
        smaller, _ = smaller_network(network)
        n4js.assemble_network(to_keyed_chain_json(network), unique_scope)
        n4js.assemble_network(to_keyed_chain_json(smaller), unique_scope)
        shared = {str(t.key) for t in smaller.edges} & {str(t.key) for t in network.edges}
        assert shared
        records = n4js.execute_query(
            "MATCH (t:Transformation) WHERE t._project = $p AND t._gufe_key IN $keys "
            "RETURN t._gufe_key AS key, count{ (t)<-[:DEPENDS_ON]-(:AlchemicalNetwork) } AS networks",
            {"p": unique_scope.project, "keys": sorted(shared)},
        )
        assert len(records) == len(shared)
        assert all(r["networks"] == 2 for r in records)

    def test_scopes_hold_separate_copies(self, n4js, network_chain, unique_scope):
        other = Scope(unique_scope.org, unique_scope.campaign, unique_scope.project + "b")
        sk_a = n4js.assemble_network(network_chain, unique_scope)[0]
        sk_b = n4js.assemble_network(network_chain, other)[0]
        assert sk_a != sk_b and sk_a.gufe_key == sk_b.gufe_key
        assert count_in_scope(n4js, other) == count_in_scope(n4js, unique_scope) == len(network_chain) + 2
        assert n4js.query_networks(scope=other) == [sk_b]

    def test_large_network_takes_a_handful_of_statements(self, n4js, make_synthetic_chain, unique_scope):
        chain = make_synthetic_chain(2000, name="large")
        statements = []
        original_write_transaction = n4js.write_transaction

        def counting_write_transaction(work):
            def counted(tx):
                original_run = tx.run

                def run(query, *args, **kwargs):
                    statements.append(query)
                    return original_run(query, *args, **kwargs)

                tx.run = run
                return work(tx)

            return original_write_transaction(counted)

        n4js.write_transaction = counting_write_transaction
        try:
            started = time.monotonic()
            network_sk, _, _ = n4js.assemble_network(chain, unique_scope)
            elapsed = time.monotonic() - started
        finally:
            del n4js.write_transaction
        assert len(statements) <= 5
        assert elapsed < 120
        assert len(n4js.get_network_transformations(network_sk)) == 2000
        assert canonical(n4js.get_keyed_chain(network_sk)) == canonical(chain)


class TestAddKeyedChain:
    def test_lone_transformation(self, n4js, transformation, unique_scope):
        sk = n4js.add_keyed_chain(to_keyed_chain_json(transformation), unique_scope)
        assert sk.gufe_key == str(transformation.key)
        assert from_keyed_chain_json(n4js.get_keyed_chain(sk)) == transformation
        assert n4js.query_transformations(scope=unique_scope) == [sk]

    def test_network_refused(self, n4js, network_chain, unique_scope):
        with pytest.raises(ValueError, match="assemble_network"):
            n4js.add_keyed_chain(network_chain, unique_scope)


class TestRetrieval:
    def test_unknown_key(self, n4js, unique_scope):
        sk = ScopedKey(gufe_key="AlchemicalNetwork-deadbeef", **unique_scope.to_dict())
        with pytest.raises(KeyError, match=str(sk)):
            n4js.get_keyed_chain(sk)
        assert n4js.check_existence(sk) is False

    def test_malformed_key(self, n4js):
        with pytest.raises(ValueError, match="not-a-key"):
            n4js.get_keyed_chain("not-a-key")

    def test_existence_and_string_keys(self, n4js, assembled):
        assert n4js.check_existence(assembled[0]) is True
        assert n4js.check_existence(str(assembled[1])) is True

    def test_transformation_chain(self, n4js, assembled, transformation, unique_scope):
        sk = ScopedKey(gufe_key=str(transformation.key), **unique_scope.to_dict())
        assert from_keyed_chain_json(n4js.get_keyed_chain(sk)) == transformation

    def test_get_scoped_key(self, n4js, assembled, network, unique_scope):
        assert n4js.get_scoped_key(str(network.key), unique_scope) == assembled[0]
        with pytest.raises(KeyError, match="Transformation-missing"):
            n4js.get_scoped_key("Transformation-missing", unique_scope)

    def test_get_scoped_key_ambiguous(self, n4js, network_chain, network, unique_scope):
        other = Scope(unique_scope.org, unique_scope.campaign, unique_scope.project + "x")
        n4js.assemble_network(network_chain, unique_scope)
        n4js.assemble_network(network_chain, other)
        with pytest.raises(InvalidInputError, match="give a specific Scope"):
            n4js.get_scoped_key(str(network.key), Scope(unique_scope.org, unique_scope.campaign))


class TestQueries:
    def test_query_networks(self, n4js, assembled, network, unique_scope):
        assert n4js.query_networks(scope=unique_scope) == [assembled[0]]
        assert n4js.query_networks(name="test.*", scope=unique_scope) == [assembled[0]]
        assert n4js.query_networks(name="other.*", scope=unique_scope) == []
        assert n4js.query_networks(key=str(network.key), scope=unique_scope) == [assembled[0]]
        assert n4js.query_networks(state="active", scope=unique_scope) == [assembled[0]]
        assert n4js.query_networks(state="inactive|deleted", scope=unique_scope) == []
        assert assembled[0] in n4js.query_networks(scope=Scope(unique_scope.org))

    def test_query_transformations_and_chemicalsystems(self, n4js, assembled, transformation, unique_scope):
        found = n4js.query_transformations(name=transformation.name, scope=unique_scope)
        assert [sk.gufe_key for sk in found] == [str(transformation.key)]
        assert len(n4js.query_transformations(scope=unique_scope)) == 15
        systems = n4js.query_chemicalsystems(name=transformation.stateA.name, scope=unique_scope)
        assert [sk.gufe_key for sk in systems] == [str(transformation.stateA.key)]
        assert n4js.query_chemicalsystems(key=str(transformation.stateB.key), scope=unique_scope)[0].gufe_key == str(
            transformation.stateB.key
        )

    @pytest.mark.parametrize(
        "name", ['x") DETACH DELETE n //', "x' OR 1=1 //", "}) MATCH (n) DETACH DELETE n //", ".*", "(?i).*"]
    )
    def test_injection_attempts_change_nothing(self, n4js, assembled, unique_scope, name):
        before = count_in_scope(n4js, unique_scope)
        assert n4js.query_transformations(name=name, scope=unique_scope) == []
        assert n4js.query_chemicalsystems(name=name, scope=unique_scope) == []
        try:
            n4js.query_networks(name=name, scope=unique_scope)
        except ValueError:
            pass  # not a valid regex: rejected, never interpreted as Cypher
        assert count_in_scope(n4js, unique_scope) == before

    def test_invalid_regex(self, n4js, assembled, unique_scope):
        with pytest.raises(ValueError, match="regular expression"):
            n4js.query_networks(name="(unclosed", scope=unique_scope)


class TestRelations:
    def test_network_transformations_and_back(self, n4js, assembled, network, unique_scope):
        tfs = n4js.get_network_transformations(assembled[0])
        assert {sk.gufe_key for sk in tfs} == {str(t.key) for t in network.edges}
        assert n4js.get_transformation_networks(tfs[0]) == [assembled[0]]

    def test_network_chemicalsystems_and_back(self, n4js, assembled, network):
        systems = n4js.get_network_chemicalsystems(assembled[0])
        assert {sk.gufe_key for sk in systems} == {str(n.key) for n in network.nodes}
        assert n4js.get_chemicalsystem_networks(systems[0]) == [assembled[0]]

    def test_transformation_chemicalsystems_ordered(self, n4js, assembled, transformation, unique_scope):
        sk = ScopedKey(gufe_key=str(transformation.key), **unique_scope.to_dict())
        states = n4js.get_transformation_chemicalsystems(sk)
        assert [s.gufe_key for s in states] == [str(transformation.stateA.key), str(transformation.stateB.key)]

    def test_nontransformation_has_one_system(self, n4js, assembled, network, unique_scope):
        nontf = next(t for t in network.edges if isinstance(t, NonTransformation))
        sk = ScopedKey(gufe_key=str(nontf.key), **unique_scope.to_dict())
        assert [s.gufe_key for s in n4js.get_transformation_chemicalsystems(sk)] == [str(nontf.system.key)]

    def test_chemicalsystem_transformations(self, n4js, assembled, network, chemicalsystem, unique_scope):
        sk = ScopedKey(gufe_key=str(chemicalsystem.key), **unique_scope.to_dict())
        expected = {
            str(t.key)
            for t in network.edges
            if chemicalsystem in ((t.system,) if isinstance(t, NonTransformation) else (t.stateA, t.stateB))
        }
        assert {s.gufe_key for s in n4js.get_chemicalsystem_transformations(sk)} == expected

    @pytest.mark.parametrize(
        "method",
        ["get_network_transformations", "get_network_chemicalsystems", "get_transformation_networks",
         "get_chemicalsystem_networks", "get_chemicalsystem_transformations", "get_transformation_chemicalsystems"],
    )
    def test_unknown_object(self, n4js, unique_scope, method):
        sk = ScopedKey(gufe_key="ChemicalSystem-feedface", **unique_scope.to_dict())
        with pytest.raises(KeyError, match=str(sk)):
            getattr(n4js, method)(sk)


class TestNetworkState:
    def test_get_and_set(self, n4js, assembled, unique_scope):
        missing = ScopedKey(gufe_key="AlchemicalNetwork-missing", **unique_scope.to_dict())
        assert n4js.get_network_state([assembled[0], missing]) == ["active", None]
        assert n4js.set_network_state([assembled[0], missing], ["inactive", "deleted"]) == [assembled[0], None]
        assert n4js.get_network_state([assembled[0]]) == ["inactive"]
        assert n4js.query_networks(state="active", scope=unique_scope) == []
        assert n4js.query_networks(state="inactive", scope=unique_scope) == [assembled[0]]

    def test_initial_state_from_submission(self, n4js, network_chain, unique_scope):
        sk = n4js.assemble_network(network_chain, unique_scope, state="inactive")[0]
        assert n4js.get_network_state([sk]) == ["inactive"]

    def test_bad_input(self, n4js, assembled):
        with pytest.raises(ValueError, match="invalid network state 'paused'"):
            n4js.set_network_state([assembled[0]], ["paused"])
        with pytest.raises(ValueError, match="match one to one"):
            n4js.set_network_state([assembled[0]], ["active", "inactive"])


class TestTaskHubs:
    def test_get_taskhub(self, n4js, assembled):
        network_sk, taskhub_sk, _ = assembled
        assert n4js.get_taskhub(network_sk) == taskhub_sk
        hub = n4js.get_taskhub(network_sk, return_gufe=True)
        assert hub == TaskHub(network=str(network_sk), weight=0.5)

    def test_get_taskhubs_and_query(self, n4js, assembled, unique_scope):
        network_sk, taskhub_sk, _ = assembled
        missing = ScopedKey(gufe_key="AlchemicalNetwork-missing", **unique_scope.to_dict())
        assert n4js.get_taskhubs([network_sk, missing]) == [taskhub_sk, None]
        assert n4js.query_taskhubs(scope=unique_scope) == [taskhub_sk]
        assert n4js.query_taskhubs(scope=unique_scope, return_gufe=True) == {
            taskhub_sk: TaskHub(network=str(network_sk))
        }
        with pytest.raises(KeyError, match=str(missing)):
            n4js.get_taskhub(missing)

    def test_weights(self, n4js, assembled, unique_scope):
        network_sk = assembled[0]
        missing = ScopedKey(gufe_key="AlchemicalNetwork-missing", **unique_scope.to_dict())
        assert n4js.set_taskhub_weight([network_sk, missing], [0.9, 0.1]) == [network_sk, None]
        assert n4js.get_taskhub_weight([network_sk, missing]) == [0.9, None]
        for bad in (1.5, -0.1, "heavy", True):
            with pytest.raises(ValueError, match="between 0 and 1"):
                n4js.set_taskhub_weight([network_sk], [bad])

    def test_delete_taskhub(self, n4js, assembled):
        network_sk, taskhub_sk, _ = assembled
        assert n4js.delete_taskhub(network_sk) == taskhub_sk
        assert n4js.check_existence(taskhub_sk) is False
        assert n4js.check_existence(network_sk) is True
        with pytest.raises(KeyError):
            n4js.delete_taskhub(network_sk)


class TestDeleteNetwork:
    def test_deletes_everything_when_unshared(self, n4js, assembled, unique_scope):
        network_sk = assembled[0]
        tasks = n4js.create_tasks(n4js.get_network_transformations(network_sk)[:3])
        n4js.action_tasks(tasks, assembled[1])
        counts = n4js.delete_network(network_sk)
        assert counts["tasks"] == 3 and counts["objects"] > 20
        assert count_in_scope(n4js, unique_scope) == 0

    def test_keeps_what_another_network_uses(self, n4js, network, unique_scope):
        smaller, _ = smaller_network(network)
        big_sk = n4js.assemble_network(to_keyed_chain_json(network), unique_scope)[0]
        small_sk, small_hub, _ = n4js.assemble_network(to_keyed_chain_json(smaller), unique_scope)
        shared = sorted(set(n4js.get_network_transformations(big_sk)) & set(n4js.get_network_transformations(small_sk)))
        only_small = sorted(set(n4js.get_network_transformations(small_sk)) - set(shared))
        assert shared and only_small
        kept_task, gone_task = n4js.create_tasks([shared[0], only_small[0]])
        n4js.action_tasks([kept_task, gone_task], small_hub)

        counts = n4js.delete_network(small_sk)

        assert counts["tasks"] == 1
        assert n4js.check_existence(small_sk) is False
        assert n4js.check_existence(small_hub) is False
        assert n4js.check_existence(kept_task) and not n4js.check_existence(gone_task)
        assert n4js.get_task_actioned_networks(kept_task) == {}
        assert all(n4js.check_existence(sk) for sk in shared)
        assert not any(n4js.check_existence(sk) for sk in only_small)
        assert from_keyed_chain_json(n4js.get_keyed_chain(big_sk)) == network
        assert n4js.query_networks(scope=unique_scope) == [big_sk]

    def test_removes_the_network_strategy(self, n4js, assembled):
        strategy = [["DemoStrategy-0a1b", {"settings": {"n": 1}, "__qualname__": "DemoStrategy", "__module__": "demo"}]]
        strategy_sk = n4js.set_network_strategy(assembled[0], strategy)
        n4js.delete_network(assembled[0])
        assert n4js.check_existence(strategy_sk) is False

    def test_unknown_network(self, n4js, unique_scope):
        with pytest.raises(KeyError):
            n4js.delete_network(ScopedKey(gufe_key="AlchemicalNetwork-gone", **unique_scope.to_dict()))
