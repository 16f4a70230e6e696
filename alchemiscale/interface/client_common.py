"""Argument handling shared by the user client's modules: ScopedKeys in, ScopedKeys out."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Optional, TypeVar, Union

from ..models import ScopedKey, ScopedKeyLike

Method = TypeVar("Method", bound=Callable[..., Any])


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


def network_scoped_key_alias(method: Method) -> Method:
    """Let ``method`` take its ``network`` argument as ``network_scoped_key=`` too, upstream's name for it."""

    @functools.wraps(method)
    def wrapper(self, *args: Any, **kwargs: Any) -> Any:
        if "network_scoped_key" in kwargs:
            if "network" in kwargs:
                raise TypeError(f"{method.__name__}() got both 'network' and 'network_scoped_key'; pass one")
            kwargs["network"] = kwargs.pop("network_scoped_key")
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
