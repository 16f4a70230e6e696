"""The user client, plus the two strategist routes: list due strategies, record a run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from ..interface.client import AlchemiscaleClient
from ..interface.client_common import ScopedKeyLike, as_scoped_key
from ..models import Scope, ScopedKey


@dataclass(frozen=True)
class NetworkStrategy:
    """A network with a Strategy, as ``GET /strategies`` lists it."""

    network: ScopedKey
    strategy: ScopedKey
    state: dict[str, Any]  # the StrategyState, as JSON


@dataclass(frozen=True)
class StrategyRunRecord:
    """What one run changes in a StrategyState (``POST /networks/{sk}/strategy/state``)."""

    status: str
    iterations: int
    last_iteration: datetime
    last_iteration_result_count: int
    exception: Optional[tuple[str, str]] = None
    traceback: Optional[str] = None


class StrategistClient(AlchemiscaleClient):
    """:class:`~alchemiscale.interface.client.AlchemiscaleClient` with the routes a strategist needs."""

    def get_network_strategies(
        self, scope: Optional[Scope] = None, due: bool = False, min_sleep_interval: int = 0
    ) -> list[NetworkStrategy]:
        """Active networks with a Strategy in ``scope`` (default: all of yours); with ``due``, only
        those to run now (not disabled or errored, and not run within ``max(sleep_interval, min_sleep_interval)`` s)."""
        scope = scope or Scope()
        params = {**scope.to_dict(), "due": due, "min_sleep_interval": min_sleep_interval}
        return [
            NetworkStrategy(as_scoped_key(item["network"]), as_scoped_key(item["strategy"]), item["state"])
            for item in self._get_resource("/strategies", params)
        ]

    def record_strategy_run(
        self, network: ScopedKeyLike, strategy: ScopedKeyLike, run: StrategyRunRecord
    ) -> dict[str, Any]:
        """Write a run's outcome; 409 (an AlchemiscaleClientError) if the network's Strategy changed meanwhile."""
        data = {
            "strategy": str(as_scoped_key(strategy)),
            "status": run.status,
            "iterations": run.iterations,
            "last_iteration": run.last_iteration.isoformat(),
            "last_iteration_result_count": run.last_iteration_result_count,
            "exception": None if run.exception is None else list(run.exception),
            "traceback": run.traceback,
        }
        return self._post_resource(f"/networks/{as_scoped_key(network)}/strategy/state", data)
