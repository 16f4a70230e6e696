"""What the user client's status counts and network results look like in Jupyter (``_repr_html_``).

Both stay the plain dicts upstream's client returns (equal to them, JSON-encodable as before);
only their display in a notebook changes.
"""

from __future__ import annotations

from html import escape
from typing import Any, Mapping

from .client_status import STATUS_COLOURS


class StatusCounts(dict):
    """``{status: count}`` of Tasks, shown as a coloured table in Jupyter."""

    def __init__(self, counts: Mapping[str, int], title: str):
        super().__init__(counts)
        self.title = title

    def _repr_html_(self) -> str:
        rows = "".join(
            f'<tr style="color: {colour}"><td>{status}</td><td style="text-align: right">{self.get(status, 0)}</td></tr>'
            for status, colour in STATUS_COLOURS.items()
        )
        return (
            f'<table class="alchemiscale-status"><caption style="text-align: left">{escape(getattr(self, "title", ""))}'
            f"</caption><thead><tr><th>status</th><th>count</th></tr></thead><tbody>{rows}</tbody></table>"
        )


# openff's named molar energy units, which pint's short format leaves spelled out
UNIT_SYMBOLS = {"kilocalorie_per_mole": "kcal/mol", "kilojoule_per_mole": "kJ/mol"}


def quantity_text(value: Any) -> str:
    """``-1.234 kcal/mol`` for a Quantity with units; the value's own text otherwise."""
    magnitude, units = getattr(value, "magnitude", None), getattr(value, "units", None)
    if magnitude is None or units is None:
        return str(value)
    return f"{magnitude:.3f} {UNIT_SYMBOLS.get(str(units), format(units, '~P'))}"


def estimate_text(result: Any) -> str:
    """A ProtocolResult's estimate ± uncertainty with units, a count for lists, ``no result`` for None."""
    if result is None:
        return "no result"
    if isinstance(result, list):
        return f"{len(result)} result{'s' if len(result) != 1 else ''}"
    try:
        estimate = result.get_estimate()
    except Exception as e:  # a Protocol may refuse to estimate from what it has (e.g. too few repeats)
        return f"no estimate ({type(e).__name__})"
    try:
        uncertainty = result.get_uncertainty()
    except Exception:  # an estimate without uncertainty is still worth showing
        return quantity_text(estimate)
    if getattr(estimate, "units", None) is not None and getattr(uncertainty, "units", None) == estimate.units:
        value, unit_text = quantity_text(estimate).split(" ", 1)
        return f"{value} ± {uncertainty.magnitude:.3f} {unit_text}"  # one unit for both: 1.950 ± 0.350 kcal/mol
    return f"{quantity_text(estimate)} ± {quantity_text(uncertainty)}"


class NetworkResults(dict):
    """``{Transformation ScopedKey: results}``, shown in Jupyter as one row per Transformation with its estimate."""

    def __init__(self, results: Mapping, names: Mapping):
        super().__init__(results)
        self.names = dict(names)

    def __repr__(self) -> str:
        """One line per Transformation: its name, ScopedKey and estimate ± uncertainty with units."""
        names = getattr(self, "names", {})
        count = f"{len(self)} Transformation{'s' if len(self) != 1 else ''}"
        lines = [f"  {names.get(sk, '')!r} {sk}: {estimate_text(result)}" for sk, result in self.items()]
        return f"<NetworkResults of {count}" + ("".join(f"\n{line}" for line in lines)) + ">"

    def _repr_html_(self) -> str:
        names = getattr(self, "names", {})
        rows = "".join(
            f"<tr><td>{escape(str(names.get(sk, '')))}</td><td><code>{escape(str(sk))}</code></td>"
            f"<td>{escape(estimate_text(result))}</td></tr>"
            for sk, result in self.items()
        )
        return (
            '<table class="alchemiscale-results"><thead><tr><th>transformation</th><th>scoped key</th>'
            f"<th>estimate</th></tr></thead><tbody>{rows}</tbody></table>"
        )
