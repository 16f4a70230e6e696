"""``alchemiscale strategist``: run the strategist, or show the strategies it would serve."""

from __future__ import annotations

from pathlib import Path

import click

CONFIG_OPTION = click.option(
    "-c", "--config-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
    help="YAML settings of the strategist (see docs/strategist.rst).",
)


def _settings(config_file: Path):
    from ..strategist.settings import StrategistSettings, StrategistSettingsError

    try:
        return StrategistSettings.from_yaml(config_file)
    except StrategistSettingsError as e:
        raise click.ClickException(str(e)) from None


@click.group(help="Run network Strategies: turn their proposals into actioned Tasks.")
def strategist():
    pass


@strategist.command(help="Run due Strategies every sleep_interval seconds until stopped (SIGINT/SIGTERM/SIGHUP).")
@CONFIG_OPTION
@click.option("--cycles", type=click.IntRange(min=1), help="Stop after this many cycles.")
def start(config_file: Path, cycles):
    from ..compute.signals import install_stop_handlers
    from ..strategist.service import Strategist

    service = Strategist(_settings(config_file))
    install_stop_handlers(service)
    service.start(max_cycles=cycles)


@strategist.command(help="Show the Strategies in the configured scopes and their state, as a table.")
@CONFIG_OPTION
def status(config_file: Path):
    from rich.console import Console
    from rich.table import Table

    from ..base.client import AlchemiscaleClientError
    from ..models import Scope
    from ..strategist.client import StrategistClient

    settings = _settings(config_file)
    table = Table("network", "mode", "status", "iterations", "last run (UTC)", "results", "error")
    try:
        with StrategistClient(settings.api_url, settings.identifier, settings.key, use_local_cache=False,
                              max_retries=settings.client_max_retries, verify=settings.client_verify) as client:
            entries = {e.network: e for scope in settings.scopes or [Scope()]
                       for e in client.get_network_strategies(scope)}
    except AlchemiscaleClientError as e:
        raise click.ClickException(str(e).splitlines()[0]) from None
    for network in sorted(entries):
        state = entries[network].state
        error = ": ".join(state["exception"]) if state.get("exception") else ""
        table.add_row(str(network), state["mode"], state["status"], str(state["iterations"]),
                      state.get("last_iteration") or "never", str(state["last_iteration_result_count"]), error)
    Console().print(table)
