"""Results: ProtocolDAGResultRefs of Transformations and Tasks, and the stored result bytes.

Result bytes travel exactly as stored (the zstd-compressed keyed chain); the server never
decompresses or interprets them. A client that accepts ``application/zstd`` gets them as the body
itself; otherwise (upstream's clients) they come as a one-item JSON list holding them decoded as
latin-1, which costs the server a JSON encoding (and gzip) of every byte and the client the reverse.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ...base.api import N4jsDepends, ObjectStoreDepends
from ...errors import NotFoundError
from ...serialization.compression import RESULT_MEDIA_TYPE, bytes_to_latin1
from ...models import ScopedKey
from ...storage.objectstore import ObjectNotFoundError
from .common import TASK, UserToken, authorized_key, sk_strs, user_router

router = user_router()

PROTOCOLDAGRESULTREF = "ProtocolDAGResultRef"


@router.get("/transformations/{transformation_scoped_key}/results")
def get_transformation_results(transformation_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    """Refs of the successful results of every Task of the Transformation, oldest first."""
    return sk_strs(n4js.get_transformation_results(authorized_key(transformation_scoped_key, token_data)))


@router.get("/transformations/{transformation_scoped_key}/failures")
def get_transformation_failures(transformation_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    return sk_strs(n4js.get_transformation_failures(authorized_key(transformation_scoped_key, token_data)))


@router.get("/tasks/{task_scoped_key}/results")
def get_task_results(task_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    return sk_strs(n4js.get_task_results(authorized_key(task_scoped_key, token_data, TASK)))


@router.get("/tasks/{task_scoped_key}/failures")
def get_task_failures(task_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    return sk_strs(n4js.get_task_failures(authorized_key(task_scoped_key, token_data, TASK)))


@router.get("/transformations/{transformation_scoped_key}/{route}/{protocoldagresultref_scoped_key}")
def get_protocoldagresult(
    transformation_scoped_key: str,
    route: Literal["results", "failures"],
    protocoldagresultref_scoped_key: str,
    token_data: UserToken,
    n4js: N4jsDepends,
    objectstore: ObjectStoreDepends,
    request: Request,
) -> Response:
    """The stored bytes of one result (``results``) or failure (``failures``): as they are for a
    client accepting ``application/zstd``, else ``[latin-1 string of the stored bytes]``.

    The bytes are looked up where the result's keys place them; a ref whose stored location
    differs (e.g. written by an older deployment) is read from that location instead.
    """
    transformation = authorized_key(transformation_scoped_key, token_data)
    ref_sk = authorized_key(protocoldagresultref_scoped_key, token_data, PROTOCOLDAGRESULTREF)
    ref = n4js.get_protocoldagresultref(ref_sk)
    if ref.ok != (route == "results") or ref_sk.scope != transformation.scope:
        raise NotFoundError(f"no {route[:-1]} {ref_sk} of Transformation {transformation}")
    result_sk = ScopedKey(gufe_key=ref.obj_key, **transformation.scope.to_dict())
    try:
        data = objectstore.pull_protocoldagresult(result_sk, transformation, ok=ref.ok)
    except ObjectNotFoundError:
        data = objectstore.pull_protocoldagresult(ref, transformation)
    if RESULT_MEDIA_TYPE in request.headers.get("accept", ""):
        return Response(data, media_type=RESULT_MEDIA_TYPE)
    return JSONResponse([bytes_to_latin1(data)])
