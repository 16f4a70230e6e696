"""What every user-API router shares: the router factory, ScopedKey and scope checks, bulk filtering.

Routes check authorization before touching the store, so a caller learns nothing about objects
outside their scopes: a foreign ScopedKey answers 401 whether or not the object exists.
"""

from __future__ import annotations

from typing import Annotated, Callable, Iterable, Optional, TypeVar, Union

from fastapi import APIRouter, Depends

from ...base.api import (  # NETWORK and TASK are here for the route modules
    NETWORK,
    TASK,
    parse_scoped_key,
    require_credential_class,
    require_kind,
    validate_scopes,
    validate_scopes_query,
)
from ...models import Scope, ScopedKey
from ...security.auth import authorize
from ...security.models import CredentialedUserIdentity, TokenData

T = TypeVar("T")

require_user_token = require_credential_class(CredentialedUserIdentity)
UserToken = Annotated[TokenData, Depends(require_user_token)]


def user_router() -> APIRouter:
    """A router whose every route needs a user token."""
    return APIRouter(dependencies=[Depends(require_user_token)])


def authorized_key(
    scoped_key: Union[str, ScopedKey], token_data: TokenData, qualname: Optional[str] = None
) -> ScopedKey:
    """The ScopedKey named in a request: 422 if malformed, 401 if outside the token's scopes,
    400 if ``qualname`` is given and the key is of another kind."""
    sk = parse_scoped_key(scoped_key)
    validate_scopes(sk.scope, token_data)
    return require_kind(sk, qualname) if qualname is not None else sk


def require_authorized(keys: Iterable[ScopedKey], token_data: TokenData) -> list[ScopedKey]:
    """All of ``keys``, or 401 naming the first one outside the token's scopes (for creating routes)."""
    keys = list(keys)
    for key in keys:
        validate_scopes(key.scope, token_data)
    return keys


def apply_permitted(
    keys: list[ScopedKey], token_data: TokenData, operation: Callable[..., list[T]], *values: list
) -> list[Optional[T]]:
    """Run a bulk store operation on the keys the token may reach; None in the slots of the others.

    ``values`` are lists parallel to ``keys`` (e.g. states); their permitted items are passed along.
    """
    mask = [authorize(token_data.scopes, key.scope) for key in keys]
    allowed = [key for key, ok in zip(keys, mask) if ok]
    allowed_values = [[value for value, ok in zip(column, mask) if ok] for column in values]
    results = iter(operation(allowed, *allowed_values) if allowed else [])
    return [next(results) if ok else None for ok in mask]


def query_scopes(scope: Scope, token_data: TokenData, query: Callable[[Scope], Iterable[ScopedKey]]) -> list[str]:
    """Run a store query in every scope the token may search within ``scope``; sorted ScopedKey strings."""
    found: set[ScopedKey] = set()
    for permitted in validate_scopes_query(scope, token_data):
        found.update(query(permitted))
    return [str(sk) for sk in sorted(found)]


def sk_str(sk: Optional[ScopedKey]) -> Optional[str]:
    return str(sk) if sk is not None else None


def sk_strs(sks: Iterable[Optional[ScopedKey]]) -> list[Optional[str]]:
    return [sk_str(sk) for sk in sks]
