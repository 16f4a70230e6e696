"""Tasks: creation, queries, relations, priorities, attempt history and failure tracebacks."""

from __future__ import annotations

from typing import Annotated, Any, Optional, Union

from fastapi import Depends

from ...base.api import N4jsDepends, scope_params, validate_scopes
from ...models import Scope
from ...storage.statestore.scoping import check_priority
from ..bodies import BulkTaskCreation, TaskCreation, TaskPriorityBody, TasksBody
from .common import (
    NETWORK,
    TASK,
    UserToken,
    apply_permitted,
    authorized_key,
    query_scopes,
    require_authorized,
    sk_str,
    sk_strs,
    user_router,
)

router = user_router()


@router.post("/transformations/{transformation_scoped_key}/tasks")
def create_tasks(
    transformation_scoped_key: str, body: TaskCreation, token_data: UserToken, n4js: N4jsDepends
) -> list[str]:
    """Create ``count`` waiting Tasks (not actioned) for a Transformation; the caller is their creator."""
    sk = authorized_key(transformation_scoped_key, token_data)
    if body.extends is not None:
        validate_scopes(body.extends.scope, token_data)
    tasks = n4js.create_tasks([sk] * body.count, extends=[body.extends] * body.count, creator=token_data.entity)
    return sk_strs(tasks)


@router.post("/bulk/transformations/tasks/create")
def create_transformations_tasks(body: BulkTaskCreation, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    """One Task per listed Transformation (a Transformation listed twice gets two)."""
    transformations = require_authorized(body.transformations, token_data)
    if body.extends is not None:
        require_authorized([e for e in body.extends if e is not None], token_data)
    return sk_strs(n4js.create_tasks(transformations, extends=body.extends, creator=token_data.entity))


@router.get("/tasks")
def query_tasks(
    token_data: UserToken,
    n4js: N4jsDepends,
    scope: Annotated[Scope, Depends(scope_params)],
    status: Optional[str] = None,
) -> list[str]:
    return query_scopes(scope, token_data, lambda s: n4js.query_tasks(status=status, scope=s))


@router.get("/networks/{network_scoped_key}/tasks")
def get_network_tasks(
    network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends, status: Optional[str] = None
) -> list[str]:
    return sk_strs(n4js.get_network_tasks(authorized_key(network_scoped_key, token_data, NETWORK), status=status))


@router.get("/tasks/{task_scoped_key}/networks")
def get_task_networks(task_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    return sk_strs(n4js.get_task_networks(authorized_key(task_scoped_key, token_data, TASK)))


@router.get("/transformations/{transformation_scoped_key}/tasks")
def get_transformation_tasks(
    transformation_scoped_key: str,
    token_data: UserToken,
    n4js: N4jsDepends,
    extends: Optional[str] = None,
    return_as: str = "list",
    status: Optional[str] = None,
) -> Union[list[str], dict[str, Optional[str]]]:
    """Tasks of a Transformation (optionally only those extending ``extends``, transitively).

    ``return_as=graph`` gives ``{task: task it extends or null}``.
    """
    sk = authorized_key(transformation_scoped_key, token_data)
    extends_sk = authorized_key(extends, token_data) if extends is not None else None
    tasks = n4js.get_transformation_tasks(sk, extends=extends_sk, return_as=return_as, status=status)
    if isinstance(tasks, dict):
        return {str(task): sk_str(previous) for task, previous in tasks.items()}
    return sk_strs(tasks)


@router.get("/tasks/{task_scoped_key}/transformation")
def get_task_transformation(task_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> str:
    return str(n4js.get_task_transformation(authorized_key(task_scoped_key, token_data, TASK)))


@router.post("/bulk/tasks/priority/get")
def get_tasks_priority(body: TasksBody, token_data: UserToken, n4js: N4jsDepends) -> list[Optional[int]]:
    return apply_permitted(body.tasks, token_data, n4js.get_task_priority)


@router.post("/bulk/tasks/priority/set")
def set_tasks_priority(body: TaskPriorityBody, token_data: UserToken, n4js: N4jsDepends) -> list[Optional[str]]:
    """Set the priority (1 is most urgent, at most 2**63-1) of each Task; null for unknown or foreign Tasks."""
    priority = check_priority(body.priority)
    return sk_strs(apply_permitted(body.tasks, token_data, lambda keys: n4js.set_task_priority(keys, priority)))


@router.get("/tasks/{task_scoped_key}/history")
def get_task_history(task_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[dict[str, Any]]:
    """Every claim of the Task, oldest first: compute service, claim and end times, outcome, result."""
    history = n4js.get_task_history(authorized_key(task_scoped_key, token_data, TASK))
    return [{**attempt, "result_ref": sk_str(attempt["result_ref"])} for attempt in history]


@router.post("/bulk/tasks/tracebacks")
def get_tasks_tracebacks(
    body: TasksBody, token_data: UserToken, n4js: N4jsDepends
) -> list[Optional[list[dict[str, Any]]]]:
    """For each Task, the tracebacks of each failed result (oldest first), without downloading results."""
    per_task = apply_permitted(body.tasks, token_data, n4js.get_task_tracebacks)
    return [
        None if failures is None else [{**failure, "result_ref": str(failure["result_ref"])} for failure in failures]
        for failures in per_task
    ]
