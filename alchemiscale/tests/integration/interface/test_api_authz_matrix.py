"""Every route of the user API against every kind of caller.

Callers: no token, a malformed token, an expired token, a compute identity's token, a user token
without the data's scope, and a user token with it. The route table must cover the whole app, so
a new route without an authorization check here fails the suite.
"""

from __future__ import annotations

import pytest

from alchemiscale.base.api import get_token_data_depends
from alchemiscale.base.body import BodyLimitMiddleware
from alchemiscale.interface.api import app

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
    assert len(served) == 66  # 61 upstream routes, /token, three additions, and POST beside upstream's GET clear
    assert app.user_middleware[0].cls is BodyLimitMiddleware  # outermost: bodies are checked before any route


def _needs_token(route) -> bool:
    deps = [d.call for d in route.dependant.dependencies]
    return any(dep is get_token_data_depends or "token" in getattr(dep, "__name__", "") for dep in deps)


@pytest.mark.parametrize("route_key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_authorization(route_key, client, dataset):
    call = ROUTES[route_key](dataset)
    route = app_routes(app)[route_key]

    if call.access == "public":
        assert not _needs_token(route)
        for headers in [h(dataset) for h in BAD_CALLERS.values()]:
            response = call.send(client, headers)
            assert response.status_code == 200, (headers, response.text)
        return

    assert _needs_token(route)
    for caller, headers in BAD_CALLERS.items():
        response = call.send(client, headers(dataset))
        assert response.status_code == 401, (caller, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"

    response = call.send(client, bearer(dataset.outsider_token))
    expected = {"scoped": 401, "own": 403, "any": 200, "query": 200, "bulk": 200}[call.access]
    assert response.status_code == expected, response.text
    if call.access in ("query", "bulk"):
        assert response.json() == call.foreign_body

    response = call.send(client, bearer(dataset.user_token))
    assert response.status_code == 200, response.text
