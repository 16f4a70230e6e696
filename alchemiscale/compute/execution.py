"""Running one ProtocolDAG: unit by unit with retries, in a child process that can be killed.

:func:`run_protocoldag` walks the DAG itself rather than calling gufe's ``execute_DAG``, so that
every attempt of every unit gets a fresh scratch folder and carries provenance (host, Task, attempt). :class:`ChildExecution` runs it in a spawned
process, so a Task that is no longer wanted can be stopped at once by killing that process:
the ProtocolDAG goes to the child as a keyed-chain JSON file and the ProtocolDAGResult comes
back as a zstd-compressed keyed-chain file (see :mod:`alchemiscale.compression`).

Failures that happen outside any ProtocolUnit (building the ProtocolDAG, the child process
dying) are reported as a ProtocolDAGResult holding one :class:`ExecutionFailureUnit` and its
ProtocolUnitFailure, so the server records the error and its traceback like any other.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Optional, Sequence

from gufe.protocols import Context, ProtocolDAG, ProtocolDAGResult, ProtocolUnit, ProtocolUnitFailure
from gufe.protocols.protocolunit import ProtocolUnitResult
from gufe.tokenization import JSON_HANDLER

from ..compression import serialize_protocoldagresult
from ..gufe_chain import from_keyed_chain_json, to_keyed_chain_json
from .environment import interpreter_tools_on_path
from .provenance import PROVENANCE_KEY, unit_provenance, utc_now_iso

JOB_FILENAME = "protocoldag-job.json"
RESULT_FILENAME = "protocoldagresult.json.zst"
_PARENT_CHECK_SECONDS = 1.0


class ExecutionFailureUnit(ProtocolUnit):
    """Stands for a step outside the Protocol's own units (e.g. building the ProtocolDAG) that failed.

    It is never executed; it only gives the failure a ProtocolUnit to belong to.
    """

    @staticmethod
    def _execute(ctx, **inputs):
        raise NotImplementedError("ExecutionFailureUnit only records failures; it is not executable")


def failed_protocoldagresult(
    step: str,
    exception: BaseException,
    traceback_text: str,
    provenance: dict[str, Any],
    *,
    name: Optional[str] = None,
    transformation_key: Optional[str] = None,
    extends_key: Optional[str] = None,
) -> ProtocolDAGResult:
    """A ProtocolDAGResult saying that ``step`` failed with ``exception`` (and its traceback).

    ``name`` and the keys label it as gufe labels the result of a ProtocolDAG it created.
    """
    unit = ExecutionFailureUnit(name=step)
    failure = ProtocolUnitFailure(
        name=step,
        source_key=unit.key,
        inputs={},
        outputs={PROVENANCE_KEY: provenance},
        exception=(type(exception).__qualname__, _json_safe_args(exception.args)),
        traceback=traceback_text,
    )
    return ProtocolDAGResult(
        name=name,
        protocol_units=[unit],
        protocol_unit_results=[failure],
        transformation_key=transformation_key,
        extends_key=extends_key,
    )


def dag_labels(protocoldag: Optional[ProtocolDAG]) -> dict[str, Optional[str]]:
    """The labels of a ProtocolDAG that its result carries (see :func:`failed_protocoldagresult`)."""
    if protocoldag is None:
        return {}
    return {
        "name": protocoldag.name,
        "transformation_key": protocoldag.transformation_key,
        "extends_key": protocoldag.extends_key,
    }


def _json_safe_args(args: Sequence[Any]) -> tuple:
    """Exception arguments as they are if gufe can serialize them, else as their reprs."""
    try:
        json.dumps(list(args), cls=JSON_HANDLER.encoder)
        return tuple(args)
    except (TypeError, ValueError):
        return tuple(repr(arg) for arg in args)


def _with_results(inputs: Any, results: dict) -> Any:
    """``inputs`` with every ProtocolUnit replaced by the result it produced."""
    if isinstance(inputs, dict):
        return {name: _with_results(value, results) for name, value in inputs.items()}
    if isinstance(inputs, list):
        return [_with_results(value, results) for value in inputs]
    if isinstance(inputs, ProtocolUnit):
        return results[inputs.key]
    return inputs


def _stamp(result: ProtocolUnitResult, provenance: dict[str, Any]) -> None:
    """Add provenance to the result's outputs (never replacing an output of the unit's own).

    A failure's exception arguments are made serializable too, so an odd argument cannot
    make the whole result impossible to upload.
    """
    result.outputs.setdefault(PROVENANCE_KEY, provenance)
    if isinstance(result, ProtocolUnitFailure):
        exception_type, args = result.exception
        result._exception = (exception_type, _json_safe_args(args))


def run_protocoldag(
    protocoldag: ProtocolDAG,
    *,
    shared: Path,
    scratch: Path,
    n_retries: int,
    keep_scratch: bool,
    host_provenance: dict[str, Any],
    task: str,
) -> ProtocolDAGResult:
    """Execute the units in dependency order, each up to ``1 + n_retries`` times.

    Every unit gets a fresh ``scratch/<unit key>`` folder per attempt (removed afterwards unless
    ``keep_scratch``); all share ``shared``. Execution stops at the first unit that fails every
    attempt. All attempts' results, failed ones included, go into the ProtocolDAGResult.
    """
    shared.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    attempts: list[ProtocolUnitResult] = []
    for unit in protocoldag.protocol_units:
        inputs = _with_results(unit.inputs, results)
        unit_scratch = scratch / str(unit.key)
        for attempt in range(n_retries + 1):
            shutil.rmtree(unit_scratch, ignore_errors=True)
            unit_scratch.mkdir(parents=True)
            start = utc_now_iso()
            result = unit.execute(context=Context(scratch=unit_scratch, shared=shared), **inputs)
            _stamp(result, unit_provenance(host_provenance, task, attempt, start, utc_now_iso()))
            attempts.append(result)
            if not keep_scratch:
                shutil.rmtree(unit_scratch, ignore_errors=True)
            if result.ok():
                break
        results[unit.key] = result
        if not result.ok():
            break
    return ProtocolDAGResult(
        name=protocoldag.name,
        protocol_units=protocoldag.protocol_units,
        protocol_unit_results=attempts,
        transformation_key=protocoldag.transformation_key,
        extends_key=protocoldag.extends_key,
    )


def _exit_when_orphaned(parent_pid: int) -> None:
    """Stop the child if its service dies (e.g. SIGKILL), so no orphan keeps computing."""
    while True:
        time.sleep(_PARENT_CHECK_SECONDS)
        if os.getppid() != parent_pid:
            os._exit(3)


def _child_main(job_path: str) -> None:
    """Entry point of the child process: read the job, run the DAG, write the result file."""
    os.setpgid(0, 0)  # own process group, so the service can kill anything the Protocol starts
    job = json.loads(Path(job_path).read_text())
    threading.Thread(target=_exit_when_orphaned, args=(job["parent_pid"],), daemon=True).start()
    start = utc_now_iso()
    protocoldag = None
    try:
        protocoldag = from_keyed_chain_json(job["protocoldag"])
        with interpreter_tools_on_path():
            result = run_protocoldag(
                protocoldag,
                shared=Path(job["shared"]),
                scratch=Path(job["scratch"]),
                n_retries=job["n_retries"],
                keep_scratch=job["keep_scratch"],
                host_provenance=job["host_provenance"],
                task=job["task"],
            )
        data = serialize_protocoldagresult(result)
    except Exception as e:  # report it as the Task's failure rather than dying without a word
        provenance = unit_provenance(job["host_provenance"], job["task"], 0, start, utc_now_iso())
        data = serialize_protocoldagresult(
            failed_protocoldagresult(
                "execute ProtocolDAG", e, traceback.format_exc(), provenance, **dag_labels(protocoldag)
            )
        )
    result_path = Path(job["result_path"])
    partial = result_path.with_name(result_path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, result_path)


class ChildExecution:
    """One ProtocolDAG running in a spawned child process; :meth:`cancel` kills it from any thread.

    ``workdir`` holds the job and result files and, below it, the per-unit scratch folders.
    """

    def __init__(
        self,
        protocoldag: ProtocolDAG,
        *,
        task: str,
        shared: Path,
        workdir: Path,
        n_retries: int,
        keep_scratch: bool,
        host_provenance: dict[str, Any],
    ):
        self.protocoldag = protocoldag
        self.workdir = workdir
        self.job_path = workdir / JOB_FILENAME
        self.result_path = workdir / RESULT_FILENAME
        self._job = {
            "protocoldag": to_keyed_chain_json(protocoldag),
            "task": task,
            "shared": str(shared),
            "scratch": str(workdir),
            "n_retries": n_retries,
            "keep_scratch": keep_scratch,
            "host_provenance": host_provenance,
            "result_path": str(self.result_path),
            "parent_pid": os.getpid(),
        }
        self._process: Optional[multiprocessing.process.BaseProcess] = None
        self._lock = threading.Lock()
        self.cancelled = False
        self.started_at: Optional[str] = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.result_path.unlink(missing_ok=True)
        self.job_path.write_text(json.dumps(self._job))
        self.started_at = utc_now_iso()
        process = multiprocessing.get_context("spawn").Process(
            target=_child_main, args=(str(self.job_path),), name="alchemiscale-protocoldag", daemon=False
        )
        with self._lock:
            if self.cancelled:
                return
            process.start()
            self._process = process

    def wait(self, poll_seconds: float = 0.5) -> Optional[int]:
        """Block until the child exits; returns its exit code (None if it never started)."""
        process = self._process
        if process is None:
            return None
        while process.is_alive():
            process.join(poll_seconds)
        return process.exitcode

    def cancel(self) -> None:
        """Kill the child (and its process group); its result, if any, will be ignored."""
        with self._lock:
            self.cancelled = True
            self._kill()

    def stop(self) -> None:
        """Kill the child if it still runs (cleanup path; does not mark the execution cancelled)."""
        with self._lock:
            self._kill()
        if self._process is not None:
            self._process.join(5)

    def _kill(self) -> None:
        process = self._process
        if process is None or process.exitcode is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()  # the child had not made its process group yet

    def result_bytes(self) -> bytes:
        """The child's serialized ProtocolDAGResult, or a failed one explaining why there is none."""
        if self.result_path.exists():
            return self.result_path.read_bytes()
        exitcode = self._process.exitcode if self._process is not None else None
        reason = (
            f"killed by signal {signal.Signals(-exitcode).name}" if exitcode is not None and exitcode < 0
            else f"exited with code {exitcode}"
        )
        error = RuntimeError(f"the process executing the ProtocolDAG {reason} without producing a result")
        failure = failed_protocoldagresult(
            "execute ProtocolDAG",
            error,
            f"{type(error).__qualname__}: {error}\n",
            unit_provenance(self._job["host_provenance"], self._job["task"], 0, self.started_at, utc_now_iso()),
            **dag_labels(self.protocoldag),
        )
        return serialize_protocoldagresult(failure)
