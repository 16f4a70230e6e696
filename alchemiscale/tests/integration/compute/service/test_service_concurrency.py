"""Several Tasks at once, pinned to devices, on warm workers: real compute API, Neo4j and object store."""

from __future__ import annotations

import statistics

from gufe import AlchemicalNetwork, ChemicalSystem, Transformation

from alchemiscale.compute.provenance import PROVENANCE_KEY
from alchemiscale.models import Scope
from alchemiscale.tests.integration.compute.conftest import compute_setup

from .conftest import make_service, task_results
from .protocols import EnvironmentProtocol, SlowProtocol, environment_settings, slow_settings

# Between two Tasks on one warm worker: push, claim, fetch, create and hand over. Generous, for 2 busy cores.
MAX_GAP_SECONDS = 1.5


def network_of(ligands, protocols: dict[str, object]) -> AlchemicalNetwork:
    stateA = ChemicalSystem({"ligand": ligands["methane"]}, name="methane vacuum")
    stateB = ChemicalSystem({"ligand": ligands["ethane"]}, name="ethane vacuum")
    edges = [Transformation(stateA, stateB, protocol, name=name) for name, protocol in protocols.items()]
    return AlchemicalNetwork(edges=edges, name="concurrency network")


def unit_outputs(store, objectstore, setup, name: str) -> dict:
    [result] = task_results(store, objectstore, setup.tasks[name], setup.transformations[name])
    [unit_result] = result.protocol_unit_results
    assert unit_result.ok(), unit_result
    return unit_result.outputs


def test_two_slots_run_two_tasks_at_once_each_on_its_own_device(
    n4js_fresh, compute_identity, ligands, compute_objectstore, service_config, tmp_path
):
    names = ["first", "second"]
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    # each waits (up to 60 s) until both have arrived: run one after the other, neither would see the other
    settings = environment_settings(60.0, rendezvous, parties=2)
    network = network_of(ligands, {name: EnvironmentProtocol(settings) for name in names})
    setup = compute_setup(n4js_fresh, network, Scope("concurrent", "two", "slots"))
    service = make_service(service_config(max_concurrent_tasks=2, devices=["0", "1"], max_tasks=2))
    service.start()

    assert n4js_fresh.get_task_status([setup.tasks[name] for name in names]) == ["complete", "complete"]
    first, second = (unit_outputs(n4js_fresh, compute_objectstore, setup, name) for name in names)
    assert first["arrived"] == second["arrived"] == 2
    assert first["start"] < second["end"] and second["start"] < first["end"]  # the wall intervals overlap
    assert {first["environment"]["CUDA_VISIBLE_DEVICES"], second["environment"]["CUDA_VISIBLE_DEVICES"]} == {"0", "1"}
    assert first["pid"] != second["pid"]
    for outputs in (first, second):  # provenance names the device the Task was pinned to
        assert outputs[PROVENANCE_KEY]["device"] == outputs["environment"]["CUDA_VISIBLE_DEVICES"]
    log = open(service.settings.logfile).read()
    assert "(slot 0, device 0)" in log and "(slot 1, device 1)" in log


def test_a_task_killed_at_max_task_time_leaves_the_next_task_on_that_worker_unharmed(
    n4js_fresh, compute_identity, ligands, compute_objectstore, service_config
):
    network = network_of(
        ligands, {"stuck": SlowProtocol(slow_settings(120.0)), "next": EnvironmentProtocol(environment_settings(0.0))}
    )
    setup = compute_setup(n4js_fresh, network, Scope("killed", "then", "next"))
    n4js_fresh.set_task_priority([setup.tasks["stuck"]], 1)  # claimed first
    service = make_service(service_config(max_task_time=2.0, max_tasks=2))
    service.start()

    assert n4js_fresh.get_task_status([setup.tasks["stuck"], setup.tasks["next"]]) == ["error", "complete"]
    [failure] = task_results(n4js_fresh, compute_objectstore, setup.tasks["stuck"], setup.transformations["stuck"])
    assert "max_task_time=2 s" in failure.protocol_unit_failures[0].traceback
    unit_outputs(n4js_fresh, compute_objectstore, setup, "next")
    [slot] = service.slots
    assert slot.worker.processes_started == 2  # the killed worker was replaced by a fresh one
    assert "ran past max_task_time=2 s" in open(service.settings.logfile).read()


def test_a_warm_worker_runs_task_after_task_with_little_in_between(
    n4js_fresh, compute_identity, ligands, compute_objectstore, service_config
):
    names = [f"quick {number}" for number in range(5)]
    network = network_of(ligands, {name: EnvironmentProtocol(environment_settings(0.0)) for name in names})
    setup = compute_setup(n4js_fresh, network, Scope("warm", "worker", "reuse"))
    service = make_service(service_config(max_tasks=len(names)))
    service.start()

    outputs = sorted((unit_outputs(n4js_fresh, compute_objectstore, setup, name) for name in names),
                     key=lambda o: o["start"])
    assert len({o["pid"] for o in outputs}) == 1 and service.slots[0].worker.processes_started == 1
    gaps = [later["start"] - earlier["end"] for earlier, later in zip(outputs, outputs[1:])]
    assert statistics.median(gaps) < MAX_GAP_SECONDS, gaps
