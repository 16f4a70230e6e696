"""Hamiltonian replica exchange over the decoupling windows of one leg (openmmtools multistate)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import openmm
from openff.units.openmm import to_openmm
from openmm import unit

from .parameterize import PreparedSystem
from .platforms import PlatformChoice
from .quiet import quiet_library_logs
from .settings import HydrationSettings


@dataclass(frozen=True)
class ReplicaState:
    """One window's configuration at the end of a run, in full precision: where an extension resumes it."""

    positions_nm: np.ndarray  # [atom, 3]
    velocities_nm_per_ps: np.ndarray  # [atom, 3]
    box_nm: Optional[np.ndarray]  # [3, 3]; None in vacuum


@dataclass
class SamplingRun:
    """What the analysis and an extension need from a finished replica-exchange run."""

    reduced_energies: np.ndarray  # [iteration, replica, state], in kT
    replica_states: np.ndarray  # [iteration, replica] -> state index
    final_states: list[ReplicaState]  # [window]: the configuration each window held at the end
    sampling_seconds: float
    simulated_ns: float
    production_ns: float


def run_replica_exchange(
    prepared: PreparedSystem,
    windows: list[tuple[float, float]],
    settings: HydrationSettings,
    platform: PlatformChoice,
    n_iterations: int,
    storage: Path,
    start: Optional[list[ReplicaState]] = None,
) -> SamplingRun:
    """Decouple the solute over ``windows`` of (lambda_electrostatics, lambda_sterics) for ``n_iterations``.

    A fresh run minimizes, runs fully coupled MD at temperature (:func:`_equilibrated_start`), gives every
    replica its own velocities drawn at temperature and equilibrates each window by replica exchange
    before production (``minimization_max_iterations=0`` skips minimizing). A run with ``start`` (one
    ReplicaState per window) continues each window from its own configuration and velocities, without
    minimizing or equilibrating again.
    The netCDF file at ``storage`` holds per-iteration energies and stays where it is written (scratch).
    """
    with quiet_library_logs():
        from openmmtools import cache, mcmc, multistate

        thermodynamic_states = _thermodynamic_states(prepared, windows, settings)
        if start is None:
            equilibrated = _equilibrated_start(prepared, platform, settings, n_replicas=len(windows))
            sampler_states, equilibration_md_ns = equilibrated.sampler_states(), equilibrated.simulated_ns
        else:
            sampler_states, equilibration_md_ns = _continued_sampler_states(start, prepared, len(windows)), 0.0
        sampling = settings.sampling_settings
        move = mcmc.LangevinDynamicsMove(
            timestep=to_openmm(settings.integrator_settings.timestep),
            collision_rate=to_openmm(settings.integrator_settings.langevin_collision_rate),
            n_steps=sampling.steps_per_iteration,
            reassign_velocities=False,
            n_restart_attempts=20,
        )
        sampler = multistate.ReplicaExchangeSampler(
            mcmc_moves=move, number_of_iterations=n_iterations, online_analysis_interval=None
        )
        sampler._global_citation_silence = True  # openmmtools prints a citation list to stdout otherwise
        # The global cache cannot change platform while it holds Contexts: empty it, then give the
        # sampler caches of its own on the chosen platform.
        cache.global_context_cache.empty()
        cache.global_context_cache.platform = platform.platform
        sampler.energy_context_cache = cache.ContextCache(
            platform=platform.platform, platform_properties=dict(platform.properties), capacity=None, time_to_live=None
        )
        sampler.sampler_context_cache = cache.ContextCache(
            platform=platform.platform, platform_properties=dict(platform.properties), capacity=None, time_to_live=None
        )
        reporter = multistate.MultiStateReporter(str(storage), checkpoint_interval=n_iterations)
        try:
            sampler.create(thermodynamic_states=thermodynamic_states, sampler_states=sampler_states, storage=reporter)
            equilibration_iterations = sampling.equilibration_iterations if start is None else 0
            if equilibration_iterations > 0:
                sampler.equilibrate(equilibration_iterations)
            started = time.perf_counter()
            sampler.run()
            sampling_seconds = time.perf_counter() - started
            energies, _, _ = reporter.read_energies()
            replica_states = np.asarray(reporter.read_replica_thermodynamic_states())
            final_states = _final_states_by_window(sampler, replica_states[-1], prepared.box_nm is not None)
        finally:
            reporter.close()
            for context_cache in (sampler.energy_context_cache, sampler.sampler_context_cache):
                context_cache.empty()
    n_replicas = len(windows)
    production_ns = n_replicas * n_iterations * settings.ns_per_iteration
    return SamplingRun(
        reduced_energies=np.asarray(energies, dtype=float),
        replica_states=replica_states,
        final_states=final_states,
        sampling_seconds=sampling_seconds,
        simulated_ns=production_ns
        + n_replicas * equilibration_iterations * settings.ns_per_iteration
        + equilibration_md_ns,
        production_ns=production_ns,
    )


@dataclass(frozen=True)
class _EquilibratedStart:
    """Where a fresh run's replicas start: one equilibrated configuration, each replica's own velocities."""

    positions_nm: np.ndarray
    box_nm: Optional[np.ndarray]
    velocities_nm_per_ps: list[np.ndarray]
    simulated_ns: float

    def sampler_states(self) -> list:
        from openmmtools import states

        box = None if self.box_nm is None else self.box_nm * unit.nanometer
        return [
            states.SamplerState(
                positions=self.positions_nm * unit.nanometer,
                velocities=velocities * unit.nanometer / unit.picosecond,
                box_vectors=box,
            )
            for velocities in self.velocities_nm_per_ps
        ]


def _equilibrated_start(
    prepared: PreparedSystem, platform: PlatformChoice, settings: HydrationSettings, n_replicas: int
) -> _EquilibratedStart:
    """Minimize and equilibrate once, fully coupled and without alchemical forces, rather than once per replica.

    The MD runs at the protocol's temperature, at constant pressure in water (the solvent system carries a
    barostat) and constant volume in vacuum; each replica then gets independent velocities at temperature.
    """
    sampling = settings.sampling_settings
    temperature = to_openmm(settings.thermo_settings.temperature)
    integrator = openmm.LangevinMiddleIntegrator(
        temperature,
        to_openmm(settings.integrator_settings.langevin_collision_rate),
        to_openmm(settings.integrator_settings.timestep),
    )
    context = openmm.Context(prepared.system, integrator, platform.platform, dict(platform.properties))
    try:
        if prepared.box_nm is not None:
            context.setPeriodicBoxVectors(*(prepared.box_nm * unit.nanometer))
        context.setPositions(prepared.positions_nm * unit.nanometer)
        if sampling.minimization_max_iterations > 0:
            openmm.LocalEnergyMinimizer.minimize(context, maxIterations=sampling.minimization_max_iterations)
        context.setVelocitiesToTemperature(temperature)
        integrator.step(sampling.equilibration_md_steps)
        state = context.getState(getPositions=True)
        positions = np.asarray(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=float)
        box = None
        if prepared.box_nm is not None:
            box = np.asarray(state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer), dtype=float)
        velocities = []
        for _ in range(n_replicas):
            context.setVelocitiesToTemperature(temperature)  # a fresh random seed each call
            drawn = context.getState(getVelocities=True).getVelocities(asNumpy=True)
            velocities.append(np.asarray(drawn.value_in_unit(unit.nanometer / unit.picosecond), dtype=float))
    finally:
        del context
    md_ns = (sampling.equilibration_md_steps * settings.integrator_settings.timestep).m_as("nanosecond")
    return _EquilibratedStart(positions, box, velocities, md_ns)


def _thermodynamic_states(prepared: PreparedSystem, windows: list[tuple[float, float]], settings: HydrationSettings):
    """One compound state per window: electrostatics annihilated, sterics decoupled (soft-core)."""
    from openmmtools import alchemy, states

    factory = alchemy.AbsoluteAlchemicalFactory(consistent_exceptions=False)
    region = alchemy.AlchemicalRegion(
        alchemical_atoms=prepared.alchemical_atoms, annihilate_electrostatics=True, annihilate_sterics=False
    )
    alchemical_system = factory.create_alchemical_system(prepared.system, region)
    periodic = prepared.box_nm is not None
    base_state = states.ThermodynamicState(
        alchemical_system,
        temperature=to_openmm(settings.thermo_settings.temperature),
        pressure=to_openmm(settings.thermo_settings.pressure) if periodic else None,
    )
    thermodynamic_states = []
    for electrostatics, sterics in windows:
        alchemical_state = alchemy.AlchemicalState.from_system(alchemical_system)
        alchemical_state.lambda_electrostatics = electrostatics
        alchemical_state.lambda_sterics = sterics
        thermodynamic_states.append(
            states.CompoundThermodynamicState(copy.deepcopy(base_state), composable_states=[alchemical_state])
        )
    return thermodynamic_states


def _continued_sampler_states(start: list[ReplicaState], prepared: PreparedSystem, n_windows: int) -> list:
    """One SamplerState per window from an earlier run's final states, checked against this system."""
    from openmmtools import states

    if len(start) != n_windows:
        raise ValueError(f"cannot extend: the earlier run had {len(start)} windows, this leg has {n_windows}")
    sampler_states = []
    for state in start:
        if len(state.positions_nm) != prepared.n_atoms:
            raise ValueError(
                f"cannot extend: the earlier run had {len(state.positions_nm)} atoms, "
                f"this system has {prepared.n_atoms}"
            )
        sampler_states.append(
            states.SamplerState(
                positions=np.asarray(state.positions_nm, dtype=float) * unit.nanometer,
                velocities=np.asarray(state.velocities_nm_per_ps, dtype=float) * unit.nanometer / unit.picosecond,
                box_vectors=None if state.box_nm is None else np.asarray(state.box_nm, dtype=float) * unit.nanometer,
            )
        )
    return sampler_states


def _final_states_by_window(sampler, last_replica_states: np.ndarray, periodic: bool) -> list[ReplicaState]:
    """Each window's configuration, velocities and box at the end, window 0 first, in float64."""
    replica_of_window = np.argsort(np.asarray(last_replica_states))
    final_states = []
    for replica in replica_of_window:
        sampler_state = sampler.sampler_states[int(replica)]
        box = None
        if periodic:
            box = np.asarray(sampler_state.box_vectors.value_in_unit(unit.nanometer), dtype=float)
        final_states.append(
            ReplicaState(
                positions_nm=np.asarray(sampler_state.positions.value_in_unit(unit.nanometer), dtype=float),
                velocities_nm_per_ps=np.asarray(
                    sampler_state.velocities.value_in_unit(unit.nanometer / unit.picosecond), dtype=float
                ),
                box_nm=box,
            )
        )
    return final_states
