"""Request bodies and query strings, checked before any route runs.

:class:`BodyLimitMiddleware` sits outside every route of an app made by
:func:`~alchemiscale.base.api.create_base_app`, so nobody can make a worker read, decompress or
hold more than the caps in :class:`~alchemiscale.settings.BodyLimitSettings` allow:

- a query parameter longer than ``ALCHEMISCALE_MAX_QUERY_VALUE_LENGTH`` characters: 422 naming it;
- a body from a caller without a valid bearer token: 401 before a byte of it is read (only
  ``POST /token`` and the dashboard's ``POST /dashboard/login``, the login forms, need no token;
  they get ``ALCHEMISCALE_MAX_LOGIN_BODY_BYTES``);
- a body longer than ``ALCHEMISCALE_MAX_BODY_BYTES`` as received: 413, at once when its
  ``Content-Length`` says so, else as soon as the streamed bytes pass the cap;
- a gzip body (``Content-Encoding: gzip``, as upstream's and this project's clients send large
  ones) is gunzipped as it arrives, in worker threads rather than on the event loop, and refused
  with 413 once it expands past ``ALCHEMISCALE_MAX_EXPANDED_BODY_BYTES``; corrupt gzip is 400,
  any other encoding 415.

The route then receives the plain body, without ``Content-Encoding``. The token check here is the
cheap one (signature, expiry, credential class); the route's own dependency still does the full
check. A refused body's unread rest is discarded by the server as it arrives, never buffered, so
the client still reads the answer.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl

from fastapi import FastAPI, status
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..security.auth import InvalidTokenError, verify_token
from ..settings import BodyLimitSettings, JWTSettings, get_body_limit_settings

logger = logging.getLogger(__name__)

LOGIN_PATHS = frozenset({"/token", "/dashboard/login"})  # the API's login form and the dashboard's
DECOMPRESSION_BATCH_BYTES = 1024**2  # compressed bytes gathered before a worker thread gunzips them
DECOMPRESSED_PIECE_BYTES = 1024**2  # output held in pieces of this size, so a refused body costs at most its cap
DECOMPRESSION_THREADS = 2  # bodies gunzipped at once per process; route handlers keep their own threads

_decompression_pool = ThreadPoolExecutor(max_workers=DECOMPRESSION_THREADS, thread_name_prefix="gunzip")


def get_body_limit_settings_depends() -> BodyLimitSettings:
    """The caps in force; tests replace this through ``app.dependency_overrides`` like any dependency."""
    return get_body_limit_settings()


class RequestRefused(Exception):
    """A request answered with ``status_code`` and ``{"detail": detail}`` before reaching its route."""

    def __init__(self, status_code: int, detail: str, headers: Optional[dict[str, str]] = None):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail}, status_code=self.status_code, headers=self.headers)


def describe_size(n_bytes: int) -> str:
    """``n_bytes`` for people: ``1 GiB (1073741824 bytes)``."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit} ({n_bytes} bytes)"
    return f"{n_bytes} bytes"


def body_too_large(limit: int, setting: str, what: str = "request body") -> RequestRefused:
    return RequestRefused(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"{what} exceeds the limit of {describe_size(limit)} set by {setting}; send less per request "
        "(e.g. split a network, or create and action Tasks in batches), or ask the operator to raise the limit",
    )


def check_query(query_string: bytes, max_length: int) -> None:
    """Refuse (422) a query parameter whose name or value is longer than ``max_length`` characters."""
    if not query_string:
        return
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, errors="replace"):
        for part, length in (("name", len(name)), ("value", len(value))):
            if length > max_length:
                shown = name if part == "value" else f"{name[:40]}..."
                raise RequestRefused(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    f"query parameter {shown!r}: {part} is {length} characters long, at most {max_length} "
                    "are allowed (ALCHEMISCALE_MAX_QUERY_VALUE_LENGTH)",
                )


class GzipDecoder:
    """Incremental gunzip that refuses output past ``limit`` bytes without producing it.

    Concatenated gzip members are read as one stream, as ``gzip.decompress`` does.
    """

    def __init__(self, limit: int, setting: str):
        self.limit = limit
        self.setting = setting
        self.produced = 0
        self._decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)

    def feed(self, data: bytes) -> list[bytes]:
        """Plain pieces for the next piece of gzip ``data``; RequestRefused (413 or 400) if refused."""
        pieces = []
        try:
            while True:
                wanted = min(DECOMPRESSED_PIECE_BYTES, self.limit - self.produced + 1)
                piece = self._decompressor.decompress(data, wanted)
                self.produced += len(piece)
                if self.produced > self.limit:
                    raise body_too_large(self.limit, self.setting, "gzip request body, once decompressed,")
                if piece:
                    pieces.append(piece)
                if self._decompressor.eof:
                    data = self._decompressor.unused_data
                    if not data:
                        break
                    self._decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
                elif self._decompressor.unconsumed_tail or len(piece) == wanted:
                    data = self._decompressor.unconsumed_tail  # more input, or output still pending
                else:
                    break
        except zlib.error as e:
            raise not_gzip(str(e)) from e
        return pieces

    def finish(self) -> None:
        """Refuse (400) a body that ended inside a gzip member."""
        if not self._decompressor.eof:
            raise not_gzip("truncated gzip data")


def not_gzip(reason: str) -> RequestRefused:
    return RequestRefused(
        status.HTTP_400_BAD_REQUEST,
        f"request body declared Content-Encoding: gzip but is not valid gzip data: {reason}",
    )


class BodyLimitMiddleware:
    """ASGI middleware enforcing the module's rules; install with :func:`add_body_limits`."""

    def __init__(self, app: ASGIApp, jwt_settings: Callable[[], JWTSettings]):
        self.app = app
        self.jwt_settings = jwt_settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fastapi_app: FastAPI = scope["app"]
        limits = resolve(fastapi_app, get_body_limit_settings_depends)
        try:
            check_query(scope.get("query_string", b""), limits.ALCHEMISCALE_MAX_QUERY_VALUE_LENGTH)
            headers = header_values(scope["headers"])
            declared = declared_length(headers)
            if declared == 0:
                await self.app(scope, receive, send)
                return
            if route_path(scope) in LOGIN_PATHS and scope["method"] == "POST":
                wire_cap = expanded_cap = limits.ALCHEMISCALE_MAX_LOGIN_BODY_BYTES
                wire_setting = expanded_setting = "ALCHEMISCALE_MAX_LOGIN_BODY_BYTES"
            else:
                self.authenticate(fastapi_app, headers.get("authorization", ""))
                wire_cap, wire_setting = limits.ALCHEMISCALE_MAX_BODY_BYTES, "ALCHEMISCALE_MAX_BODY_BYTES"
                expanded_cap = limits.ALCHEMISCALE_MAX_EXPANDED_BODY_BYTES
                expanded_setting = "ALCHEMISCALE_MAX_EXPANDED_BODY_BYTES"
            if declared is not None and declared > wire_cap:
                raise body_too_large(wire_cap, wire_setting, f"request body of {describe_size(declared)}")
            decoder = gzip_decoder(headers.get("content-encoding", ""), expanded_cap, expanded_setting)
            chunks = await read_body(receive, wire_cap, wire_setting, decoder)
        except RequestRefused as refused:
            if refused.status_code != status.HTTP_401_UNAUTHORIZED:  # 401s would flood the log under attack
                logger.info("refused %s %s: %s: %s", scope["method"], scope["path"], refused.status_code, refused)
            await refused.response()(scope, receive, send)
            return
        if chunks is None:  # the client went away
            return
        if decoder is not None:
            scope = dict(scope, headers=plain_headers(scope["headers"], sum(map(len, chunks))))
        await self.app(scope, replay(chunks, receive), send)

    def authenticate(self, app: FastAPI, authorization: str) -> None:
        """Refuse (401) a caller without a well-signed, unexpired token of the app's credential class."""
        scheme, _, token = authorization.partition(" ")
        settings = resolve(app, self.jwt_settings)
        try:
            if scheme.lower() != "bearer" or not token:
                raise InvalidTokenError("no bearer token")
            verify_token(token, settings, getattr(app.state, "credential_class", None))
        except InvalidTokenError as e:
            logger.debug("refused a request body before reading it: %s", e)
            raise RequestRefused(
                status.HTTP_401_UNAUTHORIZED, "Could not validate credentials", {"WWW-Authenticate": "Bearer"}
            ) from e


def add_body_limits(app: FastAPI, jwt_settings: Callable[[], JWTSettings]) -> None:
    """Install :class:`BodyLimitMiddleware` outside every other middleware of ``app``.

    ``jwt_settings`` is the app's JWT settings dependency (its override, if any, is honoured).
    """
    app.add_middleware(BodyLimitMiddleware, jwt_settings=jwt_settings)


def resolve(app: FastAPI, dependency: Callable[[], Any]) -> Any:
    return app.dependency_overrides.get(dependency, dependency)()


def header_values(raw_headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header name to value, repeated headers joined by commas as HTTP reads them."""
    headers: dict[str, str] = {}
    for name, value in raw_headers:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def route_path(scope: Scope) -> str:
    root = scope.get("root_path", "")
    path = scope["path"]
    return path[len(root) :] if root and path.startswith(root) else path


def declared_length(headers: dict[str, str]) -> Optional[int]:
    """The body's declared length: 0 for no body, None for a streamed (chunked) body of unknown length."""
    if "transfer-encoding" in headers:
        return None
    try:
        return int(headers.get("content-length", "0"))
    except ValueError as e:
        raise RequestRefused(status.HTTP_400_BAD_REQUEST, "Content-Length is not an integer") from e


def gzip_decoder(content_encoding: str, limit: int, setting: str) -> Optional[GzipDecoder]:
    """A decoder for a gzip body, None for a plain one; 415 for encodings this API does not read."""
    encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
    encodings = [e for e in encodings if e != "identity"]
    if not encodings:
        return None
    if encodings in (["gzip"], ["x-gzip"]):
        return GzipDecoder(limit, setting)
    raise RequestRefused(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"Content-Encoding {content_encoding!r} is not supported; send the body plain or gzip-encoded",
    )


async def read_body(
    receive: Receive, wire_cap: int, wire_setting: str, decoder: Optional[GzipDecoder]
) -> Optional[list[bytes]]:
    """The whole (gunzipped) body as chunks, or None if the client disconnected; RequestRefused past a cap."""
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    pending = bytearray()
    received = 0
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        piece = message.get("body", b"")
        more_body = message.get("more_body", False)
        received += len(piece)
        if received > wire_cap:
            raise body_too_large(wire_cap, wire_setting)
        if decoder is None:
            if piece:
                chunks.append(piece)
            continue
        pending += piece
        if len(pending) >= DECOMPRESSION_BATCH_BYTES or not more_body:
            chunks += await loop.run_in_executor(_decompression_pool, decoder.feed, bytes(pending))
            pending.clear()
    if decoder is not None:
        decoder.finish()
    return chunks


def plain_headers(raw_headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    """Headers describing the gunzipped body: no Content-Encoding, its true Content-Length."""
    kept = [(k, v) for k, v in raw_headers if k not in (b"content-encoding", b"content-length", b"transfer-encoding")]
    return kept + [(b"content-length", str(length).encode("ascii"))]


def replay(chunks: list[bytes], receive: Receive) -> Receive:
    """A receive channel that hands out ``chunks`` as the body, then defers to ``receive`` (disconnects)."""
    queue = deque(chunks or [b""])

    async def receive_body() -> Message:
        if queue:
            body = queue.popleft()
            return {"type": "http.request", "body": body, "more_body": bool(queue)}
        return await receive()

    return receive_body
