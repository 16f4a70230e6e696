"""Benchmark data built from real small molecules: alkanes, alcohols, amines and fluorides.

Molecules come from SMILES through RDKit (one embedded conformer each) into gufe
SmallMoleculeComponents; networks connect vacuum ChemicalSystems of them pairwise, nearest
neighbours in the enumeration first, so any number of Transformations up to n(n-1)/2 fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Union

from gufe import AlchemicalNetwork, ChemicalSystem, Protocol, SmallMoleculeComponent, Transformation
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
