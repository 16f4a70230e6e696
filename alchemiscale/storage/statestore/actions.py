"""State store: actioning Tasks on TaskHubs (the ``ACTIONS`` edge and its weight).

Only actioned Tasks can be claimed. Actioning also attaches every restart pattern enforcing the
hub to the Task (``APPLIES {num_retries: 0}``); cancelling removes both.
"""

from __future__ import annotations

from typing import Optional, Union

from neo4j import ManagedTransaction

from ...errors import InvalidInputError, NotFoundError
from ...models import ScopedKey
from ..models import Task, TaskStatusEnum
from .scoping import ScopedKeyLike, as_scoped_key, as_scoped_keys, check_weight, task_from_props

ACTIONABLE = [TaskStatusEnum.waiting.value, TaskStatusEnum.running.value, TaskStatusEnum.error.value]
DEFAULT_WEIGHT = 0.5

_ACTION = """
MATCH (th:GufeTokenizable:TaskHub {_scoped_key: $taskhub})-[:PERFORMS]->(an:AlchemicalNetwork)
UNWIND $sks AS sk
MATCH (t:GufeTokenizable:Task {_scoped_key: sk})
USING INDEX t:GufeTokenizable(_scoped_key)
WHERE t.status IN $actionable
  AND EXISTS { (t)-[:PERFORMS]->()<-[:DEPENDS_ON]-(an) }
  AND NOT EXISTS { (th)-[:ACTIONS]->(t) }
CREATE (th)-[:ACTIONS {weight: $weight, task: sk}]->(t)
WITH th, t, sk
CALL (th, t) {
    MATCH (p:TaskRestartPattern)-[:ENFORCES]->(th)
    MERGE (p)-[a:APPLIES]->(t)
    ON CREATE SET a.num_retries = 0
}
RETURN sk
"""

# Each [task, taskhub] pair loses its ACTIONS edge and the APPLIES edges of the hub's restart patterns.
_CANCEL = """
UNWIND $pairs AS pair
MATCH (th:GufeTokenizable:TaskHub {_scoped_key: pair[1]})-[a:ACTIONS]->(t:GufeTokenizable:Task {_scoped_key: pair[0]})
DELETE a
WITH th, t, pair
CALL (th, t) {
    MATCH (t)<-[ap:APPLIES]-(:TaskRestartPattern)-[:ENFORCES]->(th)
    DELETE ap
}
RETURN pair[0] AS sk
"""


def cancel_from_taskhubs(tx: ManagedTransaction, pairs: list[list[str]]) -> set[str]:
    """Take Tasks off TaskHubs (``[task, taskhub]`` ScopedKey pairs); the Tasks that were actioned there."""
    return {r["sk"] for r in tx.run(_CANCEL, pairs=pairs)}


TasksResult = Union[list[ScopedKey], dict[ScopedKey, Task]]


class ActionsMixin:
    def _require_taskhub(self, tx, taskhub: ScopedKey) -> None:
        if tx.run("MATCH (th:GufeTokenizable:TaskHub {_scoped_key: $sk}) RETURN th", sk=str(taskhub)).single() is None:
            raise NotFoundError(f"no TaskHub with ScopedKey {taskhub} in the state store")

    def action_tasks(self, tasks: list[ScopedKeyLike], taskhub: ScopedKeyLike) -> list[Optional[ScopedKey]]:
        """Put Tasks on a TaskHub (weight 0.5); None for Tasks already actioned there, outside the
        hub's network, or not waiting, running or errored."""
        keys = as_scoped_keys(tasks)
        hub = as_scoped_key(taskhub)

        def action(tx) -> set[str]:
            self._require_taskhub(tx, hub)
            records = tx.run(
                _ACTION,
                taskhub=str(hub), sks=sorted({str(k) for k in keys}), actionable=ACTIONABLE, weight=DEFAULT_WEIGHT,
            )
            return {r["sk"] for r in records}

        actioned = self.write_transaction(action)
        return [k if str(k) in actioned else None for k in keys]

    def cancel_tasks(self, tasks: list[ScopedKeyLike], taskhub: ScopedKeyLike) -> list[Optional[ScopedKey]]:
        """Take Tasks off a TaskHub (with the hub's restart-pattern counters); None for Tasks not actioned there."""
        keys = as_scoped_keys(tasks)
        hub = as_scoped_key(taskhub)

        def cancel(tx) -> set[str]:
            self._require_taskhub(tx, hub)
            return cancel_from_taskhubs(tx, [[sk, str(hub)] for sk in sorted({str(k) for k in keys})])

        cancelled = self.write_transaction(cancel)
        return [k if str(k) in cancelled else None for k in keys]

    def set_task_weights(
        self,
        tasks: Union[dict[ScopedKeyLike, float], list[ScopedKeyLike]],
        taskhub: ScopedKeyLike,
        weight: Optional[float] = None,
    ) -> list[Optional[ScopedKey]]:
        """Set ACTIONS weights: ``{task: weight}``, or a list of Tasks with one ``weight`` for all.

        None for Tasks not actioned on the hub.
        """
        if isinstance(tasks, dict):
            if weight is not None:
                raise InvalidInputError("give weights either in the dict or as `weight`, not both")
            pairs = [(as_scoped_key(k), check_weight(w, "Task weight")) for k, w in tasks.items()]
        else:
            if weight is None:
                raise InvalidInputError("a list of Tasks needs a `weight` to apply to all of them")
            w = check_weight(weight, "Task weight")
            pairs = [(k, w) for k in as_scoped_keys(tasks)]
        hub = as_scoped_key(taskhub)
        records = self.execute_query(
            """
            UNWIND $rows AS row
            MATCH (:GufeTokenizable:TaskHub {_scoped_key: $taskhub})-[a:ACTIONS]->(t:GufeTokenizable:Task {_scoped_key: row.sk})
            USING INDEX t:GufeTokenizable(_scoped_key)
            SET a.weight = row.weight
            RETURN row.sk AS sk
            """,
            {"taskhub": str(hub), "rows": [{"sk": str(k), "weight": w} for k, w in pairs]},
        )
        found = {r["sk"] for r in records}
        return [k if str(k) in found else None for k, _ in pairs]

    def get_task_weights(self, tasks: list[ScopedKeyLike], taskhub: ScopedKeyLike) -> list[Optional[float]]:
        keys = as_scoped_keys(tasks)
        records = self.execute_query(
            """
            UNWIND $sks AS sk
            MATCH (:GufeTokenizable:TaskHub {_scoped_key: $taskhub})-[a:ACTIONS]->(t:GufeTokenizable:Task {_scoped_key: sk})
            USING INDEX t:GufeTokenizable(_scoped_key)
            RETURN sk, a.weight AS weight
            """,
            {"taskhub": str(as_scoped_key(taskhub)), "sks": [str(k) for k in keys]},
        )
        weights = {r["sk"]: r["weight"] for r in records}
        return [weights.get(str(k)) for k in keys]

    def get_taskhub_actioned_tasks(self, taskhubs: list[ScopedKeyLike]) -> list[dict[ScopedKey, float]]:
        """For each TaskHub, ``{task: weight}`` of its actioned Tasks (empty for an unknown hub)."""
        keys = as_scoped_keys(taskhubs)
        records = self.execute_query(
            """
            UNWIND $sks AS sk
            MATCH (th:GufeTokenizable:TaskHub {_scoped_key: sk})-[a:ACTIONS]->(t:Task)
            USING INDEX th:GufeTokenizable(_scoped_key)
            RETURN sk, t._scoped_key AS task, a.weight AS weight
            """,
            {"sks": sorted({str(k) for k in keys})},
        )
        per_hub: dict[str, dict[ScopedKey, float]] = {}
        for r in records:
            per_hub.setdefault(r["sk"], {})[ScopedKey.from_str(r["task"])] = r["weight"]
        return [dict(per_hub.get(str(k), {})) for k in keys]

    def get_task_actioned_networks(self, task: ScopedKeyLike) -> dict[ScopedKey, float]:
        """``{network: weight}`` for every network whose TaskHub actions ``task``."""
        sk = as_scoped_key(task)
        records = self.execute_query(
            """
            MATCH (t:GufeTokenizable:Task {_scoped_key: $sk})
            OPTIONAL MATCH (t)<-[a:ACTIONS]-(:TaskHub)-[:PERFORMS]->(an:AlchemicalNetwork)
            RETURN t._scoped_key AS found, an._scoped_key AS network, a.weight AS weight
            """,
            {"sk": str(sk)},
        )
        if not records:
            raise NotFoundError(f"no Task with ScopedKey {sk} in the state store")
        return {ScopedKey.from_str(r["network"]): r["weight"] for r in records if r["network"] is not None}

    def get_taskhub_tasks(self, taskhub: ScopedKeyLike, return_gufe: bool = False) -> TasksResult:
        """Tasks actioned on ``taskhub``: ScopedKeys, or ``{sk: Task}`` with ``return_gufe``."""
        return self._taskhub_tasks(taskhub, return_gufe, unclaimed_only=False)

    def get_taskhub_unclaimed_tasks(self, taskhub: ScopedKeyLike, return_gufe: bool = False) -> TasksResult:
        """Tasks actioned on ``taskhub`` that no compute service holds a claim on."""
        return self._taskhub_tasks(taskhub, return_gufe, unclaimed_only=True)

    def _taskhub_tasks(self, taskhub: ScopedKeyLike, return_gufe: bool, unclaimed_only: bool) -> TasksResult:
        sk = as_scoped_key(taskhub)
        records = self.execute_query(
            """
            MATCH (th:GufeTokenizable:TaskHub {_scoped_key: $sk})
            OPTIONAL MATCH (th)-[:ACTIONS]->(t:Task)
            WHERE NOT $unclaimed_only OR NOT EXISTS { (t)<-[:CLAIMS]-() }
            RETURN th._scoped_key AS found, t._scoped_key AS task, properties(t) AS props
            """,
            {"sk": str(sk), "unclaimed_only": unclaimed_only},
        )
        if not records:
            raise NotFoundError(f"no TaskHub with ScopedKey {sk} in the state store")
        rows = sorted((r for r in records if r["task"] is not None), key=lambda r: r["task"])
        if return_gufe:
            return {ScopedKey.from_str(r["task"]): task_from_props(r["props"]) for r in rows}
        return [ScopedKey.from_str(r["task"]) for r in rows]

    def get_transformation_actioned_tasks(
        self, transformation: ScopedKeyLike, taskhub: Optional[ScopedKeyLike] = None
    ) -> list[ScopedKey]:
        """Tasks of ``transformation`` actioned on any TaskHub, or only on ``taskhub``."""
        sk = as_scoped_key(transformation)
        records = self.execute_query(
            """
            MATCH (tf:GufeTokenizable {_scoped_key: $sk})
            OPTIONAL MATCH (tf)<-[:PERFORMS]-(t:Task)<-[:ACTIONS]-(th:TaskHub)
            WHERE $taskhub IS NULL OR th._scoped_key = $taskhub
            RETURN tf._scoped_key AS found, collect(DISTINCT t._scoped_key) AS sks
            """,
            {"sk": str(sk), "taskhub": str(as_scoped_key(taskhub)) if taskhub is not None else None},
        )
        if not records:
            raise NotFoundError(f"no Transformation with ScopedKey {sk} in the state store")
        return sorted(ScopedKey.from_str(s) for s in records[0]["sks"])
