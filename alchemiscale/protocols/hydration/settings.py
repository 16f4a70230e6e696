"""Settings of the hydration free-energy protocol, as a gufe :class:`~gufe.settings.Settings` tree.

``forcefield_settings`` and ``thermo_settings`` are the surface every gufe protocol shares; the other
sections are this protocol's own. Physical values are openff-units Quantities, converted to the unit each
field names on validation. Each section checks its own fields; :class:`HydrationSettings` checks the rules
that span sections (padding vs cutoff, hydrogen mass vs timestep, a complete thermodynamic state).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from annotated_types import Gt
from gufe.settings import BaseForceFieldSettings, Settings, SettingsBaseModel, ThermoSettings
from gufe.settings.typing import GufeQuantity, NanometerQuantity, specify_quantity_units
from openff.units import Quantity, unit
from pydantic import Field, field_validator, model_validator

FemtosecondQuantity: TypeAlias = Annotated[GufeQuantity, specify_quantity_units("femtosecond")]
InversePicosecondQuantity: TypeAlias = Annotated[GufeQuantity, specify_quantity_units("1/picosecond")]

GaffVersion = Literal["gaff-2.11", "gaff-1.81"]
AnalysisMethod = Literal["subsample", "block_bootstrap"]
PlatformName = Literal["auto", "CUDA", "OpenCL", "CPU", "Reference"]
Precision = Literal["auto", "mixed", "single", "double"]

# A small molecule's box is at least twice the padding; it must stay above twice the cutoff under pressure.
PADDING_MARGIN = 0.1 * unit.nanometer
MAX_TIMESTEP = 5.0 * unit.femtosecond
# Above this timestep, hydrogens need repartitioned mass of at least MIN_HMR_HYDROGEN_MASS amu.
HMR_TIMESTEP = 2.0 * unit.femtosecond
MIN_HMR_HYDROGEN_MASS = 3.0

PRODUCTION_LAMBDA_ELECTROSTATICS = (1.0, 0.75, 0.5, 0.25) + (0.0,) * 12
PRODUCTION_LAMBDA_STERICS = (1.0,) * 5 + (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3, 0.2, 0.1, 0.0)

FAST_LAMBDA_ELECTROSTATICS = (1.0, 0.67, 0.33, 0.0, 0.0, 0.0, 0.0, 0.0)
FAST_LAMBDA_STERICS = (1.0, 1.0, 1.0, 1.0, 0.7, 0.45, 0.25, 0.0)

# What the fast preset changes relative to production, section by section.
FAST_CHANGES: dict[str, dict[str, Any]] = {
    "forcefield_settings": {"nonbonded_cutoff": 0.8 * unit.nanometer},
    "solvation_settings": {"solvent_padding": 1.0 * unit.nanometer},
    "lambda_settings": {
        "lambda_electrostatics": FAST_LAMBDA_ELECTROSTATICS,
        "lambda_sterics": FAST_LAMBDA_STERICS,
    },
    "sampling_settings": {
        "minimization_max_iterations": 200,
        "equilibration_md_steps": 2500,
        "equilibration_iterations": 3,
        "n_iterations": 30,
        "vacuum_n_iterations": 25,
        "steps_per_iteration": 125,
    },
}

# The demo preset: the fast preset's windows sampled about four times longer, after a real equilibration.
DEMO_CHANGES: dict[str, dict[str, Any]] = {
    **FAST_CHANGES,
    "sampling_settings": {
        **FAST_CHANGES["sampling_settings"],
        "equilibration_md_steps": 5000,
        "equilibration_iterations": 10,
        "n_iterations": 100,
    },
}


class HydrationForceFieldSettings(BaseForceFieldSettings):
    """GAFF + AM1-BCC for the molecule, TIP3P water, H-bond constraints and PME in the solvent leg."""

    small_molecule_forcefield: GaffVersion = "gaff-2.11"
    """GAFF version for the molecule's atom types and parameters."""
    hydrogen_mass: float = Field(3.0, ge=1.0, le=5.0)
    """Hydrogen mass in amu after repartitioning from the bonded heavy atom (1.008: no repartitioning)."""
    nonbonded_cutoff: Annotated[NanometerQuantity, Gt(0)] = 1.0 * unit.nanometer
    """PME real-space cutoff of the solvent leg (the vacuum leg has none)."""


class LambdaSettings(SettingsBaseModel):
    """The solvent leg's windows: electrostatics are switched off first, then sterics.

    1.0 is fully coupled, 0.0 decoupled. The vacuum leg samples only the windows with full sterics, since
    decoupled sterics have no partner to interact with in vacuum.
    """

    lambda_electrostatics: tuple[float, ...] = PRODUCTION_LAMBDA_ELECTROSTATICS
    lambda_sterics: tuple[float, ...] = PRODUCTION_LAMBDA_STERICS

    @model_validator(mode="after")
    def _check_schedule(self) -> "LambdaSettings":
        _check_lambda_schedule(self.lambda_electrostatics, self.lambda_sterics)
        if len(self.vacuum_window_indices()) < 2:
            raise ValueError(
                "the lambda schedule needs a window with lambda_electrostatics=0.0 and lambda_sterics=1.0: "
                "the vacuum leg samples the full-sterics windows and needs at least two of them"
            )
        return self

    @property
    def n_windows(self) -> int:
        return len(self.lambda_electrostatics)

    def vacuum_window_indices(self) -> list[int]:
        """Windows the vacuum leg samples: those where sterics are still fully on."""
        return [i for i, sterics in enumerate(self.lambda_sterics) if sterics == 1.0]


class SolvationSettings(SettingsBaseModel):
    """The cubic TIP3P box of the solvent leg."""

    solvent_padding: Annotated[NanometerQuantity, Gt(0)] = 1.2 * unit.nanometer
    """Minimum distance from the molecule to the box edge."""


class IntegratorSettings(SettingsBaseModel):
    """Langevin dynamics between replica exchanges."""

    timestep: FemtosecondQuantity = 4.0 * unit.femtosecond
    langevin_collision_rate: Annotated[InversePicosecondQuantity, Gt(0)] = 1.0 / unit.picosecond

    @field_validator("timestep")
    @classmethod
    def _timestep_in_range(cls, timestep: Quantity) -> Quantity:
        if not 0 < timestep <= MAX_TIMESTEP:
            raise ValueError(f"timestep must be above 0 and at most {MAX_TIMESTEP:~}, got {timestep:~}")
        return timestep


class SamplingSettings(SettingsBaseModel):
    """How long each leg samples: counts of iterations and MD steps, per replica."""

    minimization_max_iterations: int = Field(1000, ge=0)
    """Energy minimization of the fully coupled system before equilibration; 0 skips it."""
    equilibration_md_steps: int = Field(25000, ge=0)
    """MD steps of the fully coupled system at temperature after minimization (NPT in water, NVT in vacuum),
    before every replica gets its own velocities drawn at temperature (skipped when extending)."""
    equilibration_iterations: int = Field(100, ge=0)
    """Replica-exchange iterations that relax each window before production (skipped when extending)."""
    n_iterations: int = Field(2500, ge=3)
    """Production replica-exchange iterations of the solvent leg."""
    vacuum_n_iterations: int = Field(500, ge=3)
    """Production replica-exchange iterations of the vacuum leg: its few atoms decorrelate fast, so it needs
    fewer iterations than the solvent leg for a σ well below the solvent leg's."""
    steps_per_iteration: int = Field(250, ge=1)
    """MD steps between exchange attempts."""
    analysis_method: AnalysisMethod = "subsample"
    """How each leg's ΔG and σ are estimated (see docs, Analysis): ``subsample`` (MBAR on samples
    subsampled by the correlation time of neighbouring-window energy differences, MBAR's σ) or
    ``block_bootstrap`` (MBAR on every post-equilibration sample, σ from a block bootstrap)."""


class EngineSettings(SettingsBaseModel):
    """Where OpenMM runs."""

    platform: PlatformName = "auto"
    """``auto``: the first of CUDA, OpenCL and CPU that can create a Context."""
    precision: Precision = "auto"
    """Applied on GPU platforms only; ``auto`` means mixed."""


class HydrationSettings(Settings):
    """Everything that defines a hydration free-energy calculation.

    Build one with a preset, :meth:`production` (the protocol's default) or :meth:`fast` (a short calculation
    for demos and tests), and change sections with :meth:`with_changes`.
    """

    forcefield_settings: HydrationForceFieldSettings
    thermo_settings: ThermoSettings
    lambda_settings: LambdaSettings
    solvation_settings: SolvationSettings
    integrator_settings: IntegratorSettings
    sampling_settings: SamplingSettings
    engine_settings: EngineSettings

    @model_validator(mode="after")
    def _check_consistency(self) -> "HydrationSettings":
        temperature, pressure = self.thermo_settings.temperature, self.thermo_settings.pressure
        if temperature is None or temperature.m_as("kelvin") <= 0:
            raise ValueError(f"thermo_settings.temperature must be a positive temperature, got {temperature}")
        if pressure is None or pressure.m_as("bar") <= 0:
            raise ValueError(
                f"thermo_settings.pressure must be a positive pressure (the solvent leg runs at constant "
                f"pressure), got {pressure}"
            )
        padding = self.solvation_settings.solvent_padding
        cutoff = self.forcefield_settings.nonbonded_cutoff
        if padding.m_as("nanometer") < (cutoff + PADDING_MARGIN).m_as("nanometer") - 1e-9:
            raise ValueError(
                f"solvation_settings.solvent_padding ({padding:~}) must exceed forcefield_settings.nonbonded_cutoff "
                f"({cutoff:~}) by at least {PADDING_MARGIN:~}, so the periodic box stays more than twice the cutoff "
                "while the barostat changes its size"
            )
        timestep = self.integrator_settings.timestep
        hydrogen_mass = self.forcefield_settings.hydrogen_mass
        if timestep > HMR_TIMESTEP and hydrogen_mass < MIN_HMR_HYDROGEN_MASS:
            raise ValueError(
                f"integrator_settings.timestep={timestep:~} needs hydrogen mass repartitioning: set "
                f"forcefield_settings.hydrogen_mass to at least {MIN_HMR_HYDROGEN_MASS} (got {hydrogen_mass})"
            )
        return self

    @classmethod
    def production(cls, **changes: Any) -> "HydrationSettings":
        """16 windows, 2.5 ns of replica exchange per window at 4 fs with HMR, 298.15 K and 1 atm."""
        return cls.model_validate(
            _merged(
                {
                    "forcefield_settings": HydrationForceFieldSettings(),
                    "thermo_settings": ThermoSettings(temperature=298.15 * unit.kelvin, pressure=1.01325 * unit.bar),
                    "lambda_settings": LambdaSettings(),
                    "solvation_settings": SolvationSettings(),
                    "integrator_settings": IntegratorSettings(),
                    "sampling_settings": SamplingSettings(),
                    "engine_settings": EngineSettings(),
                },
                changes,
            )
        )

    @classmethod
    def fast(cls, **changes: Any) -> "HydrationSettings":
        """8 windows and 15 ps per window: a smoke test, not a converged estimate."""
        return cls.production(**_merged(FAST_CHANGES, changes))

    @classmethod
    def demo(cls, **changes: Any) -> "HydrationSettings":
        """The fast preset's 8 windows with 50 ps each: about 0.5 kcal/mol for methane, methanol or ethanol
        in under 5 minutes on 2 CPU cores (see docs, Presets)."""
        return cls.production(**_merged(DEMO_CHANGES, changes))

    def with_changes(self, **changes: Any) -> "HydrationSettings":
        """A validated, unfrozen copy with some sections changed.

        Each keyword names a section: a dict changes only the fields it names, a settings object replaces
        the section, e.g. ``settings.with_changes(engine_settings={"platform": "CPU"})``.
        """
        return type(self).model_validate(_merged(self.model_dump(), changes))

    @property
    def n_windows(self) -> int:
        return self.lambda_settings.n_windows

    @property
    def ns_per_iteration(self) -> float:
        """Simulated time per replica per iteration."""
        timestep = self.integrator_settings.timestep
        return (self.sampling_settings.steps_per_iteration * timestep).m_as("nanosecond")


def _merged(sections: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``sections`` with ``changes`` applied: dicts update a section given as a dict or object, others replace it."""
    merged = dict(sections)
    for name, change in changes.items():
        current = merged.get(name)
        if isinstance(change, dict) and isinstance(current, SettingsBaseModel):
            current = current.model_dump()
        if isinstance(change, dict) and isinstance(current, dict):
            change = {**current, **change}
        merged[name] = change
    return merged


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
