"""The local compute manager on the real compute API: it starts services (child processes) while Tasks
wait, and stops them once nothing waits."""

from __future__ import annotations

from alchemiscale.tests.integration.compute.conftest import compute_setup
from alchemiscale.tests.integration.compute.service.conftest import wait_for
from alchemiscale.tests.integration.compute.service.test_service import registrations, solvent_names, status

from .conftest import manager_in_thread, read


def test_scales_up_while_tasks_wait_and_down_when_idle(n4js_fresh, compute_identity, network, scope_test,
                                                        manager_config, tmp_path):
    setup = compute_setup(n4js_fresh, network, scope_test, solvent_names(network, 3))
    logfile = tmp_path / "manager.log"
    config = manager_config(
        "local", service={"scopes": [str(scope_test)], "protocols": ["SuccessProtocol"]},
        max_compute_services=2, max_submit_per_cycle=2, logfile=str(logfile),
    )
    with manager_in_thread(config) as manager:
        wait_for(lambda: all(status(n4js_fresh, t) == "complete" for t in setup.tasks.values()), 300,
                 "the Tasks to be completed")
        wait_for(lambda: read(logfile).count("stopping compute service") == 2, 120, "the idle services to be stopped")
        wait_for(lambda: registrations(n4js_fresh) == 0, 120, "the stopped services to deregister")
        registered = n4js_fresh.get_compute_manager_status(manager.compute_manager_id)
        assert registered is not None and registered.saturation == 0.0
    log = read(logfile)
    assert "3 task(s) waiting; 0 service(s) running, 0 busy: starting 2, stopping 0" in log
    # each service is stopped once it is idle and nothing waits (together, or one by one as they finish)
    stops = [line for line in log.splitlines() if "stopping compute service" in line]
    assert len(stops) == 2 and "0 task(s) waiting" in log.split(stops[0])[0]
    assert "(manager exiting)" not in log  # nothing left to stop
    assert n4js_fresh.get_compute_manager_status(manager.compute_manager_id) is None  # deregistered
    services = {f"{config.service.name}.{manager.compute_manager_id.uuid[:8]}.{n}" for n in range(2)}
    for task in setup.tasks.values():
        assert len(n4js_fresh.get_task_results(task)) == 1
        [attempt] = n4js_fresh.get_task_history(task)
        assert attempt["compute_service_id"].rpartition("-")[0] in services
    for name in services:
        assert "deregistered" in read(manager.service_log(name))
        assert (manager.workdir / "services" / f"{name}.yaml").stat().st_mode & 0o077 == 0  # holds the key
