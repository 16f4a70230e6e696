"""Shared fixtures: real gufe objects built from SMILES (no network access, no data files)."""

from __future__ import annotations

import pytest
from gufe import AlchemicalNetwork, ChemicalSystem, NonTransformation, SmallMoleculeComponent, SolventComponent
from gufe import Transformation
from rdkit import Chem
from rdkit.Chem import AllChem

from alchemiscale.models import Scope

from .protocols import FailingProtocol, SuccessProtocol

LIGANDS = {
    "methane": "C",
    "ethane": "CC",
    "methanol": "CO",
    "ethanol": "CCO",
    "propane": "CCC",
    "benzene": "c1ccccc1",
    "toluene": "Cc1ccccc1",
    "phenol": "Oc1ccccc1",
    "acetamide": "CC(N)=O",
    "acetone": "CC(C)=O",
}


def small_molecule(name: str, smiles: str) -> SmallMoleculeComponent:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=42)
    return SmallMoleculeComponent.from_rdkit(mol, name=name)


@pytest.fixture(scope="session")
def ligands() -> dict[str, SmallMoleculeComponent]:
    return {name: small_molecule(name, smiles) for name, smiles in LIGANDS.items()}


@pytest.fixture(scope="session")
def solvent() -> SolventComponent:
    return SolventComponent()


def build_network(ligands, solvent, name="test network", protocol=None, failing_protocol=None):
    """~10 ligands in solvent, a star of solvent Transformations, a few vacuum ones and NonTransformations."""
    protocol = protocol or SuccessProtocol(SuccessProtocol.default_settings())
    failing_protocol = failing_protocol or FailingProtocol(FailingProtocol.default_settings())
    solvated = {n: ChemicalSystem({"ligand": lig, "solvent": solvent}, name=f"{n} solvated") for n, lig in ligands.items()}
    vacuum = {n: ChemicalSystem({"ligand": lig}, name=f"{n} vacuum") for n, lig in ligands.items()}
    names = sorted(ligands)
    hub = names[0]
    edges = [
        Transformation(solvated[hub], solvated[other], protocol, name=f"{hub} to {other} solvent")
        for other in names[1:]
    ]
    edges += [
        Transformation(vacuum[names[i]], vacuum[names[i + 1]], protocol, name=f"{names[i]} to {names[i + 1]} vacuum")
        for i in range(3)
    ]
    edges.append(Transformation(solvated[names[1]], solvated[names[2]], failing_protocol, name="failing transformation"))
    edges += [NonTransformation(solvated[n], protocol, name=f"{n} equilibrium") for n in names[:2]]
    return AlchemicalNetwork(edges=edges, name=name)


@pytest.fixture(scope="session")
def network(ligands, solvent) -> AlchemicalNetwork:
    return build_network(ligands, solvent)


@pytest.fixture(scope="session")
def transformation(network) -> Transformation:
    return sorted(t for t in network.edges if isinstance(t, Transformation) and t.name.endswith("solvent"))[0]


@pytest.fixture(scope="session")
def failing_transformation(network) -> Transformation:
    return [t for t in network.edges if t.name == "failing transformation"][0]


@pytest.fixture(scope="session")
def chemicalsystem(transformation) -> ChemicalSystem:
    return transformation.stateA


@pytest.fixture
def scope_test() -> Scope:
    return Scope("test_org", "test_campaign", "test_project")


@pytest.fixture
def multiple_scopes() -> list[Scope]:
    return [Scope(f"org{i}", f"campaign{j}", f"project{k}") for i in (1, 2) for j in (1, 2) for k in (1, 2)]
