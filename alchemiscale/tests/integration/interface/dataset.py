"""A populated user-API world without gufe: network, Tasks, results, failures, a Strategy, identities.

Kept free of gufe so the import-isolation test can build the same world in a clean subprocess.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.testclient import TestClient

from alchemiscale.base.api import get_jwt_settings_depends, get_n4js_depends, get_objectstore_depends
from alchemiscale.serialization.compression import compress_keyed_chain
from alchemiscale.models import ComputeServiceID, Scope, ScopedKey
from alchemiscale.security.models import CredentialedComputeIdentity, CredentialedUserIdentity
from alchemiscale.settings import JWTSettings
from alchemiscale.storage.models import ComputeServiceRegistration, Tracebacks, utcnow
from alchemiscale.storage.statestore.strategies import StrategyState

from ..identities import make_identity, mint_token

SECRET = "5" * 64
JWT = JWTSettings(JWT_SECRET_KEY=SECRET, JWT_EXPIRE_SECONDS=600)
KEY = "a user key that is long enough"
USER_ENTITY = "CredentialedUserIdentity"


def token(identifier: str, scopes: list[str], entity_type: str = USER_ENTITY, expires_seconds: int = 600) -> str:
    return mint_token(SECRET, identifier, scopes, entity_type, expires_seconds)



def strategy_chain(name: str = "connectivity") -> list:
    key = f"DummyStrategy-{uuid.uuid5(uuid.NAMESPACE_DNS, name).hex}"
    return [[key, {"__qualname__": "DummyStrategy", "__module__": "example.strategies", "settings": {"name": name}}]]


def result_bytes(ok: bool) -> tuple[str, bytes]:
    """(ProtocolDAGResult gufe key, zstd keyed-chain bytes) of a stand-in result, one the compute API accepts."""
    key = f"ProtocolDAGResult-{uuid.uuid4().hex}"
    root = {
        "__qualname__": "ProtocolDAGResult", "__module__": "gufe.protocols.protocoldag", "ok": ok,
        "protocol_units": [], "protocol_unit_results": [],
    }
    chain = [[key, root]]
    return key, compress_keyed_chain(chain)


@dataclass
class Dataset:
    scope: Scope
    user: str  # identifier holding exactly ``scope``
    outsider: str  # identifier holding an unrelated scope
    network: ScopedKey
    spare_network: ScopedKey  # for the deletion route
    transformation: ScopedKey
    chemicalsystem: ScopedKey
    tasks: list[ScopedKey]  # [complete with a result, errored with a failure, waiting, waiting]
    result_ref: ScopedKey
    failure_ref: ScopedKey
    result_data: bytes
    failure_data: bytes
    network_chain: list
    strategy: ScopedKey

    @property
    def user_token(self) -> str:
        return token(self.user, [str(self.scope)])

    @property
    def outsider_token(self) -> str:
        return token(self.outsider, ["outside-scope-here"])


def _record(store, objectstore, task, transformation, service, ok: bool, traceback: str = ""):
    pdr_key, data = result_bytes(ok)
    ref = objectstore.push_protocoldagresult(data, ok, pdr_key, transformation, creator=str(service))
    ref_sk = ref.scoped_key(ref.scope)
    tracebacks = None
    if not ok:
        tracebacks = Tracebacks(
            tracebacks=[traceback], source_keys=["ProtocolUnit-abc"], failure_keys=["ProtocolUnitFailure-abc"],
            result_ref=str(ref_sk),
        )
    store.record_task_result(task, ref, service, tracebacks=tracebacks)
    return ref_sk, data


def populate(store, objectstore, network_chain: list, spare_chain: list, scope: Scope) -> Dataset:
    """Store two networks in ``scope``, four Tasks (one complete, one errored), a Strategy and two users."""
    suffix = uuid.uuid4().hex[:8]
    user, outsider = f"user_{suffix}", f"outsider_{suffix}"
    make_identity(store, CredentialedUserIdentity, user, [str(scope)], key=KEY)
    make_identity(store, CredentialedUserIdentity, outsider, ["outside-scope-here"], key=KEY)
    make_identity(store, CredentialedComputeIdentity, f"compute_{suffix}", ["*-*-*"], key=KEY)
    network, taskhub, _ = store.assemble_network(network_chain, scope)
    spare, _, _ = store.assemble_network(spare_chain, scope)
    transformation = next(
        tf for tf in store.get_network_transformations(network) if tf.qualname == "Transformation"
    )
    chemicalsystem = store.get_transformation_chemicalsystems(transformation)[0]
    tasks = store.create_tasks([transformation] * 4, creator=user)
    store.action_tasks(tasks, taskhub)
    store.set_task_priority(tasks[:2], 1)
    now = utcnow()
    service = store.register_computeservice(
        ComputeServiceRegistration(identifier=ComputeServiceID.new_from_name("apitest"), registered=now, heartbeat=now)
    )
    claimed = store.claim_taskhub_tasks(taskhub, service, count=2)
    assert sorted(claimed) == sorted(tasks[:2]), claimed
    result_ref, result_data = _record(store, objectstore, tasks[0], transformation, service, ok=True)
    failure_ref, failure_data = _record(
        store, objectstore, tasks[1], transformation, service, ok=False, traceback="RuntimeError: boom"
    )
    strategy = store.set_network_strategy(network, strategy_chain(), StrategyState())
    return Dataset(
        scope=scope, user=user, outsider=outsider, network=network, spare_network=spare,
        transformation=transformation, chemicalsystem=chemicalsystem, tasks=tasks,
        result_ref=result_ref, failure_ref=failure_ref, result_data=result_data, failure_data=failure_data,
        network_chain=network_chain, strategy=strategy,
    )


def client_for(app: FastAPI, store, objectstore) -> TestClient:
    """A TestClient on ``app`` using this store, object store and the test JWT settings."""
    app.dependency_overrides[get_n4js_depends] = lambda: store
    app.dependency_overrides[get_objectstore_depends] = lambda: objectstore
    app.dependency_overrides[get_jwt_settings_depends] = lambda: JWT
    return TestClient(app)
