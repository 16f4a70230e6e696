"""GAFF + AM1-BCC parameters for the solute, TIP3P water, and the OpenMM systems of both legs.

Charges and GAFF atom types are computed once (sqm, antechamber, parmchk2) and captured as a
self-contained OpenMM force-field XML snippet; each leg rebuilds its system from that snippet alone,
so the legs never run AmberTools and can run on machines without it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Optional

import numpy as np
import openmm
from gufe import SmallMoleculeComponent, SolventComponent
from openff.units.openmm import to_openmm
from openmm import app, unit

from ...compute.environment import interpreter_tools_on_path
from .inputs import ParameterizationError, check_parameterizable, molecule_label
from .settings import HydrationSettings

WATER_FORCEFIELD = "amber/tip3p_standard.xml"


@dataclass(frozen=True)
class MoleculeParameters:
    """The solute's parameters in a form that travels in a unit result (a few kB of text)."""

    forcefield: str
    partial_charges: tuple[float, ...]
    ffxml: str

    def to_json_dict(self) -> dict:
        return {"forcefield": self.forcefield, "partial_charges": list(self.partial_charges), "ffxml": self.ffxml}

    @classmethod
    def from_json_dict(cls, data: dict) -> "MoleculeParameters":
        return cls(data["forcefield"], tuple(float(q) for q in data["partial_charges"]), data["ffxml"])


@dataclass
class PreparedSystem:
    """An OpenMM system ready for alchemical modification; lengths in nm."""

    system: openmm.System
    topology: app.Topology
    positions_nm: np.ndarray
    box_nm: Optional[np.ndarray]
    alchemical_atoms: list[int]

    @property
    def n_atoms(self) -> int:
        return self.system.getNumParticles()


def compute_parameters(component: SmallMoleculeComponent, forcefield: str) -> MoleculeParameters:
    """AM1-BCC charges from sqm and GAFF atom types/parameters from antechamber + parmchk2."""
    from openff.toolkit.utils.toolkits import AmberToolsToolkitWrapper
    from openmmforcefields.generators import GAFFTemplateGenerator

    check_parameterizable(component)
    molecule = component.to_openff()
    try:
        with interpreter_tools_on_path():
            molecule.assign_partial_charges("am1bcc", toolkit_registry=AmberToolsToolkitWrapper())
            ffxml = GAFFTemplateGenerator(forcefield=forcefield).generate_residue_template(molecule)
    except Exception as error:
        raise ParameterizationError(
            f"could not parameterize molecule {molecule_label(component)} with {forcefield}/AM1-BCC: {error}"
        ) from error
    charges = tuple(float(q) for q in molecule.partial_charges.m_as("elementary_charge"))
    return MoleculeParameters(forcefield=forcefield, partial_charges=charges, ffxml=ffxml)


def _forcefield(parameters: MoleculeParameters) -> app.ForceField:
    forcefield = app.ForceField(WATER_FORCEFIELD)
    forcefield.loadFile(io.StringIO(parameters.ffxml))
    return forcefield


def _solute_topology(component: SmallMoleculeComponent) -> tuple[app.Topology, np.ndarray]:
    molecule = component.to_openff()
    positions_nm = np.asarray(molecule.conformers[0].m_as("nanometer"), dtype=float)
    return molecule.to_topology().to_openmm(), positions_nm


def build_vacuum_system(
    component: SmallMoleculeComponent, parameters: MoleculeParameters, settings: HydrationSettings
) -> PreparedSystem:
    """The solute alone, no cutoff."""
    topology, positions_nm = _solute_topology(component)
    system = _forcefield(parameters).createSystem(
        topology,
        nonbondedMethod=app.NoCutoff,
        constraints=app.HBonds,
        hydrogenMass=settings.forcefield_settings.hydrogen_mass * unit.amu,
    )
    return PreparedSystem(system, topology, positions_nm, None, list(range(topology.getNumAtoms())))


def build_solvent_system(
    component: SmallMoleculeComponent,
    solvent: SolventComponent,
    parameters: MoleculeParameters,
    settings: HydrationSettings,
) -> PreparedSystem:
    """The solute in a cubic TIP3P box with PME and a Monte Carlo barostat.

    Solvation is deterministic for given inputs, so an extension rebuilds the same atoms.
    """
    topology, positions_nm = _solute_topology(component)
    n_solute = topology.getNumAtoms()
    forcefield = _forcefield(parameters)
    modeller = app.Modeller(topology, positions_nm * unit.nanometer)
    modeller.addSolvent(
        forcefield,
        model="tip3p",
        padding=to_openmm(settings.solvation_settings.solvent_padding),
        positiveIon=solvent.positive_ion,
        negativeIon=solvent.negative_ion,
        ionicStrength=solvent.ion_concentration.m_as("molar") * unit.molar,
        neutralize=solvent.neutralize,
    )
    system = forcefield.createSystem(
        modeller.topology,
        nonbondedMethod=app.PME,
        nonbondedCutoff=to_openmm(settings.forcefield_settings.nonbonded_cutoff),
        constraints=app.HBonds,
        rigidWater=True,
        hydrogenMass=settings.forcefield_settings.hydrogen_mass * unit.amu,
    )
    system.addForce(
        openmm.MonteCarloBarostat(
            to_openmm(settings.thermo_settings.pressure), to_openmm(settings.thermo_settings.temperature)
        )
    )
    box_nm = np.array(modeller.topology.getPeriodicBoxVectors().value_in_unit(unit.nanometer), dtype=float)
    positions = np.array(modeller.positions.value_in_unit(unit.nanometer), dtype=float)
    return PreparedSystem(system, modeller.topology, positions, box_nm, list(range(n_solute)))
