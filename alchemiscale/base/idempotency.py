"""Safe retries of POSTs: answers remembered by ``Idempotency-Key``.

A client that sends ``Idempotency-Key: <fresh value per logical request>`` with a POST, and the
same value on each retry of it, gets the request run once: the first request runs and its answer
(status, headers, body) is recorded in the state store; a repeat with the same key from the same
identity gets the recorded answer without running again; a repeat that arrives while the first is
still running waits for it (up to ``ALCHEMISCALE_IDEMPOTENCY_WAIT_SECONDS``), then answers 409.

Only POSTs of an authenticated identity (a valid bearer token of the app's credential class) are
remembered; requests without the header (e.g. upstream 0.8.0's clients) run as always. Server
errors (5xx) are not recorded, so a retry after one runs afresh; neither are answers larger than
``ALCHEMISCALE_IDEMPOTENCY_MAX_RESPONSE_BYTES``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any, Callable, Optional

from fastapi import FastAPI, status
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import UnavailableError
from ..security.auth import InvalidTokenError, verify_token
from ..settings import IdempotencySettings, get_idempotency_settings
from ..storage.statestore import IdempotencyRecord, Neo4jStore

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
MAX_KEY_LENGTH = 255

# Answer headers worth replaying; the rest (date, length, server) are the transport's own.
_RECORDED_HEADERS = frozenset({"content-type", "content-encoding", "location", "retry-after"})
_POLL_SECONDS = (0.05, 0.5)  # first and longest pause between looks at a record still running


def add_idempotency_middleware(app: FastAPI) -> None:
    """Remember answers to authenticated POSTs that carry an ``Idempotency-Key``."""
    app.add_middleware(IdempotencyMiddleware)


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all("\x21" <= ch <= "\x7e" for ch in key)


def _json_answer(status_code: int, detail: str, headers: Optional[dict[str, str]] = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


class IdempotencyMiddleware:
    """ASGI middleware; it reads no request body, and buffers the answers it records."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        key = headers.get(IDEMPOTENCY_KEY_HEADER)
        if key is None:
            return await self.app(scope, receive, send)
        if not _valid_key(key):
            answer = _json_answer(
                status.HTTP_400_BAD_REQUEST,
                f"{IDEMPOTENCY_KEY_HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters",
            )
            return await answer(scope, receive, send)
        identity = _identity(scope, headers)
        if identity is None:  # no valid token: the route answers 401 itself, nothing to remember
            return await self.app(scope, receive, send)
        request = _KeyedRequest(
            store=_from_api(scope, "get_n4js_depends")(),
            settings=get_idempotency_settings(),
            record_key=json.dumps([identity[0], identity[1], key]),
            route=f"POST {scope['path']}",
        )
        try:
            await request.serve(self.app, scope, receive, send)
        except UnavailableError as e:  # Neo4j is down: the same 503 the routes give (nothing was sent yet)
            answer = await _from_api(scope, "unavailable_handler")(Request(scope), e)
            await answer(scope, receive, send)


def _from_api(scope: Scope, name: str) -> Callable[..., Any]:
    """A dependency getter (or handler) of ``base.api``, or the override an app (e.g. a test) installed for it.

    Imported late: ``base.api`` installs this middleware.
    """
    from . import api

    getter = getattr(api, name)
    return scope["app"].dependency_overrides.get(getter, getter)


def _identity(scope: Scope, headers: Headers) -> Optional[tuple[str, str]]:
    """``(credential class, identifier)`` of a valid bearer token for this app, else ``None``."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    settings = _from_api(scope, "get_jwt_settings_depends")()
    try:
        token_data = verify_token(token, settings, getattr(scope["app"].state, "credential_class", None))
    except InvalidTokenError:
        return None
    return token_data.entity_type or "", token_data.entity


class _KeyedRequest:
    """One POST with a key: run it once and record its answer, or replay the recorded one."""

    def __init__(self, store: Neo4jStore, settings: IdempotencySettings, record_key: str, route: str):
        self.store = store
        self.settings = settings
        self.record_key = record_key
        self.route = route
        self.claim = uuid.uuid4().hex

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        deadline = time.monotonic() + self.settings.ALCHEMISCALE_IDEMPOTENCY_WAIT_SECONDS
        pause = _POLL_SECONDS[0]
        while True:
            existing = await run_in_threadpool(
                self.store.claim_idempotency_record,
                self.record_key,
                self.route,
                self.claim,
                self.settings.ALCHEMISCALE_IDEMPOTENCY_LEASE_SECONDS,
                self.settings.ALCHEMISCALE_IDEMPOTENCY_EXPIRE_SECONDS,
            )
            if existing is None:
                return await self._run_and_record(app, scope, receive, send)
            if existing.route != self.route:
                answer = _json_answer(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    f"this {IDEMPOTENCY_KEY_HEADER} was used for {existing.route}; "
                    "send a fresh key with each new request",
                )
                return await answer(scope, receive, send)
            while not existing.done:  # the first request is still running: wait for its answer
                if time.monotonic() >= deadline:
                    answer = _json_answer(
                        status.HTTP_409_CONFLICT,
                        f"a request with this {IDEMPOTENCY_KEY_HEADER} is still being processed; retry later",
                        headers={"Retry-After": "1"},
                    )
                    return await answer(scope, receive, send)
                await asyncio.sleep(pause)
                pause = min(2 * pause, _POLL_SECONDS[1])
                existing = await run_in_threadpool(self.store.get_idempotency_record, self.record_key)
                if existing is None:
                    break  # the first one failed and let go: claim the key again
            else:
                return await _replay(existing, send)

    async def _run_and_record(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its answer held back; record the answer, then send it."""
        limit = self.settings.ALCHEMISCALE_IDEMPOTENCY_MAX_RESPONSE_BYTES
        start: Optional[Message] = None
        chunks: list[bytes] = []
        size = 0
        settled = False  # recorded, or let go (an answer too large to record streams through)

        async def hold_back(message: Message) -> None:
            nonlocal start, size, settled
            if message["type"] == "http.response.start" and not settled:
                start = message
                return
            if message["type"] != "http.response.body" or settled:
                return await send(message)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more_body = message.get("more_body", False)
            if size > limit:
                await self._release()
                settled = True
                logger.warning("answer to %s exceeds %d bytes; not recorded for replay", self.route, limit)
            elif not more_body:
                try:
                    await self._finish(start, b"".join(chunks))
                except UnavailableError as e:  # the work is done: answer it, though unrecorded
                    logger.warning("could not record the answer to %s: %s", self.route, e)
                    await _shielded(self._release())
                settled = True
            else:
                return
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": more_body})

        try:
            await app(scope, receive, hold_back)
        finally:
            if not settled:  # the app failed (or was cancelled) before answering in full
                await _shielded(self._release())

    async def _release(self) -> None:
        await run_in_threadpool(self.store.release_idempotency_record, self.record_key, self.claim)

    async def _finish(self, start: Message, body: bytes) -> None:
        """Record a final answer; a server error is forgotten instead, so that a retry runs again."""
        status_code = start["status"]
        if status_code >= 500:
            return await self._release()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in start.get("headers", [])
            if name.decode("latin-1").lower() in _RECORDED_HEADERS
        ]
        recorded = await run_in_threadpool(
            self.store.complete_idempotency_record, self.record_key, self.claim, status_code, headers, body
        )
        if not recorded:
            logger.warning("idempotency record of %s lapsed before its answer was ready", self.route)


async def _shielded(coroutine) -> None:
    """Let a clean-up finish even when the request is being cancelled."""
    try:
        await asyncio.shield(coroutine)
    except Exception as e:  # the original failure matters more than the clean-up's
        logger.warning("could not release an idempotency record: %s: %s", type(e).__name__, e)


async def _replay(record: IdempotencyRecord, send: Send) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in record.headers]
    headers += [(b"content-length", str(len(record.body)).encode()), (REPLAYED_HEADER.lower().encode(), b"true")]
    await send({"type": "http.response.start", "status": record.status, "headers": headers})
    await send({"type": "http.response.body", "body": record.body})
