"""Schema management: initialize, check, reset."""

from __future__ import annotations

import pytest

from alchemiscale.errors import UnavailableError
from alchemiscale.storage.statestore import Neo4jStore, Neo4jStoreError
from alchemiscale.storage.statestore.admin import CONSTRAINTS, INDEXES


def schema_names(store) -> set[str]:
    constraints = {r["name"] for r in store.execute_query("SHOW CONSTRAINTS YIELD name RETURN name")}
    indexes = {r["name"] for r in store.execute_query("SHOW INDEXES YIELD name RETURN name")}
    return constraints | indexes


def test_initialize_is_idempotent(n4js_fresh):
    n4js_fresh.initialize()
    n4js_fresh.check()
    assert set(CONSTRAINTS) | set(INDEXES) <= schema_names(n4js_fresh)


def test_check_names_what_is_missing(n4js_fresh):
    n4js_fresh.execute_query("DROP INDEX task_status")
    n4js_fresh.execute_query("DROP CONSTRAINT scoped_key")
    with pytest.raises(Neo4jStoreError, match="constraint scoped_key, index task_status"):
        n4js_fresh.check()
    n4js_fresh.initialize()
    n4js_fresh.check()


def test_scoped_key_is_unique(n4js_fresh):
    n4js_fresh.execute_query("CREATE (:GufeTokenizable {_scoped_key: 'X-1-a-b-c'})")
    with pytest.raises(Exception, match="already exists"):
        n4js_fresh.execute_query("CREATE (:GufeTokenizable:Task {_scoped_key: 'X-1-a-b-c'})")


def test_reset_removes_data_and_schema(n4js_fresh, network_chain, scope_test):
    n4js_fresh.assemble_network(network_chain, scope_test)
    n4js_fresh.reset()
    assert n4js_fresh.execute_query("MATCH (n) RETURN count(n) AS n")[0]["n"] == 0
    assert not (set(CONSTRAINTS) | set(INDEXES)) & schema_names(n4js_fresh)
    with pytest.raises(Neo4jStoreError, match="not initialized"):
        n4js_fresh.check()
    n4js_fresh.initialize()


def test_preloaded_fixture(n4js_preloaded, network, scope_test):
    (network_sk,) = n4js_preloaded.query_networks(scope=scope_test)
    assert network_sk.gufe_key == str(network.key)


def test_store_check_fails_for_unreachable_server():
    from neo4j import GraphDatabase

    driver = GraphDatabase.driver(
        "bolt://127.0.0.1:1", auth=("neo4j", "wrong-password"), connection_timeout=2, max_transaction_retry_time=0
    )
    store = Neo4jStore(driver)
    try:
        with pytest.raises(UnavailableError, match="unavailable"):
            store._store_check()
    finally:
        store.close()
