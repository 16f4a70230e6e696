"""What the user client prints: status tables that fit 80 columns, results that name their estimates with units."""

from __future__ import annotations

from rich.console import Console

from alchemiscale.interface.client_html import NetworkResults
from alchemiscale.interface.client_status import STATUS_COLOURS, print_status_table, status_table
from alchemiscale.models import ScopedKey
from alchemiscale.protocols.hydration.protocol import HydrationProtocolResult

NETWORK = ScopedKey(gufe_key=f"AlchemicalNetwork-{'9' * 32}", org="myorg", campaign="benchmarks", project="tyk2")


def test_status_table_rows_and_total():
    table = status_table({"complete": 4, "error": 1})
    assert [row.style for row in table.rows][:6] == list(STATUS_COLOURS.values())
    assert list(table.columns[0].cells)[-1] == "total"
    assert list(table.columns[1].cells) == ["4", "0", "0", "1", "0", "0", "5"]
    assert table.columns[1].justify == "right"


def test_status_table_fits_80_columns_and_keeps_the_key_whole():
    console = Console(width=80, record=True, color_system=None)
    title = f"Status of Tasks in network {NETWORK}"
    assert len(title) > 80
    print_status_table({"complete": 4, "waiting": 2}, title, console)
    first, *table = console.export_text().splitlines()
    assert first == title  # unbroken, for the terminal to wrap and a copy to paste whole
    assert max(len(line) for line in table) <= 80
    assert any("waiting" in line and "2" in line for line in table)


def _hydration_result(*repeats: tuple[float, float]) -> HydrationProtocolResult:
    data = [{"delta_g_kcal_per_mol": dg, "uncertainty_kcal_per_mol": sigma, "low_sample_warning": False}
            for dg, sigma in repeats]
    return HydrationProtocolResult(repeats=data, n_failed=0, n_duplicates=0, n_extended=0)


def test_network_results_repr_names_each_transformation_and_its_estimate_with_units():
    methane = ScopedKey(gufe_key=f"Transformation-{'1' * 32}", **NETWORK.scope.to_dict())
    ethane = ScopedKey(gufe_key=f"Transformation-{'2' * 32}", **NETWORK.scope.to_dict())
    results = NetworkResults({methane: _hydration_result((1.95, 0.35)), ethane: None},
                             {methane: "methane hydration", ethane: "ethane hydration"})
    text = repr(results)
    assert text.startswith("<NetworkResults of 2 Transformations")
    assert f"'methane hydration' {methane}: 1.950 ± 0.350 kcal/mol" in text
    assert f"'ethane hydration' {ethane}: no result" in text
    assert results == {methane: results[methane], ethane: None}  # still the plain dict upstream returns
