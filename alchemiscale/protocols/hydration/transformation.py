"""Building hydration Transformations from a SMILES string or a SmallMoleculeComponent."""

from __future__ import annotations

from typing import Optional, Union

from gufe import ChemicalSystem, SmallMoleculeComponent, SolventComponent, Transformation
from rdkit import Chem
from rdkit.Chem import AllChem

from .inputs import check_parameterizable
from .protocol import HydrationProtocol
from .settings import HydrationSettings

EMBEDDING_SEED = 42


def small_molecule_from_smiles(smiles: str, name: Optional[str] = None) -> SmallMoleculeComponent:
    """A SmallMoleculeComponent with explicit hydrogens and one embedded conformer (gufe 0.4 needs one)."""
    rdmol = Chem.MolFromSmiles(smiles)
    if rdmol is None:
        raise ValueError(f"cannot parse SMILES {smiles!r} for molecule {name or smiles!r}")
    rdmol = Chem.AddHs(rdmol)
    if AllChem.EmbedMolecule(rdmol, randomSeed=EMBEDDING_SEED) != 0:
        raise ValueError(f"cannot embed a 3D conformer for molecule {name or smiles!r} ({smiles})")
    return SmallMoleculeComponent.from_rdkit(rdmol, name=name or smiles)


def hydration_transformation(
    molecule: Union[str, SmallMoleculeComponent],
    name: Optional[str] = None,
    settings: Optional[HydrationSettings] = None,
    solvent: Optional[SolventComponent] = None,
) -> Transformation:
    """The Transformation {molecule + water} → {water} with a :class:`HydrationProtocol`.

    ``molecule`` is a SMILES string or a SmallMoleculeComponent; ``settings`` default to production.
    Molecules GAFF cannot handle are rejected here, before any work is submitted.
    """
    if isinstance(molecule, str):
        component = small_molecule_from_smiles(molecule, name)
    elif isinstance(molecule, SmallMoleculeComponent):
        component = molecule
    else:
        raise TypeError(f"molecule must be a SMILES string or a SmallMoleculeComponent, got {type(molecule).__name__}")
    check_parameterizable(component)
    label = name or component.name or component.smiles
    water = solvent if solvent is not None else SolventComponent()
    protocol = HydrationProtocol(settings if settings is not None else HydrationSettings.production())
    return Transformation(
        stateA=ChemicalSystem({"ligand": component, "solvent": water}, name=f"{label} in water"),
        stateB=ChemicalSystem({"solvent": water}, name="water"),
        protocol=protocol,
        name=f"{label} hydration",
    )
