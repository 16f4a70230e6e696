"""Building hydration Transformations from a SMILES string or a SmallMoleculeComponent."""

from __future__ import annotations

from typing import Optional, Union

from gufe import ChemicalSystem, SmallMoleculeComponent, SolventComponent, Transformation
from openff.units import unit
from rdkit import Chem
from rdkit.Chem import AllChem

from .protocol import HydrationProtocol
from .settings import HydrationSettings

EMBEDDING_SEED = 42


def pure_water() -> SolventComponent:
    """Water without salt, as hydration free energies are measured (gufe's default adds 0.15 M NaCl)."""
    return SolventComponent(ion_concentration=0.0 * unit.molar)


def small_molecule_from_smiles(smiles: str, name: Optional[str] = None) -> SmallMoleculeComponent:
    """A SmallMoleculeComponent with explicit hydrogens and one embedded conformer (the legs start from it)."""
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

    ``molecule`` is a SMILES string or a SmallMoleculeComponent; ``settings`` default to production and
    ``solvent`` to :func:`pure_water`.
    The Transformation is validated (``HydrationProtocol.validate``): molecules GAFF cannot handle are
    rejected here, before any work is submitted.
    """
    if isinstance(molecule, str):
        component = small_molecule_from_smiles(molecule, name)
    elif isinstance(molecule, SmallMoleculeComponent):
        component = molecule
    else:
        raise TypeError(f"molecule must be a SMILES string or a SmallMoleculeComponent, got {type(molecule).__name__}")
    label = name or component.name or component.smiles
    water = solvent if solvent is not None else pure_water()
    protocol = HydrationProtocol(settings if settings is not None else HydrationSettings.production())
    return Transformation(
        stateA=ChemicalSystem({"ligand": component, "solvent": water}, name=f"{label} in water"),
        stateB=ChemicalSystem({"solvent": water}, name="water"),
        protocol=protocol,
        name=f"{label} hydration",
        validate=True,
    )
