"""Compute managers: processes that start and stop compute services as the work waiting on the server grows
and shrinks. :class:`ComputeManager` is the platform-free base; :mod:`.local` and :mod:`.slurm` are platforms."""

from __future__ import annotations

from .base import ComputeManager, ComputeManagerError, ScalingPlan, plan_scaling
from .settings import (
    ComputeManagerConfig,
    ComputeManagerSettings,
    ComputeManagerSettingsError,
    LocalComputeManagerSettings,
    SlurmComputeManagerSettings,
)

__all__ = [
    "ComputeManager",
    "ComputeManagerConfig",
    "ComputeManagerError",
    "ComputeManagerSettings",
    "ComputeManagerSettingsError",
    "LocalComputeManagerSettings",
    "ScalingPlan",
    "SlurmComputeManagerSettings",
    "manager_from_config",
    "plan_scaling",
]


def manager_from_config(config: ComputeManagerConfig) -> ComputeManager:
    """The manager of ``config.manager.kind``; the SLURM one imports psij only when asked for."""
    if isinstance(config.manager, SlurmComputeManagerSettings):
        from .slurm import SlurmComputeManager

        return SlurmComputeManager(config.manager, config.service)
    from .local import LocalComputeManager

    return LocalComputeManager(config.manager, config.service)
