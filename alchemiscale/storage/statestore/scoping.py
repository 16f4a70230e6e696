"""Small helpers shared by the state store mixins: ScopedKey coercion, Scope filters, value conversion."""

from __future__ import annotations

from typing import Any, Iterable, Optional, Union

from neo4j.time import DateTime

from ...errors import InvalidInputError, MalformedInputError
from ...models import MAX_INT64, SCOPE_PARTS, Scope, ScopedKey, ScopedKeyLike
from ..models import Task


def as_scoped_key(value: ScopedKeyLike) -> ScopedKey:
    """A ScopedKey from a ScopedKey or its string form; a MalformedInputError names a malformed key."""
    if isinstance(value, ScopedKey):
        return value
    if isinstance(value, str):
        try:
            return ScopedKey.from_str(value)
        except ValueError as e:
            raise MalformedInputError(f"malformed ScopedKey: {e}") from None
    raise InvalidInputError(f"expected a ScopedKey or its string form, got {type(value).__name__}: {value!r}")


def as_scoped_keys(values: Iterable[ScopedKeyLike]) -> list[ScopedKey]:
    if isinstance(values, (str, ScopedKey)):
        raise InvalidInputError(f"expected a list of ScopedKeys, got a single one: {values}")
    return [as_scoped_key(v) for v in values]


def as_scope(scope: Optional[Union[Scope, str]]) -> Scope:
    if scope is None:
        return Scope()
    if isinstance(scope, Scope):
        return scope
    try:
        return Scope.from_str(scope)
    except ValueError as e:
        raise InvalidInputError(f"invalid Scope: {e}") from None


def require_specific(scope: Scope) -> Scope:
    if not scope.specific():
        raise InvalidInputError(f"Scope {scope} has a wildcard; objects can only be stored in a specific Scope")
    return scope


def scope_filter(alias: str, scope: Scope) -> tuple[str, dict[str, str]]:
    """A Cypher condition restricting node ``alias`` to ``scope`` (``true`` for ``*-*-*``), with its parameters."""
    conditions, params = [], {}
    for part in SCOPE_PARTS:
        value = getattr(scope, part)
        if value is not None:
            conditions.append(f"{alias}._{part} = $scope_{part}")
            params[f"scope_{part}"] = value
    return (" AND ".join(conditions) or "true"), params


def scope_props(scope: Scope) -> dict[str, str]:
    """The ``_org``/``_campaign``/``_project`` properties every scoped node and DEPENDS_ON edge carries."""
    return {f"_{part}": getattr(scope, part) for part in SCOPE_PARTS}


def node_props(sk: ScopedKey) -> dict[str, str]:
    """The identity properties of a node holding ``sk``."""
    return {"_scoped_key": str(sk), "_gufe_key": sk.gufe_key, **scope_props(sk.scope)}


def to_native(value: Any) -> Any:
    """Neo4j temporal values as Python datetimes; everything else unchanged."""
    if isinstance(value, DateTime):
        return value.to_native()
    return value


def check_priority(priority: Any) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= MAX_INT64:
        raise InvalidInputError(f"priority must be an integer between 1 and {MAX_INT64}, got {priority!r}")
    return priority


def check_weight(weight: Any, what: str = "weight") -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        raise InvalidInputError(f"{what} must be a number between 0 and 1, got {weight!r}")
    return float(weight)


def ordered(keys: list[ScopedKey], found: dict[str, Any]) -> list[Any]:
    """Values of ``found`` (keyed by ScopedKey string) in the order of ``keys``; None where absent."""
    return [found.get(str(k)) for k in keys]


def task_from_props(props: dict) -> Task:
    """A Task model from a Task node's properties."""
    return Task(
        uuid=props["_gufe_key"].split("-", 1)[1],
        status=props["status"],
        priority=props["priority"],
        datetime_created=to_native(props["datetime_created"]),
        creator=props.get("creator"),
        extends=props.get("extends"),
        claim=props.get("claim"),
    )
