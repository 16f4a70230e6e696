"""``alchemiscale demo``: hydration free energies of three small molecules on a local deployment.

The demo brings up a local deployment (see :mod:`.deployment`), submits a network of absolute
hydration free-energy Transformations with the built-in protocol's demo preset and GAFF 1.81 through
:class:`~alchemiscale.interface.client.AlchemiscaleClient`, actions one Task per Transformation,
shows the Tasks' progress while compute services run them, and prints the estimates beside FreeSolv's
calculated values (GAFF 1.x / AM1-BCC / TIP3P, the like-with-like comparison) and experiment.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..models import Scope, ScopedKey
from .deployment import LocalDeployment
from .processes import free_ports

REFRESH_SECONDS = 3.0
DEMO_SCOPE = Scope("local", "demo", "hydration")
TERMINAL_STATUSES = frozenset({"complete", "error", "invalid", "deleted"})
STATUS_STYLES = {"waiting": "yellow", "running": "cyan", "complete": "green", "error": "red"}
TRACEBACK_LINES = 8


@dataclass(frozen=True)
class DemoMolecule:
    name: str
    smiles: str
    experimental_kcal_per_mol: float  # FreeSolv experimental hydration free energy
    calculated_kcal_per_mol: float  # FreeSolv's own GAFF 1.x / AM1-BCC / TIP3P value


DEMO_MOLECULES = (
    DemoMolecule("methane", "C", 2.00, 2.45),
    DemoMolecule("methanol", "CO", -5.10, -3.49),
    DemoMolecule("ethanol", "CCO", -5.00, -3.39),
)
# FreeSolv's calculated column is GAFF 1.x, so the demo uses GAFF 1.81 to compare like with like.
DEMO_FORCEFIELD = "gaff-1.81"


@dataclass(frozen=True)
class DemoOutcome:
    molecule: DemoMolecule
    status: str
    estimate: Optional[float] = None
    uncertainty: Optional[float] = None
    platform: Optional[str] = None
    error: Optional[str] = None


class DemoError(RuntimeError):
    """The demo could not finish; the message says what to look at."""


def demo_network():
    """The AlchemicalNetwork of the demo and its Transformations by molecule name."""
    from gufe import AlchemicalNetwork

    from ..protocols.hydration import HydrationSettings, hydration_transformation

    settings = demo_settings()
    transformations = {
        m.name: hydration_transformation(m.smiles, m.name, settings=settings) for m in DEMO_MOLECULES
    }
    return AlchemicalNetwork(edges=list(transformations.values()), name="hydration demo"), transformations


def demo_settings():
    from ..protocols.hydration import HydrationSettings

    return HydrationSettings.demo(forcefield_settings={"small_molecule_forcefield": DEMO_FORCEFIELD})


def run_demo(
    data_dir: Optional[Path], compute_services: int, keep: bool, console: Optional[Console] = None
) -> list[DemoOutcome]:
    """Bring up a deployment, compute the demo network, print the results, shut down unless ``keep``."""
    console = console or Console()
    if compute_services < 1:
        raise DemoError("the demo needs at least one compute service (--compute-services 1 or more)")
    temporary = data_dir is None
    deployment = LocalDeployment(data_dir or tempfile.mkdtemp(prefix="alchemiscale-demo-"))
    reuse = bool(deployment.running_components())
    if reuse:
        console.print(f"Using the deployment already running in {deployment.data_dir}.")
    else:
        _bring_up(deployment, compute_services, console)
    outcomes: list[DemoOutcome] = []
    try:
        outcomes = _compute(deployment, console)
    finally:
        if keep or reuse:
            console.print(f"The deployment keeps running in {deployment.data_dir}:\n"
                          f"  alchemiscale local status --data-dir {deployment.data_dir}\n"
                          f"  alchemiscale local down --data-dir {deployment.data_dir}\n"
                          f"  source {deployment.credentials_path}   # for AlchemiscaleClient()")
        else:
            with console.status("Shutting the deployment down..."):
                deployment.down()
            succeeded = bool(outcomes) and all(outcome.estimate is not None for outcome in outcomes)
            if temporary and succeeded:
                shutil.rmtree(deployment.data_dir, ignore_errors=True)
                console.print("Deployment stopped.")
            else:
                console.print(f"Deployment stopped; its data and logs are kept in {deployment.data_dir}.")
    return outcomes


def _bring_up(deployment: LocalDeployment, compute_services: int, console: Console) -> None:
    """Start the deployment; a fresh data folder gets free ports, so a running deployment cannot collide."""
    ports = {}
    if not deployment.exists:
        ports = dict(zip(("user_port", "compute_port", "neo4j_port"), free_ports(3)))
    threads = max(1, (os.cpu_count() or 1) // compute_services)
    with console.status(f"Starting Neo4j, both APIs and {compute_services} compute service(s) "
                        f"in {deployment.data_dir}..."):
        deployment.up(compute_services=compute_services, service_env={"OPENMM_CPU_THREADS": str(threads)},
                      **ports)
    console.print(f"Local deployment up: user API {deployment.url('user_api')}, "
                  f"compute API {deployment.url('compute_api')}; logs in {deployment.logs_dir}.")


def _compute(deployment: LocalDeployment, console: Console) -> list[DemoOutcome]:
    from ..interface.client import AlchemiscaleClient

    values = deployment.read_secrets()
    client = AlchemiscaleClient(deployment.url("user_api"), values["user_identifier"], values["user_key"],
                                cache_directory=deployment.data_dir / "client-cache", use_local_cache=False)
    with client:
        with console.status("Building the network (GAFF checks, conformers) and submitting it..."):
            network, transformations = demo_network()
            network_sk = client.create_network(network, DEMO_SCOPE, visualize=False)
            keys = {name: _scoped(str(tf.key)) for name, tf in transformations.items()}
            task_list = client.create_transformations_tasks([keys[m.name] for m in DEMO_MOLECULES])
            tasks = dict(zip((m.name for m in DEMO_MOLECULES), task_list))
            client.action_tasks(task_list, network_sk)
        console.print(f"Submitted network {network_sk} with {len(tasks)} Tasks.")
        statuses = _follow(client, deployment, tasks, console)
        outcomes = [_outcome(client, m, keys[m.name], tasks[m.name], statuses[m.name]) for m in DEMO_MOLECULES]
    console.print(results_table(outcomes))
    for outcome in outcomes:
        if outcome.error:
            console.print(f"[red]{outcome.molecule.name} failed:[/red]\n{outcome.error}")
    return outcomes


def _scoped(gufe_key: str) -> ScopedKey:
    return ScopedKey(gufe_key=gufe_key, **DEMO_SCOPE.to_dict())


def _follow(client, deployment: LocalDeployment, tasks: dict[str, ScopedKey], console: Console) -> dict[str, str]:
    """Refresh a live status table until every Task finished; fail if no compute service is left."""
    started = time.monotonic()
    statuses = {name: "waiting" for name in tasks}
    with Live(progress_view(statuses, 0.0), console=console, refresh_per_second=1) as live:
        while True:
            current = client.get_tasks_status(list(tasks.values()))
            statuses = {name: status or "unknown" for name, status in zip(tasks, current)}
            live.update(progress_view(statuses, time.monotonic() - started))
            if all(status in TERMINAL_STATUSES for status in statuses.values()):
                break
            if not deployment.live_compute_services():
                raise DemoError(f"every compute service has exited; see their logs in {deployment.logs_dir}")
            time.sleep(REFRESH_SECONDS)
    console.print()
    return statuses


def progress_view(statuses: dict[str, str], elapsed: float) -> Group:
    table = Table(title="Tasks")
    table.add_column("molecule")
    table.add_column("status")
    for name, status in statuses.items():
        table.add_row(name, Text(status, style=STATUS_STYLES.get(status, "")))
    done = sum(status in TERMINAL_STATUSES for status in statuses.values())
    minutes, seconds = divmod(int(elapsed), 60)
    return Group(table, Text(f"{done}/{len(statuses)} finished, {minutes}:{seconds:02d} elapsed "
                             f"(refreshed every {REFRESH_SECONDS:.0f} s)"))


def _outcome(client, molecule: DemoMolecule, transformation: ScopedKey, task: ScopedKey, status: str) -> DemoOutcome:
    if status != "complete":
        return DemoOutcome(molecule, status, error=_failure_summary(client, task))
    result = client.get_transformation_results(transformation, visualize=False)
    repeats = result.data.get("repeats", [])
    estimate, uncertainty = result.get_estimate(), result.get_uncertainty()
    return DemoOutcome(molecule, status,
                       None if estimate is None else estimate.m_as("kcal/mol"),
                       None if uncertainty is None else uncertainty.m_as("kcal/mol"),
                       repeats[0]["platform"] if repeats else None)


def _failure_summary(client, task: ScopedKey) -> str:
    failures = client.get_task_failures(task, visualize=False)
    unit_failures = [f for dag in failures for f in dag.protocol_unit_failures]
    if not unit_failures:
        return "no result was recorded; see the compute service logs"
    last = unit_failures[-1]
    tail = "\n".join(last.traceback.splitlines()[-TRACEBACK_LINES:])
    return f"unit {last.name!r}: {last.exception}\n{tail}"


def results_table(outcomes: list[DemoOutcome]) -> Table:
    table = Table(title=f"Hydration free energies (kcal/mol; demo preset, {DEMO_FORCEFIELD}/AM1-BCC, TIP3P)")
    columns = ("molecule", "ΔG here", "FreeSolv calc", "here − calc", "FreeSolv expt", "platform")
    for column in columns:
        table.add_column(column, justify="left" if column in ("molecule", "platform") else "right")
    for outcome in outcomes:
        molecule = outcome.molecule
        if outcome.estimate is None:
            calc, diff = Text(outcome.status, style="red"), "—"
        else:
            calc = f"{outcome.estimate:.2f} ± {outcome.uncertainty:.2f}"
            diff = f"{outcome.estimate - molecule.calculated_kcal_per_mol:+.2f}"
        table.add_row(molecule.name, calc, f"{molecule.calculated_kcal_per_mol:.2f}", diff,
                      f"{molecule.experimental_kcal_per_mol:.2f}", outcome.platform or "—")
    return table

