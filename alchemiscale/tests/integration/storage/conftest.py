"""State store fixtures: a Neo4jStore on the worker's real Neo4j server.

``n4js`` is shared by a whole session; tests that use it work in a Scope of their own
(``unique_scope``) so they need no reset. ``n4js_fresh`` empties the database first, and
``n4js_preloaded`` also holds the ``network`` fixture in ``scope_test``.
"""

from __future__ import annotations

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
