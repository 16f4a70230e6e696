"""Warm execution workers: long-lived child processes that run one ProtocolDAG at a time.

Starting a fresh interpreter and importing gufe, OpenMM and the Protocols costs seconds, more than
a short Task itself. A :class:`WarmWorker` pays that once: its process (spawned, in a process group
of its own) imports :data:`PRELOAD_MODULES` while the service is still registering and claiming,
then runs the jobs it is sent, one after another. A Task that must stop (cancelled, over
``max_task_time``, the service stopping) is stopped by killing the whole process group; the next
job gets a fresh process, started at once so that it warms up while the service pushes the
result and claims. A Task's failure cannot reach the next one: exceptions become failed results
inside the worker, and the environment variables and working directory a Task changed are put
back before the next job.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Optional

PRELOAD_MODULES = ("gufe", "openmm", "alchemiscale.protocols.hydration", "alchemiscale.compute.execution")
_PARENT_CHECK_SECONDS = 1.0
_STARTED, _DONE = "started", "done"
_JOIN_SECONDS = 5.0


def _exit_when_orphaned(parent_pid: int) -> None:
    """Stop the worker if its service dies (e.g. SIGKILL), so no orphan keeps computing."""
    while True:
        time.sleep(_PARENT_CHECK_SECONDS)
        if os.getppid() != parent_pid:
            os._exit(3)


@contextlib.contextmanager
def _restored_process_state() -> Iterator[None]:
    """Put back the environment variables and working directory a job changed."""
    environ, cwd = dict(os.environ), os.getcwd()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)


def _worker_main(
    connection: multiprocessing.connection.Connection,
    parent_pid: int,
    environment: Mapping[str, str],
    preload: Sequence[str],
) -> None:
    """The worker process: set its environment (before anything can initialise CUDA), import, serve jobs."""
    os.setpgid(0, 0)  # own process group, so the service can kill anything a Protocol starts
    os.environ.update(environment)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    for module in preload:
        try:
            importlib.import_module(module)
        except ImportError as e:  # a lighter environment: the module is imported when a Task needs it
            print(f"warm worker: not preloading {module}: {e}", file=sys.stderr, flush=True)
    from .execution import run_job

    while True:
        try:
            job = connection.recv()
        except EOFError:  # the service closed the connection: nothing more to do
            return
        connection.send(_STARTED)  # imports are done: the job's time starts now
        with _restored_process_state():
            run_job(job)
        gc.collect()
        connection.send(_DONE)


class WarmWorker:
    """The parent's handle on one worker process; it replaces the process whenever it had to die.

    ``environment`` is added to the process's environment at its start (e.g. ``CUDA_VISIBLE_DEVICES``);
    ``max_tasks`` replaces the process by a fresh one after that many jobs (1: a fresh process per Task).
    :meth:`kill_job` may be called from any thread.
    """

    def __init__(
        self,
        name: str,
        environment: Optional[Mapping[str, str]] = None,
        *,
        preload: Sequence[str] = PRELOAD_MODULES,
        max_tasks: Optional[int] = None,
    ):
        self.name = name
        self.environment = dict(environment or {})
        self.preload = tuple(preload)
        self.max_tasks = max_tasks
        self.processes_started = 0
        self._lock = threading.Lock()
        self._process: Optional[multiprocessing.process.BaseProcess] = None
        self._connection: Optional[multiprocessing.connection.Connection] = None
        self._jobs_in_process = 0
        self._killed = False
        self._current: Optional[WorkerJob] = None  # the job running now

    @property
    def pid(self) -> Optional[int]:
        process = self._process
        return process.pid if process is not None else None

    def warm_up(self) -> None:
        """Start a process now if there is none alive, so its imports are done before the next job."""
        with self._lock:
            if self._process is not None and self._process.is_alive() and not self._killed:
                return
            self._discard()
            parent, child = multiprocessing.get_context("spawn").Pipe()
            process = multiprocessing.get_context("spawn").Process(
                target=_worker_main,
                args=(child, os.getpid(), self.environment, self.preload),
                name=f"alchemiscale-worker-{self.name}",
                daemon=False,
            )
            process.start()
            child.close()
            self._process, self._connection, self._jobs_in_process, self._killed = process, parent, 0, False
            self.processes_started += 1

    def submit(self, job: dict[str, Any]) -> "WorkerJob":
        """Hand ``job`` to the worker (see :func:`~alchemiscale.compute.execution.run_job`)."""
        self.warm_up()
        with self._lock:
            handle = WorkerJob(self, self._process, self._connection)
            self._current = handle
            try:
                self._connection.send(job)
            except (BrokenPipeError, OSError):  # died while idle: wait() reports its exit code
                pass
            return handle

    def kill_job(self, job: "WorkerJob") -> bool:
        """Kill the process (and its group) if it is still running ``job``; True if it was."""
        with self._lock:
            if self._current is not job:
                return False
            self._kill()
            return True

    def close(self) -> None:
        """Kill the process, whatever it is doing (the service is stopping)."""
        with self._lock:
            self._kill()
            self._discard()

    def _ended(self, job: "WorkerJob", finished: bool) -> None:
        with self._lock:
            if self._current is job:
                self._current = None
            if not finished or job.process is not self._process:
                return
            self._jobs_in_process += 1
            if self.max_tasks is not None and self._jobs_in_process >= self.max_tasks:
                self._kill()
                job.process.join(_JOIN_SECONDS)

    def _kill(self) -> None:
        process = self._process
        if process is None or process.exitcode is not None:
            return
        self._killed = True
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()  # it had not made its process group yet

    def _discard(self) -> None:
        if self._process is not None:
            self._process.join(_JOIN_SECONDS)
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None


class WorkerJob:
    """One job handed to a worker process; :meth:`wait` for it, :meth:`kill` it from any thread."""

    def __init__(self, worker: WarmWorker, process, connection: multiprocessing.connection.Connection):
        self.worker, self.process, self.connection = worker, process, connection
        self.exitcode: Optional[int] = None  # 0 once finished, the process's exit code if it died first
        self.started: Optional[float] = None  # time.monotonic() when the worker, imports done, began the job
        self.done = False

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s; True once the job has ended (then see :attr:`exitcode`)."""
        if self.done:
            return True
        ready = multiprocessing.connection.wait([self.connection, self.process.sentinel], timeout)
        if not ready:
            return False
        finished = False
        if self.connection in ready:
            try:
                message = self.connection.recv()
                if message == _STARTED:
                    self.started = time.monotonic()
                    return False
                finished = True
            except (EOFError, OSError):
                pass  # it died as it finished; the exit code says how
        if not finished:
            self.process.join(_JOIN_SECONDS)
        self.exitcode = 0 if finished else self.process.exitcode
        self.done = True
        self.worker._ended(self, finished)
        return True

    def kill(self) -> bool:
        """Kill the worker process if it still runs this job; True if it did."""
        return self.worker.kill_job(self)
