"""Strategies: a network's Strategy keyed chain and its StrategyState.

Strategies are stored and returned, but this project has no strategist service: nothing
executes them or changes their state except these routes.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import HTTPException, status
from pydantic import ValidationError

from ...base.api import KeyedChainResponse, N4jsDepends, error_message
from ...storage.statestore.strategies import StrategyState, StrategyStatusEnum
from ..bodies import StrategySubmission
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
