"""The command line without servers: help texts, option validation, clear errors."""

from __future__ import annotations

import socket
import stat

import pytest
from click.testing import CliRunner

from alchemiscale.cli import cli
from alchemiscale.local.deployment import LocalDeployment, write_private
from alchemiscale.local.neo4jserver import free_port

# Every variable the server commands export: unset for each test and restored by CliRunner afterwards.
SERVER_ENV = (
    "NEO4J_URL", "NEO4J_USER", "NEO4J_PASS", "NEO4J_DBNAME", "ALCHEMISCALE_OBJECT_STORE",
    "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_S3_BUCKET", "AWS_S3_PREFIX", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "JWT_SECRET_KEY",
    "JWT_EXPIRE_SECONDS", "JWT_ALGORITHM", "ALCHEMISCALE_API_PORT", "ALCHEMISCALE_LOCAL_DATA_DIR",
)
DB_ARGS = ["--url", "bolt://127.0.0.1:1", "--user", "neo4j", "--password", "not-used"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={name: None for name in SERVER_ENV})


@pytest.mark.parametrize(
    "command, envvars",
    [
        (["api"], ["NEO4J_URL", "NEO4J_PASS", "JWT_SECRET_KEY", "ALCHEMISCALE_API_PORT", "ALCHEMISCALE_OBJECT_STORE",
                   "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT", "AWS_S3_BUCKET", "AWS_ENDPOINT_URL"]),
        (["compute", "api"], ["ALCHEMISCALE_COMPUTE_API_PORT", "ALCHEMISCALE_COMPUTE_API_REGISTRATION_EXPIRE_SECONDS",
                              "JWT_EXPIRE_SECONDS"]),
        (["database", "init"], ["NEO4J_URL", "NEO4J_USER", "NEO4J_DBNAME"]),
        (["identity", "add"], ["NEO4J_URL", "NEO4J_PASS"]),
        (["local", "up"], ["ALCHEMISCALE_LOCAL_DATA_DIR"]),
        (["local", "status"], ["ALCHEMISCALE_LOCAL_DATA_DIR"]),
    ],
)
def test_help_shows_environment_variables(runner, command, envvars):
    result = runner.invoke(cli, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for envvar in envvars:
        assert f"env var: {envvar}" in result.output or f"env var:\n{envvar}" in result.output, envvar


def test_local_up_help_documents_port_defaults(runner):
    result = runner.invoke(cli, ["local", "up", "--help"], terminal_width=200)
    assert "1840" in result.output and "1841" in result.output and "7687" in result.output


def test_api_without_jwt_secret_is_an_error(runner, tmp_path):
    args = ["api", *DB_ARGS, "--object-store", "local", "--local-object-store-root", str(tmp_path)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "--jwt-secret" in result.output


def test_local_object_store_without_root_is_an_error(runner):
    result = runner.invoke(cli, ["api", *DB_ARGS, "--jwt-secret", "s3cr3t", "--object-store", "local"])
    assert result.exit_code == 2
    assert "--local-object-store-root" in result.output


def test_s3_object_store_names_missing_settings(runner):
    result = runner.invoke(cli, ["compute", "api", *DB_ARGS, "--jwt-secret", "s3cr3t", "--s3-bucket", "b"])
    assert result.exit_code == 2
    assert "--s3-prefix" in result.output and "--default-region" in result.output


def test_bad_scope_is_rejected_before_connecting(runner):
    result = runner.invoke(cli, ["identity", "add-scope", *DB_ARGS, "-i", "alice", "-s", "not a scope"])
    assert result.exit_code == 2
    assert "--scope" in result.output


def test_compute_synchronous_rejects_a_bad_config(runner, tmp_path):
    config = tmp_path / "service.yaml"
    config.write_text("init:\n  api_url: http://127.0.0.1:1\n")
    result = runner.invoke(cli, ["compute", "synchronous", "-c", str(config)])
    assert result.exit_code == 1
    assert "old nested layout" in result.output


def test_local_status_of_an_empty_folder_reports_nothing_running(runner, tmp_path):
    result = runner.invoke(cli, ["local", "status", "--data-dir", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 1
    assert "never started" in result.output
    assert "not running" in result.output


def test_local_down_of_an_empty_folder_stops_nothing(runner, tmp_path):
    result = runner.invoke(cli, ["local", "down", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "Nothing was running" in result.output


def test_local_up_names_a_port_in_use_and_its_option(runner, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["local", "up", "--data-dir", str(tmp_path), "--user-port", str(free_port()),
                "--compute-port", str(port), "--neo4j-port", str(free_port())]
        result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert f"port {port}" in result.output and "--compute-port" in result.output
    assert not LocalDeployment(tmp_path).exists  # nothing was created


def test_local_up_rejects_equal_ports(runner, tmp_path):
    port = str(free_port())
    result = runner.invoke(cli, ["local", "up", "--data-dir", str(tmp_path), "--user-port", port,
                                 "--compute-port", port, "--neo4j-port", str(free_port())])
    assert result.exit_code == 1
    assert "must differ" in result.output


def test_demo_needs_a_compute_service(runner):
    result = runner.invoke(cli, ["demo", "--compute-services", "0"])
    assert result.exit_code == 2


def test_write_private_makes_owner_only_files(tmp_path):
    path = tmp_path / "secret"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_demo_network_has_one_demo_preset_gaff_1_81_transformation_per_molecule():
    from alchemiscale.local.demo import DEMO_MOLECULES, demo_network
    from alchemiscale.protocols.hydration import HydrationProtocol, HydrationSettings

    network, transformations = demo_network()
    assert sorted(transformations) == sorted(m.name for m in DEMO_MOLECULES)
    assert set(network.edges) == set(transformations.values())
    for transformation in transformations.values():
        assert isinstance(transformation.protocol, HydrationProtocol)
        settings = transformation.protocol.settings
        assert settings == HydrationSettings.demo(forcefield_settings={"small_molecule_forcefield": "gaff-1.81"})
        assert settings.sampling_settings.n_iterations > HydrationSettings.fast().sampling_settings.n_iterations


def test_results_table_shows_estimates_beside_freesolv_calc_experiment_and_failures():
    from rich.console import Console

    from alchemiscale.local.demo import DEMO_MOLECULES, DemoOutcome, results_table

    methane, methanol, _ = DEMO_MOLECULES
    outcomes = [DemoOutcome(methane, "complete", 2.5, 0.25, "CPU"), DemoOutcome(methanol, "error", error="boom")]
    console = Console(width=200, record=True)
    console.print(results_table(outcomes))
    text = console.export_text()
    assert "2.50 ± 0.25" in text and "+0.05" in text and "2.45" in text and "2.00" in text
    assert "error" in text and "-5.10" in text


def test_free_ports_are_distinct_free_and_below_the_ephemeral_range():
    from alchemiscale.local.processes import QUIET_PORT_RANGE, free_ports
    from alchemiscale.local.neo4jserver import port_in_use

    ports = free_ports(3)
    assert len(set(ports)) == 3
    assert all(port in QUIET_PORT_RANGE and not port_in_use(port) for port in ports)


@pytest.mark.parametrize("command", [["database", "check"], ["database", "init"], ["identity", "list"],
                                     ["identity", "add", "-i", "alice", "-k", "secret"]])
def test_unreachable_neo4j_is_one_line_saying_what_to_check(command, monkeypatch):
    monkeypatch.setenv("NEO4J_MAX_TRANSACTION_RETRY_SECONDS", "0")
    monkeypatch.setenv("NEO4J_CONNECTION_TIMEOUT_SECONDS", "1")
    result = CliRunner().invoke(cli, [*command, *DB_ARGS])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("Error: the state store (Neo4j) is unavailable")
    assert "cannot reach bolt://127.0.0.1:1" in lines[0] and "--url" in lines[0]
    assert "database init" not in result.output and "Traceback" not in result.output
