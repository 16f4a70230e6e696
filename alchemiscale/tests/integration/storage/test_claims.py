"""Claiming Tasks from a TaskHub: priority tiers, weights, gating, filters and concurrent claimers."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from alchemiscale.models import ComputeServiceID
from alchemiscale.errors import ForbiddenError
from alchemiscale.storage.models import ComputeServiceRegistration, utcnow
from alchemiscale.storage.statestore import ClaimRequest
from alchemiscale.storage.statestore.claims import _CANDIDATES, UnregisteredComputeServiceError

from .compute_helpers import claim_all, count, make_ref, register, run_together, scoped, transformation_keys


@pytest.fixture
def hub(n4js_preloaded, network, scope_test):
    """(store, TaskHub ScopedKey, Transformation ScopedKeys) for the preloaded network."""
    store = n4js_preloaded
    return store, store.get_taskhub(scoped(network, scope_test)), transformation_keys(network, scope_test)


def actioned_tasks(store, taskhub, transformations):
    tasks = store.create_tasks(transformations)
    assert all(store.action_tasks(tasks, taskhub))
    return tasks


def read_candidates(store, taskhub, service, limit: int) -> list[str]:
    params = {"taskhub": str(taskhub), "compute_service_id": str(service), "protocols": None, "limit": limit}
    return store.execute_query(_CANDIDATES, params)[0]["candidates"]


# -- candidate selection and validation ----------------------------------------------------------


def test_candidates_take_whole_tiers_in_priority_order(hub):
    store, taskhub, transformations = hub
    keys = actioned_tasks(store, taskhub, transformations[:6])
    store.set_task_priority(keys[:2], 1)
    store.set_task_priority(keys[2:5], 2)
    store.set_task_priority(keys[5:], 3)
    tasks = [str(t) for t in keys]
    service = register(store)
    chosen = read_candidates(store, taskhub, service, 4)
    assert set(chosen[:2]) == set(tasks[:2])
    assert len(chosen) == 4 and set(chosen[2:]) < set(tasks[2:5])
    assert set(read_candidates(store, taskhub, service, 10)) == set(tasks)


def test_candidates_sample_by_weight_within_a_tier(hub):
    store, taskhub, transformations = hub
    heavy, light, zero = actioned_tasks(store, taskhub, transformations[:3])
    store.set_task_weights({heavy: 0.75, light: 0.25, zero: 0.0}, taskhub)
    service = register(store)
    draws = 400
    picks = Counter(read_candidates(store, taskhub, service, 1)[0] for _ in range(draws))
    assert set(picks) <= {str(heavy), str(light)}  # weight zero is never a candidate
    assert 0.65 < picks[str(heavy)] / draws < 0.85  # ~4 standard deviations around 0.75
    assert sorted(read_candidates(store, taskhub, service, 5)) == sorted([str(heavy), str(light)])


# -- claiming ------------------------------------------------------------------------------


def test_claim_sets_running_with_claims_edge_and_attempt(hub):
    store, taskhub, transformations = hub
    task = actioned_tasks(store, taskhub, transformations[:1])[0]
    service = register(store)
    assert store.claim_taskhub_tasks(taskhub, service, count=3) == [task, None, None]
    assert store.get_task_status([task]) == ["running"]
    assert store.get_tasks([task])[0].claim == service
    assert store.get_compute_service_claimed_tasks(service) == [task]
    history = store.get_task_history(task)
    assert len(history) == 1
    assert history[0]["number"] == 1 and history[0]["compute_service_id"] == service
    assert history[0]["ended"] is None and history[0]["outcome"] is None
    # nothing is left to claim
    assert store.claim_taskhub_tasks(taskhub, register(store, "other"), count=1) == [None]


def test_claim_takes_priority_tiers_first(hub):
    store, taskhub, transformations = hub
    tasks = actioned_tasks(store, taskhub, transformations[:8])
    store.set_task_priority(tasks[:2], 1)
    store.set_task_priority(tasks[2:5], 2)
    store.set_task_priority(tasks[5:], 3)
    claimed = store.claim_taskhub_tasks(taskhub, register(store), count=4)
    assert set(claimed[:2]) == set(tasks[:2])
    assert set(claimed[2:]) < set(tasks[2:5])


def test_claim_prefers_heavier_weights(hub):
    store, taskhub, transformations = hub
    tasks = actioned_tasks(store, taskhub, transformations[:10])
    heavy, light = tasks[:5], tasks[5:]
    store.set_task_weights(heavy, taskhub, weight=1.0)
    store.set_task_weights(light, taskhub, weight=0.02)
    picks = []
    for _ in range(25):
        service = register(store)
        picks += claim_all(store, taskhub, service, count=1)
        store.deregister_computeservice(service)  # requeues the claimed Task
    # with these weights a light Task wins a single draw with probability ~0.02
    assert sum(p in heavy for p in picks) >= 20
    assert len(picks) == 25


def test_weight_zero_is_never_claimed(hub):
    store, taskhub, transformations = hub
    tasks = actioned_tasks(store, taskhub, transformations[:3])
    store.set_task_weights({tasks[0]: 0.0}, taskhub)
    claimed = claim_all(store, taskhub, register(store), count=5)
    assert set(claimed) == set(tasks[1:])


def test_extended_task_waits_for_the_task_it_extends(hub):
    store, taskhub, transformations = hub
    first = store.create_tasks(transformations[:1])[0]
    second = store.create_tasks(transformations[:1], extends=[first])[0]
    store.action_tasks([first, second], taskhub)
    service = register(store)
    assert store.claim_taskhub_tasks(taskhub, service, count=2) == [first, None]
    store.record_task_result(first, make_ref(first, ok=False), service)  # an errored prior still blocks
    assert store.claim_taskhub_tasks(taskhub, service, count=2) == [None, None]
    store.set_task_waiting([first])
    assert store.claim_taskhub_tasks(taskhub, service, count=2) == [first, None]
    store.record_task_result(first, make_ref(first, ok=True), service)
    assert store.claim_taskhub_tasks(taskhub, service, count=2) == [second, None]


def test_protocol_filter_restricts_candidates(hub, failing_transformation, scope_test):
    store, taskhub, transformations = hub
    failing = scoped(failing_transformation, scope_test)
    others = [t for t in transformations if t != failing][:3]
    failing_task = actioned_tasks(store, taskhub, [failing])[0]
    other_tasks = actioned_tasks(store, taskhub, others)
    service = register(store)
    # names are validated by the API's bodies; here the filter is a query parameter, so any value only matches nothing
    tasks_before = count(store, "MATCH (t:Task) RETURN count(t)")
    assert store.claim_taskhub_tasks(taskhub, service, count=4, protocols=["X) DETACH DELETE (n"]) == [None] * 4
    assert store.claim_taskhub_tasks(taskhub, service, count=4, protocols=[]) == [None] * 4
    assert count(store, "MATCH (t:Task) RETURN count(t)") == tasks_before
    assert store.claim_taskhub_tasks(taskhub, service, count=4, protocols=["FailingProtocol"]) == [
        failing_task, None, None, None
    ]
    assert store.claim_taskhub_tasks(taskhub, service, count=4, protocols=["NoSuchProtocol"]) == [None] * 4
    claimed = store.claim_taskhub_tasks(taskhub, service, count=4, protocols=["FailingProtocol", "SuccessProtocol"])
    assert set(claimed) == set(other_tasks) | {None}


def test_only_actioned_waiting_tasks_are_claimed(hub):
    store, taskhub, transformations = hub
    tasks = actioned_tasks(store, taskhub, transformations[:4])
    unactioned = store.create_tasks(transformations[4:5])[0]
    store.cancel_tasks([tasks[0]], taskhub)
    store.set_task_invalid([tasks[1]])
    claimed = claim_all(store, taskhub, register(store), count=10)
    assert set(claimed) == set(tasks[2:])
    assert unactioned not in claimed


def test_unregistered_service_cannot_claim(hub):
    store, taskhub, transformations = hub
    task = actioned_tasks(store, taskhub, transformations[:1])[0]
    ghost = ComputeServiceID.new_from_name("ghost")
    with pytest.raises(UnregisteredComputeServiceError, match="not registered"):
        store.claim_taskhub_tasks(taskhub, ghost, count=1)
    service = register(store)
    store.deregister_computeservice(service)
    with pytest.raises(UnregisteredComputeServiceError):
        store.claim_taskhub_tasks(taskhub, service)
    assert store.get_task_status([task]) == ["waiting"]
    assert count(store, "MATCH ()-[c:CLAIMS]->() RETURN count(c)") == 0


def test_claim_tolerates_missing_hub(hub, scope_test):
    store, taskhub, _ = hub
    service = register(store)
    missing = f"TaskHub-{'0' * 32}-{scope_test}"
    assert store.claim_taskhub_tasks(missing, service, count=2) == [None, None]


def test_task_history_records_every_attempt(hub):
    store, taskhub, transformations = hub
    task = actioned_tasks(store, taskhub, transformations[:1])[0]
    first = register(store, "first")
    store.claim_taskhub_tasks(taskhub, first)
    store.deregister_computeservice(first)
    second = register(store, "second")
    assert store.claim_taskhub_tasks(taskhub, second) == [task]
    ref = make_ref(task, ok=True)
    store.record_task_result(task, ref, second)
    history = store.get_task_history(task)
    assert [(h["number"], h["compute_service_id"], h["outcome"]) for h in history] == [
        (1, first, "requeued"), (2, second, "complete")
    ]
    assert history[0]["result_ref"] is None and history[1]["result_ref"] == ref.scoped_key(ref.scope)
    assert all(h["ended"] >= h["claimed"] for h in history)
    with pytest.raises(KeyError):
        store.get_task_history(f"Task-{'0' * 32}-{task.org}-{task.campaign}-{task.project}")


# -- batches: several claims in one statement -----------------------------------------------------


def test_batch_claims_each_see_the_tasks_taken_before_them(hub):
    store, taskhub, transformations = hub
    tasks = actioned_tasks(store, taskhub, transformations[:5])
    services = [register(store, f"batched{i}") for i in range(4)]
    answers = store.claim_taskhub_tasks_batch(
        [ClaimRequest(taskhub, services[0], count=2), ClaimRequest(taskhub, services[1], count=1),
         ClaimRequest(taskhub, services[2], count=1), ClaimRequest(taskhub, services[3], count=3)]
    )
    assert [len(answer) for answer in answers] == [2, 1, 1, 3]
    claimed = [task for answer in answers for task in answer if task is not None]
    assert sorted(claimed) == sorted(tasks)  # all 5 once each, the last request short of 1
    assert answers[3].count(None) == 2
    for service, answer in zip(services, answers):
        assert sorted(store.get_compute_service_claimed_tasks(service)) == sorted(t for t in answer if t)
    assert store.get_task_status(tasks) == ["running"] * 5
    assert count(store, "MATCH (t:Task) WHERE COUNT { (t)<-[:CLAIMS]-() } > 1 RETURN count(t)") == 0
    counts = store.get_scope_status(taskhub.scope)
    assert counts.get("running") == 5 and counts.get("waiting", 0) == 0


def test_batch_gives_back_each_request_its_own_error(hub, scope_test):
    store, taskhub, transformations = hub
    tasks = actioned_tasks(store, taskhub, transformations[:2])
    now = utcnow()
    owned = store.register_computeservice(
        ComputeServiceRegistration(identifier=ComputeServiceID.new_from_name("owned"), registered=now, heartbeat=now),
        owner="alice",
    )
    good = register(store, "good")
    ghost = ComputeServiceID.new_from_name("ghost")
    answers = store.claim_taskhub_tasks_batch(
        [ClaimRequest(taskhub, ghost), ClaimRequest(taskhub, owned, owner="bob"),
         ClaimRequest(taskhub, good, count=2), ClaimRequest(f"TaskHub-{'0' * 32}-{scope_test}", good)]
    )
    assert isinstance(answers[0], UnregisteredComputeServiceError)
    assert isinstance(answers[1], ForbiddenError)
    assert sorted(answers[2]) == sorted(tasks) and answers[3] == [None]
    assert store.get_compute_service_claimed_tasks(owned) == []


# -- concurrency (upstream #121) -------------------------------------------------------------

N_TASKS = 300
N_CLAIMERS = 32


def _claim_until_empty(store, taskhub, service, results, errors):
    try:
        while True:
            claimed = store.claim_taskhub_tasks(taskhub, service, count=1)
            if claimed[0] is None:
                return
            results.append(claimed[0])
    except Exception as error:  # surfaced by the test
        errors.append(error)


def test_concurrent_claimers_never_share_a_task(hub):
    store, taskhub, transformations = hub
    tasks = actioned_tasks(store, taskhub, [transformations[i % len(transformations)] for i in range(N_TASKS)])

    # baseline: a single claimer drains the hub
    single = register(store, "single")
    start = time.perf_counter()
    single_claims: list = []
    _claim_until_empty(store, taskhub, single, single_claims, [])
    single_rate = len(single_claims) / (time.perf_counter() - start)
    assert sorted(single_claims) == sorted(tasks)
    store.deregister_computeservice(single)  # every Task goes back to waiting

    services = [register(store, f"claimer{i}") for i in range(N_CLAIMERS)]
    per_service: dict[str, list] = {s: [] for s in services}
    errors: list[Exception] = []
    threads = [
        threading.Thread(target=_claim_until_empty, args=(store, taskhub, s, per_service[s], errors))
        for s in services
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    concurrent_rate = N_TASKS / (time.perf_counter() - start)
    print(f"\nclaims/s: single claimer {single_rate:.0f}, {N_CLAIMERS} concurrent claimers {concurrent_rate:.0f}")

    assert not errors
    claims = [task for claimed in per_service.values() for task in claimed]
    assert len(claims) == N_TASKS and set(claims) == set(tasks)  # each Task claimed exactly once
    assert sum(1 for claimed in per_service.values() if claimed) > 1
    assert count(store, "MATCH (:ComputeServiceRegistration)-[c:CLAIMS]->(:Task) RETURN count(c)") == N_TASKS
    assert count(store, "MATCH (t:Task {status: 'running'}) RETURN count(t)") == N_TASKS
    assert count(store, "MATCH (t:Task) WHERE COUNT { (t)<-[:CLAIMS]-() } <> 1 RETURN count(t)") == 0
    assert count(store, "MATCH (:Task)-[:ATTEMPTED]->(a:TaskAttempt) WHERE a.ended IS NULL RETURN count(a)") == N_TASKS
    for service, claimed in per_service.items():
        assert sorted(store.get_compute_service_claimed_tasks(service)) == sorted(claimed)
    # no hub-wide serialization: throughput must not collapse with many claimers
    assert concurrent_rate > 0.3 * single_rate


def test_claim_batcher_batches_concurrent_claims_without_sharing_a_task(hub):
    from alchemiscale.compute.batching import make_claim_batcher

    store, taskhub, transformations = hub
    tasks = actioned_tasks(store, taskhub, [transformations[i % len(transformations)] for i in range(120)])
    batcher = make_claim_batcher(store)
    services = [register(store, f"storm{i}") for i in range(24)]
    per_service: dict[str, list] = {s: [] for s in services}

    def claim_until_empty(service):
        while (got := batcher.submit(ClaimRequest(taskhub, service))[0]) is not None:
            per_service[service].append(got)

    assert run_together([lambda s=s: claim_until_empty(s) for s in services]) == []
    claims = [task for claimed in per_service.values() for task in claimed]
    assert len(claims) == len(tasks) and set(claims) == set(tasks)
    assert count(store, "MATCH (t:Task) WHERE COUNT { (t)<-[:CLAIMS]-() } <> 1 RETURN count(t)") == 0
    assert max(batcher.batch_sizes) > 1  # 24 claimers at once do share statements
    assert sum(size * n for size, n in batcher.batch_sizes.items()) == len(tasks) + len(services)
    with pytest.raises(UnregisteredComputeServiceError):
        batcher.submit(ClaimRequest(taskhub, ComputeServiceID.new_from_name("ghost")))
