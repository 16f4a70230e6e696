"""Key hashing, bearer tokens, authentication and scope authorization.

Keys are hashed with bcrypt (cost 12, ``$2b$`` prefix). Like passlib, which earlier deployments
used, only the first 72 bytes of a key's UTF-8 encoding take part (bcrypt ignores the rest, and
bcrypt >= 5 refuses longer input), so hashes made by passlib keep verifying.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import TYPE_CHECKING, Any, Iterable, Optional, Protocol, TypeVar, Union

import bcrypt
from jose import ExpiredSignatureError, JWTError, jwt

from ..errors import NotFoundError
from ..models import Scope, minimize_scopes
from .models import CredentialedEntity, TokenData

if TYPE_CHECKING:  # pragma: no cover
    from ..settings import JWTSettings

BCRYPT_ROUNDS = 12
BCRYPT_PREFIX = b"2b"
BCRYPT_MAX_BYTES = 72
MAX_KEY_LENGTH = 4096

EntityT = TypeVar("EntityT", bound=CredentialedEntity)

# Tokens already verified, with their expiry: each request checks its token up to three times (body
# limits, idempotency, the route's dependency) and a client sends the same token for many
# requests, while one signature check costs about as much as the rest of a small request.
VERIFIED_TOKENS_KEPT = 4096


class InvalidTokenError(Exception):
    """A bearer token that cannot be trusted: malformed, badly signed, expired or incomplete."""


class CredentialStore(Protocol):
    def get_credentialed_entity(self, identifier: str, cls: type[EntityT]) -> EntityT: ...


def _key_bytes(key: str) -> bytes:
    if not isinstance(key, str):
        raise ValueError(f"key must be a str, got {type(key).__name__}")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key is too long: {len(key)} characters, at most {MAX_KEY_LENGTH} allowed")
    if "\x00" in key:
        raise ValueError("key must not contain NUL characters")
    return key.encode("utf-8")[:BCRYPT_MAX_BYTES]


def hash_key(key: str) -> str:
    """Salted bcrypt hash of ``key``, in modular crypt format (``$2b$12$...``)."""
    salt = bcrypt.gensalt(rounds=BCRYPT_ROUNDS, prefix=BCRYPT_PREFIX)
    return bcrypt.hashpw(_key_bytes(key), salt).decode("ascii")


def verify_key(key: str, hashed_key: str) -> bool:
    """True if ``key`` matches ``hashed_key``; False for a wrong key, a key that could never have
    been hashed, or an unreadable hash."""
    try:
        return bcrypt.checkpw(_key_bytes(key), hashed_key.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError, AttributeError):
        return False


@cache
def _dummy_hash() -> str:
    return hash_key(secrets.token_hex(16))


def generate_secret_key() -> str:
    """A random 256-bit hex key, suitable as ``JWT_SECRET_KEY``."""
    return secrets.token_hex(32)


def create_access_token(
    *, data: dict[str, Any], secret_key: str, expires_seconds: int, jwt_algorithm: str = "HS256"
) -> str:
    """Sign ``data`` (which should hold ``sub`` and ``scopes``) with an ``exp`` claim added."""
    if "sub" not in data:
        raise ValueError("token data must contain a 'sub' claim naming the entity")
    claims = dict(data)
    claims["exp"] = datetime.now(timezone.utc) + timedelta(seconds=expires_seconds)
    return jwt.encode(claims, secret_key, algorithm=jwt_algorithm)


class _VerifiedTokens:
    """Claims of tokens whose signature verified, kept until the token expires (oldest dropped first)."""

    def __init__(self, size: int):
        self.size = size
        self._entries: dict[tuple[str, str, str], tuple[TokenData, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> Optional[TokenData]:
        entry = self._entries.get(key)
        if entry is None or time.time() >= entry[1]:
            return None
        return entry[0]

    def put(self, key: tuple[str, str, str], token_data: TokenData, expires: float) -> None:
        with self._lock:
            while len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (token_data, expires)


_verified_tokens = _VerifiedTokens(VERIFIED_TOKENS_KEPT)


def decode_token(token: str, secret_key: str, jwt_algorithm: str = "HS256") -> TokenData:
    """Verify signature and expiry of ``token`` and return its claims; raise InvalidTokenError.

    A token verified before with the same key and algorithm is not verified again until it expires.
    """
    cache_key = (token, secret_key, jwt_algorithm)
    known = _verified_tokens.get(cache_key)
    if known is not None:
        return known
    try:
        claims = jwt.decode(token, secret_key, algorithms=[jwt_algorithm])
    except ExpiredSignatureError as e:
        raise InvalidTokenError("token has expired") from e
    except JWTError as e:
        raise InvalidTokenError(f"token is malformed or its signature is invalid: {e}") from e
    if "exp" not in claims:
        raise InvalidTokenError("token has no 'exp' claim")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidTokenError("token has no 'sub' claim naming the entity")
    try:
        token_data = TokenData(
            entity=claims["sub"], scopes=claims.get("scopes") or [], entity_type=claims.get("entity_type")
        )
    except ValueError as e:
        raise InvalidTokenError(f"token claims are invalid: {e}") from e
    if isinstance(claims["exp"], (int, float)):
        _verified_tokens.put(cache_key, token_data, float(claims["exp"]))
    return token_data


def verify_token(
    token: str, settings: "JWTSettings", credential_cls: Optional[type[CredentialedEntity]] = None
) -> TokenData:
    """:func:`decode_token` with the app's JWT settings, also refusing a token issued to another
    credential class than ``credential_cls`` (the other API may share the signing key)."""
    token_data = decode_token(token, settings.JWT_SECRET_KEY.get_secret_value(), settings.JWT_ALGORITHM)
    if credential_cls is not None and token_data.entity_type != credential_cls.__name__:
        raise InvalidTokenError(f"token issued for {token_data.entity_type}, not {credential_cls.__name__}")
    return token_data


def authenticate(
    store: CredentialStore, cls: type[EntityT], identifier: str, key: str
) -> Optional[EntityT]:
    """The identity if ``key`` is right and the identity is usable now, else None.

    Unknown, disabled and expired identities all yield None, like a wrong key; a bcrypt check runs
    in every case so response times do not reveal which identities exist.
    """
    try:
        entity = store.get_credentialed_entity(identifier, cls)
    except NotFoundError:
        verify_key(key, _dummy_hash())
        return None
    if not verify_key(key, entity.hashed_key):
        return None
    if entity.disabled or entity.is_expired():
        return None
    return entity


ScopeLike = Union[Scope, str]


def _as_scopes(scopes: Iterable[ScopeLike]) -> list[Scope]:
    return [s if isinstance(s, Scope) else Scope.from_str(s) for s in scopes]


def authorize(token_scopes: Iterable[ScopeLike], scope: ScopeLike) -> bool:
    """True if some token scope covers ``scope`` (``*-*-*`` covers everything)."""
    target = scope if isinstance(scope, Scope) else Scope.from_str(scope)
    return any(granted.is_superset(target) for granted in _as_scopes(token_scopes))


def scopes_query(query_scope: ScopeLike, token_scopes: Iterable[ScopeLike]) -> list[Scope]:
    """The scopes a query over ``query_scope`` may actually search.

    If one of the token's scopes covers the whole query scope, that is ``[query_scope]``;
    otherwise it is the token scopes lying inside the query scope (possibly none).
    """
    query = query_scope if isinstance(query_scope, Scope) else Scope.from_str(query_scope)
    granted = minimize_scopes(_as_scopes(token_scopes))
    if any(scope.is_superset(query) for scope in granted):
        return [query]
    return [scope for scope in granted if query.is_superset(scope)]
