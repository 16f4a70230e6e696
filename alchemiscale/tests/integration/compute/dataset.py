"""A populated compute-API world: the user-API dataset plus compute identities, services and managers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from alchemiscale.models import ComputeManagerID, ComputeServiceID, Scope, ScopedKey
from alchemiscale.security.models import CredentialedComputeIdentity
from alchemiscale.storage.models import (
    ComputeManagerRegistration,
    ComputeManagerStatus,
    ComputeServiceRegistration,
    utcnow,
)

from ..identities import make_identity
from ..interface.dataset import KEY, Dataset, populate, token

COMPUTE_ENTITY = "CredentialedComputeIdentity"
FOREIGN_SCOPE = "outside-scope-here"


@dataclass
class ComputeDataset:
    """The user-API dataset (Tasks, results) plus what the compute identity ``owner`` registered."""

    data: Dataset
    owner: str  # compute identifier holding exactly the data's scope
    outsider: str  # compute identifier holding an unrelated scope
    taskhub: ScopedKey
    service: ComputeServiceID  # registered by owner
    spare_service: ComputeServiceID  # for the deregistration route
    manager: ComputeManagerID  # registered by owner
    spare_manager: ComputeManagerID  # for the deregistration route
    errored_manager: ComputeManagerID  # in ERROR, for the clear_error route

    @property
    def owner_token(self) -> str:
        return token(self.owner, [str(self.data.scope)], entity_type=COMPUTE_ENTITY)

    @property
    def outsider_token(self) -> str:
        return token(self.outsider, [FOREIGN_SCOPE], entity_type=COMPUTE_ENTITY)


def populate_compute(store, objectstore, network_chain: list, scope: Scope) -> ComputeDataset:
    data = populate(store, objectstore, network_chain, network_chain, scope)
    suffix = uuid.uuid4().hex[:8]
    owner, outsider = f"computeowner_{suffix}", f"computeoutsider_{suffix}"
    make_identity(store, CredentialedComputeIdentity, owner, [str(scope)], key=KEY)
    make_identity(store, CredentialedComputeIdentity, outsider, [FOREIGN_SCOPE], key=KEY)
    now = utcnow()
    services = [ComputeServiceID.new_from_name(name) for name in ("matrix", "sparematrix")]
    for service in services:
        store.register_computeservice(
            ComputeServiceRegistration(identifier=service, registered=now, heartbeat=now), owner=owner
        )
    managers = [ComputeManagerID.new_from_name(f"{name}{suffix}") for name in ("manager", "spare", "errored")]
    for manager in managers:
        registration = ComputeManagerRegistration(
            name=manager.name, uuid=manager.uuid, registered=now, last_status_update=now,
            status=ComputeManagerStatus.OK,
        )
        store.register_computemanager(registration, owner=owner)
    store.update_compute_manager_status(managers[2], ComputeManagerStatus.ERROR, "out of GPUs", update_time=now)
    [taskhub] = store.query_taskhubs(scope=scope)
    return ComputeDataset(data, owner, outsider, taskhub, *services, *managers)
