"""Compute service registration, deregistration and heartbeats (with server-side expiry)."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import HTTPException, status

from ...base.api import N4jsDepends
from ...errors import InvalidInputError
from ...storage.models import ComputeServiceRegistration, utcnow
from ..bodies import RegisterComputeServiceBody
from .common import (
    CallerDepends,
    ComputeSettingsDepends,
    check_manager_owner,
    check_service_owner,
    compute_router,
    parse_manager_id,
    parse_service_id,
    require_owned_service,
)

logger = logging.getLogger(__name__)

router = compute_router()


@router.post("/computeservice/{compute_service_id}/register")
def register_computeservice(
    compute_service_id: str, body: RegisterComputeServiceBody, caller: CallerDepends, n4js: N4jsDepends
) -> str:
    """Register a service under the calling identity, optionally as managed by one of its managers."""
    service = parse_service_id(compute_service_id)
    manager_name = None
    if body.compute_manager_id is not None:
        manager = parse_manager_id(body.compute_manager_id)
        if not check_manager_owner(n4js, caller, manager.name, manager.uuid):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"compute manager {manager} is not registered; cannot register compute service {service} "
                "under it",
            )
        manager_name = manager.name
    now = utcnow()
    registration = ComputeServiceRegistration(
        identifier=service, registered=now, heartbeat=now, manager_name=manager_name
    )
    try:
        n4js.register_computeservice(registration, owner=caller.entity)
    except InvalidInputError as e:  # the manager went away meanwhile
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(e)) from e
    return str(service)


@router.post("/computeservice/{compute_service_id}/deregister")
def deregister_computeservice(compute_service_id: str, caller: CallerDepends, n4js: N4jsDepends) -> str:
    """Remove the registration; its running Tasks go back to waiting. Idempotent once it is gone."""
    service = parse_service_id(compute_service_id)
    if check_service_owner(n4js, service, caller):
        n4js.deregister_computeservice(service)
    return str(service)


@router.post("/computeservice/{compute_service_id}/heartbeat")
def heartbeat_computeservice(
    compute_service_id: str, caller: CallerDepends, n4js: N4jsDepends, settings: ComputeSettingsDepends
) -> str:
    """Record the caller's heartbeat, then expire every registration silent for too long.

    The caller's own heartbeat is written first, so a live service is never expired by its own
    heartbeat (upstream expires first).
    """
    service = parse_service_id(compute_service_id)
    require_owned_service(n4js, service, caller)
    now = utcnow()
    if n4js.heartbeat_computeservice(service, now) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"compute service {service} is not registered")
    expire_time = now - timedelta(seconds=settings.ALCHEMISCALE_COMPUTE_API_REGISTRATION_EXPIRE_SECONDS)
    expired = n4js.expire_registrations(expire_time)
    if expired:
        logger.info("expired %d compute service registration(s) without a recent heartbeat", len(expired))
    return str(service)
