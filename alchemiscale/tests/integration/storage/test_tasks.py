"""Tasks in the state store: creation, lookups, priority, and every status transition with its side effects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from alchemiscale.models import Scope, ScopedKey
from alchemiscale.storage.models import Task, TaskStatusEnum
from alchemiscale.storage.statestore.status import TRANSITIONS

S = TaskStatusEnum
STATUSES = [s.value for s in S]


@dataclass
class Env:
    scope: Scope
    network: ScopedKey
    taskhub: ScopedKey
    transformations: list[ScopedKey]


@pytest.fixture(scope="module")
def env(n4js, make_synthetic_chain) -> Env:
    """One small network for the whole module; each test makes Tasks of its own."""
    scope = Scope("tasks_org", "tasks_campaign", f"p{uuid.uuid4().hex}")
    network, taskhub, _ = n4js.assemble_network(make_synthetic_chain(6, name="tasks"), scope)
    return Env(scope, network, taskhub, n4js.get_network_transformations(network))


def put_in_status(store, task: ScopedKey, status: str) -> None:
    """Walk a new Task along allowed transitions to ``status``."""
    path = {
        "waiting": [],
        "running": ["running"],
        "complete": ["running", "complete"],
        "error": ["running", "error"],
        "invalid": ["invalid"],
        "deleted": ["deleted"],
    }[status]
    for step in path:
        assert store.set_task_status([task], step) == [task]
    assert store.get_task_status([task]) == [status]


def add_claim_and_attempt(store, task: ScopedKey) -> None:
    """What a compute service's claim leaves behind: a CLAIMS edge, the claim property, an open attempt."""
    store.execute_query(
        """
        MATCH (t:GufeTokenizable:Task {_scoped_key: $sk})
        CREATE (:ComputeServiceRegistration {identifier: $csid})-[:CLAIMS {claimed: datetime()}]->(t)
        CREATE (t)-[:ATTEMPTED]->(:TaskAttempt {number: 1, compute_service_id: $csid, claimed: datetime()})
        SET t.claim = $csid
        """,
        {"sk": str(task), "csid": f"worker-{uuid.uuid4().hex}"},
    )


def relations(store, task: ScopedKey) -> dict:
    record = store.execute_query(
        """
        MATCH (t:GufeTokenizable:Task {_scoped_key: $sk})
        OPTIONAL MATCH (t)-[:ATTEMPTED]->(a:TaskAttempt)
        RETURN count{ (t)<-[:ACTIONS]-() } AS actions, count{ (t)<-[:APPLIES]-() } AS applies,
               count{ (t)<-[:CLAIMS]-() } AS claims, t.claim AS claim, collect(coalesce(a.outcome, "open")) AS outcomes,
               collect(a.ended IS NOT NULL) AS ended
        """,
        {"sk": str(task)},
    )[0]
    return dict(record)


class TestCreate:
    def test_defaults(self, n4js, env):
        (task,) = n4js.create_tasks(env.transformations[:1], creator="alice")
        assert task.scope == env.scope and task.qualname == "Task"
        (model,) = n4js.get_tasks([task])
        assert model.status == "waiting" and model.priority == 10 and model.creator == "alice"
        assert model.extends is None and model.claim is None and model.key == task.gufe_key
        assert n4js.get_task_transformation(task) == env.transformations[0]
        assert task not in n4js.get_taskhub_tasks(env.taskhub)  # not actioned on creation

    def test_bulk_keeps_order(self, n4js, env):
        tasks = n4js.create_tasks(env.transformations + env.transformations)
        assert len(set(tasks)) == 2 * len(env.transformations)
        assert [n4js.get_task_transformation(t) for t in tasks] == env.transformations + env.transformations

    def test_extends(self, n4js, env):
        first = n4js.create_task(env.transformations[0])
        second = n4js.create_task(env.transformations[0], extends=first)
        assert n4js.get_tasks([second])[0].extends == str(first)
        assert n4js.get_transformation_tasks(env.transformations[0], extends=first) == [second]

    def test_extends_other_transformation_refused(self, n4js, env):
        first = n4js.create_task(env.transformations[0])
        with pytest.raises(ValueError, match=f"cannot extend Task {first}: it performs"):
            n4js.create_tasks([env.transformations[1]], extends=[first])

    @pytest.mark.parametrize("status", ["invalid", "deleted"])
    def test_extends_terminal_task_refused(self, n4js, env, status):
        first = n4js.create_task(env.transformations[0])
        n4js.set_task_status([first], status)
        with pytest.raises(ValueError, match=f"its status is {status}"):
            n4js.create_task(env.transformations[0], extends=first)

    def test_extends_missing_task_refused(self, n4js, env):
        ghost = ScopedKey(gufe_key="Task-0000", **env.scope.to_dict())
        with pytest.raises(ValueError, match=f"cannot extend Task {ghost}: it does not exist"):
            n4js.create_task(env.transformations[0], extends=ghost)

    def test_nothing_created_when_one_row_fails(self, n4js, env):
        before = len(n4js.get_transformation_tasks(env.transformations[2]))
        missing = ScopedKey(gufe_key="Transformation-missing", **env.scope.to_dict())
        with pytest.raises(KeyError, match=str(missing)):
            n4js.create_tasks([env.transformations[2], missing])
        assert len(n4js.get_transformation_tasks(env.transformations[2])) == before

    def test_only_transformations_can_be_performed(self, n4js, env):
        system = n4js.get_network_chemicalsystems(env.network)[0]
        with pytest.raises(ValueError, match="not a Transformation"):
            n4js.create_task(system)

    def test_extends_length_must_match(self, n4js, env):
        with pytest.raises(ValueError, match="match one to one"):
            n4js.create_tasks(env.transformations[:2], extends=[None])


class TestLookups:
    def test_query_tasks_by_status_and_scope(self, n4js, make_synthetic_chain, unique_scope):
        network = n4js.assemble_network(make_synthetic_chain(2, name="query"), unique_scope)[0]
        tfs = n4js.get_network_transformations(network)
        tasks = n4js.create_tasks(tfs)
        n4js.set_task_status(tasks[:1], "invalid")
        assert n4js.query_tasks(scope=unique_scope) == sorted(tasks)
        assert n4js.query_tasks(status="invalid", scope=unique_scope) == tasks[:1]
        assert n4js.query_tasks(status="waiting", scope=unique_scope) == tasks[1:]
        with pytest.raises(ValueError, match="invalid Task status 'done'"):
            n4js.query_tasks(status="done", scope=unique_scope)

    def test_network_tasks_and_task_networks(self, n4js, make_synthetic_chain, unique_scope):
        big = n4js.assemble_network(make_synthetic_chain(4, name="shared"), unique_scope)[0]
        small_chain = make_synthetic_chain(2, name="shared")  # same objects, two of the four edges
        small = n4js.assemble_network(small_chain, unique_scope)[0]
        shared_tf = n4js.get_network_transformations(small)[0]
        task = n4js.create_task(shared_tf)
        assert n4js.get_task_networks(task) == sorted([big, small])
        assert n4js.get_network_tasks(big) == [task]
        assert n4js.get_network_tasks(big, status="waiting") == [task]
        assert n4js.get_network_tasks(big, status="error") == []

    def test_transformation_tasks_graph(self, n4js, env):
        tf = env.transformations[3]
        root = n4js.create_task(tf)
        child = n4js.create_task(tf, extends=root)
        grandchild = n4js.create_task(tf, extends=child)
        other = n4js.create_task(tf)
        graph = n4js.get_transformation_tasks(tf, return_as="graph")
        assert {k: graph[k] for k in (root, child, grandchild, other)} == {
            root: None, child: root, grandchild: child, other: None
        }
        assert n4js.get_transformation_tasks(tf, extends=root, return_as="graph") == {child: root, grandchild: child}
        n4js.set_task_status([other], "deleted")
        assert other in n4js.get_transformation_tasks(tf, status="deleted")
        assert root not in n4js.get_transformation_tasks(tf, status="deleted")
        with pytest.raises(ValueError, match="return_as"):
            n4js.get_transformation_tasks(tf, return_as="tree")

    def test_task_transformation_with_chain(self, n4js, env):
        task = n4js.create_task(env.transformations[0])
        chain, result = n4js.get_task_transformation(task, return_gufe=True)
        assert chain[-1][0] == env.transformations[0].gufe_key and result is None

    @pytest.mark.parametrize(
        "method", ["get_task_transformation", "get_task_networks", "get_task_actioned_networks"]
    )
    def test_unknown_task(self, n4js, env, method):
        ghost = ScopedKey(gufe_key="Task-ghost", **env.scope.to_dict())
        with pytest.raises(KeyError, match=str(ghost)):
            getattr(n4js, method)(ghost)

    def test_malformed_task_key(self, n4js):
        with pytest.raises(ValueError, match="Task-x-y"):
            n4js.get_task_status(["Task-x-y"])


class TestPriority:
    def test_set_and_get(self, n4js, env):
        tasks = n4js.create_tasks(env.transformations[:2])
        ghost = ScopedKey(gufe_key="Task-ghost", **env.scope.to_dict())
        assert n4js.set_task_priority([tasks[0], ghost], 1) == [tasks[0], None]
        assert n4js.get_task_priority(tasks + [ghost]) == [1, 10, None]
        assert n4js.set_task_priority(tasks, 2**63 - 1) == tasks

    @pytest.mark.parametrize("priority", [0, -3, 2**63, 1.5, "high", True])
    def test_out_of_range(self, n4js, env, priority):
        with pytest.raises(ValueError, match="priority must be an integer"):
            n4js.set_task_priority([], priority)


class TestTransitions:
    @pytest.mark.parametrize("start", STATUSES)
    @pytest.mark.parametrize("target", STATUSES)
    def test_table(self, n4js, env, start, target):
        task = n4js.create_task(env.transformations[0])
        put_in_status(n4js, task, start)
        allowed = start in TRANSITIONS[target].allowed_from
        assert n4js.set_task_status([task], target) == ([task] if allowed else [None])
        assert n4js.get_task_status([task]) == [target if allowed else start]

    def test_expected_table(self):
        """The table itself, written out, so a change to it is deliberate."""
        allowed = {target: set(rule.allowed_from) for target, rule in TRANSITIONS.items()}
        assert allowed == {
            "waiting": {"waiting", "running", "error"},
            "running": {"waiting", "running"},
            "complete": {"running", "complete"},
            "error": {"running", "error"},
            "invalid": set(STATUSES) - {"deleted"},
            "deleted": set(STATUSES) - {"invalid"},
        }

    def test_raise_error(self, n4js, env):
        task = n4js.create_task(env.transformations[0])
        with pytest.raises(ValueError, match="cannot set Task .* to 'complete': its status is 'waiting'"):
            n4js.set_task_status([task], "complete", raise_error=True)
        ghost = ScopedKey(gufe_key="Task-ghost", **env.scope.to_dict())
        with pytest.raises(KeyError, match=str(ghost)):
            n4js.set_task_waiting([task, ghost], raise_error=True)
        assert n4js.get_task_status([task]) == ["waiting"]
        with pytest.raises(ValueError, match="invalid Task status"):
            n4js.set_task_status([task], "finished")

    def test_dedicated_setters(self, n4js, env):
        task = n4js.create_task(env.transformations[0])
        for setter, status in [
            (n4js.set_task_running, "running"), (n4js.set_task_error, "error"), (n4js.set_task_waiting, "waiting"),
            (n4js.set_task_running, "running"), (n4js.set_task_complete, "complete"),
        ]:
            assert setter([task]) == [task]
            assert n4js.get_task_status([task]) == [status]
        assert n4js.set_task_deleted([task]) == [task]
        assert n4js.set_task_invalid([task]) == [None]

    @pytest.mark.parametrize(
        "target, outcome, keeps_actions",
        [("waiting", "requeued", True), ("error", "error", True), ("complete", "complete", False),
         ("invalid", "cancelled", False), ("deleted", "cancelled", False)],
    )
    def test_ending_a_running_attempt(self, n4js, env, target, outcome, keeps_actions):
        task = n4js.create_task(env.transformations[1])
        n4js.action_tasks([task], env.taskhub)
        n4js.set_task_running([task])
        add_claim_and_attempt(n4js, task)
        assert n4js.set_task_status([task], target) == [task]
        state = relations(n4js, task)
        assert state["claims"] == 0 and state["claim"] is None
        assert state["outcomes"] == [outcome] and state["ended"] == [True]
        assert state["actions"] == (1 if keeps_actions else 0)

    def test_running_to_running_keeps_the_claim(self, n4js, env):
        task = n4js.create_task(env.transformations[1])
        n4js.set_task_running([task])
        add_claim_and_attempt(n4js, task)
        assert n4js.set_task_running([task]) == [task]
        state = relations(n4js, task)
        assert state["claims"] == 1 and state["outcomes"] == ["open"] and state["ended"] == [False]


class TestCascade:
    @pytest.mark.parametrize("status", ["invalid", "deleted"])
    def test_follows_extends_chain(self, n4js, env, status):
        tf = env.transformations[2]
        root = n4js.create_task(tf)
        child = n4js.create_task(tf, extends=root)
        grandchild = n4js.create_task(tf, extends=child)
        sibling = n4js.create_task(tf)
        n4js.action_tasks([root, child, grandchild, sibling], env.taskhub)

        assert n4js.set_task_status([root], status) == [root]

        assert n4js.get_task_status([root, child, grandchild, sibling]) == [status, status, status, "waiting"]
        assert all(relations(n4js, t)["actions"] == 0 for t in (root, child, grandchild))
        assert relations(n4js, sibling)["actions"] == 1

    def test_terminal_descendants_keep_their_status(self, n4js, env):
        tf = env.transformations[2]
        root = n4js.create_task(tf)
        child = n4js.create_task(tf, extends=root)
        n4js.set_task_deleted([child])
        n4js.set_task_invalid([root])
        assert n4js.get_task_status([root, child]) == ["invalid", "deleted"]

    def test_cascade_from_the_middle(self, n4js, env):
        tf = env.transformations[2]
        root = n4js.create_task(tf)
        child = n4js.create_task(tf, extends=root)
        grandchild = n4js.create_task(tf, extends=child)
        n4js.set_task_invalid([child])
        assert n4js.get_task_status([root, child, grandchild]) == ["waiting", "invalid", "invalid"]


def test_task_model_from_store(n4js, env):
    (task,) = n4js.create_tasks(env.transformations[:1], creator="bob")
    (model,) = n4js.get_tasks([task])
    assert isinstance(model, Task) and model.scoped_key(env.scope) == task
