"""ChemicalSystems: queries, retrieval and relations."""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import Depends

from ...base.api import KeyedChainResponse, N4jsDepends, scope_params
from ...models import Scope
from .common import UserToken, authorized_key, query_scopes, sk_strs, user_router

CHEMICALSYSTEM = "ChemicalSystem"

router = user_router()


@router.get("/chemicalsystems")
def query_chemicalsystems(
    token_data: UserToken,
    n4js: N4jsDepends,
    scope: Annotated[Scope, Depends(scope_params)],
    name: Optional[str] = None,
) -> list[str]:
    """ChemicalSystems with exactly this name (all if no name), in the permitted scopes."""
    return query_scopes(scope, token_data, lambda s: n4js.query_chemicalsystems(name=name, scope=s))


@router.get("/chemicalsystems/{chemicalsystem_scoped_key}")
def get_chemicalsystem(chemicalsystem_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> KeyedChainResponse:
    sk = authorized_key(chemicalsystem_scoped_key, token_data, CHEMICALSYSTEM)
    return KeyedChainResponse(n4js.get_keyed_chain(sk))


@router.get("/chemicalsystems/{chemicalsystem_scoped_key}/networks")
def get_chemicalsystem_networks(chemicalsystem_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    return sk_strs(n4js.get_chemicalsystem_networks(authorized_key(chemicalsystem_scoped_key, token_data)))


@router.get("/chemicalsystems/{chemicalsystem_scoped_key}/transformations")
def get_chemicalsystem_transformations(
    chemicalsystem_scoped_key: str, token_data: UserToken, n4js: N4jsDepends
) -> list[str]:
    return sk_strs(n4js.get_chemicalsystem_transformations(authorized_key(chemicalsystem_scoped_key, token_data)))
