"""A small world for the dashboard's browser test, made through the real APIs over HTTP.

``EstimateProtocol`` finishes with the built-in hydration protocol's output names
(``delta_g_kcal_per_mol``, ``uncertainty_kcal_per_mol``), so the dashboard has estimates to read
gufe-free; ``FailingProtocol`` gives a failed Task with a real traceback.
"""

from __future__ import annotations

from pathlib import Path

from gufe import AlchemicalNetwork, ChemicalSystem, Transformation
from gufe.protocols import ProtocolUnit

from alchemiscale.compute.client import AlchemiscaleComputeClient
from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.models import ComputeServiceID, Scope, ScopedKey
from alchemiscale.tests.protocols import FailingProtocol, SetupUnit, SimulationUnit, SuccessProtocol, execute_locally


class EstimateFinishUnit(ProtocolUnit):
    @staticmethod
    def _execute(ctx, *, simulations, offset, **inputs):
        values = [s.outputs["value"] for s in simulations]
        return {"delta_g_kcal_per_mol": offset - sum(values) / len(values), "uncertainty_kcal_per_mol": 0.2}


class EstimateProtocol(SuccessProtocol):
    """SuccessProtocol whose last unit reports a ΔG in kcal/mol that depends on the end states."""

    def _create(self, stateA, stateB, mapping=None, extends=None):
        setup = SetupUnit(name="setup", stateA=stateA, stateB=stateB, start=None)
        sims = [SimulationUnit(name=f"window {i}", setup=setup, window=i) for i in range(self.settings.n_windows)]
        offset = (int(stateB.key.split("-")[-1][:4], 16) % 500) / 100 - 2.5
        return [setup, *sims, EstimateFinishUnit(name="finish", simulations=sims, offset=offset)]


def dashboard_network(ligands, solvent) -> AlchemicalNetwork:
    systems = {n: ChemicalSystem({"ligand": ligands[n], "solvent": solvent}, name=f"{n} solvated")
               for n in ("methane", "ethane", "methanol", "ethanol")}
    protocol = EstimateProtocol(EstimateProtocol.default_settings())
    edges = [
        Transformation(systems["methane"], systems[other], protocol, name=f"methane to {other}")
        for other in ("ethane", "methanol", "ethanol")
    ]
    edges.append(Transformation(
        systems["ethane"], systems["ethanol"], FailingProtocol(FailingProtocol.default_settings()),
        name="ethane to ethanol (fails)",
    ))
    return AlchemicalNetwork(edges=edges, name="dashboard network")


def populate_through_apis(
    user: AlchemiscaleClient, compute: AlchemiscaleComputeClient, network: AlchemicalNetwork, scope: Scope,
    workdir: Path,
) -> tuple[ScopedKey, ComputeServiceID, list[ScopedKey]]:
    """Submit the network, action one Task per Transformation plus one left waiting, and run the
    actioned ones in this process as a compute service would, uploading every result."""
    network_sk = user.create_network(network, scope, visualize=False)
    tasks = [task for tf in user.get_network_transformations(network_sk) for task in user.create_tasks(tf)]
    user.action_tasks(tasks, network_sk)
    service = compute.register(ComputeServiceID.new_from_name("dashboard_test"))
    claimed = compute.claim_tasks([scope], service, count=len(tasks))
    assert sorted(claimed) == sorted(tasks), claimed
    for i, task in enumerate(claimed):
        transformation, _ = compute.retrieve_task_transformation(task)
        folder = workdir / f"task{i}"
        folder.mkdir(parents=True)
        compute.set_task_result(task, execute_locally(transformation.create(), folder), service)
    compute.heartbeat(service)
    waiting = user.create_tasks(user.get_network_transformations(network_sk)[0])
    return network_sk, service, tasks + waiting
