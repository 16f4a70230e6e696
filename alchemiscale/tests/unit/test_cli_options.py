"""CLI options derived from the settings models: one name, default and help per setting."""

from __future__ import annotations

import click
import pytest

from alchemiscale import settings as settings_module
from alchemiscale.cli import cli

SETTINGS_MODELS = [
    getattr(settings_module, name) for name in dir(settings_module)
    if isinstance(getattr(settings_module, name), type) and issubclass(getattr(settings_module, name),
                                                                          settings_module.FrozenSettings)
]
FIELDS = {field: (model, info) for model in SETTINGS_MODELS for field, info in model.model_fields.items()}


def _command(path: list[str]) -> click.Command:
    command: click.Command = cli
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", [["api"], ["compute", "api"], ["database", "init"], ["identity", "add"]])
def test_settings_options_take_envvar_default_and_help_from_their_model(path):
    options = [p for p in _command(path).params if isinstance(p, click.Option) and p.envvar in FIELDS]
    assert options, "no settings-backed options"
    for option in options:
        model, info = FIELDS[option.envvar]
        assert option.help, f"{option.envvar} has no help"
        if info.is_required():
            continue
        default = info.get_default()
        expected = "text" if option.envvar == "ALCHEMISCALE_LOG_FORMAT" else default  # the CLI's own choice
        given = None if option.default is click.core.UNSET else option.default
        assert given == expected, f"{option.envvar}: CLI {option.default!r} != {model.__name__} {default!r}"


def test_server_commands_cover_the_listening_settings_of_both_apis():
    api_vars = {p.envvar for p in _command(["api"]).params}
    compute_vars = {p.envvar for p in _command(["compute", "api"]).params}
    assert set(settings_module.APISettings.model_fields) <= api_vars
    assert {"ALCHEMISCALE_COMPUTE_API_HOST", "ALCHEMISCALE_COMPUTE_API_PORT",
            "ALCHEMISCALE_COMPUTE_API_REGISTRATION_EXPIRE_SECONDS"} <= compute_vars
    assert set(settings_module.JWTSettings.model_fields) <= api_vars & compute_vars


def test_bounds_of_a_setting_are_checked_by_the_cli(tmp_path):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["api", "--port", "70000", "--url", "bolt://x:1", "--user", "u", "--password",
                                      "p", "--jwt-secret", "s", "--object-store", "local",
                                      "--local-object-store-root", str(tmp_path)])
    assert result.exit_code == 2 and "--port" in result.output and "65535" in result.output
