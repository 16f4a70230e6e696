"""SynchronousComputeService end to end: real compute API over HTTP, real Neo4j, real object store."""

from __future__ import annotations

import signal
import time

import pytest

from alchemiscale.base.client import AlchemiscaleClientError
from alchemiscale.compute.provenance import PROVENANCE_KEY
from alchemiscale.models import Scope
from alchemiscale.tests.conftest import build_network
from alchemiscale.tests.integration.compute.conftest import compute_setup
from alchemiscale.tests.protocols import FAILURE_MESSAGE, BrokenCreateProtocol

from .conftest import (
    make_service,
    pid_alive,
    service_in_thread,
    service_process,
    slow_network,
    task_results,
    wait_for,
)
from .protocols import PID_FILENAME



def solvent_names(network, count: int) -> list[str]:
    return sorted(t.name for t in network.edges if t.name.endswith("solvent"))[:count]


def registrations(store) -> int:
    return store.execute_query("MATCH (csr:ComputeServiceRegistration) RETURN count(csr)")[0][0]


def broken_create_network(ligands, solvent):
    """The test network, with the "failing transformation" using BrokenCreateProtocol."""
    broken = BrokenCreateProtocol(BrokenCreateProtocol.default_settings())
    return build_network(ligands, solvent, failing_protocol=broken)


def status(store, task) -> str:
    return store.get_task_status([task])[0]


def test_completes_tasks_and_results_carry_provenance(
    n4js_fresh, compute_identity, network, compute_objectstore, service_config, scope_test
):
    names = solvent_names(network, 2)
    setup = compute_setup(n4js_fresh, network, scope_test, names + ["failing transformation"])
    tasks = [setup.tasks[name] for name in names]
    service = make_service(service_config(scopes=[str(scope_test)], protocols=["SuccessProtocol"], max_tasks=2))
    service.start()  # returns once max_tasks Tasks are done

    assert service.tasks_executed == 2
    assert [status(n4js_fresh, task) for task in tasks] == ["complete", "complete"]
    assert status(n4js_fresh, setup.tasks["failing transformation"]) == "waiting"  # another Protocol
    assert registrations(n4js_fresh) == 0  # deregistered on the way out
    log = _read(service.settings.logfile)
    assert "registered with" in log and compute_identity[1] not in log
    for name, task in zip(names, tasks):
        [result] = task_results(n4js_fresh, compute_objectstore, task, setup.transformations[name])
        assert {r.name for r in result.protocol_unit_results} == {"setup", "window 0", "window 1", "finish"}
        assert result.name == str(task)  # named after its Task, as upstream's service names it
        assert result.transformation_key == setup.transformations[name].gufe_key
        provenance = result.protocol_unit_results[0].outputs[PROVENANCE_KEY]
        assert provenance["task"] == str(task)
        assert provenance["compute_service_id"] == str(service.compute_service_id)
        assert provenance["hostname"] and provenance["start"] <= provenance["end"]
        assert set(provenance["versions"]) == {"python", "alchemiscale", "gufe", "openmm"}
        assert "gpu" in provenance
    # per-task folders are removed after each Task
    assert not any(service.shared_basedir.iterdir()) and not any(service.scratch_basedir.iterdir())


def test_failing_task_errors_then_restart_pattern_retries_it_up_to_the_limit(
    n4js_fresh, compute_identity, network, scope_test, compute_objectstore, service_config
):
    setup = compute_setup(n4js_fresh, network, scope_test, ["failing transformation"])
    task = setup.tasks["failing transformation"]
    n4js_fresh.add_task_restart_patterns(setup.taskhub, [FAILURE_MESSAGE], number_of_retries=1)

    service = make_service(service_config(n_retries=1, max_tasks=3, sleep_interval=0.2))
    with service_in_thread(service):
        wait_for(lambda: len(n4js_fresh.get_task_failures(task)) == 2, 60, "two failed results")
        # the restart limit is spent: the Task stays in error and is no longer claimable
        wait_for(lambda: status(n4js_fresh, task) == "error", 10, "the task to stay in error")
        time.sleep(1.0)
    assert status(n4js_fresh, task) == "error"
    assert service.tasks_executed == 2
    attempts = n4js_fresh.get_task_history(task)
    assert len(attempts) == 2
    failures = task_results(n4js_fresh, compute_objectstore, task, setup.transformations["failing transformation"])
    for result in failures:
        # n_retries=1: the failing unit was tried twice within each run
        assert len(result.protocol_unit_failures) == 2
        assert len({r.source_key for r in result.protocol_unit_failures}) == 1
        assert all(FAILURE_MESSAGE in r.traceback for r in result.protocol_unit_failures)
    [[traceback_record, *_], *_] = n4js_fresh.get_task_tracebacks([task])
    assert FAILURE_MESSAGE in str(traceback_record)


def test_broken_create_marks_task_error_and_service_continues(
    n4js_fresh, compute_identity, ligands, solvent, service_config, compute_objectstore
):
    network = broken_create_network(ligands, solvent)
    good_name = solvent_names(network, 1)[0]
    setup = compute_setup(n4js_fresh, network, Scope("broken", "create", "test"), ["failing transformation", good_name])
    broken, good = setup.tasks["failing transformation"], setup.tasks[good_name]
    n4js_fresh.set_task_priority([broken], 1)  # claimed first

    service = make_service(service_config(max_tasks=2))
    service.start()

    assert status(n4js_fresh, broken) == "error"
    assert status(n4js_fresh, good) == "complete"
    [failure] = task_results(n4js_fresh, compute_objectstore, broken, setup.transformations["failing transformation"])
    [unit_failure] = failure.protocol_unit_failures
    assert unit_failure.name == "create ProtocolDAG"
    assert unit_failure.exception[0] == "ValueError"
    assert "cannot create a DAG" in unit_failure.traceback and "Traceback" in unit_failure.traceback
    assert PROVENANCE_KEY in unit_failure.outputs
    assert "cannot create a DAG" in str(n4js_fresh.get_task_tracebacks([broken]))


def test_repeated_failures_deny_claims_and_service_deep_sleeps(
    n4js_fresh, compute_identity, ligands, solvent, service_config
):
    network = broken_create_network(ligands, solvent)
    setup = compute_setup(n4js_fresh, network, Scope("deny", "claims", "test"), ["failing transformation"])
    extra = n4js_fresh.create_tasks([setup.transformations["failing transformation"]] * 4)
    n4js_fresh.action_tasks(extra, setup.taskhub)
    tasks = [setup.tasks["failing transformation"], *extra]

    config = service_config(deep_sleep_interval=60)
    service = make_service(config)
    with service_in_thread(service):
        # the server denies claims once more than 3 failures are recent (ALCHEMISCALE_COMPUTE_API_MAX_FAILURES)
        log = wait_for(
            lambda: "claiming denied" in (text := _read(config["logfile"])) and text, 60, "claims to be denied"
        )
        time.sleep(0.5)
        statuses = sorted(status(n4js_fresh, t) for t in tasks)
    assert statuses == ["error"] * 4 + ["waiting"]
    assert service.tasks_executed == 4
    assert "sleeping 60" in log


def test_wrong_key_fails_at_registration(n4js_fresh, compute_identity, service_config):
    service = make_service(service_config(key="not-the-key"))
    with pytest.raises(AlchemiscaleClientError, match="401"):
        service.start()
    log = _read(service.settings.logfile)
    assert "could not register" in log and "not-the-key" not in log
    assert registrations(n4js_fresh) == 0


def test_max_time_stops_an_idle_service(n4js_fresh, compute_identity, service_config):
    service = make_service(service_config(max_time=1.0))
    start = time.monotonic()
    service.start()
    assert 1.0 <= time.monotonic() - start < 10
    assert service.tasks_executed == 0
    assert "max_time" in _read(service.settings.logfile)
    assert registrations(n4js_fresh) == 0


def test_cancelled_task_is_stopped_on_the_next_heartbeat(n4js_fresh, compute_identity, ligands, service_config):
    setup = compute_setup(n4js_fresh, slow_network(ligands, seconds=120), Scope("cancel", "running", "test"))
    task = setup.tasks["slow"]
    service = make_service(service_config())
    pid_file = service.shared_basedir / str(task) / PID_FILENAME
    with service_in_thread(service):
        pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 30, "the slow unit to start"))
        assert pid_alive(pid)
        n4js_fresh.cancel_tasks([task], setup.taskhub)
        wait_for(lambda: service.tasks_executed == 1, 15, "the execution to be stopped")
        assert not pid_alive(pid)
    assert "no longer wanted" in _read(service.settings.logfile)
    assert n4js_fresh.get_task_results(task) == [] and n4js_fresh.get_task_failures(task) == []
    assert status(n4js_fresh, task) == "waiting"  # deregistration released the claim


def test_sigterm_stops_cleanly_and_deregisters(n4js_fresh, compute_identity, ligands, service_config, tmp_path):
    setup = compute_setup(n4js_fresh, slow_network(ligands, seconds=120), Scope("sigterm", "stop", "test"))
    task = setup.tasks["slow"]
    config = service_config(heartbeat_interval=1)
    pid_file = tmp_path / config["name"] / "shared" / str(task) / PID_FILENAME
    with service_process(config, tmp_path / "sigterm.yaml") as process:
        pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the slow unit to start"))
        assert status(n4js_fresh, task) == "running" and registrations(n4js_fresh) == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert not pid_alive(pid)
    assert registrations(n4js_fresh) == 0
    assert status(n4js_fresh, task) == "waiting"
    log = _read(config["logfile"])
    assert "stop requested" in log and "deregistered" in log


def _read(path) -> str:
    try:
        return open(path).read()
    except FileNotFoundError:
        return ""
