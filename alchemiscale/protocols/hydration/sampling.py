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
class StartingState:
    """Where an extension resumes: one configuration of the fully coupled state (nm)."""

    positions_nm: np.ndarray
    box_nm: Optional[np.ndarray]


@dataclass
class SamplingRun:
    """What the analysis and an extension need from a finished replica-exchange run."""

    reduced_energies: np.ndarray  # [iteration, replica, state], in kT
    replica_states: np.ndarray  # [iteration, replica] -> state index
    final_state: StartingState
    sampling_seconds: float
    simulated_ns: float
    production_ns: float


def run_replica_exchange(
    prepared: PreparedSystem,
    windows: list[tuple[float, float]],
    settings: HydrationSettings,
    platform: PlatformChoice,
    storage: Path,
    start: Optional[StartingState] = None,
) -> SamplingRun:
    """Decouple the solute over ``windows`` of (lambda_electrostatics, lambda_sterics).

    A fresh run minimizes and equilibrates first (``minimization_max_iterations=0`` skips minimizing);
    a run with ``start`` continues from that configuration.
    The netCDF file at ``storage`` holds per-iteration energies and stays where it is written (scratch).
    """
    with quiet_library_logs():
        from openmmtools import cache, mcmc, multistate, states

        thermodynamic_states = _thermodynamic_states(prepared, windows, settings)
        if start is None:
            positions_nm, box_nm = _minimized_positions(prepared, platform, settings), prepared.box_nm
        else:
            positions_nm, box_nm = start.positions_nm, start.box_nm
        if len(positions_nm) != prepared.n_atoms:
            raise ValueError(
                f"cannot extend: the earlier run had {len(positions_nm)} atoms, this system has {prepared.n_atoms}"
            )
        sampler_state = states.SamplerState(
            positions=np.asarray(positions_nm, dtype=float) * unit.nanometer,
            box_vectors=None if box_nm is None else np.asarray(box_nm, dtype=float) * unit.nanometer,
        )
        sampling = settings.sampling_settings
        move = mcmc.LangevinDynamicsMove(
            timestep=to_openmm(settings.integrator_settings.timestep),
            collision_rate=to_openmm(settings.integrator_settings.langevin_collision_rate),
            n_steps=sampling.steps_per_iteration,
            reassign_velocities=False,
            n_restart_attempts=20,
        )
        sampler = multistate.ReplicaExchangeSampler(
            mcmc_moves=move, number_of_iterations=sampling.n_iterations, online_analysis_interval=None
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
        reporter = multistate.MultiStateReporter(str(storage), checkpoint_interval=sampling.n_iterations)
        try:
            sampler.create(thermodynamic_states=thermodynamic_states, sampler_states=sampler_state, storage=reporter)
            equilibration_iterations = sampling.equilibration_iterations if start is None else 0
            if equilibration_iterations > 0:
                sampler.equilibrate(equilibration_iterations)
            started = time.perf_counter()
            sampler.run()
            sampling_seconds = time.perf_counter() - started
            energies, _, _ = reporter.read_energies()
            replica_states = np.asarray(reporter.read_replica_thermodynamic_states())
            final_state = _coupled_state_configuration(sampler, replica_states[-1], prepared.box_nm is not None)
        finally:
            reporter.close()
            for context_cache in (sampler.energy_context_cache, sampler.sampler_context_cache):
                context_cache.empty()
    n_replicas = len(windows)
    production_ns = n_replicas * sampling.n_iterations * settings.ns_per_iteration
    return SamplingRun(
        reduced_energies=np.asarray(energies, dtype=float),
        replica_states=replica_states,
        final_state=final_state,
        sampling_seconds=sampling_seconds,
        simulated_ns=production_ns + n_replicas * equilibration_iterations * settings.ns_per_iteration,
        production_ns=production_ns,
    )


def _minimized_positions(prepared: PreparedSystem, platform: PlatformChoice, settings: HydrationSettings) -> np.ndarray:
    """Minimize once, fully coupled and without alchemical forces, rather than once per replica."""
    max_iterations = settings.sampling_settings.minimization_max_iterations
    if max_iterations == 0:
        return prepared.positions_nm
    context = openmm.Context(
        prepared.system, openmm.VerletIntegrator(0.001), platform.platform, dict(platform.properties)
    )
    if prepared.box_nm is not None:
        context.setPeriodicBoxVectors(*(prepared.box_nm * unit.nanometer))
    context.setPositions(prepared.positions_nm * unit.nanometer)
    openmm.LocalEnergyMinimizer.minimize(context, maxIterations=max_iterations)
    positions = context.getState(getPositions=True).getPositions(asNumpy=True)
    return np.asarray(positions.value_in_unit(unit.nanometer), dtype=float)


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


def _coupled_state_configuration(sampler, last_replica_states: np.ndarray, periodic: bool) -> StartingState:
    """The configuration sitting in the fully coupled window (state 0) at the end: float32 keeps it small."""
    replica = int(np.flatnonzero(np.asarray(last_replica_states) == 0)[0])
    sampler_state = sampler.sampler_states[replica]
    positions = np.asarray(sampler_state.positions.value_in_unit(unit.nanometer), dtype=np.float32)
    box = None
    if periodic:
        box = np.asarray(sampler_state.box_vectors.value_in_unit(unit.nanometer), dtype=np.float32)
    return StartingState(positions_nm=positions, box_nm=box)
