"""Extending hydration results without simulations: compatible settings, continuation states, pooled
samples and how gather counts repeats, on synthetic ProtocolDAGResults of real DAGs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from gufe import Transformation
from gufe.protocols import ProtocolDAGResult, ProtocolUnitResult, ProtocolValidationError
from openff.units import unit

from alchemiscale.protocols.hydration import (
    HydrationResultUnit,
    HydrationSettings,
    HydrationSetupUnit,
    SolventLegUnit,
    VacuumLegUnit,
    hydration_transformation,
)
from alchemiscale.protocols.hydration.protocol import REPEAT_FIELDS
from alchemiscale.protocols.hydration.sampling import ReplicaState, SamplingRun
from alchemiscale.protocols.hydration.units import continuation

N_ATOMS = {VacuumLegUnit: 5, SolventLegUnit: 11}
N_WINDOWS = {VacuumLegUnit: 4, SolventLegUnit: 8}
_seeds = itertools.count()


@pytest.fixture(scope="module")
def methane() -> Transformation:
    return hydration_transformation("C", "methane", settings=HydrationSettings.fast())


def _run(n_windows: int, n_atoms: int, n_iterations: int, periodic: bool) -> SamplingRun:
    """A replica-exchange run's shape with random numbers: ``n_iterations`` plus iteration 0."""
    rng = np.random.default_rng(next(_seeds))
    finals = [
        ReplicaState(
            positions_nm=rng.random((n_atoms, 3)),
            velocities_nm_per_ps=rng.normal(size=(n_atoms, 3)),
            box_nm=np.eye(3) * (2.0 + rng.random()) if periodic else None,
        )
        for _ in range(n_windows)
    ]
    return SamplingRun(
        reduced_energies=rng.normal(size=(n_iterations + 1, n_windows, n_windows)),
        replica_states=np.array([rng.permutation(n_windows) for _ in range(n_iterations + 1)]),
        final_states=finals,
        sampling_seconds=1.0,
        simulated_ns=0.1,
        production_ns=0.1,
    )


def _dag_result(transformation: Transformation, delta_g: float, extends: ProtocolDAGResult | None = None):
    """A successful ProtocolDAGResult of the real DAG, with made-up outputs of the right shape."""
    dag = transformation.create(extends=extends)
    results = []
    for protocol_unit in dag.protocol_units:
        kind = type(protocol_unit)
        if kind is HydrationSetupUnit:
            outputs = {"parameters": {"forcefield": "gaff-2.11"}}
        elif kind is HydrationResultUnit:
            outputs = {field: 0.0 for field in REPEAT_FIELDS}
            outputs.update(delta_g_kcal_per_mol=delta_g, uncertainty_kcal_per_mol=0.1)
        else:
            run = _run(N_WINDOWS[kind], N_ATOMS[kind], 5, periodic=kind is SolventLegUnit)
            outputs = {"continuation": continuation(run, earlier=protocol_unit.inputs["start"])}
        results.append(
            ProtocolUnitResult(
                name=protocol_unit.name, source_key=protocol_unit.key, inputs=protocol_unit.inputs, outputs=outputs
            )
        )
    return ProtocolDAGResult(
        protocol_units=dag.protocol_units,
        protocol_unit_results=results,
        transformation_key=dag.transformation_key,
        extends_key=dag.extends_key,
    )


def _outputs(dag_result: ProtocolDAGResult, kind: type) -> dict:
    [protocol_unit] = [u for u in dag_result.protocol_units if isinstance(u, kind)]
    return dag_result.unit_to_result(protocol_unit).outputs


def _inputs(dag, kind: type) -> dict:
    [protocol_unit] = [u for u in dag.protocol_units if isinstance(u, kind)]
    return protocol_unit.inputs


def test_continuation_keeps_every_window_in_float64_and_pools_samples():
    first = _run(n_windows=3, n_atoms=4, n_iterations=5, periodic=True)
    state = continuation(first)
    assert state["positions_nm"].shape == state["velocities_nm_per_ps"].shape == (3, 4, 3)
    assert state["positions_nm"].dtype == state["velocities_nm_per_ps"].dtype == np.float64
    np.testing.assert_array_equal(state["velocities_nm_per_ps"][2], first.final_states[2].velocities_nm_per_ps)
    assert state["box_nm"].shape == (3, 3, 3)
    assert continuation(_run(3, 4, 5, periodic=False))["box_nm"] is None

    second = _run(n_windows=3, n_atoms=4, n_iterations=4, periodic=True)
    pooled = continuation(second, earlier=state)
    # the second run's iteration 0 is the first run's end again: it is not counted twice
    assert pooled["reduced_energies"].shape == (6 + 4, 3, 3) and pooled["replica_states"].shape == (10, 3)
    np.testing.assert_array_equal(pooled["reduced_energies"][:6], first.reduced_energies)
    np.testing.assert_array_equal(pooled["reduced_energies"][6:], second.reduced_energies[1:])
    np.testing.assert_array_equal(pooled["replica_states"][6:], second.replica_states[1:])
    np.testing.assert_array_equal(pooled["positions_nm"][0], second.final_states[0].positions_nm)


def test_extension_starts_each_leg_from_its_parents_continuation(methane):
    parent = _dag_result(methane, 2.0)
    dag = methane.create(extends=parent)
    assert dag.extends_key == parent.key
    assert _inputs(dag, HydrationSetupUnit)["reuse"] == {"forcefield": "gaff-2.11"}
    for leg in (VacuumLegUnit, SolventLegUnit):
        start, earlier = _inputs(dag, leg)["start"], _outputs(parent, leg)["continuation"]
        assert start.keys() == earlier.keys()
        for name, value in start.items():
            np.testing.assert_array_equal(value, earlier[name])
    assert _inputs(methane.create(), SolventLegUnit)["start"] is None


@pytest.mark.parametrize(
    "changes, setting, before, after",
    [
        (
            {
                "lambda_settings": {
                    "lambda_electrostatics": (1.0, 0.5, 0.0, 0.0, 0.0),
                    "lambda_sterics": (1.0, 1.0, 1.0, 0.5, 0.0),
                }
            },
            "lambda_settings.lambda_electrostatics",
            "[1.0, 0.67, 0.33, 0.0",
            "[1.0, 0.5, 0.0, 0.0, 0.0]",
        ),
        (
            {"thermo_settings": {"temperature": 310.0 * unit.kelvin}},
            "thermo_settings.temperature",
            "298.15 K",
            "310.0 K",
        ),
        ({"thermo_settings": {"pressure": 2.0 * unit.bar}}, "thermo_settings.pressure", "1.01325 bar", "2.0 bar"),
        (
            {"forcefield_settings": {"nonbonded_cutoff": 0.9 * unit.nanometer}},
            "forcefield_settings.nonbonded_cutoff",
            "0.8 nm",
            "0.9 nm",
        ),
        (
            {"integrator_settings": {"timestep": 2.0 * unit.femtosecond}},
            "integrator_settings.timestep",
            "4.0 fs",
            "2.0 fs",
        ),
    ],
)
def test_extending_refuses_settings_whose_samples_could_not_pool(methane, changes, setting, before, after):
    parent = _dag_result(methane, 2.0)
    other = hydration_transformation("C", "methane", settings=HydrationSettings.fast(**changes))
    protocol = other.protocol
    with pytest.raises(ProtocolValidationError) as refused:
        protocol.validate(stateA=other.stateA, stateB=other.stateB, mapping=None, extends=parent)
    message = str(refused.value)
    assert setting in message and before in message and after in message
    with pytest.raises(ProtocolValidationError, match=setting.replace(".", r"\.")):
        other.create(extends=parent)


def test_extending_accepts_settings_that_only_change_how_long_or_where_it_runs(methane):
    parent = _dag_result(methane, 2.0)
    longer = HydrationSettings.fast(sampling_settings={"n_iterations": 60}, engine_settings={"platform": "CPU"})
    other = hydration_transformation("C", "methane", settings=longer)
    assert other.create(extends=parent).extends_key == parent.key


def test_gather_counts_a_result_once_and_an_extension_chain_as_one_repeat(methane):
    parent = _dag_result(methane, 1.0)
    child = _dag_result(methane, 2.0, extends=parent)
    grandchild = _dag_result(methane, 2.5, extends=child)
    independent = _dag_result(methane, 3.5)

    once = methane.gather([parent, parent])
    assert len(once.data["repeats"]) == 1 and once.data["n_duplicates"] == 1
    assert once.get_uncertainty().m == pytest.approx(0.1)  # not 0.1/√2

    chain = methane.gather([grandchild, parent, child])
    assert len(chain.data["repeats"]) == 1 and chain.data["n_extended"] == 2
    assert chain.get_estimate().m == pytest.approx(2.5)  # the chain's last result pools all its samples

    two = methane.gather([parent, child, independent, child])
    assert two.get_estimate().m == pytest.approx((2.0 + 3.5) / 2)
    assert two.data["n_duplicates"] == 1 and two.data["n_extended"] == 1
    assert two.get_uncertainty().m == pytest.approx(np.std([2.0, 3.5], ddof=1) / math.sqrt(2))  # two repeats, not four


def test_a_failed_extension_leaves_its_parent_as_the_repeat(methane):
    parent = _dag_result(methane, 1.0)
    child = _dag_result(methane, 2.0, extends=parent)
    failed = ProtocolDAGResult(
        protocol_units=child.protocol_units,
        protocol_unit_results=[r for r in child.protocol_unit_results if r.name != _result_unit_name(child)],
        transformation_key=child.transformation_key,
        extends_key=child.extends_key,
    )
    assert not failed.ok()
    gathered = methane.gather([parent, failed])
    assert gathered.data["n_failed"] == 1 and gathered.data["n_extended"] == 0
    assert gathered.get_estimate().m == pytest.approx(1.0)


def _result_unit_name(dag_result: ProtocolDAGResult) -> str:
    return next(u.name for u in dag_result.protocol_units if isinstance(u, HydrationResultUnit))
