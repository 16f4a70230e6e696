"""`alchemiscale database` and `alchemiscale identity` against the worker's real Neo4j server."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from alchemiscale.cli import cli


@pytest.fixture
def runner(neo4j_env, neo4j_clean) -> CliRunner:
    """A runner whose NEO4J_* environment points at an emptied database."""
    return CliRunner()


def invoke(runner: CliRunner, *args: str, input: str | None = None, exit_code: int = 0):
    result = runner.invoke(cli, list(args), input=input, terminal_width=200)
    assert result.exit_code == exit_code, result.output
    return result


def test_init_check_reset(runner):
    assert "not initialized" in invoke(runner, "database", "check", exit_code=1).output
    assert "Database initialized." in invoke(runner, "database", "init").output
    assert "No inconsistencies found." in invoke(runner, "database", "check").output
    assert "Database initialized." in invoke(runner, "database", "init").output  # idempotent
    assert "Database reset." in invoke(runner, "database", "reset", "--yes").output
    check = invoke(runner, "database", "check", exit_code=1)
    assert "alchemiscale database init" in check.output


def test_reset_without_yes_aborts_on_no(runner):
    invoke(runner, "database", "init")
    invoke(runner, "identity", "add", "-i", "alice", "-k", "alice-key")
    result = invoke(runner, "database", "reset", input="n\n", exit_code=1)
    assert "Delete all data" in result.output and "Aborted" in result.output
    assert "No inconsistencies found." in invoke(runner, "database", "check").output
    assert "alice" in invoke(runner, "identity", "list").output


@pytest.mark.parametrize("identity_type", ["user", "compute"])
def test_identity_lifecycle(runner, identity_type):
    invoke(runner, "database", "init")
    t = ["-t", identity_type]
    assert "Added" in invoke(runner, "identity", "add", *t, "-i", "alice", "-k", "alice-key").output
    assert "alice" in invoke(runner, "identity", "list", *t).output
    other = "compute" if identity_type == "user" else "user"
    assert "alice" not in invoke(runner, "identity", "list", "-t", other).output

    invoke(runner, "identity", "add-scope", *t, "-i", "alice", "-s", "org-campaign-project", "-s", "org2-*-*")
    scopes = invoke(runner, "identity", "list-scope", *t, "-i", "alice").output
    assert "org-campaign-project" in scopes and "org2-*-*" in scopes

    invoke(runner, "identity", "remove-scope", *t, "-i", "alice", "-s", "org2-*-*")
    scopes = invoke(runner, "identity", "list-scope", *t, "-i", "alice").output
    assert "org-campaign-project" in scopes and "org2-*-*" not in scopes

    # adding it again is refused; --replace gives it a new key and keeps the scopes
    refused = invoke(runner, "identity", "add", *t, "-i", "alice", "-k", "new-key", exit_code=1)
    assert f"{identity_type} identity 'alice' already exists; pass --replace" in refused.output
    replaced = invoke(runner, "identity", "add", *t, "-i", "alice", "-k", "new-key", "--replace").output
    assert f"Replaced the key of {identity_type} identity 'alice'; kept its scopes org-campaign-project" in replaced
    assert "org-campaign-project" in invoke(runner, "identity", "list-scope", *t, "-i", "alice").output

    assert "Removed" in invoke(runner, "identity", "remove", *t, "-i", "alice").output
    assert "alice" not in invoke(runner, "identity", "list", *t).output


@pytest.mark.parametrize(
    "command",
    [
        ["identity", "remove", "-i", "nobody"],
        ["identity", "list-scope", "-i", "nobody"],
        ["identity", "add-scope", "-i", "nobody", "-s", "a-b-c"],
        ["identity", "remove-scope", "-i", "nobody", "-s", "a-b-c"],
    ],
)
def test_unknown_identity_gives_a_clear_message(runner, command):
    invoke(runner, "database", "init")
    result = invoke(runner, *command, exit_code=1)
    assert "no user identity 'nobody'" in result.output
    assert "alchemiscale identity list -t user" in result.output


def test_identity_add_prompts_for_the_key(runner):
    invoke(runner, "database", "init")
    invoke(runner, "identity", "add", "-i", "bob", input="bob-key\nbob-key\n")
    assert "bob" in invoke(runner, "identity", "list").output
