"""The synchronous compute service: claim Tasks, run their ProtocolDAGs, push the results, repeat.

A service runs up to ``max_concurrent_tasks`` Tasks at once, each in an execution slot: a thread
that drives the Task and a warm worker process that executes it (see :mod:`.execution` and
:mod:`.workers`), pinned to one of ``devices`` (round-robin) through ``CUDA_VISIBLE_DEVICES``. It
claims only as many Tasks as it has free slots, and keeps a heartbeat thread alive beside them. The
heartbeat also asks whether the running Tasks are still wanted; a Task that was cancelled,
invalidated or handed to another service has its worker killed (and replaced by a fresh one).

Run it with ``alchemiscale compute synchronous -c CONFIG.yaml`` (``python -m
alchemiscale.compute.service`` runs the same command); see ``docs/compute.rst``.
"""

from __future__ import annotations

import gc
import logging
import shutil
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..base.client import AlchemiscaleClientError
from ..base.logs import install_log_context, process_logger
from ..serialization.compression import decompress_keyed_chain, serialize_protocoldagresult, summarize_protocoldagresult
from ..models import ComputeManagerID, ComputeServiceID, Scope, ScopedKey
from .sleep import InterruptableSleep, SleepInterrupted
from .client import AlchemiscaleComputeClient
from .execution import ChildExecution, failed_protocoldagresult
from .metrics import ServiceMetrics
from .provenance import host_provenance, unit_provenance, utc_now_iso
from .settings import ComputeServiceSettings
from .workers import WarmWorker

LOGGER_NAME = "AlchemiscaleSynchronousComputeService"
_HEARTBEAT_JOIN_SECONDS = 5.0
_SLOT_JOIN_SECONDS = 30.0
_STOP_CHECK_SECONDS = 0.5  # how often a wait for a free slot looks whether the service is stopping


class ComputeServiceError(RuntimeError):
    """The service stopped on an unexpected error, logged with its traceback."""


def registration_failure(settings: ComputeServiceSettings, error: AlchemiscaleClientError) -> str:
    """One line saying why registering failed and what to check."""
    if error.status_code == 401:
        return (f"could not register with {settings.api_url}: it refused compute identity {settings.identifier!r} "
                "or its key (401); check identifier and key in the service's config (an administrator adds "
                "compute identities with `alchemiscale identity add -t compute`)")
    if error.status_code == 404:  # e.g. a path after the host that the API does not have
        return f"could not register with {settings.api_url}: {error}; api_url must be the compute API's base URL"
    return f"could not register with {settings.api_url}: {error}"


def registration_gone(error: AlchemiscaleClientError) -> bool:
    """Whether the compute API answered that this service is not registered (expired or deleted)."""
    return error.status_code == 404


def make_logger(
    compute_service_id: str, loglevel: str, logfile: Optional[Path], log_format: str = "text"
) -> logging.Logger:
    """``[UTC time] [service id] [LEVEL] message`` lines (or JSON objects) to stdout and, if given, to ``logfile``."""
    install_log_context()
    return process_logger(f"{LOGGER_NAME}.{compute_service_id}", compute_service_id, loglevel, logfile, log_format)


def slot_devices(count: int, devices: Optional[list[str]]) -> list[Optional[str]]:
    """The device of each of ``count`` slots: ``devices`` round-robin, or None for all without devices."""
    return [devices[index % len(devices)] if devices else None for index in range(count)]


@dataclass
class ExecutionSlot:
    """A place to run one Task: its device, the warm worker pinned to it, and the Task it runs now."""

    index: int
    device: Optional[str]
    worker: WarmWorker
    host: dict[str, Any]  # provenance of the Tasks run here
    task: Optional[ScopedKey] = None
    execution: Optional[ChildExecution] = None
    thread: Optional[threading.Thread] = None

    @property
    def label(self) -> str:
        return f"slot {self.index}" + (f", device {self.device}" if self.device is not None else "")


def create_protocoldag(transformation, extends, name: str):
    """The ProtocolDAG of a Transformation, continuing from ``extends`` (a ProtocolDAGResult) if given.

    It is named after its Task, as upstream names it; gufe labels it with the Transformation's key.
    """
    return transformation.create(extends=extends, name=name)


class SynchronousComputeService:
    """Claims and executes up to ``max_concurrent_tasks`` Tasks at once until stopped or a ``max_tasks``/``max_time`` limit."""

    def __init__(self, settings: ComputeServiceSettings):
        self.settings = settings
        self.compute_service_id = ComputeServiceID.new_from_name(settings.name)
        self.compute_manager_id = (
            ComputeManagerID(settings.compute_manager_id) if settings.compute_manager_id is not None else None
        )
        self.scopes = settings.scopes or [Scope()]
        self.shared_basedir = settings.shared_basedir.absolute()
        self.scratch_basedir = settings.scratch_basedir.absolute()
        self.shared_basedir.mkdir(parents=True, exist_ok=True)
        self.scratch_basedir.mkdir(parents=True, exist_ok=True)
        self.client = AlchemiscaleComputeClient(
            settings.api_url,
            settings.identifier,
            settings.key,
            cache_directory=settings.client_cache_directory,
            cache_size_limit=settings.client_cache_size_limit,
            use_local_cache=settings.client_use_local_cache,
            max_retries=settings.client_max_retries,
            retry_base_seconds=settings.client_retry_base_seconds,
            retry_max_seconds=settings.client_retry_max_seconds,
            verify=settings.client_verify,
        )
        self.logger = make_logger(self.compute_service_id, settings.loglevel, settings.logfile, settings.log_format)
        self.metrics = ServiceMetrics(str(self.compute_service_id))
        self.metrics_port: Optional[int] = None  # bound when started, if settings.metrics_port is set
        self.tasks_executed = 0
        self._sleep = InterruptableSleep()
        self._stop = threading.Event()
        # re-entrant: a signal handler (stop) may run while the main thread holds it
        self._lock = threading.RLock()
        self._slot_freed = threading.Condition(self._lock)
        self._registration_lock = threading.Lock()
        self.slots = [
            ExecutionSlot(
                index,
                device,
                WarmWorker(
                    f"{index}",
                    {"CUDA_VISIBLE_DEVICES": device} if device is not None else {},
                    preload=settings.worker_preload,
                    max_tasks=settings.worker_max_tasks,
                ),
                host={},
            )
            for index, device in enumerate(slot_devices(settings.max_concurrent_tasks, settings.devices))
        ]
        self._started_at: Optional[float] = None

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the service to stop: sleeps end at once; ``start`` then deregisters and returns."""
        self._stop.set()
        self._sleep.interrupt()

    def start(self) -> None:
        """Register, beat in the background, cycle until stopped, then deregister.

        Stopping kills the Tasks still running (their claims go back to waiting when the service deregisters).
        """
        self._started_at = time.monotonic()
        hosts: dict[Optional[str], dict[str, Any]] = {}
        for slot in self.slots:
            if slot.device not in hosts:
                hosts[slot.device] = host_provenance(self.compute_service_id, slot.device)
            slot.host = hosts[slot.device]
        try:
            self.client.register(self.compute_service_id, self.compute_manager_id)
        except AlchemiscaleClientError as e:  # an expected failure: one line; the traceback only at DEBUG
            self.logger.error(registration_failure(self.settings, e))
            self.logger.debug("registration failure", exc_info=True)
            self._close_workers()
            self._close()
            raise
        except Exception:
            self.logger.exception("could not register with %s", self.settings.api_url)
            self._close_workers()
            self._close()
            raise
        self.logger.info("registered with %s as %s", self.settings.api_url, self.compute_service_id)
        if self.settings.metrics_port is not None:
            self.metrics_port = self.metrics.serve(self.settings.metrics_host, self.settings.metrics_port)
            self.logger.info("metrics on http://%s:%s/metrics", self.settings.metrics_host, self.metrics_port)
        for slot in self.slots:
            slot.worker.warm_up()  # its imports overlap the first claim
        heartbeat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        heartbeat.start()
        try:
            while not self._stop.is_set():
                self.cycle()
                gc.collect()
        except (SleepInterrupted, KeyboardInterrupt):
            self.logger.info("stop requested")
        except Exception as e:
            self.logger.exception("stopping after an unexpected error")
            raise ComputeServiceError(f"stopped after an unexpected error: {e!r}") from e
        finally:
            self.stop()
            self._stop_slots()
            heartbeat.join(_HEARTBEAT_JOIN_SECONDS)
            self._close_workers()
            self._deregister()

    def _stop_slots(self) -> None:
        """Kill the Tasks still running (no result is pushed for them) and wait for their slots."""
        for slot in self.slots:
            execution = slot.execution
            if execution is not None:
                execution.cancel()
                self.logger.warning("task %s (%s) stopped with the service; no result pushed", slot.task, slot.label)
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join(_SLOT_JOIN_SECONDS)

    def _close_workers(self) -> None:
        for slot in self.slots:
            slot.worker.close()

    def register_again(self, noticed_by: str) -> bool:
        """Register once more after the server dropped this service's registration; True on success.

        The server sent the Tasks this service held back to waiting when the registration went, so a
        running Task is no longer this service's: the heartbeat's wanted check stops it, and claiming
        starts afresh. The heartbeat thread and the claiming loop may both notice; the second finds
        the service registered already (409), which is success too.
        """
        with self._registration_lock:
            try:
                self.client.register(self.compute_service_id, self.compute_manager_id)
            except AlchemiscaleClientError as e:
                if e.status_code == 409:
                    return True
                self.logger.error("registration gone (noticed by %s); registering again failed: %s", noticed_by, e)
                return False
        self.logger.warning(
            "registration was gone on the server (expired or deleted; noticed by %s): registered again; "
            "the Tasks it held went back to waiting",
            noticed_by,
        )
        return True

    def _deregister(self) -> None:
        try:
            self.client.deregister(self.compute_service_id)
            self.logger.info("deregistered; executed %d task(s)", self.tasks_executed)
        except AlchemiscaleClientError as e:
            self.logger.error("could not deregister: %s", e)
        finally:
            self._close()

    def _close(self) -> None:
        self.client.close()
        self.metrics.close()
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
            handler.close()

    # -- heartbeat ----------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        try:
            while True:
                self._sleep(self.settings.heartbeat_interval)
                self.beat()
        except SleepInterrupted:
            pass

    def beat(self) -> None:
        """Send a heartbeat, then stop the running Tasks the server no longer wants.

        A heartbeat answered "not registered" registers the service again. Errors are logged, never
        raised: a missed beat must not kill the thread.
        """
        try:
            try:
                self.client.heartbeat(self.compute_service_id)
                self.logger.debug("heartbeat")
            except AlchemiscaleClientError as e:
                if not registration_gone(e):
                    raise
                self.register_again("heartbeat")
            with self._lock:
                running = [(slot.task, slot.execution, slot.label) for slot in self.slots if slot.execution is not None]
            if not running:
                return
            wanted = self.client.get_tasks_wanted([task for task, _, _ in running], self.compute_service_id)
            for (task, execution, label), still_wanted in zip(running, wanted):
                if not still_wanted:
                    execution.cancel()
                    self.logger.warning("task %s (%s) is no longer wanted; stopped its execution", task, label)
        except Exception as e:
            self.logger.error("heartbeat failed: %s", e)

    # -- claiming -------------------------------------------------------------------------------------

    def _busy_slots(self) -> int:
        with self._lock:
            return sum(slot.task is not None for slot in self.slots)

    def _limit_reached(self) -> Optional[str]:
        """Why no further Task may start, or None; ``max_tasks`` counts the running Tasks too."""
        settings = self.settings
        if settings.max_tasks is not None and self.tasks_executed + self._busy_slots() >= settings.max_tasks:
            return f"executed max_tasks={settings.max_tasks} task(s)"
        if settings.max_time is not None and time.monotonic() - self._started_at >= settings.max_time:
            return f"ran for max_time={settings.max_time} s"
        return None

    def claim_tasks(self, count: Optional[int] = None) -> Optional[list[Optional[ScopedKey]]]:
        """Claim up to ``count`` (default ``claim_limit``) Tasks; None if the server denies this service claims."""
        return self.client.claim_tasks(
            self.scopes,
            self.compute_service_id,
            scopes_exclude=self.settings.scopes_exclude,
            count=self.settings.claim_limit if count is None else count,
            protocols=self.settings.protocols,
        )

    def _claim_count(self, free: int) -> int:
        """One slot: ``claim_limit`` Tasks, run one after another (as upstream); more: as many as slots are free."""
        if len(self.slots) == 1:
            return self.settings.claim_limit
        if self.settings.max_tasks is not None:
            free = min(free, self.settings.max_tasks - self.tasks_executed - self._busy_slots())
        return max(free, 1)

    def _free_slot(self, wait: bool) -> Optional[ExecutionSlot]:
        """A slot without a Task; if ``wait``, wait for one until the service stops (then None)."""
        with self._slot_freed:
            while True:
                for slot in self.slots:
                    if slot.task is None:
                        return slot
                if not wait or self._stop.is_set():
                    return None
                self._slot_freed.wait(_STOP_CHECK_SECONDS)

    def cycle(self) -> None:
        """One round: claim for the free slots, start what was claimed; sleep when there was nothing to do."""
        reason = self._limit_reached()
        if reason is not None:
            if self._busy_slots():
                with self._slot_freed:
                    self._slot_freed.wait(_STOP_CHECK_SECONDS)  # the running Tasks finish first
                return
            self.logger.info("stopping: %s", reason)
            self.stop()
            return
        if self._free_slot(wait=True) is None:
            return
        free = len(self.slots) - self._busy_slots()
        try:
            claimed = self.claim_tasks(self._claim_count(free))
        except AlchemiscaleClientError as e:
            if registration_gone(e) and self.register_again("claim"):
                return  # claim again at once, as a registered service
            self.logger.error("claiming failed: %s", e)
            self._sleep(self.settings.sleep_interval)
            return
        if claimed is None:
            self.logger.warning(
                "claiming denied after too many recent failures; sleeping %s s", self.settings.deep_sleep_interval
            )
            self._sleep(self.settings.deep_sleep_interval)
            return
        tasks = [task for task in claimed if task is not None]
        if not tasks:
            self.logger.info("no tasks claimed; sleeping %s s", self.settings.sleep_interval)
            self._sleep(self.settings.sleep_interval)
            return
        for task in tasks:
            slot = self._free_slot(wait=True)
            if slot is None or self._limit_reached() is not None:
                break  # claimed but unstarted Tasks go back to waiting when we deregister
            self._start_in_slot(slot, task)

    def _start_in_slot(self, slot: ExecutionSlot, task: ScopedKey) -> None:
        with self._lock:
            slot.task = task
            slot.thread = threading.Thread(
                target=self._run_slot, args=(slot, task), name=f"slot-{slot.index}", daemon=True
            )
        slot.thread.start()

    def _run_slot(self, slot: ExecutionSlot, task: ScopedKey) -> None:
        """The slot's thread: execute the Task, free the slot, warm its worker up for the next Task."""
        try:
            self.execute(task, slot)
        except Exception:
            self.logger.exception("task %s (%s): unexpected error", task, slot.label)
        finally:
            if not self._stop.is_set():
                slot.worker.warm_up()  # a fresh process if the Task's had to die
            with self._slot_freed:
                slot.task = slot.execution = None
                self.tasks_executed += 1
                self._slot_freed.notify_all()

    # -- executing ------------------------------------------------------------------------------------

    def execute(self, task: ScopedKey, slot: ExecutionSlot) -> Optional[ScopedKey]:
        """Run one claimed Task in ``slot`` and push its result; returns the result's ScopedKey, or None if none was pushed."""
        self.logger.info("executing task %s (%s)", task, slot.label)
        self.metrics.started(str(task))
        start = utc_now_iso()
        transformation_key = None
        try:
            try:
                transformation, extends = self.client.retrieve_task_transformation(task)
            except AlchemiscaleClientError as e:
                self.logger.error("could not retrieve the transformation of task %s: %s", task, e)
                self.metrics.finished(str(task), "not_pushed")
                return None
            transformation_key = str(transformation.key)
            protocoldag = create_protocoldag(transformation, extends, name=str(task))
        except Exception as e:  # e.g. the Protocol's package is missing here, or Protocol.create raised
            step = "create ProtocolDAG" if transformation_key is not None else "load Transformation"
            self.logger.error("task %s failed to %s: %r", task, step.lower(), e)
            provenance = unit_provenance(slot.host, str(task), 0, start, utc_now_iso())
            failure = failed_protocoldagresult(
                step, e, traceback.format_exc(), provenance, name=str(task), transformation_key=transformation_key
            )
            return self.push_result(task, serialize_protocoldagresult(failure))

        shared = self.shared_basedir / str(task)
        workdir = self.scratch_basedir / str(task)
        for folder in (shared, workdir):
            shutil.rmtree(folder, ignore_errors=True)
        execution = ChildExecution(
            protocoldag,
            worker=slot.worker,
            task=str(task),
            shared=shared,
            workdir=workdir,
            n_retries=self.settings.n_retries,
            keep_scratch=self.settings.keep_scratch,
            host_provenance=slot.host,
            time_limit=self.settings.max_task_time,
        )
        with self._lock:
            slot.execution = execution
        try:
            if self._stop.is_set():
                execution.cancel()
            execution.start()
            exitcode = execution.wait()
            if execution.cancelled:
                self.logger.warning("task %s was stopped before it finished; no result pushed", task)
                self.metrics.finished(str(task), "not_pushed")
                return None
            if execution.timed_out:
                self.logger.error(
                    "task %s ran past max_task_time=%g s; killed its execution", task, self.settings.max_task_time
                )
            elif exitcode != 0:
                self.logger.error("the process executing task %s exited with code %s", task, exitcode)
            result = execution.result_bytes()
        finally:
            with self._lock:
                slot.execution = None
            execution.stop()
            if not self.settings.keep_shared:
                shutil.rmtree(shared, ignore_errors=True)
            if not self.settings.keep_scratch:
                shutil.rmtree(workdir, ignore_errors=True)
        return self.push_result(task, result)

    def push_result(self, task: ScopedKey, protocoldagresult: bytes) -> Optional[ScopedKey]:
        """Upload serialized result bytes as they are; log the outcome the server will record."""
        chain = decompress_keyed_chain(protocoldagresult)
        summary = summarize_protocoldagresult(chain)
        for failure in summary["failures"]:
            self.logger.warning("task %s: a unit failed: %s", task, failure["exception"])
            self.logger.debug("task %s: traceback:\n%s", task, failure["traceback"])
        try:
            result_key = self.client.set_task_result_bytes(task, protocoldagresult, self.compute_service_id)
        except AlchemiscaleClientError as e:
            self.logger.error("could not push the result of task %s: %s", task, e)
            self.metrics.finished(str(task), "not_pushed")
            return None
        self.logger.info("task %s %s; result %s", task, "completed" if summary["ok"] else "failed", result_key)
        self.metrics.finished(str(task), "completed" if summary["ok"] else "failed", chain)
        return result_key


if __name__ == "__main__":  # the CLI's command, for callers that run the module
    from ..cli import synchronous

    synchronous(prog_name="python -m alchemiscale.compute.service")
