"""Scopes, ScopedKeys and service identifiers.

These are the addressing scheme of the whole system: every object the servers hold lives in
one ``org-campaign-project`` Scope and is named by a ScopedKey. They are pure data, shared by
servers and clients, and never import gufe.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

_SCOPE_PART = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")
_QUALNAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TOKEN = re.compile(r"[a-zA-Z0-9_]+")
_SERVICE_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_.:]*")
_UUID_HEX = re.compile(r"[0-9a-f]{32}")

SCOPE_PARTS = ("org", "campaign", "project")

# The largest integer Neo4j stores: the bound of every stored count, interval and priority.
MAX_INT64 = 2**63 - 1


def _normalize(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def _check_scope_part(name: str, value: Optional[str]) -> Optional[str]:
    if value is None or value == "*":
        return None
    if not isinstance(value, str):
        raise ValueError(f"Scope {name} must be a string, got {type(value).__name__}")
    value = _normalize(value)
    if not _SCOPE_PART.fullmatch(value):
        raise ValueError(
            f"invalid Scope {name} {value!r}: must start with an ASCII letter and contain only "
            "ASCII letters, digits and underscores (or be '*')"
        )
    return value


class Scope(BaseModel):
    """An ``org-campaign-project`` namespace; ``None`` (written ``*``) is a trailing wildcard."""

    model_config = ConfigDict(frozen=True)

    org: Optional[str] = None
    campaign: Optional[str] = None
    project: Optional[str] = None

    def __init__(self, org: Optional[str] = None, campaign: Optional[str] = None,
                 project: Optional[str] = None, **kwargs: Any):
        super().__init__(org=org, campaign=campaign, project=project, **kwargs)

    @field_validator("org", "campaign", "project", mode="before")
    @classmethod
    def _validate_part(cls, value, info):
        return _check_scope_part(info.field_name, value)

    @model_validator(mode="after")
    def _wildcards_trailing(self):
        if self.org is None and (self.campaign is not None or self.project is not None):
            raise ValueError(f"invalid Scope {self}: org is '*' so campaign and project must be '*' too")
        if self.campaign is None and self.project is not None:
            raise ValueError(f"invalid Scope {self}: campaign is '*' so project must be '*' too")
        return self

    def __str__(self) -> str:
        return "-".join(part if part is not None else "*" for part in self.to_tuple())

    def __repr__(self) -> str:
        return f"<Scope('{self}')>"

    def __lt__(self, other: "Scope") -> bool:
        return str(self) < str(other)

    def __hash__(self) -> int:
        return hash(self.to_tuple())

    def to_tuple(self) -> tuple[Optional[str], Optional[str], Optional[str]]:
        return (self.org, self.campaign, self.project)

    def to_dict(self) -> dict[str, Optional[str]]:
        return {"org": self.org, "campaign": self.campaign, "project": self.project}

    @classmethod
    def from_str(cls, string: str) -> "Scope":
        if not isinstance(string, str):
            raise ValueError(f"Scope string must be a str, got {type(string).__name__}")
        parts = string.split("-")
        if len(parts) != 3:
            raise ValueError(
                f"invalid Scope string {string!r}: expected 'org-campaign-project' (3 parts separated by '-'), "
                f"got {len(parts)} part(s)"
            )
        return cls(*parts)

    def specific(self) -> bool:
        """True when no part is a wildcard, i.e. the Scope can hold objects."""
        return None not in self.to_tuple()

    def is_superset(self, other: "Scope") -> bool:
        """True if every object in ``other`` is also in this Scope (non-strict)."""
        return all(
            mine is None or mine == theirs
            for mine, theirs in zip(self.to_tuple(), other.to_tuple())
        )


def minimize_scopes(scopes: list[Scope]) -> list[Scope]:
    """Drop every scope that is covered by another one in the list."""
    unique = sorted(set(scopes))
    return [s for s in unique if not any(o != s and o.is_superset(s) for o in unique)]


def validate_gufe_key(key: str) -> str:
    """Check a gufe key (``<Qualname>-<token>``) and return it NFC-normalized."""
    if not isinstance(key, str):
        raise ValueError(f"gufe key must be a str, got {type(key).__name__}")
    key = _normalize(key)
    prefix, sep, token = key.partition("-")
    if not sep or not _QUALNAME.fullmatch(prefix) or not _TOKEN.fullmatch(token):
        raise ValueError(
            f"invalid gufe key {key!r}: expected '<ClassName>-<token>' using only ASCII letters, digits "
            "and underscores"
        )
    return key


class ScopedKey(BaseModel):
    """A gufe key placed in a specific Scope: ``{Qualname}-{token}-{org}-{campaign}-{project}``."""

    model_config = ConfigDict(frozen=True)

    gufe_key: str
    org: str
    campaign: str
    project: str

    @field_validator("gufe_key", mode="before")
    @classmethod
    def _validate_gufe_key(cls, value):
        return validate_gufe_key(value)

    @field_validator("org", "campaign", "project", mode="before")
    @classmethod
    def _validate_part(cls, value, info):
        part = _check_scope_part(info.field_name, value)
        if part is None:
            raise ValueError(f"ScopedKey {info.field_name} must be specific, not a wildcard")
        return part

    def __str__(self) -> str:
        return f"{self.gufe_key}-{self.org}-{self.campaign}-{self.project}"

    def __repr__(self) -> str:
        return f"<ScopedKey('{self}')>"

    def __lt__(self, other: "ScopedKey") -> bool:
        return str(self) < str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def scope(self) -> Scope:
        return Scope(self.org, self.campaign, self.project)

    @property
    def qualname(self) -> str:
        return self.gufe_key.split("-", 1)[0]

    @classmethod
    def from_str(cls, string: str) -> "ScopedKey":
        if isinstance(string, ScopedKey):
            return string
        if not isinstance(string, str):
            raise ValueError(f"ScopedKey string must be a str, got {type(string).__name__}")
        parts = _normalize(string).split("-")
        if len(parts) != 5:
            raise ValueError(
                f"invalid ScopedKey {string!r}: expected '<ClassName>-<token>-<org>-<campaign>-<project>' "
                f"(5 parts separated by '-'), got {len(parts)} part(s)"
            )
        qualname, token, org, campaign, project = parts
        return cls(gufe_key=f"{qualname}-{token}", org=org, campaign=campaign, project=project)

    @classmethod
    def from_dict(cls, dct: dict) -> "ScopedKey":
        return cls(**dct)

    def to_dict(self) -> dict[str, str]:
        return self.model_dump()


# What methods taking a ScopedKey accept: the key or its string form.
ScopedKeyLike = Union[ScopedKey, str]


class _NamedUUID(str):
    """A ``{name}-{uuid4 hex}`` identifier; ``-`` is reserved as the separator."""

    kind = "identifier"

    def __new__(cls, value: str):
        if not isinstance(value, str):
            raise ValueError(f"{cls.__name__} must be a str, got {type(value).__name__}")
        name, sep, hexpart = value.rpartition("-")
        if not sep or not _SERVICE_NAME.fullmatch(name):
            raise ValueError(
                f"invalid {cls.__name__} {value!r}: expected '<name>-<uuid4 hex>' where the name starts with "
                "an ASCII letter and contains only letters, digits, '_', '.' and ':'"
            )
        if not _UUID_HEX.fullmatch(hexpart):
            raise ValueError(f"invalid {cls.__name__} {value!r}: {hexpart!r} is not a 32-digit lowercase uuid hex")
        return super().__new__(cls, value)

    @classmethod
    def new_from_name(cls, name: str):
        if not isinstance(name, str) or not _SERVICE_NAME.fullmatch(name):
            raise ValueError(
                f"invalid {cls.__name__} name {name!r}: must start with an ASCII letter and contain only "
                "letters, digits, '_', '.' and ':' (no '-')"
            )
        return cls(f"{name}-{uuid.uuid4().hex}")

    @property
    def name(self) -> str:
        return self.rpartition("-")[0]

    @property
    def uuid(self) -> str:
        return self.rpartition("-")[2]


class ComputeServiceID(_NamedUUID):
    """Identifier of one running compute service."""


class ComputeManagerID(_NamedUUID):
    """Identifier of one running compute manager."""
