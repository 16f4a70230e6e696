"""An openfe 1.x campaign through the whole system: planned with openfe, run by our compute service.

Three ligands (benzene, toluene, phenol) are charged with AM1-BCC and planned into a minimal
spanning network with openfe's Lomap mapper; each edge gets RelativeHybridTopologyProtocol
Transformations for its solvent and vacuum legs, and benzene an AbsoluteSolvationProtocol one.
Our client submits the network and actions one Task per Transformation, our compute service
executes them on the CPU, and our client gathers the results into openfe's own ProtocolResults.
The settings are openfe's fast-test settings shrunk further (see
:mod:`alchemiscale.examples.openfe_campaign`): the numbers are not converged, only their presence,
units and finiteness are checked, together with cinnabar's analysis of them.
"""

from __future__ import annotations

import math
import time

import pytest
from openfe.protocols.openmm_afe import AbsoluteSolvationProtocolResult
from openfe.protocols.openmm_rfe import RelativeHybridTopologyProtocolResult
from openff.units import Quantity

from alchemiscale.examples.openfe_campaign import (
    KCAL,
    LIGANDS,
    ahfe_name,
    campaign_ligands,
    campaign_network,
    gather_campaign,
    hydration_femap,
    plan_ligand_network,
    relative_hydration,
    rfe_name,
    submit_campaign,
)

from .conftest import make_service

OPENFE_PROTOCOLS = ["RelativeHybridTopologyProtocol", "AbsoluteSolvationProtocol"]


@pytest.mark.slow
def test_service_runs_an_openfe_hydration_campaign_end_to_end(user_client, service_config):
    client, scope = user_client
    started = time.perf_counter()
    ligand_network = plan_ligand_network(campaign_ligands())
    network = campaign_network(ligand_network, absolute=["benzene"])
    assert {ligand.name for ligand in ligand_network.nodes} == set(LIGANDS)
    assert len(ligand_network.edges) == len(LIGANDS) - 1  # a spanning tree
    expected = {rfe_name(m.componentA.name, m.componentB.name, leg)
                for m in ligand_network.edges for leg in ("solvent", "vacuum")} | {ahfe_name("benzene")}
    assert {tf.name for tf in network.edges} == expected

    submitted = submit_campaign(client, network, scope)
    assert set(submitted.transformations) == expected  # the server's keys are gufe 1.12's keys
    assert len(submitted.tasks) == len(expected)
    assert set(client.get_network_actioned_tasks(submitted.network)) == set(submitted.tasks)
    planned = time.perf_counter()

    service = make_service(service_config(scopes=[str(scope)], protocols=OPENFE_PROTOCOLS,
                                          max_tasks=len(submitted.tasks)))
    service.start()  # returns once every Task was executed and the service has deregistered
    executed = time.perf_counter()
    statuses = client.get_tasks_status(submitted.tasks)
    failures = [f["tracebacks"][-1] for task_failures in client.get_tasks_tracebacks(submitted.tasks)
                for f in task_failures]
    assert statuses == ["complete"] * len(submitted.tasks), "\n\n".join(failures)
    assert client.get_network_status(submitted.network, visualize=False) == {"complete": len(expected)}

    results = gather_campaign(client, submitted)
    gathered = time.perf_counter()
    assert set(results) == expected
    for name, result in results.items():
        kind = AbsoluteSolvationProtocolResult if name == ahfe_name("benzene") else RelativeHybridTopologyProtocolResult
        assert isinstance(result, kind) and result.n_protocol_dag_results == 1, name
        estimate, uncertainty = result.get_estimate(), result.get_uncertainty()
        assert isinstance(estimate, Quantity) and estimate.is_compatible_with(KCAL), name
        assert math.isfinite(estimate.m_as(KCAL)) and math.isfinite(uncertainty.m_as(KCAL)), name
        assert uncertainty.m_as(KCAL) == 0.0  # the spread of a single repeat

    relative = relative_hydration(results, ligand_network)
    assert len(relative) == len(ligand_network.edges)
    assert all(math.isfinite(ddg) for _, _, ddg, _ in relative)
    with pytest.raises(ValueError, match="at least 2 finished Tasks per Transformation"):
        hydration_femap(results, ligand_network)  # one Task each: no spread for cinnabar's MLE
    print(f"\nopenfe campaign: planned and submitted in {planned - started:.1f} s, {len(expected)} Tasks "
          f"executed in {executed - planned:.1f} s, gathered in {gathered - executed:.1f} s")
    for name, result in sorted(results.items()):
        print(f"  {name:28s} {result.get_estimate().m_as(KCAL):8.2f} kcal/mol")
