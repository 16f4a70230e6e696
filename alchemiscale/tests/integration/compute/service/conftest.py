"""Compute service test helpers: settings pointing at the real compute API, services in threads and processes,
and a user API and client for tests that go from submission to results."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml
from gufe import AlchemicalNetwork, ChemicalSystem, Transformation

from alchemiscale.serialization.compression import deserialize_protocoldagresult
from alchemiscale.compute.service import SynchronousComputeService
from alchemiscale.compute.settings import ComputeServiceSettings
from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.models import Scope, ScopedKey
from alchemiscale.security.models import CredentialedUserIdentity
from alchemiscale.tests.integration.compute.conftest import server_env
from alchemiscale.tests.integration.identities import make_identity
from alchemiscale.tests.integration.servers import running_uvicorn

from .protocols import SlowProtocol, slow_settings

REPO_ROOT = Path(__file__).parents[5]
USER_APP = "alchemiscale.interface.api:app"
FAST = {"sleep_interval": 0.2, "deep_sleep_interval": 30, "heartbeat_interval": 0.5, "n_retries": 0, "loglevel": "INFO"}


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def service_config_factory(tmp_path: Path, api_url: str, identity: tuple[str, str]) -> Callable[..., dict]:
    """Makes settings (as dicts) for services on ``api_url`` with short intervals, each with its own name
    and folders under ``tmp_path``; keyword arguments override any field."""
    identifier, key = identity
    counter = iter(range(1000))

    def make(**overrides) -> dict:
        name = f"svc{next(counter)}"
        return {
            "api_url": api_url,
            "identifier": identifier,
            "key": key,
            "name": name,
            "shared_basedir": str(tmp_path / name / "shared"),
            "scratch_basedir": str(tmp_path / name / "scratch"),
            "logfile": str(tmp_path / name / "service.log"),
            **FAST,
            **overrides,
        }

    return make


@pytest.fixture
def service_config(tmp_path, compute_api_url, compute_identity) -> Callable[..., dict]:
    """Settings (as a dict) for a service on the session compute API with short intervals."""
    return service_config_factory(tmp_path, compute_api_url, compute_identity)


@pytest.fixture(scope="module")
def user_api_url(neo4j_server, compute_objectstore, tmp_path_factory) -> Iterator[str]:
    """A user API reading results from the same object store the session compute API writes to."""
    workdir = tmp_path_factory.mktemp("user-api")
    env = server_env(neo4j_server, compute_objectstore.root, workdir / "import-guard.log")
    with running_uvicorn(USER_APP, env, log_path=workdir / "user-api.log") as url:
        yield url


@pytest.fixture
def user_client(n4js_fresh, compute_identity, user_api_url) -> Iterator[tuple[AlchemiscaleClient, Scope]]:
    """A user client holding one Scope of its own (created after the database was emptied)."""
    scope = Scope("service", "user", f"p{uuid.uuid4().hex[:8]}")
    key = make_identity(n4js_fresh, CredentialedUserIdentity, "service-user", [str(scope)])
    with AlchemiscaleClient(user_api_url, "service-user", key, use_local_cache=False, max_retries=1) as client:
        yield client, scope


def make_service(config: dict) -> SynchronousComputeService:
    return SynchronousComputeService(ComputeServiceSettings(**config))


@contextmanager
def service_in_thread(service: SynchronousComputeService) -> Iterator[SynchronousComputeService]:
    """Run ``service.start()`` in a thread; stop it and wait for it (deregistered) on exit."""
    errors: list[BaseException] = []

    def run():
        try:
            service.start()
        except BaseException as e:  # surfaced in the test thread below
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop()
        thread.join(30)
    assert not thread.is_alive(), "the service did not stop within 30 s"
    if errors:
        raise errors[0]


@contextmanager
def service_process(config: dict, path: Path) -> Iterator[subprocess.Popen]:
    """Run ``python -m alchemiscale.compute.service`` with ``config`` written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "alchemiscale.compute.service", "-c", str(path)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def slow_network(ligands, seconds: float) -> AlchemicalNetwork:
    stateA = ChemicalSystem({"ligand": ligands["methane"]}, name="methane vacuum")
    stateB = ChemicalSystem({"ligand": ligands["ethane"]}, name="ethane vacuum")
    protocol = SlowProtocol(slow_settings(seconds))
    return AlchemicalNetwork(edges=[Transformation(stateA, stateB, protocol, name="slow")], name="slow network")


def task_results(store, objectstore, task: ScopedKey, transformation: ScopedKey) -> list:
    """The ProtocolDAGResults recorded for a Task (successful and failed), read back from the object store."""
    results = []
    for ref_sk in store.get_task_results(task) + store.get_task_failures(task):
        ref = store.get_protocoldagresultref(ref_sk)
        results.append(deserialize_protocoldagresult(objectstore.pull_protocoldagresult(ref, transformation)))
    return results


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
