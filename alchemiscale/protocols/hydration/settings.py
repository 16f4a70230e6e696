"""Settings of the hydration free-energy protocol.

gufe 0.4 hashes a Protocol through its settings and encodes them with its own JSON codec, so the settings
are a frozen (hashable) model of plain numbers, strings and tuples, with units spelled out in field names.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GaffVersion = Literal["gaff-2.11", "gaff-1.81"]
PlatformName = Literal["auto", "CUDA", "OpenCL", "CPU", "Reference"]
Precision = Literal["auto", "mixed", "single", "double"]

# A small molecule's box is at least twice the padding; it must stay above twice the cutoff under pressure.
PADDING_MARGIN_NM = 0.1

PRODUCTION_LAMBDA_ELECTROSTATICS = (1.0, 0.75, 0.5, 0.25) + (0.0,) * 12
PRODUCTION_LAMBDA_STERICS = (1.0,) * 5 + (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3, 0.2, 0.1, 0.0)

FAST_LAMBDA_ELECTROSTATICS = (1.0, 0.67, 0.33, 0.0, 0.0, 0.0, 0.0, 0.0)
FAST_LAMBDA_STERICS = (1.0, 1.0, 1.0, 1.0, 0.7, 0.45, 0.25, 0.0)


class HydrationSettings(BaseModel):
    """Everything that defines a hydration free-energy calculation.

    The defaults are the production preset; :meth:`fast` gives a short calculation for demos and tests.
    The lambda schedule is the solvent leg's: electrostatics are switched off first, then sterics.
    The vacuum leg samples only the windows with full sterics, since decoupled sterics have no partner
    to interact with in vacuum.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    forcefield: GaffVersion = "gaff-2.11"
    temperature_kelvin: float = Field(298.15, gt=0)
    pressure_bar: float = Field(1.01325, gt=0)
    timestep_fs: float = Field(4.0, gt=0, le=5.0)
    hydrogen_mass_amu: float = Field(3.0, ge=1.0, le=5.0)
    collision_rate_per_ps: float = Field(1.0, gt=0)
    solvent_padding_nm: float = Field(1.2, gt=0)
    nonbonded_cutoff_nm: float = Field(1.0, gt=0)
    lambda_electrostatics: tuple[float, ...] = PRODUCTION_LAMBDA_ELECTROSTATICS
    lambda_sterics: tuple[float, ...] = PRODUCTION_LAMBDA_STERICS
    minimization_max_iterations: int = Field(1000, ge=0)
    equilibration_iterations: int = Field(100, ge=0)
    n_iterations: int = Field(2500, ge=2)
    steps_per_iteration: int = Field(250, ge=1)
    platform: PlatformName = "auto"
    precision: Precision = "auto"

    @model_validator(mode="after")
    def _check_consistency(self) -> "HydrationSettings":
        _check_lambda_schedule(self.lambda_electrostatics, self.lambda_sterics)
        if len(self.vacuum_window_indices()) < 2:
            raise ValueError(
                "the lambda schedule needs a window with lambda_electrostatics=0.0 and lambda_sterics=1.0: "
                "the vacuum leg samples the full-sterics windows and needs at least two of them"
            )
        if self.solvent_padding_nm < self.nonbonded_cutoff_nm + PADDING_MARGIN_NM - 1e-9:
            raise ValueError(
                f"solvent_padding_nm ({self.solvent_padding_nm}) must exceed nonbonded_cutoff_nm "
                f"({self.nonbonded_cutoff_nm}) by at least {PADDING_MARGIN_NM} nm, so the periodic box stays "
                "more than twice the cutoff while the barostat changes its size"
            )
        if self.timestep_fs > 2.0 and self.hydrogen_mass_amu < 3.0:
            raise ValueError(
                f"timestep_fs={self.timestep_fs} needs hydrogen mass repartitioning: "
                f"set hydrogen_mass_amu to at least 3.0 (got {self.hydrogen_mass_amu})"
            )
        return self

    @classmethod
    def production(cls, **changes: Any) -> "HydrationSettings":
        """16 windows, 2.5 ns of replica exchange per window at 4 fs with HMR."""
        return cls(**changes)

    @classmethod
    def fast(cls, **changes: Any) -> "HydrationSettings":
        """8 windows and 15 ps per window: a smoke test or demo, not a converged estimate."""
        preset: dict[str, Any] = dict(
            solvent_padding_nm=1.0,
            nonbonded_cutoff_nm=0.8,
            lambda_electrostatics=FAST_LAMBDA_ELECTROSTATICS,
            lambda_sterics=FAST_LAMBDA_STERICS,
            minimization_max_iterations=200,
            equilibration_iterations=3,
            n_iterations=30,
            steps_per_iteration=125,
        )
        preset.update(changes)
        return cls(**preset)

    def with_changes(self, **changes: Any) -> "HydrationSettings":
        """A validated copy with some fields changed (``model_copy`` would skip validation)."""
        return type(self).model_validate({**self.to_json_dict(), **changes})

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON values (tuples become lists)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "HydrationSettings":
        return cls.model_validate(data)

    @property
    def n_windows(self) -> int:
        return len(self.lambda_electrostatics)

    def vacuum_window_indices(self) -> list[int]:
        """Windows the vacuum leg samples: those where sterics are still fully on."""
        return [i for i, sterics in enumerate(self.lambda_sterics) if sterics == 1.0]

    @property
    def ns_per_iteration(self) -> float:
        return self.steps_per_iteration * self.timestep_fs * 1e-6


def _check_lambda_schedule(electrostatics: tuple[float, ...], sterics: tuple[float, ...]) -> None:
    """Coupled first, decoupled last, monotonic, and electrostatics off before sterics start to change."""
    if len(electrostatics) != len(sterics):
        raise ValueError(
            f"lambda_electrostatics has {len(electrostatics)} windows but lambda_sterics has {len(sterics)}"
        )
    if len(electrostatics) < 2:
        raise ValueError("the lambda schedule needs at least 2 windows")
    for name, values in (("lambda_electrostatics", electrostatics), ("lambda_sterics", sterics)):
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"{name} values must lie in [0, 1], got {list(values)}")
        if any(b > a for a, b in zip(values, values[1:])):
            raise ValueError(f"{name} must not increase from one window to the next, got {list(values)}")
        if values[0] != 1.0 or values[-1] != 0.0:
            raise ValueError(f"{name} must start at 1.0 (coupled) and end at 0.0 (decoupled), got {list(values)}")
    for elec, ster in zip(electrostatics, sterics):
        if ster < 1.0 and elec > 0.0:
            raise ValueError(
                "electrostatics must be fully off before sterics are turned down "
                f"(window with lambda_electrostatics={elec}, lambda_sterics={ster})"
            )
