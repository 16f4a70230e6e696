"""Every route of the compute API against every kind of caller.

Callers: no token, a malformed token, an expired token, a user identity's token (the wrong
identity type), a compute token without the data's scope that did not register the services and
managers the requests name, and the compute identity that did, holding the scope. The route table
must cover the whole app, so a new route without an authorization check here fails the suite. The
access kinds are explained in :mod:`alchemiscale.tests.integration.authz`.
"""

from __future__ import annotations

import uuid
from typing import Callable

import pytest

from alchemiscale.serialization.compression import RESULT_MEDIA_TYPE, bytes_to_latin1
from alchemiscale.compute.api import app
from alchemiscale.models import ComputeServiceID, Scope
from alchemiscale.storage.objectstore import LocalObjectStore

from ..authz import Call, app_routes, check_route_authorization
from ..identities import bearer
from ..interface.dataset import KEY, client_for, token
from .dataset import COMPUTE_ENTITY, ComputeDataset, populate_compute

def _s(sk) -> str:
    return str(sk)


ROUTES: dict[tuple[str, str], Callable[[ComputeDataset], Call]] = {
    # base
    ("GET", "/ping"): lambda d: Call("GET", "/ping", access="public"),
    ("GET", "/metrics"): lambda d: Call("GET", "/metrics", access="public"),  # open: ALCHEMISCALE_METRICS_TOKEN unset
    ("POST", "/token"): lambda d: Call("POST", "/token", access="public", data={"username": d.owner, "password": KEY}),
    ("GET", "/info"): lambda d: Call("GET", "/info", access="any"),
    ("GET", "/check"): lambda d: Call("GET", "/check", access="any"),
    ("GET", "/identities/{identifier}/scopes"): lambda d: Call("GET", f"/identities/{d.owner}/scopes", access="own"),
    # compute services: another identity may not act on (or register under) the owner's registrations
    ("POST", "/computeservice/{compute_service_id}/register"): lambda d: Call(
        "POST", f"/computeservice/{ComputeServiceID.new_from_name('fresh')}/register", access="own",
        json={"compute_manager_id": _s(d.manager)},
    ),
    ("POST", "/computeservice/{compute_service_id}/deregister"): lambda d: Call(
        "POST", f"/computeservice/{d.spare_service}/deregister", access="own", json={}
    ),
    ("POST", "/computeservice/{compute_service_id}/heartbeat"): lambda d: Call(
        "POST", f"/computeservice/{d.service}/heartbeat", access="own", json={}
    ),
    # claiming
    ("GET", "/taskhubs"): lambda d: Call(
        "GET", "/taskhubs", access="query", params=d.data.scope.to_dict(), foreign_body=[]
    ),
    ("POST", "/taskhubs/{taskhub_scoped_key}/claim"): lambda d: Call(
        "POST", f"/taskhubs/{d.taskhub}/claim", json={"compute_service_id": _s(d.service), "count": 1}
    ),
    ("POST", "/claim"): lambda d: Call(
        "POST", "/claim", access="own",
        json={"scopes": [d.data.scope.to_dict()], "compute_service_id": _s(d.service), "count": 1},
    ),
    # running a Task
    ("GET", "/tasks/{task_scoped_key}/transformation"): lambda d: Call(
        "GET", f"/tasks/{d.data.tasks[0]}/transformation"
    ),
    ("GET", "/tasks/{task_scoped_key}/transformation/gufe"): lambda d: Call(
        "GET", f"/tasks/{d.data.tasks[0]}/transformation/gufe"
    ),
    ("POST", "/tasks/{task_scoped_key}/results"): lambda d: Call(  # the result it holds: recorded already, 200
        "POST", f"/tasks/{d.data.tasks[0]}/results",
        json={"protocoldagresult": bytes_to_latin1(d.data.result_data), "compute_service_id": _s(d.service)},
    ),
    ("POST", "/tasks/{task_scoped_key}/results/zstd"): lambda d: Call(
        "POST", f"/tasks/{d.data.tasks[0]}/results/zstd", params={"compute_service_id": _s(d.service)},
        content=(d.data.result_data, RESULT_MEDIA_TYPE),
    ),
    ("POST", "/tasks/wanted"): lambda d: Call(
        "POST", "/tasks/wanted", access="own",
        json={"tasks": [_s(d.data.tasks[0])], "compute_service_id": _s(d.service)},
    ),
    # compute managers
    ("POST", "/computemanager/{compute_manager_id}/register"): lambda d: Call(
        "POST", f"/computemanager/{d.manager}/register", access="own", json={"steal": True}
    ),
    ("POST", "/computemanager/{compute_manager_id}/deregister"): lambda d: Call(
        "POST", f"/computemanager/{d.spare_manager}/deregister", access="own", json={}
    ),
    ("POST", "/computemanager/{compute_manager_id}/instruction"): lambda d: Call(
        "POST", f"/computemanager/{d.manager}/instruction", access="own", json={"scopes": [d.data.scope.to_dict()]}
    ),
    ("POST", "/computemanager/{compute_manager_id}/status"): lambda d: Call(
        "POST", f"/computemanager/{d.manager}/status", access="own", json={"status": "OK", "saturation": 0.5}
    ),
    ("POST", "/computemanager/{compute_manager_name}/clear_error"): lambda d: Call(
        "POST", f"/computemanager/{d.errored_manager.name}/clear_error", access="own", json={}
    ),
}

BAD_CALLERS = {
    "no token": lambda d: {},
    "malformed token": lambda d: {"Authorization": "Bearer not.a.jwt"},
    "expired token": lambda d: bearer(
        token(d.owner, [str(d.data.scope)], entity_type=COMPUTE_ENTITY, expires_seconds=-30)
    ),
    "user token": lambda d: bearer(d.data.user_token),
}


@pytest.fixture(scope="module")
def compute_dataset(n4js, tmp_path_factory, network_chain):
    """The dataset, and a TestClient on the real compute app using the session store."""
    objectstore = LocalObjectStore(tmp_path_factory.mktemp("matrix-objects"))
    objectstore.initialize()
    scope = Scope("computeorg", "computecampaign", f"p{uuid.uuid4().hex}")
    dataset = populate_compute(n4js, objectstore, network_chain, scope)
    with client_for(app, n4js, objectstore) as client:
        yield dataset, client
    app.dependency_overrides.clear()


def test_route_table_covers_every_route():
    served = app_routes(app)
    assert set(served) == set(ROUTES), {
        "untested": sorted(set(served) - set(ROUTES)),
        "not served": sorted(set(ROUTES) - set(served)),
    }
    assert len(served) == 22  # 21 and /metrics


@pytest.mark.parametrize("route_key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_authorization(route_key, compute_dataset):
    dataset, client = compute_dataset
    check_route_authorization(
        lambda: ROUTES[route_key](dataset),
        app_routes(app)[route_key],
        client,
        {caller: headers(dataset) for caller, headers in BAD_CALLERS.items()},
        foreign=bearer(dataset.outsider_token),
        right=bearer(dataset.owner_token),
    )
