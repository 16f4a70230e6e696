"""Compute service registrations (heartbeats, expiry, failure memory) and compute managers."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from alchemiscale.models import ComputeManagerID, ComputeServiceID, Scope
from alchemiscale.storage.models import (
    ComputeManagerInstruction,
    ComputeManagerRegistration,
    ComputeManagerStatus,
    ComputeServiceRegistration,
    utcnow,
)
from alchemiscale.storage.statestore import ConflictError

from .compute_helpers import claim_all, count, register, scoped, transformation_keys


@pytest.fixture
def hub(n4js_preloaded, network, scope_test):
    store = n4js_preloaded
    taskhub = store.get_taskhub(scoped(network, scope_test))
    tasks = store.create_tasks(transformation_keys(network, scope_test)[:4])
    store.action_tasks(tasks, taskhub)
    return store, taskhub, tasks


def manager_registration(name: str = "manager", status=ComputeManagerStatus.OK, **extra) -> ComputeManagerRegistration:
    now = utcnow()
    return ComputeManagerRegistration(
        name=name, uuid=uuid.uuid4().hex, registered=now, last_status_update=now, status=status,
        saturation=extra.pop("saturation", 0.0 if status == ComputeManagerStatus.OK else None), **extra
    )


def register_managed(store, manager: ComputeManagerID, name: str = "managed") -> ComputeServiceID:
    now = utcnow()
    return store.register_computeservice(
        ComputeServiceRegistration(
            identifier=ComputeServiceID.new_from_name(name), registered=now, heartbeat=now, manager_name=manager.name
        )
    )


# -- compute services ----------------------------------------------------------------------


def test_register_twice_is_a_conflict(n4js_fresh):
    service = register(n4js_fresh)
    now = utcnow()
    with pytest.raises(ConflictError, match="already registered"):
        n4js_fresh.register_computeservice(ComputeServiceRegistration(identifier=service, registered=now, heartbeat=now))


def test_service_owner_is_written_with_the_registration(n4js_fresh):
    store = n4js_fresh
    now = utcnow()

    def registration(name: str, manager_name=None) -> ComputeServiceRegistration:
        return ComputeServiceRegistration(
            identifier=ComputeServiceID.new_from_name(name), registered=now, heartbeat=now, manager_name=manager_name
        )

    owned = store.register_computeservice(registration("owned"), owner="alice")
    assert store.get_compute_service_owner(owned) == "alice"
    assert store.get_compute_service_owner(register(store, "ownerless")) is None
    with pytest.raises(ConflictError):
        store.register_computeservice(
            ComputeServiceRegistration(identifier=owned, registered=now, heartbeat=now), owner="mallory"
        )
    assert store.get_compute_service_owner(owned) == "alice"

    orphan = registration("orphan", manager_name="absent")
    with pytest.raises(ValueError, match="no compute manager named"):
        store.register_computeservice(orphan, owner="alice")
    with pytest.raises(KeyError, match=str(orphan.identifier)):
        store.get_compute_service_owner(orphan.identifier)
    store.deregister_computeservice(owned)
    with pytest.raises(KeyError, match=f"compute service {owned} is not registered"):
        store.get_compute_service_owner(owned)


def test_deregister_requeues_running_tasks_and_closes_attempts(hub):
    store, taskhub, tasks = hub
    service, bystander = register(store, "leaving"), register(store, "staying")
    mine = claim_all(store, taskhub, service, count=3)
    theirs = claim_all(store, taskhub, bystander, count=1)
    assert store.deregister_computeservice(service) == service
    assert store.get_task_status(mine) == ["waiting"] * 3
    assert store.get_task_status(theirs) == ["running"]
    assert all(task.claim is None for task in store.get_tasks(mine))
    assert all(store.get_task_history(t)[-1]["outcome"] == "requeued" for t in mine)
    assert store.get_task_history(theirs[0])[-1]["outcome"] is None
    assert count(store, "MATCH (c:ComputeServiceRegistration) RETURN count(c)") == 1
    assert store.deregister_computeservice(service) is None  # already gone: harmless


def test_heartbeat_and_expiry_requeue_only_stale_services(hub):
    store, taskhub, tasks = hub
    now = utcnow()
    stale = register(store, "stale", heartbeat=now - timedelta(hours=1))
    fresh = register(store, "fresh", heartbeat=now - timedelta(hours=1))
    stale_tasks = claim_all(store, taskhub, stale, count=2)
    fresh_tasks = claim_all(store, taskhub, fresh, count=2)
    assert store.heartbeat_computeservice(fresh, now) == fresh
    assert store.expire_registrations(now - timedelta(minutes=30)) == [stale]
    assert store.get_task_status(stale_tasks) == ["waiting"] * 2
    assert store.get_task_status(fresh_tasks) == ["running"] * 2
    assert store.heartbeat_computeservice(stale, now) is None  # tells the service it expired
    assert store.expire_registrations(now - timedelta(minutes=30)) == []
    assert count(store, "MATCH (:TaskAttempt {outcome: 'requeued'}) RETURN count(*)") == 2


def test_heartbeat_racing_a_deletion_reports_the_registration_gone(n4js_fresh):
    """A heartbeat that waited for the lock of a registration being deleted finds it gone (not a bad id)."""
    service = register(n4js_fresh, "racing")
    with n4js_fresh.driver.session(database=n4js_fresh.dbname) as session:
        deletion = session.begin_transaction()
        deletion.run("MATCH (csr:ComputeServiceRegistration {identifier: $id}) DETACH DELETE csr", id=str(service))
        with ThreadPoolExecutor(1) as pool:
            beat = pool.submit(n4js_fresh.heartbeat_computeservice, service, utcnow())
            time.sleep(0.5)  # the heartbeat now waits for the deletion's lock
            deletion.commit()
            assert beat.result(timeout=30) is None


@pytest.mark.parametrize("failures,allowed", [(3, True), (4, False)])
def test_failure_limit_boundary(n4js_fresh, failures, allowed):
    """Denied only when MORE than max_failures failures fall after the forgive time."""
    store = n4js_fresh
    service = register(store)
    now = utcnow()
    for i in range(failures):
        store.log_failure_compute_service(service, now - timedelta(seconds=10 + i))
    assert store.compute_service_can_claim(service, now - timedelta(minutes=10), max_failures=3) is allowed


def test_old_failures_are_forgiven_and_dropped(n4js_fresh):
    store = n4js_fresh
    service = register(store)
    now = utcnow()
    forgive_time = now - timedelta(minutes=10)
    store.log_failure_compute_service(service, forgive_time)  # exactly at the cut-off: forgiven
    for minutes in (11, 20, 60):
        store.log_failure_compute_service(service, now - timedelta(minutes=minutes))
    store.log_failure_compute_service(service, now - timedelta(minutes=1))
    assert store.compute_service_can_claim(service, forgive_time, max_failures=1)
    assert not store.compute_service_can_claim(service, forgive_time, max_failures=0)
    assert count(store, "MATCH (c:ComputeServiceRegistration) RETURN size(c.failure_times)") == 1


def test_can_claim_is_false_for_unregistered_services(n4js_fresh):
    store = n4js_fresh
    known = register(store)
    ghost = ComputeServiceID.new_from_name("ghost")
    now = utcnow()
    assert store.compute_services_can_claim([ghost, known], now, max_failures=3) == [False, True]
    assert store.log_failure_compute_service(ghost, now) is None


def test_tasks_wanted(hub):
    store, taskhub, tasks = hub
    service, other = register(store, "worker"), register(store, "other")
    claimed = claim_all(store, taskhub, service, count=4)
    still, cancelled, invalid, requeued = claimed
    store.cancel_tasks([cancelled], taskhub)
    store.set_task_invalid([invalid])
    store.set_task_waiting([requeued])
    assert claim_all(store, taskhub, other) == [requeued]  # now another service runs it
    unknown = f"Task-{uuid.uuid4().hex}-{still.org}-{still.campaign}-{still.project}"
    assert store.get_tasks_wanted([still, cancelled, invalid, requeued, unknown], service) == [
        True, False, False, False, False
    ]
    assert store.get_tasks_wanted([requeued], other) == [True]


# -- compute managers ----------------------------------------------------------------------


def test_register_manager_name_is_unique_unless_stolen(n4js_fresh):
    store = n4js_fresh
    first = store.register_computemanager(manager_registration("mgr"))
    assert store.get_compute_manager_id("mgr") == first
    with pytest.raises(ValueError, match="already registered"):
        store.register_computemanager(manager_registration("mgr"))
    second = store.register_computemanager(manager_registration("mgr"), steal=True)
    assert second != first and store.get_compute_manager_id("mgr") == second
    assert store.get_compute_manager_status(first) is None
    assert store.get_compute_manager_id("nobody") is None


def test_manager_owner_is_written_with_the_registration(n4js_fresh):
    store = n4js_fresh
    first = store.register_computemanager(manager_registration("mgr"), owner="alice")
    assert store.get_compute_manager_owner("mgr") == "alice"
    assert store.get_compute_manager_owner("mgr", first.uuid) == "alice"
    assert store.get_compute_manager_status(first).status == ComputeManagerStatus.OK
    with pytest.raises(KeyError, match=f"compute manager mgr-{'0' * 32} is not registered"):
        store.get_compute_manager_owner("mgr", "0" * 32)

    second = store.register_computemanager(manager_registration("mgr"), steal=True, owner="bob")
    assert store.get_compute_manager_owner("mgr", second.uuid) == "bob"
    with pytest.raises(KeyError, match=first.uuid):
        store.get_compute_manager_owner("mgr", first.uuid)
    store.register_computemanager(manager_registration("plain"))
    assert store.get_compute_manager_owner("plain") is None
    with pytest.raises(KeyError, match="compute manager nobody is not registered"):
        store.get_compute_manager_owner("nobody")


def test_services_attach_to_their_manager_and_reattach_after_restart(n4js_fresh):
    store = n4js_fresh
    manager = store.register_computemanager(manager_registration("mgr"))
    services = [register_managed(store, manager) for _ in range(2)]
    assert count(store, "MATCH (:ComputeManagerRegistration)-[m:MANAGES]->() RETURN count(m)") == 2
    store.deregister_computemanager(manager)
    assert count(store, "MATCH ()-[m:MANAGES]->() RETURN count(m)") == 0
    restarted = store.register_computemanager(manager_registration("mgr"))
    instruction, data = store.get_computemanager_instruction(restarted, [Scope()], None, utcnow(), 3)
    assert instruction == ComputeManagerInstruction.OK and sorted(data["compute_service_ids"]) == sorted(services)
    now = utcnow()
    with pytest.raises(ValueError, match="no compute manager named"):
        store.register_computeservice(
            ComputeServiceRegistration(identifier=ComputeServiceID.new_from_name("orphan"), registered=now,
                                       heartbeat=now, manager_name="absent")
        )
    assert count(store, "MATCH (c:ComputeServiceRegistration) RETURN count(c)") == 2


def test_instruction_shutdown_for_unknown_manager(n4js_fresh):
    unknown = ComputeManagerID(f"mgr-{uuid.uuid4().hex}")
    instruction, data = n4js_fresh.get_computemanager_instruction(unknown, [Scope()], None, utcnow(), 3)
    assert instruction == ComputeManagerInstruction.SHUTDOWN and "not registered" in data["message"]


def test_instruction_skip_when_a_managed_service_fails_too_often(n4js_fresh):
    store = n4js_fresh
    manager = store.register_computemanager(manager_registration())
    service = register_managed(store, manager)
    now = utcnow()
    for _ in range(4):
        store.log_failure_compute_service(service, now)
    instruction, data = store.get_computemanager_instruction(manager, [Scope()], None, now - timedelta(minutes=10), 3)
    assert instruction == ComputeManagerInstruction.SKIP and data == {"compute_service_ids": [service]}


def test_instruction_counts_claimable_tasks_by_scope_and_protocol(hub, network, scope_test, failing_transformation):
    store, taskhub, tasks = hub
    failing_task = store.create_tasks([scoped(failing_transformation, scope_test)])[0]
    store.action_tasks([failing_task], taskhub)
    store.set_task_weights({tasks[0]: 0.0}, taskhub)  # not claimable
    store.claim_taskhub_tasks(taskhub, register(store), protocols=["SuccessProtocol"])  # one fewer waiting
    store.create_tasks(transformation_keys(network, scope_test)[5:6])  # waiting but never actioned
    manager = store.register_computemanager(manager_registration())

    def num_tasks(scopes, protocols=None):
        instruction, data = store.get_computemanager_instruction(manager, scopes, protocols, utcnow(), 3)
        assert instruction == ComputeManagerInstruction.OK and data["compute_service_ids"] == []
        return data["num_tasks"]

    assert num_tasks([Scope()]) == 3
    assert num_tasks([scope_test]) == 3
    assert num_tasks([Scope(scope_test.org)]) == 3
    assert num_tasks([Scope("elsewhere"), scope_test]) == 3
    assert num_tasks([Scope("elsewhere")]) == 0
    assert num_tasks([Scope()], ["FailingProtocol"]) == 1


def test_update_manager_status_validation(n4js_fresh):
    store = n4js_fresh
    manager = store.register_computemanager(manager_registration())
    with pytest.raises(ValueError, match="saturation is required"):
        store.update_compute_manager_status(manager, "OK")
    with pytest.raises(ValueError, match="detail is only allowed"):
        store.update_compute_manager_status(manager, "OK", detail="x", saturation=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        store.update_compute_manager_status(manager, "OK", saturation=1.5)
    with pytest.raises(ValueError, match="detail is required"):
        store.update_compute_manager_status(manager, "ERROR")
    with pytest.raises(ValueError, match="saturation is only allowed"):
        store.update_compute_manager_status(manager, "ERROR", detail="boom", saturation=0.1)
    with pytest.raises(ValueError, match="not a compute manager status"):
        store.update_compute_manager_status(manager, "SLEEPY", saturation=0.1)
    assert store.update_compute_manager_status(manager, "OK", saturation=0.25) == manager
    status = store.get_compute_manager_status(manager)
    assert status.status == ComputeManagerStatus.OK and status.saturation == 0.25 and status.detail is None
    store.update_compute_manager_status(manager, ComputeManagerStatus.ERROR, detail="cluster unreachable")
    status = store.get_compute_manager_status(manager)
    assert status.status == ComputeManagerStatus.ERROR and status.detail == "cluster unreachable"
    assert status.saturation is None


def test_errored_manager_survives_deregistration_until_cleared(n4js_fresh):
    store = n4js_fresh
    manager = store.register_computemanager(manager_registration())
    with pytest.raises(ValueError, match="ERROR status"):
        store.clear_errored_computemanager(manager)
    store.update_compute_manager_status(manager, "ERROR", detail="boom")
    store.deregister_computemanager(manager)
    assert store.get_compute_manager_status(manager) is not None
    store.clear_errored_computemanager(manager)
    assert store.get_compute_manager_status(manager) is None


def test_expire_manager_registrations_by_status(n4js_fresh):
    store = n4js_fresh
    now = utcnow()
    ok_old = store.register_computemanager(manager_registration("okold"))
    ok_new = store.register_computemanager(manager_registration("oknew"))
    error_old = store.register_computemanager(manager_registration("errold"))
    store.update_compute_manager_status(ok_old, "OK", saturation=0.1, update_time=now - timedelta(hours=2))
    store.update_compute_manager_status(error_old, "ERROR", detail="x", update_time=now - timedelta(hours=2))
    expired = store.expire_computemanager_registrations(now - timedelta(hours=1), now - timedelta(days=1))
    assert expired == [ok_old]
    assert store.expire_computemanager_registrations(now - timedelta(hours=1), now - timedelta(hours=1)) == [error_old]
    assert store.get_compute_manager_id("oknew") == ok_new
