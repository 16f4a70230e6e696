"""Strategies: a network's Strategy keyed chain and its StrategyState.

The strategist (:mod:`alchemiscale.strategist`) is a client of these routes: it lists the due
strategies of its identity's scopes (``GET /strategies``) and records each run
(``POST /networks/{sk}/strategy/state``); the servers never run a Strategy themselves.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import Depends, HTTPException, Query, status
from pydantic import ValidationError

from ...base.api import KeyedChainResponse, N4jsDepends, error_message, scope_params, validate_scopes_query
from ...models import MAX_INT64, Scope
from ...storage.statestore.strategies import StrategyState, StrategyStatusEnum
from ..bodies import StrategyRun, StrategySubmission
from .common import NETWORK, UserToken, authorized_key, sk_str, user_router

router = user_router()


@router.post("/networks/{network_scoped_key}/strategy")
def set_network_strategy(
    network_scoped_key: str, body: StrategySubmission, token_data: UserToken, n4js: N4jsDepends
) -> Optional[str]:
    """Attach a Strategy (replacing any other) with a fresh StrategyState, or remove it with ``strategy: null``.

    Returns the Strategy's ScopedKey, or null after a removal.
    """
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    try:
        state = StrategyState(
            max_tasks_per_transformation=body.max_tasks_per_transformation,
            task_scaling=body.task_scaling,
            mode=body.mode,
            sleep_interval=body.sleep_interval,
        )
        return sk_str(n4js.set_network_strategy(sk, body.strategy, state))
    except ValidationError as e:  # an invalid StrategyState: a malformed body, as FastAPI's own checks
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=error_message(e)) from e


@router.get("/networks/{network_scoped_key}/strategy")
def get_network_strategy(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> KeyedChainResponse:
    """The Strategy keyed chain, or null."""
    return KeyedChainResponse(n4js.get_network_strategy(authorized_key(network_scoped_key, token_data, NETWORK)))


@router.get("/networks/{network_scoped_key}/strategy/state")
def get_network_strategy_state(
    network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends
) -> Optional[dict[str, Any]]:
    state = n4js.get_network_strategy_state(authorized_key(network_scoped_key, token_data, NETWORK))
    return state.model_dump(mode="json") if state is not None else None


@router.get("/networks/{network_scoped_key}/strategy/status")
def get_network_strategy_status(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> Optional[str]:
    """``awake``, ``dormant`` or ``error``; null if the network has no Strategy."""
    state = n4js.get_network_strategy_state(authorized_key(network_scoped_key, token_data, NETWORK))
    return state.status if state is not None else None


@router.post("/networks/{network_scoped_key}/strategy/awake")
def set_network_strategy_awake(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> Optional[str]:
    """Set the status to awake and clear the recorded error; the network's ScopedKey (as upstream), or null if none."""
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    updated = n4js.update_strategy_state(sk, status=StrategyStatusEnum.awake, exception=None, traceback=None)
    return sk_str(sk) if updated is not None else None


@router.get("/strategies")
def get_strategies(
    token_data: UserToken,
    n4js: N4jsDepends,
    scope: Annotated[Scope, Depends(scope_params)],
    due: bool = False,
    min_sleep_interval: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
) -> list[dict[str, Any]]:
    """``[{network, strategy, state}]`` for the active networks with a Strategy in the permitted scopes.

    With ``due=true`` only those a strategist should run now: not disabled, not errored, and last
    run at least ``max(sleep_interval, min_sleep_interval)`` seconds ago (or never).
    """
    found = {}
    for permitted in validate_scopes_query(scope, token_data):
        for network, strategy, state in n4js.get_strategies_for_execution(permitted, min_sleep_interval, due):
            found[str(network)] = {
                "network": str(network), "strategy": str(strategy), "state": state.model_dump(mode="json")
            }
    return [found[network] for network in sorted(found)]


@router.post("/networks/{network_scoped_key}/strategy/state")
def record_strategy_run(
    network_scoped_key: str, body: StrategyRun, token_data: UserToken, n4js: N4jsDepends
) -> dict[str, Any]:
    """Record a strategist run of ``body.strategy``: status, counters, time and any error; the new state.

    409 if the network's Strategy has changed since (the run is discarded), 404 for an unknown network.
    """
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    strategy = authorized_key(body.strategy, token_data)
    try:
        state = n4js.record_strategy_run(sk, strategy, **body.model_dump(exclude={"strategy"}))
    except ValidationError as e:  # e.g. an error message with a status other than error
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=error_message(e)) from e
    return state.model_dump(mode="json")
