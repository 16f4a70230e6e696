"""The ``alchemiscale`` command line, one module per group of commands.

Options tied to settings are derived from the settings models (``alchemiscale.settings``, through
:mod:`.options`), so names, defaults and help are stated once and show their environment variable.
Expected failures end in one line saying what to do (``click.ClickException``), never a traceback.
"""

from __future__ import annotations

import click

from .computemanager import computemanager
from .local import demo, local
from .servers import api, compute, synchronous
from .store import database, identity
from .strategist import strategist


@click.group(help="alchemiscale: run alchemical free energy calculations at scale.")
@click.version_option(package_name="alchemiscale")
def cli():
    pass


for command in (api, compute, database, identity, local, demo, computemanager, strategist):
    cli.add_command(command)

__all__ = ["cli", "synchronous"]
