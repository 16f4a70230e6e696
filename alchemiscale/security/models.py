"""Identities that may log in, and the contents of the tokens they receive.

Scopes are kept as strings (``org-campaign-project``) so that they serialize directly into JWT
claims and Neo4j list properties; every string is normalized through :class:`Scope` on the way in,
so a malformed scope can never be stored or granted.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from pydantic import BaseModel, field_validator

from ..models import Scope


def _normalize_scopes(scopes: list) -> list[str]:
    normalized: list[str] = []
    for scope in scopes:
        text = str(scope if isinstance(scope, Scope) else Scope.from_str(scope))
        if text not in normalized:
            normalized.append(text)
    return normalized


class Token(BaseModel):
    """What ``POST /token`` returns."""

    access_token: str
    token_type: str = "bearer"


class TokenData(BaseModel):
    """The verified claims of a bearer token: who it was issued to and the scopes it grants.

    ``entity_type`` is the credential class the token was issued for, so an app can refuse a
    token minted by another app that shares its signing key.
    """

    entity: str
    scopes: list[str] = []
    entity_type: Optional[str] = None

    @field_validator("scopes", mode="before")
    @classmethod
    def _scopes(cls, value):
        return _normalize_scopes(value or [])


class CredentialedEntity(BaseModel):
    """Anything that authenticates with an identifier and a (bcrypt-hashed) key."""

    identifier: str
    hashed_key: str
    scopes: list[str] = []
    disabled: bool = False
    expires: Optional[datetime] = None

    @field_validator("identifier")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value or "\x00" in value:
            raise ValueError("identifier must be a non-empty string without NUL characters")
        return value

    @field_validator("scopes", mode="before")
    @classmethod
    def _scopes(cls, value):
        return _normalize_scopes(value or [])

    @field_validator("expires")
    @classmethod
    def _expires_utc(cls, value: Optional[datetime]) -> Optional[datetime]:
        """Naive datetimes are taken as UTC so that expiry comparisons are well defined."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value

    def is_expired(self, now: Optional[datetime] = None) -> bool:
        if self.expires is None:
            return False
        return self.expires <= (now or datetime.now(timezone.utc))


class CredentialedUserIdentity(CredentialedEntity):
    """A person using the user API."""

    email: Optional[str] = None
    full_name: Optional[str] = None


class CredentialedComputeIdentity(CredentialedEntity):
    """A compute service (or a fleet of them) using the compute API."""

    email: Optional[str] = None


CREDENTIAL_CLASSES: dict[str, type[CredentialedEntity]] = {
    cls.__name__: cls for cls in (CredentialedUserIdentity, CredentialedComputeIdentity)
}
