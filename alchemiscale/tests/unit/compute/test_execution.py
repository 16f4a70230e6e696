"""ProtocolDAG execution: per-unit scratch folders, retries, provenance, failure results, child processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from gufe import ChemicalSystem, Transformation

from alchemiscale.serialization.compression import (
    decompress_keyed_chain,
    deserialize_protocoldagresult,
    serialize_protocoldagresult,
    summarize_protocoldagresult,
)
from alchemiscale.compute.environment import interpreter_tools_on_path
from alchemiscale.compute.execution import ChildExecution, failed_protocoldagresult, run_protocoldag
from alchemiscale.compute.workers import WarmWorker
from alchemiscale.tests.integration.compute.service.protocols import (
    STRAY_VARIABLE,
    EnvironmentProtocol,
    SlowProtocol,
    environment_settings,
    slow_settings,
)
from alchemiscale.compute.provenance import PROVENANCE_KEY
from alchemiscale.compute.service import create_protocoldag
from alchemiscale.tests.protocols import FAILURE_MESSAGE

HOST = {"hostname": "node1", "gpu": None, "versions": {"python": "3"}, "compute_service_id": "svc-" + "0" * 32}


def dag_of(transformation):
    return create_protocoldag(transformation, None, str(transformation.key))


def summary(result) -> dict:
    return summarize_protocoldagresult(decompress_keyed_chain(serialize_protocoldagresult(result)))


def test_units_run_in_order_with_their_own_scratch_and_provenance(transformation, tmp_path):
    result = run_protocoldag(
        dag_of(transformation), shared=tmp_path / "shared", scratch=tmp_path / "scratch",
        n_retries=2, keep_scratch=True, host_provenance=HOST, task="Task-1",
    )
    assert summary(result)["ok"] and summary(result)["transformation_key"] == str(transformation.key)
    assert [r.name for r in result.protocol_unit_results][0] == "setup"
    assert (tmp_path / "shared" / "setup.txt").exists()
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == sorted(
        str(u.key) for u in result.protocol_units
    )
    provenance = result.protocol_unit_results[-1].outputs[PROVENANCE_KEY]
    assert provenance["hostname"] == "node1" and provenance["task"] == "Task-1" and provenance["attempt"] == 0


def test_a_failing_unit_is_retried_then_execution_stops(failing_transformation, tmp_path):
    result = run_protocoldag(
        dag_of(failing_transformation), shared=tmp_path / "shared", scratch=tmp_path / "scratch",
        n_retries=2, keep_scratch=False, host_provenance=HOST, task="Task-1",
    )
    failures = result.protocol_unit_failures
    assert len(failures) == 3 and len({f.source_key for f in failures}) == 1
    assert sorted(f.outputs[PROVENANCE_KEY]["attempt"] for f in failures) == [0, 1, 2]
    assert all(FAILURE_MESSAGE in f.traceback for f in failures)
    assert "finish" not in {r.name for r in result.protocol_unit_results}  # nothing ran after the failed unit
    assert not summary(result)["ok"] and len(summary(result)["failures"]) == 3
    assert not any((tmp_path / "scratch").iterdir())


def test_failure_result_carries_the_traceback_to_the_server(transformation):
    try:
        raise ValueError("bad input", object())
    except ValueError as e:
        tb = traceback.format_exc()
        result = failed_protocoldagresult(
            "create ProtocolDAG", e, tb, HOST, name="Task-x", transformation_key=str(transformation.key)
        )
    server_view = summary(result)
    assert not server_view["ok"] and server_view["transformation_key"] == str(transformation.key)
    [failure] = server_view["failures"]
    assert "bad input" in failure["traceback"] and "Traceback" in failure["traceback"]
    assert result.protocol_unit_failures[0].exception[1][1].startswith("<object")  # made serializable


def test_results_decode_in_a_process_that_never_saw_the_units(failing_transformation, tmp_path):
    result = run_protocoldag(
        dag_of(failing_transformation), shared=tmp_path / "shared", scratch=tmp_path / "scratch",
        n_retries=0, keep_scratch=False, host_provenance=HOST, task="Task-1",
    )
    path = tmp_path / "result.zst"
    path.write_bytes(serialize_protocoldagresult(result))
    code = (
        "import sys; from pathlib import Path\n"
        "from alchemiscale.serialization.compression import deserialize_protocoldagresult\n"
        "r = deserialize_protocoldagresult(Path(sys.argv[1]).read_bytes())\n"
        "print(len(r.protocol_unit_results), len(r.protocol_unit_failures), r.name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2", "1", str(failing_transformation.key)]


@pytest.fixture
def worker():
    worker = WarmWorker("test", preload=("gufe", "alchemiscale.compute.execution"))
    yield worker
    worker.close()


def child_execution(dag, worker, tmp_path, name: str, **options) -> ChildExecution:
    return ChildExecution(
        dag, worker=worker, task=name, shared=tmp_path / name / "shared", workdir=tmp_path / name / "work",
        n_retries=0, keep_scratch=False, host_provenance=HOST, **options,
    )


def test_child_execution_returns_the_result(transformation, worker, tmp_path):
    dag = dag_of(transformation)
    execution = child_execution(dag, worker, tmp_path, "Task-1")
    execution.start()
    assert execution.wait(0.1) == 0
    result = deserialize_protocoldagresult(execution.result_bytes())
    assert {r.source_key for r in result.protocol_unit_results} == {u.key for u in dag.protocol_units}
    assert summary(result)["ok"]


def test_cancelled_child_gives_no_result_and_a_dead_child_gives_a_failure(transformation, worker, tmp_path):
    execution = child_execution(dag_of(transformation), worker, tmp_path, "Task-1")
    execution.start()
    execution.cancel()
    assert execution.wait(0.1) < 0 and execution.cancelled
    # what the service would report had the child died on its own
    failure = deserialize_protocoldagresult(execution.result_bytes())
    assert "killed by signal SIGKILL" in failure.protocol_unit_failures[0].traceback


def transformation_with(protocol, ligands) -> Transformation:
    stateA = ChemicalSystem({"ligand": ligands["methane"]}, name="methane vacuum")
    stateB = ChemicalSystem({"ligand": ligands["ethane"]}, name="ethane vacuum")
    return Transformation(stateA, stateB, protocol, name=type(protocol).__name__)


def run_to_end(execution: ChildExecution):
    execution.start()
    assert execution.wait(0.1) == 0
    return deserialize_protocoldagresult(execution.result_bytes())


def test_a_warm_worker_runs_tasks_in_one_process_and_restores_its_environment(ligands, worker, tmp_path):
    dag = dag_of(transformation_with(EnvironmentProtocol(environment_settings(0.0)), ligands))
    outputs = []
    for number in range(3):
        [unit_result] = run_to_end(child_execution(dag, worker, tmp_path, f"Task-{number}")).protocol_unit_results
        outputs.append(unit_result.outputs)
    assert len({output["pid"] for output in outputs}) == 1 and worker.processes_started == 1
    # each Task left a variable behind; the next one did not see it
    assert [output["environment"][STRAY_VARIABLE] for output in outputs] == [None, None, None]


def test_a_fresh_worker_per_task_when_worker_max_tasks_is_one(transformation, tmp_path):
    worker = WarmWorker("fresh", preload=(), max_tasks=1)
    try:
        pids = []
        for number in range(2):
            execution = child_execution(dag_of(transformation), worker, tmp_path, f"Task-{number}")
            execution.start()
            pids.append(worker.pid)
            assert execution.wait(0.1) == 0
        assert pids[0] != pids[1] and worker.processes_started == 2
    finally:
        worker.close()


def test_time_limit_kills_the_worker_and_the_next_task_gets_a_fresh_one(ligands, worker, tmp_path):
    slow = transformation_with(SlowProtocol(slow_settings(60.0)), ligands)
    execution = child_execution(dag_of(slow), worker, tmp_path, "Task-slow", time_limit=1.0)
    execution.start()
    killed_pid = worker.pid
    assert execution.wait(0.1) < 0 and execution.timed_out and not execution.cancelled
    [failure] = deserialize_protocoldagresult(execution.result_bytes()).protocol_unit_failures
    assert "max_task_time=1 s" in failure.traceback
    quick = transformation_with(SlowProtocol(slow_settings(0.0)), ligands)
    assert summary(run_to_end(child_execution(dag_of(quick), worker, tmp_path, "Task-next")))["ok"]
    assert worker.pid != killed_pid and worker.processes_started == 2


def test_interpreter_tools_are_on_path_while_protocols_run(monkeypatch):
    """openfe's AM1-BCC charges need sqm, which lives next to the interpreter, not on a service's PATH."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shutil.which("sqm") is None
    with interpreter_tools_on_path():
        assert shutil.which("sqm") == str(Path(sys.executable).parent / "sqm")
    assert os.environ["PATH"] == "/usr/bin:/bin"
