"""A compute service whose registration the server dropped registers again and carries on.

Real service (in a thread), real compute API over HTTP, real Neo4j: the registration is deleted or
expired with the state store's own calls, as an operator's cleanup or another service's heartbeat would.
"""

from __future__ import annotations

from datetime import timedelta

from alchemiscale.models import Scope
from alchemiscale.storage.models import utcnow
from alchemiscale.tests.integration.compute.conftest import compute_setup

from .conftest import make_service, pid_alive, service_in_thread, slow_network, wait_for
from .protocols import PID_FILENAME
from .test_service import _read, registrations, solvent_names, status

NOTICE = "registration was gone on the server"


def test_deleted_registration_while_idle_is_renewed_and_new_work_is_done(
    n4js_fresh, compute_identity, network, service_config, scope_test
):
    service = make_service(service_config(scopes=[str(scope_test)], protocols=["SuccessProtocol"], max_tasks=1))
    with service_in_thread(service):
        wait_for(lambda: registrations(n4js_fresh) == 1, 30, "the service to register")
        assert n4js_fresh.deregister_computeservice(service.compute_service_id) is not None
        wait_for(lambda: NOTICE in _read(service.settings.logfile), 30, "the service to notice")
        wait_for(lambda: registrations(n4js_fresh) == 1, 10, "the service to register again")

        setup = compute_setup(n4js_fresh, network, scope_test, solvent_names(network, 1))
        [task] = setup.tasks.values()
        wait_for(lambda: service.tasks_executed == 1, 60, "the new Task to be executed")
    assert status(n4js_fresh, task) == "complete"
    assert len(n4js_fresh.get_task_results(task)) == 1
    [attempt] = n4js_fresh.get_task_history(task)
    assert attempt["compute_service_id"] == str(service.compute_service_id)  # the same id, registered again
    log = _read(service.settings.logfile)
    assert log.count(NOTICE) == 1 and "claiming failed" not in log


def test_registration_expired_mid_task_stops_the_orphaned_run_and_finishes_the_task_once(
    n4js_fresh, compute_identity, ligands, service_config
):
    # long enough that the run is still going when the service notices, even on a loaded machine (a
    # 3 s run once finished first: its push was refused with 409, and nothing was there to stop)
    setup = compute_setup(n4js_fresh, slow_network(ligands, seconds=12), Scope("expired", "midtask", "test"))
    task = setup.tasks["slow"]
    service = make_service(service_config(max_tasks=2))
    pid_file = service.shared_basedir / str(task) / PID_FILENAME
    with service_in_thread(service):
        pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the slow unit to start"))
        # what a heartbeat of any service does to one silent for too long: requeue its Tasks, delete it.
        # The cutoff lies ahead of any heartbeat the service can send meanwhile (every 0.5 s here), so
        # one landing between reading the clock and the store's re-check under lock cannot save it.
        assert n4js_fresh.expire_registrations(utcnow() + timedelta(hours=1)) == [service.compute_service_id]
        wait_for(lambda: not pid_alive(pid), 30, "the run that lost its claim to be stopped")
        wait_for(lambda: status(n4js_fresh, task) == "complete", 90, "the Task to be claimed again and finished")

    history = n4js_fresh.get_task_history(task)
    assert [a["outcome"] for a in history] == ["requeued", "complete"]  # the expiry sent it back to waiting
    assert {a["compute_service_id"] for a in history} == {str(service.compute_service_id)}
    assert len(n4js_fresh.get_task_results(task)) == 1 and n4js_fresh.get_task_failures(task) == []
    log = _read(service.settings.logfile)
    assert log.count(NOTICE) == 1
    assert "no longer wanted" in log and "claiming failed" not in log
