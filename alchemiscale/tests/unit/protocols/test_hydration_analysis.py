"""The hydration protocol's analysis on synthetic replica-exchange data with known answers.

Windows are harmonic wells u_k(x) = κ_k x²/2, so Δf = ½ ln(κ_last / κ_first) exactly; each window's
samples follow an AR(1) process x_n = φ x_{n−1} + √(1−φ²) ξ/√κ_k, correlated on a known time scale.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from alchemiscale.protocols.hydration import HydrationSettings, SolventLegUnit, VacuumLegUnit
from alchemiscale.protocols.hydration.analysis import MIN_UNCORRELATED_SAMPLES, MBARError, mbar_estimate

SPRING = np.array([1.0, 1.6, 2.5, 4.0])
EXPECTED = 0.5 * math.log(SPRING[-1] / SPRING[0])


def correlated_leg(rng: np.random.Generator, n_iterations: int, phi: float, spring=SPRING):
    """(reduced_energies, replica_states) of windows that never exchange, each an AR(1) chain at equilibrium."""
    scale = 1.0 / np.sqrt(spring)
    x = np.empty((n_iterations, len(spring)))
    x[0] = rng.normal(size=len(spring)) * scale
    for n in range(1, n_iterations):
        x[n] = phi * x[n - 1] + math.sqrt(1.0 - phi**2) * rng.normal(size=len(spring)) * scale
    energies = 0.5 * spring[None, None, :] * x[:, :, None] ** 2
    return energies, np.tile(np.arange(len(spring)), (n_iterations, 1))


@pytest.mark.parametrize("method", ["subsample", "block_bootstrap"])
def test_the_minimized_frame_never_counts(method):
    """Iteration 0 can hold anything (here: every window far from its well): the estimate ignores it."""
    energies, states = correlated_leg(np.random.default_rng(3), 300, 0.3)
    garbled = energies.copy()
    garbled[0] = 50.0 * SPRING[None, :]
    kwargs = {"bootstrap_draws": 20} if method == "block_bootstrap" else {}
    clean, dirty = mbar_estimate(energies, states, method, **kwargs), mbar_estimate(garbled, states, method, **kwargs)
    assert clean.equilibration_iterations >= 1 and dirty.equilibration_iterations >= 1
    assert dirty.delta_f_kt == pytest.approx(clean.delta_f_kt, abs=1e-9)
    assert dirty.uncertainty_kt == pytest.approx(clean.uncertainty_kt, abs=1e-9)


def test_subsampling_follows_the_energy_differences_not_the_total_energy():
    """A slow drift common to every window's energy (same configuration, same shift) leaves MBAR's inputs
    uncorrelated: no sample may be thrown away for it, as subsampling on the total energy would."""
    rng = np.random.default_rng(5)
    energies, states = correlated_leg(rng, 800, 0.0)
    drift = np.cumsum(rng.normal(size=800))  # a random walk: enormously correlated
    drifting = energies + drift[:, None, None]
    estimate = mbar_estimate(drifting, states)
    assert estimate.statistical_inefficiency < 1.5
    assert estimate.min_uncorrelated_samples > 500
    assert estimate.delta_f_kt == pytest.approx(EXPECTED, abs=4 * estimate.uncertainty_kt)


def test_subsampling_keeps_about_n_over_g_samples_of_correlated_windows():
    phi = 0.8  # x² of an AR(1) chain has g = (1 + φ²)/(1 − φ²) ≈ 4.6
    energies, states = correlated_leg(np.random.default_rng(11), 2000, phi)
    estimate = mbar_estimate(energies, states)
    assert 3.0 < estimate.statistical_inefficiency < 8.0
    assert all(150 < n < 700 for n in estimate.uncorrelated_samples_per_state)
    assert not estimate.low_sample_warning


@pytest.mark.parametrize(("method", "repeats", "draws"), [("subsample", 40, 0), ("block_bootstrap", 12, 40)])
def test_both_methods_give_calibrated_uncertainties_on_correlated_data(method, repeats, draws):
    """Over independent repeats, errors divided by the reported σ have a spread near 1 and mean near 0."""
    rng = np.random.default_rng(17)
    z = []
    for _ in range(repeats):
        energies, states = correlated_leg(rng, 600, 0.8, spring=SPRING[:3])
        estimate = mbar_estimate(energies, states, method, bootstrap_draws=draws or 200)
        z.append((estimate.delta_f_kt - 0.5 * math.log(SPRING[2])) / estimate.uncertainty_kt)
    z = np.asarray(z)
    assert 0.5 < z.std(ddof=1) < 1.6, z
    assert abs(z.mean()) < 3.0 / math.sqrt(repeats) + 0.3, z


def test_few_uncorrelated_samples_raise_the_warning():
    energies, states = correlated_leg(np.random.default_rng(2), 12, 0.0)
    estimate = mbar_estimate(energies, states)
    assert estimate.min_uncorrelated_samples < MIN_UNCORRELATED_SAMPLES
    assert estimate.low_sample_warning


def test_bad_sample_layouts_are_refused_by_name():
    energies, states = correlated_leg(np.random.default_rng(2), 50, 0.0)
    doubled = states.copy()
    doubled[:, 1] = 0
    with pytest.raises(MBARError, match="exactly one replica in each window"):
        mbar_estimate(energies, doubled)
    with pytest.raises(MBARError, match="too few"):
        mbar_estimate(energies[:2], states[:2])
    with pytest.raises(ValueError, match="unknown analysis method"):
        mbar_estimate(energies, states, method="jackknife")


def test_the_vacuum_leg_runs_its_own_smaller_iteration_count():
    for settings in (HydrationSettings.production(), HydrationSettings.fast()):
        sampling = settings.sampling_settings
        assert VacuumLegUnit._n_iterations(settings) == sampling.vacuum_n_iterations < sampling.n_iterations
        assert SolventLegUnit._n_iterations(settings) == sampling.n_iterations
    changed = HydrationSettings.fast(sampling_settings={"vacuum_n_iterations": 7})
    assert VacuumLegUnit._n_iterations(changed) == 7


def test_windows_too_far_apart_for_bar_still_get_an_estimate():
    """Few samples of wells that do not overlap at all: BAR cannot bracket a step, so MBAR starts from zeros."""
    rng = np.random.default_rng(0)
    centers = np.array([0.0, 10.0, 20.0])
    x = centers[None, :] + rng.normal(size=(8, len(centers)))
    energies = 0.5 * (x[:, :, None] - centers[None, None, :]) ** 2
    states = np.tile(np.arange(len(centers)), (8, 1))
    estimate = mbar_estimate(energies, states, "subsample")
    assert math.isfinite(estimate.delta_f_kt)
