"""Compute manager test helpers: a real SLURM for the session, managers run in threads on the real compute API."""

from __future__ import annotations

import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

from alchemiscale.compute.manager import ComputeManager, ComputeManagerConfig, manager_from_config
from alchemiscale.tests.integration.compute.service.conftest import REPO_ROOT, service_config_factory

from .slurm_cluster import SlurmCluster, running_slurm, unavailable_reason

MANAGER_FAST = {"sleep_interval": 1.0, "loglevel": "INFO", "client_max_retries": 1}


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory) -> Iterator[SlurmCluster]:
    """A single-node SLURM for the session; installs slurm-wlm and munge first when root lacks them."""
    if unavailable_reason() is not None:
        subprocess.run(["bash", str(REPO_ROOT / "devtools" / "install-system.sh")], capture_output=True)
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"no real SLURM: {reason}")
    with running_slurm(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


@pytest.fixture
def manager_config(tmp_path, compute_api_url, compute_identity) -> Callable[..., ComputeManagerConfig]:
    """Makes a manager config on the session compute API; ``service`` overrides service settings."""
    make_service = service_config_factory(tmp_path / "services", compute_api_url, compute_identity)

    def make(kind: str, service: dict | None = None, **manager) -> ComputeManagerConfig:
        service_settings = make_service(**(service or {}))
        service_settings.pop("logfile")  # the manager gives each service its own
        settings = {"kind": kind, "name": f"{kind}manager", "workdir": str(tmp_path / "manager"), **MANAGER_FAST}
        return ComputeManagerConfig(manager={**settings, **manager}, service=service_settings)

    return make


@contextmanager
def manager_in_thread(config: ComputeManagerConfig) -> Iterator[ComputeManager]:
    """Run ``manager.start()`` in a thread; stop it and wait for it (deregistered) on exit."""
    manager = manager_from_config(config)
    errors: list[BaseException] = []

    def run():
        try:
            manager.start()
        except BaseException as e:  # surfaced in the test thread below
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield manager
    finally:
        manager.stop()
        thread.join(90)
    assert not thread.is_alive(), "the manager did not stop within 90 s"
    if errors:
        raise errors[0]


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
