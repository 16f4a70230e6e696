"""Compute managers: registration, instructions (how much work there is), status reports, error clearing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import HTTPException, status

from ...base.api import N4jsDepends
from ...errors import InvalidInputError
from ...models import ComputeManagerID
from ...storage.models import ComputeManagerRegistration, ComputeManagerStatus, utcnow
from ..bodies import ComputeManagerInstructionBody, ComputeManagerStatusBody, RegisterComputeManagerBody
from .claims import permitted_scopes
from .common import CallerDepends, ComputeSettingsDepends, check_manager_owner, compute_router, parse_manager_id

router = compute_router()


def _json_data(data: dict[str, Any]) -> dict[str, Any]:
    return {key: ([str(v) for v in value] if isinstance(value, list) else value) for key, value in data.items()}


@router.post("/computemanager/{compute_manager_id}/register")
def register_computemanager(
    compute_manager_id: str, body: RegisterComputeManagerBody, caller: CallerDepends, n4js: N4jsDepends
) -> str:
    """Register a manager under a unique name; ``steal`` replaces the caller's own manager of that name."""
    manager = parse_manager_id(compute_manager_id)
    if check_manager_owner(n4js, caller, manager.name) and not body.steal:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"a compute manager named {manager.name!r} is already registered; use steal=True to replace it",
        )
    now = utcnow()
    registration = ComputeManagerRegistration(
        name=manager.name, uuid=manager.uuid, registered=now, last_status_update=now, status=ComputeManagerStatus.OK
    )
    try:
        n4js.register_computemanager(registration, steal=body.steal, owner=caller.entity)
    except InvalidInputError as e:  # registered by someone else meanwhile
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(e)) from e
    return str(manager)


@router.post("/computemanager/{compute_manager_id}/deregister")
def deregister_computemanager(compute_manager_id: str, caller: CallerDepends, n4js: N4jsDepends) -> str:
    manager = parse_manager_id(compute_manager_id)
    if check_manager_owner(n4js, caller, manager.name, manager.uuid):
        n4js.deregister_computemanager(manager)
    return str(manager)


@router.post("/computemanager/{compute_manager_id}/instruction")
def get_computemanager_instruction(
    compute_manager_id: str,
    body: ComputeManagerInstructionBody,
    caller: CallerDepends,
    n4js: N4jsDepends,
    settings: ComputeSettingsDepends,
) -> dict[str, Any]:
    """``{"instruction": "OK"|"SKIP"|"SHUTDOWN", ...}``; work is counted only in scopes the token grants."""
    manager = parse_manager_id(compute_manager_id)
    check_manager_owner(n4js, caller, manager.name, manager.uuid)  # unregistered: the store says SHUTDOWN
    forgive_time = utcnow() - timedelta(seconds=settings.ALCHEMISCALE_COMPUTE_API_FORGIVE_TIME_SECONDS)
    instruction, data = n4js.get_computemanager_instruction(
        manager,
        permitted_scopes(body.scopes, caller),
        body.protocols,
        forgive_time,
        settings.ALCHEMISCALE_COMPUTE_API_MAX_FAILURES,
    )
    return {"instruction": str(instruction), **_json_data(data)}


@router.post("/computemanager/{compute_manager_id}/status")
def update_computemanager_status(
    compute_manager_id: str,
    body: ComputeManagerStatusBody,
    caller: CallerDepends,
    n4js: N4jsDepends,
    settings: ComputeSettingsDepends,
) -> str:
    """Record the manager's status, then expire managers silent for too long (OK and ERROR apart)."""
    manager = parse_manager_id(compute_manager_id)
    if not check_manager_owner(n4js, caller, manager.name, manager.uuid):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"compute manager {manager} is not registered")
    now = utcnow()
    n4js.update_compute_manager_status(manager, body.status, body.detail, body.saturation, update_time=now)
    n4js.expire_computemanager_registrations(
        now - timedelta(seconds=settings.ALCHEMISCALE_COMPUTE_API_MANAGER_EXPIRE_SECONDS),
        now - timedelta(seconds=settings.ALCHEMISCALE_COMPUTE_API_MANAGER_EXPIRE_SECONDS_ERROR),
    )
    return str(manager)


@router.post("/computemanager/{compute_manager_name}/clear_error")
def clear_computemanager_error(compute_manager_name: str, caller: CallerDepends, n4js: N4jsDepends) -> str:
    """Remove the errored manager called ``compute_manager_name`` (a full manager id also works)."""
    if "-" in compute_manager_name:
        manager = parse_manager_id(compute_manager_name)
    else:
        found = n4js.get_compute_manager_id(compute_manager_name)
        if found is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"no compute manager named {compute_manager_name!r} is registered"
            )
        manager = ComputeManagerID(found)
    check_manager_owner(n4js, caller, manager.name, manager.uuid)  # unregistered: the store raises ValueError
    n4js.clear_errored_computemanager(manager)
    return str(manager)
