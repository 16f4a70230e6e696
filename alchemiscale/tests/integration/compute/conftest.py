"""A real compute API (uvicorn subprocess) on the worker's Neo4j server, and helpers to give it work.

Fixtures for compute API, client and compute service tests:

- ``compute_api_url``: base URL of a session-wide compute API, serving with a local-folder object
  store (``compute_objectstore``) and an import guard that refuses gufe and the chemistry stack;
- ``compute_identity``: ``(identifier, key)`` of a compute identity holding ``*-*-*``, created
  after the database is emptied for the test (more identities: :func:`make_identity`);
- ``compute_client``: an ``AlchemiscaleComputeClient`` logged in as that identity;
- ``compute_network`` / :func:`compute_setup`: a network with one actioned Task per Transformation.
"""

from __future__ import annotations

import secrets
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest
from gufe import AlchemicalNetwork, Transformation

from alchemiscale.compute.client import AlchemiscaleComputeClient
from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.models import ComputeServiceID, Scope, ScopedKey
from alchemiscale.security.models import CredentialedComputeIdentity
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.storage.statestore import Neo4jStore
from alchemiscale.tests.conftest import build_network
from alchemiscale.tests.integration.identities import make_identity
from alchemiscale.tests.integration.servers import running_uvicorn
from alchemiscale.tests.protocols import execute_locally

COMPUTE_APP = "alchemiscale.compute.api:app"
COMPUTE_IDENTIFIER = "compute-identity"
IMPORT_GUARD_DIR = Path(__file__).parent / "import_guard"
SMALL_NETWORK_LIGANDS = ("acetamide", "acetone", "benzene", "ethane")


@dataclass(frozen=True)
class ComputeApiServer:
    url: str
    env: dict[str, str]
    import_guard_log: Path
    log: Path


@dataclass(frozen=True)
class ComputeSetup:
    """What :func:`compute_setup` stored: the network, its TaskHub and one actioned Task per Transformation."""

    network: ScopedKey
    taskhub: ScopedKey
    transformations: dict[str, ScopedKey]  # by Transformation name
    tasks: dict[str, ScopedKey]  # by Transformation name


def compute_setup(
    store: Neo4jStore, network: AlchemicalNetwork, scope: Scope, names: Optional[list[str]] = None
) -> ComputeSetup:
    """Assemble ``network`` in ``scope`` and create and action one Task per (named) Transformation."""
    network_sk, taskhub_sk, _ = store.assemble_network(to_keyed_chain_json(network), scope)
    edges = {t.name: t for t in network.edges if isinstance(t, Transformation)}
    selected = sorted(names if names is not None else edges)
    transformations = {name: ScopedKey(gufe_key=str(edges[name].key), **scope.to_dict()) for name in selected}
    task_list = store.create_tasks([transformations[name] for name in selected], creator="compute-tests")
    store.action_tasks(task_list, taskhub_sk)
    return ComputeSetup(network_sk, taskhub_sk, transformations, dict(zip(selected, task_list)))


def run_task(client: AlchemiscaleComputeClient, task: ScopedKey, workdir: Path):
    """Execute a Task's ProtocolDAG in process, as a compute service would; returns the ProtocolDAGResult."""
    transformation, _ = client.retrieve_task_transformation(task)
    workdir.mkdir(parents=True, exist_ok=True)
    return execute_locally(transformation.create(), workdir)


def server_env(neo4j_server, objectstore_root: Path, guard_log: Path, **extra: str) -> dict[str, str]:
    return {
        "NEO4J_URL": neo4j_server.url,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASS": neo4j_server.password,
        "NEO4J_DBNAME": neo4j_server.dbname,
        "JWT_SECRET_KEY": secrets.token_hex(32),
        "ALCHEMISCALE_OBJECT_STORE": "local",
        "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(objectstore_root),
        "ALCHEMISCALE_IMPORT_GUARD_LOG": str(guard_log),
        "PYTHONPATH": str(IMPORT_GUARD_DIR),
        **extra,
    }


@contextmanager
def running_compute_api(
    neo4j_server, workdir: Path, objectstore_root: Path, **settings: str
) -> Iterator[ComputeApiServer]:
    """A compute API subprocess with the import guard; ``settings`` are extra environment variables."""
    workdir.mkdir(parents=True, exist_ok=True)
    guard_log = workdir / f"import-guard-{uuid.uuid4().hex}.log"
    env = server_env(neo4j_server, objectstore_root, guard_log, **settings)
    log = workdir / f"compute-api-{uuid.uuid4().hex}.log"
    with running_uvicorn(COMPUTE_APP, env, log_path=log) as url:
        yield ComputeApiServer(url, env, guard_log, log)


@pytest.fixture(scope="session")
def compute_objectstore(tmp_path_factory) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path_factory.mktemp("compute-objects"))
    store.initialize()
    return store


@pytest.fixture(scope="session")
def compute_api_server(neo4j_server, compute_objectstore, tmp_path_factory) -> Iterator[ComputeApiServer]:
    with running_compute_api(neo4j_server, tmp_path_factory.mktemp("compute-api"), compute_objectstore.root) as server:
        yield server


@pytest.fixture(scope="session")
def compute_api_url(compute_api_server) -> str:
    return compute_api_server.url


@pytest.fixture
def compute_identity(n4js_fresh) -> tuple[str, str]:
    """A compute identity with scope ``*-*-*`` in an otherwise empty database."""
    return COMPUTE_IDENTIFIER, make_identity(n4js_fresh, CredentialedComputeIdentity, COMPUTE_IDENTIFIER, ["*-*-*"])


def make_compute_client(url: str, identifier: str, key: str) -> AlchemiscaleComputeClient:
    return AlchemiscaleComputeClient(url, identifier, key, use_local_cache=False, max_retries=1)


@pytest.fixture
def compute_client(compute_api_url, compute_identity) -> Iterator[AlchemiscaleComputeClient]:
    with make_compute_client(compute_api_url, *compute_identity) as client:
        yield client


@pytest.fixture
def compute_service_id() -> ComputeServiceID:
    return ComputeServiceID.new_from_name("test_service")


@pytest.fixture(scope="session")
def compute_test_network(ligands, solvent) -> AlchemicalNetwork:
    """A small network of the shared test layout (4 ligands): 3 solvent, 3 vacuum and 1 failing Transformation."""
    return build_network({name: ligands[name] for name in SMALL_NETWORK_LIGANDS}, solvent, name="compute network")


@pytest.fixture
def compute_network(n4js_fresh, compute_identity, compute_test_network, scope_test) -> ComputeSetup:
    """``compute_test_network`` in ``scope_test`` with one actioned Task per Transformation."""
    return compute_setup(n4js_fresh, compute_test_network, scope_test)
