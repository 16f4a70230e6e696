"""The SLURM compute manager on a real single-node SLURM and the real compute API: each service is a batch
job (psij-python), started while Tasks wait and cancelled once nothing waits; a job cancelled mid-Task
(as preemption does) gives its Task back, and another job finishes it, once."""

from __future__ import annotations

import sys

import pytest

from alchemiscale.models import Scope
from alchemiscale.tests.integration.compute.conftest import compute_setup
from alchemiscale.tests.integration.compute.service.conftest import slow_network, wait_for
from alchemiscale.tests.integration.compute.service.protocols import PID_FILENAME
from alchemiscale.tests.integration.compute.service.test_service import registrations, solvent_names, status

from .conftest import manager_in_thread, read

pytestmark = pytest.mark.xdist_group("slurm")  # one SLURM (and one munged) for all these tests
# The waits are generous: on a loaded 2-core machine a job's service takes a minute to import and register.


def slurm_manager(manager_config, cluster, tmp_path, **settings):
    return manager_config(
        "slurm", partition=cluster.partition, python=sys.executable, queue_polling_interval=1,
        time_limit="00:10:00", logfile=str(tmp_path / "manager.log"), **settings,
    )


def test_jobs_submitted_while_tasks_wait_and_cancelled_when_idle(
    n4js_fresh, compute_identity, network, scope_test, manager_config, slurm_cluster, tmp_path, monkeypatch
):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    setup = compute_setup(n4js_fresh, network, scope_test, solvent_names(network, 2))
    config = slurm_manager(
        manager_config, slurm_cluster, tmp_path, max_compute_services=3, max_submit_per_cycle=2,
        service={"scopes": [str(scope_test)], "protocols": ["SuccessProtocol"]},
    )
    logfile = tmp_path / "manager.log"
    with manager_in_thread(config) as manager:
        jobs = wait_for(lambda: len(slurm_cluster.jobs()) == 2 and slurm_cluster.jobs(), 240, "two SLURM jobs")
        for job in jobs:
            described = slurm_cluster.run("scontrol", "show", "job", job)
            assert f"Partition={slurm_cluster.partition} " in described and "TimeLimit=00:10:00" in described
            assert f"JobName={config.service.name}.{manager.compute_manager_id.uuid[:8]}." in described
        wait_for(lambda: all(status(n4js_fresh, t) == "complete" for t in setup.tasks.values()), 300,
                 "the Tasks to be completed")
        wait_for(lambda: read(logfile).count("cancelled SLURM job") == 2, 120, "the idle jobs to be cancelled")
        wait_for(lambda: not slurm_cluster.jobs() and registrations(n4js_fresh) == 0, 180,
                 "the cancelled jobs to end and their services to deregister")
    log = read(logfile)
    assert "2 task(s) waiting; 0 service(s) running, 0 busy: starting 2, stopping 0" in log
    assert log.count("submitted compute service") == 2 and "(manager exiting)" not in log
    for task in setup.tasks.values():
        assert len(n4js_fresh.get_task_results(task)) == 1
    services = sorted((manager.workdir / "logs").glob("*.log"))
    assert len(services) == 2 and all("stop requested" in read(p) and "deregistered" in read(p) for p in services)


def test_job_cancelled_mid_task_requeues_it_and_another_job_finishes_it_once(
    n4js_fresh, compute_identity, ligands, manager_config, slurm_cluster, tmp_path, monkeypatch
):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    setup = compute_setup(n4js_fresh, slow_network(ligands, seconds=8), Scope("slurm", "preempt", "test"))
    task = setup.tasks["slow"]
    config = slurm_manager(manager_config, slurm_cluster, tmp_path, max_compute_services=1,
                           service={"heartbeat_interval": 1})
    logfile = tmp_path / "manager.log"
    with manager_in_thread(config) as manager:
        pid_file = config.service.shared_basedir / str(task) / PID_FILENAME
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), 300, "the slow unit to start in the first job")
        [first_job] = slurm_cluster.jobs()
        slurm_cluster.run("scancel", first_job)  # what preemption does: SIGTERM, then SIGKILL after KillWait
        wait_for(lambda: status(n4js_fresh, task) != "running" or len(n4js_fresh.get_task_history(task)) > 1, 120,
                 "the cancelled job's service to give the Task back")
        wait_for(lambda: status(n4js_fresh, task) == "complete", 300, "another job to finish the Task")
        wait_for(lambda: not slurm_cluster.jobs() and registrations(n4js_fresh) == 0, 180, "the idle job to end")
    history = n4js_fresh.get_task_history(task)
    assert [a["outcome"] for a in history] == ["requeued", "complete"]
    first, second = (a["compute_service_id"] for a in history)
    assert first != second
    assert len(n4js_fresh.get_task_results(task)) == 1 and n4js_fresh.get_task_failures(task) == []
    first_log = read(manager.service_log(first.rpartition("-")[0]))
    assert "stop requested" in first_log and "deregistered" in first_log and "completed" not in first_log
    assert read(logfile).count("submitted compute service") == 2
