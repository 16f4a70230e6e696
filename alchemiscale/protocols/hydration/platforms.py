"""Choosing the OpenMM platform a leg runs on."""

from __future__ import annotations

from dataclasses import dataclass, field

import openmm

AUTO_ORDER = ("CUDA", "OpenCL", "CPU")
GPU_PLATFORMS = frozenset({"CUDA", "OpenCL"})


@dataclass(frozen=True)
class PlatformChoice:
    platform: openmm.Platform
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.platform.getName()

    @property
    def precision(self) -> str:
        """The precision asked for; CPU and Reference have fixed precision ('native')."""
        return self.properties.get("Precision", "native")


def select_platform(name: str, precision: str) -> PlatformChoice:
    """The named platform, or for 'auto' the first of CUDA > OpenCL > CPU that can create a Context.

    GPUs default to mixed precision; a precision other than 'auto' is only applied on GPUs.
    """
    candidates = AUTO_ORDER if name == "auto" else (name,)
    problems = []
    for candidate in candidates:
        try:
            platform = openmm.Platform.getPlatformByName(candidate)
        except Exception as error:  # OpenMMException: platform not installed
            problems.append(f"{candidate}: {error}")
            continue
        properties = {}
        if candidate in GPU_PLATFORMS:
            properties["Precision"] = "mixed" if precision == "auto" else precision
        usable, reason = _can_create_context(platform, properties)
        if usable:
            return PlatformChoice(platform, properties)
        problems.append(f"{candidate}: {reason}")
    raise RuntimeError(f"no usable OpenMM platform for platform={name!r}: " + "; ".join(problems))


def _can_create_context(platform: openmm.Platform, properties: dict[str, str]) -> tuple[bool, str]:
    """A platform can be installed but unusable (e.g. CUDA without a GPU); a one-particle Context tells."""
    system = openmm.System()
    system.addParticle(1.0)
    try:
        context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform, properties)
    except Exception as error:
        return False, str(error).splitlines()[0] if str(error) else type(error).__name__
    del context
    return True, ""
