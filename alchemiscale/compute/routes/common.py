"""Pieces every compute API router uses: the router factory, settings, id parsing and ownership.

Ownership: the compute identity that registers a compute service (or compute manager) is recorded
on the registration as ``identity``; any later action naming that service or manager must come from
the same identity (403 otherwise). Upstream checks nothing here, so any compute identity could
deregister, heartbeat or claim for any other's services.
"""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Depends, HTTPException, status

from ...base.api import GzipRoute, N4jsDepends, error_message, require_credential_class
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
    return APIRouter(route_class=GzipRoute, dependencies=[Depends(compute_token)])


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

_SET_SERVICE_OWNER = """
MATCH (csr:ComputeServiceRegistration {identifier: $identifier})
SET csr.identity = $identity
"""

_SERVICE_OWNER = """
MATCH (csr:ComputeServiceRegistration {identifier: $identifier})
RETURN csr.identity AS identity
"""

_SET_MANAGER_OWNER = """
MATCH (cmr:ComputeManagerRegistration {name: $name, uuid: $uuid})
SET cmr.identity = $identity
"""

_MANAGER_OWNER = """
MATCH (cmr:ComputeManagerRegistration {name: $name})
WHERE $uuid IS NULL OR cmr.uuid = $uuid
RETURN cmr.identity AS identity
"""


class Unregistered:
    """Marker: the service or manager has no registration (never registered, or expired)."""


UNREGISTERED = Unregistered()


def record_service_owner(n4js: Neo4jStore, service: ComputeServiceID, identity: str) -> None:
    n4js.execute_query(_SET_SERVICE_OWNER, {"identifier": str(service), "identity": identity})


def service_owner(n4js: Neo4jStore, service: ComputeServiceID) -> Optional[str] | Unregistered:
    records = n4js.execute_query(_SERVICE_OWNER, {"identifier": str(service)})
    return records[0]["identity"] if records else UNREGISTERED


def record_manager_owner(n4js: Neo4jStore, manager: ComputeManagerID, identity: str) -> None:
    n4js.execute_query(_SET_MANAGER_OWNER, {"name": manager.name, "uuid": manager.uuid, "identity": identity})


def manager_owner(
    n4js: Neo4jStore, name: str, uuid: Optional[str] = None
) -> Optional[str] | Unregistered:
    """The identity owning the manager called ``name`` (with ``uuid``, if given)."""
    records = n4js.execute_query(_MANAGER_OWNER, {"name": name, "uuid": uuid})
    return records[0]["identity"] if records else UNREGISTERED


def refuse_foreign(owner: Optional[str] | Unregistered, caller: TokenData, what: str) -> None:
    """403 unless ``caller`` owns a registered ``what`` (a registration without owner is foreign too)."""
    if not isinstance(owner, Unregistered) and owner != caller.entity:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"{what} was registered by another compute identity; only that identity may act on it",
        )


def require_owned_service(n4js: N4jsDepends, service: ComputeServiceID, caller: TokenData) -> None:
    """404 if the service is not registered, 403 if another identity registered it."""
    owner = service_owner(n4js, service)
    if isinstance(owner, Unregistered):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"compute service {service} is not registered (it may have expired); register it again",
        )
    refuse_foreign(owner, caller, f"compute service {service}")
