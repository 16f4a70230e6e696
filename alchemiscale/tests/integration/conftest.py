"""Real backing services for integration tests: one Neo4j server per pytest-xdist worker, and an S3 endpoint (moto)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer
from neo4j import Driver, GraphDatabase

from alchemiscale.neo4jserver import Neo4jServer, default_lib_dir, fetch_jars, free_port, has_jars

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
def neo4j_clean(neo4j_driver: Driver, neo4j_server: Neo4jServer) -> Driver:
    """The driver, after emptying the database: all nodes, constraints and indexes (except the built-in lookups)."""
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
    return neo4j_driver


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
