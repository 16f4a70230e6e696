"""The real user API (uvicorn subprocess) on the worker's Neo4j and a local object store, plus clients.

One server serves the whole session. Each test module works in Scopes of its own org
(``module_org``), with its own user identity, so modules never see each other's data.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.models import Scope
from alchemiscale.security.models import CredentialedUserIdentity
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.tests.integration.identities import make_identity
from alchemiscale.tests.integration.servers import running_uvicorn


@pytest.fixture(scope="session")
def objectstore(tmp_path_factory) -> LocalObjectStore:
    """The object store the server reads results from; tests push results into it as the compute API does."""
    store = LocalObjectStore(tmp_path_factory.mktemp("objectstore"))
    store.initialize()
    return store


@pytest.fixture(scope="session")
def user_api_url(neo4j_env, n4js, objectstore, tmp_path_factory) -> Iterator[str]:
    env = {
        "JWT_SECRET_KEY": secrets.token_hex(32),
        "ALCHEMISCALE_OBJECT_STORE": "local",
        "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(objectstore.root),
    }
    log_path = tmp_path_factory.mktemp("logs") / "user_api.log"
    with running_uvicorn("alchemiscale.interface.api:app", env, log_path=log_path) as url:
        yield url


@pytest.fixture(scope="module")
def module_org() -> str:
    return f"org{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def user_scope(module_org) -> Scope:
    """Where this module's networks live."""
    return Scope(module_org, "campaign", "project")


@pytest.fixture(scope="module")
def other_scope(module_org) -> Scope:
    """A second specific Scope the module's user may also access."""
    return Scope(module_org, "campaign", "other")


@pytest.fixture(scope="module")
def forbidden_scope(module_org) -> Scope:
    """A Scope the module's user is not granted."""
    return Scope(f"{module_org}x", "campaign", "project")


@pytest.fixture(scope="module")
def user_identity(n4js, module_org) -> dict[str, str]:
    identifier = f"user-{module_org}"
    key = make_identity(n4js, CredentialedUserIdentity, identifier, [f"{module_org}-*-*"])
    return {"identifier": identifier, "key": key}


@pytest.fixture(scope="module")
def client_cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("client_cache")


@pytest.fixture(scope="module")
def client(user_api_url, user_identity, client_cache_dir) -> Iterator[AlchemiscaleClient]:
    with AlchemiscaleClient(
        user_api_url, user_identity["identifier"], user_identity["key"], cache_directory=client_cache_dir, max_retries=1
    ) as client:
        yield client
