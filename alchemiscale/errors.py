"""Errors raised by meaning: by the state store, the object stores and the parsers they use.

The API edge maps each to one HTTP status (:func:`alchemiscale.base.api.register_exception_handlers`);
anything else a route lets escape is an internal error (500). ``NotFoundError`` and
``InvalidInputError`` are also a ``KeyError`` and a ``ValueError`` so that in-process callers may
catch them as such, but the edge maps only these types, never the built-in ones.
"""

from __future__ import annotations


class StoreError(Exception):
    """A store could not carry out a request; the message says why."""


class NotFoundError(StoreError, KeyError):
    """The object, or the identity, asked for does not exist (404)."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class InvalidInputError(StoreError, ValueError):
    """The request names a value the store refuses: out of range, the wrong kind of object (400)."""


class MalformedInputError(InvalidInputError):
    """The request's data cannot be read as what it claims to be: a keyed chain, a ScopedKey (422)."""


class ForbiddenError(StoreError):
    """The identity may not act on this object, e.g. another identity's compute service (403)."""


class ConflictError(StoreError):
    """The request contradicts what is stored: different content under a key, a lost claim (409)."""


class UnavailableError(StoreError):
    """A backing service (Neo4j, the object store) is unreachable or overloaded; retry later (503)."""
