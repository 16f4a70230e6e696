"""The compute manager: asks the compute API how much work waits, and starts or stops compute services.

A manager registers as ``<name>-<uuid>``, then every ``sleep_interval`` asks for an instruction:

- ``OK`` with ``num_tasks`` (Tasks a service could claim now) and the services it manages, and
  which of them hold claimed Tasks: it starts services while more are needed (at most
  ``max_submit_per_cycle`` a cycle, ``max_compute_services`` in all) and, once nothing waits,
  stops the services that hold no Task;
- ``SKIP`` (a managed service failed too often): it starts nothing;
- ``SHUTDOWN`` (the manager is no longer registered): it stops.

After each instruction it reports status OK with its saturation (running services over the
maximum); an unexpected error is reported as ERROR and raised. Subclasses say how a service is
started, listed and stopped on their platform.
"""

from __future__ import annotations

import itertools
import math
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from ...base.client import AlchemiscaleClientError
from ...base.logs import process_logger
from ...models import ComputeManagerID, ComputeServiceID
from ..sleep import InterruptableSleep, SleepInterrupted
from ...storage.models import ComputeManagerInstruction, ComputeManagerStatus
from ..client import AlchemiscaleComputeManagerClient
from ..settings import ComputeServiceSettings
from .settings import ComputeManagerSettings

LOGGER_NAME = "AlchemiscaleComputeManager"


class ComputeManagerError(RuntimeError):
    """The platform refused to start or stop a compute service (e.g. sbatch rejected the job); says why."""


@dataclass(frozen=True)
class ScalingPlan:
    """What one OK instruction asks for: how many services to start, which ones to stop."""

    start: int
    stop: tuple[str, ...]


def plan_scaling(
    num_tasks: int, running: set[str], busy: set[str], claim_limit: int, max_services: int, max_submit: int
) -> ScalingPlan:
    """Services needed for ``num_tasks`` waiting Tasks, given the ``running`` ones (by name) of which
    ``busy`` hold claimed Tasks; idle services claim first, so only the shortfall is started."""
    if num_tasks == 0:
        return ScalingPlan(0, tuple(sorted(running - busy)))
    idle = len(running - busy)
    shortfall = math.ceil(num_tasks / claim_limit) - idle
    return ScalingPlan(max(0, min(shortfall, max_services - len(running), max_submit)), ())


class ComputeManager(ABC):
    """Registers, follows instructions and keeps the right number of compute services on a platform."""

    def __init__(self, settings: ComputeManagerSettings, service_settings: ComputeServiceSettings):
        self.settings = settings
        self.service_settings = service_settings
        self.compute_manager_id = ComputeManagerID.new_from_name(settings.name)
        self.workdir = settings.workdir.absolute()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.client = AlchemiscaleComputeManagerClient(
            service_settings.api_url,
            service_settings.identifier,
            service_settings.key,
            use_local_cache=False,
            max_retries=settings.client_max_retries,
            retry_base_seconds=settings.client_retry_base_seconds,
            retry_max_seconds=settings.client_retry_max_seconds,
            verify=service_settings.client_verify,
        )
        self.logger = process_logger(f"{LOGGER_NAME}.{self.compute_manager_id}", str(self.compute_manager_id),
                                     settings.loglevel, settings.logfile)
        self.scopes = service_settings.scopes or []
        self._serial = itertools.count()
        self._sleep = InterruptableSleep()
        self._stop = threading.Event()

    # -- platform hooks -------------------------------------------------------------------------------

    @abstractmethod
    def start_compute_service(self, name: str, config_file: Path) -> None:
        """Start one compute service, named ``name``, that runs with the YAML settings in ``config_file``."""

    @abstractmethod
    def running_compute_services(self) -> set[str]:
        """Names of the services started and not yet ended (nor asked to stop)."""

    @abstractmethod
    def stop_compute_service(self, name: str) -> None:
        """Ask one service to stop; it deregisters, and the server requeues any Task it held."""

    def close(self) -> None:
        """Release the platform's resources (after the services were stopped, if they were)."""

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._sleep.interrupt()

    def start(self, steal: bool = False, max_cycles: Optional[int] = None) -> None:
        """Register, cycle every ``sleep_interval`` until stopped (or ``max_cycles``), then deregister."""
        try:
            self.client.register(self.compute_manager_id, steal=steal)
        except Exception:  # the caller reports it (the CLI in one line)
            self._close()
            raise
        self.logger.info("registered with %s as %s", self.service_settings.api_url, self.compute_manager_id)
        errored = False
        try:
            for cycle in itertools.count(1):
                self.cycle()
                if self._stop.is_set() or (max_cycles is not None and cycle >= max_cycles):
                    break
                self._sleep(self.settings.sleep_interval)
        except (SleepInterrupted, KeyboardInterrupt):
            self.logger.info("stop requested")
        except (AlchemiscaleClientError, ComputeManagerError) as e:  # expected: no traceback
            errored = True
            self.logger.error("stopping: %s", e)
            self._report_error(e)
            raise
        except Exception as e:
            errored = True
            self.logger.exception("stopping after an unexpected error")
            self._report_error(e)
            raise
        finally:
            self._finish(errored)

    def _finish(self, errored: bool) -> None:
        try:
            if self.settings.stop_services_on_exit:
                for name in sorted(self.running_compute_services()):
                    self.logger.info("stopping compute service %s (manager exiting)", name)
                    self.stop_compute_service(name)
            self.close()
        finally:
            if not errored:  # an ERROR manager stays registered, visible, until cleared or expired
                try:
                    self.client.deregister(self.compute_manager_id)
                    self.logger.info("deregistered")
                except Exception as e:
                    self.logger.error("could not deregister: %s", e)
            self._close()

    def _close(self) -> None:
        self.client.close()
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
            handler.close()

    def _report_error(self, error: Exception) -> None:
        try:
            self.client.update_status(self.compute_manager_id, ComputeManagerStatus.ERROR, detail=repr(error))
        except Exception as e:
            self.logger.error("could not report the error to the server: %s", e)

    # -- one cycle ------------------------------------------------------------------------------------

    def cycle(self) -> ComputeManagerInstruction:
        """Ask for an instruction, act on it, report the saturation; returns the instruction."""
        instruction, data = self.client.get_instruction(
            self.scopes, self.service_settings.protocols, self.compute_manager_id
        )
        if instruction == ComputeManagerInstruction.SHUTDOWN:
            self.logger.warning("told to shut down: %s", data.get("message", "no reason given"))
            self.stop()
            return instruction
        running = self.running_compute_services()
        if instruction == ComputeManagerInstruction.OK:
            self._scale(data, running)
        else:
            self.logger.warning("skipping: a managed compute service failed too often recently")
        saturation = min(1.0, len(self.running_compute_services()) / self.settings.max_compute_services)
        self.client.update_status(self.compute_manager_id, ComputeManagerStatus.OK, saturation=saturation)
        return instruction

    def _scale(self, data: dict[str, Any], running: set[str]) -> None:
        busy = {ComputeServiceID(i).name for i in data.get("busy_compute_service_ids", [])}
        plan = plan_scaling(
            data["num_tasks"],
            running,
            busy & running,
            self.service_settings.claim_limit,
            self.settings.max_compute_services,
            self.settings.max_submit_per_cycle,
        )
        self.logger.info(
            "%d task(s) waiting; %d service(s) running, %d busy: starting %d, stopping %d",
            data["num_tasks"], len(running), len(busy & running), plan.start, len(plan.stop),
        )
        for name in plan.stop:
            self.stop_compute_service(name)
        for _ in range(plan.start):
            name = self._next_service_name()
            self.start_compute_service(name, self.write_service_config(name))

    # -- service configs ------------------------------------------------------------------------------

    def _next_service_name(self) -> str:
        """``<service name>.<first 8 of the manager uuid>.<serial>``: unique, and the service id's name."""
        return f"{self.service_settings.name}.{self.compute_manager_id.uuid[:8]}.{next(self._serial)}"

    def service_config(self, name: str) -> dict[str, Any]:
        """The settings of the service ``name``: the template with its name, this manager's id and its logfile."""
        config = self.service_settings.model_dump(mode="json", exclude_none=True)
        config.update(
            key=self.service_settings.key.get_secret_value(),
            name=name,
            compute_manager_id=str(self.compute_manager_id),
            logfile=str(self.service_log(name)),
        )
        return config

    def service_log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def write_service_config(self, name: str) -> Path:
        """Write the service's YAML (readable by the owner only: it holds the key); returns its path."""
        path = self.workdir / "services" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.service_log(name).parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(yaml.safe_dump(self.service_config(name), sort_keys=False))
        return path
