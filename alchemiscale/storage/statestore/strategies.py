"""State store: the Strategy attached to a network and its StrategyState.

A Strategy is any gufe object (e.g. a stratocaster strategy) stored through keyed-chain ingestion
in the network's Scope and labelled ``Strategy``; a ``PROGRESSES`` edge from it to the network
carries the StrategyState as its properties. A network has at most one Strategy. The strategist
(:mod:`alchemiscale.strategist`, a client of the user API) runs them: it lists the due ones with
:meth:`StrategiesMixin.get_strategies_for_execution` and records each run with
:meth:`StrategiesMixin.record_strategy_run`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ...errors import ConflictError, InvalidInputError, NotFoundError
from ...serialization.keyedchain import KeyedChain
from ...models import MAX_INT64, ScopedKey
from .chaingraph import NETWORK_QUALNAME
from .scoping import ScopedKeyLike, as_scope, as_scoped_key, scope_filter, to_native

# Roots that are structural parts of networks, never strategies.
_NOT_STRATEGIES = {NETWORK_QUALNAME, "Transformation", "NonTransformation", "ChemicalSystem"}


class StrategyModeEnum(StrEnum):
    full = "full"
    partial = "partial"
    disabled = "disabled"


class StrategyStatusEnum(StrEnum):
    awake = "awake"
    dormant = "dormant"
    error = "error"


class StrategyTaskScalingEnum(StrEnum):
    linear = "linear"
    exponential = "exponential"


class StrategyState(BaseModel):
    """How a network's Strategy is to be run, and how its last runs went."""

    model_config = ConfigDict(use_enum_values=True, extra="forbid")

    mode: StrategyModeEnum = StrategyModeEnum.partial
    status: StrategyStatusEnum = StrategyStatusEnum.awake
    iterations: int = Field(default=0, ge=0, le=MAX_INT64)
    sleep_interval: int = Field(default=3600, ge=0, le=MAX_INT64)
    last_iteration: Optional[datetime] = None
    last_iteration_result_count: int = Field(default=0, ge=0, le=MAX_INT64)
    max_tasks_per_transformation: int = Field(default=3, ge=1, le=MAX_INT64)
    task_scaling: StrategyTaskScalingEnum = StrategyTaskScalingEnum.exponential
    exception: Optional[tuple[str, str]] = None  # (exception type, message)
    traceback: Optional[str] = None

    @field_validator("last_iteration")
    @classmethod
    def _utc(cls, value: Optional[datetime]) -> Optional[datetime]:
        """Naive times are taken as UTC: stored with a zone, they compare with Neo4j's ``datetime()``."""
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _error_details_only_on_error(self):
        if self.status != StrategyStatusEnum.error and (self.exception or self.traceback):
            raise InvalidInputError("exception and traceback may only be set when status is 'error'")
        return self

    def to_properties(self) -> dict[str, Any]:
        """Relationship properties (Neo4j cannot hold tuples; absent values are simply not stored)."""
        props = self.model_dump()
        if props["exception"] is not None:
            props["exception"] = list(props["exception"])
        return {k: v for k, v in props.items() if v is not None}

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> "StrategyState":
        return cls(**{k: to_native(v) for k, v in props.items()})


_NETWORK_EXISTS = "MATCH (an:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network}) RETURN an"

_DETACH_STRATEGY = """
MATCH (an:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})
OPTIONAL MATCH (old:Strategy)-[p:PROGRESSES]->(an)
DELETE p
WITH old WHERE old IS NOT NULL AND ($keep IS NULL OR old._scoped_key <> $keep)
  AND NOT EXISTS { (old)-[:PROGRESSES]->() }
  AND NOT EXISTS { ()-[:DEPENDS_ON]->(old) }
DETACH DELETE old
"""

_ATTACH_STRATEGY = """
MATCH (an:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})
MATCH (s:GufeTokenizable {_scoped_key: $strategy})
SET s:Strategy
CREATE (s)-[p:PROGRESSES]->(an)
SET p = $state
"""

_STRATEGY_OF = """
MATCH (an:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})
OPTIONAL MATCH (s:Strategy)-[p:PROGRESSES]->(an)
RETURN an._scoped_key AS found, s._scoped_key AS strategy, properties(p) AS state
"""


# The fields a strategist records after each run; mode, sleep interval and task shaping stay the user's.
RUN_FIELDS = ("status", "iterations", "last_iteration", "last_iteration_result_count", "exception", "traceback")

# Strategies of active networks in a scope; with $due_only, only those a strategist should run now:
# not disabled, not errored, and at least max(sleep_interval, $min_sleep_interval) since the last run.
_STRATEGIES_IN_SCOPE = """
MATCH (m:NetworkMark)-[:MARKS]->(an:GufeTokenizable:AlchemicalNetwork)<-[p:PROGRESSES]-(s:Strategy)
WHERE {scope} AND m.state = 'active'
  AND (NOT $due_only OR (
    p.mode <> 'disabled' AND p.status <> 'error'
    AND (p.last_iteration IS NULL OR datetime() >=
         p.last_iteration + duration({{seconds: CASE WHEN p.sleep_interval > $min_sleep_interval
                                                     THEN p.sleep_interval ELSE $min_sleep_interval END}}))))
RETURN an._scoped_key AS network, s._scoped_key AS strategy, properties(p) AS state
ORDER BY network
"""

_RECORD_RUN = """
MATCH (s:Strategy {_scoped_key: $strategy})-[p:PROGRESSES]->(:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})
SET p = $state
RETURN count(p) AS updated
"""


class StrategiesMixin:
    def set_network_strategy(
        self, network: ScopedKeyLike, strategy: Optional[list], state: Optional[StrategyState] = None
    ) -> Optional[ScopedKey]:
        """Attach a Strategy keyed chain to ``network`` (replacing any other), or remove it with None.

        A replaced Strategy node that nothing else uses is deleted. Returns the Strategy's ScopedKey.
        """
        sk = as_scoped_key(network)
        if strategy is None:

            def detach(tx) -> None:
                self._require_network(tx, sk)
                tx.run(_DETACH_STRATEGY, network=str(sk), keep=None).consume()

            return self.write_transaction(detach)
        qualname = KeyedChain.from_json(strategy).root.qualname
        if qualname in _NOT_STRATEGIES:
            raise InvalidInputError(f"a {qualname} cannot be used as a Strategy")
        state = state or StrategyState()
        self._strategy_record(sk)  # KeyError before anything is written if the network is unknown
        strategy_sk = self.add_keyed_chain(strategy, sk.scope)

        def attach(tx) -> None:
            self._require_network(tx, sk)
            tx.run(_DETACH_STRATEGY, network=str(sk), keep=str(strategy_sk)).consume()  # setting it again keeps it
            tx.run(
                _ATTACH_STRATEGY, network=str(sk), strategy=str(strategy_sk), state=state.to_properties()
            ).consume()

        self.write_transaction(attach)
        return strategy_sk

    def get_network_strategy(self, network: ScopedKeyLike) -> Optional[list]:
        """The keyed chain of the network's Strategy, or None if it has none."""
        record = self._strategy_record(network)
        if record["strategy"] is None:
            return None
        return self.get_keyed_chain(record["strategy"])

    def get_network_strategy_state(self, network: ScopedKeyLike) -> Optional[StrategyState]:
        record = self._strategy_record(network)
        if record["strategy"] is None:
            return None
        return StrategyState.from_properties(record["state"])

    def update_strategy_state(self, network: ScopedKeyLike, **changes: Any) -> Optional[StrategyState]:
        """Change fields of the network's StrategyState; None if the network has no Strategy."""
        current = self.get_network_strategy_state(network)
        if current is None:
            return None
        updated = StrategyState(**{**current.model_dump(), **changes})
        records = self.execute_query(
            """
            MATCH (:Strategy)-[p:PROGRESSES]->(:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})
            SET p = $state
            RETURN count(p) AS updated
            """,
            {"network": str(as_scoped_key(network)), "state": updated.to_properties()},
        )
        return updated if records[0]["updated"] else None

    def get_strategies_for_execution(
        self, scope=None, min_sleep_interval: int = 0, due_only: bool = True
    ) -> list[tuple[ScopedKey, ScopedKey, StrategyState]]:
        """``(network, strategy, state)`` of the active networks in ``scope`` that have a Strategy.

        With ``due_only`` (the strategist's view) only those to run now: mode not ``disabled``, status
        not ``error``, and never run or last run at least ``max(sleep_interval, min_sleep_interval)``
        seconds ago. Dormant ones are included: the strategist wakes them when new results arrive.
        """
        if isinstance(min_sleep_interval, bool) or not isinstance(min_sleep_interval, int) or not (
            0 <= min_sleep_interval <= MAX_INT64
        ):
            raise InvalidInputError(f"min_sleep_interval must be a non-negative integer, got {min_sleep_interval!r}")
        where, params = scope_filter("an", as_scope(scope))
        records = self.execute_query(
            _STRATEGIES_IN_SCOPE.format(scope=where),
            {**params, "due_only": bool(due_only), "min_sleep_interval": min_sleep_interval},
        )
        return [
            (ScopedKey.from_str(r["network"]), ScopedKey.from_str(r["strategy"]),
             StrategyState.from_properties(r["state"]))
            for r in records
        ]

    def record_strategy_run(self, network: ScopedKeyLike, strategy: ScopedKeyLike, **run: Any) -> StrategyState:
        """Write what a strategist run of ``strategy`` on ``network`` changed (only :data:`RUN_FIELDS`).

        ConflictError if the network's Strategy is no longer ``strategy`` (replaced or removed while
        it ran), so a stale run never lands on a new Strategy; NotFoundError for an unknown network.
        """
        unknown = sorted(set(run) - set(RUN_FIELDS))
        if unknown:
            raise InvalidInputError(f"a strategist run records only {', '.join(RUN_FIELDS)}; got {', '.join(unknown)}")
        sk, strategy_sk = as_scoped_key(network), as_scoped_key(strategy)
        record = self._strategy_record(sk)
        if record["strategy"] != str(strategy_sk):
            raise ConflictError(
                f"network {sk} is no longer progressed by Strategy {strategy_sk} (now: {record['strategy']}); "
                "the run is discarded"
            )
        updated = StrategyState(**{**StrategyState.from_properties(record["state"]).model_dump(), **run})
        records = self.execute_query(
            _RECORD_RUN, {"network": str(sk), "strategy": str(strategy_sk), "state": updated.to_properties()}
        )
        if not records[0]["updated"]:
            raise ConflictError(f"network {sk} is no longer progressed by Strategy {strategy_sk}; the run is discarded")
        return updated

    def _strategy_record(self, network: ScopedKeyLike):
        sk = as_scoped_key(network)
        records = self.execute_query(_STRATEGY_OF, {"network": str(sk)})
        if not records:
            raise NotFoundError(f"no AlchemicalNetwork with ScopedKey {sk} in the state store")
        return records[0]

    @staticmethod
    def _require_network(tx, network: ScopedKey) -> None:
        if tx.run(_NETWORK_EXISTS, network=str(network)).single() is None:
            raise NotFoundError(f"no AlchemicalNetwork with ScopedKey {network} in the state store")
