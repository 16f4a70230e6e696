"""Protocols that ship with alchemiscale."""

from .hydration import (
    HydrationProtocol,
    HydrationProtocolResult,
    HydrationSettings,
    ParameterizationError,
    hydration_transformation,
)

__all__ = [
    "HydrationProtocol",
    "HydrationProtocolResult",
    "HydrationSettings",
    "ParameterizationError",
    "hydration_transformation",
]
