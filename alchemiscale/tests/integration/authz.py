"""The authorization matrix shared by the user-API and compute-API guards.

A route table maps every (method, path) an app serves to a function building one valid
:class:`Call` from a dataset. ``Call.access`` says how a route treats a valid token of the right
identity type that does not hold the data: ``scoped`` routes refuse (401); ``query`` routes answer
200 with nothing found; ``bulk`` routes answer 200 with null in each slot; ``own`` routes refuse
other identities' data or registrations (403); ``any`` routes serve every valid token; ``public``
routes need no token at all. :func:`check_route_authorization` asserts all of it for one route.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Optional

from fastapi.routing import APIRoute, iter_route_contexts

from alchemiscale.base.api import get_token_data_depends

FOREIGN_STATUS = {"scoped": 401, "own": 403, "any": 200, "query": 200, "bulk": 200}


@dataclass
class Call:
    method: str
    path: str
    access: str = "scoped"
    json: Any = None
    params: Optional[dict] = None
    data: Optional[dict] = None
    content: Optional[tuple[bytes, str]] = None  # a binary body and its media type
    foreign_body: Any = None  # expected body for a foreign token on query/bulk routes

    def send(self, client, headers: dict[str, str]):
        extra: dict[str, Any] = {"headers": headers}
        if self.json is not None:  # json.dumps keeps the NaN some gufe objects hold; httpx would refuse it
            extra["content"] = json.dumps(self.json)
            headers = {**headers, "Content-Type": "application/json"}
            extra["headers"] = headers
        if self.params is not None:
            extra["params"] = self.params
        if self.data is not None:
            extra["data"] = self.data
        if self.content is not None:
            extra["content"], media_type = self.content
            extra["headers"] = {**extra["headers"], "Content-Type": media_type}
        return client.request(self.method, self.path, **extra)


def app_routes(app) -> dict[tuple[str, str], Any]:
    """Every (method, path) the app serves, mapped to its route object (docs pages excluded)."""
    found = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in route.methods:
                found[(method, context.path)] = route
    return found


def needs_token(route) -> bool:
    deps = [d.call for d in route.dependant.dependencies]
    return any(dep is get_token_data_depends or "token" in getattr(dep, "__name__", "") for dep in deps)


def check_route_authorization(
    make_call: Callable[[], Call],
    route,
    client,
    bad_callers: dict[str, dict[str, str]],
    foreign: dict[str, str],
    right: dict[str, str],
) -> None:
    """One route against every caller: each of ``bad_callers`` (headers) gets 401 (200 on public routes),
    ``foreign`` (a valid token without the data) what the route's access kind says, ``right`` 200.

    ``make_call`` is called once per request, so routes that create something can name a fresh one each time.
    """
    call = make_call()
    if call.access == "public":
        assert not needs_token(route)
        for caller, headers in bad_callers.items():
            response = make_call().send(client, headers)
            assert response.status_code == 200, (caller, response.text)
        return

    assert needs_token(route)
    for caller, headers in bad_callers.items():
        response = make_call().send(client, headers)
        assert response.status_code == 401, (caller, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"

    response = make_call().send(client, foreign)
    assert response.status_code == FOREIGN_STATUS[call.access], response.text
    if call.access in ("query", "bulk"):
        assert response.json() == call.foreign_body

    response = make_call().send(client, right)
    assert response.status_code == 200, response.text
