"""Restart patterns: bookkeeping on TaskHubs and the rules of ``resolve_task_restarts``."""

from __future__ import annotations

import pytest

from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.tests.conftest import build_network

from .compute_helpers import claim_all, count, fail_task, register, scoped, transformation_keys

RETRYABLE = "RuntimeError: CUDA out of memory"
FATAL = "ValueError: bad topology"


@pytest.fixture
def setup(n4js_preloaded, network, scope_test):
    """(store, taskhub, three actioned Tasks, a registered service)."""
    store = n4js_preloaded
    taskhub = store.get_taskhub(scoped(network, scope_test))
    tasks = store.create_tasks(transformation_keys(network, scope_test)[:3])
    store.action_tasks(tasks, taskhub)
    return store, taskhub, tasks, register(store)


def applies(store, task, pattern):
    records = store.execute_query(
        "MATCH (p:TaskRestartPattern {pattern: $pattern})-[a:APPLIES]->(:Task {_scoped_key: $task}) "
        "RETURN a.num_retries AS n",
        {"pattern": pattern, "task": str(task)},
    )
    return records[0]["n"] if records else None


def actioned(store, taskhub, task) -> bool:
    return task in store.get_taskhub_actioned_tasks([taskhub])[0]


def error_out(store, taskhub, service, task, *messages, age=0.0):
    """Claim (the only waiting Task must be ``task``) and report a failure for it."""
    assert claim_all(store, taskhub, service) == [task]
    fail_task(store, task, service, *messages, age=age)
    assert store.get_task_status([task]) == ["error"]


# -- bookkeeping ---------------------------------------------------------------------------


def test_add_patterns_enforce_hub_and_apply_to_actioned_tasks(setup):
    store, taskhub, tasks, _ = setup
    created = store.add_task_restart_patterns(taskhub, ["out of memory", "timeout"], 3)
    assert len(created) == 2 and all(sk.qualname == "TaskRestartPattern" for sk in created)
    assert store.get_task_restart_patterns([taskhub]) == {taskhub: {("out of memory", 3), ("timeout", 3)}}
    assert all(applies(store, t, "timeout") == 0 for t in tasks)
    # adding again keeps one node per pattern and its settings
    store.add_task_restart_patterns(taskhub, ["timeout"], 9)
    assert store.get_task_restart_patterns([taskhub])[taskhub] == {("out of memory", 3), ("timeout", 3)}
    assert count(store, "MATCH (p:TaskRestartPattern) RETURN count(p)") == 2


def test_newly_actioned_tasks_get_the_hub_patterns(setup, network, scope_test):
    store, taskhub, _, _ = setup
    store.add_task_restart_patterns(taskhub, ["timeout"], 2)
    task = store.create_tasks(transformation_keys(network, scope_test)[3:4])[0]
    store.action_tasks([task], taskhub)
    assert applies(store, task, "timeout") == 0
    store.cancel_tasks([task], taskhub)
    assert applies(store, task, "timeout") is None


def test_remove_clear_and_set_max_retries(setup):
    store, taskhub, tasks, _ = setup
    store.add_task_restart_patterns(taskhub, ["a", "b", "c"], 1)
    store.set_task_restart_patterns_max_retries(taskhub, ["a", "b"], 5)
    assert store.get_task_restart_patterns([taskhub])[taskhub] == {("a", 5), ("b", 5), ("c", 1)}
    store.remove_task_restart_patterns(taskhub, ["a", "unknown"])
    assert store.get_task_restart_patterns([taskhub])[taskhub] == {("b", 5), ("c", 1)}
    assert applies(store, tasks[0], "a") is None
    store.clear_task_restart_patterns(taskhub)
    assert store.get_task_restart_patterns([taskhub]) == {taskhub: set()}
    assert count(store, "MATCH ()-[a:APPLIES]->() RETURN count(a)") == 0


def test_pattern_input_validation(setup, scope_test):
    store, taskhub, _, _ = setup
    with pytest.raises(ValueError, match="not a valid regular expression"):
        store.add_task_restart_patterns(taskhub, ["(unclosed"], 1)
    with pytest.raises(ValueError, match="positive integer"):
        store.add_task_restart_patterns(taskhub, ["ok"], 0)
    with pytest.raises(ValueError, match="positive integer"):
        store.set_task_restart_patterns_max_retries(taskhub, ["ok"], -1)
    with pytest.raises(ValueError, match="list of regular expressions"):
        store.add_task_restart_patterns(taskhub, "ok", 1)
    with pytest.raises(KeyError, match="no TaskHub"):
        store.add_task_restart_patterns(f"TaskHub-{'0' * 32}-{scope_test}", ["ok"], 1)
    assert count(store, "MATCH (p:TaskRestartPattern) RETURN count(p)") == 0


# -- resolution ----------------------------------------------------------------------------


def test_matching_traceback_restarts_until_retries_run_out(setup):
    store, taskhub, tasks, service = setup
    task = tasks[0]
    store.cancel_tasks(tasks[1:], taskhub)
    store.add_task_restart_patterns(taskhub, ["out of memory"], 2)
    for attempt in (1, 2):
        error_out(store, taskhub, service, task, "Traceback ...", RETRYABLE)
        assert store.resolve_task_restarts([task]) == [task]
        assert store.get_task_status([task]) == ["waiting"]
        assert applies(store, task, "out of memory") == attempt
    error_out(store, taskhub, service, task, RETRYABLE)
    assert store.resolve_task_restarts([task]) == []
    assert store.get_task_status([task]) == ["error"]  # over the limit: cancelled, stays errored
    assert not actioned(store, taskhub, task)
    assert applies(store, task, "out of memory") is None


def test_unmatched_traceback_cancels_from_the_hub(setup):
    store, taskhub, tasks, service = setup
    task = tasks[0]
    store.cancel_tasks(tasks[1:], taskhub)
    store.add_task_restart_patterns(taskhub, ["out of memory"], 5)
    error_out(store, taskhub, service, task, FATAL)
    assert store.resolve_task_restarts([task]) == []
    assert store.get_task_status([task]) == ["error"] and not actioned(store, taskhub, task)


def test_only_the_newest_tracebacks_count(setup):
    store, taskhub, tasks, service = setup
    task = tasks[0]
    store.cancel_tasks(tasks[1:], taskhub)
    store.add_task_restart_patterns(taskhub, ["out of memory"], 5)
    error_out(store, taskhub, service, task, RETRYABLE)
    store.resolve_task_restarts([task])
    # a fatal failure whose result is older than the retryable one: the newest result decides
    error_out(store, taskhub, service, task, FATAL, age=3600)
    assert store.resolve_task_restarts([task]) == [task]
    error_out(store, taskhub, service, task, FATAL)
    assert store.resolve_task_restarts([task]) == []
    assert not actioned(store, taskhub, task)


def test_any_exhausted_matching_pattern_cancels(setup):
    store, taskhub, tasks, service = setup
    task = tasks[0]
    store.cancel_tasks(tasks[1:], taskhub)
    store.add_task_restart_patterns(taskhub, ["memory"], 1)
    store.add_task_restart_patterns(taskhub, ["CUDA"], 3)
    error_out(store, taskhub, service, task, RETRYABLE)
    assert store.resolve_task_restarts([task]) == [task]
    assert (applies(store, task, "memory"), applies(store, task, "CUDA")) == (1, 1)
    error_out(store, taskhub, service, task, RETRYABLE)
    assert store.resolve_task_restarts([task]) == []  # "memory" is out of retries
    assert not actioned(store, taskhub, task)


def test_error_without_tracebacks_is_cancelled(setup):
    store, taskhub, tasks, service = setup
    task = tasks[0]
    store.cancel_tasks(tasks[1:], taskhub)
    store.add_task_restart_patterns(taskhub, [".*"], 5)
    assert claim_all(store, taskhub, service) == [task]
    store.set_task_error([task])  # an error with no failed result stored
    assert store.resolve_task_restarts([task]) == []
    assert not actioned(store, taskhub, task)


def test_tasks_without_patterns_or_not_errored_are_left_alone(setup):
    store, taskhub, tasks, service = setup
    errored, running, waiting = tasks
    store.cancel_tasks([running, waiting], taskhub)
    error_out(store, taskhub, service, errored, RETRYABLE)  # no patterns yet
    assert store.resolve_task_restarts([errored]) == []
    assert store.get_task_status([errored]) == ["error"] and actioned(store, taskhub, errored)
    store.action_tasks([running, waiting], taskhub)
    store.set_task_weights({waiting: 0.0}, taskhub)
    assert claim_all(store, taskhub, service) == [running]
    store.set_task_weights({waiting: 0.5}, taskhub)
    # adding a pattern resolves the hub's errored Tasks right away, and only those
    store.add_task_restart_patterns(taskhub, ["out of memory"], 1)
    assert store.get_task_status([errored, running, waiting]) == ["waiting", "running", "waiting"]
    assert applies(store, errored, "out of memory") == 1
    assert store.resolve_task_restarts([running, waiting]) == []
    assert store.get_task_status([running, waiting]) == ["running", "waiting"]


def test_resolution_is_per_taskhub(setup, ligands, solvent, scope_test):
    store, taskhub, tasks, service = setup
    task = tasks[0]
    other_network = build_network(ligands, solvent, name="another network")
    _, other_hub, _ = store.assemble_network(to_keyed_chain_json(other_network), scope_test)
    assert store.action_tasks([task], other_hub) == [task]
    store.cancel_tasks(tasks[1:], taskhub)
    store.add_task_restart_patterns(taskhub, ["out of memory"], 3)
    store.add_task_restart_patterns(other_hub, ["never matches"], 3)
    error_out(store, taskhub, service, task, RETRYABLE)
    # still actioned (and restartable) on the first hub, cancelled from the other
    assert store.resolve_task_restarts([task]) == [task]
    assert actioned(store, taskhub, task) and not actioned(store, other_hub, task)
