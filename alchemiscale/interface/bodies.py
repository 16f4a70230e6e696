"""Request bodies of the user API.

ScopedKeys in bodies may be sent as strings (``Qualname-token-org-campaign-project``) or as
ScopedKey dicts (``{gufe_key, org, campaign, project}``), since upstream clients send both;
a malformed one fails validation (422) naming the bad part. Weights, priorities and statuses
are checked by the routes rather than here, so that out-of-range values answer 400 as upstream.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional, Union

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from ..base.api import error_message
from ..models import MAX_INT64, Scope, ScopedKey
from ..storage.statestore.strategies import StrategyStatusEnum


def coerce_scoped_key(value: Any) -> ScopedKey:
    """A ScopedKey from its string or dict form; ValueError naming what is wrong."""
    try:
        if isinstance(value, ScopedKey):
            return value
        if isinstance(value, str):
            return ScopedKey.from_str(value)
        if isinstance(value, dict):
            return ScopedKey.from_dict(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"malformed ScopedKey: {error_message(e)}") from None
    raise ValueError(f"malformed ScopedKey: expected a string or a ScopedKey object, got {type(value).__name__}")


ScopedKeyIn = Annotated[ScopedKey, BeforeValidator(coerce_scoped_key)]


class Body(BaseModel):
    """Unknown members are ignored, as with upstream's embedded body parameters."""


class NetworkSubmission(Body):
    network: list = Field(description="keyed chain of the AlchemicalNetwork")
    scope: Scope
    state: str = "active"


class NetworksBody(Body):
    networks: list[ScopedKeyIn]


class NetworkStatesBody(NetworksBody):
    states: list[str]


class NetworkWeightsBody(NetworksBody):
    weights: list[float]  # range-checked by the route (400, as upstream)


class NetworksActionedBody(NetworksBody):
    task_weights: bool = False


class TaskWeightsFlag(Body):
    task_weights: bool = False


class TaskCreation(Body):
    extends: Optional[ScopedKeyIn] = None
    count: int = Field(default=1, ge=1, le=10_000)


class BulkTaskCreation(Body):
    transformations: list[ScopedKeyIn]
    extends: Optional[list[Optional[ScopedKeyIn]]] = None


class TasksBody(Body):
    tasks: list[ScopedKeyIn]


class TaskStatusBody(TasksBody):
    status: str


class TaskPriorityBody(TasksBody):
    priority: int


class TaskActioning(TasksBody):
    weight: Union[float, list[float], None] = None


class RestartPatterns(Body):
    patterns: list[str]


class RestartPatternsAdd(RestartPatterns):
    num_allowed_restarts: Annotated[int, Field(le=MAX_INT64)]  # below 1: the store answers 400


class RestartPatternsMaxRetries(RestartPatterns):
    max_retries: Annotated[int, Field(le=MAX_INT64)]


class StrategySubmission(Body):
    """A strategy keyed chain (null removes the network's strategy) and the StrategyState settings."""

    strategy: Optional[list] = None
    max_tasks_per_transformation: Any = 3
    task_scaling: Any = "exponential"
    mode: Any = "partial"
    sleep_interval: Any = 3600


class StrategyRun(BaseModel):
    """What a strategist run changed in a StrategyState; an absent exception and traceback clear the last error."""

    model_config = ConfigDict(extra="forbid")

    strategy: ScopedKeyIn = Field(description="the Strategy that ran; the run is refused if it was replaced since")
    status: StrategyStatusEnum
    iterations: int = Field(ge=0, le=MAX_INT64)
    last_iteration: AwareDatetime
    last_iteration_result_count: int = Field(ge=0, le=MAX_INT64)
    exception: Optional[tuple[str, str]] = Field(None, description="(exception type, message) when status is error")
    traceback: Optional[str] = None
