"""Absolute hydration free energies: GAFF + AM1-BCC, TIP3P, Hamiltonian replica exchange, MBAR."""

from .inputs import HydrationInputError, ParameterizationError
from .protocol import HydrationProtocol, HydrationProtocolResult
from .settings import (
    EngineSettings,
    HydrationForceFieldSettings,
    HydrationSettings,
    IntegratorSettings,
    LambdaSettings,
    SamplingSettings,
    SolvationSettings,
)
from .transformation import hydration_transformation, pure_water, small_molecule_from_smiles
from .units import HydrationResultUnit, HydrationSetupUnit, SolventLegUnit, VacuumLegUnit

__all__ = [
    "EngineSettings",
    "HydrationForceFieldSettings",
    "HydrationInputError",
    "HydrationProtocol",
    "HydrationProtocolResult",
    "HydrationResultUnit",
    "HydrationSettings",
    "HydrationSetupUnit",
    "IntegratorSettings",
    "LambdaSettings",
    "ParameterizationError",
    "SamplingSettings",
    "SolvationSettings",
    "SolventLegUnit",
    "VacuumLegUnit",
    "hydration_transformation",
    "pure_water",
    "small_molecule_from_smiles",
]
