"""Benchmark data: openfe-planned relative binding free energy networks, and light vacuum networks.

:func:`rbfe_network` is what a user submits: openfe's benzene series (its test ligands) planned
as a Lomap-scored minimal spanning network, each edge a solvent leg and a complex leg with T4
lysozyme (openfe's test PDB 181L) and explicit solvent, run by RelativeHybridTopologyProtocol
with openfe's default settings. Larger sizes repeat the planned edges with a sweep of production
lengths (one Protocol per length), as a settings study would.

:func:`transformation_network` connects vacuum ChemicalSystems of small molecules from SMILES
(alkanes, alcohols, amines, fluorides) pairwise, for benchmarks that need many cheap Tasks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Union

from gufe import (
    AlchemicalNetwork,
    ChemicalSystem,
    LigandAtomMapping,
    Protocol,
    ProteinComponent,
    SmallMoleculeComponent,
    SolventComponent,
    Transformation,
)
from rdkit import Chem
from rdkit.Chem import AllChem

from alchemiscale.tests.protocols import SuccessProtocol

SUBSTITUENTS = ("", "O", "N", "F")  # alkane, alcohol, amine, fluoride


def ligand_smiles(count: int) -> list[str]:
    """``count`` distinct SMILES: carbon chains of growing length, each with every substituent."""
    smiles: list[str] = []
    length = 1
    while len(smiles) < count:
        smiles.extend("C" * length + s for s in SUBSTITUENTS)
        length += 1
    return smiles[:count]


@lru_cache(maxsize=None)
def molecule(smiles: str) -> SmallMoleculeComponent:
    """A SmallMoleculeComponent named by its SMILES, with hydrogens and one embedded conformer."""
    rdmol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    if AllChem.EmbedMolecule(rdmol, randomSeed=42) != 0:
        raise ValueError(f"cannot embed a conformer for {smiles}")
    return SmallMoleculeComponent.from_rdkit(rdmol, name=smiles)


def small_molecules(count: int) -> list[SmallMoleculeComponent]:
    return [molecule(s) for s in ligand_smiles(count)]


def molecules_for(n_transformations: int) -> int:
    """The fewest molecules whose unordered pairs give ``n_transformations`` edges."""
    return max(2, math.ceil((1 + math.sqrt(1 + 8 * n_transformations)) / 2))


def edge_pairs(n_nodes: int, n_edges: int) -> list[tuple[int, int]]:
    """Pairs ``(i, i + d)`` for d = 1, 2, ...: a chain first, then ever longer jumps."""
    pairs: list[tuple[int, int]] = []
    for distance in range(1, n_nodes):
        for i in range(n_nodes - distance):
            pairs.append((i, i + distance))
            if len(pairs) == n_edges:
                return pairs
    raise ValueError(f"{n_nodes} molecules give only {len(pairs)} pairs, fewer than {n_edges}")


def transformation_network(
    n_transformations: int, name: str, protocol: Union[Protocol, Sequence[Protocol], None] = None
) -> AlchemicalNetwork:
    """An AlchemicalNetwork of ``n_transformations`` vacuum Transformations between small molecules.

    With several Protocols, Transformation ``i`` gets ``protocol[i % len(protocol)]``.
    """
    protocol = protocol or SuccessProtocol(SuccessProtocol.default_settings())
    protocols = list(protocol) if isinstance(protocol, Sequence) else [protocol]
    molecules = small_molecules(molecules_for(n_transformations))
    systems = [ChemicalSystem({"ligand": m}, name=f"{m.name} vacuum") for m in molecules]
    edges = [
        Transformation(
            systems[a], systems[b], protocols[i % len(protocols)], name=f"{molecules[a].name} to {molecules[b].name}"
        )
        for i, (a, b) in enumerate(edge_pairs(len(systems), n_transformations))
    ]
    return AlchemicalNetwork(edges=edges, name=name)


RBFE_LIGANDS = "benzene_modifications.sdf"  # openfe's test data: benzene and six substituted benzenes
RBFE_PROTEIN = "181l_only.pdb"  # T4 lysozyme L99A, the benzene series' target
BASE_PRODUCTION_NS = 5.0
PRODUCTION_STEP_NS = 0.05


def _openfe_test_file(name: str) -> str:
    from importlib import resources

    return str(resources.files("openfe.tests.data") / name)


@lru_cache(maxsize=1)
def planned_mappings() -> tuple[LigandAtomMapping, ...]:
    """The benzene series as openfe plans it: Lomap mappings of a minimal spanning network."""
    from openfe.setup import LomapAtomMapper, lomap_scorers
    from openfe.setup.ligand_network_planning import generate_minimal_spanning_network

    ligands = [SmallMoleculeComponent(m) for m in Chem.SDMolSupplier(_openfe_test_file(RBFE_LIGANDS), removeHs=False)]
    network = generate_minimal_spanning_network(
        ligands, mappers=[LomapAtomMapper()], scorer=lomap_scorers.default_lomap_score
    )
    return tuple(sorted(network.edges, key=lambda m: (m.componentA.name, m.componentB.name)))


@lru_cache(maxsize=1)
def t4_lysozyme() -> ProteinComponent:
    return ProteinComponent.from_pdb_file(_openfe_test_file(RBFE_PROTEIN), name="T4 lysozyme L99A")


def rbfe_protocol(variant: int) -> Protocol:
    """RelativeHybridTopologyProtocol with openfe's defaults, production length varied by ``variant``."""
    from openff.units import unit
    from openfe.protocols.openmm_rfe import RelativeHybridTopologyProtocol

    settings = RelativeHybridTopologyProtocol.default_settings()
    settings.simulation_settings.production_length = (BASE_PRODUCTION_NS + variant * PRODUCTION_STEP_NS) * unit.nanosecond
    return RelativeHybridTopologyProtocol(settings)


def rbfe_network(n_transformations: int, name: str) -> AlchemicalNetwork:
    """``n_transformations`` solvent and complex legs of the planned benzene series (see the module doc)."""
    mappings = planned_mappings()
    protein, solvent = t4_lysozyme(), SolventComponent()

    def system(ligand: SmallMoleculeComponent, leg: str) -> ChemicalSystem:
        components = {"ligand": ligand, "solvent": solvent} | ({"protein": protein} if leg == "complex" else {})
        return ChemicalSystem(components, name=f"{ligand.name} {leg}")

    legs = [(mapping, leg) for mapping in mappings for leg in ("solvent", "complex")]
    edges = []
    for variant in range(math.ceil(n_transformations / len(legs))):
        protocol = rbfe_protocol(variant)
        for mapping, leg in legs[: n_transformations - len(edges)]:
            a, b = mapping.componentA, mapping.componentB
            edges.append(
                Transformation(
                    system(a, leg), system(b, leg), protocol, mapping=mapping,
                    name=f"{a.name} to {b.name} {leg} {protocol.settings.simulation_settings.production_length}",
                )
            )
    return AlchemicalNetwork(edges=edges, name=name)
