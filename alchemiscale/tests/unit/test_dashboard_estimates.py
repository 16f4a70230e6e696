"""Estimates read gufe-free from ProtocolDAGResult keyed chains, and the dashboard's ΔG plot."""

from __future__ import annotations

import json
import math

import pytest
from gufe.tokenization import JSON_HANDLER
from openff.units import unit

from alchemiscale.interface.dashboard.plots import estimates_svg
from alchemiscale.interface.dashboard.estimates import extract_estimate


def codec(quantity) -> dict:
    """A Quantity as gufe's JSON codec stores it in a keyed chain."""
    return json.loads(json.dumps(quantity, cls=JSON_HANDLER.encoder))


def chain(*unit_outputs: dict, failure: bool = False) -> list:
    entries = [["ProtocolDAGResult-0", {"__qualname__": "ProtocolDAGResult", "protocol_units": [], "protocol_unit_results": []}]]
    for i, outputs in enumerate(unit_outputs):
        result = {"__qualname__": "ProtocolUnitResult", "source_key": f"Unit-{i}", "outputs": outputs}
        entries.append([f"ProtocolUnitResult-{i}", result])
    if failure:
        entries.append(["ProtocolUnitFailure-x", {"__qualname__": "ProtocolUnitFailure", "outputs": {
            "delta_g_kcal_per_mol": 99.0}, "traceback": "Traceback ...", "exception": ["RuntimeError", []]}])
    return entries


def test_hydration_protocol_floats():
    found = extract_estimate(chain({"log": "set up"}, {"delta_g_kcal_per_mol": 1.25, "uncertainty_kcal_per_mol": 0.3}))
    assert found == {"dg_kcal_per_mol": 1.25, "uncertainty_kcal_per_mol": 0.3, "n_units": 1}


def test_openfe_quantities_in_kilojoules_are_converted():
    outputs = {"unit_estimate": codec(4.184 * unit.kilojoule_per_mole),
               "unit_estimate_error": codec(0.4184 * unit.kilojoule / unit.mole)}
    found = extract_estimate(chain(outputs))
    assert found["dg_kcal_per_mol"] == pytest.approx(1.0)
    assert found["uncertainty_kcal_per_mol"] == pytest.approx(0.1)


def test_repeats_give_their_mean_and_spread():
    repeats = [{"unit_estimate": codec(v * unit.kilocalorie_per_mole)} for v in (1.0, 2.0, 3.0)]
    found = extract_estimate(chain(*repeats))
    assert found["dg_kcal_per_mol"] == pytest.approx(2.0)
    assert found["uncertainty_kcal_per_mol"] == pytest.approx(1.0)
    assert found["n_units"] == 3


@pytest.mark.parametrize(
    "outputs",
    [
        {"estimate": 1.0},  # an unknown protocol's name
        {"delta_g_kcal_per_mol": math.nan},
        {"delta_g_kcal_per_mol": True},
        {"unit_estimate": codec(1.0 * unit.nanometer)},  # not an energy per mole
        {"unit_estimate": {"magnitude": 1.0, "unit": "kilocalorie / mole"}},  # not a codec dict
    ],
)
def test_unrecognized_outputs_give_no_estimate(outputs):
    assert extract_estimate(chain(outputs)) is None


def test_failed_units_are_ignored():
    assert extract_estimate(chain({"log": "set up"}, failure=True)) is None


def test_plot_draws_one_bar_per_estimate_and_escapes_names():
    svg = estimates_svg([
        {"transformation": "T-1", "name": "<a> to b", "estimate": {"dg_kcal_per_mol": -1.5, "uncertainty_kcal_per_mol": 0.2}},
        {"transformation": "T-2", "name": "c to d", "estimate": {"dg_kcal_per_mol": 2.0, "uncertainty_kcal_per_mol": None}},
        {"transformation": "T-3", "name": "e to f", "estimate": None},
    ])
    assert svg.count('class="bar"') == 2
    assert "&lt;a&gt; to b" in svg and "<a>" not in svg
    assert "-1.50 ± 0.20" in svg and "2.00 ± 0.00" in svg
    assert estimates_svg([{"transformation": "T-3", "name": "e", "estimate": None}]) == ""
