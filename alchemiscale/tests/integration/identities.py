"""Credentialed identities for integration tests.

bcrypt is slow by design, so each key is hashed once per test process. Free of gufe, so tests of
the gufe-free servers may use it too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from alchemiscale.security.auth import create_access_token, hash_key
from alchemiscale.security.models import CredentialedEntity
from alchemiscale.storage.statestore import Neo4jStore

TEST_KEY = "a test identity key that is long enough"


@lru_cache(maxsize=None)
def hashed_key(key: str) -> str:
    return hash_key(key)


def make_identity(
    store: Neo4jStore,
    cls: type[CredentialedEntity],
    identifier: str,
    scopes: Iterable[str],
    key: str = TEST_KEY,
) -> str:
    """Store a ``cls`` identity holding ``scopes`` that logs in with ``key``; returns the key."""
    store.create_credentialed_entity(cls(identifier=identifier, hashed_key=hashed_key(key), scopes=list(scopes)))
    return key


def mint_token(
    secret: str,
    identifier: str,
    scopes: list[str],
    entity_type: str = "CredentialedUserIdentity",
    expires_seconds: int = 600,
) -> str:
    """A signed access token, as ``POST /token`` would issue (negative lifetimes make expired ones)."""
    return create_access_token(
        data={"sub": identifier, "scopes": scopes, "entity_type": entity_type},
        secret_key=secret,
        expires_seconds=expires_seconds,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
