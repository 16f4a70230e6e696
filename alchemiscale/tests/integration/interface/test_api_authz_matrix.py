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

from ..authz import check_route_authorization
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
    assert len(served) == 67  # 61 upstream routes, /token, three additions, POST beside upstream's GET clear, /metrics
    # outside the body limits only the request ids and the request counts: bodies are checked before any route
    outer = [middleware.cls for middleware in app.user_middleware[:3]]
    assert outer == [RequestIdMiddleware, MetricsMiddleware, BodyLimitMiddleware]


@pytest.mark.parametrize("route_key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_authorization(route_key, client, dataset):
    check_route_authorization(
        lambda: ROUTES[route_key](dataset),
        app_routes(app)[route_key],
        client,
        {caller: headers(dataset) for caller, headers in BAD_CALLERS.items()},
        foreign=bearer(dataset.outsider_token),
        right=bearer(dataset.user_token),
    )
