"""Pieces every compute API router uses: the router factory, settings, id parsing and ownership.

Ownership: the state store records the compute identity that registers a compute service (or
compute manager) as the registration's owner; any later action naming that service or manager must
come from the same identity (403 otherwise). Upstream checks nothing here, so any compute identity could
deregister, heartbeat or claim for any other's services.
"""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Depends, HTTPException, status

from ...base.api import error_message, require_credential_class
from ...errors import NotFoundError
from ...models import ComputeManagerID, ComputeServiceID
from ...security.models import CredentialedComputeIdentity, TokenData
from ...settings import ComputeAPISettings, get_compute_api_settings
from ...storage.statestore import Neo4jStore

API_NAME = "AlchemiscaleComputeAPI"

compute_token = require_credential_class(CredentialedComputeIdentity)
CallerDepends = Annotated[TokenData, Depends(compute_token)]


def get_compute_api_settings_depends() -> ComputeAPISettings:
    return get_compute_api_settings()


ComputeSettingsDepends = Annotated[ComputeAPISettings, Depends(get_compute_api_settings_depends)]


def compute_router() -> APIRouter:
    """A router whose routes accept only tokens issued to compute identities."""
    return APIRouter(dependencies=[Depends(compute_token)])


def parse_service_id(value: str) -> ComputeServiceID:
    """A ComputeServiceID from a path or body value; 422 naming the problem if malformed."""
    try:
        return ComputeServiceID(value)
    except ValueError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=error_message(e)) from e


def parse_manager_id(value: str) -> ComputeManagerID:
    try:
        return ComputeManagerID(value)
    except ValueError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=error_message(e)) from e


# --- ownership ----------------------------------------------------------------------------


def refuse_foreign(owner: Optional[str], caller: TokenData, what: str) -> None:
    """403 unless ``caller`` owns ``what`` (a registration without owner is foreign too)."""
    if owner != caller.entity:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"{what} was registered by another compute identity; only that identity may act on it",
        )


def check_service_owner(n4js: Neo4jStore, service: ComputeServiceID, caller: TokenData) -> bool:
    """403 if another identity registered ``service``; returns whether it is registered (False once expired)."""
    try:
        owner = n4js.get_compute_service_owner(service)
    except NotFoundError:
        return False
    refuse_foreign(owner, caller, f"compute service {service}")
    return True


def require_owned_service(n4js: Neo4jStore, service: ComputeServiceID, caller: TokenData) -> None:
    """404 if the service is not registered, 403 if another identity registered it."""
    if not check_service_owner(n4js, service, caller):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"compute service {service} is not registered (it may have expired); register it again",
        )


def check_manager_owner(n4js: Neo4jStore, caller: TokenData, name: str, uuid: Optional[str] = None) -> bool:
    """403 if another identity registered the manager called ``name`` (with ``uuid``, if given);
    returns whether it is registered."""
    try:
        owner = n4js.get_compute_manager_owner(name, uuid)
    except NotFoundError:
        return False
    what = f"compute manager name {name!r}" if uuid is None else f"compute manager {name}-{uuid}"
    refuse_foreign(owner, caller, what)
    return True
