"""Real backing services for integration tests: one Neo4j server per pytest-xdist worker, and an S3 endpoint (moto).

State store fixtures for every integration folder: ``n4js`` is shared by a whole session; tests
that use it work in a Scope of their own (``unique_scope``) so they need no emptying.
``n4js_fresh`` empties the database first (keeping its schema), and ``n4js_preloaded`` also holds
the ``network`` fixture in ``scope_test``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer
from neo4j import Driver, GraphDatabase

from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.models import Scope
from alchemiscale.local.neo4jserver import Neo4jServer, default_lib_dir, fetch_jars, free_port, has_jars
from alchemiscale.storage.statestore import Neo4jStore, Neo4jStoreError

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jServer]:
    """A Neo4j server of this worker's own (tmp_path_factory is per xdist worker), stopped at session end."""
    lib_dir = default_lib_dir()
    if not has_jars(lib_dir):
        fetch_jars(lib_dir)
    server = Neo4jServer(tmp_path_factory.mktemp("neo4j"), lib_dir=lib_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_driver(neo4j_server: Neo4jServer) -> Iterator[Driver]:
    driver = GraphDatabase.driver(neo4j_server.url, auth=(neo4j_server.user, neo4j_server.password))
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture
def neo4j_clean(neo4j_driver: Driver, neo4j_server: Neo4jServer) -> Iterator[Driver]:
    """The driver, after emptying the database: all nodes, constraints and indexes (except the built-in lookups).

    Afterwards the state store schema is put back, so the session-wide ``n4js`` stays usable.
    """
    database = neo4j_server.dbname
    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n", database_=database)
    constraints, _, _ = neo4j_driver.execute_query("SHOW CONSTRAINTS YIELD name", database_=database)
    for record in constraints:
        neo4j_driver.execute_query("DROP CONSTRAINT $name", {"name": record["name"]}, database_=database)
    indexes, _, _ = neo4j_driver.execute_query(
        "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name", database_=database
    )
    for record in indexes:
        neo4j_driver.execute_query("DROP INDEX $name", {"name": record["name"]}, database_=database)
    yield neo4j_driver
    ensure_schema(Neo4jStore(neo4j_driver, database))


def ensure_schema(store: Neo4jStore) -> None:
    """Create the state store schema only if some of it is missing (checking is much faster)."""
    try:
        store.check()
    except Neo4jStoreError:
        store.initialize()


@pytest.fixture(scope="session")
def n4js(neo4j_driver: Driver, neo4j_server: Neo4jServer) -> Neo4jStore:
    store = Neo4jStore(neo4j_driver, neo4j_server.dbname)
    store.initialize()
    return store


@pytest.fixture
def n4js_fresh(n4js: Neo4jStore) -> Iterator[Neo4jStore]:
    """The session store with every node deleted; the schema is kept, and restored if the test removed any."""
    n4js.execute_query("MATCH (n) DETACH DELETE n")
    yield n4js
    ensure_schema(n4js)


@pytest.fixture
def n4js_preloaded(n4js_fresh: Neo4jStore, network_chain: list, scope_test: Scope) -> Neo4jStore:
    n4js_fresh.assemble_network(network_chain, scope_test)
    return n4js_fresh


@pytest.fixture(scope="session")
def network_chain(network) -> list:
    return to_keyed_chain_json(network)


@pytest.fixture
def unique_scope() -> Scope:
    """A Scope no other test uses, so tests on the shared ``n4js`` stay independent."""
    return Scope("storage_org", "storage_campaign", f"p{uuid.uuid4().hex}")


@pytest.fixture(scope="session")
def neo4j_env(neo4j_server: Neo4jServer) -> Iterator[Neo4jServer]:
    """NEO4J_URL/USER/PASS/DBNAME pointing at the worker's server, for settings and subprocess servers."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEO4J_URL", neo4j_server.url)
        patch.setenv("NEO4J_USER", neo4j_server.user)
        patch.setenv("NEO4J_PASS", neo4j_server.password)
        patch.setenv("NEO4J_DBNAME", neo4j_server.dbname)
        yield neo4j_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback, with AWS_* env pointing at it; yields its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ENDPOINT_URL", endpoint)
            for name, value in S3_ENV.items():
                patch.setenv(name, value)
            yield endpoint
    finally:
        server.stop()
