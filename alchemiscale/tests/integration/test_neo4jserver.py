"""The project-managed Neo4j server, exercised against a real JVM."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from neo4j import Driver, GraphDatabase
from neo4j.exceptions import ConstraintError

from alchemiscale.local.neo4jserver import Neo4jServer, Neo4jServerError


def test_constraint_merge_and_duplicate(neo4j_clean: Driver, neo4j_server: Neo4jServer) -> None:
    database = neo4j_server.dbname
    constraints, _, _ = neo4j_clean.execute_query("SHOW CONSTRAINTS YIELD name", database_=database)
    assert constraints == []

    neo4j_clean.execute_query(
        "CREATE CONSTRAINT widget_key FOR (w:Widget) REQUIRE w.key IS UNIQUE", database_=database
    )
    with neo4j_clean.session(database=database) as session:
        with session.begin_transaction() as tx:
            for key in ("a", "b", "c", "a"):
                tx.run("MERGE (w:Widget {key: $key}) ON CREATE SET w.created = true", key=key)
            tx.commit()
        keys = session.run("MATCH (w:Widget) RETURN w.key AS key ORDER BY key").value("key")
    assert keys == ["a", "b", "c"]

    with pytest.raises(ConstraintError):
        neo4j_clean.execute_query("CREATE (:Widget {key: $key})", {"key": "b"}, database_=database)
    count, _, _ = neo4j_clean.execute_query("MATCH (w:Widget) RETURN count(w) AS n", database_=database)
    assert count[0]["n"] == 3


def test_env_points_at_server(neo4j_env: Neo4jServer) -> None:
    auth = (os.environ["NEO4J_USER"], os.environ["NEO4J_PASS"])
    with GraphDatabase.driver(os.environ["NEO4J_URL"], auth=auth) as driver:
        records, _, _ = driver.execute_query("RETURN $x AS x", {"x": 42}, database_=os.environ["NEO4J_DBNAME"])
    assert records[0]["x"] == 42
    assert os.environ["NEO4J_URL"] == neo4j_env.url


def test_restart_keeps_data_and_port(tmp_path: Path, neo4j_server: Neo4jServer) -> None:
    data_dir = tmp_path / "neo4j"
    with Neo4jServer(data_dir, lib_dir=neo4j_server.lib_dir) as server:
        first_port, first_pid = server.bolt_port, server.pid
        print(f"fresh Neo4j server started in {server.startup_seconds:.2f} s")
        with GraphDatabase.driver(server.url, auth=(server.user, server.password)) as driver:
            driver.execute_query("CREATE (:Kept {value: $value})", {"value": "persisted"}, database_=server.dbname)
    assert not server.running
    assert not server.pid_path.exists()

    reopened = Neo4jServer.from_data_dir(data_dir, lib_dir=neo4j_server.lib_dir)
    assert reopened.bolt_port == first_port
    reopened.start()
    try:
        print(f"existing Neo4j server restarted in {reopened.startup_seconds:.2f} s")
        assert reopened.pid != first_pid
        with GraphDatabase.driver(reopened.url, auth=(reopened.user, reopened.password)) as driver:
            records, _, _ = driver.execute_query("MATCH (k:Kept) RETURN k.value AS value", database_=reopened.dbname)
        assert [r["value"] for r in records] == ["persisted"]

        attached = Neo4jServer.from_data_dir(data_dir, lib_dir=neo4j_server.lib_dir)
        assert attached.running and attached.pid == reopened.pid
        attached.stop()
        assert not attached.running
        assert not reopened.running
    finally:
        reopened.stop()


def test_port_in_use_is_reported(tmp_path: Path, neo4j_server: Neo4jServer) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = Neo4jServer(tmp_path / "neo4j", bolt_port=port, lib_dir=neo4j_server.lib_dir)
        with pytest.raises(Neo4jServerError, match=f"Port {port} .* already in use"):
            server.start()
    assert not server.running


def test_running_server_port_is_reported(tmp_path: Path, neo4j_server: Neo4jServer) -> None:
    other = Neo4jServer(tmp_path / "other", bolt_port=neo4j_server.bolt_port, lib_dir=neo4j_server.lib_dir)
    with pytest.raises(Neo4jServerError, match=f"Port {neo4j_server.bolt_port} "):
        other.start()


def test_server_dying_during_start_shows_log(tmp_path: Path) -> None:
    """A jar folder without Neo4j's classes makes the JVM exit at once; the error carries its output."""
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    (lib_dir / "neo4j-server-0.0.0.jar").write_bytes(b"")
    server = Neo4jServer(tmp_path / "neo4j", lib_dir=lib_dir)
    with pytest.raises(Neo4jServerError) as error:
        server.start(timeout=60)
    message = str(error.value)
    assert "exited with code" in message
    assert "org.neo4j.server.CommunityEntryPoint" in message  # the JVM's "could not find main class" line
    assert not server.running
    assert [path.name for path in lib_dir.iterdir()] == ["neo4j-server-0.0.0.jar"]  # no class archive kept
