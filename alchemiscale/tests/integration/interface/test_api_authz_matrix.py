"""Every route of the user API against every kind of caller.

Callers: no token, a malformed token, an expired token, a compute identity's token, a user token
without the data's scope, and a user token with it. The route table must cover the whole app, so
a new route without an authorization check here fails the suite.
"""

from __future__ import annotations

import pytest

from alchemiscale.base.body import BodyLimitMiddleware
from alchemiscale.base.logs import RequestIdMiddleware
from alchemiscale.base.metrics import MetricsMiddleware
from alchemiscale.interface.api import app

from alchemiscale.interface.dashboard.routes import COOKIE_NAME, LOGIN_PATH

from ..authz import Call, check_route_authorization
from ..identities import bearer
from .dataset import token
from .route_requests import ROUTES, app_routes

BAD_CALLERS = {
    "no token": lambda d: {},
    "malformed token": lambda d: {"Authorization": "Bearer not.a.jwt"},
    "expired token": lambda d: bearer(token(d.user, [str(d.scope)], expires_seconds=-30)),
    "compute token": lambda d: bearer(token("compute", ["*-*-*"], entity_type="CredentialedComputeIdentity")),
}


def test_route_table_covers_every_route():
    served = app_routes(app)
    assert set(served) == set(ROUTES), {
        "untested": sorted(set(served) - set(ROUTES)),
        "not served": sorted(set(ROUTES) - set(served)),
    }
    dashboard = [key for key in served if key[1].startswith("/dashboard/")]
    assert len(dashboard) == 9
    # 61 upstream routes, /token, three additions, POST beside upstream's GET clear, /metrics,
    # and the strategist's two (GET /strategies, POST /networks/{sk}/strategy/state)
    assert len(served) - len(dashboard) == 69
    # outside the body limits only the request ids and the request counts: bodies are checked before any route
    outer = [middleware.cls for middleware in app.user_middleware[:3]]
    assert outer == [RequestIdMiddleware, MetricsMiddleware, BodyLimitMiddleware]


@pytest.mark.parametrize("route_key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_authorization(route_key, client, dataset):
    if ROUTES[route_key](dataset).access.startswith("dashboard"):
        check_dashboard_authorization(ROUTES[route_key](dataset), client, dataset)
        return
    check_route_authorization(
        lambda: ROUTES[route_key](dataset),
        app_routes(app)[route_key],
        client,
        {caller: headers(dataset) for caller, headers in BAD_CALLERS.items()},
        foreign=bearer(dataset.outsider_token),
        right=bearer(dataset.user_token),
    )


BAD_COOKIES = {
    "malformed cookie": lambda d: "not.a.jwt",
    "expired cookie": lambda d: token(d.user, [str(d.scope)], expires_seconds=-30),
    "compute cookie": lambda d: token("compute", ["*-*-*"], entity_type="CredentialedComputeIdentity"),
}


def dashboard_request(client, call: Call, cookie=None, headers=None):
    headers = dict(headers or {})
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE_NAME}={cookie}"
    return client.request(call.method, call.path, headers=headers, data=call.data, follow_redirects=False)


def check_dashboard_authorization(call: Call, client, d) -> None:
    """Dashboard routes read a cookie, never a bearer token: without a valid user cookie pages
    redirect to the login form and JSON answers 401; a foreign identity gets 401 on pages of the
    data's scope and sees nothing of it in listings; the owner gets the page."""
    if call.access == "dashboard-public":
        response = dashboard_request(client, call)
        assert response.status_code in (200, 303), response.text
        if call.method == "POST":
            assert response.headers["location"] == "/dashboard/"
            cookie = response.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie, cookie
        return
    is_data = call.path.startswith("/dashboard/data/")
    refusals = {name: dashboard_request(client, call, make(d)) for name, make in BAD_COOKIES.items()}
    refusals["no cookie"] = dashboard_request(client, call)
    refusals["bearer token, no cookie"] = dashboard_request(client, call, headers=bearer(d.user_token))
    for caller, response in refusals.items():
        if is_data:
            assert response.status_code == 401, (caller, response.text)
        else:
            assert response.status_code == 303, (caller, response.text)
            assert response.headers["location"] == LOGIN_PATH

    foreign = dashboard_request(client, call, d.outsider_token)
    if call.access == "dashboard":
        assert foreign.status_code == 401, foreign.text
    else:
        assert foreign.status_code == 200, foreign.text
    assert str(d.network) not in foreign.text

    response = dashboard_request(client, call, d.user_token)
    assert response.status_code == 200, response.text
    if call.access == "dashboard-any" and "compute" not in call.path:
        assert str(d.network) in response.text
