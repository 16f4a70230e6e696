"""Argument handling shared by the user client's modules: ScopedKeys in, ScopedKeys out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional, Union

from ..models import ScopedKey

ScopedKeyLike = Union[ScopedKey, str]


def as_scoped_key(value: Union[ScopedKeyLike, dict]) -> ScopedKey:
    """A ScopedKey from a ScopedKey, its string form or its dict form (as servers return them)."""
    if isinstance(value, dict):
        return ScopedKey.from_dict(value)
    return ScopedKey.from_str(value)


def as_scoped_keys(values: Iterable[ScopedKeyLike]) -> list[ScopedKey]:
    if isinstance(values, (str, ScopedKey)):
        raise TypeError("expected a list of ScopedKeys, got a single one; wrap it in a list")
    return [as_scoped_key(value) for value in values]


def optional_scoped_key(value: Any) -> Optional[ScopedKey]:
    return None if value is None else as_scoped_key(value)


def optional_scoped_keys(values: Iterable[Any]) -> list[Optional[ScopedKey]]:
    return [optional_scoped_key(value) for value in values]


def wire_keys(values: Iterable[ScopedKeyLike]) -> list[str]:
    """ScopedKeys as request-body strings, validated here so a typo fails before any request."""
    return [str(key) for key in as_scoped_keys(values)]
