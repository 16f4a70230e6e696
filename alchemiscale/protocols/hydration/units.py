"""The ProtocolUnits of a hydration DAG: setup → vacuum leg + solvent leg → hydration free energy.

Unit inputs and outputs are plain JSON values, gufe objects, the protocol's Settings or numpy arrays, so a
ProtocolDAGResult encodes with gufe's JSON_HANDLER. Everything large (netCDF energies) stays in ``ctx.scratch``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np
from gufe import SmallMoleculeComponent, SolventComponent
from gufe.protocols import Context, ProtocolUnit, ProtocolUnitResult

from .analysis import hydration_free_energy, kt_kcal_per_mol, mbar_estimate
from .parameterize import (
    MoleculeParameters,
    PreparedSystem,
    build_solvent_system,
    build_vacuum_system,
    compute_parameters,
)
from .platforms import select_platform
from .sampling import ReplicaState, SamplingRun, run_replica_exchange
from .settings import HydrationSettings


class HydrationSetupUnit(ProtocolUnit):
    """Computes AM1-BCC charges and GAFF parameters once; both legs reuse them.

    When extending, the earlier DAG's parameters arrive as ``reuse`` and are passed on unchanged.
    """

    @staticmethod
    def _execute(
        ctx: Context,
        *,
        component: SmallMoleculeComponent,
        settings: HydrationSettings,
        reuse: Optional[dict] = None,
        **inputs,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        if reuse is not None:
            parameters = MoleculeParameters.from_json_dict(reuse)
        else:
            parameters = compute_parameters(component, settings.forcefield_settings.small_molecule_forcefield)
        return {
            "molecule": component.name,
            "smiles": component.smiles,
            "parameters": parameters.to_json_dict(),
            "reused_parameters": reuse is not None,
            "wall_time_s": time.perf_counter() - started,
        }


class HydrationLegUnit(ProtocolUnit):
    """One decoupling leg: build the system, run replica exchange, estimate ΔG with MBAR.

    ``start``, when extending, is the earlier leg's ``continuation`` output (see :func:`continuation`):
    each window resumes from its own final state and the estimate pools the earlier samples with this run's.
    """

    leg: ClassVar[str]

    @classmethod
    def _prepare(
        cls,
        component: SmallMoleculeComponent,
        solvent: SolventComponent,
        parameters: MoleculeParameters,
        settings: HydrationSettings,
    ) -> PreparedSystem:
        raise NotImplementedError

    @classmethod
    def _window_indices(cls, settings: HydrationSettings) -> list[int]:
        raise NotImplementedError

    @classmethod
    def _n_iterations(cls, settings: HydrationSettings) -> int:
        raise NotImplementedError

    @classmethod
    def _execute(
        cls,
        ctx: Context,
        *,
        setup: ProtocolUnitResult,
        component: SmallMoleculeComponent,
        solvent: SolventComponent,
        settings: HydrationSettings,
        start: Optional[dict] = None,
        **inputs,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        parameters = MoleculeParameters.from_json_dict(setup.outputs["parameters"])
        prepared = cls._prepare(component, solvent, parameters, settings)
        schedule = settings.lambda_settings
        windows = [
            (schedule.lambda_electrostatics[i], schedule.lambda_sterics[i]) for i in cls._window_indices(settings)
        ]
        platform = select_platform(settings.engine_settings.platform, settings.engine_settings.precision)
        run = run_replica_exchange(
            prepared,
            windows,
            settings,
            platform,
            n_iterations=cls._n_iterations(settings),
            storage=Path(ctx.scratch) / f"{cls.leg}.nc",
            start=None if start is None else _replica_states(start),
        )
        samples = continuation(run, earlier=start)
        estimate = mbar_estimate(
            samples["reduced_energies"], samples["replica_states"], method=settings.sampling_settings.analysis_method
        )
        kt = kt_kcal_per_mol(settings.thermo_settings.temperature.m_as("kelvin"))
        return {
            "leg": cls.leg,
            "delta_g_kcal_per_mol": estimate.delta_f_kt * kt,
            "uncertainty_kcal_per_mol": estimate.uncertainty_kt * kt,
            "min_neighbour_overlap": estimate.min_neighbour_overlap,
            "n_windows": len(windows),
            "n_atoms": prepared.n_atoms,
            "n_iterations": cls._n_iterations(settings),
            "n_iterations_pooled": len(samples["replica_states"]),
            "equilibration_iterations_discarded": estimate.equilibration_iterations,
            "statistical_inefficiency": estimate.statistical_inefficiency,
            "analysis_method": estimate.method,
            "uncorrelated_samples_per_state": list(estimate.uncorrelated_samples_per_state),
            "min_uncorrelated_samples": estimate.min_uncorrelated_samples,
            "low_sample_warning": estimate.low_sample_warning,
            "simulated_ns": run.simulated_ns,
            "ns_per_day": run.production_ns / run.sampling_seconds * 86400.0,
            "wall_time_s": time.perf_counter() - started,
            "platform": platform.name,
            "precision": platform.precision,
            "extended": start is not None,
            "continuation": samples,
        }


class VacuumLegUnit(HydrationLegUnit):
    """Switches off the solute's electrostatics in vacuum (sterics have nothing to decouple from)."""

    leg = "vacuum"

    @classmethod
    def _prepare(cls, component, solvent, parameters, settings) -> PreparedSystem:
        return build_vacuum_system(component, parameters, settings)

    @classmethod
    def _window_indices(cls, settings: HydrationSettings) -> list[int]:
        return settings.lambda_settings.vacuum_window_indices()

    @classmethod
    def _n_iterations(cls, settings: HydrationSettings) -> int:
        return settings.sampling_settings.vacuum_n_iterations


class SolventLegUnit(HydrationLegUnit):
    """Switches off the solute's electrostatics, then its sterics, in a periodic TIP3P box."""

    leg = "solvent"

    @classmethod
    def _prepare(cls, component, solvent, parameters, settings) -> PreparedSystem:
        return build_solvent_system(component, solvent, parameters, settings)

    @classmethod
    def _window_indices(cls, settings: HydrationSettings) -> list[int]:
        return list(range(settings.n_windows))

    @classmethod
    def _n_iterations(cls, settings: HydrationSettings) -> int:
        return settings.sampling_settings.n_iterations


class HydrationResultUnit(ProtocolUnit):
    """Combines the two legs of one DAG into that DAG's hydration free energy."""

    @staticmethod
    def _execute(ctx: Context, *, vacuum: ProtocolUnitResult, solvent: ProtocolUnitResult, **inputs) -> dict[str, Any]:
        vac, solv = vacuum.outputs, solvent.outputs
        delta_g, sigma = hydration_free_energy(
            vac["delta_g_kcal_per_mol"],
            vac["uncertainty_kcal_per_mol"],
            solv["delta_g_kcal_per_mol"],
            solv["uncertainty_kcal_per_mol"],
        )
        return {
            "delta_g_kcal_per_mol": delta_g,
            "uncertainty_kcal_per_mol": sigma,
            "vacuum_delta_g_kcal_per_mol": vac["delta_g_kcal_per_mol"],
            "vacuum_uncertainty_kcal_per_mol": vac["uncertainty_kcal_per_mol"],
            "solvent_delta_g_kcal_per_mol": solv["delta_g_kcal_per_mol"],
            "solvent_uncertainty_kcal_per_mol": solv["uncertainty_kcal_per_mol"],
            "min_neighbour_overlap": min(vac["min_neighbour_overlap"], solv["min_neighbour_overlap"]),
            "simulated_ns": vac["simulated_ns"] + solv["simulated_ns"],
            "wall_time_s": vac["wall_time_s"] + solv["wall_time_s"],
            "vacuum_ns_per_day": vac["ns_per_day"],
            "solvent_ns_per_day": solv["ns_per_day"],
            "platform": solv["platform"],
            "n_atoms_vacuum": vac["n_atoms"],
            "n_atoms_solvent": solv["n_atoms"],
            "vacuum_uncorrelated_samples_per_state": vac["uncorrelated_samples_per_state"],
            "solvent_uncorrelated_samples_per_state": solv["uncorrelated_samples_per_state"],
            "min_uncorrelated_samples": min(vac["min_uncorrelated_samples"], solv["min_uncorrelated_samples"]),
            "low_sample_warning": vac["low_sample_warning"] or solv["low_sample_warning"],
        }


def continuation(run: SamplingRun, earlier: Optional[dict] = None) -> dict[str, Optional[np.ndarray]]:
    """What an extension needs from a leg: every window's final state and the samples pooled so far.

    Final states are float64 arrays stacked by window (positions and velocities ``[window, atom, 3]``,
    boxes ``[window, 3, 3]`` or None in vacuum). An extension continues each window's trajectory, so its
    iterations follow the earlier ones in one time series (its iteration 0 repeats the earlier last one and
    is dropped): ``reduced_energies`` ``[iteration, replica,
    window]`` (kT) and ``replica_states`` ``[iteration, replica]`` are the earlier leg's followed by this run's.
    """
    finals = run.final_states
    reduced_energies, replica_states = run.reduced_energies, np.asarray(run.replica_states, dtype=np.int16)
    if earlier is not None:
        # This run's iteration 0 holds the configurations the earlier run ended with: they count once.
        reduced_energies = np.concatenate([np.asarray(earlier["reduced_energies"]), reduced_energies[1:]])
        replica_states = np.concatenate([np.asarray(earlier["replica_states"], dtype=np.int16), replica_states[1:]])
    return {
        "positions_nm": np.stack([f.positions_nm for f in finals]),
        "velocities_nm_per_ps": np.stack([f.velocities_nm_per_ps for f in finals]),
        "box_nm": None if finals[0].box_nm is None else np.stack([f.box_nm for f in finals]),
        "reduced_energies": np.asarray(reduced_energies, dtype=float),
        "replica_states": replica_states,
    }


def _replica_states(start: dict) -> list[ReplicaState]:
    """The per-window starting states packed in a ``continuation`` dict."""
    boxes = start["box_nm"]
    return [
        ReplicaState(
            positions_nm=np.asarray(positions),
            velocities_nm_per_ps=np.asarray(velocities),
            box_nm=None if boxes is None else np.asarray(boxes[window]),
        )
        for window, (positions, velocities) in enumerate(zip(start["positions_nm"], start["velocities_nm_per_ps"]))
    ]
