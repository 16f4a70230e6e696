"""State store: creating Tasks, finding them, and their priorities.

A Task PERFORMS one Transformation-like object (anything with a ``protocol`` reference) and may
EXTEND an earlier Task of the same Transformation. Status changes live in ``status.py`` and
actioning on TaskHubs in ``actions.py``; both are mixed in here.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from ...errors import InvalidInputError, NotFoundError
from ...models import Scope, ScopedKey
from ..models import Task, TaskStatusEnum
from .actions import ActionsMixin
from .scoping import (
    ScopedKeyLike,
    as_scope,
    as_scoped_key,
    as_scoped_keys,
    check_priority,
    node_props,
    ordered,
    scope_filter,
    task_from_props,
)
from .status import TaskStatusMixin, check_task_status
from .statuscounts import count_moves, creation_moves

CREATE_BATCH = 5000  # rows per statement: bounds the memory one statement's parameters take

_CREATION_CHECKS = """
UNWIND $rows AS row
OPTIONAL MATCH (tf:GufeTokenizable {_scoped_key: row.transformation})
USING INDEX tf:GufeTokenizable(_scoped_key)
OPTIONAL MATCH (prev:GufeTokenizable:Task {_scoped_key: row.extends})-[:PERFORMS]->(prev_tf)
USING INDEX prev:GufeTokenizable(_scoped_key)
RETURN row.i AS i,
       tf IS NOT NULL AS found,
       CASE WHEN tf IS NULL THEN false
            ELSE EXISTS { (tf)-[:DEPENDS_ON {attribute: 'protocol'}]->() } END AS performable,
       prev.status AS extends_status,
       prev_tf._scoped_key AS extends_transformation
"""

_CREATE_TASKS = """
UNWIND $rows AS row
MATCH (tf:GufeTokenizable {_scoped_key: row.transformation})
USING INDEX tf:GufeTokenizable(_scoped_key)
CREATE (t:GufeTokenizable:Task)
SET t += row.props
CREATE (t)-[:PERFORMS]->(tf)
WITH t, row
OPTIONAL MATCH (prev:GufeTokenizable:Task {_scoped_key: row.extends})
USING INDEX prev:GufeTokenizable(_scoped_key)
FOREACH (p IN CASE WHEN prev IS NULL THEN [] ELSE [prev] END | CREATE (t)-[:EXTENDS]->(p))
"""


class TasksMixin(TaskStatusMixin, ActionsMixin):
    # -- creation -----------------------------------------------------------------------

    def create_tasks(
        self,
        transformations: list[ScopedKeyLike],
        extends: Optional[list[Optional[ScopedKeyLike]]] = None,
        creator: Optional[str] = None,
    ) -> list[ScopedKey]:
        """Create one waiting Task per Transformation (not actioned), optionally extending an earlier Task.

        An extended Task must exist, not be invalid or deleted, and perform the same Transformation.
        """
        keys = as_scoped_keys(transformations)
        if extends is None:
            previous: list[Optional[ScopedKey]] = [None] * len(keys)
        else:
            previous = [as_scoped_key(e) if e is not None else None for e in extends]
            if len(previous) != len(keys):
                raise InvalidInputError(
                    f"got {len(keys)} transformations but {len(previous)} extends entries; they must match one to one"
                )
        rows = []
        task_keys = []
        for i, (tf, prev) in enumerate(zip(keys, previous)):
            task = Task(creator=creator, extends=str(prev) if prev is not None else None)
            sk = task.scoped_key(tf.scope)
            task_keys.append(sk)
            props = {
                **node_props(sk),
                "status": task.status,
                "priority": task.priority,
                "datetime_created": task.datetime_created,
                "creator": task.creator,
                "extends": task.extends,
                "claim": None,
            }
            rows.append({"i": i, "transformation": str(tf), "extends": task.extends, "props": props})

        def create(tx) -> None:
            for check in tx.run(_CREATION_CHECKS, rows=rows):
                _check_creation(check, keys[check["i"]], previous[check["i"]])
            for start in range(0, len(rows), CREATE_BATCH):
                tx.run(_CREATE_TASKS, rows=rows[start : start + CREATE_BATCH]).consume()
            count_moves(tx, creation_moves(row["transformation"] for row in rows))

        self.write_transaction(create)
        return task_keys

    def create_task(
        self, transformation: ScopedKeyLike, extends: Optional[ScopedKeyLike] = None, creator: Optional[str] = None
    ) -> ScopedKey:
        return self.create_tasks([transformation], extends=[extends], creator=creator)[0]

    # -- finding Tasks ------------------------------------------------------------------

    def query_tasks(self, status: Optional[str] = None, scope: Union[Scope, str, None] = None) -> list[ScopedKey]:
        where, params = scope_filter("t", as_scope(scope))
        if status is not None:
            where += " AND t.status = $status"
            params["status"] = check_task_status(status)
        records = self.execute_query(f"MATCH (t:Task) WHERE {where} RETURN t._scoped_key AS sk", params)
        return sorted(ScopedKey.from_str(r["sk"]) for r in records)

    def get_network_tasks(self, network: ScopedKeyLike, status: Optional[str] = None) -> list[ScopedKey]:
        """Tasks of every Transformation in ``network``, optionally only those with ``status``."""
        sk = as_scoped_key(network)
        params = {"sk": str(sk), "status": check_task_status(status) if status is not None else None}
        records = self.execute_query(
            """
            MATCH (an:GufeTokenizable:AlchemicalNetwork {_scoped_key: $sk})
            OPTIONAL MATCH (an)-[:DEPENDS_ON {attribute: 'edges'}]->()<-[:PERFORMS]-(t:Task)
            WHERE $status IS NULL OR t.status = $status
            RETURN an._scoped_key AS found, collect(t._scoped_key) AS sks
            """,
            params,
        )
        if not records:
            raise NotFoundError(f"no AlchemicalNetwork with ScopedKey {sk} in the state store")
        return sorted(ScopedKey.from_str(s) for s in records[0]["sks"])

    def get_task_networks(self, task: ScopedKeyLike) -> list[ScopedKey]:
        sk = as_scoped_key(task)
        records = self.execute_query(
            """
            MATCH (t:GufeTokenizable:Task {_scoped_key: $sk})
            OPTIONAL MATCH (t)-[:PERFORMS]->()<-[:DEPENDS_ON {attribute: 'edges'}]-(an:AlchemicalNetwork)
            RETURN t._scoped_key AS found, collect(DISTINCT an._scoped_key) AS sks
            """,
            {"sk": str(sk)},
        )
        if not records:
            raise NotFoundError(f"no Task with ScopedKey {sk} in the state store")
        return sorted(ScopedKey.from_str(s) for s in records[0]["sks"])

    def get_transformation_tasks(
        self,
        transformation: ScopedKeyLike,
        extends: Optional[ScopedKeyLike] = None,
        return_as: Literal["list", "graph"] = "list",
        status: Optional[str] = None,
    ) -> Union[list[ScopedKey], dict[ScopedKey, Optional[ScopedKey]]]:
        """Tasks performing ``transformation``; with ``extends``, only those extending that Task (transitively).

        ``return_as="graph"`` gives ``{task: task it extends or None}``.
        """
        if return_as not in ("list", "graph"):
            raise InvalidInputError(f"return_as must be 'list' or 'graph', got {return_as!r}")
        sk = as_scoped_key(transformation)
        params = {
            "sk": str(sk),
            "extends": str(as_scoped_key(extends)) if extends is not None else None,
            "status": check_task_status(status) if status is not None else None,
        }
        subtree = "(t)-[:EXTENDS*]->(:GufeTokenizable:Task {_scoped_key: $extends})"
        records = self.execute_query(
            f"""
            MATCH (tf:GufeTokenizable {{_scoped_key: $sk}})
            OPTIONAL MATCH (tf)<-[:PERFORMS]-(t:Task)
            WHERE ($status IS NULL OR t.status = $status) AND ($extends IS NULL OR EXISTS {{ {subtree} }})
            OPTIONAL MATCH (t)-[:EXTENDS]->(prev:Task)
            RETURN t._scoped_key AS sk, prev._scoped_key AS extends
            """,
            params,
        )
        if not records:
            raise NotFoundError(f"no Transformation with ScopedKey {sk} in the state store")
        graph = {
            ScopedKey.from_str(r["sk"]): ScopedKey.from_str(r["extends"]) if r["extends"] else None
            for r in records
            if r["sk"] is not None
        }
        if return_as == "graph":
            return graph
        return sorted(graph)

    def get_task_transformation(
        self, task: ScopedKeyLike, return_gufe: bool = False
    ) -> Union[ScopedKey, tuple[list, Optional[ScopedKey]]]:
        """The Transformation a Task performs.

        With ``return_gufe``: ``(transformation keyed chain, ScopedKey of the newest successful
        ProtocolDAGResultRef of the extended Task, or None)``, as
        ``get_task_transformation_and_extends_ref`` finds them, with the Transformation's chain.
        """
        transformation, extends_ref = self.get_task_transformation_and_extends_ref(task)
        if not return_gufe:
            return transformation
        return self.get_keyed_chain(transformation), extends_ref

    def get_tasks(self, tasks: list[ScopedKeyLike]) -> list[Optional[Task]]:
        """Task models for each ScopedKey (None where absent)."""
        keys = as_scoped_keys(tasks)
        records = self.execute_query(
            "UNWIND $sks AS sk MATCH (t:GufeTokenizable:Task {_scoped_key: sk}) USING INDEX t:GufeTokenizable(_scoped_key) "
            "RETURN sk, properties(t) AS props",
            {"sks": [str(k) for k in keys]},
        )
        return ordered(keys, {r["sk"]: task_from_props(r["props"]) for r in records})

    # -- priority -----------------------------------------------------------------------

    def set_task_priority(self, tasks: list[ScopedKeyLike], priority: int) -> list[Optional[ScopedKey]]:
        """Set the priority (1 is most urgent) of each Task; None where the Task does not exist."""
        priority = check_priority(priority)
        keys = as_scoped_keys(tasks)
        records = self.execute_query(
            """
            UNWIND $sks AS sk
            MATCH (t:GufeTokenizable:Task {_scoped_key: sk})
            USING INDEX t:GufeTokenizable(_scoped_key)
            SET t.priority = $priority
            RETURN sk
            """,
            {"sks": [str(k) for k in keys], "priority": priority},
        )
        found = {r["sk"] for r in records}
        return [k if str(k) in found else None for k in keys]

    def get_task_priority(self, tasks: list[ScopedKeyLike]) -> list[Optional[int]]:
        keys = as_scoped_keys(tasks)
        records = self.execute_query(
            "UNWIND $sks AS sk MATCH (t:GufeTokenizable:Task {_scoped_key: sk}) USING INDEX t:GufeTokenizable(_scoped_key) "
            "RETURN sk, t.priority AS priority",
            {"sks": [str(k) for k in keys]},
        )
        return ordered(keys, {r["sk"]: r["priority"] for r in records})


def _check_creation(check, transformation: ScopedKey, extends: Optional[ScopedKey]) -> None:
    if not check["found"]:
        raise NotFoundError(f"no Transformation with ScopedKey {transformation} in the state store")
    if not check["performable"]:
        raise InvalidInputError(f"{transformation} is not a Transformation (it has no protocol), so no Task can perform it")
    if extends is None:
        return
    status = check["extends_status"]
    if status is None:
        raise InvalidInputError(f"cannot extend Task {extends}: it does not exist")
    if status in (TaskStatusEnum.invalid, TaskStatusEnum.deleted):
        raise InvalidInputError(f"cannot extend Task {extends}: its status is {status}")
    if check["extends_transformation"] != str(transformation):
        raise InvalidInputError(
            f"cannot extend Task {extends}: it performs {check['extends_transformation']}, not {transformation}"
        )
