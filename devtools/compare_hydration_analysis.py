"""Compare the two analysis methods of the hydration protocol, on real runs and on synthetic data.

``real``: runs the vacuum and solvent legs of each molecule once (fast preset on the CPU, iteration counts
changed) and estimates each leg's ΔG from the same energies with ``subsample`` and ``block_bootstrap``
(alchemiscale/protocols/hydration/analysis.py), one row per molecule, leg and method; a few minutes per
molecule on 2 cores. ``synthetic``: many independent correlated harmonic legs with a known Δf (the unit
tests' generator), the error, reported σ and calibration of each method. Not a test.

    python devtools/compare_hydration_analysis.py real [--iterations 60] [SMILES:NAME ...]
    python devtools/compare_hydration_analysis.py synthetic [--repeats 100] [--phi 0.8]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from gufe.protocols import execute_DAG

from alchemiscale.protocols.hydration import (
    HydrationSettings,
    SolventLegUnit,
    VacuumLegUnit,
    hydration_transformation,
)
from alchemiscale.protocols.hydration.analysis import kt_kcal_per_mol, mbar_estimate
from alchemiscale.tests.unit.protocols.test_hydration_analysis import EXPECTED, correlated_leg

METHODS = ("subsample", "block_bootstrap")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    real_parser = commands.add_parser("real", help="real short runs")
    real_parser.add_argument("molecules", nargs="*", default=["C:methane", "CO:methanol"])
    real_parser.add_argument("--iterations", type=int, default=60, help="production iterations of each leg")
    synthetic_parser = commands.add_parser("synthetic", help="correlated harmonic legs with a known answer")
    synthetic_parser.add_argument("--repeats", type=int, default=100)
    synthetic_parser.add_argument("--iterations", type=int, default=1000)
    synthetic_parser.add_argument("--phi", type=float, default=0.8, help="AR(1) coefficient of each window")
    args = parser.parse_args()
    if args.command == "real":
        compare_on_real_runs(args.molecules, args.iterations)
    else:
        compare_on_synthetic_data(args.repeats, args.iterations, args.phi)


def compare_on_real_runs(molecules: list[str], iterations: int) -> None:
    settings = HydrationSettings.fast(
        engine_settings={"platform": "CPU"},
        sampling_settings={"n_iterations": iterations, "vacuum_n_iterations": iterations},
    )
    kt = kt_kcal_per_mol(settings.thermo_settings.temperature.m_as("kelvin"))
    print("molecule  leg      method           ΔG (kcal/mol)  σ      g     min samples/window  t0")
    for spec in molecules:
        smiles, name = spec.split(":")
        with tempfile.TemporaryDirectory() as basedir:
            for sub in ("shared", "scratch"):
                (Path(basedir) / sub).mkdir()
            dag = hydration_transformation(smiles, name, settings=settings).create()
            result = execute_DAG(dag, shared_basedir=Path(basedir) / "shared", scratch_basedir=Path(basedir) / "scratch")
        for unit in result.protocol_units:
            if not isinstance(unit, (VacuumLegUnit, SolventLegUnit)):
                continue
            samples = result.unit_to_result(unit).outputs["continuation"]
            for method in METHODS:
                estimate = mbar_estimate(samples["reduced_energies"], samples["replica_states"], method=method)
                print(
                    f"{name:9s} {unit.leg:8s} {method:16s} {estimate.delta_f_kt * kt:13.3f}  "
                    f"{estimate.uncertainty_kt * kt:.3f}  {estimate.statistical_inefficiency:4.2f}  "
                    f"{estimate.min_uncorrelated_samples:18d}  {estimate.equilibration_iterations}"
                )


def compare_on_synthetic_data(repeats: int, iterations: int, phi: float) -> None:
    print(f"{repeats} legs of 4 windows, {iterations} iterations, AR(1) φ={phi}; exact Δf = {EXPECTED:.4f} kT")
    print("method           RMS error  mean σ  SD(error/σ)  within 2σ     s per estimate")
    for method in METHODS:
        rng = np.random.default_rng(2024)
        errors, sigmas, started = [], [], time.perf_counter()
        for _ in range(repeats):
            energies, states = correlated_leg(rng, iterations, phi)
            estimate = mbar_estimate(energies, states, method=method)
            errors.append(estimate.delta_f_kt - EXPECTED)
            sigmas.append(estimate.uncertainty_kt)
        errors, sigmas = np.asarray(errors), np.asarray(sigmas)
        z = errors / sigmas
        print(
            f"{method:16s} {math.sqrt(np.mean(errors**2)):9.4f}  {sigmas.mean():6.4f}  {z.std(ddof=1):11.2f}  "
            f"{np.mean(np.abs(z) < 2):12.0%}  {(time.perf_counter() - started) / repeats:14.2f}"
        )


if __name__ == "__main__":
    main()
