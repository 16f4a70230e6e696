"""Rich tables of Task status counts, as printed by the user client's status methods."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

# Display order and colour of each Task status.
STATUS_COLOURS: dict[str, str] = {
    "complete": "green",
    "running": "orange3",
    "waiting": "#1793d0",
    "error": "#ff073a",
    "invalid": "magenta1",
    "deleted": "purple",
}


def status_table(counts: Mapping[str, int], title: str) -> Table:
    """One coloured row per status (zero when absent), counts right-justified.

    The table is at least as wide as its title, so a long ScopedKey title stays on one line
    wherever the terminal is wide enough.
    """
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("status", justify="left", no_wrap=True)
    table.add_column("count", justify="right")
    for status, colour in STATUS_COLOURS.items():
        table.add_row(status, str(counts.get(status, 0)), style=colour)
    return table


def print_status_table(counts: Mapping[str, int], title: str, console: Console | None = None) -> None:
    """Print :func:`status_table` to ``console`` (default: a console on stdout)."""
    (console or Console()).print(status_table(counts, title))
