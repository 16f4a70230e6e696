"""Validate the built-in hydration protocol against FreeSolv, with openfe's AbsoluteSolvationProtocol beside it.

The script brings up a local deployment (Neo4j, both APIs, compute services), submits one network through
``AlchemiscaleClient`` that holds, for each molecule, a ``HydrationProtocol`` Transformation and (unless
``--protocols alchemiscale``) an openfe ``AbsoluteSolvationProtocol`` Transformation of the same molecule, force field and
water, sized to about the same wall time; it actions ``--repeats`` Tasks per Transformation, follows them
while the compute services run them, and reads every Task's result back through the API. It prints one row
per Task and, per protocol, MUE, RMSE and R² against FreeSolv's calculated (GAFF 1.x) and experimental values,
and writes the rows as JSON and a scatter plot as PNG.

    python devtools/validate_hydration.py                      # the 20 default molecules, fast preset
    python devtools/validate_hydration.py --preset demo --repeats 3 --protocols alchemiscale \\
        --molecules methane methanol ethanol                 # the demo preset's accuracy and spread
    python devtools/validate_hydration.py --preset production --platform CUDA --compute-services 4

FreeSolv's ``calc`` column is GAFF 1.x / AM1-BCC / TIP3P, so ``--forcefield gaff-1.81`` (the default here)
compares like with like; ``gaff-2.11`` shows the force field's own shift.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_FREESOLV = REPOSITORY.parent / "shared" / "data" / "freesolv-small.tsv"
TERMINAL = frozenset({"complete", "error", "invalid", "deleted"})
OURS, OPENFE = "alchemiscale", "openfe"

# Chosen across chemistry: every class of the list, small enough to run on a CPU.
DEFAULT_MOLECULES = {
    "alkanes": ["methane"],
    "alcohols": ["methanol", "ethanol"],
    "amines": ["methanamine", "ethanamine"],
    "amides": ["acetamide", "N-methylacetamide"],
    "acids": ["acetic acid", "propionic acid"],
    "aromatics": ["benzene", "toluene", "pyridine", "phenol"],
    "halides": ["chloromethane", "chlorobenzene"],
    "thiols": ["methanethiol", "propanethiol"],
    "ethers": ["methoxymethane", "tetrahydrofuran"],
    "nitriles": ["acetonitrile"],
}

# openfe's AHFE near the budget of our fast preset: production this short leaves its fixed costs (pre-
# equilibration, 14 + 14 replicas, analysis), measured at 224 s of CPU per Task against about 140 s for ours;
# other presets scale both legs' production by the ratio of their solvent sampling to the fast preset's.
OPENFE_FAST_SOLVENT_PRODUCTION_PS = 5.0
OPENFE_FAST_VACUUM_PRODUCTION_PS = 2.5


@dataclass(frozen=True)
class Molecule:
    name: str
    smiles: str
    chemistry: str
    experimental: float  # FreeSolv, kcal/mol
    calculated: float  # FreeSolv's GAFF 1.x / AM1-BCC / TIP3P value, kcal/mol


@dataclass
class Row:
    molecule: str
    chemistry: str
    protocol: str
    run: int
    experimental: float
    freesolv_calc: float
    status: str
    delta_g: Optional[float] = None
    uncertainty: Optional[float] = None
    wall_s: Optional[float] = None
    min_overlap: Optional[float] = None
    error: Optional[str] = None
    extra: dict = field(default_factory=dict)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("fast", "demo", "production"), default="fast")
    parser.add_argument("--forcefield", choices=("gaff-1.81", "gaff-2.11"), default="gaff-1.81")
    parser.add_argument("--platform", choices=("auto", "CUDA", "OpenCL", "CPU"), default="CPU")
    parser.add_argument("--molecules", nargs="+", metavar="NAME",
                        help="FreeSolv names (default: 20 molecules across chemistry)")
    parser.add_argument("--repeats", type=int, default=1, help="Tasks per Transformation, each reported alone")
    parser.add_argument("--protocols", nargs="+", choices=(OURS, OPENFE), default=[OURS, OPENFE],
                        help="which protocols to run (default both)")
    parser.add_argument("--compute-services", type=int, default=1,
                        help="compute services sharing the CPU cores (threads are split between them)")
    parser.add_argument("--freesolv", type=Path, default=DEFAULT_FREESOLV, help="FreeSolv TSV")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--plot", type=Path, help="write the scatter plot (PNG) here")
    parser.add_argument("--keep", action="store_true", help="leave the deployment's data folder in place")
    parser.add_argument("--data-dir", type=Path,
                        help="use the local deployment running in this folder (`alchemiscale local up`)")
    parser.add_argument("--collect", action="store_true",
                        help="with --data-dir: submit nothing, report the Tasks of the validation networks there "
                             "(e.g. after stopping a run with Ctrl-C); unfinished Tasks are listed as such")
    parser.add_argument("--from-json", nargs="+", type=Path, metavar="ROWS",
                        help="report and plot rows written by earlier runs (--json) instead of running")
    arguments = parser.parse_args(argv)
    if arguments.repeats < 1 or arguments.compute_services < 1:
        parser.error("--repeats and --compute-services must be at least 1")
    if arguments.collect and arguments.data_dir is None:
        parser.error("--collect reads a running deployment: give its --data-dir")
    return arguments


def read_freesolv(path: Path, names: Optional[list[str]]) -> list[Molecule]:
    """The chosen molecules with their FreeSolv values; unknown names are an error naming them."""
    if not path.exists():
        raise SystemExit(f"FreeSolv table not found at {path}; pass --freesolv PATH")
    with path.open() as handle:
        lines = [line for line in handle if not line.startswith("#")]
    table = {row["name"]: row for row in csv.DictReader(lines, delimiter="\t")}
    chemistry = {name: group for group, members in DEFAULT_MOLECULES.items() for name in members}
    wanted = names or [name for members in DEFAULT_MOLECULES.values() for name in members]
    unknown = [name for name in wanted if name not in table]
    if unknown:
        raise SystemExit(f"not in {path.name}: {', '.join(unknown)}")
    return [Molecule(name, table[name]["smiles"], chemistry.get(name, "other"), float(table[name]["expt"]),
                     float(table[name]["calc_gaff"])) for name in wanted]


def hydration_settings(arguments: argparse.Namespace):
    from alchemiscale.protocols.hydration import HydrationSettings

    preset = getattr(HydrationSettings, arguments.preset)
    return preset(engine_settings={"platform": arguments.platform},
                  forcefield_settings={"small_molecule_forcefield": arguments.forcefield})


def openfe_settings(arguments: argparse.Namespace, ours):
    """openfe's AHFE with its own λ schedules, GAFF like ours, pure water, 1 repeat, our wall budget."""
    from openfe.protocols.openmm_afe import AbsoluteSolvationProtocol
    from openff.units import unit

    from alchemiscale.protocols.hydration import HydrationSettings

    fast = HydrationSettings.fast()
    scale = _solvent_ns(ours) / _solvent_ns(fast)
    settings = AbsoluteSolvationProtocol.default_settings()
    settings.protocol_repeats = 1
    # the same water box and cutoff as ours, so the comparison is of sampling and analysis, not box size
    settings.solvation_settings.box_shape = "cube"
    settings.solvation_settings.solvent_padding = ours.solvation_settings.solvent_padding
    settings.solvent_forcefield_settings.nonbonded_cutoff = ours.forcefield_settings.nonbonded_cutoff
    for leg, production_ps in (("solvent", OPENFE_FAST_SOLVENT_PRODUCTION_PS),
                               ("vacuum", OPENFE_FAST_VACUUM_PRODUCTION_PS)):
        getattr(settings, f"{leg}_forcefield_settings").small_molecule_forcefield = arguments.forcefield
        platform = None if arguments.platform == "auto" else arguments.platform
        getattr(settings, f"{leg}_engine_settings").compute_platform = platform
        equilibration = getattr(settings, f"{leg}_equil_simulation_settings")
        equilibration.minimization_steps = 1000
        equilibration.equilibration_length = 10 * scale * unit.picosecond
        equilibration.production_length = 5 * scale * unit.picosecond
        if leg == "solvent":
            equilibration.equilibration_length_nvt = 5 * scale * unit.picosecond
        sampling = getattr(settings, f"{leg}_simulation_settings")
        sampling.minimization_steps = 100  # per replica, after the minimized, equilibrated MD above
        sampling.time_per_iteration = 0.5 * unit.picosecond
        sampling.equilibration_length = 2 * scale * unit.picosecond
        sampling.production_length = production_ps * scale * unit.picosecond
        sampling.real_time_analysis_interval = None
        for output in (f"{leg}_equil_output_settings", f"{leg}_output_settings"):
            getattr(settings, output).checkpoint_interval = 0.5 * unit.picosecond
    return settings


def _solvent_ns(settings) -> float:
    return settings.ns_per_iteration * settings.sampling_settings.n_iterations


def build_network(molecules: list[Molecule], arguments: argparse.Namespace):
    """The network and, per (molecule, protocol), its Transformation."""
    from gufe import AlchemicalNetwork, ChemicalSystem, Transformation

    from alchemiscale.protocols.hydration import hydration_transformation, pure_water, small_molecule_from_smiles

    ours = hydration_settings(arguments)
    transformations = {}
    components = {molecule.name: small_molecule_from_smiles(molecule.smiles, molecule.name) for molecule in molecules}
    if OURS in arguments.protocols:
        for molecule in molecules:
            transformations[molecule.name, OURS] = hydration_transformation(
                components[molecule.name], molecule.name, settings=ours)
    if OPENFE in arguments.protocols:
        from openfe.protocols.openmm_afe import AbsoluteSolvationProtocol

        protocol = AbsoluteSolvationProtocol(openfe_settings(arguments, ours))
        water = pure_water()
        for molecule in molecules:
            component = components[molecule.name]
            transformations[molecule.name, OPENFE] = Transformation(
                ChemicalSystem({"ligand": component, "solvent": water}, name=f"{molecule.name} in water"),
                ChemicalSystem({"solvent": water}, name="water"),
                protocol, name=f"{molecule.name} hydration (openfe)")
    network = AlchemicalNetwork(edges=list(transformations.values()),
                                name=f"FreeSolv validation, {arguments.preset} preset")
    return network, transformations


SCOPE = ("local", "validation", "hydration")


def run(arguments: argparse.Namespace, molecules: list[Molecule]) -> list[Row]:
    from alchemiscale.interface.client import AlchemiscaleClient
    from alchemiscale.local.deployment import LocalDeployment
    from alchemiscale.local.processes import free_ports
    from alchemiscale.models import Scope, ScopedKey

    scope = Scope(*SCOPE)
    reuse = arguments.data_dir is not None
    data_dir = arguments.data_dir or Path(tempfile.mkdtemp(prefix="alchemiscale-validation-"))
    deployment = LocalDeployment(data_dir)
    if reuse:
        if not deployment.running_components():
            raise SystemExit(f"no local deployment is running in {data_dir}")
        threads = int(os.environ.get("OPENMM_CPU_THREADS", "0")) or None
        print(f"using the local deployment in {data_dir} ({len(deployment.live_compute_services())} compute "
              f"service(s))", flush=True)
    else:
        threads = max(1, (os.cpu_count() or 1) // arguments.compute_services)
        ports = dict(zip(("user_port", "compute_port", "neo4j_port"), free_ports(3)))
        print(f"starting a local deployment in {data_dir} ({arguments.compute_services} compute service(s), "
              f"{threads} thread(s) each)", flush=True)
        deployment.up(compute_services=arguments.compute_services,
                      service_env={"OPENMM_CPU_THREADS": str(threads)}, service_settings={"sleep_interval": 2},
                      **ports)
    try:
        secrets = deployment.read_secrets()
        client = AlchemiscaleClient(deployment.url("user_api"), secrets["user_identifier"], secrets["user_key"],
                                    cache_directory=data_dir / "client-cache", use_local_cache=False)
        with client:
            if arguments.collect:
                return collect(client, scope, molecules)
            print("building and submitting the network (AM1-BCC charges are computed on the compute side)",
                  flush=True)
            network, transformations = build_network(molecules, arguments)
            network_sk = client.create_network(network, scope, visualize=False)
            keys = {label: ScopedKey(gufe_key=str(tf.key), **scope.to_dict()) for label, tf in transformations.items()}
            tasks = {label: client.create_tasks(key, count=arguments.repeats) for label, key in keys.items()}
            client.action_tasks([task for group in tasks.values() for task in group], network_sk)
            cpu_before = compute_cpu_seconds(deployment)
            try:
                follow(client, [task for group in tasks.values() for task in group], deployment)
            except KeyboardInterrupt:
                print("interrupted: reporting the Tasks finished so far", flush=True)
            cpu_per_task = (compute_cpu_seconds(deployment) - cpu_before) / sum(map(len, tasks.values()))
            per_core = f" ({cpu_per_task / threads:.0f} s on {threads} dedicated core(s))" if threads else ""
            print(f"compute services used {cpu_per_task:.0f} s of CPU time per Task{per_core}")
            by_name = {molecule.name: molecule for molecule in molecules}
            return [row_for(client, by_name[name], protocol, run, task, transformations[name, protocol])
                    for (name, protocol), group in tasks.items() for run, task in enumerate(group, 1)]
    finally:
        if not reuse:
            deployment.down()
            if not arguments.keep:
                shutil.rmtree(data_dir, ignore_errors=True)


def collect(client, scope, molecules: list[Molecule]) -> list[Row]:
    """Rows for every Task of the validation networks in ``scope``, finished or not."""
    by_name = {molecule.name: molecule for molecule in molecules}
    rows = []
    for network in client.query_networks(scope=scope):
        for transformation_sk in client.get_network_transformations(network):
            transformation = client.get_transformation(transformation_sk, visualize=False)
            ligand = transformation.stateA.components["ligand"].name
            protocol = OURS if type(transformation.protocol).__name__ == "HydrationProtocol" else OPENFE
            if ligand not in by_name:
                continue
            for run, task in enumerate(client.get_transformation_tasks(transformation_sk), 1):
                rows.append(row_for(client, by_name[ligand], protocol, run, task, transformation))
    return sorted(rows, key=lambda row: (row.protocol, list(by_name).index(row.molecule), row.run))


def compute_cpu_seconds(deployment) -> float:
    """CPU time of the compute services and every process under them, live or finished."""
    import psutil

    total = 0.0
    for service in deployment.read_state()["compute_services"]:
        try:
            process = psutil.Process(service["pid"])
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            for child in process.children(recursive=True):
                times = child.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            continue
    return total


def follow(client, tasks: list, deployment) -> None:
    """One progress line every 30 s until every Task finished."""
    started = time.monotonic()
    while True:
        statuses = client.get_tasks_status(tasks)
        counts = {status: statuses.count(status) for status in sorted(set(statuses), key=str)}
        elapsed = time.monotonic() - started
        print(f"{elapsed / 60:5.1f} min  " + "  ".join(f"{status} {n}" for status, n in counts.items())
              + f"  (load {os.getloadavg()[0]:.1f})", flush=True)
        if all(status in TERMINAL for status in statuses):
            return
        if not deployment.live_compute_services():
            raise SystemExit(f"every compute service exited; see {deployment.logs_dir}")
        time.sleep(30)


def row_for(client, molecule: Molecule, protocol: str, run: int, task, transformation) -> Row:
    row = Row(molecule.name, molecule.chemistry, protocol, run, molecule.experimental, molecule.calculated,
              status="failed")
    results = client.get_task_results(task, visualize=False)
    if not results:
        failures = client.get_task_failures(task, visualize=False)
        units = [unit for dag in failures for unit in dag.protocol_unit_failures]
        if units:
            row.error = f"{units[-1].name}: {units[-1].exception}"
        else:
            row.status = client.get_tasks_status([task])[0] or "unknown"
            row.error = f"not finished (Task {row.status})"
        return row
    dag_result = results[0]
    result = transformation.gather([dag_result])
    row.status = "complete"
    row.delta_g = result.get_estimate().m_as("kcal/mol")
    row.wall_s = sum((unit.end_time - unit.start_time).total_seconds() for unit in dag_result.protocol_unit_results)
    if protocol == OURS:
        row.uncertainty = result.get_uncertainty().m_as("kcal/mol")
        repeat = result.data["repeats"][0]
        row.min_overlap = repeat.get("min_neighbour_overlap")
        row.extra = {key: repeat[key] for key in ("solvent_ns_per_day", "vacuum_ns_per_day", "platform")
                     if key in repeat}
    else:
        legs = result.get_individual_estimates()
        row.uncertainty = math.sqrt(sum(estimates[0][1].m_as("kcal/mol") ** 2 for estimates in legs.values()))
    return row


def statistics_for(rows: list[Row], reference: str) -> dict[str, float]:
    """MUE, RMSE and R² (squared Pearson r) of the per-molecule means against ``experimental`` or calc."""
    means: dict[str, list[float]] = {}
    targets: dict[str, float] = {}
    for row in rows:
        if row.delta_g is not None:
            means.setdefault(row.molecule, []).append(row.delta_g)
            targets[row.molecule] = row.experimental if reference == "experimental" else row.freesolv_calc
    if len(means) < 2:
        return {}
    x = [targets[name] for name in means]
    y = [statistics.fmean(values) for values in means.values()]
    errors = [b - a for a, b in zip(x, y)]
    r = statistics.correlation(x, y) if len(set(x)) > 1 and len(set(y)) > 1 else float("nan")
    return {"n": len(x), "MUE": statistics.fmean(abs(e) for e in errors),
            "RMSE": math.sqrt(statistics.fmean(e * e for e in errors)), "R2": r * r,
            "mean_signed": statistics.fmean(errors)}


def print_report(rows: list[Row], arguments: argparse.Namespace) -> None:
    print(f"\nHydration free energies (kcal/mol), {arguments.preset} preset, {arguments.forcefield}/AM1-BCC, "
          f"TIP3P, {arguments.platform}, load {os.getloadavg()[0]:.1f} at the end")
    header = (f"{'molecule':<20} {'chemistry':<10} {'protocol':<12} {'run':>3} {'expt':>6} {'FS calc':>7} "
              f"{'ΔG':>7} {'±':>5} {'−calc':>6} {'overlap':>7} {'wall s':>6}")
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.delta_g is None:
            outcome = f"FAILED: {row.error}" if row.status == "failed" else row.error
            print(f"{row.molecule:<20} {row.chemistry:<10} {row.protocol:<12} {row.run:>3} {outcome}")
            continue
        overlap = f"{row.min_overlap:7.3f}" if row.min_overlap is not None else f"{'—':>7}"
        print(f"{row.molecule:<20} {row.chemistry:<10} {row.protocol:<12} {row.run:>3} {row.experimental:>6.2f} "
              f"{row.freesolv_calc:>7.2f} {row.delta_g:>7.2f} {row.uncertainty:>5.2f} "
              f"{row.delta_g - row.freesolv_calc:>+6.2f} {overlap} {row.wall_s:>6.0f}")
    print()
    for protocol in (OURS, OPENFE):
        subset = [row for row in rows if row.protocol == protocol]
        if not subset:
            continue
        walls = [row.wall_s for row in subset if row.wall_s is not None]
        median_wall = f"median wall {statistics.median(walls):.0f} s per Task" if walls else "no Task finished"
        print(f"{protocol}: {median_wall}")
        for reference in ("freesolv_calc", "experimental"):
            figures = statistics_for(subset, reference)
            if figures:
                print(f"  vs {reference:<13} n={figures['n']:<3} MUE {figures['MUE']:.2f}  RMSE {figures['RMSE']:.2f}"
                      f"  R² {figures['R2']:.2f}  mean signed {figures['mean_signed']:+.2f}")
        if arguments.repeats > 1:
            for name in dict.fromkeys(row.molecule for row in subset):
                values = [row.delta_g for row in subset if row.molecule == name and row.delta_g is not None]
                if len(values) > 1:
                    calc = next(row.freesolv_calc for row in subset if row.molecule == name)
                    print(f"  {name:<20} mean {statistics.fmean(values):6.2f}  SD {statistics.stdev(values):.2f}  "
                          f"mean − calc {statistics.fmean(values) - calc:+.2f}  over {len(values)} runs")


def plot(rows: list[Row], path: Path, arguments: argparse.Namespace) -> None:
    """Computed vs experiment (left) and vs FreeSolv's calculated value (right), one marker per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4.8), constrained_layout=True)
    for axis, reference, label in ((axes[0], "experimental", "experiment"),
                                   (axes[1], "freesolv_calc", "FreeSolv calc (GAFF 1.x)")):
        for protocol, marker in ((OURS, "o"), (OPENFE, "s")):
            subset = [row for row in rows if row.protocol == protocol and row.delta_g is not None]
            if not subset:
                continue
            figures = statistics_for(subset, reference)
            axis.errorbar([getattr(row, reference) for row in subset], [row.delta_g for row in subset],
                          yerr=[row.uncertainty for row in subset], fmt=marker, ms=5, capsize=2, alpha=0.8,
                          label=f"{protocol} (n={len(subset)}, MUE {figures.get('MUE', float('nan')):.2f}, "
                                f"R² {figures.get('R2', float('nan')):.2f})")
        limits = [-11, 4]
        axis.plot(limits, limits, "k-", lw=0.8)
        axis.fill_between(limits, [v - 1 for v in limits], [v + 1 for v in limits], color="0.9")
        axis.set(xlim=limits, ylim=limits, xlabel=f"ΔG hydration, {label} (kcal/mol)",
                 ylabel="ΔG hydration, computed (kcal/mol)")
        axis.legend(loc="upper left", fontsize=8)
    figure.suptitle(f"FreeSolv validation: {arguments.preset} preset, {arguments.forcefield}/AM1-BCC, TIP3P")
    figure.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    if arguments.from_json:
        rows = [Row(**row) for path in arguments.from_json for row in json.loads(path.read_text())]
        print_report(rows, arguments)
        if arguments.plot is not None:
            plot(rows, arguments.plot, arguments)
        return 0
    molecules = read_freesolv(arguments.freesolv, arguments.molecules)
    started = time.monotonic()
    rows = run(arguments, molecules)
    print_report(rows, arguments)
    print(f"\n{len(rows)} Tasks in {(time.monotonic() - started) / 60:.1f} min of wall time")
    if arguments.json is not None:
        arguments.json.write_text(json.dumps([asdict(row) for row in rows], indent=2))
    if arguments.plot is not None:
        plot(rows, arguments.plot, arguments)
    return 1 if any(row.delta_g is None for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
