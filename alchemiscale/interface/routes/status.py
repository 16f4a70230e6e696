"""Task statuses, and status counts per scope, network and Transformation."""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import Body, HTTPException, status

from ...base.api import N4jsDepends, parse_scope, validate_scopes_query
from ...errors import NotFoundError
from ...storage.models import TaskStatusEnum
from ...storage.statestore.status import check_task_status
from ..bodies import NetworksBody, TasksBody, TaskStatusBody
from .common import NETWORK, TASK, UserToken, apply_permitted, authorized_key, sk_str, sk_strs, user_router

USER_SETTABLE_STATUSES = (TaskStatusEnum.waiting, TaskStatusEnum.invalid, TaskStatusEnum.deleted)

router = user_router()


def user_settable_status(requested: str) -> str:
    """The status if users may set it (waiting, invalid, deleted); 400 otherwise."""
    value = check_task_status(requested)
    if value not in USER_SETTABLE_STATUSES:
        allowed = ", ".join(USER_SETTABLE_STATUSES)
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"users may only set a Task's status to one of: {allowed}; {value!r} is set by compute services",
        )
    return value


@router.get("/tasks/{task_scoped_key}/status")
def get_task_status(task_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> str:
    sk = authorized_key(task_scoped_key, token_data, TASK)
    current = n4js.get_task_status([sk])[0]
    if current is None:
        raise NotFoundError(f"no Task with ScopedKey {sk} in the state store")
    return current


@router.post("/tasks/{task_scoped_key}/status")
def set_task_status(
    task_scoped_key: str, task_status: Annotated[str, Body()], token_data: UserToken, n4js: N4jsDepends
) -> Optional[str]:
    """Set the status; null if the Task's current status does not allow the change."""
    sk = authorized_key(task_scoped_key, token_data, TASK)
    target = user_settable_status(task_status)
    changed = n4js.set_task_status([sk], target)[0]
    if changed is None and n4js.get_task_status([sk])[0] is None:
        raise NotFoundError(f"no Task with ScopedKey {sk} in the state store")
    return sk_str(changed)


@router.post("/bulk/tasks/status/get")
def get_tasks_status(body: TasksBody, token_data: UserToken, n4js: N4jsDepends) -> list[Optional[str]]:
    return apply_permitted(body.tasks, token_data, n4js.get_task_status)


@router.post("/bulk/tasks/status/set")
def set_tasks_status(body: TaskStatusBody, token_data: UserToken, n4js: N4jsDepends) -> list[Optional[str]]:
    target = user_settable_status(body.status)
    return sk_strs(apply_permitted(body.tasks, token_data, lambda keys: n4js.set_task_status(keys, target)))


@router.get("/scopes/{scope}/status")
def get_scope_status(
    scope: str, token_data: UserToken, n4js: N4jsDepends, network_state: Optional[str] = None
) -> dict[str, int]:
    """``{status: count}`` over the Tasks of networks whose state matches the ``network_state`` regex
    (absent: any state, as upstream; clients send ``active`` by default), summed over the parts of
    ``scope`` the token may see."""
    counts: dict[str, int] = {}
    for permitted in validate_scopes_query(parse_scope(scope), token_data):
        for task_status, count in n4js.get_scope_status(permitted, network_state=network_state).items():
            counts[task_status] = counts.get(task_status, 0) + count
    return counts


@router.get("/networks/{network_scoped_key}/status")
def get_network_status(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> dict[str, int]:
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    counts = n4js.get_network_status([sk])[0]
    if not counts and not n4js.check_existence(sk):
        raise NotFoundError(f"no AlchemicalNetwork with ScopedKey {sk} in the state store")
    return counts


@router.post("/bulk/networks/status")
def get_networks_status(body: NetworksBody, token_data: UserToken, n4js: N4jsDepends) -> list[Optional[dict[str, int]]]:
    """Status counts per network: an empty dict for an unknown network, null for a foreign one."""
    return apply_permitted(body.networks, token_data, n4js.get_network_status)


@router.get("/transformations/{transformation_scoped_key}/status")
def get_transformation_status(
    transformation_scoped_key: str, token_data: UserToken, n4js: N4jsDepends
) -> dict[str, int]:
    return n4js.get_transformation_status(authorized_key(transformation_scoped_key, token_data))
