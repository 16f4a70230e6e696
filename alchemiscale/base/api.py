"""FastAPI building blocks shared by the user API and the compute API.

An app is assembled from these pieces (see :func:`create_base_app`): gzip handling in both
directions, ``POST /token``, ``GET /ping``, ``/info``, ``/check``, ``/identities/{id}/scopes``,
dependency getters that tests replace through ``app.dependency_overrides``, request helpers for
scopes and ScopedKeys, one error mapping, and :class:`KeyedChainResponse` for serialized gufe
objects.

Error mapping (every app calls :func:`register_exception_handlers`), body ``{"detail": message}``.
The stores raise the typed errors of :mod:`alchemiscale.errors` by meaning; only those are mapped,
so any other exception is a bug and answers 500 with a generic message (the traceback is logged).
422 means the request cannot be read as what it claims to be; 400 means it can, but names a value
that is refused:

=============================================================================  ======
condition                                                                      status
=============================================================================  ======
refused value: range, scope, regex, integer too large (``InvalidInputError``)  400
ScopedKey of the wrong kind for the route (:func:`require_kind`)               400
corrupt gzip request body                                                      400
missing, malformed, expired or foreign token                                   401
body without a valid token: refused unread (:mod:`.body`)                      401
target scope not granted by the token                                          401
another identity's data (``ForbiddenError``)                                   403
unknown object or identity (``NotFoundError``)                                 404
conflicts with what is stored, e.g. a lost claim (``ConflictError``)           409
body past ``ALCHEMISCALE_MAX_BODY_BYTES`` or its ``_EXPANDED_`` cap (.body)    413
``Content-Encoding`` other than gzip (:mod:`.body`)                            415
query value longer than ``ALCHEMISCALE_MAX_QUERY_VALUE_LENGTH``                422
malformed ScopedKey or keyed chain (``MalformedInputError``)                   422
malformed body or parameters (FastAPI validation)                              422
internal error (any other exception; generic message)                          500
Neo4j or object store down or too slow (``UnavailableError``, ``/check``)      503
=============================================================================  ======

503 answers carry ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
import math
from functools import lru_cache
from typing import Annotated, Any, Callable, Optional, Union

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import ValidationError
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from .. import __version__
from ..serialization.compression import RESULT_MEDIA_TYPE
from ..errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    MalformedInputError,
    NotFoundError,
    UnavailableError,
)
from ..models import Scope, ScopedKey
from ..security.auth import (
    InvalidTokenError,
    authenticate,
    authorize,
    create_access_token,
    scopes_query,
    verify_token,
)
from ..security.models import CredentialedEntity, Token, TokenData
from ..settings import (
    JWTSettings,
    get_jwt_settings,
    get_logging_settings,
    get_neo4jstore_settings,
    get_objectstore_settings,
)
from ..storage.statestore import Neo4jStore
from .body import add_body_limits
from .docs_pages import add_offline_docs
from .idempotency import add_idempotency_middleware
from .logs import add_request_ids, configure_logging, install_log_context
from .metrics import add_metrics

logger = logging.getLogger(__name__)

GZIP_MINIMUM_SIZE = 1000
GZIP_COMPRESSLEVEL = 5


def error_message(exc: Exception) -> str:
    """A one-line message for ``exc``; pydantic errors become ``field: reason`` pairs."""
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors():
            reason = error["msg"].removeprefix("Value error, ")
            location = ".".join(str(loc) for loc in error["loc"])
            parts.append(f"{location}: {reason}" if location else reason)
        return "; ".join(parts)
    return str(exc)


# --- gzip -------------------------------------------------------------------------------


def add_gzip_middleware(app: FastAPI) -> None:
    """Compress responses of at least 1000 bytes for clients that accept gzip (not zstd result bytes)."""
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_SIZE, compresslevel=GZIP_COMPRESSLEVEL,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, RESULT_MEDIA_TYPE))


class KeyedChainResponse(JSONResponse):
    """JSON that keeps NaN and infinite floats (written as ``NaN``/``Infinity``, as Python's json reads them).

    Stored gufe objects may hold such values (e.g. unset box vectors); strict JSON would refuse them.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=True, separators=(",", ":")).encode("utf-8")


# --- dependencies -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def get_n4js_depends() -> Neo4jStore:
    """The process's one state store, created on first use."""
    return Neo4jStore.from_settings(get_neo4jstore_settings())


@lru_cache(maxsize=1)
def get_objectstore_depends():
    """The process's one object store, of the backend named by ``ALCHEMISCALE_OBJECT_STORE``."""
    from ..storage.objectstore import get_objectstore

    return get_objectstore(get_objectstore_settings())


def get_jwt_settings_depends() -> JWTSettings:
    return get_jwt_settings()


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)


def credentials_exception(reason: str = "Could not validate credentials") -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"}
    )


def get_token_data_depends(
    request: Request,
    token: Annotated[Optional[str], Depends(oauth2_scheme)],
    settings: Annotated[JWTSettings, Depends(get_jwt_settings_depends)],
) -> TokenData:
    """The verified claims of the request's bearer token; 401 if absent, invalid or expired.

    On an app made by :func:`create_base_app`, a token issued to the other credential class
    (by the other API, which may share the signing key) is refused as well.
    """
    if not token:
        raise credentials_exception()
    try:
        return verify_token(token, settings, getattr(request.app.state, "credential_class", None))
    except InvalidTokenError as e:
        logger.info("rejected bearer token: %s", e)
        raise credentials_exception() from e


def require_credential_class(credential_cls: type[CredentialedEntity]) -> Callable[..., TokenData]:
    """A dependency admitting only tokens issued to ``credential_cls`` identities.

    Makes a router's requirement explicit, and holds on apps not made by :func:`create_base_app`,
    which do not know the credential class they serve and so would accept a token from the other
    API (which may share the signing key).
    """

    def token_of_class(token_data: Annotated[TokenData, Depends(get_token_data_depends)]) -> TokenData:
        if token_data.entity_type != credential_cls.__name__:
            raise credentials_exception()
        return token_data

    return token_of_class


N4jsDepends = Annotated[Neo4jStore, Depends(get_n4js_depends)]
ObjectStoreDepends = Annotated[Any, Depends(get_objectstore_depends)]
TokenDataDepends = Annotated[TokenData, Depends(get_token_data_depends)]


# --- request helpers --------------------------------------------------------------------


def scope_params(org: Optional[str] = None, campaign: Optional[str] = None, project: Optional[str] = None) -> Scope:
    """Query parameters ``org``, ``campaign``, ``project`` (absent = ``*``) as a Scope; 400 if invalid."""
    try:
        return Scope(org, campaign, project)
    except ValueError as e:
        raise InvalidInputError(f"invalid scope: {error_message(e)}") from e


def parse_scope(scope: str) -> Scope:
    """A Scope from its string form (``org-campaign-project``); 400 if invalid."""
    try:
        return Scope.from_str(scope)
    except ValueError as e:
        raise InvalidInputError(f"invalid scope: {error_message(e)}") from e


def parse_scoped_key(scoped_key: Union[str, ScopedKey]) -> ScopedKey:
    """A ScopedKey from its string form; 422 naming the bad part if malformed."""
    try:
        return ScopedKey.from_str(scoped_key)
    except ValueError as e:
        raise MalformedInputError(f"malformed ScopedKey: {error_message(e)}") from e


# kinds of object whose ScopedKeys routes take, for require_kind
NETWORK = "AlchemicalNetwork"
TASK = "Task"
TASKHUB = "TaskHub"


def require_kind(scoped_key: ScopedKey, qualname: str) -> ScopedKey:
    """``scoped_key`` if it names a ``qualname`` object; 400 naming the expected kind otherwise.

    Without this, e.g. a Task's key given for a network would simply match nothing (an empty answer).
    """
    if scoped_key.qualname != qualname:
        raise InvalidInputError(
            f"expected the ScopedKey of an object of kind {qualname}, got one of kind {scoped_key.qualname}: "
            f"{scoped_key}"
        )
    return scoped_key


def validate_scopes(scope: Scope, token_data: TokenData) -> None:
    """401 unless the token grants ``scope``."""
    if not authorize(token_data.scopes, scope):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"Targeted scope '{scope}' is not among the scopes of this token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def validate_scopes_query(query_scope: Scope, token_data: TokenData) -> list[Scope]:
    """The scopes a query over ``query_scope`` may search with this token (possibly none)."""
    return scopes_query(query_scope, token_data.scopes)


# --- routers ----------------------------------------------------------------------------


def make_token_router(credential_cls: type[CredentialedEntity]) -> APIRouter:
    """``POST /token``: exchange identifier and key (OAuth2 password form) for a bearer token."""
    router = APIRouter()

    @router.post("/token", response_model=Token)
    def login_for_access_token(
        form_data: Annotated[OAuth2PasswordRequestForm, Depends()],
        n4js: N4jsDepends,
        settings: Annotated[JWTSettings, Depends(get_jwt_settings_depends)],
    ) -> Token:
        entity = authenticate(n4js, credential_cls, form_data.username, form_data.password)
        if entity is None:
            raise credentials_exception("Incorrect identity or key")
        access_token = create_access_token(
            data={
                "sub": entity.identifier,
                "scopes": entity.scopes,
                "entity_type": credential_cls.__name__,
            },
            secret_key=settings.JWT_SECRET_KEY.get_secret_value(),
            expires_seconds=settings.JWT_EXPIRE_SECONDS,
            jwt_algorithm=settings.JWT_ALGORITHM,
        )
        return Token(access_token=access_token, token_type="bearer")

    return router


def make_ping_router(api_name: str) -> APIRouter:
    """``GET /ping`` (no authentication), for liveness probes and clients finding the API."""
    router = APIRouter()

    @router.get("/ping")
    async def ping() -> dict[str, str]:  # on the event loop: answers even while every worker thread is busy
        return {"api": api_name}

    return router


def make_base_router(api_name: str, credential_cls: type[CredentialedEntity]) -> APIRouter:
    """``GET /info``, ``/check`` and ``/identities/{identifier}/scopes``, all needing a token."""
    router = APIRouter(dependencies=[Depends(get_token_data_depends)])

    @router.get("/info")
    def info() -> dict[str, str]:
        return {"api": api_name, "version": __version__}

    @router.get("/check")
    def check(n4js: N4jsDepends, objectstore: ObjectStoreDepends) -> dict[str, str]:
        failed = []
        for name, probe in (("neo4j", n4js.driver.verify_connectivity), ("objectstore", objectstore.check)):
            try:
                probe()
            except Exception as e:  # any failure means the backend is unusable
                logger.warning("health check of %s failed: %s: %s", name, type(e).__name__, e)
                failed.append(name)
        if failed:
            raise UnavailableError(f"unavailable: {', '.join(failed)}")
        return {"neo4j": "ok", "objectstore": "ok"}

    @router.get("/identities/{identifier}/scopes")
    def list_own_scopes(identifier: str, token_data: TokenDataDepends, n4js: N4jsDepends) -> list[str]:
        """The scopes currently granted to the caller (tokens hold those granted at issue time)."""
        if token_data.entity != identifier or token_data.entity_type != credential_cls.__name__:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="an identity may only read its own scopes")
        return [str(scope) for scope in n4js.list_scopes(identifier, credential_cls)]

    return router


# --- errors and assembly ----------------------------------------------------------------


RETRY_AFTER_SECONDS = 5  # what a 503 tells clients to wait; a restarting Neo4j takes a few seconds


def error_handler(status_code: int) -> Callable[[Request, Exception], Any]:
    """An exception handler answering ``status_code`` with ``{"detail": message}``."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=status_code, content={"detail": error_message(exc)})

    return handle


async def unavailable_handler(request: Request, exc: UnavailableError) -> JSONResponse:
    logger.warning("%s %s: 503: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": error_message(exc)},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats as strings, which strict JSON cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


MAX_ECHOED_INPUT_CHARACTERS = 200


def _brief_input(error: dict) -> dict:
    """A validation error whose rejected ``input`` is echoed only when short: a large invalid body
    must not come back whole in the answer."""
    if "input" in error:
        text = json.dumps(error["input"], default=str)
        if len(text) > MAX_ECHOED_INPUT_CHARACTERS:
            error = {**error, "input": f"<{len(text)} characters, not echoed>"}
    return error


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, also for bodies holding NaN or Infinity (echoed back as strings)."""
    errors = [_brief_input(error) for error in _finite(jsonable_encoder(exc.errors()))]
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": errors})


async def internal_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A bug: generic JSON 500 (the server logs the traceback; the message may hold internals)."""
    return JSONResponse(status_code=status.HTTP_500_INTERNAL_SERVER_ERROR, content={"detail": "internal server error"})


def register_exception_handlers(app: FastAPI) -> None:
    """Map the typed errors of :mod:`alchemiscale.errors` to statuses (see the module docstring)."""
    app.add_exception_handler(InvalidInputError, error_handler(status.HTTP_400_BAD_REQUEST))
    app.add_exception_handler(MalformedInputError, error_handler(status.HTTP_422_UNPROCESSABLE_CONTENT))
    app.add_exception_handler(NotFoundError, error_handler(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(ForbiddenError, error_handler(status.HTTP_403_FORBIDDEN))
    app.add_exception_handler(ConflictError, error_handler(status.HTTP_409_CONFLICT))
    app.add_exception_handler(UnavailableError, unavailable_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, internal_error_handler)


def create_base_app(api_name: str, credential_cls: type[CredentialedEntity], **fastapi_kwargs: Any) -> FastAPI:
    """A FastAPI app with gzip, the error mapping, ``/ping``, ``/token`` and the base routes,
    accepting only tokens issued to ``credential_cls`` identities."""
    # Upstream's clients POST their JSON bodies without a Content-Type header; FastAPI's strict
    # default would not read those as JSON. The strictness guards against cross-site requests
    # riding on a browser's cookies, and these APIs accept bearer tokens only.
    app = FastAPI(title=api_name, version=__version__, strict_content_type=False,
                  docs_url=None, redoc_url=None, **fastapi_kwargs)
    app.state.credential_class = credential_cls
    install_log_context()
    if get_logging_settings().ALCHEMISCALE_LOG_FORMAT:
        configure_logging(get_logging_settings().ALCHEMISCALE_LOG_FORMAT)
    add_offline_docs(app)
    add_idempotency_middleware(app)  # inside the gzip middleware: records hold plain answers
    add_gzip_middleware(app)
    add_body_limits(app, get_jwt_settings_depends)  # refuses bodies before anything inside reads them
    add_metrics(app, api_name)  # outside the body limits: refusals are counted too
    add_request_ids(app)  # outermost: every log line of a request carries its id
    register_exception_handlers(app)
    app.include_router(make_ping_router(api_name))
    app.include_router(make_token_router(credential_cls))
    app.include_router(make_base_router(api_name, credential_cls))
    return app
