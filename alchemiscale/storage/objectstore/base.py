"""The object store interface: where ProtocolDAGResult bytes live, independent of the backend.

Every backend addresses objects by a *location*: a relative, ``/``-separated path such as
``protocoldagresult/{org}/{campaign}/{project}/{transformation key}/{results|failures}/{pdr key}/obj.json.zst``.
Locations never include a backend's own prefix or root, so a ProtocolDAGResultRef stays valid when
a deployment moves its objects to another bucket, prefix or folder.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Iterator, Optional, Union

from ...errors import InvalidInputError, NotFoundError, StoreError, UnavailableError
from ...models import ScopedKey, validate_gufe_key
from ..models import ProtocolDAGResultRef

PROTOCOLDAGRESULT_ROOT = "protocoldagresult"
OBJECT_NAME = "obj.json.zst"
RESULTS = "results"
FAILURES = "failures"

MAX_LOCATION_LENGTH = 1024
MAX_PRESIGNED_URL_SECONDS = 7 * 24 * 3600  # the longest expiry S3 accepts

# a location part: no leading dot (dot-names are the stores' own temporary and probe files)
_LOCATION_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+@-]*")


class ObjectStoreError(StoreError):
    """The object store could not do what was asked; the message names the operation and the object."""


class ObjectNotFoundError(ObjectStoreError, NotFoundError):
    """No object exists at the requested location."""


class ObjectStoreUnavailableError(ObjectStoreError, UnavailableError):
    """The backend did not answer, or answered that it is overloaded or failing; retry later."""


def validate_location(location: str) -> str:
    """Check a location is a relative path of plain names; raise InvalidInputError naming the problem."""
    if not isinstance(location, str):
        raise InvalidInputError(f"object location must be a str, got {type(location).__name__}")
    if not location:
        raise InvalidInputError("object location must not be empty")
    if len(location) > MAX_LOCATION_LENGTH:
        raise InvalidInputError(f"object location is {len(location)} characters long; the limit is {MAX_LOCATION_LENGTH}")
    for part in location.split("/"):
        if part in ("", ".", "..") or not _LOCATION_PART.fullmatch(part):
            raise InvalidInputError(
                f"invalid object location {location!r}: each '/'-separated part must be a plain name of ASCII "
                "letters, digits and '_.=+@-' that does not start with '.'"
            )
    return location


def validate_prefix(prefix: str) -> str:
    """Check a listing prefix: empty, or a location, optionally ending in '/'."""
    if not isinstance(prefix, str):
        raise InvalidInputError(f"listing prefix must be a str, got {type(prefix).__name__}")
    if prefix:
        validate_location(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def validate_expiry(expires_seconds: int) -> int:
    if not isinstance(expires_seconds, int) or not 1 <= expires_seconds <= MAX_PRESIGNED_URL_SECONDS:
        raise InvalidInputError(
            f"expires_seconds must be an integer between 1 and {MAX_PRESIGNED_URL_SECONDS}, got {expires_seconds!r}"
        )
    return expires_seconds


def protocoldagresult_location(transformation: ScopedKey, protocoldagresult_gufekey: str, ok: bool) -> str:
    """The location of a ProtocolDAGResult: scoped, grouped by Transformation, successes apart from failures."""
    pdr_key = validate_gufe_key(protocoldagresult_gufekey)
    route = RESULTS if ok else FAILURES
    return "/".join(
        (
            PROTOCOLDAGRESULT_ROOT,
            transformation.org,
            transformation.campaign,
            transformation.project,
            transformation.gufe_key,
            route,
            pdr_key,
            OBJECT_NAME,
        )
    )


ProtocolDAGResultID = Union[ScopedKey, ProtocolDAGResultRef, str]


class ObjectStore(ABC):
    """Stores opaque result bytes; subclasses provide the byte-level operations for one backend."""

    @abstractmethod
    def initialize(self) -> None:
        """Create the backing bucket or folder if missing (idempotent)."""

    @abstractmethod
    def reset(self) -> None:
        """Delete every object this store holds (its whole prefix or root). For tests and teardown."""

    @abstractmethod
    def check(self) -> None:
        """List, write, read back and delete a probe; raise ObjectStoreError saying which step failed."""

    @abstractmethod
    def iter_contents(self, prefix: str = "") -> Iterator[str]:
        """Yield the location of every object whose location starts with ``prefix``."""

    @abstractmethod
    def exists(self, location: str) -> bool: ...

    @abstractmethod
    def delete(self, location: str) -> None:
        """Delete one object; ObjectNotFoundError if there is none."""

    @abstractmethod
    def presigned_url(self, location: str, expires_seconds: int = 300) -> str:
        """A URL anyone holding it can GET the object from, until it expires."""

    @abstractmethod
    def _store_bytes(self, location: str, data: bytes) -> None:
        """Write ``data`` at ``location``, replacing any object there; readers see all of it or nothing."""

    @abstractmethod
    def _get_bytes(self, location: str) -> bytes:
        """Read the object at ``location``; ObjectNotFoundError if there is none."""

    def push_protocoldagresult(
        self,
        protocoldagresult: bytes,
        protocoldagresult_ok: bool,
        protocoldagresult_gufekey: str,
        transformation: ScopedKey,
        creator: Optional[str] = None,
    ) -> ProtocolDAGResultRef:
        """Store serialized ProtocolDAGResult bytes as given and return the reference to record in the state store."""
        if not isinstance(protocoldagresult, (bytes, bytearray, memoryview)):
            raise TypeError(f"protocoldagresult must be bytes, got {type(protocoldagresult).__name__}")
        if not isinstance(transformation, ScopedKey):
            raise TypeError(f"transformation must be a ScopedKey, got {type(transformation).__name__}")
        ok = bool(protocoldagresult_ok)
        location = protocoldagresult_location(transformation, protocoldagresult_gufekey, ok)
        self._store_bytes(location, bytes(protocoldagresult))
        return ProtocolDAGResultRef(
            location=location,
            obj_key=validate_gufe_key(protocoldagresult_gufekey),
            scope=transformation.scope,
            ok=ok,
            creator=creator,
        )

    def pull_protocoldagresult(
        self,
        protocoldagresult: ProtocolDAGResultID,
        transformation: ScopedKey,
        location: Optional[str] = None,
        ok: bool = True,
    ) -> bytes:
        """Read back ProtocolDAGResult bytes.

        ``protocoldagresult`` is the result's ScopedKey (or its string), or a ProtocolDAGResultRef, whose
        own ``ok`` and ``location`` are then used. An explicit ``location`` (e.g. a ref's stored one)
        wins over the location derived from the keys. The result's Scope must be the Transformation's.
        """
        if isinstance(protocoldagresult, str):
            protocoldagresult = ScopedKey.from_str(protocoldagresult)
        if isinstance(protocoldagresult, ProtocolDAGResultRef):
            pdr_key, scope = protocoldagresult.obj_key, protocoldagresult.scope
            ok = protocoldagresult.ok
            location = location or protocoldagresult.location
        elif isinstance(protocoldagresult, ScopedKey):
            pdr_key, scope = protocoldagresult.gufe_key, protocoldagresult.scope
        else:
            raise TypeError(
                "protocoldagresult must be a ScopedKey, its string or a ProtocolDAGResultRef, "
                f"got {type(protocoldagresult).__name__}"
            )
        if not isinstance(transformation, ScopedKey):
            raise TypeError(f"transformation must be a ScopedKey, got {type(transformation).__name__}")
        if scope != transformation.scope:
            raise InvalidInputError(
                f"ProtocolDAGResult scope {scope} does not match Transformation scope {transformation.scope}"
            )
        if location is None:
            location = protocoldagresult_location(transformation, pdr_key, ok)
        else:
            self._check_location_in_scope(validate_location(location), transformation)
        return self._get_bytes(location)

    @staticmethod
    def _check_location_in_scope(location: str, transformation: ScopedKey) -> None:
        """A stored location may only point inside its own Scope's results."""
        scope_root = "/".join(
            (PROTOCOLDAGRESULT_ROOT, transformation.org, transformation.campaign, transformation.project)
        )
        if not location.startswith(scope_root + "/"):
            raise InvalidInputError(f"location {location!r} is outside the results of scope {transformation.scope}")
