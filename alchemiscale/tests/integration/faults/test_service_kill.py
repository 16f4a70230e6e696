"""Fault: a compute service killed with SIGKILL in the middle of a Task, several times over.

Each trial (the trials run side by side) runs a real service process (``python -m
alchemiscale.compute.service``) on a real compute API whose registrations expire after four silent
seconds, and kills it while its Task runs. Then another service starts; its heartbeats expire the
dead one, which sends the Task back to waiting, and it claims the Task and finishes it. Every trial
must end with the Task complete, exactly one successful result (made by the second service) and
nothing from the killed run. The figures: seconds from the kill to the requeue and to the finish.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from alchemiscale.serialization.compression import deserialize_protocoldagresult
from alchemiscale.compute.provenance import PROVENANCE_KEY
from alchemiscale.compute.service import SynchronousComputeService
from alchemiscale.models import Scope, ScopedKey
from alchemiscale.security.models import CredentialedComputeIdentity
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.tests.integration.compute.conftest import COMPUTE_IDENTIFIER, compute_setup, running_compute_api
from alchemiscale.tests.integration.compute.service.conftest import (
    make_service,
    pid_alive,
    service_config_factory,
    service_in_thread,
    service_process,
    slow_network,
    wait_for,
)
from alchemiscale.tests.integration.compute.service.protocols import PID_FILENAME
from alchemiscale.tests.integration.identities import make_identity

TRIALS = 3
EXPIRE_SECONDS = 4  # eight heartbeats: live services keep their registrations on a loaded machine
HEARTBEAT_SECONDS = 0.5
TASK_SECONDS = 2.0


def registrations(store) -> int:
    return store.execute_query("MATCH (csr:ComputeServiceRegistration) RETURN count(csr)")[0][0]


@dataclass
class Trial:
    scope: Scope
    task: ScopedKey
    transformation: ScopedKey
    doomed: dict  # settings of the service that is killed
    pid_file: Path  # where the slow unit of the doomed service writes its process id
    process: Optional[subprocess.Popen] = None
    pid: int = 0
    killed_at: Optional[datetime] = None
    rescuer: Optional[SynchronousComputeService] = None


def test_killed_service_task_is_requeued_and_finished_exactly_once(n4js_fresh, ligands, neo4j_server, tmp_path):
    key = make_identity(n4js_fresh, CredentialedComputeIdentity, COMPUTE_IDENTIFIER, ["*-*-*"])
    objectstore = LocalObjectStore(tmp_path / "objects")
    objectstore.initialize()
    with running_compute_api(
        neo4j_server,
        tmp_path / "api",
        objectstore.root,
        ALCHEMISCALE_COMPUTE_API_REGISTRATION_EXPIRE_SECONDS=str(EXPIRE_SECONDS),
    ) as api:
        service_config = service_config_factory(tmp_path, api.url, (COMPUTE_IDENTIFIER, key))
        trials = []
        for number in range(TRIALS):  # each trial in a Scope of its own, so its services see only its Task
            scope = Scope("sigkill", "trial", f"t{number}")
            setup = compute_setup(n4js_fresh, slow_network(ligands, seconds=TASK_SECONDS), scope)
            doomed = service_config(scopes=[str(scope)], heartbeat_interval=HEARTBEAT_SECONDS)
            task = setup.tasks["slow"]
            pid_file = tmp_path / doomed["name"] / "shared" / str(task) / PID_FILENAME
            trials.append(Trial(scope, task, setup.transformations["slow"], doomed, pid_file))

        # the trials run side by side: one service process each, killed as soon as its Task is running
        def kill_the_started() -> bool:
            for trial in trials:
                if trial.killed_at is None and trial.pid_file.exists() and (pid := trial.pid_file.read_text()):
                    trial.pid = int(pid)
                    trial.process.send_signal(signal.SIGKILL)
                    trial.killed_at = datetime.now(timezone.utc)
                    trial.process.wait(10)
                    # still running: only EXPIRE_SECONDS without a heartbeat, seen by another service, requeue
                    # it (the other trials' services may do that before the rescuers start)
                    assert n4js_fresh.get_task_status([trial.task]) == ["running"]
            return all(trial.killed_at is not None for trial in trials)

        with ExitStack() as processes:
            for trial in trials:
                trial.process = processes.enter_context(
                    service_process(trial.doomed, tmp_path / f"{trial.doomed['name']}.yaml")
                )
            wait_for(kill_the_started, 90, "every slow unit to start", interval=0.05)
        for trial in trials:
            wait_for(lambda: not pid_alive(trial.pid), 10, "the orphaned execution to exit")
            assert n4js_fresh.get_task_results(trial.task) == [] and n4js_fresh.get_task_failures(trial.task) == []

        # a fresh service per trial: its heartbeats expire the killed one; it claims and completes the Task
        with ExitStack() as rescuers:
            for trial in trials:
                config = service_config(scopes=[str(trial.scope)], heartbeat_interval=HEARTBEAT_SECONDS)
                trial.rescuer = rescuers.enter_context(service_in_thread(make_service(config)))
            for trial in trials:
                wait_for(lambda: n4js_fresh.get_task_status([trial.task]) == ["complete"], 90, "the Task to finish")

    requeue_seconds, finish_seconds = [], []
    for trial in trials:
        # on a loaded machine a live service may miss EXPIRE_SECONDS of heartbeats too: it then loses its
        # claim, registers again and claims afresh (more requeued attempts, by the same service)
        *requeued, finished = n4js_fresh.get_task_history(trial.task)
        assert requeued[0]["compute_service_id"].startswith(f"{trial.doomed['name']}-")
        assert all(attempt["outcome"] == "requeued" for attempt in requeued)
        assert finished["outcome"] == "complete"
        assert finished["compute_service_id"] == str(trial.rescuer.compute_service_id)
        killed_attempt = [a for a in requeued if a["compute_service_id"] == requeued[0]["compute_service_id"]][-1]
        # exactly one result, the rescuer's; the killed run stored nothing
        [result_ref] = n4js_fresh.get_task_results(trial.task)
        assert n4js_fresh.get_task_failures(trial.task) == []
        assert n4js_fresh.get_transformation_results(trial.transformation) == [result_ref]
        assert n4js_fresh.get_transformation_failures(trial.transformation) == []
        ref = n4js_fresh.get_protocoldagresultref(result_ref)
        result = deserialize_protocoldagresult(objectstore.pull_protocoldagresult(ref, trial.transformation))
        assert result.ok()
        makers = {unit.outputs[PROVENANCE_KEY]["compute_service_id"] for unit in result.protocol_unit_results}
        assert makers == {str(trial.rescuer.compute_service_id)}
        requeue_seconds.append((killed_attempt["ended"] - trial.killed_at).total_seconds())
        finish_seconds.append((finished["ended"] - trial.killed_at).total_seconds())
    assert registrations(n4js_fresh) == 0  # the killed services expired, the rescuers deregistered

    print(
        f"\nservice kill -9: {TRIALS} trials (registration expiry {EXPIRE_SECONDS} s, heartbeat {HEARTBEAT_SECONDS} s,"
        f" Task {TASK_SECONDS} s); requeued after {_spread(requeue_seconds)} s, finished after"
        f" {_spread(finish_seconds)} s (from the kill); results per Task: 1 successful, 0 failed, 0 from the killed run"
    )
    # the registration outlives its last heartbeat by EXPIRE_SECONDS; the next heartbeat of any service requeues
    assert all(EXPIRE_SECONDS - HEARTBEAT_SECONDS <= s <= EXPIRE_SECONDS + 20 for s in requeue_seconds)
    assert all(finish >= requeue + TASK_SECONDS for requeue, finish in zip(requeue_seconds, finish_seconds))


def _spread(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f} (median {statistics.median(values):.1f})"
