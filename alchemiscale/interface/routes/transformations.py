"""Transformations (and NonTransformations): queries, retrieval and relations."""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import Depends

from ...base.api import KeyedChainResponse, N4jsDepends, scope_params
from ...models import Scope
from .common import UserToken, authorized_key, query_scopes, sk_strs, user_router

router = user_router()


@router.get("/transformations")
def query_transformations(
    token_data: UserToken,
    n4js: N4jsDepends,
    scope: Annotated[Scope, Depends(scope_params)],
    name: Optional[str] = None,
) -> list[str]:
    """Transformations with exactly this name (all if no name), in the permitted scopes."""
    return query_scopes(scope, token_data, lambda s: n4js.query_transformations(name=name, scope=s))


@router.get("/transformations/{transformation_scoped_key}")
def get_transformation(transformation_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> KeyedChainResponse:
    return KeyedChainResponse(n4js.get_keyed_chain(authorized_key(transformation_scoped_key, token_data)))


@router.get("/transformations/{transformation_scoped_key}/networks")
def get_transformation_networks(transformation_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    return sk_strs(n4js.get_transformation_networks(authorized_key(transformation_scoped_key, token_data)))


@router.get("/transformations/{transformation_scoped_key}/chemicalsystems")
def get_transformation_chemicalsystems(
    transformation_scoped_key: str, token_data: UserToken, n4js: N4jsDepends
) -> list[str]:
    """``[stateA, stateB]``, or ``[system]`` for a NonTransformation."""
    return sk_strs(n4js.get_transformation_chemicalsystems(authorized_key(transformation_scoped_key, token_data)))
