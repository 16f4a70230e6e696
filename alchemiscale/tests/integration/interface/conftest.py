"""User-API fixtures: a populated dataset in a Scope of its own, and a TestClient on the real app."""

from __future__ import annotations

import uuid

import pytest
from gufe import AlchemicalNetwork

from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.interface.api import app
from alchemiscale.models import Scope
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.storage.statestore import Neo4jStore

from .dataset import client_for, populate


@pytest.fixture(scope="session")
def api_store(neo4j_driver, neo4j_server) -> Neo4jStore:
    store = Neo4jStore(neo4j_driver, neo4j_server.dbname)
    store.initialize()
    return store


@pytest.fixture(scope="module")
def api_objectstore(tmp_path_factory) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path_factory.mktemp("objects"))
    store.initialize()
    return store


@pytest.fixture(scope="session")
def spare_chain(transformation) -> list:
    return to_keyed_chain_json(AlchemicalNetwork(edges=[transformation], name="spare network"))


@pytest.fixture(scope="module")
def dataset(api_store, api_objectstore, network_chain, spare_chain):
    scope = Scope("apiorg", "apicampaign", f"p{uuid.uuid4().hex}")
    return populate(api_store, api_objectstore, network_chain, spare_chain, scope)


@pytest.fixture(scope="module")
def client(api_store, api_objectstore):
    with client_for(app, api_store, api_objectstore) as test_client:
        yield test_client
    app.dependency_overrides.clear()
