"""From a Strategy's proposal to Task changes: normalized weights, Task counts, what to action or cancel.

Pure functions over keys and statuses (no client, no gufe), so the rules are stated and tested once.
The rules follow upstream's strategist:

- weights are normalized over the non-None ones; None (or 0) means "no more Tasks";
- a weight becomes a count of actioned Tasks, at most ``max_tasks_per_transformation``:
  ``linear`` ``int(1 + w * max)``, ``exponential`` ``int((1 + max) ** w)``; weight 1 gives ``max``;
- a Transformation with an errored Task gets no new Tasks (its failure needs a person or a restart pattern);
- more Tasks are found among the Transformation's unactioned running, then waiting Tasks, then created;
- only in ``full`` mode are excess actioned Tasks cancelled: waiting ones first, then running ones.

Beyond upstream, each actioned Task of a weighted Transformation gets the Task weight
``w / max(w)`` (in (0, 1]), so compute services claim the most urgent Transformations first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Hashable, Optional, TypeVar

from ..storage.statestore.strategies import StrategyModeEnum, StrategyTaskScalingEnum

Key = TypeVar("Key", bound=Hashable)


def normalize(weights: Mapping[Key, Optional[float]]) -> dict[Key, Optional[float]]:
    """Weights divided by the sum of the non-None ones (all zero if that sum is zero).

    A negative, infinite or NaN weight is the Strategy's error: ValueError naming it.
    """
    for key, weight in weights.items():
        if weight is not None and (
            isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0
        ):
            raise ValueError(f"the Strategy proposed weight {weight!r} for {key}; weights must be None or >= 0")
    total = sum(w for w in weights.values() if w is not None)
    return {k: None if w is None else (w / total if total > 0 else 0.0) for k, w in weights.items()}


def task_count(weight: Optional[float], max_tasks: int, scaling: str) -> int:
    """How many Tasks a Transformation with this normalized weight should have actioned."""
    if weight is None or weight <= 0:
        return 0
    if weight >= 1:
        return max_tasks
    if scaling == StrategyTaskScalingEnum.linear:
        count = int(1 + weight * max_tasks)
    elif scaling == StrategyTaskScalingEnum.exponential:
        count = int((1 + max_tasks) ** weight)
    else:
        raise ValueError(f"unknown task_scaling {scaling!r}; expected linear or exponential")
    return min(count, max_tasks)


def task_weights(weights: Mapping[Key, Optional[float]]) -> dict[Key, float]:
    """Task weight per positively weighted Transformation: its weight relative to the largest one."""
    positive = {k: w for k, w in weights.items() if w is not None and w > 0}
    top = max(positive.values(), default=0.0)
    return {k: w / top for k, w in positive.items()}


@dataclass
class TransformationPlan:
    """For one Transformation: existing Tasks to action, how many to create and action, Tasks to cancel."""

    action: list = field(default_factory=list)
    create: int = 0
    cancel: list = field(default_factory=list)


def plan_transformation(
    target: int, tasks: Sequence[tuple[Key, str]], actioned: set, mode: str
) -> TransformationPlan:
    """Reach ``target`` actioned Tasks for one Transformation, given its ``(task, status)`` pairs."""
    mine = [(task, status) for task, status in tasks if task in actioned]
    plan = TransformationPlan()
    if target > len(mine):
        needed = target - len(mine)
        spare = [(task, status) for task, status in tasks if task not in actioned]
        for wanted in ("running", "waiting"):
            for task, status in spare:
                if status == wanted and len(plan.action) < needed:
                    plan.action.append(task)
        plan.create = needed - len(plan.action)
    elif target < len(mine) and mode == StrategyModeEnum.full:
        excess = len(mine) - target
        for wanted in ("waiting", "running"):
            for task, status in mine:
                if status == wanted and len(plan.cancel) < excess:
                    plan.cancel.append(task)
    return plan


def has_errored(tasks: Sequence[tuple[Key, str]]) -> bool:
    return any(status == "error" for _, status in tasks)
