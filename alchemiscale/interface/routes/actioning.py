"""Actioning Tasks on a network's TaskHub (making them claimable), cancelling, and listing actioned Tasks."""

from __future__ import annotations

from typing import Optional, Union

from ...base.api import N4jsDepends
from ...errors import InvalidInputError
from ...storage.statestore.scoping import check_weight
from ..bodies import NetworksActionedBody, TaskActioning, TasksBody, TaskWeightsFlag
from .common import NETWORK, TASK, UserToken, apply_permitted, authorized_key, sk_strs, user_router

router = user_router()

ActionedTasks = Union[dict[str, float], list[str]]


def _weights(weight: Union[float, list[float], None], count: int) -> Optional[list[float]]:
    """One checked weight per Task, or None to keep the default; 400 for bad values or a wrong count."""
    if weight is None:
        return None
    if isinstance(weight, list):
        if len(weight) != count:
            raise InvalidInputError(f"got {len(weight)} weights for {count} Tasks; give one weight, or one per Task")
        return [check_weight(w, "Task weight") for w in weight]
    return [check_weight(weight, "Task weight")] * count


def _actioned(tasks: dict, task_weights: bool) -> ActionedTasks:
    if task_weights:
        return {str(sk): weight for sk, weight in sorted(tasks.items())}
    return sk_strs(sorted(tasks))


@router.post("/networks/{network_scoped_key}/tasks/action")
def action_tasks(
    network_scoped_key: str, body: TaskActioning, token_data: UserToken, n4js: N4jsDepends
) -> list[Optional[str]]:
    """Action Tasks on the network's TaskHub; null for Tasks that were not newly actioned.

    A given weight (one for all, or one per Task) is applied to every listed Task actioned on the
    hub afterwards, including Tasks actioned before.
    """
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    weights = _weights(body.weight, len(body.tasks))
    taskhub = n4js.get_taskhub(sk)
    actioned = apply_permitted(body.tasks, token_data, lambda keys: n4js.action_tasks(keys, taskhub))
    if weights is not None:

        def set_weights(keys, key_weights):
            n4js.set_task_weights(dict(zip(keys, key_weights)), taskhub)
            return keys

        apply_permitted(body.tasks, token_data, set_weights, weights)
    return sk_strs(actioned)


@router.post("/networks/{network_scoped_key}/tasks/cancel")
def cancel_tasks(
    network_scoped_key: str, body: TasksBody, token_data: UserToken, n4js: N4jsDepends
) -> list[Optional[str]]:
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    taskhub = n4js.get_taskhub(sk)
    return sk_strs(apply_permitted(body.tasks, token_data, lambda keys: n4js.cancel_tasks(keys, taskhub)))


@router.post("/networks/{network_scoped_key}/tasks/actioned")
def get_network_actioned_tasks(
    network_scoped_key: str, body: TaskWeightsFlag, token_data: UserToken, n4js: N4jsDepends
) -> ActionedTasks:
    """The network's actioned Tasks: ``{task: weight}`` with ``task_weights``, else a list."""
    taskhub = n4js.get_taskhub(authorized_key(network_scoped_key, token_data, NETWORK))
    return _actioned(n4js.get_taskhub_actioned_tasks([taskhub])[0], body.task_weights)


@router.post("/bulk/networks/tasks/actioned")
def get_networks_actioned_tasks(
    body: NetworksActionedBody, token_data: UserToken, n4js: N4jsDepends
) -> list[Optional[ActionedTasks]]:
    """Per network as for one network; empty for an unknown network, null for a foreign one."""

    def actioned(networks):
        taskhubs = n4js.get_taskhubs(networks)
        known = [hub for hub in taskhubs if hub is not None]
        per_hub = iter(n4js.get_taskhub_actioned_tasks(known) if known else [])
        return [_actioned(next(per_hub) if hub is not None else {}, body.task_weights) for hub in taskhubs]

    return apply_permitted(body.networks, token_data, actioned)


@router.post("/tasks/{task_scoped_key}/networks/actioned")
def get_task_actioned_networks(
    task_scoped_key: str, body: TaskWeightsFlag, token_data: UserToken, n4js: N4jsDepends
) -> ActionedTasks:
    """Networks whose TaskHub actions the Task: ``{network: weight}`` with ``task_weights``, else a list."""
    return _actioned(n4js.get_task_actioned_networks(authorized_key(task_scoped_key, token_data, TASK)), body.task_weights)
