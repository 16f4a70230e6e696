"""Compare computed hydration free energies with experiment for a few small molecules.

Experimental values (kcal/mol) are FreeSolv's. Each molecule runs one full DAG of the built-in
HydrationProtocol in-process, and the script prints computed vs experimental ΔG_hyd with per-leg
throughput and the OpenMM platform used.

    python devtools/validate_hydration.py --preset fast --platform CPU
    python devtools/validate_hydration.py --preset production --platform CUDA --json results.json
    python devtools/validate_hydration.py --molecules methane ethanol --iterations 100
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from gufe.protocols import execute_DAG

from alchemiscale.protocols.hydration import HydrationResultUnit, HydrationSettings, hydration_transformation

# name: (SMILES, experimental ΔG_hyd in kcal/mol, FreeSolv)
MOLECULES = {
    "methane": ("C", 2.00),
    "ethanol": ("CCO", -5.00),
    "toluene": ("Cc1ccccc1", -0.90),
    "acetamide": ("CC(N)=O", -9.71),
    "phenol": ("Oc1ccccc1", -6.60),
}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("fast", "production"), default="fast")
    parser.add_argument("--platform", choices=("auto", "CUDA", "OpenCL", "CPU", "Reference"), default="auto")
    parser.add_argument("--forcefield", choices=("gaff-2.11", "gaff-1.81"), default="gaff-2.11")
    parser.add_argument("--iterations", type=int, help="replica-exchange iterations per leg (overrides the preset)")
    parser.add_argument("--molecules", nargs="+", choices=sorted(MOLECULES), default=list(MOLECULES))
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    return parser.parse_args(argv)


def settings_from(arguments: argparse.Namespace) -> HydrationSettings:
    changes = {
        "engine_settings": {"platform": arguments.platform},
        "forcefield_settings": {"small_molecule_forcefield": arguments.forcefield},
    }
    if arguments.iterations is not None:
        changes["sampling_settings"] = {"n_iterations": arguments.iterations}
    preset = HydrationSettings.fast if arguments.preset == "fast" else HydrationSettings.production
    return preset(**changes)


def run_molecule(name: str, settings: HydrationSettings) -> dict:
    """One DAG for one molecule; the row holds the numbers of the table, or the failure."""
    smiles, experimental = MOLECULES[name]
    transformation = hydration_transformation(smiles, name, settings=settings)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"hydration-{name}-") as workdir:
        shared, scratch = Path(workdir, "shared"), Path(workdir, "scratch")
        shared.mkdir()
        scratch.mkdir()
        dag_result = execute_DAG(
            transformation.create(), shared_basedir=shared, scratch_basedir=scratch, raise_error=False
        )
    total_wall_time_s = time.perf_counter() - started
    row = {"molecule": name, "smiles": smiles, "experimental": experimental, "total_wall_time_s": total_wall_time_s}
    failures = dag_result.protocol_unit_failures
    if not dag_result.ok():
        row["error"] = f"{failures[0].name}: {failures[0].exception[0]}: {failures[0].exception[1]}"
        return row
    (result_unit,) = [u for u in dag_result.protocol_units if isinstance(u, HydrationResultUnit)]
    outputs = dag_result.unit_to_result(result_unit).outputs
    row.update(outputs)
    row["error_kcal_per_mol"] = outputs["delta_g_kcal_per_mol"] - experimental
    return row


def print_table(rows: list[dict], settings: HydrationSettings, preset: str) -> None:
    forcefield = settings.forcefield_settings.small_molecule_forcefield
    print(f"\nHydration free energies, {preset} preset, {forcefield}/AM1-BCC, TIP3P (kcal/mol)")
    header = (
        f"{'molecule':<10} {'exp':>6} {'calc':>7} {'±':>5} {'error':>6} {'vacuum':>7} {'solvent':>8} "
        f"{'overlap':>7} {'vac ns/d':>9} {'solv ns/d':>9} {'platform':>8} {'wall s':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if "error" in row:
            print(f"{row['molecule']:<10} {row['experimental']:>6.2f}  FAILED: {row['error']}")
            continue
        print(
            f"{row['molecule']:<10} {row['experimental']:>6.2f} {row['delta_g_kcal_per_mol']:>7.2f} "
            f"{row['uncertainty_kcal_per_mol']:>5.2f} {row['error_kcal_per_mol']:>6.2f} "
            f"{row['vacuum_delta_g_kcal_per_mol']:>7.2f} {row['solvent_delta_g_kcal_per_mol']:>8.2f} "
            f"{row['min_neighbour_overlap']:>7.3f} {row['vacuum_ns_per_day']:>9.1f} {row['solvent_ns_per_day']:>9.1f} "
            f"{row['platform']:>8} {row['total_wall_time_s']:>7.0f}"
        )
    errors = [row["error_kcal_per_mol"] for row in rows if "error" not in row]
    if errors:
        mue = sum(abs(e) for e in errors) / len(errors)
        rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
        print(f"\nMUE {mue:.2f} kcal/mol, RMSE {rmse:.2f} kcal/mol over {len(errors)} molecule(s)")


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    settings = settings_from(arguments)
    rows = []
    for name in arguments.molecules:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.append(run_molecule(name, settings))
    print_table(rows, settings, arguments.preset)
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(rows, indent=2))
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
