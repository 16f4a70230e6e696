"""ProtocolDAGResultRefs (where result bytes live), their Tracebacks, and recording a finished Task.

A ref's key derives from its object-store location, so storing the same upload twice merges into
one node and one RESULTS_IN edge. ``record_task_result`` is the single transaction the compute
API needs: store the ref, close the attempt and move the Task's status, but only while the Task
still runs under the uploading service's claim.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence, Union

from neo4j import ManagedTransaction

from ...errors import ConflictError, InvalidInputError, NotFoundError
from ...models import ComputeServiceID, Scope, ScopedKey
from ..models import ProtocolDAGResultRef, TaskStatusEnum, Tracebacks
from .claims import scoped_key_str
from .scoping import ScopedKeyLike, as_scoped_key, node_props, to_native
from .status import apply_status, lock_tasks

_MERGE_REF = """
MATCH (t:GufeTokenizable:Task {_scoped_key: $task})
MERGE (r:GufeTokenizable:ProtocolDAGResultRef {_scoped_key: $ref_sk})
ON CREATE SET r += $props
MERGE (t)-[:RESULTS_IN]->(r)
RETURN r._scoped_key AS ref
"""

_MERGE_TRACEBACKS = """
MATCH (r:GufeTokenizable:ProtocolDAGResultRef {_scoped_key: $ref_sk})
MERGE (tb:GufeTokenizable:Tracebacks {_scoped_key: $tb_sk})
ON CREATE SET tb += $props
MERGE (tb)-[:DETAILS]->(r)
RETURN tb._scoped_key AS tracebacks
"""

_TASK_REFS = """
MATCH (t:GufeTokenizable:Task {_scoped_key: $task})
OPTIONAL MATCH (t)-[:RESULTS_IN]->(r:ProtocolDAGResultRef {ok: $ok})
RETURN r._scoped_key AS ref ORDER BY r.datetime_created, ref
"""

_TRANSFORMATION_REFS = """
MATCH (tf:GufeTokenizable {_scoped_key: $transformation})
OPTIONAL MATCH (tf)<-[:PERFORMS]-(:Task)-[:RESULTS_IN]->(r:ProtocolDAGResultRef {ok: $ok})
RETURN DISTINCT r._scoped_key AS ref, r.datetime_created AS created ORDER BY created, ref
"""

_TASK_TRACEBACKS = """
UNWIND $tasks AS task_sk
MATCH (t:GufeTokenizable:Task {_scoped_key: task_sk})
      -[:RESULTS_IN]->(r:ProtocolDAGResultRef)<-[:DETAILS]-(tb:Tracebacks)
RETURN task_sk, r._scoped_key AS ref, r.datetime_created AS created, tb
ORDER BY created, ref
"""

_TRANSFORMATION_AND_EXTENDS_REF = """
MATCH (t:GufeTokenizable:Task {_scoped_key: $task})-[:PERFORMS]->(tf)
OPTIONAL MATCH (t)-[:EXTENDS]->(:Task)-[:RESULTS_IN]->(r:ProtocolDAGResultRef {ok: true})
RETURN tf._scoped_key AS transformation, r._scoped_key AS ref
ORDER BY r.datetime_created DESC LIMIT 1
"""

# Read with the Task locked (``lock_tasks``) when recording, so a concurrent requeue cannot interleave;
# read unlocked as the upload's early check.
_RESULT_STATE = """
MATCH (t:GufeTokenizable:Task {_scoped_key: $task})
RETURN t.status AS status,
       t.status = 'running' AND t.claim = $compute_service_id
       AND EXISTS { (:ComputeServiceRegistration {identifier: $compute_service_id})-[:CLAIMS]->(t) }
       AS claimed_by_service,
       EXISTS { (t)-[:RESULTS_IN]->(:GufeTokenizable:ProtocolDAGResultRef {_scoped_key: $ref_sk}) } AS already_recorded
"""


class ResultUploadState(NamedTuple):
    """Where a Task stands for an upload of the result ref ``ref_sk`` by a compute service."""

    status: str
    claimed_by_service: bool
    already_recorded: bool


class RecordedResult(NamedTuple):
    """Outcome of ``record_task_result``: the ref's ScopedKey, and the status the Task moved to
    (``complete``/``error``), or None if the Task was left alone (repeated upload)."""

    ref: ScopedKey
    status: Optional[str]


def _ref_scoped_key(ref: ProtocolDAGResultRef) -> ScopedKey:
    scope = ref.scope if isinstance(ref.scope, Scope) else Scope.model_validate(ref.scope)
    if not scope.specific():
        raise InvalidInputError(f"ProtocolDAGResultRef scope {scope} must be specific (no '*')")
    return ref.scoped_key(scope)


def _ref_params(task: ScopedKeyLike, ref: ProtocolDAGResultRef) -> dict[str, Any]:
    task_sk = as_scoped_key(task)
    ref_sk = _ref_scoped_key(ref)
    if ref_sk.scope != task_sk.scope:
        raise InvalidInputError(f"ProtocolDAGResultRef scope {ref_sk.scope} differs from the scope of Task {task_sk}")
    props = {
        "location": ref.location,
        "obj_key": ref.obj_key,
        "scope": str(ref_sk.scope),
        "ok": ref.ok,
        "datetime_created": ref.datetime_created,
        "creator": ref.creator,
        **node_props(ref_sk),
    }
    return {"task": str(task_sk), "ref_sk": str(ref_sk), "props": props}


def _tracebacks_params(tracebacks: Tracebacks, ref_sk: str) -> dict[str, Any]:
    if tracebacks.result_ref != ref_sk:
        raise InvalidInputError(
            f"Tracebacks belong to {tracebacks.result_ref}, not to ProtocolDAGResultRef {ref_sk}"
        )
    ref = as_scoped_key(ref_sk)
    tb_sk = ScopedKey(gufe_key=tracebacks.key, **ref.scope.to_dict())
    props = {
        "tracebacks": list(tracebacks.tracebacks),
        "source_keys": list(tracebacks.source_keys),
        "failure_keys": list(tracebacks.failure_keys),
        "result_ref": ref_sk,
        **node_props(tb_sk),
    }
    return {"ref_sk": ref_sk, "tb_sk": str(tb_sk), "props": props}


class ResultsMixin:
    def set_task_result(self, task: ScopedKeyLike, protocoldagresultref: ProtocolDAGResultRef) -> ScopedKey:
        """Attach a result ref to a Task (idempotent: the same ref never makes a second node or edge)."""
        params = _ref_params(task, protocoldagresultref)
        records = self.execute_query(_MERGE_REF, params)
        if not records:
            raise NotFoundError(f"no Task {params['task']} in the state store")
        return ScopedKey.from_str(records[0]["ref"])

    def add_protocol_dag_result_ref_tracebacks(
        self, tracebacks: Tracebacks, protocoldagresultref: ScopedKeyLike
    ) -> ScopedKey:
        """Store the tracebacks of a failed result next to its ref (DETAILS); idempotent."""
        params = _tracebacks_params(tracebacks, scoped_key_str(protocoldagresultref))
        records = self.execute_query(_MERGE_TRACEBACKS, params)
        if not records:
            raise NotFoundError(f"no ProtocolDAGResultRef {params['ref_sk']} in the state store")
        return ScopedKey.from_str(records[0]["tracebacks"])

    def get_protocoldagresultref(self, protocoldagresultref: ScopedKeyLike) -> ProtocolDAGResultRef:
        records = self.execute_query(
            "MATCH (r:GufeTokenizable:ProtocolDAGResultRef {_scoped_key: $ref}) RETURN properties(r) AS props",
            {"ref": scoped_key_str(protocoldagresultref)},
        )
        if not records:
            raise NotFoundError(f"no ProtocolDAGResultRef {protocoldagresultref} in the state store")
        props = records[0]["props"]
        return ProtocolDAGResultRef(
            location=props["location"],
            obj_key=props["obj_key"],
            scope=Scope.from_str(props["scope"]),
            ok=props["ok"],
            datetime_created=to_native(props["datetime_created"]),
            creator=props.get("creator"),
        )

    def _refs(self, query: str, params: dict[str, Any], what: str) -> list[ScopedKey]:
        records = self.execute_query(query, params)
        if not records:
            raise NotFoundError(f"no {what} in the state store")
        return [ScopedKey.from_str(r["ref"]) for r in records if r["ref"] is not None]

    def get_transformation_results(self, transformation: ScopedKeyLike) -> list[ScopedKey]:
        """Refs of the successful results of every Task of a Transformation, oldest first."""
        sk = scoped_key_str(transformation)
        return self._refs(_TRANSFORMATION_REFS, {"transformation": sk, "ok": True}, f"Transformation {sk}")

    def get_transformation_failures(self, transformation: ScopedKeyLike) -> list[ScopedKey]:
        sk = scoped_key_str(transformation)
        return self._refs(_TRANSFORMATION_REFS, {"transformation": sk, "ok": False}, f"Transformation {sk}")

    def get_task_results(self, task: ScopedKeyLike) -> list[ScopedKey]:
        sk = scoped_key_str(task)
        return self._refs(_TASK_REFS, {"task": sk, "ok": True}, f"Task {sk}")

    def get_task_failures(self, task: ScopedKeyLike) -> list[ScopedKey]:
        sk = scoped_key_str(task)
        return self._refs(_TASK_REFS, {"task": sk, "ok": False}, f"Task {sk}")

    def get_task_tracebacks(self, tasks: Sequence[ScopedKeyLike]) -> list[list[dict[str, Any]]]:
        """For each Task, the tracebacks of each of its failed results, oldest result first.

        Each item is ``{"result_ref", "datetime_created", "tracebacks", "source_keys",
        "failure_keys"}``; one query for all Tasks, so no result needs to be downloaded.
        """
        task_sks = [scoped_key_str(task) for task in tasks]
        by_task: dict[str, list[dict[str, Any]]] = {sk: [] for sk in task_sks}
        for record in self.execute_query(_TASK_TRACEBACKS, {"tasks": task_sks}):
            tb = record["tb"]
            by_task[record["task_sk"]].append(
                {
                    "result_ref": ScopedKey.from_str(record["ref"]),
                    "datetime_created": to_native(record["created"]),
                    "tracebacks": list(tb["tracebacks"]),
                    "source_keys": list(tb["source_keys"]),
                    "failure_keys": list(tb["failure_keys"]),
                }
            )
        return [list(by_task[sk]) for sk in task_sks]

    def get_task_transformation_and_extends_ref(
        self, task: ScopedKeyLike
    ) -> tuple[ScopedKey, Optional[ScopedKey]]:
        """The Transformation a Task performs and the newest successful result of the Task it extends.

        Upstream raised when the extended Task had several results; the newest ``ok`` one is used.
        """
        sk = scoped_key_str(task)
        records = self.execute_query(_TRANSFORMATION_AND_EXTENDS_REF, {"task": sk})
        if not records:
            raise NotFoundError(f"no Task {sk} performing a Transformation in the state store")
        ref = records[0]["ref"]
        return ScopedKey.from_str(records[0]["transformation"]), (ScopedKey.from_str(ref) if ref else None)

    def get_result_upload_state(
        self, task: ScopedKeyLike, ref_sk: ScopedKeyLike, compute_service_id: Union[ComputeServiceID, str]
    ) -> Optional[ResultUploadState]:
        """Whether the Task runs under the service's claim and already holds the ref; None if there is no such Task.

        One read, so an upload can answer a repeat or refuse a late result before its bytes are stored;
        ``record_task_result`` checks both again under the Task's lock.
        """
        records = self.execute_query(
            _RESULT_STATE,
            {"task": scoped_key_str(task), "ref_sk": scoped_key_str(ref_sk),
             "compute_service_id": str(ComputeServiceID(compute_service_id))},
        )
        return ResultUploadState(**records[0].data()) if records else None

    def record_task_result(
        self,
        task: ScopedKeyLike,
        protocoldagresultref: ProtocolDAGResultRef,
        compute_service_id: Union[ComputeServiceID, str],
        tracebacks: Optional[Tracebacks] = None,
    ) -> RecordedResult:
        """Store a compute service's result for a Task in one transaction.

        If the Task is still running under this service's claim: store the ref (and tracebacks),
        close the attempt and move the Task to ``complete`` (ok) or ``error``. A repeated upload of
        a ref already on the Task changes nothing. A late upload (the claim was lost to a requeue,
        a cancellation or another service) raises ``ConflictError`` and stores nothing: the claim is
        re-checked under the Task's lock, so no requeue can slip in between check and write.
        """
        params = _ref_params(task, protocoldagresultref)
        service = str(ComputeServiceID(compute_service_id))
        tb_params = _tracebacks_params(tracebacks, params["ref_sk"]) if tracebacks is not None else None
        outcome = TaskStatusEnum.complete if protocoldagresultref.ok else TaskStatusEnum.error
        ref_sk = ScopedKey.from_str(params["ref_sk"])

        def work(tx: ManagedTransaction) -> RecordedResult:
            if not lock_tasks(tx, [params["task"]]):
                raise NotFoundError(f"no Task {params['task']} in the state store")
            state = tx.run(_RESULT_STATE, {**params, "compute_service_id": service}).single()
            if state["already_recorded"]:
                return RecordedResult(ref_sk, None)
            if not state["claimed_by_service"]:
                raise ConflictError(
                    f"Task {params['task']} is not running under compute service {service}; "
                    "its result was not recorded"
                )
            tx.run(_MERGE_REF, params).consume()
            if tb_params is not None:
                tx.run(_MERGE_TRACEBACKS, tb_params).consume()
            apply_status(tx, [params["task"]], outcome, result_ref=params["ref_sk"])
            return RecordedResult(ref_sk, outcome.value)

        return self.write_transaction(work)
