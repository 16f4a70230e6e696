"""Absolute hydration free energies: GAFF + AM1-BCC, TIP3P, Hamiltonian replica exchange, MBAR."""

from .inputs import HydrationInputError, ParameterizationError
from .protocol import HydrationProtocol, HydrationProtocolResult
from .settings import HydrationSettings
from .transformation import hydration_transformation, small_molecule_from_smiles
from .units import HydrationResultUnit, HydrationSetupUnit, SolventLegUnit, VacuumLegUnit

__all__ = [
    "HydrationInputError",
    "HydrationProtocol",
    "HydrationProtocolResult",
    "HydrationResultUnit",
    "HydrationSettings",
    "HydrationSetupUnit",
    "ParameterizationError",
    "SolventLegUnit",
    "VacuumLegUnit",
    "hydration_transformation",
    "small_molecule_from_smiles",
]
