import copy
import json

import pytest

from alchemiscale.serialization.gufe_chain import from_keyed_chain_json, to_keyed_chain, to_keyed_chain_json
from alchemiscale.serialization.keyedchain import KeyedChain, KeyedChainError, content_hash, topological_chain


@pytest.fixture(scope="module")
def chain(network):
    return to_keyed_chain_json(network)


class TestGufeRoundTrip:
    def test_network_round_trip(self, network, chain):
        rebuilt = from_keyed_chain_json(json.loads(json.dumps(chain)))
        assert rebuilt == network
        assert rebuilt.key == network.key

    def test_dependencies_first_root_last(self, network, chain):
        assert chain[-1][0] == str(network.key)
        seen = set()
        for key, keyed_dict in chain:
            for ref in KeyedChain.from_json(chain)[key].references:
                assert ref.key in seen
            seen.add(key)

    def test_every_object_once(self, network, chain):
        keys = [k for k, _ in chain]
        assert len(keys) == len(set(keys))
        assert {str(t.key) for t in network.edges} <= set(keys)
        assert {str(n.key) for n in network.nodes} <= set(keys)

    def test_transformation_round_trip(self, transformation):
        rebuilt = from_keyed_chain_json(to_keyed_chain_json(transformation))
        assert rebuilt == transformation

    def test_raw_chain_keeps_gufe_values(self, transformation):
        chain = to_keyed_chain(transformation)
        assert chain[-1][0] == str(transformation.key)


class TestValidation:
    def test_valid(self, network, chain):
        kc = KeyedChain.from_json(chain)
        assert kc.root.key == str(network.key)
        assert kc.root.qualname == "AlchemicalNetwork"
        assert len(kc.of_qualname("Transformation")) == sum(1 for e in network.edges if type(e).__name__ == "Transformation")
        transformation = kc.of_qualname("Transformation")[0]
        assert {r.attribute for r in transformation.references} >= {"stateA", "stateB", "protocol"}
        assert kc.to_json() == chain

    def test_reference_positions(self, chain):
        kc = KeyedChain.from_json(chain)
        system = kc.of_qualname("ChemicalSystem")[0]
        assert all(r.attribute == "components" and r.dict_key for r in system.references)
        network_refs = kc.root.references
        assert all(r.index is not None for r in network_refs)

    @pytest.mark.parametrize(
        "bad, match",
        [
            ({}, "list"),
            ([], "empty"),
            ([["A-1"]], "pair"),
            ([["not a key", {"__qualname__": "A", "__module__": "m"}]], "gufe key"),
            ([["A-1", []]], "object"),
            ([["A-1", {"__module__": "m"}]], "__qualname__"),
            ([["A-1", {"__qualname__": "A"}]], "__module__"),
            ([["A-1", {"__qualname__": "B", "__module__": "m"}]], "class name"),
            ([["A-1", {"__qualname__": "A", "__module__": "m", ":version:": [1]}]], "version"),
            ([["A-1", {"__qualname__": "A", "__module__": "m", "x": {":gufe-key:": "B-2"}}]], "earlier entry"),
            ([["A-1", {"__qualname__": "A", "__module__": "m", "x": {":gufe-key:": "A-1"}}]], "itself"),
            ([["A-1", {"__qualname__": "A", "__module__": "m"}], ["A-1", {"__qualname__": "A", "__module__": "m"}]],
             "more than once"),
        ],
    )
    def test_rejects(self, bad, match):
        with pytest.raises(KeyedChainError, match=match):
            KeyedChain.from_json(bad)

    def test_out_of_order_rejected(self, chain):
        reordered = [chain[-1]] + chain[:-1]
        with pytest.raises(KeyedChainError, match="earlier entry"):
            KeyedChain.from_json(reordered)

    def test_size_limit(self):
        chain = [[f"A-{i}", {"__qualname__": "A", "__module__": "m"}] for i in range(11)]
        with pytest.raises(KeyedChainError, match="limit"):
            KeyedChain.from_json(chain, max_entries=10)

    def test_deep_nesting_rejected(self):
        value = {}
        for _ in range(100):
            value = {"x": value}
        with pytest.raises(KeyedChainError, match="deeper"):
            KeyedChain.from_json([["A-1", {"__qualname__": "A", "__module__": "m", "v": value}]])

    def test_version_accepted(self):
        kc = KeyedChain.from_json([["A-1", {"__qualname__": "A", "__module__": "m", ":version:": 1}]])
        assert kc.root.key == "A-1"


class TestHelpers:
    def test_content_hash_is_order_independent(self):
        assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
        assert content_hash({"a": 1}) != content_hash({"a": 2})

    def test_topological_chain_restores_order(self, chain):
        shuffled = dict(reversed(copy.deepcopy(chain)))
        ordered = topological_chain(shuffled)
        KeyedChain.from_json(ordered)  # valid order
        assert ordered[-1][0] == chain[-1][0]
        assert sorted(k for k, _ in ordered) == sorted(k for k, _ in chain)

    def test_topological_chain_detects_cycles(self):
        with pytest.raises(KeyedChainError, match="cycle"):
            topological_chain({
                "A-1": {"x": {":gufe-key:": "B-1"}},
                "B-1": {"y": {":gufe-key:": "A-1"}},
            })
