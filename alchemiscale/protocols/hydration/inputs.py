"""Checks on the ChemicalSystems a hydration Transformation connects, made before any work is queued."""

from __future__ import annotations

from gufe import ChemicalSystem, SmallMoleculeComponent, SolventComponent
from gufe.protocols import ProtocolValidationError

# Elements GAFF has atom types for; sqm's AM1 would accept more, but GAFF typing would then fail.
GAFF_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})


class ParameterizationError(ProtocolValidationError, ValueError):
    """A molecule cannot be given GAFF parameters and AM1-BCC charges."""


class HydrationInputError(ProtocolValidationError, ValueError):
    """The two ChemicalSystems do not describe a hydration free energy."""


def molecule_label(component: SmallMoleculeComponent) -> str:
    """How errors name a molecule: its name and SMILES, so it can be found in a large network."""
    return f"'{component.name}' ({component.smiles})" if component.name else f"'{component.smiles}'"


def check_parameterizable(component: SmallMoleculeComponent) -> None:
    """Reject molecules GAFF/AM1-BCC cannot handle, naming the molecule and the reason."""
    rdmol = component.to_rdkit()
    elements = {atom.GetSymbol() for atom in rdmol.GetAtoms()}
    unsupported = sorted(elements - GAFF_ELEMENTS)
    if unsupported:
        raise ParameterizationError(
            f"molecule {molecule_label(component)} contains element(s) {', '.join(unsupported)} that GAFF "
            f"cannot parameterize (supported: {', '.join(sorted(GAFF_ELEMENTS))})"
        )
    charge = sum(atom.GetFormalCharge() for atom in rdmol.GetAtoms())
    if charge != 0:
        raise ParameterizationError(
            f"molecule {molecule_label(component)} has net charge {charge:+d}; this protocol decouples "
            "neutral molecules only"
        )
    if any(atom.GetNumRadicalElectrons() for atom in rdmol.GetAtoms()):
        raise ParameterizationError(f"molecule {molecule_label(component)} has radical electrons")
    if rdmol.GetNumConformers() == 0:
        raise ParameterizationError(f"molecule {molecule_label(component)} has no 3D conformer")


def solute_and_solvent(
    stateA: ChemicalSystem, stateB: ChemicalSystem
) -> tuple[SmallMoleculeComponent, SolventComponent]:
    """The molecule being hydrated and the water, after checking stateA = molecule + water, stateB = water."""
    molecules_a = _components_of(stateA, SmallMoleculeComponent)
    molecules_b = _components_of(stateB, SmallMoleculeComponent)
    solvents_a = _components_of(stateA, SolventComponent)
    solvents_b = _components_of(stateB, SolventComponent)
    if len(molecules_a) != 1:
        raise HydrationInputError(
            "stateA must contain exactly one SmallMoleculeComponent (the molecule to hydrate), "
            f"found {len(molecules_a)}"
        )
    if molecules_b:
        raise HydrationInputError(
            f"stateB must contain no SmallMoleculeComponent, found {[m.name or m.smiles for m in molecules_b]}"
        )
    if len(solvents_a) != 1 or len(solvents_b) != 1:
        raise HydrationInputError(
            f"stateA and stateB must each contain one SolventComponent, found {len(solvents_a)} and {len(solvents_b)}"
        )
    if solvents_a[0] != solvents_b[0]:
        raise HydrationInputError("stateA and stateB must contain the same SolventComponent")
    others = len(stateA.components) - 2, len(stateB.components) - 1
    if any(others):
        raise HydrationInputError("stateA may hold only the molecule and the solvent, stateB only the solvent")
    solvent = solvents_a[0]
    if solvent.smiles != "O":
        raise HydrationInputError(f"the solvent must be water (SMILES 'O'), got {solvent.smiles!r}")
    return molecules_a[0], solvent


def _components_of(system: ChemicalSystem, kind: type) -> list:
    return [c for c in system.components.values() if isinstance(c, kind)]
