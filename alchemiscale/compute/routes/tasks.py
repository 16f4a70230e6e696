"""What a compute service needs to run a Task, where its result goes, and whether it is still wanted.

Results are handled without gufe: the uploaded bytes are decompressed and checked as a keyed chain,
summarized (success, key, failures) straight from the JSON, and stored in one form, the
zstd-compressed keyed chain that every client reads back. They arrive as the body itself
(``POST .../results/zstd``, this project's clients) or inside JSON (``POST .../results``,
upstream's wire format; see :func:`_decode_result`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Optional, Union

from fastapi import Body, HTTPException, status

from ...base.api import (
    TASK,
    KeyedChainResponse,
    N4jsDepends,
    ObjectStoreDepends,
    parse_scoped_key,
    require_kind,
    validate_scopes,
)
from ...base.metrics import RESULT_BYTES, RESULTS_UPLOADED
from ...serialization.compression import (
    RESULT_MEDIA_TYPE,
    ResultDecodeError,
    bytes_to_latin1,
    canonical_result,
    gufe_bytes_value,
    latin1_to_bytes,
)
from ...errors import ConflictError
from ...models import ComputeServiceID, ScopedKey
from ...security.auth import authorize
from ...security.models import TokenData
from ...storage.models import ProtocolDAGResultRef, Tracebacks, utcnow
from ...storage.objectstore import ObjectStore, ObjectStoreError, protocoldagresult_location
from ...storage.statestore import Neo4jStore, ResultRecord, UploadStateRequest
from ..batching import result_batcher, upload_state_batcher
from ..bodies import GufeEncodedBytes, SetTaskResultBody, TasksWantedBody, WireServiceID
from .common import CallerDepends, check_service_owner, compute_router, refuse_foreign

logger = logging.getLogger(__name__)

router = compute_router()


@router.get("/tasks/{task_scoped_key}/transformation")
def get_task_transformation(task_scoped_key: str, caller: CallerDepends, n4js: N4jsDepends) -> str:
    task = require_kind(parse_scoped_key(task_scoped_key), TASK)
    validate_scopes(task.scope, caller)
    return str(n4js.get_task_transformation(task))


@router.get("/tasks/{task_scoped_key}/transformation/gufe")
def retrieve_task_transformation(
    task_scoped_key: str, caller: CallerDepends, n4js: N4jsDepends, objectstore: ObjectStoreDepends
) -> KeyedChainResponse:
    """``[Transformation keyed chain, latin-1 string of the extended Task's result bytes or null]``."""
    task = require_kind(parse_scoped_key(task_scoped_key), TASK)
    validate_scopes(task.scope, caller)
    transformation, extends_ref = n4js.get_task_transformation_and_extends_ref(task)
    chain = n4js.get_keyed_chain(transformation)
    extends_result: Optional[str] = None
    if extends_ref is not None:
        ref = n4js.get_protocoldagresultref(extends_ref)
        extends_result = bytes_to_latin1(objectstore.pull_protocoldagresult(ref, transformation))
    return KeyedChainResponse([chain, extends_result])


def _decode_result(upload: Union[str, GufeEncodedBytes]) -> tuple[bytes, dict]:
    """The result bytes to store and their summary; 422 naming the problem if they are not a ProtocolDAGResult.

    The JSON holds the zstd-compressed keyed chain as a latin-1 string, or (upstream's clients) gufe's
    JSON encoding of those bytes, which compresses them once more. Both end as the same stored bytes.
    """
    try:
        data = gufe_bytes_value(upload.latin1) if isinstance(upload, GufeEncodedBytes) else latin1_to_bytes(upload)
    except ResultDecodeError as e:
        raise _invalid_result(e) from e
    return _checked_result(data)


def _checked_result(data: bytes) -> tuple[bytes, dict]:
    """Uploaded result bytes in their stored form, and their summary; 422 if they are no ProtocolDAGResult."""
    try:
        return canonical_result(data)
    except ResultDecodeError as e:
        raise _invalid_result(e) from e


def _invalid_result(error: ResultDecodeError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"invalid protocoldagresult: {error}")


def _tracebacks(summary: dict, ref_sk: ScopedKey) -> Tracebacks:
    failures = summary["failures"]
    return Tracebacks(
        tracebacks=[f["traceback"] or str(f["exception"] or "") for f in failures],
        source_keys=[f["source_key"] for f in failures],
        failure_keys=[f["failure_key"] for f in failures],
        result_ref=str(ref_sk),
    )


def _expected_ref(transformation: ScopedKey, summary: dict) -> ScopedKey:
    """The ScopedKey the ref of this result gets (it derives from the object-store location)."""
    location = protocoldagresult_location(transformation, summary["key"], summary["ok"])
    ref = ProtocolDAGResultRef(location=location, obj_key=summary["key"], scope=transformation.scope, ok=summary["ok"])
    return ref.scoped_key(transformation.scope)


def _delete_quietly(objectstore, location: str) -> None:
    try:
        objectstore.delete(location)
    except ObjectStoreError as e:  # an orphan object is harmless: nothing refers to it
        logger.warning("could not delete the refused result at %s: %s", location, e)


@router.post("/tasks/{task_scoped_key}/results")
def set_task_result(
    task_scoped_key: str,
    body: SetTaskResultBody,
    caller: CallerDepends,
    n4js: N4jsDepends,
    objectstore: ObjectStoreDepends,
) -> dict[str, str]:
    """Store a Task's ProtocolDAGResult and finish the Task; returns the result ref's ScopedKey.

    Uploading a result already recorded on the Task returns its ref and changes nothing. A result
    for a Task no longer running under this service's claim (finished, requeued, cancelled) is
    refused with 409 and not stored.
    """
    task = _result_task(task_scoped_key, caller)
    data, summary = _decode_result(body.protocoldagresult)
    return _record_result(task, body.compute_service_id, caller, data, summary, n4js, objectstore)


@router.post("/tasks/{task_scoped_key}/results/zstd")
def set_task_result_zstd(
    task_scoped_key: str,
    compute_service_id: WireServiceID,
    caller: CallerDepends,
    n4js: N4jsDepends,
    objectstore: ObjectStoreDepends,
    protocoldagresult: Annotated[bytes, Body(media_type=RESULT_MEDIA_TYPE)] = b"",  # empty: 422 saying so
) -> dict[str, str]:
    """:func:`set_task_result` with the zstd-compressed keyed chain as the body itself (``Content-Type:
    application/zstd``) and the service in the query: no JSON string four times the size to encode and parse."""
    task = _result_task(task_scoped_key, caller)
    data, summary = _checked_result(protocoldagresult)
    return _record_result(task, compute_service_id, caller, data, summary, n4js, objectstore)


def _result_task(task_scoped_key: str, caller: TokenData) -> ScopedKey:
    task = require_kind(parse_scoped_key(task_scoped_key), TASK)
    validate_scopes(task.scope, caller)
    return task


def _record_result(
    task: ScopedKey,
    service: ComputeServiceID,
    caller: TokenData,
    data: bytes,
    summary: dict,
    n4js: Neo4jStore,
    objectstore: ObjectStore,
) -> dict[str, str]:
    """Store checked result bytes and finish the Task (see :func:`set_task_result`).

    One read checks the upload first (the service's owner, the claim, a repeat), so no refused
    result's bytes are stored; that read and the record go through the process's batchers.
    """
    state = upload_state_batcher(n4js).submit(UploadStateRequest(task, service, summary["key"], summary["ok"]))
    if state.service_registered:  # unregistered: refused below, as the Task is not its claim
        refuse_foreign(state.service_owner, caller, f"compute service {service}")
    ref_sk = _expected_ref(state.transformation, summary)
    if state.already_recorded:
        return ref_sk.to_dict()
    if not state.claimed_by_service:
        raise ConflictError(
            f"Task {task} is not running under compute service {service} "
            f"(status: {state.status}); its result was not recorded"
        )

    ref = objectstore.push_protocoldagresult(
        data, summary["ok"], summary["key"], state.transformation, creator=str(service)
    )
    tracebacks = None if summary["ok"] else _tracebacks(summary, ref.scoped_key(ref.scope))
    try:
        recorded = result_batcher(n4js).submit(ResultRecord(task, ref, service, tracebacks))
    except ConflictError:  # the claim was lost since the check above: the bytes must not stay behind
        if not n4js.check_existence(ref.scoped_key(ref.scope)):
            _delete_quietly(objectstore, ref.location)
        raise
    RESULTS_UPLOADED.labels(ok=str(bool(summary["ok"])).lower()).inc()
    RESULT_BYTES.observe(len(data))
    if recorded.status == "error":
        n4js.log_failure_compute_service(service, utcnow())
        restarted = n4js.resolve_task_restarts([task])
        logger.info("Task %s errored under %s; restarted: %s", task, service, bool(restarted))
    return recorded.ref.to_dict()


@router.post("/tasks/wanted")
def get_tasks_wanted(body: TasksWantedBody, caller: CallerDepends, n4js: N4jsDepends) -> list[bool]:
    """For each of a service's running Tasks: still worth finishing?

    False when the Task is invalid, deleted or otherwise not running, no longer actioned on any
    TaskHub, no longer claimed by the service, or outside the token's scopes; all False once the
    service's registration is gone.
    """
    service = body.compute_service_id
    registered = check_service_owner(n4js, service, caller)
    tasks = [require_kind(parse_scoped_key(task), TASK) for task in body.tasks]
    if not registered:
        return [False] * len(tasks)
    visible = [task for task in tasks if authorize(caller.scopes, task.scope)]
    wanted = dict(zip(visible, n4js.get_tasks_wanted(visible, service))) if visible else {}
    return [wanted.get(task, False) for task in tasks]
