"""State store fixtures: a Neo4jStore on the worker's real Neo4j server.

``n4js`` is shared by a whole session; tests that use it work in a Scope of their own
(``unique_scope``) so they need no reset. ``n4js_fresh`` empties the database first, and
``n4js_preloaded`` also holds the ``network`` fixture in ``scope_test``.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest

from alchemiscale.gufe_chain import to_keyed_chain_json
from alchemiscale.models import Scope
from alchemiscale.storage.statestore import Neo4jStore


@pytest.fixture(scope="session")
def n4js(neo4j_driver, neo4j_server) -> Neo4jStore:
    store = Neo4jStore(neo4j_driver, neo4j_server.dbname)
    store.initialize()
    return store


@pytest.fixture
def n4js_fresh(n4js) -> Neo4jStore:
    n4js.reset()
    n4js.initialize()
    return n4js


@pytest.fixture
def n4js_preloaded(n4js_fresh, network, scope_test) -> Neo4jStore:
    n4js_fresh.assemble_network(to_keyed_chain_json(network), scope_test)
    return n4js_fresh


@pytest.fixture(scope="session")
def network_chain(network) -> list:
    return to_keyed_chain_json(network)


@pytest.fixture
def unique_scope() -> Scope:
    """A Scope no other test uses, so tests on the shared ``n4js`` stay independent."""
    return Scope("storage_org", "storage_campaign", f"p{uuid.uuid4().hex}")


def _synthetic_key(qualname: str, *parts) -> str:
    return f"{qualname}-" + hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()


def synthetic_network_chain(n_transformations: int, name: str = "synthetic") -> list:
    """A valid AlchemicalNetwork keyed chain with ``n_transformations`` edges, built as plain JSON.

    The store never sees gufe objects, so a generated chain exercises it exactly like a real one
    while taking milliseconds to build at any size.
    """
    n_systems = int(n_transformations**0.5) + 2
    protocol = _synthetic_key("SuccessProtocol", name)
    chain = [[protocol, {"settings": {"n_windows": 2}, "__qualname__": "SuccessProtocol", "__module__": "synthetic"}]]
    systems = []
    for i in range(n_systems):
        component = _synthetic_key("SmallMoleculeComponent", name, i)
        chain.append([component, {"name": f"ligand {i}", "__qualname__": "SmallMoleculeComponent",
                                  "__module__": "synthetic"}])
        system = _synthetic_key("ChemicalSystem", name, i)
        chain.append([system, {"components": {"ligand": {":gufe-key:": component}}, "name": f"ligand {i} vacuum",
                               "__qualname__": "ChemicalSystem", "__module__": "synthetic"}])
        systems.append(system)
    pairs = [(a, b) for a in range(n_systems) for b in range(n_systems) if a != b][:n_transformations]
    edges = []
    for a, b in pairs:
        key = _synthetic_key("Transformation", name, a, b)
        chain.append([key, {"stateA": {":gufe-key:": systems[a]}, "stateB": {":gufe-key:": systems[b]},
                            "protocol": {":gufe-key:": protocol}, "mapping": None, "name": f"{a} to {b}",
                            "__qualname__": "Transformation", "__module__": "synthetic"}])
        edges.append(key)
    chain.append([_synthetic_key("AlchemicalNetwork", name, n_transformations), {
        "nodes": [{":gufe-key:": s} for s in systems], "edges": [{":gufe-key:": e} for e in edges],
        "name": name, "__qualname__": "AlchemicalNetwork", "__module__": "synthetic"}])
    return chain


@pytest.fixture(scope="session")
def make_synthetic_chain():
    return synthetic_network_chain
