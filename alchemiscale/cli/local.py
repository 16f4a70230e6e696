"""``alchemiscale local`` and ``alchemiscale demo``: a whole deployment on this machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional

import click
from rich.console import Console
from rich.table import Table


def _local_deployment(data_dir: Path):
    from ..local.deployment import LocalDeployment

    return LocalDeployment(data_dir)


data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("alchemiscale-data"),
    envvar="ALCHEMISCALE_LOCAL_DATA_DIR", show_envvar=True, show_default=True,
    help="Folder holding the deployment's database, results, secrets, logs and state.",
)


def _port_option(name: str, default: int, what: str) -> Callable:
    return click.option(name, type=click.IntRange(1, 65535),
                        help=f"Port of {what} (default: the last one used, else {default}).")


@click.group(help="Run a complete deployment (Neo4j, both APIs, compute services) on this machine.")
def local():
    pass


@local.command(name="up", help="Start a local deployment in the background; data is kept across restarts.")
@data_dir_option
@click.option("-n", "--compute-services", type=click.IntRange(min=0), default=1, show_default=True,
              help="Number of synchronous compute services to start.")
@_port_option("--user-port", 1840, "the user API")
@_port_option("--compute-port", 1841, "the compute API")
@_port_option("--neo4j-port", 7687, "Neo4j's Bolt listener")
def local_up(data_dir: Path, compute_services: int, user_port, compute_port, neo4j_port):
    from ..local.deployment import LocalDeploymentError

    deployment = _local_deployment(data_dir)
    console = Console()
    try:
        with console.status(f"Starting the local deployment in {deployment.data_dir}..."):
            result = deployment.up(compute_services, user_port, compute_port, neo4j_port)
    except LocalDeploymentError as e:
        raise click.ClickException(str(e)) from None
    _print_status(deployment, console)
    if result.first_start:
        console.print(f"Created user identity [bold]{result.user_identifier}[/bold] with key "
                      f"[bold]{result.user_key}[/bold] (scope *-*-*). It is shown only this once; it is kept in "
                      f"{deployment.credentials_path} (readable only by you).")
    console.print(f"Use it with: source {deployment.credentials_path}  (then AlchemiscaleClient() needs no "
                  "arguments). Logs: " + str(deployment.logs_dir))


def _print_status(deployment, console: Console) -> bool:
    rows = deployment.status()
    table = Table(title=f"local deployment in {deployment.data_dir}")
    for column in ("component", "health", "pid", "address", "detail"):
        table.add_column(column, no_wrap=column in ("health", "pid", "address"))
    for row in rows:
        health = "[green]healthy[/green]" if row.healthy else "[red]down[/red]"
        table.add_row(row.name, health, str(row.pid or "—"), row.address, row.detail)
    console.print(table)
    return all(row.healthy for row in rows)


@local.command(name="status", help="Show the health of each component of a local deployment.")
@data_dir_option
def local_status(data_dir: Path):
    if not _print_status(_local_deployment(data_dir), Console()):
        sys.exit(1)


@local.command(name="down", help="Stop every process of a local deployment; its data is kept.")
@data_dir_option
def local_down(data_dir: Path):
    from ..local.deployment import LocalDeploymentError

    deployment = _local_deployment(data_dir)
    try:
        stopped = deployment.down()
    except LocalDeploymentError as e:
        raise click.ClickException(str(e)) from None
    if stopped:
        click.echo(f"Stopped {', '.join(stopped)}; data kept in {deployment.data_dir}.")
    else:
        click.echo(f"Nothing was running in {deployment.data_dir}.")


@click.command(help="Compute hydration free energies of three small molecules on a temporary local deployment.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Use (or create) this deployment folder instead of a temporary one.")
@click.option("-n", "--compute-services", type=click.IntRange(min=1), default=3, show_default=True,
              help="Number of compute services (one per molecule runs them all at once).")
@click.option("--keep", is_flag=True, help="Leave the deployment running afterwards.")
def demo(data_dir: Optional[Path], compute_services: int, keep: bool):
    from ..base.client import AlchemiscaleClientError
    from ..local.deployment import LocalDeploymentError
    from ..local.demo import DemoError, run_demo

    try:
        outcomes = run_demo(data_dir, compute_services, keep)
    except (LocalDeploymentError, DemoError) as e:
        raise click.ClickException(str(e)) from None
    except AlchemiscaleClientError as e:
        raise click.ClickException(f"{e}\nThe API logs are in the deployment's logs/ folder.") from None
    if any(outcome.estimate is None for outcome in outcomes):
        raise click.ClickException("some calculations failed (see above); the compute service logs say more")
