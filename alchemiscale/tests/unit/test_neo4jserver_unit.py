"""Neo4j server provisioning logic that needs no running server: configuration, state and error messages."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from alchemiscale.local import neo4jserver
from alchemiscale.local.neo4jserver import (
    FETCH_MARKER,
    NEO4J_VERSION,
    STATE_FILE,
    Neo4jServer,
    Neo4jServerError,
    default_lib_dir,
    fetch_jars,
    free_port,
    main,
    port_in_use,
    render_conf,
)


def parse_conf(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_conf_keeps_server_on_loopback_and_inside_data_dir(tmp_path: Path) -> None:
    conf = parse_conf(render_conf(tmp_path, 17687, "32m"))
    assert conf["server.bolt.listen_address"] == "127.0.0.1:17687"
    assert conf["server.bolt.advertised_address"] == "127.0.0.1:17687"
    assert conf["server.http.enabled"] == "false"
    assert conf["server.https.enabled"] == "false"
    assert conf["dbms.security.auth_enabled"] == "true"
    assert conf["dbms.usage_report.enabled"] == "false"
    assert conf["server.memory.pagecache.size"] == "32m"
    for folder in ("data", "logs", "run", "plugins", "import"):
        assert conf[f"server.directories.{folder}"] == str(tmp_path / folder)


def test_init_writes_conf_and_state(tmp_path: Path) -> None:
    server = Neo4jServer(tmp_path / "db", bolt_port=17999, lib_dir=tmp_path / "lib")
    conf = parse_conf(server.conf_path.read_text())
    assert conf["server.bolt.listen_address"] == "127.0.0.1:17999"
    assert json.loads((tmp_path / "db" / STATE_FILE).read_text())["bolt_port"] == 17999
    assert server.url == "bolt://127.0.0.1:17999"
    assert (server.user, server.dbname) == ("neo4j", "neo4j")
    assert server.pid is None and not server.running


def test_port_is_reused_from_state(tmp_path: Path) -> None:
    first = Neo4jServer(tmp_path / "db", lib_dir=tmp_path / "lib")
    assert Neo4jServer(tmp_path / "db", lib_dir=tmp_path / "lib").bolt_port == first.bolt_port
    assert Neo4jServer.from_data_dir(tmp_path / "db", lib_dir=tmp_path / "lib").bolt_port == first.bolt_port


def test_from_data_dir_requires_state(tmp_path: Path) -> None:
    with pytest.raises(Neo4jServerError, match=STATE_FILE):
        Neo4jServer.from_data_dir(tmp_path)


def test_stale_pid_file_is_not_a_running_server(tmp_path: Path) -> None:
    Neo4jServer(tmp_path, lib_dir=tmp_path / "lib")
    (tmp_path / "run" / "alchemiscale-neo4j.pid").write_text(f"{os.getpid()}\n")  # not a Neo4j JVM
    server = Neo4jServer.from_data_dir(tmp_path, lib_dir=tmp_path / "lib")
    assert not server.running and server.pid is None
    server.stop()  # nothing to stop; must not signal the unrelated process
    assert not (tmp_path / "run" / "alchemiscale-neo4j.pid").exists()


@pytest.mark.parametrize("password", ["short", "neo4j"])
def test_weak_password_is_rejected(tmp_path: Path, password: str) -> None:
    with pytest.raises(Neo4jServerError, match="at least 8 characters"):
        Neo4jServer(tmp_path, password=password)


def test_invalid_port_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(Neo4jServerError, match="70000 is not a valid TCP port"):
        Neo4jServer(tmp_path, bolt_port=70000)


def test_default_lib_dir_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALCHEMISCALE_NEO4J_LIB", raising=False)
    monkeypatch.setattr(neo4jserver, "source_tree_lib_dir", lambda: None)  # as an installed package
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_lib_dir() == tmp_path / "cache" / "alchemiscale" / f"neo4j-{NEO4J_VERSION}" / "lib"
    monkeypatch.setenv("ALCHEMISCALE_NEO4J_LIB", str(tmp_path / "jars"))
    assert default_lib_dir() == tmp_path / "jars"


def test_a_source_checkout_uses_the_jars_make_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make neo4j` and `alchemiscale local up` share one cache: the checkout's .cache/neo4j/lib."""
    monkeypatch.delenv("ALCHEMISCALE_NEO4J_LIB", raising=False)
    checkout = Path(neo4jserver.__file__).resolve().parents[2]
    assert default_lib_dir() == checkout / ".cache" / "neo4j" / "lib"
    makefile = (checkout / "Makefile").read_text()
    assert "neo4jserver fetch\n" in makefile  # make fetches into default_lib_dir() too


def test_missing_lib_dir_says_how_to_fetch(tmp_path: Path) -> None:
    server = Neo4jServer(tmp_path / "db", lib_dir=tmp_path / "nowhere")
    with pytest.raises(Neo4jServerError, match="does not exist; run `make neo4j` or `python -m alchemiscale"):
        server.start()


def test_lib_dir_without_server_jar_says_how_to_fetch(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "unrelated.jar").write_bytes(b"")
    server = Neo4jServer(tmp_path / "db", lib_dir=tmp_path / "lib")
    with pytest.raises(Neo4jServerError, match=r"holds no neo4j-server-\*\.jar; run `make neo4j`"):
        server.start()


def test_missing_java_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "neo4j-server-0.0.0.jar").write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    server = Neo4jServer(tmp_path / "db", lib_dir=tmp_path / "lib")
    with pytest.raises(Neo4jServerError, match="`java` was not found on PATH; install a Java 17 or 21"):
        server.start()


def test_missing_maven_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(Neo4jServerError, match="`mvn` was not found on PATH; install Apache Maven"):
        fetch_jars(tmp_path / "lib")
    assert not (tmp_path / "lib").exists()


def test_completed_fetch_is_not_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / FETCH_MARKER).write_text("done\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # Maven would be needed for a real fetch
    assert fetch_jars(tmp_path / "lib") == tmp_path / "lib"
    assert main(["fetch", "--lib-dir", str(tmp_path / "lib")]) == 0


def test_cli_run_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--data-dir", str(tmp_path / "db"), "--lib-dir", str(tmp_path / "nowhere")])
    assert code == 1
    assert "error: The Neo4j jar folder" in capsys.readouterr().err


def test_port_probe() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        assert port_in_use(holder.getsockname()[1])
    port = free_port()
    assert not port_in_use(port)
