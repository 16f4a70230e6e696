"""Running one ProtocolDAG: unit by unit with retries, in a child process that can be killed.

:func:`run_protocoldag` walks the DAG itself rather than calling gufe's ``execute_DAG``, so that
every attempt of every unit gets a fresh scratch folder and carries provenance (host, Task, attempt).
:class:`ChildExecution` runs it on a warm worker process (:mod:`.workers`), so a Task that is no
longer wanted can be stopped at once by killing that process: the ProtocolDAG goes to the worker
as keyed-chain JSON over a pipe and the ProtocolDAGResult comes back as a zstd-compressed
keyed-chain file (see :mod:`alchemiscale.serialization.compression`).

Failures that happen outside any ProtocolUnit (building the ProtocolDAG, the child process
dying) are reported as a ProtocolDAGResult holding one :class:`ExecutionFailureUnit` and its
ProtocolUnitFailure, so the server records the error and its traceback like any other.
"""

from __future__ import annotations

import json
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

from ..serialization.compression import serialize_protocoldagresult
from ..serialization.gufe_chain import from_keyed_chain_json, to_keyed_chain_json
from .environment import interpreter_tools_on_path
from .provenance import PROVENANCE_KEY, unit_provenance, utc_now_iso
from .workers import WarmWorker, WorkerJob

RESULT_FILENAME = "protocoldagresult.json.zst"


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


def run_job(job: dict[str, Any]) -> None:
    """Run one job in a worker process: rebuild the DAG, run it, write the result file.

    Whatever goes wrong is written as the Task's failed result rather than raised, so the worker
    stays usable for the next job.
    """
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
    """One ProtocolDAG running in a worker's child process; :meth:`cancel` kills it from any thread.

    ``workdir`` holds the result file and, below it, the per-unit scratch folders. A ``time_limit``
    (seconds) kills the execution once it has run that long on its worker (a fresh worker's imports
    do not count); :attr:`timed_out` then says so.
    """

    def __init__(
        self,
        protocoldag: ProtocolDAG,
        *,
        worker: WarmWorker,
        task: str,
        shared: Path,
        workdir: Path,
        n_retries: int,
        keep_scratch: bool,
        host_provenance: dict[str, Any],
        time_limit: Optional[float] = None,
    ):
        self.protocoldag = protocoldag
        self.worker = worker
        self.workdir = workdir
        self.result_path = workdir / RESULT_FILENAME
        self.time_limit = time_limit
        self._job = {
            "protocoldag": to_keyed_chain_json(protocoldag),
            "task": task,
            "shared": str(shared),
            "scratch": str(workdir),
            "n_retries": n_retries,
            "keep_scratch": keep_scratch,
            "host_provenance": host_provenance,
            "result_path": str(self.result_path),
        }
        self._handle: Optional[WorkerJob] = None
        self._lock = threading.Lock()
        self.cancelled = False
        self.timed_out = False
        self.started_at: Optional[str] = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.result_path.unlink(missing_ok=True)
        self.started_at = utc_now_iso()
        with self._lock:
            if self.cancelled:
                return
            self._handle = self.worker.submit(self._job)

    def wait(self, poll_seconds: float = 0.5) -> Optional[int]:
        """Block until the job ends: 0 once it finished, the worker's exit code if it died (None if never started)."""
        handle = self._handle
        if handle is None:
            return None
        while not handle.wait(poll_seconds):
            # the time limit counts from when the worker began the job, not while a fresh one imports
            over = self.time_limit is not None and handle.started is not None
            if over and time.monotonic() - handle.started >= self.time_limit and handle.kill():
                self.timed_out = True
        return handle.exitcode

    def cancel(self) -> None:
        """Kill the worker running this job (and its process group); its result, if any, will be ignored."""
        with self._lock:
            self.cancelled = True
            if self._handle is not None:
                self._handle.kill()

    def stop(self) -> None:
        """Kill the job if it still runs (cleanup path; does not mark the execution cancelled)."""
        handle = self._handle
        if handle is not None and not handle.done:
            handle.kill()

    def result_bytes(self) -> bytes:
        """The worker's serialized ProtocolDAGResult, or a failed one explaining why there is none."""
        if self.result_path.exists() and not self.timed_out:
            return self.result_path.read_bytes()
        exitcode = self._handle.exitcode if self._handle is not None else None
        if self.timed_out:
            reason = f"was killed after running for max_task_time={self.time_limit:g} s"
        elif exitcode is not None and exitcode < 0:
            reason = f"was killed by signal {signal.Signals(-exitcode).name}"
        else:
            reason = f"exited with code {exitcode}"
        error = RuntimeError(f"the process executing the ProtocolDAG {reason} without producing a result")
        failure = failed_protocoldagresult(
            "execute ProtocolDAG",
            error,
            f"{type(error).__qualname__}: {error}\n",
            unit_provenance(self._job["host_provenance"], self._job["task"], 0, self.started_at, utc_now_iso()),
            **dag_labels(self.protocoldag),
        )
        return serialize_protocoldagresult(failure)
