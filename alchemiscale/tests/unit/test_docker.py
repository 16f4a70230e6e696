"""No Docker engine runs in CI, so check the deployment files' structure instead."""

import re
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[3] / "docker"
COMPOSE = DOCKER / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_services_present(compose):
    assert set(compose["services"]) == {"neo4j", "alchemiscale-db-init", "alchemiscale-api", "alchemiscale-compute-api"}


def test_neo4j_image_volume_healthcheck(compose):
    neo4j = compose["services"]["neo4j"]
    assert re.fullmatch(r"\$\{NEO4J_DOCKER_IMAGE:-neo4j:5\.26(\.\d+)?\}", neo4j["image"])
    assert any(v.endswith(":/data") for v in neo4j["volumes"])
    assert neo4j["volumes"][0].split(":")[0] in compose["volumes"]
    assert neo4j["healthcheck"]["test"]


def test_startup_order(compose):
    services = compose["services"]
    assert services["alchemiscale-db-init"]["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert services["alchemiscale-db-init"]["command"] == ["database", "init"]
    for api in ("alchemiscale-api", "alchemiscale-compute-api"):
        assert services[api]["depends_on"]["alchemiscale-db-init"]["condition"] == "service_completed_successfully"
        assert "/ping" in " ".join(services[api]["healthcheck"]["test"])


def test_api_commands_match_cli(compose):
    from click.testing import CliRunner

    from alchemiscale.cli import cli

    services = compose["services"]
    for name, expected_prefix in (("alchemiscale-api", ["api"]), ("alchemiscale-compute-api", ["compute", "api"])):
        command = services[name]["command"]
        assert command[: len(expected_prefix)] == expected_prefix
        result = CliRunner().invoke(cli, [*expected_prefix, "--help"])
        assert result.exit_code == 0
        for option in command[len(expected_prefix):]:
            if option.startswith("--"):
                assert option in result.output, f"{name} uses {option}, which the CLI does not have"


def test_every_required_setting_is_given(compose):
    env = compose["x-alchemiscale-env"]
    for name in ("NEO4J_URL", "NEO4J_USER", "NEO4J_PASS", "JWT_SECRET_KEY", "AWS_S3_BUCKET", "AWS_S3_PREFIX",
                 "AWS_DEFAULT_REGION", "ALCHEMISCALE_OBJECT_STORE"):
        assert name in env
    for api in ("alchemiscale-api", "alchemiscale-compute-api"):
        assert set(env) <= set(compose["services"][api]["environment"])


def test_env_template_covers_required_variables():
    template = (DOCKER / ".env.template").read_text()
    for required in re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()):
        assert f"{required}=" in template


@pytest.mark.parametrize("image", ["alchemiscale-server", "alchemiscale-compute"])
def test_dockerfiles(image):
    text = (DOCKER / image / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11" in text
    assert "ENTRYPOINT" in text and "USER alchemiscale" in text
    extras = set(re.findall(r"'\.\[(\w+)\]'", text))
    if image == "alchemiscale-server":
        assert not extras and "requirements" not in text  # servers never need the chemistry stack
    else:
        assert extras == {"compute"} and "openfe-stack-git.txt" in text
