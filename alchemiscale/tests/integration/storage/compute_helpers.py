"""Helpers for the claiming, compute, restart and result tests: registrations, refs and failed Tasks."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Callable, Optional

from gufe import AlchemicalNetwork, Transformation

from alchemiscale.models import ComputeServiceID, Scope, ScopedKey
from alchemiscale.storage.models import ComputeServiceRegistration, ProtocolDAGResultRef, Tracebacks, utcnow


def scoped(obj, scope: Scope) -> ScopedKey:
    return ScopedKey(gufe_key=str(obj.key), **scope.to_dict())


def transformation_keys(network: AlchemicalNetwork, scope: Scope) -> list[ScopedKey]:
    """The network's Transformations (not NonTransformations), sorted by name for determinism."""
    edges = sorted((t for t in network.edges if isinstance(t, Transformation)), key=lambda t: t.name)
    return [scoped(t, scope) for t in edges]


def register(store, name: str = "worker", heartbeat: Optional[datetime] = None) -> ComputeServiceID:
    now = utcnow()
    registration = ComputeServiceRegistration(
        identifier=ComputeServiceID.new_from_name(name), registered=now, heartbeat=heartbeat or now
    )
    return store.register_computeservice(registration)


def make_ref(task: ScopedKey, ok: bool, created: Optional[datetime] = None, creator: Optional[str] = None):
    """A ProtocolDAGResultRef at a fresh object-store location in the Task's scope."""
    token = uuid.uuid4().hex
    return ProtocolDAGResultRef(
        location=f"protocoldagresults/{task.org}/{task.campaign}/{task.project}/{token}/obj.json.zst",
        obj_key=f"ProtocolDAGResult-{token}",
        scope=task.scope,
        ok=ok,
        datetime_created=created or utcnow(),
        creator=creator,
    )


def make_tracebacks(ref: ProtocolDAGResultRef, *messages: str) -> Tracebacks:
    ref_sk = ref.scoped_key(ref.scope)
    return Tracebacks(
        tracebacks=list(messages),
        source_keys=[f"ProtocolUnit-{uuid.uuid4().hex}" for _ in messages],
        failure_keys=[f"ProtocolUnitFailure-{uuid.uuid4().hex}" for _ in messages],
        result_ref=str(ref_sk),
    )


def claim_all(store, taskhub: ScopedKey, service: ComputeServiceID, count: int = 1000) -> list[ScopedKey]:
    return [t for t in store.claim_taskhub_tasks(taskhub, service, count=count) if t is not None]


def fail_task(store, task: ScopedKey, service: ComputeServiceID, *messages: str, age: float = 0.0):
    """Record a failed result (with tracebacks) for a Task running under ``service``."""
    ref = make_ref(task, ok=False, created=utcnow() - timedelta(seconds=age), creator=str(service))
    return store.record_task_result(task, ref, service, tracebacks=make_tracebacks(ref, *messages))


def count(store, query: str, **params) -> int:
    return store.execute_query(query, params)[0][0]


def run_together(jobs: list[Callable[[], None]]) -> list[Exception]:
    """Start every job at once (behind a barrier); the exceptions they raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[Exception] = []

    def run(job):
        barrier.wait()
        try:
            job()
        except Exception as error:  # surfaced by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return errors
