"""The HTTP base client shared by the user client and the compute client.

Subclasses write thin typed methods over a few transport helpers:

- ``_get_resource`` / ``_post_resource`` / ``_query_resource`` (sync) and
  ``_get_resource_async`` / ``_post_resource_async`` (async) send JSON, gzip it, authenticate,
  retry transient failures (announcing each retry on the ``alchemiscale.client`` logger, which
  prints to stderr unless logging is configured) and raise :class:`AlchemiscaleClientError` for
  error answers. Every authenticated POST carries an ``Idempotency-Key``, the same on each of its
  retries, so that the server runs it once however often it is sent;
- ``_bulk`` splits a long list into batches and sends them concurrently, keeping the order;
- ``_run_async`` runs a coroutine from synchronous code, also inside Jupyter;
- ``_cache_get`` / ``_cache_set`` keep immutable objects in memory and on disk, each identity's
  apart, and served only within the scopes of the current token;
- :func:`progress_bar` shows progress of long operations.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import ssl
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import httpx
from jose import JWTError, jwt
from pydantic import SecretStr

from ..models import Scope, ScopedKey
from ..security.auth import authorize
from .client_async import batched, run_async
from .client_cache import DEFAULT_CACHE_SIZE_LIMIT, CacheKind, ClientCache, cache_namespace
from .client_progress import progress_bar
from .client_retry import RETRYABLE_ERRORS, RetryPolicy, retry_after_seconds, should_retry

__all__ = [
    "AlchemiscaleBaseClient",
    "AlchemiscaleClientError",
    "AlchemiscaleConnectionError",
    "batched",
    "default_cache_directory",
    "progress_bar",
]

URL_ENV = "ALCHEMISCALE_URL"
IDENTIFIER_ENV = "ALCHEMISCALE_ID"
KEY_ENV = "ALCHEMISCALE_KEY"

DEFAULT_COMPRESSION_LEVEL = 5
DEFAULT_TIMEOUT_SECONDS = 60.0
# Idle pooled connections are dropped after this long: sooner than any server we know closes them
# (uvicorn 5 s by default), so a request is never sent on a connection the server is just closing.
KEEPALIVE_SECONDS = 4.0
DEFAULT_MAX_CONCURRENCY = 8
_DETAIL_PREVIEW_CHARS = 500
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"

# Retries are announced here; with logging unconfigured, Python prints warnings to stderr.
retry_logger = logging.getLogger("alchemiscale.client")

T = TypeVar("T")
R = TypeVar("R")


class AlchemiscaleClientError(Exception):
    """The server answered with an error status; ``detail`` is the server's explanation."""

    def __init__(self, message: str, status_code: int | None = None, detail: Any = None):
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


class AlchemiscaleConnectionError(AlchemiscaleClientError):
    """The server could not be reached (or kept dropping the connection) through every retry."""


def _what_to_check(api_url: str) -> str:
    return (
        f"check that {api_url} is the right URL and that the API is up and reachable from here "
        f"(GET {api_url}/check, with a token, reports whether its Neo4j and object store are up)"
    )


class _HandshakeFailed(Exception):
    """``/ping`` or ``/token`` answered with an error; the response is handled like the call's own."""

    def __init__(self, response: httpx.Response):
        super().__init__(response.status_code)
        self.response = response


_ACTIVE_SESSION: ContextVar[tuple[AlchemiscaleBaseClient, httpx.AsyncClient] | None] = ContextVar(
    "alchemiscale_async_session", default=None
)


def default_cache_directory() -> Path:
    """``$XDG_CACHE_HOME/alchemiscale``, or ``~/.cache/alchemiscale``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alchemiscale"


def _resolve_setting(name: str, explicit: str | None, env_var: str, secret: bool = False) -> str:
    """The explicit value, else the environment's; warn (without showing secrets) when both differ."""
    from_env = os.environ.get(env_var) or None
    if explicit is None:
        if from_env is None:
            raise ValueError(f"no {name} given: pass {name}=... or set the {env_var} environment variable")
        return from_env
    if from_env is not None and from_env != explicit:
        shown = "" if secret else f" ({from_env!r})"
        warnings.warn(
            f"the {env_var} environment variable{shown} differs from the {name} given; using the {name} given",
            UserWarning,
            stacklevel=3,
        )
    return explicit


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"api_url must be an http:// or https:// URL with a host, got {url!r}")
    return url.rstrip("/")


def _gzip_level(compress: bool | int) -> int | None:
    if isinstance(compress, bool):
        return DEFAULT_COMPRESSION_LEVEL if compress else None
    if isinstance(compress, int) and 0 <= compress <= 9:
        return compress
    raise ValueError(f"compress must be True, False or a gzip level from 0 to 9, got {compress!r}")


def _accept_encoding(compress: bool | int) -> dict[str, str]:
    return {"Accept-Encoding": "gzip" if compress is not False else "identity"}


def _json_default(value: Any) -> str:
    if isinstance(value, (Scope, ScopedKey)):
        return str(value)
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def _encode_body(data: Any, compress: bool | int) -> tuple[bytes, dict[str, str]]:
    """JSON body in UTF-8, gzipped (``mtime=0`` so equal data gives equal bytes) unless ``compress`` is False.

    Non-ASCII text goes as UTF-8 rather than ``\\uXXXX`` escapes: a result upload (latin-1 text of
    zstd bytes) is then about 2 rather than 4 times its size and parses twice as fast on the server.
    """
    level = _gzip_level(compress)
    try:
        body = json.dumps(data, default=_json_default, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # lone surrogates can only travel escaped
        body = json.dumps(data, default=_json_default).encode()
    headers = {"Content-Type": "application/json", **_accept_encoding(compress)}
    if level is not None:
        body = gzip.compress(body, compresslevel=level, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def _param_value(value: Any) -> Any:
    if isinstance(value, (Scope, ScopedKey)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_param_value(item) for item in value]
    return value


def _query_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop unset (``None``) parameters and send Scopes and ScopedKeys as strings."""
    if not params:
        return None
    return {name: _param_value(value) for name, value in params.items() if value is not None}


def _response_json(response: httpx.Response) -> Any:
    return response.json() if response.content else None


def _response_detail(response: httpx.Response) -> Any:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:_DETAIL_PREVIEW_CHARS]
    return payload.get("detail", payload) if isinstance(payload, dict) else payload


def _unavailable_error(response: httpx.Response, attempts: int, api_url: str) -> AlchemiscaleClientError:
    """A 502/503/504 answer that outlasted every retry."""
    detail = _response_detail(response)
    request = response.request
    return AlchemiscaleClientError(
        f"{response.status_code} {response.reason_phrase} from {request.method} {request.url.path} after "
        f"{attempts} attempt(s): {detail}; {_what_to_check(api_url)}, or try again later",
        status_code=response.status_code,
        detail=detail,
    )


def _new_call(
    method: str,
    path: str,
    params: Mapping[str, Any] | None,
    content: bytes | None,
    headers: Mapping[str, str] | None,
    authenticate: bool,
    keyed: bool = True,
) -> "_Call":
    """The request of one logical call; an authenticated POST gets a fresh idempotency key unless
    ``keyed`` is False (for routes that answer a repeat as the first request by themselves)."""
    headers = dict(headers or {})
    if method == "POST" and authenticate and keyed:
        headers[IDEMPOTENCY_KEY_HEADER] = uuid.uuid4().hex
    return _Call(method, path, _query_params(params), content, headers)


def _error_from_response(response: httpx.Response) -> AlchemiscaleClientError:
    detail = _response_detail(response)
    request = response.request
    return AlchemiscaleClientError(
        f"{response.status_code} {response.reason_phrase} from {request.method} {request.url.path}: {detail}",
        status_code=response.status_code,
        detail=detail,
    )


@dataclass(frozen=True)
class _Call:
    """One HTTP request, re-sent unchanged (idempotency key included) on retries."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def arguments(self, token: str | None) -> dict[str, Any]:
        headers = dict(self.headers)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return {"method": self.method, "url": self.path, "params": self.params, "content": self.content,
                "headers": headers}


class AlchemiscaleBaseClient:
    """Authenticated, retrying, compressing HTTP client for an alchemiscale API.

    ``api_url``, ``identifier`` and ``key`` fall back to ``ALCHEMISCALE_URL``, ``ALCHEMISCALE_ID`` and
    ``ALCHEMISCALE_KEY``. Subclasses set ``_api_name`` to the name ``GET /ping`` must report, so that
    a user client pointed at a compute API (or the reverse) fails with a clear message.
    """

    _api_name: ClassVar[str | None] = None

    def __init__(
        self,
        api_url: str | None = None,
        identifier: str | None = None,
        key: str | SecretStr | None = None,
        *,
        cache_directory: str | Path | None = None,
        cache_size_limit: int = DEFAULT_CACHE_SIZE_LIMIT,
        use_local_cache: bool = True,
        max_retries: int = 5,
        retry_base_seconds: float = 2.0,
        retry_max_seconds: float = 60.0,
        verify: bool | str = True,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ):
        self.api_url = _check_url(_resolve_setting("api_url", api_url, URL_ENV))
        self.identifier = _resolve_setting("identifier", identifier, IDENTIFIER_ENV)
        explicit_key = key.get_secret_value() if isinstance(key, SecretStr) else key
        self._key = SecretStr(_resolve_setting("key", explicit_key, KEY_ENV, secret=True))
        self._retry = RetryPolicy(max_retries, retry_base_seconds, retry_max_seconds)
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = timeout
        self.verify = verify
        self.cache_directory = Path(cache_directory) if cache_directory is not None else default_cache_directory()
        self.cache_size_limit = cache_size_limit
        self.use_local_cache = use_local_cache
        self._cache = ClientCache(self.cache_directory if use_local_cache else None, cache_size_limit)

        self._token: str | None = None
        self._scopes_of_token: tuple[str | None, list[str]] = (None, [])
        self._cache_namespace: str | None = None
        self._api_checked = False
        self._token_lock = threading.Lock()
        self._transport_lock = threading.Lock()
        self._async_token_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._http: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.api_url}', identifier='{self.identifier}')"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections and the disk cache."""
        with self._transport_lock:
            if self._http is not None:
                self._http.close()
                self._http = None
        self._cache.close()

    def _settings(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this client, e.g. in a worker process (the key stays a SecretStr)."""
        return {
            "api_url": self.api_url,
            "identifier": self.identifier,
            "key": self._key,
            "cache_directory": self.cache_directory,
            "cache_size_limit": self.cache_size_limit,
            "use_local_cache": self.use_local_cache,
            "max_retries": self._retry.max_retries,
            "retry_base_seconds": self._retry.base_seconds,
            "retry_max_seconds": self._retry.max_seconds,
            "verify": self.verify,
            "timeout": self.timeout,
        }

    # -- service information ---------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        """``GET /ping`` (no authentication): which API answers at this URL."""
        return _response_json(self._request("GET", "/ping", authenticate=False))

    def _api_check(self) -> None:
        """Raise unless the URL serves the API this client is written for."""
        self._validate_api_name(self.ping())

    def get_info(self) -> dict[str, Any]:
        return self._get_resource("/info")

    def _validate_api_name(self, payload: Any) -> None:
        if self._api_name is None:
            return
        served = payload.get("api") if isinstance(payload, dict) else None
        if served != self._api_name:
            raise AlchemiscaleClientError(
                f"{self.api_url} serves {served!r}, but {type(self).__name__} needs {self._api_name!r}; "
                "check that the URL points at the right API"
            )

    # -- sync transport --------------------------------------------------------------------------

    def _get_resource(self, path: str, params: Mapping[str, Any] | None = None, compress: bool = True) -> Any:
        """``GET`` a JSON resource; ``compress`` asks the server for a gzip-encoded response."""
        return _response_json(self._request("GET", path, params=params, headers=_accept_encoding(compress)))

    def _post_resource(self, path: str, data: Any, compress: bool | int = True) -> Any:
        """``POST`` JSON ``data``, gzipped at level 5 (``True``), another level 0-9, or plain (``False``)."""
        content, headers = _encode_body(data, compress)
        return _response_json(self._request("POST", path, content=content, headers=headers))

    def _post_content(
        self, path: str, content: bytes, media_type: str, params: Mapping[str, Any] | None = None, keyed: bool = True
    ) -> Any:
        """``POST`` ``content`` as the body itself (sent as it is: binary payloads come compressed), reading JSON back.

        ``keyed=False`` sends no ``Idempotency-Key``: for a route that is idempotent by itself, which
        spares the server recording the answer (two more writes to the state store)."""
        headers = {"Content-Type": media_type}
        return _response_json(
            self._request("POST", path, params=params, content=content, headers=headers, keyed=keyed)
        )

    def _query_resource(self, path: str, params: Mapping[str, Any] | None = None) -> list[ScopedKey]:
        """``GET`` a list of ScopedKey strings, as ScopedKeys."""
        return [ScopedKey.from_str(item) for item in self._get_resource(path, params)]

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
        keyed: bool = True,
    ) -> httpx.Response:
        """Send with retries (and a Bearer token unless ``authenticate=False``); raise on an error status."""
        call = _new_call(method, path, params, content, headers, authenticate, keyed)
        http = self._sync_http()
        if authenticate:
            response = self._with_retries(call, lambda: self._send_authorized(http, call))
        else:
            response = self._with_retries(call, lambda: http.request(**call.arguments(None)))
        if not response.is_success:
            raise _error_from_response(response)
        return response

    def _sync_http(self) -> httpx.Client:
        with self._transport_lock:
            if self._http is None:
                self._http = httpx.Client(**self._transport_options())
            return self._http

    def _transport_options(self) -> dict[str, Any]:
        verify = ssl.create_default_context(cafile=self.verify) if isinstance(self.verify, str) else self.verify
        return {"base_url": self.api_url, "timeout": self.timeout, "verify": verify,
                "limits": httpx.Limits(max_connections=100, max_keepalive_connections=20,  # httpx's defaults
                                       keepalive_expiry=KEEPALIVE_SECONDS)}

    def _with_retries(self, call: _Call, attempt: Callable[[], httpx.Response]) -> httpx.Response:
        retries = 0
        while True:
            try:
                response = attempt()
            except RETRYABLE_ERRORS as error:
                delay = self._next_retry(call, retries, error=error)
            else:
                if not should_retry(response):
                    return response
                delay = self._next_retry(call, retries, response=response)
            retries += 1
            time.sleep(delay)

    def _send_authorized(self, http: httpx.Client, call: _Call) -> httpx.Response:
        """Send with the current token; on a 401 renew the token once and send again."""
        try:
            token = self._token or self._renew_token(http, stale=None)
            response = http.request(**call.arguments(token))
            if response.status_code == 401:
                response = http.request(**call.arguments(self._renew_token(http, stale=token)))
            return response
        except _HandshakeFailed as failure:
            return failure.response

    def _renew_token(self, http: httpx.Client, stale: str | None) -> str:
        with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token  # another thread renewed it meanwhile
            if not self._api_checked:
                self._accept_ping(http.get("/ping"))
            self._token = self._accept_token(http.post("/token", data=self._credentials()))
            return self._token

    # -- async transport -------------------------------------------------------------------------

    async def _get_resource_async(
        self, path: str, params: Mapping[str, Any] | None = None, compress: bool = True
    ) -> Any:
        response = await self._request_async("GET", path, params=params, headers=_accept_encoding(compress))
        return _response_json(response)

    async def _post_resource_async(self, path: str, data: Any, compress: bool | int = True) -> Any:
        content, headers = _encode_body(data, compress)
        return _response_json(await self._request_async("POST", path, content=content, headers=headers))

    async def _request_async(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
    ) -> httpx.Response:
        call = _new_call(method, path, params, content, headers, authenticate)
        async with self._async_session() as http:
            if authenticate:
                response = await self._with_retries_async(call, lambda: self._send_authorized_async(http, call))
            else:
                response = await self._with_retries_async(call, lambda: http.request(**call.arguments(None)))
        if not response.is_success:
            raise _error_from_response(response)
        return response

    @asynccontextmanager
    async def _async_session(self) -> AsyncIterator[httpx.AsyncClient]:
        """The ``httpx.AsyncClient`` of the enclosing session (see ``_bulk``), else a new one for this call."""
        active = _ACTIVE_SESSION.get()
        if active is not None and active[0] is self:
            yield active[1]
            return
        async with httpx.AsyncClient(**self._transport_options()) as http:
            marker = _ACTIVE_SESSION.set((self, http))
            try:
                yield http
            finally:
                _ACTIVE_SESSION.reset(marker)

    async def _with_retries_async(
        self, call: _Call, attempt: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        retries = 0
        while True:
            try:
                response = await attempt()
            except RETRYABLE_ERRORS as error:
                delay = self._next_retry(call, retries, error=error)
            else:
                if not should_retry(response):
                    return response
                delay = self._next_retry(call, retries, response=response)
            retries += 1
            await asyncio.sleep(delay)

    async def _send_authorized_async(self, http: httpx.AsyncClient, call: _Call) -> httpx.Response:
        try:
            token = self._token or await self._renew_token_async(http, stale=None)
            response = await http.request(**call.arguments(token))
            if response.status_code == 401:
                response = await http.request(**call.arguments(await self._renew_token_async(http, stale=token)))
            return response
        except _HandshakeFailed as failure:
            return failure.response

    async def _renew_token_async(self, http: httpx.AsyncClient, stale: str | None) -> str:
        """Concurrent coroutines that all saw the same stale token share a single renewal."""
        async with self._async_token_lock():
            if self._token is not None and self._token != stale:
                return self._token
            if not self._api_checked:
                self._accept_ping(await http.get("/ping"))
            self._token = self._accept_token(await http.post("/token", data=self._credentials()))
            return self._token

    def _async_token_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._transport_lock:
            lock = self._async_token_locks.get(loop)
            if lock is None:
                lock = self._async_token_locks[loop] = asyncio.Lock()
            return lock

    # -- shared by both transports ---------------------------------------------------------------

    def _credentials(self) -> dict[str, str]:
        return {"username": self.identifier, "password": self._key.get_secret_value()}

    def _accept_ping(self, response: httpx.Response) -> None:
        if not response.is_success:
            raise _HandshakeFailed(response)
        self._validate_api_name(_response_json(response))
        self._api_checked = True

    @staticmethod
    def _accept_token(response: httpx.Response) -> str:
        if not response.is_success:
            raise _HandshakeFailed(response)
        return response.json()["access_token"]

    def _next_retry(
        self, call: _Call, retries_done: int, *, response: httpx.Response | None = None,
        error: Exception | None = None,
    ) -> float:
        """Seconds to wait before the next attempt, announced on the terminal; raise once retries run out.

        A ``Retry-After`` header on the answer replaces the computed backoff, up to ``retry_max_seconds``.
        """
        if not self._retry.allows(retries_done):
            if response is not None:
                raise _unavailable_error(response, retries_done + 1, self.api_url)
            raise self._connection_error(error, retries_done + 1) from error
        asked = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
        delay = self._retry.delay(retries_done + 1) if asked is None else min(asked, self._retry.max_seconds)
        if response is not None:
            cause = f"{response.status_code} from {response.request.method} {response.request.url.path}"
        else:
            cause = f"{type(error).__name__} on {call.method} {call.path}"
        total = "" if self._retry.max_retries < 0 else f"/{self._retry.max_retries + 1}"
        retry_logger.warning(
            "server unavailable, retrying in %s, attempt %d%s (%s)",
            _seconds(delay), retries_done + 2, total, cause,
        )
        return delay

    def _connection_error(self, error: Exception, attempts: int) -> AlchemiscaleConnectionError:
        return AlchemiscaleConnectionError(
            f"could not reach {self.api_url} after {attempts} attempt(s) ({type(error).__name__}: {error}); "
            f"check that the URL is right and that the server is running and reachable from here; "
            f"once it answers, GET {self.api_url}/check (with a token) reports whether its Neo4j and object store are up"
        )

    def _token_scopes(self) -> list[str] | None:
        """The scopes the current token grants, or ``None`` before the first token."""
        token = self._token
        if token is None:
            return None
        if self._scopes_of_token[0] != token:
            try:
                scopes = jwt.get_unverified_claims(token).get("scopes") or []
            except JWTError:
                scopes = []
            self._scopes_of_token = (token, list(scopes))
        return self._scopes_of_token[1]

    # -- concurrency -----------------------------------------------------------------------------

    @staticmethod
    def _batched(iterable: Iterable[T], n: int) -> list[list[T]]:
        return list(batched(iterable, n))

    @staticmethod
    def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine from sync code, in scripts and inside a running loop alike (see ``client_async``)."""
        return run_async(coroutine)

    def _bulk(
        self,
        func_async: Callable[[list[T]], Awaitable[Sequence[R]]],
        items: Iterable[T],
        batch_size: int = 1000,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        progress: str | None = None,
    ) -> list[R]:
        """``func_async`` on batches of ``items``, concurrently; results concatenated in input order.

        ``progress`` is the description of a progress bar counting items (``None``: no display).
        """
        return self._run_async(self._bulk_async(func_async, items, batch_size, max_concurrency, progress))

    async def _bulk_async(
        self,
        func_async: Callable[[list[T]], Awaitable[Sequence[R]]],
        items: Iterable[T],
        batch_size: int = 1000,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        progress: str | None = None,
    ) -> list[R]:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        batches = list(batched(items, batch_size))
        slots = asyncio.Semaphore(max_concurrency)
        with progress_bar(progress or "", total=sum(map(len, batches)), visualize=progress is not None) as bar:
            async with self._async_session():

                async def run(batch: list[T]) -> Sequence[R]:
                    async with slots:
                        result = await func_async(batch)
                    bar.advance(len(batch))
                    return result

                tasks = [asyncio.ensure_future(run(batch)) for batch in batches]
                try:
                    results = await asyncio.gather(*tasks)
                except BaseException:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise
        return [item for result in results for item in result]

    # -- local cache -----------------------------------------------------------------------------

    def _cache_get(self, kind: CacheKind, key: str | ScopedKey) -> Any | None:
        """A cached keyed chain (or result bytes for ``kind="result"``), or ``None``.

        A cache directory may be shared by several identities, so entries live in a namespace
        derived from this identity's credentials (only its key opens them), and once the client
        holds a token, an object whose scope the token no longer grants is a miss that asks the
        server. Before the first token (e.g. offline), the identity's own entries are served.
        """
        scoped_key = key if isinstance(key, ScopedKey) else ScopedKey.from_str(key)
        scopes = self._token_scopes()
        if scopes is not None and not authorize(scopes, scoped_key.scope):
            return None
        return self._cache.get(kind, self._cache_entry(scoped_key))

    def _cache_set(self, kind: CacheKind, key: str | ScopedKey, value: Any) -> None:
        scoped_key = key if isinstance(key, ScopedKey) else ScopedKey.from_str(key)
        self._cache.set(kind, self._cache_entry(scoped_key), value)

    def _cache_entry(self, scoped_key: ScopedKey) -> str:
        """The cache key of ``scoped_key`` for this identity."""
        if self._cache_namespace is None:
            self._cache_namespace = cache_namespace(self.identifier, self._key.get_secret_value())
        return f"{self._cache_namespace}/{scoped_key}"


def _seconds(delay: float) -> str:
    return f"{delay:.0f} s" if delay >= 10 else f"{delay:.2g} s"
