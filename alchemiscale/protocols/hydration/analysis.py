"""MBAR free energies from replica-exchange energies, and combining legs and repeats."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .quiet import quiet_library_logs

# Boltzmann constant in kcal/(mol K) (CODATA 2018 via N_A).
KB_KCAL_PER_MOL_K = 0.0019872042586408316


def kt_kcal_per_mol(temperature_kelvin: float) -> float:
    return KB_KCAL_PER_MOL_K * temperature_kelvin


class MBARError(RuntimeError):
    """MBAR could not produce free energies from a leg's energies."""


@dataclass(frozen=True)
class MBAREstimate:
    """Free energy of decoupling (last window minus first) in kT, with MBAR's quality signals."""

    delta_f_kt: float
    uncertainty_kt: float
    min_neighbour_overlap: float
    equilibration_iterations: int
    statistical_inefficiency: float
    n_uncorrelated_iterations: int


def mbar_estimate(reduced_energies: np.ndarray, replica_states: np.ndarray) -> MBAREstimate:
    """Discard the equilibration, subsample to uncorrelated iterations, and run MBAR (pymbar).

    ``reduced_energies[n, r, k]`` is replica r's configuration at iteration n evaluated in window k;
    ``replica_states[n, r]`` is the window replica r sampled at iteration n.
    """
    with quiet_library_logs():
        import pymbar
        from pymbar import timeseries

        n_iterations, n_replicas, n_states = reduced_energies.shape
        sampled = reduced_energies[np.arange(n_iterations)[:, None], np.arange(n_replicas)[None, :], replica_states]
        total_energy = sampled.sum(axis=1)
        equilibration, inefficiency, _ = timeseries.detect_equilibration(total_energy)
        kept = equilibration + np.asarray(
            timeseries.subsample_correlated_data(total_energy[equilibration:], g=inefficiency), dtype=int
        )

        u_kn = reduced_energies[kept].reshape(-1, n_states).T  # samples ordered (iteration, replica)
        origin = replica_states[kept].reshape(-1)
        order = np.argsort(origin, kind="stable")
        u_kn = u_kn[:, order]
        n_k = np.bincount(origin, minlength=n_states)

        try:
            # Annihilating intramolecular electrostatics shifts windows by tens of kT; starting the
            # solver from BAR estimates instead of zeros keeps it from failing on such offsets.
            # pymbar's BAR passes options scipy does not know, and scipy warns about them each time.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Unknown solver options")
                mbar = pymbar.MBAR(u_kn, n_k, initialize="BAR")
            differences = mbar.compute_free_energy_differences(compute_uncertainty=True)
            overlap = np.asarray(mbar.compute_overlap()["matrix"])
        except pymbar.utils.ParameterError as error:
            raise MBARError(
                f"MBAR did not converge ({error}); the lambda windows probably overlap too little: "
                "add windows or sample longer"
            ) from error
    neighbour_overlaps = [min(overlap[i, i + 1], overlap[i + 1, i]) for i in range(n_states - 1)]
    return MBAREstimate(
        delta_f_kt=float(differences["Delta_f"][0, -1]),
        uncertainty_kt=float(differences["dDelta_f"][0, -1]),
        min_neighbour_overlap=float(min(neighbour_overlaps)),
        equilibration_iterations=int(equilibration),
        statistical_inefficiency=float(inefficiency),
        n_uncorrelated_iterations=int(len(kept)),
    )


def hydration_free_energy(
    vacuum_kcal: float, vacuum_sigma: float, solvent_kcal: float, solvent_sigma: float
) -> tuple[float, float]:
    """ΔG_hyd = ΔG(decouple in vacuum) − ΔG(decouple in water); independent legs add in quadrature."""
    return vacuum_kcal - solvent_kcal, math.hypot(vacuum_sigma, solvent_sigma)


def combine_repeats(estimates: Sequence[float], uncertainties: Sequence[float]) -> tuple[float, float]:
    """Mean of independent repeats; the uncertainty is the standard error of that mean.

    One repeat has no spread to measure, so its own MBAR uncertainty is used; with several, the larger
    of the spread-based standard error and the propagated MBAR error is reported, so a few repeats
    that agree by chance do not claim more precision than their sampling supports.
    """
    if not estimates:
        raise ValueError("no successful results to combine")
    values = np.asarray(estimates, dtype=float)
    sigmas = np.asarray(uncertainties, dtype=float)
    mean = float(values.mean())
    propagated = float(np.sqrt(np.sum(sigmas**2)) / len(values))
    if len(values) == 1:
        return mean, propagated
    standard_error = float(values.std(ddof=1) / np.sqrt(len(values)))
    return mean, max(standard_error, propagated)
