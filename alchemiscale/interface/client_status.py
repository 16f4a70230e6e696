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


def status_table(counts: Mapping[str, int]) -> Table:
    """One coloured row per status (zero when absent) and a total, counts right-justified; 20 columns wide."""
    table = Table()
    table.add_column("status", justify="left", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    for status, colour in STATUS_COLOURS.items():
        table.add_row(status, str(counts.get(status, 0)), style=colour)
    table.add_section()
    table.add_row("total", str(sum(counts.get(status, 0) for status in STATUS_COLOURS)))
    return table


def print_status_table(counts: Mapping[str, int], title: str, console: Console | None = None) -> None:
    """Print ``title`` on a line of its own, then :func:`status_table`, to ``console`` (default: stdout).

    The title names a ScopedKey, which may be longer than the terminal: it is printed unbroken (the
    terminal wraps it, a copy pastes whole) rather than widening the table past 80 columns.
    """
    console = console or Console()
    console.print(title, soft_wrap=True, highlight=False)
    console.print(status_table(counts))
