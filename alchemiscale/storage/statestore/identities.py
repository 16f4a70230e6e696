"""State store: credentialed identities (users and compute services) and their scopes.

Each identity is one node labelled ``CredentialedEntity`` plus its class name, keyed by
``identifier``. Labels come only from the fixed set of credential classes; every value supplied
by a caller travels as a query parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, Union

from ...errors import InvalidInputError, NotFoundError
from ...models import Scope
from ...security.models import CREDENTIAL_CLASSES, CredentialedEntity

EntityT = TypeVar("EntityT", bound=CredentialedEntity)


def _label(cls: type[CredentialedEntity]) -> str:
    """The node label of a credential class; refuses anything outside the known classes."""
    name = getattr(cls, "__name__", None)
    if CREDENTIAL_CLASSES.get(name) is not cls:
        raise InvalidInputError(
            f"{cls!r} is not a credential class; expected one of {sorted(CREDENTIAL_CLASSES)}"
        )
    return name


def _scope_str(scope: Union[Scope, str]) -> str:
    return str(scope if isinstance(scope, Scope) else Scope.from_str(scope))


def _from_node(cls: type[EntityT], props: dict[str, Any]) -> EntityT:
    values = dict(props)
    expires = values.get("expires")
    if expires is not None and not isinstance(expires, datetime):
        values["expires"] = expires.to_native()
    return cls(**values)


class IdentitiesMixin:
    def create_credentialed_entity(self, entity: CredentialedEntity) -> None:
        """Store ``entity``, replacing every property of an existing one with the same identifier."""
        label = _label(type(entity))
        props = {key: value for key, value in entity.model_dump().items() if value is not None}
        self.execute_query(
            f"MERGE (n:{label} {{identifier: $identifier}}) SET n = $props, n:CredentialedEntity",
            {"identifier": entity.identifier, "props": props},
        )

    def get_credentialed_entity(self, identifier: str, cls: type[EntityT]) -> EntityT:
        label = _label(cls)
        records = self.execute_query(
            f"MATCH (n:{label}:CredentialedEntity {{identifier: $identifier}}) RETURN properties(n) AS props",
            {"identifier": identifier},
        )
        if not records:
            raise NotFoundError(f"no {label} with identifier {identifier!r}")
        return _from_node(cls, records[0]["props"])

    def list_credentialed_entities(self, cls: type[CredentialedEntity]) -> list[str]:
        label = _label(cls)
        records = self.execute_query(
            f"MATCH (n:{label}:CredentialedEntity) RETURN n.identifier AS identifier ORDER BY identifier"
        )
        return [record["identifier"] for record in records]

    def remove_credentialed_identity(self, identifier: str, cls: type[CredentialedEntity]) -> None:
        label = _label(cls)
        records = self.execute_query(
            f"MATCH (n:{label}:CredentialedEntity {{identifier: $identifier}}) "
            "DETACH DELETE n RETURN count(*) AS removed",
            {"identifier": identifier},
        )
        if not records or records[0]["removed"] == 0:
            raise NotFoundError(f"no {label} with identifier {identifier!r}")

    def add_scope(self, identifier: str, cls: type[CredentialedEntity], scope: Union[Scope, str]) -> None:
        """Grant ``scope``; granting one already held changes nothing."""
        self._update_scopes(
            identifier,
            cls,
            "CASE WHEN $scope IN coalesce(n.scopes, []) THEN n.scopes "
            "ELSE coalesce(n.scopes, []) + $scope END",
            _scope_str(scope),
        )

    def list_scopes(self, identifier: str, cls: type[CredentialedEntity]) -> list[Scope]:
        return [Scope.from_str(scope) for scope in self.get_credentialed_entity(identifier, cls).scopes]

    def remove_scope(self, identifier: str, cls: type[CredentialedEntity], scope: Union[Scope, str]) -> None:
        """Revoke ``scope``; revoking one not held changes nothing."""
        self._update_scopes(
            identifier, cls, "[s IN coalesce(n.scopes, []) WHERE s <> $scope]", _scope_str(scope)
        )

    def _update_scopes(
        self, identifier: str, cls: type[CredentialedEntity], new_scopes: str, scope: str
    ) -> None:
        label = _label(cls)
        records = self.execute_query(
            f"MATCH (n:{label}:CredentialedEntity {{identifier: $identifier}}) "
            f"SET n.scopes = {new_scopes} RETURN n.identifier AS identifier",
            {"identifier": identifier, "scope": scope},
        )
        if not records:
            raise NotFoundError(f"no {label} with identifier {identifier!r}")
