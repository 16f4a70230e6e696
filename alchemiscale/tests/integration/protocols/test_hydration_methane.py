"""Real hydration calculations on the CPU: methane in the fast preset, and an extension.

Methane's experimental hydration free energy is +2.00 kcal/mol (FreeSolv); the fast preset is far
from converged, so the check is a broad window around it.
"""

from __future__ import annotations

import json
import math
import time

from pathlib import Path

import numpy as np
import pytest
from gufe import ProtocolDAG, ProtocolDAGResult, Transformation
from gufe.protocols import execute_DAG
from openff.units import unit

from alchemiscale.serialization.gufe_chain import from_keyed_chain_json, to_keyed_chain_json
from alchemiscale.protocols.hydration import (
    HydrationResultUnit,
    HydrationSettings,
    HydrationSetupUnit,
    SolventLegUnit,
    VacuumLegUnit,
    hydration_transformation,
)

CPU = {"engine_settings": {"platform": "CPU"}}
# The smallest calculation that still exercises every step, for the extension test.
TINY = {
    **CPU,
    "sampling_settings": {
        "n_iterations": 3,
        "vacuum_n_iterations": 3,
        "steps_per_iteration": 10,
        "equilibration_md_steps": 10,
        "equilibration_iterations": 0,
    },
}


def _execute(dag: ProtocolDAG, basedir: Path) -> ProtocolDAGResult:
    """Run a DAG in-process the gufe 1.x way; failures are recorded, not raised, so _outputs can show them."""
    for name in ("shared", "scratch"):
        (basedir / name).mkdir(parents=True)
    return execute_DAG(
        dag, shared_basedir=basedir / "shared", scratch_basedir=basedir / "scratch", raise_error=False
    )


def _outputs(dag_result: ProtocolDAGResult) -> dict[type, dict]:
    assert dag_result.ok(), [f.traceback for f in dag_result.protocol_unit_failures]
    return {type(unit): dag_result.unit_to_result(unit).outputs for unit in dag_result.protocol_units}


@pytest.fixture(scope="module")
def methane_run(tmp_path_factory) -> tuple[Transformation, ProtocolDAGResult, float]:
    transformation = hydration_transformation("C", "methane", settings=HydrationSettings.fast(**CPU))
    started = time.perf_counter()
    dag_result = _execute(transformation.create(), tmp_path_factory.mktemp("methane"))
    return transformation, dag_result, time.perf_counter() - started


def test_methane_fast_preset_gives_a_finite_hydration_free_energy(methane_run):
    transformation, dag_result, elapsed = methane_run
    outputs = _outputs(dag_result)
    result = outputs[HydrationResultUnit]
    print(
        f"\nmethane fast preset: ΔG_hyd = {result['delta_g_kcal_per_mol']:.2f} ± "
        f"{result['uncertainty_kcal_per_mol']:.2f} kcal/mol in {elapsed:.0f} s "
        f"(solvent {result['solvent_ns_per_day']:.0f} ns/day, {result['platform']})"
    )
    assert math.isfinite(result["delta_g_kcal_per_mol"])
    assert -3.0 < result["delta_g_kcal_per_mol"] < 7.0
    assert 0.0 < result["uncertainty_kcal_per_mol"] < 3.0
    assert 0.0 < result["min_neighbour_overlap"] <= 1.0
    assert result["platform"] == "CPU"
    assert result["n_atoms_vacuum"] == 5 and result["n_atoms_solvent"] > 500
    assert result["simulated_ns"] > 0.0 and result["solvent_ns_per_day"] > 0.0
    assert outputs[VacuumLegUnit]["n_windows"] == 4 and outputs[SolventLegUnit]["n_windows"] == 8
    # the vacuum leg runs its own, smaller count; the minimized iteration 0 never counts
    assert outputs[VacuumLegUnit]["n_iterations"] == 25 and outputs[SolventLegUnit]["n_iterations"] == 30
    for leg in (VacuumLegUnit, SolventLegUnit):
        assert outputs[leg]["equilibration_iterations_discarded"] >= 1
        assert len(outputs[leg]["uncorrelated_samples_per_state"]) == outputs[leg]["n_windows"]
    samples = result["vacuum_uncorrelated_samples_per_state"] + result["solvent_uncorrelated_samples_per_state"]
    assert result["min_uncorrelated_samples"] == min(samples) > 0
    assert result["low_sample_warning"] == (min(samples) < 20)
    assert outputs[HydrationSetupUnit]["parameters"]["forcefield"] == "gaff-2.11"
    assert sum(outputs[HydrationSetupUnit]["parameters"]["partial_charges"]) == pytest.approx(0.0, abs=1e-6)

    gathered = transformation.gather([dag_result])
    assert gathered.n_protocol_dag_results == 1
    assert gathered.get_estimate().m_as(unit.kilocalorie_per_mole) == pytest.approx(result["delta_g_kcal_per_mol"])
    assert gathered.get_uncertainty().m_as("kcal/mol") == pytest.approx(result["uncertainty_kcal_per_mol"])
    assert gathered.low_sample_warning == result["low_sample_warning"]


def test_result_survives_a_keyed_chain_round_trip_and_stays_small(methane_run):
    transformation, dag_result, _ = methane_run
    text = json.dumps(to_keyed_chain_json(dag_result))
    print(f"\nmethane fast preset: the ProtocolDAGResult is {len(text)} characters of keyed-chain JSON")
    assert len(text) < 2_000_000
    restored = from_keyed_chain_json(json.loads(text))
    assert isinstance(restored, ProtocolDAGResult)
    continuation = _outputs(restored)[SolventLegUnit]["continuation"]
    n_atoms = _outputs(restored)[SolventLegUnit]["n_atoms"]
    assert continuation["box_nm"].shape == (8, 3, 3) and continuation["positions_nm"].shape == (8, n_atoms, 3)
    assert continuation["positions_nm"].dtype == np.float64 and continuation["velocities_nm_per_ps"].any()
    assert continuation["reduced_energies"].shape == (31, 8, 8)  # iteration 0 and 30 more
    # the same result passed twice is one repeat
    gathered = transformation.gather([dag_result, restored])
    assert len(gathered.data["repeats"]) == 1 and gathered.data["n_duplicates"] == 1
    assert gathered.get_estimate().m == pytest.approx(transformation.gather([dag_result]).get_estimate().m)


def test_extension_reuses_parameters_and_continues_from_the_final_state(tmp_path):
    transformation = hydration_transformation("C", "methane", settings=HydrationSettings.fast(**TINY))
    first = _execute(transformation.create(), tmp_path / "first")
    earlier = _outputs(first)

    dag = transformation.create(extends=first, name="extension")
    assert dag.extends_key == first.key and dag.transformation_key == transformation.key
    solvent_unit = next(u for u in dag.protocol_units if isinstance(u, SolventLegUnit))
    start = solvent_unit.inputs["start"]
    earlier_continuation = earlier[SolventLegUnit]["continuation"]
    for name in ("positions_nm", "velocities_nm_per_ps", "box_nm"):
        np.testing.assert_array_equal(start[name], earlier_continuation[name])
    # every window resumes from its own configuration, with its velocities
    assert len({start["positions_nm"][k].tobytes() for k in range(8)}) == 8 and start["velocities_nm_per_ps"].any()
    second = _execute(dag, tmp_path / "second")
    later = _outputs(second)

    assert later[HydrationSetupUnit]["reused_parameters"] is True
    assert later[HydrationSetupUnit]["parameters"] == earlier[HydrationSetupUnit]["parameters"]
    assert later[VacuumLegUnit]["extended"] and later[SolventLegUnit]["extended"]
    assert later[SolventLegUnit]["n_atoms"] == earlier[SolventLegUnit]["n_atoms"]
    assert math.isfinite(later[HydrationResultUnit]["delta_g_kcal_per_mol"])
    # the extension's estimate pools the earlier samples (4 stored iterations) with its own 3
    for leg in (VacuumLegUnit, SolventLegUnit):
        pooled, own = later[leg]["continuation"], earlier[leg]["continuation"]
        assert later[leg]["n_iterations_pooled"] == 7
        np.testing.assert_array_equal(pooled["reduced_energies"][:4], own["reduced_energies"])
    sizes = {name: len(json.dumps(to_keyed_chain_json(r))) for name, r in (("first", first), ("extension", second))}
    print(f"\nmethane tiny run: keyed-chain JSON characters {sizes}")
    # an extension chain is one repeat: the extension's estimate, not the mean of it and its parent
    gathered = transformation.gather([first, second])
    assert gathered.data["repeats"] and len(gathered.get_individual_estimates()) == 1
    assert gathered.data["n_failed"] == 0 and gathered.data["n_extended"] == 1
    assert gathered.get_estimate().m == pytest.approx(later[HydrationResultUnit]["delta_g_kcal_per_mol"])
