"""A compute manager whose services are child processes on this host.

Each service runs ``python -m alchemiscale.compute.service -c <generated YAML>`` in its own
session (so a Ctrl-C meant for the manager does not reach it), its output in the manager's
``workdir/logs``. Stopping sends SIGTERM: the service stops its Task, deregisters, and the server
sends the Task back to waiting; a service still alive ``stop_timeout`` seconds later is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..settings import ComputeServiceSettings
from .base import ComputeManager, ComputeManagerError
from .settings import LocalComputeManagerSettings


@dataclass
class _Child:
    process: subprocess.Popen
    stop_deadline: Optional[float] = None  # monotonic time after which a stopped child is killed


class LocalComputeManager(ComputeManager):
    settings: LocalComputeManagerSettings

    def __init__(self, settings: LocalComputeManagerSettings, service_settings: ComputeServiceSettings):
        super().__init__(settings, service_settings)
        self._children: dict[str, _Child] = {}

    def start_compute_service(self, name: str, config_file: Path) -> None:
        output = self.service_log(name).with_suffix(".out")
        try:
            with open(output, "ab") as out:
                process = subprocess.Popen(
                    [str(self.settings.python), "-m", "alchemiscale.compute.service", "-c", str(config_file)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        except OSError as e:
            raise ComputeManagerError(f"could not start compute service {name} with {self.settings.python}: {e}") from e
        self._children[name] = _Child(process)
        self.logger.info("started compute service %s (pid %d)", name, process.pid)

    def running_compute_services(self) -> set[str]:
        self._reap()
        return {name for name, child in self._children.items() if child.stop_deadline is None}

    def stop_compute_service(self, name: str) -> None:
        child = self._children.get(name)
        if child is None or child.stop_deadline is not None:
            return
        child.stop_deadline = time.monotonic() + self.settings.stop_timeout
        _signal(child.process, signal.SIGTERM)
        self.logger.info("stopping compute service %s (pid %d)", name, child.process.pid)

    def close(self) -> None:
        """Wait for the stopping services to exit (killing those past their deadline); others run on."""
        while self._reap():
            time.sleep(0.2)

    def _reap(self) -> int:
        """Forget exited children, kill stopped ones past their deadline; returns how many are stopping."""
        now = time.monotonic()
        for name, child in list(self._children.items()):
            code = child.process.poll()
            if code is not None:
                del self._children[name]
                level = "info" if code == 0 or child.stop_deadline is not None else "warning"
                getattr(self.logger, level)("compute service %s exited with code %d", name, code)
            elif child.stop_deadline is not None and now > child.stop_deadline:
                self.logger.warning("compute service %s did not stop in time; killing it", name)
                _signal(child.process, signal.SIGKILL)
        return sum(child.stop_deadline is not None for child in self._children.values())


def _signal(process: subprocess.Popen, signum: int) -> None:
    try:
        os.kill(process.pid, signum)
    except ProcessLookupError:
        pass
