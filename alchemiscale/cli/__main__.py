"""``python -m alchemiscale.cli``: the ``alchemiscale`` command."""

from . import cli

cli(prog_name="alchemiscale")
