"""`alchemiscale compute synchronous` fails in one clear line on a wrong key, a wrong URL, an API that is down
and a bad retry setting; ``--debug`` adds the traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import yaml
from click.testing import CliRunner

from alchemiscale.cli import cli
from alchemiscale.local.neo4jserver import free_port
from alchemiscale.security.models import CredentialedComputeIdentity
from alchemiscale.tests.integration.compute.conftest import running_compute_api
from alchemiscale.tests.integration.identities import make_identity

IDENTIFIER = "cli-compute"


@pytest.fixture(scope="module")
def compute_api(neo4j_server, tmp_path_factory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("cli-compute-api")
    with running_compute_api(neo4j_server, workdir, workdir / "objects") as server:
        yield server.url


@pytest.fixture
def config(tmp_path, compute_api, n4js_fresh):
    key = make_identity(n4js_fresh, CredentialedComputeIdentity, IDENTIFIER, ["*-*-*"])

    def write(**overrides) -> Path:
        settings = {
            "api_url": compute_api, "identifier": IDENTIFIER, "key": key, "name": "cli_service",
            "shared_basedir": str(tmp_path / "shared"), "scratch_basedir": str(tmp_path / "scratch"),
            "worker_preload": [], "max_time": 0.5, "sleep_interval": 0.2, "loglevel": "INFO",
            "client_max_retries": 1, "client_retry_base_seconds": 1.1, "client_retry_max_seconds": 0.2,
            **overrides,
        }
        path = tmp_path / "service.yaml"
        path.write_text(yaml.safe_dump(settings))
        return path

    return write


def run(path: Path, *extra: str):
    return CliRunner().invoke(cli, ["compute", "synchronous", "-c", str(path), *extra], terminal_width=300)


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "ERROR" in line or line.startswith("Error")]


def test_a_good_config_registers_and_stops(config):
    result = run(config())
    assert result.exit_code == 0, result.output
    assert "registered with" in result.output and "deregistered" in result.output


@pytest.mark.parametrize(
    "url, key, expected",
    [
        ("{api}", "not-the-key", "refused compute identity 'cli-compute' or its key (401)"),
        ("{api}/wrong", None, "api_url must be the compute API's base URL"),
        ("http://127.0.0.1:{free}", None, "could not reach"),
    ],
    ids=["wrong key", "wrong URL", "API down"],
)
def test_expected_failures_are_one_line_saying_what_to_do(config, compute_api, url, key, expected):
    overrides = {"api_url": url.format(api=compute_api, free=free_port())}
    if key is not None:
        overrides["key"] = key
    result = run(config(**overrides))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = error_lines(result.output)
    assert "could not register" in line and expected in line, result.output
    assert len(result.output.splitlines()) <= 2  # the error, after at most the one announced retry
    assert "not-the-key" not in result.output


def test_debug_adds_the_traceback(config):
    result = run(config(key="not-the-key"), "--debug")
    assert result.exit_code == 1
    assert len(error_lines(result.output)) == 1 and "Traceback" in result.output


def test_a_bad_retry_setting_fails_the_config_check(config):
    path = config(client_retry_base_seconds=0.5)
    result = run(path)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: invalid compute service config {path}: client_retry_base_seconds must be greater than 1, got 0.5"
    )
