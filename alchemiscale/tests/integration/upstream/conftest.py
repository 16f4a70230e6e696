"""Upstream alchemiscale 0.8.0's own clients and compute service, unchanged, as peers of our servers.

Upstream's package is also called ``alchemiscale``, so it lives in an environment of its own,
``.venv-upstream`` (``make upstream-peer``). Our code never imports it: the tests run the peer
scripts of ``devtools/upstream_peer`` with that environment's Python, from a working directory
outside the repository, and assert on the JSON they write.

Servers: one user API and one compute API for the session (both with the import guard that
refuses gufe), sharing one local object store, on the worker's Neo4j. Each module works in an
org of its own, with a user and a compute identity granted only that org.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

import alchemiscale
from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.models import Scope
from alchemiscale.security.models import CredentialedComputeIdentity, CredentialedEntity, CredentialedUserIdentity
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.tests.integration.compute.conftest import running_compute_api, server_env
from alchemiscale.tests.integration.servers import running_uvicorn

REPO_ROOT = Path(alchemiscale.__file__).resolve().parents[1]
UPSTREAM_PYTHON = REPO_ROOT / ".venv-upstream" / "bin" / "python"
PEER_DIR = REPO_ROOT / "devtools" / "upstream_peer"
UPSTREAM_VERSION = "0.8.0"
PEER_TIMEOUT_SECONDS = 300


def peer_common():
    """``devtools/upstream_peer/peer_common.py``, for its network layout (it imports only gufe at the top)."""
    spec = importlib.util.spec_from_file_location("upstream_peer_common", PEER_DIR / "peer_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class PeerServers:
    user_url: str
    compute_url: str
    objectstore: LocalObjectStore
    logs: Path


@dataclass(frozen=True)
class PeerIdentities:
    """A module's org, its main Scope, and the user and compute identities granted ``<org>-*-*``."""

    org: str
    scope: Scope
    user: tuple[str, str]
    compute: tuple[str, str]


@pytest.fixture(scope="session")
def upstream_python() -> Path:
    """The upstream peer environment's Python; missing, the tests skip (or fail in CI, where it is built)."""
    if not UPSTREAM_PYTHON.exists():
        message = (
            f"upstream alchemiscale {UPSTREAM_VERSION} peer environment missing ({UPSTREAM_PYTHON}); "
            "build it with `make upstream-peer`"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return UPSTREAM_PYTHON


@pytest.fixture(scope="session")
def peer_servers(upstream_python, neo4j_server, n4js, tmp_path_factory) -> Iterator[PeerServers]:
    objectstore = LocalObjectStore(tmp_path_factory.mktemp("peer-objects"))
    objectstore.initialize()
    logs = tmp_path_factory.mktemp("peer-servers")
    user_env = server_env(neo4j_server, objectstore.root, logs / "user-import-guard.log")
    with running_uvicorn("alchemiscale.interface.api:app", user_env, log_path=logs / "user-api.log") as user_url:
        with running_compute_api(neo4j_server, logs, objectstore.root) as compute:
            yield PeerServers(user_url, compute.url, objectstore, logs)
    guard_logs = [p for p in logs.glob("*import-guard*.log") if p.read_text()]
    assert not guard_logs, f"a server imported forbidden modules: {[p.read_text() for p in guard_logs]}"


def quick_identity(store, cls: type[CredentialedEntity], identifier: str, scopes: list[str]) -> tuple[str, str]:
    """An identity whose key is bcrypt-hashed at cost 4: ``(identifier, key)``.

    Upstream's clients log in often (``get_network_results`` makes a new client, so a new token, per
    Transformation); the server verifies at the cost stored in the hash, so logins stay fast.
    """
    key = secrets.token_urlsafe(24)
    hashed = bcrypt.hashpw(key.encode(), bcrypt.gensalt(rounds=4)).decode("ascii")
    store.create_credentialed_entity(cls(identifier=identifier, hashed_key=hashed, scopes=scopes))
    return identifier, key


@pytest.fixture(scope="module")
def peer_identities(n4js) -> PeerIdentities:
    org = f"up{uuid.uuid4().hex[:12]}"
    grant = [f"{org}-*-*"]
    user = quick_identity(n4js, CredentialedUserIdentity, f"user-{org}", grant)
    compute = quick_identity(n4js, CredentialedComputeIdentity, f"compute-{org}", grant)
    return PeerIdentities(org, Scope(org, "campaign", "project"), user, compute)


@pytest.fixture(scope="module")
def peer_workdir(tmp_path_factory) -> Path:
    """Where peer scripts run and write: outside the repository, so ``import alchemiscale`` is upstream's."""
    return tmp_path_factory.mktemp("peer")


@pytest.fixture(scope="module")
def our_client(peer_servers, peer_identities, peer_workdir) -> Iterator[AlchemiscaleClient]:
    identifier, key = peer_identities.user
    with AlchemiscaleClient(
        peer_servers.user_url, identifier, key, cache_directory=peer_workdir / "our-cache", max_retries=1
    ) as client:
        yield client


def peer_config(servers: PeerServers, identities: PeerIdentities, workdir: Path, **extra) -> dict:
    """The connection part of every peer script's config."""
    return {
        "user_api_url": servers.user_url,
        "user_identifier": identities.user[0],
        "user_key": identities.user[1],
        "compute_api_url": servers.compute_url,
        "compute_identifier": identities.compute[0],
        "compute_key": identities.compute[1],
        "scope": str(identities.scope),
        "cache_directory": str(workdir / "upstream-cache"),
        **extra,
    }


def upstream_service_settings(workdir: Path, name: str, scope: Scope, max_tasks: int, max_time: int = 90) -> dict:
    """Upstream ComputeServiceSettings fields (besides connection) for a quick run in ``scope``."""
    base = workdir / name
    for folder in ("shared", "scratch"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    return {
        "name": name,
        "shared_basedir": str(base / "shared"),
        "scratch_basedir": str(base / "scratch"),
        "scopes": [str(scope)],
        "max_tasks": max_tasks,
        "max_time": max_time,
        "n_retries": 0,
        "sleep_interval": 1,
        "deep_sleep_interval": 1,
        "heartbeat_interval": 1,
        "loglevel": "INFO",
        "logfile": str(base / "service.log"),
        "client_max_retries": 0,
    }


def run_peer(python: Path, script: str, config: dict, workdir: Path) -> dict:
    """Run ``devtools/upstream_peer/<script>`` under upstream's environment; its JSON output.

    Fails with the script's output if it exits non-zero, or if the alchemiscale it imported is not
    upstream's installed package.
    """
    label = f"{Path(script).stem}-{uuid.uuid4().hex[:8]}"
    config = {**config, "output": str(workdir / f"{label}.out.json")}
    config_path = workdir / f"{label}.config.json"
    config_path.write_text(json.dumps(config))
    # nothing of our environment may steer the peer: no import path, no client settings
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env = {k: v for k, v in env.items() if not k.startswith("ALCHEMISCALE_")}
    started = time.monotonic()
    proc = subprocess.run(
        [str(python), str(PEER_DIR / script), str(config_path)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=PEER_TIMEOUT_SECONDS,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{script} exited with {proc.returncode}\n{(proc.stdout + proc.stderr)[-6000:]}")
    output = json.loads(Path(config["output"]).read_text())
    output["wall_seconds"] = round(time.monotonic() - started, 2)
    peer = output["peer"]
    assert peer["alchemiscale"] == UPSTREAM_VERSION and "site-packages" in peer["alchemiscale_file"], peer
    assert peer["gufe"].startswith("1."), peer
    return output
