"""Detached background processes: start, check, wait for and stop them by pid.

Every process is started in its own session, so it outlives the command that started it and its
children (gunicorn workers, a compute service's task process) share its process group: stopping
the group leaves nothing behind. Zombies with no threads left count as exited, since an orphan's
zombie may linger until some ancestor reaps it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Mapping, Optional, Sequence

import httpx

from .neo4jserver import HAS_PROCFS, pid_alive, port_in_use

# Below Linux's default ephemeral range (32768-60999), so outgoing connections cannot take a chosen port
# in the seconds between choosing it and a server binding it.
QUIET_PORT_RANGE = range(20000, 32000)
LOG_TAIL_LINES = 30


class ProcessError(RuntimeError):
    """A background process failed to start or to become ready; the message says what to look at."""


def spawn(command: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Optional[Path] = None) -> int:
    """Start ``command`` detached in a new session, stdout and stderr appended to ``log_path``; returns its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    return process.pid


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports currently free on loopback, from :data:`QUIET_PORT_RANGE`."""
    ports: list[int] = []
    for port in random.sample(QUIET_PORT_RANGE, k=len(QUIET_PORT_RANGE)):
        if len(ports) == count:
            break
        if not port_in_use(port):
            ports.append(port)
    if len(ports) < count:
        raise ProcessError(f"could not find {count} free ports in {QUIET_PORT_RANGE}")
    return ports


def _proc_stat(pid: int) -> Optional[list[str]]:
    """Fields of /proc/<pid>/stat after the command name (state first), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``; just the leader where /proc is missing."""
    if not HAS_PROCFS:
        return [pgid] if pid_alive(pgid) else []
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def runs_command_with(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line contains ``marker`` (guards against pid reuse)."""
    if not pid_alive(pid):
        return False
    if not HAS_PROCFS:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def stop_groups(pgids: Sequence[int], timeout: float = 30.0) -> list[int]:
    """SIGTERM each group leader, wait for the whole groups to exit, SIGKILL whatever remains.

    Returns the groups that needed SIGKILL.
    """
    for pgid in pgids:
        try:
            os.kill(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    _wait_groups_exit(pgids, timeout)
    stubborn = [pgid for pgid in pgids if group_members(pgid)]
    for pgid in stubborn:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _wait_groups_exit(stubborn, 10.0)
    return stubborn


def _wait_groups_exit(pgids: Sequence[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(group_members(pgid) for pgid in pgids) and time.monotonic() < deadline:
        time.sleep(0.1)


def wait_for_ping(url: str, pid: int, log_path: Path, timeout: float = 90.0) -> None:
    """Wait until ``GET {url}/ping`` answers 200; fail early, with the log's tail, if ``pid`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if not pid_alive(pid):
            raise ProcessError(f"the process serving {url} exited during startup; last lines of {log_path}:\n"
                               f"{log_tail(log_path)}")
        try:
            if httpx.get(f"{url}/ping", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ProcessError(f"{url} did not answer /ping within {timeout:.0f} s; last lines of {log_path}:\n"
                               f"{log_tail(log_path)}")
        time.sleep(0.25)


def ping(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """(healthy, detail) for ``GET {url}/ping``."""
    try:
        response = httpx.get(f"{url}/ping", timeout=timeout)
    except httpx.HTTPError as e:
        return False, f"no answer: {type(e).__name__}"
    return response.status_code == 200, f"HTTP {response.status_code}"


def log_tail(path: Path, count: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            lines = deque(handle, maxlen=count)
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(line.decode(errors="replace").rstrip("\n") for line in lines) or "(log is empty)"
