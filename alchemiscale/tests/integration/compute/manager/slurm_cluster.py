"""A real single-node SLURM (Debian's slurm-wlm and munge) run from a private folder for the tests.

munged, slurmctld and slurmd are started as root with a generated ``slurm.conf`` and stopped by
their pid files afterwards. Client commands (sbatch, squeue, scancel) find the cluster through
``SLURM_CONF``, which :func:`running_slurm` returns in ``env``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

PARTITION = "debug"
DAEMONS = ("munged", "slurmctld", "slurmd")
_MUNGE_DIRS = (Path("/run/munge"), Path("/var/log/munge"), Path("/var/lib/munge"))
_MUNGE_KEY = Path("/etc/munge/munge.key")
_MUNGE_PID = Path("/run/munge/munged.pid")


@dataclass(frozen=True)
class SlurmCluster:
    conf: Path
    folder: Path
    partition: str

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *command: str) -> str:
        done = subprocess.run(command, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def jobs(self) -> dict[str, str]:
        """Job id -> state of the jobs SLURM still lists (pending, running, completing)."""
        out = self.run("squeue", "-h", "-o", "%i %T")
        return dict(line.split() for line in out.splitlines() if line.strip())


def unavailable_reason() -> Optional[str]:
    """Why a real SLURM cannot be started here, or None if it can."""
    missing = [name for name in (*DAEMONS, "sbatch", "munge") if shutil.which(name) is None]
    if os.geteuid() != 0:
        return "starting SLURM daemons needs root" + (f" and {', '.join(missing)}" if missing else "")
    if missing:
        return f"slurm-wlm and munge are not installed (missing {', '.join(missing)}); run devtools/install-system.sh"
    return None


def _slurm_conf(folder: Path, host: str, ctld_port: int) -> str:
    cpus = os.cpu_count() or 1
    memory_mib = max(1024, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 - 1024)
    return f"""\
ClusterName=alchemiscaletest
SlurmctldHost={host}
SlurmUser=root
SlurmctldPort={ctld_port}
SlurmdPort={ctld_port + 1}
AuthType=auth/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
KillWait=120
MinJobAge=30
NodeName={host} CPUs={cpus} RealMemory={memory_mib} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
"""


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
        if port < 65535:
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free pair of ports for slurmctld and slurmd")


def _start_munge() -> bool:
    """Start munged unless one answers already; True if this call started it."""
    if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
        return False
    for folder in _MUNGE_DIRS:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "munge", "munge")
    if not _MUNGE_KEY.exists():
        _MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
        _MUNGE_KEY.write_bytes(os.urandom(1024))
    shutil.chown(_MUNGE_KEY, "munge", "munge")
    _MUNGE_KEY.chmod(0o400)
    subprocess.run(["su", "-s", "/bin/sh", "munge", "-c", "munged"], check=True, timeout=30)
    _wait(lambda: subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0,
          10, "munged to answer")
    return True


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def _stop_pidfile(pidfile: Path, timeout: float = 15) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


@contextmanager
def running_slurm(folder: Path) -> Iterator[SlurmCluster]:
    """munged (if none runs), slurmctld and slurmd on this host, with their state and logs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(_slurm_conf(folder, host, _free_port_pair()))
    cluster = SlurmCluster(conf, folder, PARTITION)
    started_munge = _start_munge()
    try:
        subprocess.run(["slurmctld", "-f", str(conf)], check=True, timeout=30)
        subprocess.run(["slurmd", "-f", str(conf)], check=True, timeout=30)
        _wait(lambda: "idle" in cluster.run("sinfo", "-h", "-o", "%T"), 30, "the SLURM node to be idle")
        yield cluster
    finally:
        subprocess.run(["scancel", "--full", "-u", "root"], env={**os.environ, **cluster.env},
                       capture_output=True, timeout=30)
        _stop_pidfile(folder / "slurmd.pid")
        _stop_pidfile(folder / "slurmctld.pid")
        if started_munge:
            _stop_pidfile(_MUNGE_PID)
