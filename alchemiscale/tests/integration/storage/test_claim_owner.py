"""Claiming checks the service's registration and owner in the statement that claims."""

from __future__ import annotations

import pytest

from alchemiscale.errors import ForbiddenError
from alchemiscale.storage.models import ComputeServiceRegistration, utcnow
from alchemiscale.models import ComputeServiceID
from alchemiscale.storage.statestore.claims import UnregisteredComputeServiceError

from .compute_helpers import count, scoped, transformation_keys


def test_claim_refuses_a_foreign_owner_and_claims_for_the_owner(n4js_preloaded, network, scope_test):
    store = n4js_preloaded
    taskhub = store.get_taskhub(scoped(network, scope_test))
    tasks = store.create_tasks(transformation_keys(network, scope_test)[:3])
    store.action_tasks(tasks, taskhub)
    now = utcnow()
    service = store.register_computeservice(
        ComputeServiceRegistration(identifier=ComputeServiceID.new_from_name("owned"), registered=now, heartbeat=now),
        owner="alice",
    )

    with pytest.raises(ForbiddenError, match="another compute identity"):
        store.claim_taskhub_tasks(taskhub, service, count=2, owner="mallory")
    assert store.get_task_status(tasks) == ["waiting"] * 3
    assert count(store, "MATCH ()-[c:CLAIMS]->() RETURN count(c)") == 0

    claimed = store.claim_taskhub_tasks(taskhub, service, count=2, owner="alice")
    assert len(set(claimed)) == 2 and set(claimed) <= set(tasks)
    assert store.claim_taskhub_tasks(taskhub, service, count=2) == [(set(tasks) - set(claimed)).pop(), None]
    assert count(store, "MATCH ()-[c:CLAIMS]->() RETURN count(c)") == 3

    store.deregister_computeservice(service)
    with pytest.raises(UnregisteredComputeServiceError, match="not registered"):
        store.claim_taskhub_tasks(taskhub, service, owner="alice")
