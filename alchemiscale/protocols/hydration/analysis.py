"""MBAR free energies from replica-exchange energies, and combining legs and repeats.

Two ways to turn a leg's energies into ΔG and σ, both on the quantities MBAR actually uses (the reduced
potential differences between neighbouring windows), never on the first stored iteration (the minimized,
unequilibrated configuration):

* ``subsample``: keep every g-th post-equilibration sample of each window, g the statistical inefficiency
  of that window's neighbour differences, and take MBAR's own σ;
* ``block_bootstrap``: keep every post-equilibration sample and take σ from MBAR re-solved on resampled
  blocks of iterations, the blocks as long as the slowest window's correlation time.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .quiet import quiet_library_logs
from .settings import AnalysisMethod

# Boltzmann constant in kcal/(mol K) (CODATA 2018 via N_A).
KB_KCAL_PER_MOL_K = 0.0019872042586408316

# Below this many uncorrelated samples in some window, MBAR's σ itself is unreliable.
MIN_UNCORRELATED_SAMPLES = 20

BOOTSTRAP_DRAWS = 200


def kt_kcal_per_mol(temperature_kelvin: float) -> float:
    return KB_KCAL_PER_MOL_K * temperature_kelvin


class MBARError(RuntimeError):
    """MBAR could not produce free energies from a leg's energies."""


@dataclass(frozen=True)
class MBAREstimate:
    """Free energy of decoupling (last window minus first) in kT, with MBAR's quality signals.

    ``equilibration_iterations`` counts the stored iterations discarded at the start, the minimized
    iteration 0 included; ``uncorrelated_samples_per_state`` is the number of samples each window gave
    MBAR (``subsample``) or their effective number, post-equilibration samples over g (``block_bootstrap``).
    """

    delta_f_kt: float
    uncertainty_kt: float
    min_neighbour_overlap: float
    equilibration_iterations: int
    statistical_inefficiency: float
    uncorrelated_samples_per_state: tuple[int, ...]
    method: AnalysisMethod

    @property
    def min_uncorrelated_samples(self) -> int:
        return min(self.uncorrelated_samples_per_state)

    @property
    def low_sample_warning(self) -> bool:
        """Some window has fewer than MIN_UNCORRELATED_SAMPLES uncorrelated samples: sample longer."""
        return self.min_uncorrelated_samples < MIN_UNCORRELATED_SAMPLES


def mbar_estimate(
    reduced_energies: np.ndarray,
    replica_states: np.ndarray,
    method: AnalysisMethod = "subsample",
    seed: int = 0,
    bootstrap_draws: int = BOOTSTRAP_DRAWS,
) -> MBAREstimate:
    """Discard iteration 0 and the equilibration, then estimate with ``method`` (see the module docstring).

    ``reduced_energies[n, r, k]`` is replica r's configuration at iteration n evaluated in window k;
    ``replica_states[n, r]`` is the window replica r sampled at iteration n (one replica per window).
    ``seed`` makes the bootstrap (``bootstrap_draws`` MBAR solutions) reproducible.
    """
    by_state = _energies_by_state(np.asarray(reduced_energies, dtype=float), np.asarray(replica_states))
    n_iterations, n_states, _ = by_state.shape
    if n_iterations < 3:
        raise MBARError(f"{n_iterations} stored iterations are too few: iteration 0 is discarded, 2 more are needed")
    with quiet_library_logs():
        from pymbar import timeseries

        differences = _neighbour_differences(by_state)
        # Iteration 0 is the minimized configuration: it never counts, whatever detection says.
        equilibration = 1 + int(timeseries.detect_equilibration(_pair_work(by_state)[1:])[0])
        production = by_state[equilibration:]
        inefficiencies = np.array(
            [max(_inefficiency(series[equilibration:]) for series in state) for state in differences]
        )
        if method == "subsample":
            kept = [
                np.asarray(timeseries.subsample_correlated_data(differences[k][0][equilibration:], g=g), dtype=int)
                for k, g in enumerate(inefficiencies)
            ]
            samples = [production[indices, k, :] for k, indices in enumerate(kept)]
            mbar = _solve(samples)
            delta = mbar.compute_free_energy_differences(compute_uncertainty=True)
            delta_f, sigma = float(delta["Delta_f"][0, -1]), float(delta["dDelta_f"][0, -1])
            counts = tuple(len(indices) for indices in kept)
        elif method == "block_bootstrap":
            mbar = _solve([production[:, k, :] for k in range(n_states)])
            delta_f = float(mbar.compute_free_energy_differences(compute_uncertainty=False)["Delta_f"][0, -1])
            block = max(1, math.ceil(float(inefficiencies.max())))
            sigma = _block_bootstrap_sigma(production, block, mbar.f_k, np.random.default_rng(seed), bootstrap_draws)
            counts = tuple(int(len(production) / g) for g in inefficiencies)
        else:
            raise ValueError(f"unknown analysis method {method!r}: use 'subsample' or 'block_bootstrap'")
        overlap = np.asarray(mbar.compute_overlap()["matrix"])
    neighbour_overlaps = [min(overlap[i, i + 1], overlap[i + 1, i]) for i in range(n_states - 1)]
    return MBAREstimate(
        delta_f_kt=delta_f,
        uncertainty_kt=sigma,
        min_neighbour_overlap=float(min(neighbour_overlaps)),
        equilibration_iterations=equilibration,
        statistical_inefficiency=float(inefficiencies.max()),
        uncorrelated_samples_per_state=counts,
        method=method,
    )


def _energies_by_state(reduced_energies: np.ndarray, replica_states: np.ndarray) -> np.ndarray:
    """``[n, k, l]``: the configuration sampled in window k at iteration n, evaluated in window l."""
    n_iterations, n_replicas, n_states = reduced_energies.shape
    if n_replicas != n_states or np.any(np.sort(replica_states, axis=1) != np.arange(n_states)):
        raise MBARError("every iteration must have exactly one replica in each window")
    replica_of_state = np.argsort(replica_states, axis=1)
    return reduced_energies[np.arange(n_iterations)[:, None], replica_of_state]


def _neighbour_differences(by_state: np.ndarray) -> list[list[np.ndarray]]:
    """For each window, u_neighbour − u_own of its samples, towards each neighbouring window."""
    n_states = by_state.shape[1]
    return [
        [by_state[:, k, j] - by_state[:, k, k] for j in (k - 1, k + 1) if 0 <= j < n_states]
        for k in range(n_states)
    ]


def _pair_work(by_state: np.ndarray) -> np.ndarray:
    """Per iteration, Σ over neighbouring pairs of u_{k+1} − u_k on both windows' samples (≈ 2 ΔF).

    One series whose drift shows the whole leg still relaxing, for equilibration detection.
    """
    states = np.arange(by_state.shape[1] - 1)
    forward = by_state[:, states, states + 1] - by_state[:, states, states]
    reverse = by_state[:, states + 1, states + 1] - by_state[:, states + 1, states]
    return (forward + reverse).sum(axis=1)


def _inefficiency(series: np.ndarray) -> float:
    """pymbar's statistical inefficiency; a series that never changes is uncorrelated (g = 1)."""
    from pymbar import timeseries
    from pymbar.utils import ParameterError

    try:
        return max(1.0, float(timeseries.statistical_inefficiency(series)))
    except ParameterError:
        return 1.0


def _solve(samples_by_state: list[np.ndarray], initial_f_k: np.ndarray | None = None):
    """MBAR on each window's samples (rows: samples, columns: windows)."""
    import pymbar

    u_kn = np.concatenate(samples_by_state, axis=0).T
    n_k = np.array([len(samples) for samples in samples_by_state])
    try:
        # Annihilating intramolecular electrostatics shifts windows by tens of kT; starting the
        # solver from BAR estimates instead of zeros keeps it from failing on such offsets.
        # pymbar's BAR passes options scipy does not know, and scipy warns about them each time.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unknown solver options")
            if initial_f_k is None:
                return _mbar_from_bar(u_kn, n_k)
            return pymbar.MBAR(u_kn, n_k, initial_f_k=initial_f_k)
    except pymbar.utils.ParameterError as error:
        raise MBARError(
            f"MBAR did not converge ({error}); the lambda windows probably overlap too little: "
            "add windows or sample longer"
        ) from error


def _mbar_from_bar(u_kn: np.ndarray, n_k: np.ndarray):
    """MBAR started from BAR estimates, or from zeros where BAR cannot bracket a window pair's Δf
    (few samples of poorly overlapping windows). pymbar 4.0.3 means to fall back itself there, but
    its handler names an exception it never imports, so the BoundsError surfaces as a NameError."""
    import pymbar

    try:
        return pymbar.MBAR(u_kn, n_k, initialize="BAR")
    except (pymbar.utils.BoundsError, NameError) as error:
        if not isinstance(error, pymbar.utils.BoundsError) and not isinstance(error.__context__, pymbar.utils.BoundsError):
            raise
        return pymbar.MBAR(u_kn, n_k, initialize="zeros")


def _block_bootstrap_sigma(
    production: np.ndarray, block: int, f_k: np.ndarray, rng: np.random.Generator, draws: int
) -> float:
    """σ of Δf over MBAR on moving blocks of whole iterations (all windows together, so exchanges stay)."""
    n_iterations = len(production)
    block = min(block, n_iterations)
    n_blocks = math.ceil(n_iterations / block)
    estimates = []
    for _ in range(draws):
        starts = rng.integers(0, n_iterations - block + 1, size=n_blocks)
        rows = (starts[:, None] + np.arange(block)[None, :]).reshape(-1)[:n_iterations]
        resampled = production[rows]
        mbar = _solve([resampled[:, k, :] for k in range(resampled.shape[1])], initial_f_k=f_k)
        estimates.append(mbar.f_k[-1] - mbar.f_k[0])
    return float(np.std(estimates, ddof=1))


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
