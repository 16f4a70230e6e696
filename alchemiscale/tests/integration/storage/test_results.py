"""Result refs, tracebacks, the extended-Task lookup and ``record_task_result``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alchemiscale.compute.batching import make_result_batcher
from alchemiscale.errors import ConflictError, InvalidInputError, NotFoundError
from alchemiscale.models import ComputeServiceID, Scope
from alchemiscale.storage.models import utcnow
from alchemiscale.storage.statestore import ResultRecord, UploadStateRequest

from .compute_helpers import (
    claim_all,
    count,
    make_ref,
    make_tracebacks,
    register,
    run_together,
    scoped,
    transformation_keys,
)


@pytest.fixture
def setup(n4js_preloaded, network, scope_test):
    """(store, taskhub, Transformation ScopedKeys, two actioned Tasks on the first one, a service)."""
    store = n4js_preloaded
    taskhub = store.get_taskhub(scoped(network, scope_test))
    transformations = transformation_keys(network, scope_test)
    tasks = store.create_tasks(transformations[:1] * 2)
    store.action_tasks(tasks, taskhub)
    return store, taskhub, transformations, tasks, register(store)


def test_set_task_result_is_idempotent(setup):
    store, _, _, tasks, _ = setup
    ref = make_ref(tasks[0], ok=True)
    first = store.set_task_result(tasks[0], ref)
    assert store.set_task_result(tasks[0], ref) == first == ref.scoped_key(ref.scope)
    assert count(store, "MATCH (r:ProtocolDAGResultRef) RETURN count(r)") == 1
    assert count(store, "MATCH ()-[e:RESULTS_IN]->() RETURN count(e)") == 1
    assert store.get_protocoldagresultref(first) == ref


def test_set_task_result_checks_task_and_scope(setup):
    store, _, _, tasks, _ = setup
    task = tasks[0]
    with pytest.raises(KeyError, match="no Task"):
        missing = f"Task-{'0' * 32}-{task.org}-{task.campaign}-{task.project}"
        store.set_task_result(missing, make_ref(task, ok=True))
    foreign = make_ref(task, ok=True).model_copy(update={"scope": Scope("other", "c", "p")})
    with pytest.raises(ValueError, match="differs from the scope"):
        store.set_task_result(task, foreign)
    with pytest.raises(KeyError):
        store.get_protocoldagresultref(make_ref(task, ok=True).scoped_key(task.scope))


def test_results_and_failures_are_split_on_ok(setup):
    store, _, transformations, tasks, _ = setup
    now = utcnow()
    ok_old = store.set_task_result(tasks[0], make_ref(tasks[0], ok=True, created=now - timedelta(hours=1)))
    failed = store.set_task_result(tasks[0], make_ref(tasks[0], ok=False, created=now))
    ok_new = store.set_task_result(tasks[1], make_ref(tasks[1], ok=True, created=now))
    assert store.get_task_results(tasks[0]) == [ok_old]
    assert store.get_task_failures(tasks[0]) == [failed]
    assert store.get_task_failures(tasks[1]) == []
    assert store.get_transformation_results(transformations[0]) == [ok_old, ok_new]
    assert store.get_transformation_failures(transformations[0]) == [failed]
    assert store.get_transformation_results(transformations[1]) == []
    with pytest.raises(KeyError):
        store.get_transformation_results(str(transformations[0]).replace("Transformation-", "Transformation-0"))


def test_tracebacks_are_stored_once_and_retrieved_in_bulk(setup):
    store, _, transformations, tasks, _ = setup
    now = utcnow()
    older = make_ref(tasks[0], ok=False, created=now - timedelta(minutes=5))
    newer = make_ref(tasks[0], ok=False, created=now)
    other = make_ref(tasks[1], ok=False, created=now)
    for task, ref, message in ((tasks[0], newer, "second"), (tasks[0], older, "first"), (tasks[1], other, "other")):
        ref_sk = store.set_task_result(task, ref)
        tb = make_tracebacks(ref, message, message + " again")
        assert store.add_protocol_dag_result_ref_tracebacks(tb, ref_sk) == store.add_protocol_dag_result_ref_tracebacks(
            tb, ref_sk
        )
    assert count(store, "MATCH (t:Tracebacks) RETURN count(t)") == 3
    untouched = store.create_tasks(transformations[:1])[0]
    found = store.get_task_tracebacks([tasks[0], untouched, tasks[1]])
    assert [[item["tracebacks"][0] for item in items] for items in found] == [["first", "second"], [], ["other"]]
    assert found[0][1]["result_ref"] == newer.scoped_key(newer.scope)
    assert len(found[2][0]["source_keys"]) == len(found[2][0]["failure_keys"]) == 2
    assert found[0][0]["datetime_created"] < found[0][1]["datetime_created"]
    wrong = make_tracebacks(other, "x")
    with pytest.raises(ValueError, match="belong to"):
        store.add_protocol_dag_result_ref_tracebacks(wrong, newer.scoped_key(newer.scope))


def test_extends_lookup_uses_the_newest_successful_result(setup):
    store, _, transformations, tasks, _ = setup
    prior = tasks[0]
    extension = store.create_tasks(transformations[:1], extends=[prior])[0]
    assert store.get_task_transformation_and_extends_ref(extension) == (transformations[0], None)
    now = utcnow()
    store.set_task_result(prior, make_ref(prior, ok=True, created=now - timedelta(hours=2)))
    newest_ok = store.set_task_result(prior, make_ref(prior, ok=True, created=now - timedelta(hours=1)))
    store.set_task_result(prior, make_ref(prior, ok=False, created=now))
    assert store.get_task_transformation_and_extends_ref(extension) == (transformations[0], newest_ok)
    chain, extends_ref = store.get_task_transformation(extension, return_gufe=True)
    assert chain[-1][0] == transformations[0].gufe_key and extends_ref == newest_ok
    assert store.get_task_transformation_and_extends_ref(prior) == (transformations[0], None)


# -- record_task_result --------------------------------------------------------------------


def test_record_success_completes_and_dequeues(setup):
    store, taskhub, _, tasks, service = setup
    task = claim_all(store, taskhub, service, count=1)[0]
    ref = make_ref(task, ok=True, creator=service)
    recorded = store.record_task_result(task, ref, service)
    assert recorded.status == "complete" and recorded.ref == ref.scoped_key(ref.scope)
    assert store.get_task_status([task]) == ["complete"]
    assert task not in store.get_taskhub_actioned_tasks([taskhub])[0]
    assert store.get_compute_service_claimed_tasks(service) == []
    assert store.get_task_results(task) == [recorded.ref]
    attempt = store.get_task_history(task)[-1]
    assert attempt["outcome"] == "complete" and attempt["result_ref"] == recorded.ref and attempt["ended"]


def test_record_failure_errors_but_stays_actioned(setup):
    store, taskhub, _, tasks, service = setup
    task = claim_all(store, taskhub, service, count=1)[0]
    ref = make_ref(task, ok=False)
    recorded = store.record_task_result(task, ref, service, tracebacks=make_tracebacks(ref, "boom"))
    assert recorded.status == "error"
    assert store.get_task_status([task]) == ["error"]
    assert task in store.get_taskhub_actioned_tasks([taskhub])[0]
    assert store.get_tasks([task])[0].claim is None
    assert store.get_task_failures(task) == [recorded.ref]
    assert store.get_task_tracebacks([task])[0][0]["tracebacks"] == ["boom"]
    attempt = store.get_task_history(task)[-1]
    assert attempt["outcome"] == "error" and attempt["result_ref"] == recorded.ref


def test_repeated_upload_changes_nothing(setup):
    store, taskhub, _, tasks, service = setup
    task = claim_all(store, taskhub, service, count=1)[0]
    ref = make_ref(task, ok=True)
    first = store.record_task_result(task, ref, service)
    again = store.record_task_result(task, ref, service)
    assert again.ref == first.ref and again.status is None
    assert count(store, "MATCH ()-[e:RESULTS_IN]->() RETURN count(e)") == 1
    assert len(store.get_task_history(task)) == 1


def test_late_upload_is_refused_and_stores_nothing(setup):
    store, taskhub, _, tasks, service = setup
    task = claim_all(store, taskhub, service, count=1)[0]
    store.deregister_computeservice(service)  # e.g. expired: the Task went back to waiting
    with pytest.raises(ConflictError, match="not running under compute service"):
        store.record_task_result(task, make_ref(task, ok=True), service)
    assert store.get_task_status([task]) == ["waiting"]
    assert store.get_task_results(task) == []
    assert [h["outcome"] for h in store.get_task_history(task)] == ["requeued"]
    # a different service cannot finish a Task claimed by someone else either
    owner, intruder = register(store, "owner"), register(store, "intruder")
    claimed = claim_all(store, taskhub, owner)
    assert task in claimed
    with pytest.raises(ConflictError):
        store.record_task_result(task, make_ref(task, ok=False), intruder)
    assert store.get_task_status([task]) == ["running"] and store.get_task_failures(task) == []
    assert store.record_task_result(task, make_ref(task, ok=True), owner).status == "complete"


def test_upload_state_follows_the_claim_and_the_recorded_ref(setup):
    store, taskhub, transformations, tasks, service = setup
    task = claim_all(store, taskhub, service, count=1)[0]
    ref = make_ref(task, ok=True)
    other = register(store, "other")
    state = store.get_result_upload_state(task, service, ref.obj_key, True)
    assert state == (transformations[0], "running", True, None, True, False)
    assert store.get_result_upload_state(task, other, ref.obj_key, True)[2:] == (True, None, False, False)
    ghost = ComputeServiceID.new_from_name("ghost")
    assert store.get_result_upload_state(task, ghost, ref.obj_key, True)[2:] == (False, None, False, False)
    store.record_task_result(task, ref, service)
    assert store.get_result_upload_state(task, service, ref.obj_key, True)[1:] == ("complete", True, None, False, True)
    assert store.get_result_upload_state(task, service, ref.obj_key, False).already_recorded is False  # other outcome
    missing = tasks[0].model_copy(update={"gufe_key": "Task-" + "0" * 32})
    with pytest.raises(NotFoundError, match="no Task"):
        store.get_result_upload_state(missing, service, ref.obj_key, True)
    # several in one query: each its own answer or error, in order
    states = store.get_result_upload_states([
        UploadStateRequest(missing, service, ref.obj_key, True),
        UploadStateRequest(task, service, ref.obj_key, True),
        UploadStateRequest(task, "not a service id", ref.obj_key, True),
        UploadStateRequest(tasks[1], other, "ProtocolDAGResult-" + "1" * 32, False),
    ])
    assert isinstance(states[0], NotFoundError) and isinstance(states[2], InvalidInputError)
    assert states[1] == store.get_result_upload_state(task, service, ref.obj_key, True)
    assert states[3] == (transformations[0], "waiting", True, None, False, False)


def test_record_task_results_answers_each_record_in_one_transaction(setup):
    store, taskhub, transformations, _, service = setup
    more = store.create_tasks(transformations[1:2] * 3)
    store.action_tasks(more, taskhub)
    done, failed, late, twice = claim_all(store, taskhub, service, count=4)
    store.set_task_waiting([late])  # its claim is lost before the result arrives
    ok_ref, failed_ref, twice_ref = make_ref(done, ok=True), make_ref(failed, ok=False), make_ref(twice, ok=True)
    foreign = make_ref(done, ok=True).model_copy(update={"scope": Scope("other", "c", "p")})
    missing = done.model_copy(update={"gufe_key": "Task-" + "0" * 32})
    answers = store.record_task_results([
        ResultRecord(done, ok_ref, service),
        ResultRecord(failed, failed_ref, service, make_tracebacks(failed_ref, "boom")),
        ResultRecord(late, make_ref(late, ok=True), service),
        ResultRecord(missing, make_ref(missing, ok=True), service),
        ResultRecord(done, foreign, service),
        ResultRecord(twice, twice_ref, service),
        ResultRecord(twice, twice_ref, service),  # the same upload again, in the same batch
        ResultRecord(twice, make_ref(twice, ok=False), service),  # another result once it is complete
        ResultRecord(done, make_ref(done, ok=True), "not a service id"),
    ])
    assert answers[:2] == [(ok_ref.scoped_key(ok_ref.scope), "complete"), (failed_ref.scoped_key(failed_ref.scope), "error")]
    assert isinstance(answers[2], ConflictError) and isinstance(answers[3], NotFoundError)
    assert isinstance(answers[4], InvalidInputError) and "differs from the scope" in str(answers[4])
    assert answers[5:7] == [(twice_ref.scoped_key(twice_ref.scope), "complete"), (twice_ref.scoped_key(twice_ref.scope), None)]
    assert isinstance(answers[7], ConflictError)
    assert isinstance(answers[8], InvalidInputError) and "invalid ComputeServiceID" in str(answers[8])
    assert store.get_task_status([done, failed, late, twice]) == ["complete", "error", "waiting", "complete"]
    assert store.get_task_results(late) == [] and store.get_task_failures(twice) == []
    assert store.get_task_tracebacks([failed])[0][0]["tracebacks"] == ["boom"]
    # each closed attempt names its own Task's result
    for task, ref in ((done, ok_ref), (failed, failed_ref), (twice, twice_ref)):
        assert store.get_task_history(task)[-1]["result_ref"] == ref.scoped_key(ref.scope)
    assert store.get_compute_service_claimed_tasks(service) == []


def test_result_batcher_records_concurrent_uploads_together(setup):
    store, taskhub, transformations, _, _ = setup
    tasks = store.create_tasks([transformations[i % len(transformations)] for i in range(48)])
    store.action_tasks(tasks, taskhub)
    services = [register(store, f"pusher{i}") for i in range(3)]
    claimed = [(task, s) for s in services for task in claim_all(store, taskhub, s, count=16)]
    assert len(claimed) == 48
    batcher = make_result_batcher(store)
    refs = {task: make_ref(task, ok=i % 4 != 0) for i, (task, _) in enumerate(claimed)}
    answers: dict = {}

    def push(task, service):
        ref = refs[task]
        tracebacks = None if ref.ok else make_tracebacks(ref, f"failed {task.gufe_key}")
        answers[task] = batcher.submit(ResultRecord(task, ref, service, tracebacks))

    assert run_together([lambda t=t, s=s: push(t, s) for t, s in claimed]) == []
    assert max(batcher.batch_sizes) > 1  # uploads arriving together shared a transaction
    assert sum(size * n for size, n in batcher.batch_sizes.items()) == len(claimed)
    for task, ref in refs.items():
        assert answers[task] == (ref.scoped_key(ref.scope), "complete" if ref.ok else "error")
        assert store.get_task_history(task)[-1]["result_ref"] == ref.scoped_key(ref.scope)
    statuses = store.get_task_status(list(refs))
    assert statuses.count("complete") == 36 and statuses.count("error") == 12
    assert all(store.get_compute_service_claimed_tasks(s) == [] for s in services)
    with pytest.raises(ConflictError):  # a lone refusal is raised to its own caller
        task, service = claimed[0]
        batcher.submit(ResultRecord(task, make_ref(task, ok=True), service))
