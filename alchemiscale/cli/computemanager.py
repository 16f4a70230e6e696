"""``alchemiscale computemanager start -c F``: run a compute manager from its YAML file until stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click


@click.group(help="Compute managers: start and stop compute services as work waits.")
def computemanager():
    pass


@computemanager.command(help="Run a compute manager (local or SLURM) configured by a YAML file.")
@click.option("-c", "--config-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="YAML with manager: and service: sections (see devtools/configs/*-compute-manager.yaml).")
@click.option("--steal", is_flag=True, help="Replace a registered manager of the same name (yours).")
@click.option("--max-cycles", type=click.IntRange(min=1), help="Stop after this many instructions.")
def start(config_file: Path, steal: bool, max_cycles: Optional[int]):
    from ..base.client import AlchemiscaleClientError
    from ..compute.signals import install_stop_handlers
    from ..compute.manager import (
        ComputeManagerConfig, ComputeManagerError, ComputeManagerSettingsError, manager_from_config,
    )

    try:
        manager = manager_from_config(ComputeManagerConfig.from_yaml(config_file))
    except ComputeManagerSettingsError as e:
        raise click.ClickException(str(e)) from None
    install_stop_handlers(manager)
    try:
        manager.start(steal=steal, max_cycles=max_cycles)
    except (AlchemiscaleClientError, ComputeManagerError) as e:
        raise click.ClickException(f"compute manager stopped: {e}") from None
