"""Status transitions racing claims and requeues: every Task ends in a state the transition table allows."""

from __future__ import annotations

import random
import threading
import time

from alchemiscale.models import ScopedKey

from .compute_helpers import claim_all, register, run_together

N_TASKS = 120
N_SERVICES = 4
N_INVALIDATORS = 3
CHUNK = 5


def actioned_tasks(store, make_synthetic_chain, scope, n_tasks: int) -> tuple[ScopedKey, list[ScopedKey]]:
    network, taskhub, _ = store.assemble_network(make_synthetic_chain(12, name="race"), scope)
    transformations = store.get_network_transformations(network)
    tasks = store.create_tasks([transformations[i % len(transformations)] for i in range(n_tasks)])
    assert all(store.action_tasks(tasks, taskhub))
    return taskhub, tasks


def wait_until_a_transaction_is_blocked(store, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not store.execute_query(
        "SHOW TRANSACTIONS YIELD status WHERE status STARTS WITH 'Blocked' RETURN count(*) AS blocked"
    )[0]["blocked"]:
        assert time.monotonic() < deadline, "the transition never waited for the lock"
        time.sleep(0.02)


def task_states(store, tasks: list[ScopedKey]) -> dict[ScopedKey, dict]:
    records = store.execute_query(
        """
        UNWIND $sks AS sk
        MATCH (t:GufeTokenizable:Task {_scoped_key: sk})
        OPTIONAL MATCH (t)-[:ATTEMPTED]->(a:TaskAttempt)
        WITH t, sk, a ORDER BY a.number
        RETURN sk, t.status AS status, t.claim AS claim,
               COUNT { (t)<-[:CLAIMS]-() } AS claims, COUNT { (t)<-[:ACTIONS]-() } AS actions,
               collect(a.outcome) AS outcomes, collect(a.compute_service_id) AS services,
               count(a) - count(a.ended) AS open_attempts
        """,
        {"sks": [str(t) for t in tasks]},
    )
    return {ScopedKey.from_str(r["sk"]): dict(r) for r in records}


def test_invalidation_racing_claims(n4js, make_synthetic_chain, unique_scope):
    taskhub, tasks = actioned_tasks(n4js, make_synthetic_chain, unique_scope, N_TASKS)
    services = [register(n4js, f"racer{i}") for i in range(N_SERVICES)]
    claimed: dict[str, list[ScopedKey]] = {service: [] for service in services}

    def claimer(service):
        while got := [t for t in n4js.claim_taskhub_tasks(taskhub, service, count=2) if t is not None]:
            claimed[service].extend(got)

    def invalidator(seed):
        order = random.Random(seed).sample(tasks, len(tasks))
        for start in range(0, len(order), CHUNK):
            assert n4js.set_task_invalid(order[start : start + CHUNK]) == order[start : start + CHUNK]

    jobs = [lambda s=s: claimer(s) for s in services] + [lambda i=i: invalidator(i) for i in range(N_INVALIDATORS)]
    assert run_together(jobs) == []

    states = task_states(n4js, tasks)
    assert {state["status"] for state in states.values()} == {"invalid"}
    for task, state in states.items():
        # no Task is both claimed and invalid, and every attempt it had was closed by the invalidation
        assert (state["claims"], state["claim"], state["actions"], state["open_attempts"]) == (0, None, 0, 0), task
        assert set(state["outcomes"]) <= {"cancelled"}
    for service, got in claimed.items():
        assert all(service in states[task]["services"] for task in got)
        assert n4js.get_compute_service_claimed_tasks(service) == []
    assert sum(len(state["outcomes"]) for state in states.values()) == sum(len(got) for got in claimed.values())


def test_completion_racing_requeue(n4js, make_synthetic_chain, unique_scope):
    """``set_task_complete`` against deregistration: a requeued Task must not be completed afterwards."""
    per_service = 10
    taskhub, tasks = actioned_tasks(n4js, make_synthetic_chain, unique_scope, N_SERVICES * per_service)
    held: dict[str, list[ScopedKey]] = {}
    for i in range(N_SERVICES):
        service = register(n4js, f"holder{i}")
        held[service] = claim_all(n4js, taskhub, service, count=per_service)
        assert len(held[service]) == per_service
    completed: set[ScopedKey] = set()

    def complete(service):
        completed.update(t for t in n4js.set_task_complete(held[service]) if t is not None)

    jobs = [lambda s=s: complete(s) for s in held] + [lambda s=s: n4js.deregister_computeservice(s) for s in held]
    assert run_together(jobs) == []

    for task, state in task_states(n4js, tasks).items():
        assert state["claims"] == 0 and state["claim"] is None and state["open_attempts"] == 0
        if state["status"] == "complete":
            assert task in completed and state["outcomes"] == ["complete"] and state["actions"] == 0
        else:
            assert state["status"] == "waiting" and task not in completed
            assert state["outcomes"] == ["requeued"] and state["actions"] == 1


def test_transition_rereads_status_after_waiting_for_the_lock(n4js, make_synthetic_chain, unique_scope):
    """A writer holding a running Task's lock completes it; ``set_task_error`` queued behind it must refuse.

    Reading the status before taking the lock would see ``running`` and turn a complete Task into an
    errored one, a change the transition table forbids.
    """
    taskhub, (task,) = actioned_tasks(n4js, make_synthetic_chain, unique_scope, 1)
    service = register(n4js, "holder")
    assert claim_all(n4js, taskhub, service) == [task]
    outcome: list = []
    with n4js.driver.session(database=n4js.dbname) as session, session.begin_transaction() as tx:
        tx.run("MATCH (t:GufeTokenizable:Task {_scoped_key: $sk}) SET t.status = 'complete'", sk=str(task)).consume()
        racer = threading.Thread(target=lambda: outcome.append(n4js.set_task_error([task])))
        racer.start()
        wait_until_a_transaction_is_blocked(n4js)
        tx.commit()
    racer.join(timeout=60)
    assert outcome == [[None]]
    assert n4js.get_task_status([task]) == ["complete"]
