"""TaskHub queries and claiming, from one TaskHub or across every TaskHub in some Scopes."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Annotated, Optional, Union

from fastapi import Depends

from ...base.api import (
    TASKHUB,
    N4jsDepends,
    parse_scoped_key,
    require_kind,
    scope_params,
    validate_scopes,
    validate_scopes_query,
)
from ...base.metrics import TASKS_CLAIMED
from ...models import ComputeServiceID, Scope, ScopedKey, minimize_scopes
from ...security.models import TokenData
from ...storage.models import utcnow
from ...storage.statestore import ClaimRequest, Neo4jStore
from ..batching import claim_batcher
from ..bodies import ClaimTaskHubTasksBody, ClaimTasksBody
from .common import CallerDepends, ComputeSettingsDepends, compute_router, require_owned_service

router = compute_router()


def permitted_scopes(requested: list[Scope], token_data: TokenData) -> list[Scope]:
    """The requested scopes narrowed to what the token grants, without overlaps."""
    allowed: list[Scope] = []
    for scope in minimize_scopes(requested):
        allowed.extend(validate_scopes_query(scope, token_data))
    return minimize_scopes(allowed)


def taskhub_weights(n4js: Neo4jStore, scopes: list[Scope], exclude: list[Scope]) -> dict[ScopedKey, float]:
    """Weight of every TaskHub in ``scopes`` whose scope no ``exclude`` scope covers."""
    weights: dict[ScopedKey, float] = {}
    for scope in scopes:
        for sk, hub in n4js.query_taskhubs(scope=scope, return_gufe=True).items():
            if not any(excluded.is_superset(sk.scope) for excluded in exclude):
                weights[sk] = hub.weight
    return weights


def claim_weighted(
    n4js: Neo4jStore,
    weights: dict[ScopedKey, float],
    service: ComputeServiceID,
    count: int,
    protocols: Optional[list[str]],
) -> list[ScopedKey]:
    """Draw TaskHubs at random in proportion to their weight, claiming from each until ``count`` are held."""
    pool = dict(weights)
    claimed: list[ScopedKey] = []
    while len(claimed) < count and pool:
        hubs = list(pool)
        hub_weights = [pool[hub] for hub in hubs]
        if not any(weight > 0 for weight in hub_weights):
            break
        hub = random.choices(hubs, weights=hub_weights)[0]
        del pool[hub]
        got = claim_batcher(n4js).submit(ClaimRequest(hub, service, count - len(claimed), protocols))
        claimed.extend(task for task in got if task is not None)
    return claimed


def _padded(tasks: list[Optional[ScopedKey]], count: int) -> list[Optional[str]]:
    return [str(task) if task is not None else None for task in tasks] + [None] * (count - len(tasks))


@router.get("/taskhubs")
def query_taskhubs(
    caller: CallerDepends,
    n4js: N4jsDepends,
    scope: Annotated[Scope, Depends(scope_params)],
    return_gufe: bool = False,
) -> Union[list[str], dict[str, str]]:
    """TaskHubs in ``scope`` that the token grants: ScopedKeys, or ``{sk: TaskHub.to_gufe_json()}``."""
    if return_gufe:
        found: dict[str, str] = {}
        for query_scope in validate_scopes_query(scope, caller):
            for sk, hub in n4js.query_taskhubs(scope=query_scope, return_gufe=True).items():
                found[str(sk)] = hub.to_gufe_json()
        return found
    keys: list[str] = []
    for query_scope in validate_scopes_query(scope, caller):
        keys.extend(str(sk) for sk in n4js.query_taskhubs(scope=query_scope))
    return sorted(set(keys))


@router.post("/taskhubs/{taskhub_scoped_key}/claim")
def claim_taskhub_tasks(
    taskhub_scoped_key: str, body: ClaimTaskHubTasksBody, caller: CallerDepends, n4js: N4jsDepends
) -> list[Optional[str]]:
    """Claim up to ``count`` Tasks from one TaskHub; the list is padded with null."""
    taskhub = require_kind(parse_scoped_key(taskhub_scoped_key), TASKHUB)
    validate_scopes(taskhub.scope, caller)
    # the store checks registration (404) and ownership (403) in the same statement as the claim
    tasks = claim_batcher(n4js).submit(
        ClaimRequest(taskhub, body.compute_service_id, body.count, body.protocols, owner=caller.entity)
    )
    TASKS_CLAIMED.inc(sum(task is not None for task in tasks))
    return _padded([task for task in tasks if task is not None], body.count)


@router.post("/claim")
def claim_tasks(
    body: ClaimTasksBody, caller: CallerDepends, n4js: N4jsDepends, settings: ComputeSettingsDepends
) -> Optional[list[Optional[str]]]:
    """Claim up to ``count`` Tasks across the TaskHubs of ``scopes``; null if the service is denied.

    A service is denied while it has more than ``MAX_FAILURES`` failed results within the last
    ``FORGIVE_TIME_SECONDS``.
    """
    service = body.compute_service_id
    require_owned_service(n4js, service, caller)
    forgive_time = utcnow() - timedelta(seconds=settings.ALCHEMISCALE_COMPUTE_API_FORGIVE_TIME_SECONDS)
    if not n4js.compute_service_can_claim(service, forgive_time, settings.ALCHEMISCALE_COMPUTE_API_MAX_FAILURES):
        return None
    scopes = permitted_scopes(body.scopes, caller)
    weights = taskhub_weights(n4js, scopes, body.scopes_exclude or [])
    claimed = claim_weighted(n4js, weights, service, body.count, body.protocols)
    TASKS_CLAIMED.inc(len(claimed))
    return _padded(claimed, body.count)
