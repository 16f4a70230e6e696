"""Actioning Tasks on TaskHubs: ACTIONS edges, weights, restart-pattern APPLIES edges, cancelling, listings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from alchemiscale.models import Scope, ScopedKey
from alchemiscale.storage.models import Task


@dataclass
class Hubs:
    scope: Scope
    big: ScopedKey  # network
    big_hub: ScopedKey
    small: ScopedKey
    small_hub: ScopedKey
    shared: list[ScopedKey]  # transformations in both networks
    only_big: list[ScopedKey]


@pytest.fixture(scope="module")
def hubs(n4js, make_synthetic_chain) -> Hubs:
    scope = Scope("actions_org", "actions_campaign", f"p{uuid.uuid4().hex}")
    big, big_hub, _ = n4js.assemble_network(make_synthetic_chain(6, name="actions"), scope)
    small, small_hub, _ = n4js.assemble_network(make_synthetic_chain(2, name="actions"), scope)
    shared = n4js.get_network_transformations(small)
    only_big = sorted(set(n4js.get_network_transformations(big)) - set(shared))
    return Hubs(scope, big, big_hub, small, small_hub, shared, only_big)


def applies(store, task: ScopedKey) -> list[int]:
    records = store.execute_query(
        "MATCH (:GufeTokenizable:Task {_scoped_key: $sk})<-[a:APPLIES]-(:TaskRestartPattern) RETURN a.num_retries AS n",
        {"sk": str(task)},
    )
    return [r["n"] for r in records]


def test_action_returns_keys_and_default_weight(n4js, hubs):
    tasks = n4js.create_tasks(hubs.only_big[:2])
    assert n4js.action_tasks(tasks, hubs.big_hub) == tasks
    assert n4js.get_task_weights(tasks, hubs.big_hub) == [0.5, 0.5]
    actioned = n4js.get_taskhub_actioned_tasks([hubs.big_hub])[0]
    assert all(actioned[t] == 0.5 for t in tasks)


def test_refusals_give_none(n4js, hubs):
    outside, repeat, done, errored = n4js.create_tasks([hubs.only_big[0]] * 4)
    n4js.action_tasks([repeat], hubs.big_hub)
    n4js.set_task_running([done, errored])
    n4js.set_task_complete([done])
    n4js.set_task_error([errored])
    # `outside` performs a Transformation the small network does not contain
    assert n4js.action_tasks([outside], hubs.small_hub) == [None]
    assert n4js.action_tasks([repeat, done, errored], hubs.big_hub) == [None, None, errored]


def test_duplicates_in_one_call(n4js, hubs):
    task = n4js.create_task(hubs.only_big[1])
    assert n4js.action_tasks([task, task], hubs.big_hub) == [task, task]
    assert n4js.get_task_actioned_networks(task) == {hubs.big: 0.5}


def test_unknown_taskhub(n4js, hubs):
    ghost = ScopedKey(gufe_key="TaskHub-ghost", **hubs.scope.to_dict())
    task = n4js.create_task(hubs.only_big[0])
    with pytest.raises(KeyError, match=str(ghost)):
        n4js.action_tasks([task], ghost)
    with pytest.raises(KeyError, match=str(ghost)):
        n4js.cancel_tasks([task], ghost)
    with pytest.raises(KeyError, match=str(ghost)):
        n4js.get_taskhub_tasks(ghost)


def test_restart_patterns_apply_on_action_and_leave_on_cancel(n4js, make_synthetic_chain, unique_scope):
    network, hub, _ = n4js.assemble_network(make_synthetic_chain(2, name="patterns"), unique_scope)
    n4js.add_task_restart_patterns(hub, ["exploded", "timeout"], 3)
    task = n4js.create_task(n4js.get_network_transformations(network)[0])
    n4js.action_tasks([task], hub)
    assert applies(n4js, task) == [0, 0]
    assert n4js.cancel_tasks([task], hub) == [task]
    assert applies(n4js, task) == []
    assert n4js.get_taskhub_tasks(hub) == []


def test_weights(n4js, hubs):
    a, b, unactioned = n4js.create_tasks(hubs.shared[:1] * 3)
    n4js.action_tasks([a, b], hubs.small_hub)
    assert n4js.set_task_weights({a: 0.0, b: 1.0}, hubs.small_hub) == [a, b]
    assert n4js.get_task_weights([a, b, unactioned], hubs.small_hub) == [0.0, 1.0, None]
    assert n4js.set_task_weights([a, unactioned], hubs.small_hub, weight=0.25) == [a, None]
    assert n4js.get_task_weights([a], hubs.small_hub) == [0.25]
    with pytest.raises(ValueError, match="between 0 and 1"):
        n4js.set_task_weights({a: 2.0}, hubs.small_hub)
    with pytest.raises(ValueError, match="needs a `weight`"):
        n4js.set_task_weights([a], hubs.small_hub)
    with pytest.raises(ValueError, match="not both"):
        n4js.set_task_weights({a: 0.1}, hubs.small_hub, weight=0.2)


def test_cancel(n4js, hubs):
    task, never = n4js.create_tasks(hubs.shared[:1] * 2)
    n4js.action_tasks([task], hubs.small_hub)
    n4js.action_tasks([task], hubs.big_hub)
    assert n4js.cancel_tasks([task, never], hubs.small_hub) == [task, None]
    assert n4js.get_task_actioned_networks(task) == {hubs.big: 0.5}


def test_task_actioned_networks(n4js, hubs):
    task = n4js.create_task(hubs.shared[0])
    assert n4js.get_task_actioned_networks(task) == {}
    n4js.action_tasks([task], hubs.small_hub)
    n4js.action_tasks([task], hubs.big_hub)
    n4js.set_task_weights({task: 0.7}, hubs.big_hub)
    assert n4js.get_task_actioned_networks(task) == {hubs.small: 0.5, hubs.big: 0.7}


def test_taskhub_tasks_and_unclaimed(n4js, make_synthetic_chain, unique_scope):
    network, hub, _ = n4js.assemble_network(make_synthetic_chain(2, name="claims"), unique_scope)
    free, claimed = n4js.create_tasks(n4js.get_network_transformations(network))
    n4js.action_tasks([free, claimed], hub)
    n4js.execute_query(
        "MATCH (t:GufeTokenizable:Task {_scoped_key: $sk}) "
        "CREATE (:ComputeServiceRegistration {identifier: $id})-[:CLAIMS {claimed: datetime()}]->(t)",
        {"sk": str(claimed), "id": f"worker-{uuid.uuid4().hex}"},
    )
    assert n4js.get_taskhub_tasks(hub) == sorted([free, claimed])
    assert n4js.get_taskhub_unclaimed_tasks(hub) == [free]
    models = n4js.get_taskhub_tasks(hub, return_gufe=True)
    assert set(models) == {free, claimed} and all(isinstance(m, Task) for m in models.values())
    assert n4js.get_taskhub_unclaimed_tasks(hub, return_gufe=True)[free].status == "waiting"


def test_taskhub_actioned_tasks_bulk(n4js, make_synthetic_chain, unique_scope):
    network, hub, _ = n4js.assemble_network(make_synthetic_chain(2, name="bulk"), unique_scope)
    tasks = n4js.create_tasks(n4js.get_network_transformations(network))
    n4js.action_tasks(tasks, hub)
    n4js.set_task_weights({tasks[0]: 0.9}, hub)
    ghost = ScopedKey(gufe_key="TaskHub-ghost", **unique_scope.to_dict())
    assert n4js.get_taskhub_actioned_tasks([hub, ghost]) == [{tasks[0]: 0.9, tasks[1]: 0.5}, {}]


def test_transformation_actioned_tasks(n4js, hubs):
    tf = hubs.shared[1]
    on_small, on_big, idle = n4js.create_tasks([tf] * 3)
    n4js.action_tasks([on_small], hubs.small_hub)
    n4js.action_tasks([on_big], hubs.big_hub)
    everywhere = n4js.get_transformation_actioned_tasks(tf)
    assert on_small in everywhere and on_big in everywhere and idle not in everywhere
    on_small_hub = n4js.get_transformation_actioned_tasks(tf, hubs.small_hub)
    assert on_small in on_small_hub and on_big not in on_small_hub
