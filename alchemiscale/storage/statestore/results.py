"""ProtocolDAGResultRefs (where result bytes live), their Tracebacks, and recording a finished Task.

A ref's key derives from its object-store location, so storing the same upload twice merges into
one node and one RESULTS_IN edge. ``record_task_result`` is the single transaction the compute
API needs: store the ref, close the attempt and move the Task's status, but only while the Task
still runs under the uploading service's claim; ``record_task_results`` does the same for results
that arrive together, in one transaction and a few statements for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Sequence, Union

from neo4j import ManagedTransaction

from ...errors import ConflictError, InvalidInputError, NotFoundError, StoreError
from ...models import ComputeServiceID, Scope, ScopedKey
from ..models import ProtocolDAGResultRef, TaskStatusEnum, Tracebacks
from .claims import scoped_key_str
from .compute import service_id_str
from .scoping import ScopedKeyLike, as_scoped_key, node_props, to_native
from .status import apply_status, lock_tasks

_MERGE_REFS = """
UNWIND $rows AS row
MATCH (t:GufeTokenizable:Task {_scoped_key: row.task})
USING INDEX t:GufeTokenizable(_scoped_key)
MERGE (r:GufeTokenizable:ProtocolDAGResultRef {_scoped_key: row.ref_sk})
ON CREATE SET r += row.props
MERGE (t)-[:RESULTS_IN]->(r)
RETURN r._scoped_key AS ref
"""

_MERGE_TRACEBACKS = """
UNWIND $rows AS row
MATCH (r:GufeTokenizable:ProtocolDAGResultRef {_scoped_key: row.ref_sk})
USING INDEX r:GufeTokenizable(_scoped_key)
MERGE (tb:GufeTokenizable:Tracebacks {_scoped_key: row.tb_sk})
ON CREATE SET tb += row.props
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
USING INDEX t:GufeTokenizable(_scoped_key)
RETURN task_sk, r._scoped_key AS ref, r.datetime_created AS created, tb
ORDER BY created, ref
"""

_TRANSFORMATION_AND_EXTENDS_REF = """
MATCH (t:GufeTokenizable:Task {_scoped_key: $task})-[:PERFORMS]->(tf)
OPTIONAL MATCH (t)-[:EXTENDS]->(:Task)-[:RESULTS_IN]->(r:ProtocolDAGResultRef {ok: true})
RETURN tf._scoped_key AS transformation, r._scoped_key AS ref
ORDER BY r.datetime_created DESC LIMIT 1
"""

# Whether the Task ``t`` runs under the claim of the service whose identifier is ``service``.
_CLAIMED_BY = """t.status = 'running' AND t.claim = service
       AND EXISTS { (:ComputeServiceRegistration {identifier: service})-[:CLAIMS]->(t) }"""

# Uploads' early checks, unlocked: for each row, the service's registration, the Task's Transformation
# and whether the Task runs under the claim or already holds this result (same key and outcome: the
# same ref, as the ref's location derives from the Transformation, the key and the outcome).
_UPLOAD_STATES = f"""
UNWIND $rows AS row
MATCH (t:GufeTokenizable:Task {{_scoped_key: row.task}})-[:PERFORMS]->(tf)
USING INDEX t:GufeTokenizable(_scoped_key)
WITH row, t, tf, row.service AS service
OPTIONAL MATCH (csr:ComputeServiceRegistration {{identifier: service}})
RETURN row.i AS i, tf._scoped_key AS transformation, t.status AS status,
       csr IS NOT NULL AS service_registered, csr.owner AS service_owner,
       {_CLAIMED_BY} AS claimed_by_service,
       EXISTS {{ (t)-[:RESULTS_IN]->(:GufeTokenizable:ProtocolDAGResultRef {{obj_key: row.key, ok: row.ok}}) }}
       AS already_recorded
"""

# The claim and the ref, read with the Tasks locked (``lock_tasks``) when recording, so no requeue
# can interleave.
_RECORD_STATES = f"""
UNWIND $rows AS row
MATCH (t:GufeTokenizable:Task {{_scoped_key: row.task}})
USING INDEX t:GufeTokenizable(_scoped_key)
WITH t, row, row.service AS service
RETURN row.task AS task, {_CLAIMED_BY} AS claimed_by_service,
       EXISTS {{ (t)-[:RESULTS_IN]->(:GufeTokenizable:ProtocolDAGResultRef {{_scoped_key: row.ref_sk}}) }}
       AS already_recorded
"""


class ResultUploadState(NamedTuple):
    """Where a Task stands for an upload of a result by a compute service (``get_result_upload_state``)."""

    transformation: ScopedKey
    status: str
    service_registered: bool
    service_owner: Optional[str]  # the identity that registered the service (None: none recorded)
    claimed_by_service: bool
    already_recorded: bool


@dataclass(frozen=True)
class UploadStateRequest:
    """An upload's early check, as ``get_result_upload_state`` takes it."""

    task: ScopedKeyLike
    compute_service_id: Union[ComputeServiceID, str]
    result_key: str
    ok: bool


@dataclass(frozen=True)
class ResultRecord:
    """One compute service's result for one Task, as ``record_task_result`` takes it."""

    task: ScopedKeyLike
    protocoldagresultref: ProtocolDAGResultRef
    compute_service_id: Union[ComputeServiceID, str]
    tracebacks: Optional[Tracebacks] = None


class RecordedResult(NamedTuple):
    """Outcome of ``record_task_result``: the ref's ScopedKey, and the status the Task moved to
    (``complete``/``error``), or None if the Task was left alone (repeated upload)."""

    ref: ScopedKey
    status: Optional[str]


@dataclass(frozen=True)
class _RecordPlan:
    """A checked ``ResultRecord``: the statement parameters, and the status the Task would move to."""

    index: int
    ref: dict[str, Any]  # ``_MERGE_REFS`` row
    service: str
    tracebacks: Optional[dict[str, Any]]  # ``_MERGE_TRACEBACKS`` row
    outcome: TaskStatusEnum

    @property
    def task(self) -> str:
        return self.ref["task"]

    @classmethod
    def of(cls, index: int, record: ResultRecord) -> "_RecordPlan":
        ref = _ref_params(record.task, record.protocoldagresultref)
        tracebacks = record.tracebacks
        return cls(
            index=index,
            ref=ref,
            service=service_id_str(record.compute_service_id),
            tracebacks=None if tracebacks is None else _tracebacks_params(tracebacks, ref["ref_sk"]),
            outcome=TaskStatusEnum.complete if record.protocoldagresultref.ok else TaskStatusEnum.error,
        )


def _record_round(tx: ManagedTransaction, plans: list[_RecordPlan]) -> dict[int, Union[RecordedResult, StoreError]]:
    """Record results for distinct Tasks, each as ``record_task_result`` does, in a few statements for all."""
    found = lock_tasks(tx, [p.task for p in plans])
    rows = [{"task": p.task, "ref_sk": p.ref["ref_sk"], "service": p.service} for p in plans if p.task in found]
    states = {r["task"]: r for r in tx.run(_RECORD_STATES, rows=rows)}
    answers: dict[int, Union[RecordedResult, StoreError]] = {}
    accepted: list[_RecordPlan] = []
    for p in plans:
        ref_sk = ScopedKey.from_str(p.ref["ref_sk"])
        state = states.get(p.task)
        if state is None:
            answers[p.index] = NotFoundError(f"no Task {p.task} in the state store")
        elif state["already_recorded"]:
            answers[p.index] = RecordedResult(ref_sk, None)
        elif not state["claimed_by_service"]:
            answers[p.index] = ConflictError(
                f"Task {p.task} is not running under compute service {p.service}; its result was not recorded"
            )
        else:
            accepted.append(p)
            answers[p.index] = RecordedResult(ref_sk, p.outcome.value)
    if accepted:
        tx.run(_MERGE_REFS, rows=[p.ref for p in accepted]).consume()
        tracebacks = [p.tracebacks for p in accepted if p.tracebacks is not None]
        if tracebacks:
            tx.run(_MERGE_TRACEBACKS, rows=tracebacks).consume()
        refs = {p.task: p.ref["ref_sk"] for p in accepted}
        for outcome in (TaskStatusEnum.complete, TaskStatusEnum.error):
            moving = [p.task for p in accepted if p.outcome is outcome]
            if moving:
                apply_status(tx, moving, outcome, result_refs=refs)
    return answers


def _raised(answers: list):
    """The one answer of a batch of one, raising it if it is an error."""
    if isinstance(answers[0], StoreError):
        raise answers[0]
    return answers[0]


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
        records = self.execute_query(_MERGE_REFS, {"rows": [params]})
        if not records:
            raise NotFoundError(f"no Task {params['task']} in the state store")
        return ScopedKey.from_str(records[0]["ref"])

    def add_protocol_dag_result_ref_tracebacks(
        self, tracebacks: Tracebacks, protocoldagresultref: ScopedKeyLike
    ) -> ScopedKey:
        """Store the tracebacks of a failed result next to its ref (DETAILS); idempotent."""
        params = _tracebacks_params(tracebacks, scoped_key_str(protocoldagresultref))
        records = self.execute_query(_MERGE_TRACEBACKS, {"rows": [params]})
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
        self, task: ScopedKeyLike, compute_service_id: Union[ComputeServiceID, str], result_key: str, ok: bool
    ) -> ResultUploadState:
        """Where the Task stands for an upload, by the service, of the result with key ``result_key``.

        One read, so an upload can answer a repeat or refuse a late result before its bytes are stored;
        ``record_task_result`` checks both again under the Task's lock. Raises ``NotFoundError`` if
        there is no such Task.
        """
        return _raised(self.get_result_upload_states([UploadStateRequest(task, compute_service_id, result_key, ok)]))

    def get_result_upload_states(
        self, requests: Sequence[UploadStateRequest]
    ) -> list[Union[ResultUploadState, StoreError]]:
        """Several ``get_result_upload_state`` calls in one query: each answer, or its error, in order."""
        answers: list[Union[ResultUploadState, StoreError, None]] = [None] * len(requests)
        rows = []
        for i, r in enumerate(requests):
            try:
                service = service_id_str(r.compute_service_id)
            except StoreError as e:  # this request's own error
                answers[i] = e
                continue
            rows.append({"i": i, "task": scoped_key_str(r.task), "service": service, "key": r.result_key, "ok": r.ok})
        found = {record["i"]: record.data() for record in self.execute_query(_UPLOAD_STATES, {"rows": rows})} if rows else {}
        for row in rows:
            state = found.get(row["i"])
            if state is None:
                answers[row["i"]] = NotFoundError(f"no Task {row['task']} performing a Transformation in the state store")
                continue
            del state["i"]
            answers[row["i"]] = ResultUploadState(**{**state, "transformation": ScopedKey.from_str(state["transformation"])})
        return answers  # type: ignore[return-value]

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
        return _raised(self.record_task_results([ResultRecord(task, protocoldagresultref, compute_service_id, tracebacks)]))

    def record_task_results(self, records: Sequence[ResultRecord]) -> list[Union[RecordedResult, StoreError]]:
        """Several ``record_task_result`` calls in one transaction: for each record, in order, what that
        call would return, or the error it would raise (given back, not raised).

        Results for distinct Tasks are recorded together, in a few statements for all; a second
        result for a Task of the same batch is recorded after the first, as if it came later.
        """
        answers: list[Union[RecordedResult, StoreError, None]] = [None] * len(records)
        plans: list[_RecordPlan] = []
        for i, record in enumerate(records):
            try:
                plans.append(_RecordPlan.of(i, record))
            except StoreError as e:  # e.g. a malformed service id: this record's own error
                answers[i] = e

        def work(tx: ManagedTransaction) -> dict[int, Union[RecordedResult, StoreError]]:
            recorded: dict[int, Union[RecordedResult, StoreError]] = {}
            pending = plans
            while pending:
                seen: set[str] = set()
                now, later = [], []
                for p in pending:
                    (later if p.task in seen else now).append(p)
                    seen.add(p.task)
                recorded.update(_record_round(tx, now))
                pending = later
            return recorded

        if plans:
            for i, answer in self.write_transaction(work).items():
                answers[i] = answer
        return answers  # type: ignore[return-value]
