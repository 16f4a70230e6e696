"""Compare the two analysis methods of the hydration protocol on the same real runs.

Runs the vacuum and solvent legs of each molecule once (fast preset on the CPU unless changed) and
estimates each leg's ΔG from the same energies with ``subsample`` and ``block_bootstrap``
(alchemiscale/protocols/hydration/analysis.py), printing one row per molecule, leg and method.
Not a test: a few minutes per molecule on 2 cores.

    python devtools/compare_hydration_analysis.py [--iterations 60] [SMILES:NAME ...]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from gufe.protocols import execute_DAG

from alchemiscale.protocols.hydration import (
    HydrationSettings,
    SolventLegUnit,
    VacuumLegUnit,
    hydration_transformation,
)
from alchemiscale.protocols.hydration.analysis import kt_kcal_per_mol, mbar_estimate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("molecules", nargs="*", default=["C:methane", "CO:methanol"])
    parser.add_argument("--iterations", type=int, default=60, help="solvent-leg production iterations")
    parser.add_argument("--vacuum-iterations", type=int, default=60)
    args = parser.parse_args()
    settings = HydrationSettings.fast(
        engine_settings={"platform": "CPU"},
        sampling_settings={"n_iterations": args.iterations, "vacuum_n_iterations": args.vacuum_iterations},
    )
    kt = kt_kcal_per_mol(settings.thermo_settings.temperature.m_as("kelvin"))
    print("molecule  leg      method           ΔG (kcal/mol)  σ      g     min samples/window  t0")
    for spec in args.molecules:
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
            for method in ("subsample", "block_bootstrap"):
                estimate = mbar_estimate(samples["reduced_energies"], samples["replica_states"], method=method)
                print(
                    f"{name:9s} {unit.leg:8s} {method:16s} {estimate.delta_f_kt * kt:13.3f}  "
                    f"{estimate.uncertainty_kt * kt:.3f}  {estimate.statistical_inefficiency:4.2f}  "
                    f"{estimate.min_uncorrelated_samples:18d}  {estimate.equilibration_iterations}"
                )


if __name__ == "__main__":
    main()
