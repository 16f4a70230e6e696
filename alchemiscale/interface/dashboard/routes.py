"""The dashboard's routes: HTML pages and the JSON they refresh from, all reads through the store."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from ...base.api import N4jsDepends, ObjectStoreDepends, get_jwt_settings_depends, parse_scoped_key, require_kind
from ...serialization.compression import ResultDecodeError, decompress_keyed_chain
from ...errors import InvalidInputError, MalformedInputError
from ...models import Scope, ScopedKey
from .estimates import extract_estimate
from ...security.auth import InvalidTokenError, authenticate, authorize, create_access_token, scopes_query, verify_token
from ...security.models import CredentialedUserIdentity, TokenData
from ...settings import JWTSettings
from ...storage.objectstore import ObjectNotFoundError
from .plots import estimates_svg

logger = logging.getLogger(__name__)

PREFIX = "/dashboard"
LOGIN_PATH = f"{PREFIX}/login"
COOKIE_NAME = "alchemiscale_dashboard"
REFRESH_SECONDS = 3
STATUSES = ("waiting", "running", "complete", "error", "invalid", "deleted")

templates = Environment(loader=PackageLoader(__name__.rsplit(".", 1)[0], "templates"), autoescape=select_autoescape())
JwtDepends = Annotated[JWTSettings, Depends(get_jwt_settings_depends)]


class LoginRequired(Exception):
    """No valid dashboard cookie: pages redirect to the login form, JSON answers 401."""


def dashboard_token(request: Request, settings: JwtDepends) -> TokenData:
    """The user token held in the dashboard cookie; LoginRequired if absent, invalid, expired or not a user's."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        raise LoginRequired()
    try:
        return verify_token(token, settings, CredentialedUserIdentity)
    except InvalidTokenError as e:
        logger.info("rejected dashboard cookie: %s", e)
        raise LoginRequired() from e


DashboardToken = Annotated[TokenData, Depends(dashboard_token)]


def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(prefix=PREFIX, statuses=STATUSES, refresh=REFRESH_SECONDS, **context)
    return HTMLResponse(html, status_code=status_code)


class PageRefused(Exception):
    """A request the dashboard refuses with ``status_code`` and a message shown on an error page."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def authorized(scoped_key: str, token_data: TokenData, qualname: str) -> ScopedKey:
    """The ScopedKey of a ``qualname`` object within the token's scopes; PageRefused otherwise."""
    try:
        sk = require_kind(parse_scoped_key(scoped_key), qualname)
    except MalformedInputError as e:
        raise PageRefused(422, str(e)) from e
    except InvalidInputError as e:
        raise PageRefused(400, str(e)) from e
    if not authorize(token_data.scopes, sk.scope):
        raise PageRefused(401, f"scope {sk.scope} is not among the scopes of your identity")
    return sk


def heartbeat_age_seconds(heartbeat: Optional[datetime]) -> Optional[float]:
    if heartbeat is None:
        return None
    if heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=timezone.utc)
    return round((datetime.now(timezone.utc) - heartbeat).total_seconds(), 1)


# --- data -------------------------------------------------------------------------------


def overview_data(token_data: TokenData, n4js) -> dict[str, Any]:
    """Networks of every scope the token may see, grouped by their scope, with Task status counts."""
    by_scope: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for permitted in scopes_query(Scope(), token_data.scopes):
        for summary in n4js.get_scope_network_summaries(permitted):
            if summary["network"] not in seen:
                seen.add(summary["network"])
                by_scope.setdefault(str(ScopedKey.from_str(summary["network"]).scope), []).append(summary)
    networks = {s["network"]: s for group in by_scope.values() for s in group}
    return {"scopes": dict(sorted(by_scope.items())), "networks": networks}


def latest_estimate(n4js, objectstore, transformation: str, ref_sk: Optional[str]) -> Optional[dict[str, Any]]:
    """The estimate of a Transformation's newest successful result, read gufe-free; None if unrecognizable."""
    if ref_sk is None:
        return None
    try:
        ref = n4js.get_protocoldagresultref(ref_sk)
        data = objectstore.pull_protocoldagresult(ref, ScopedKey.from_str(transformation))
        return extract_estimate(decompress_keyed_chain(data))
    except (ObjectNotFoundError, ResultDecodeError) as e:
        logger.warning("no estimate from result %s: %s", ref_sk, e)
        return None


def network_data(network: ScopedKey, n4js, objectstore, with_estimates: bool) -> dict[str, Any]:
    transformations = n4js.get_network_transformation_summaries(network)
    if with_estimates:
        for summary in transformations:
            summary["estimate"] = latest_estimate(n4js, objectstore, summary["transformation"], summary["latest_result"])
    counts: dict[str, int] = {}
    for summary in transformations:
        for status, n in summary["counts"].items():
            counts[status] = counts.get(status, 0) + n
    return {
        "network": str(network),
        "counts": counts,
        "transformations": {s["transformation"]: s for s in transformations},
        "failed_tasks": n4js.get_network_failed_tasks(network),
    }


def compute_data(token_data: TokenData, n4js) -> dict[str, Any]:
    """Services and managers with heartbeat ages; of claimed Tasks, only those in the token's scopes are counted."""
    services = []
    for service in n4js.list_compute_services():
        visible = [sk for sk in service.pop("claimed") if authorize(token_data.scopes, ScopedKey.from_str(sk).scope)]
        services.append({**service, "claimed_here": len(visible), "heartbeat_age": heartbeat_age_seconds(service["heartbeat"])})
    managers = [
        {**m, "update_age": heartbeat_age_seconds(m["last_status_update"])} for m in n4js.list_compute_managers()
    ]
    return {"services": {s["identifier"]: s for s in services}, "managers": {m["name"]: m for m in managers}}


def json_answer(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


def _jsonable(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _jsonable(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_jsonable(v) for v in data]
    if isinstance(data, datetime):
        return data.isoformat()
    return data


# --- routes -----------------------------------------------------------------------------

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/login")
def login_form() -> HTMLResponse:
    return page("login.html")


@router.post("/login")
def login(
    request: Request,
    identifier: Annotated[str, Form()],
    key: Annotated[str, Form()],
    n4js: N4jsDepends,
    settings: JwtDepends,
):
    """Exchange identifier and key for the API's JWT, as ``POST /token`` does, kept in the dashboard cookie."""
    entity = authenticate(n4js, CredentialedUserIdentity, identifier, key)
    if entity is None:
        return page("login.html", status_code=401, error="Incorrect identity or key", identifier=identifier)
    token = create_access_token(
        data={"sub": entity.identifier, "scopes": entity.scopes, "entity_type": CredentialedUserIdentity.__name__},
        secret_key=settings.JWT_SECRET_KEY.get_secret_value(),
        expires_seconds=settings.JWT_EXPIRE_SECONDS,
        jwt_algorithm=settings.JWT_ALGORITHM,
    )
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    response.set_cookie(
        COOKIE_NAME, token, max_age=settings.JWT_EXPIRE_SECONDS, path=PREFIX, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/")
def overview(token_data: DashboardToken, n4js: N4jsDepends) -> HTMLResponse:
    data = _jsonable(overview_data(token_data, n4js))
    return page("overview.html", identity=token_data.entity, data=data, data_url=f"{PREFIX}/data/overview")


@router.get("/data/overview")
def overview_json(token_data: DashboardToken, n4js: N4jsDepends) -> JSONResponse:
    return json_answer(_jsonable(overview_data(token_data, n4js)))


@router.get("/networks/{network_scoped_key}")
def network_page(
    network_scoped_key: str, token_data: DashboardToken, n4js: N4jsDepends, objectstore: ObjectStoreDepends
) -> HTMLResponse:
    network = authorized(network_scoped_key, token_data, "AlchemicalNetwork")
    summaries = n4js.get_scope_network_summaries(network.scope)
    summary = next((s for s in summaries if s["network"] == str(network)), None)
    if summary is None:
        raise PageRefused(404, f"no AlchemicalNetwork {network} in the state store")
    data = _jsonable(network_data(network, n4js, objectstore, with_estimates=True))
    return page(
        "network.html", identity=token_data.entity, network=summary, data=data,
        plot=estimates_svg(list(data["transformations"].values())),
        data_url=f"{PREFIX}/data/networks/{network}",
    )


@router.get("/data/networks/{network_scoped_key}")
def network_json(
    network_scoped_key: str, token_data: DashboardToken, n4js: N4jsDepends, objectstore: ObjectStoreDepends
) -> JSONResponse:
    network = authorized(network_scoped_key, token_data, "AlchemicalNetwork")
    if not n4js.check_existence(network):
        raise PageRefused(404, f"no AlchemicalNetwork {network} in the state store")
    return json_answer(_jsonable(network_data(network, n4js, objectstore, with_estimates=False)))


@router.get("/tasks/{task_scoped_key}/failures")
def failures_page(task_scoped_key: str, token_data: DashboardToken, n4js: N4jsDepends) -> HTMLResponse:
    task = authorized(task_scoped_key, token_data, "Task")
    failures = n4js.get_task_tracebacks([task])[0]
    if not failures and n4js.get_task_status([task])[0] is None:
        raise PageRefused(404, f"no Task {task} in the state store")
    return page("failures.html", identity=token_data.entity, task=str(task), failures=_jsonable(failures))


@router.get("/compute")
def compute_page(token_data: DashboardToken, n4js: N4jsDepends) -> HTMLResponse:
    data = _jsonable(compute_data(token_data, n4js))
    return page("compute.html", identity=token_data.entity, data=data, data_url=f"{PREFIX}/data/compute")


@router.get("/data/compute")
def compute_json(token_data: DashboardToken, n4js: N4jsDepends) -> JSONResponse:
    return json_answer(_jsonable(compute_data(token_data, n4js)))


def add_dashboard(app: FastAPI) -> None:
    """Serve the dashboard on ``app``: its routes and the answers to LoginRequired and PageRefused."""

    async def login_required(request: Request, exc: LoginRequired):
        if request.url.path.startswith(f"{PREFIX}/data/"):
            return JSONResponse({"detail": "log in at " + LOGIN_PATH}, status_code=401)
        return RedirectResponse(LOGIN_PATH, status_code=303)

    async def page_refused(request: Request, exc: PageRefused):
        if request.url.path.startswith(f"{PREFIX}/data/"):
            return JSONResponse({"detail": exc.message}, status_code=exc.status_code)
        return page("error.html", status_code=exc.status_code, message=exc.message)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(PageRefused, page_refused)
    app.include_router(router)
