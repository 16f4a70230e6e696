"""The built-in hydration protocol through the whole system: user API in, compute service, results out.

One methane hydration Transformation is submitted with the user client, a real compute service
claims and executes its Task on the CPU, and the user client gathers the result. The settings are
the smallest the protocol accepts that still run every step (3 windows, 5 iterations of 10 steps):
the estimate is meaningless, only its finiteness is checked; the physics is tested in
``alchemiscale/tests/integration/protocols``.
"""

from __future__ import annotations

import math
import time

from gufe import AlchemicalNetwork
from openff.units import Quantity

from alchemiscale.compute.provenance import PROVENANCE_KEY
from alchemiscale.protocols.hydration import (
    HydrationProtocolResult,
    HydrationSettings,
    HydrationSetupUnit,
    hydration_transformation,
)

from .conftest import make_service

HYDRATION_UNITS = {"HydrationSetupUnit", "VacuumLegUnit", "SolventLegUnit", "HydrationResultUnit"}

# Two windows with full sterics for the vacuum leg, one decoupled; minimization stays on, since
# an unminimized water box blows up at once.
MINIMAL_SETTINGS = HydrationSettings.fast(
    engine_settings={"platform": "CPU"},
    lambda_settings={"lambda_electrostatics": (1.0, 0.0, 0.0), "lambda_sterics": (1.0, 1.0, 0.0)},
    sampling_settings={
        "minimization_max_iterations": 100,
        "equilibration_md_steps": 10,
        "equilibration_iterations": 0,
        "n_iterations": 5,
        "vacuum_n_iterations": 5,
        "steps_per_iteration": 10,
    },
)


def submit_methane(client, scope, network_name: str):
    """A one-edge network of methane's hydration in the minimal preset: (Transformation, network sk, its sk)."""
    transformation = hydration_transformation("C", "methane", settings=MINIMAL_SETTINGS)
    network_sk = client.create_network(
        AlchemicalNetwork(edges=[transformation], name=network_name), scope, visualize=False
    )
    [transformation_sk] = client.get_network_transformations(network_sk)
    return transformation, network_sk, transformation_sk


def test_service_runs_a_methane_hydration_task_end_to_end(user_client, service_config):
    client, scope = user_client
    transformation, network_sk, transformation_sk = submit_methane(client, scope, "methane hydration")
    [task] = client.create_tasks(transformation_sk)
    assert client.action_tasks([task], network_sk) == [task]

    service = make_service(service_config(scopes=[str(scope)], protocols=["HydrationProtocol"], max_tasks=1))
    started = time.perf_counter()
    service.start()  # returns once the Task is done and the service has deregistered
    elapsed = time.perf_counter() - started
    print(f"\nmethane hydration task claimed, executed and pushed in {elapsed:.1f} s")

    assert service.tasks_executed == 1
    assert client.get_tasks_status([task]) == ["complete"]

    gathered = client.get_transformation_results(transformation_sk, visualize=False)
    assert isinstance(gathered, HydrationProtocolResult)
    assert gathered.data["n_failed"] == 0 and len(gathered.data["repeats"]) == 1
    assert gathered.n_protocol_dag_results == 1
    estimate, uncertainty = gathered.get_estimate(), gathered.get_uncertainty()
    assert isinstance(estimate, Quantity) and math.isfinite(estimate.m_as("kcal/mol"))
    assert isinstance(uncertainty, Quantity) and math.isfinite(uncertainty.m_as("kcal/mol"))
    assert uncertainty.m_as("kcal/mol") >= 0.0

    [dag_result] = client.get_task_results(task, visualize=False)
    assert dag_result.transformation_key == transformation.key
    assert dag_result.ok() and not dag_result.protocol_unit_failures
    assert {type(unit).__name__ for unit in dag_result.protocol_units} == HYDRATION_UNITS
    assert {type(result).__name__ for result in dag_result.protocol_unit_results} == {"ProtocolUnitResult"}
    assert len(dag_result.protocol_unit_results) == len(HYDRATION_UNITS)
    for result in dag_result.protocol_unit_results:
        provenance = result.outputs[PROVENANCE_KEY]
        assert provenance["task"] == str(task)
        assert provenance["compute_service_id"] == str(service.compute_service_id)
        assert provenance["attempt"] == 0 and provenance["start"] <= provenance["end"]
        assert provenance["versions"]["openmm"] and provenance["versions"]["gufe"]
    [setup_unit] = [unit for unit in dag_result.protocol_units if isinstance(unit, HydrationSetupUnit)]
    forcefield = dag_result.unit_to_result(setup_unit).outputs["parameters"]["forcefield"]
    assert forcefield == MINIMAL_SETTINGS.forcefield_settings.small_molecule_forcefield
    assert setup_unit.inputs["settings"] == MINIMAL_SETTINGS


def test_service_extends_a_hydration_task_from_its_parents_result(user_client, service_config):
    """An extension Task runs after its parent, continues from the parent's final states and pools its samples."""
    client, scope = user_client
    _, network_sk, transformation_sk = submit_methane(client, scope, "methane hydration, extended")
    [parent] = client.create_tasks(transformation_sk)
    [extension] = client.create_tasks(transformation_sk, extends=parent)
    client.action_tasks([extension, parent], network_sk)

    service = make_service(service_config(scopes=[str(scope)], protocols=["HydrationProtocol"], max_tasks=2))
    service.start()
    assert client.get_tasks_status([parent, extension]) == ["complete", "complete"]

    [parent_result] = client.get_task_results(parent, visualize=False)
    [extension_result] = client.get_task_results(extension, visualize=False)
    assert extension_result.extends_key == parent_result.key

    def outputs(dag_result):
        return {type(unit).__name__: dag_result.unit_to_result(unit).outputs for unit in dag_result.protocol_units}

    earlier, later = outputs(parent_result), outputs(extension_result)
    assert later["HydrationSetupUnit"]["reused_parameters"] is True
    for leg in ("VacuumLegUnit", "SolventLegUnit"):
        assert later[leg]["extended"] is True
        stored = len(earlier[leg]["continuation"]["reduced_energies"])
        assert later[leg]["n_iterations_pooled"] > stored  # the parent's samples plus the extension's own

    gathered = client.get_transformation_results(transformation_sk, visualize=False)
    assert len(gathered.data["repeats"]) == 1 and gathered.data["n_extended"] == 1  # one chain, one repeat
    assert gathered.get_estimate().m_as("kcal/mol") == later["HydrationResultUnit"]["delta_g_kcal_per_mol"]
