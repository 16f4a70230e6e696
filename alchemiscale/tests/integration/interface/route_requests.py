"""One valid request per user-API route, built from a Dataset, with what a foreign token gets back.

The access kinds (``scoped``, ``query``, ``bulk``, ``own``, ``any``, ``public``) are explained in
:mod:`alchemiscale.tests.integration.authz`. The dashboard's routes authenticate with a cookie
instead of a bearer token; their kinds are ``dashboard`` (a page of the data's scope: a foreign
identity gets 401), ``dashboard-any`` (a listing: a foreign identity sees none of the data) and
``dashboard-public`` (the login form).
"""

from __future__ import annotations

from typing import Callable

from ..authz import Call, app_routes
from .dataset import KEY, Dataset, strategy_chain

__all__ = ["ROUTES", "Call", "app_routes"]


def _s(sk) -> str:
    return str(sk)


def _scope_params(d: Dataset) -> dict[str, str]:
    return d.scope.to_dict()


ROUTES: dict[tuple[str, str], Callable[[Dataset], Call]] = {
    # base
    ("GET", "/ping"): lambda d: Call("GET", "/ping", access="public"),
    ("GET", "/metrics"): lambda d: Call("GET", "/metrics", access="public"),  # open: ALCHEMISCALE_METRICS_TOKEN unset
    ("POST", "/token"): lambda d: Call("POST", "/token", access="public", data={"username": d.user, "password": KEY}),
    ("GET", "/info"): lambda d: Call("GET", "/info", access="any"),
    ("GET", "/check"): lambda d: Call("GET", "/check", access="any"),
    ("GET", "/identities/{identifier}/scopes"): lambda d: Call("GET", f"/identities/{d.user}/scopes", access="own"),
    ("GET", "/exists/{scoped_key}"): lambda d: Call("GET", f"/exists/{d.transformation}"),
    # networks
    ("POST", "/networks"): lambda d: Call(
        "POST", "/networks", json={"network": d.network_chain, "scope": d.scope.to_dict(), "state": "active"}
    ),
    ("GET", "/networks"): lambda d: Call("GET", "/networks", access="query", params=_scope_params(d), foreign_body=[]),
    ("GET", "/networks/{network_scoped_key}"): lambda d: Call("GET", f"/networks/{d.network}"),
    ("DELETE", "/networks/{network_scoped_key}"): lambda d: Call("DELETE", f"/networks/{d.spare_network}"),
    ("GET", "/networks/{network_scoped_key}/transformations"): lambda d: Call(
        "GET", f"/networks/{d.network}/transformations"
    ),
    ("GET", "/networks/{network_scoped_key}/chemicalsystems"): lambda d: Call(
        "GET", f"/networks/{d.network}/chemicalsystems"
    ),
    ("POST", "/bulk/networks/state/set"): lambda d: Call(
        "POST", "/bulk/networks/state/set", access="bulk", json={"networks": [_s(d.network)], "states": ["active"]},
        foreign_body=[None],
    ),
    ("POST", "/bulk/networks/state/get"): lambda d: Call(
        "POST", "/bulk/networks/state/get", access="bulk", json={"networks": [_s(d.network)]}, foreign_body=[None]
    ),
    ("GET", "/networks/{network_scoped_key}/weight"): lambda d: Call("GET", f"/networks/{d.network}/weight"),
    ("POST", "/networks/{network_scoped_key}/weight"): lambda d: Call("POST", f"/networks/{d.network}/weight", json=0.5),
    ("POST", "/bulk/networks/weight/get"): lambda d: Call(
        "POST", "/bulk/networks/weight/get", access="bulk", json={"networks": [_s(d.network)]}, foreign_body=[None]
    ),
    ("POST", "/bulk/networks/weight/set"): lambda d: Call(
        "POST", "/bulk/networks/weight/set", access="bulk", json={"networks": [_s(d.network)], "weights": [0.5]},
        foreign_body=[None],
    ),
    # transformations and chemical systems
    ("GET", "/transformations"): lambda d: Call(
        "GET", "/transformations", access="query", params=_scope_params(d), foreign_body=[]
    ),
    ("GET", "/transformations/{transformation_scoped_key}"): lambda d: Call("GET", f"/transformations/{d.transformation}"),
    ("GET", "/transformations/{transformation_scoped_key}/networks"): lambda d: Call(
        "GET", f"/transformations/{d.transformation}/networks"
    ),
    ("GET", "/transformations/{transformation_scoped_key}/chemicalsystems"): lambda d: Call(
        "GET", f"/transformations/{d.transformation}/chemicalsystems"
    ),
    ("GET", "/chemicalsystems"): lambda d: Call(
        "GET", "/chemicalsystems", access="query", params=_scope_params(d), foreign_body=[]
    ),
    ("GET", "/chemicalsystems/{chemicalsystem_scoped_key}"): lambda d: Call("GET", f"/chemicalsystems/{d.chemicalsystem}"),
    ("GET", "/chemicalsystems/{chemicalsystem_scoped_key}/networks"): lambda d: Call(
        "GET", f"/chemicalsystems/{d.chemicalsystem}/networks"
    ),
    ("GET", "/chemicalsystems/{chemicalsystem_scoped_key}/transformations"): lambda d: Call(
        "GET", f"/chemicalsystems/{d.chemicalsystem}/transformations"
    ),
    # tasks
    ("POST", "/transformations/{transformation_scoped_key}/tasks"): lambda d: Call(
        "POST", f"/transformations/{d.transformation}/tasks", json={"count": 1, "extends": None}
    ),
    ("POST", "/bulk/transformations/tasks/create"): lambda d: Call(
        "POST", "/bulk/transformations/tasks/create", json={"transformations": [_s(d.transformation)]}
    ),
    ("GET", "/tasks"): lambda d: Call("GET", "/tasks", access="query", params=_scope_params(d), foreign_body=[]),
    ("GET", "/networks/{network_scoped_key}/tasks"): lambda d: Call("GET", f"/networks/{d.network}/tasks"),
    ("GET", "/tasks/{task_scoped_key}/networks"): lambda d: Call("GET", f"/tasks/{d.tasks[0]}/networks"),
    ("GET", "/transformations/{transformation_scoped_key}/tasks"): lambda d: Call(
        "GET", f"/transformations/{d.transformation}/tasks", params={"return_as": "graph"}
    ),
    ("GET", "/tasks/{task_scoped_key}/transformation"): lambda d: Call("GET", f"/tasks/{d.tasks[0]}/transformation"),
    ("POST", "/bulk/tasks/priority/get"): lambda d: Call(
        "POST", "/bulk/tasks/priority/get", access="bulk", json={"tasks": [_s(d.tasks[2])]}, foreign_body=[None]
    ),
    ("POST", "/bulk/tasks/priority/set"): lambda d: Call(
        "POST", "/bulk/tasks/priority/set", access="bulk", json={"tasks": [_s(d.tasks[3])], "priority": 7},
        foreign_body=[None],
    ),
    ("GET", "/tasks/{task_scoped_key}/history"): lambda d: Call("GET", f"/tasks/{d.tasks[0]}/history"),
    ("POST", "/bulk/tasks/tracebacks"): lambda d: Call(
        "POST", "/bulk/tasks/tracebacks", access="bulk", json={"tasks": [_s(d.tasks[1])]}, foreign_body=[None]
    ),
    # statuses
    ("GET", "/tasks/{task_scoped_key}/status"): lambda d: Call("GET", f"/tasks/{d.tasks[0]}/status"),
    ("POST", "/tasks/{task_scoped_key}/status"): lambda d: Call("POST", f"/tasks/{d.tasks[3]}/status", json="waiting"),
    ("POST", "/bulk/tasks/status/get"): lambda d: Call(
        "POST", "/bulk/tasks/status/get", access="bulk", json={"tasks": [d.tasks[0].to_dict()]}, foreign_body=[None]
    ),
    ("POST", "/bulk/tasks/status/set"): lambda d: Call(
        "POST", "/bulk/tasks/status/set", access="bulk", json={"tasks": [_s(d.tasks[3])], "status": "waiting"},
        foreign_body=[None],
    ),
    ("GET", "/scopes/{scope}/status"): lambda d: Call("GET", f"/scopes/{d.scope}/status", access="query", foreign_body={}),
    ("GET", "/networks/{network_scoped_key}/status"): lambda d: Call("GET", f"/networks/{d.network}/status"),
    ("POST", "/bulk/networks/status"): lambda d: Call(
        "POST", "/bulk/networks/status", access="bulk", json={"networks": [_s(d.network)]}, foreign_body=[None]
    ),
    ("GET", "/transformations/{transformation_scoped_key}/status"): lambda d: Call(
        "GET", f"/transformations/{d.transformation}/status"
    ),
    # actioning
    ("POST", "/networks/{network_scoped_key}/tasks/action"): lambda d: Call(
        "POST", f"/networks/{d.network}/tasks/action", json={"tasks": [_s(d.tasks[2])], "weight": 0.7}
    ),
    ("POST", "/networks/{network_scoped_key}/tasks/cancel"): lambda d: Call(
        "POST", f"/networks/{d.network}/tasks/cancel", json={"tasks": [_s(d.tasks[3])]}
    ),
    ("POST", "/networks/{network_scoped_key}/tasks/actioned"): lambda d: Call(
        "POST", f"/networks/{d.network}/tasks/actioned", json={"task_weights": True}
    ),
    ("POST", "/bulk/networks/tasks/actioned"): lambda d: Call(
        "POST", "/bulk/networks/tasks/actioned", access="bulk", json={"networks": [_s(d.network)], "task_weights": False},
        foreign_body=[None],
    ),
    ("POST", "/tasks/{task_scoped_key}/networks/actioned"): lambda d: Call(
        "POST", f"/tasks/{d.tasks[2]}/networks/actioned", json={"task_weights": True}
    ),
    # restart patterns
    ("POST", "/networks/{network_scoped_key}/restartpatterns/add"): lambda d: Call(
        "POST", f"/networks/{d.network}/restartpatterns/add", json={"patterns": ["Timeout"], "num_allowed_restarts": 2}
    ),
    ("POST", "/networks/{network_scoped_key}/restartpatterns/remove"): lambda d: Call(
        "POST", f"/networks/{d.network}/restartpatterns/remove", json={"patterns": ["Nothing"]}
    ),
    ("POST", "/networks/{network_scoped_key}/restartpatterns/clear"): lambda d: Call(
        "POST", f"/networks/{d.network}/restartpatterns/clear"
    ),
    ("GET", "/networks/{network_scoped_key}/restartpatterns/clear"): lambda d: Call(
        "GET", f"/networks/{d.network}/restartpatterns/clear"
    ),
    ("POST", "/networks/{network_scoped_key}/restartpatterns/maxretries"): lambda d: Call(
        "POST", f"/networks/{d.network}/restartpatterns/maxretries", json={"patterns": ["Timeout"], "max_retries": 3}
    ),
    ("POST", "/bulk/networks/restartpatterns/get"): lambda d: Call(
        "POST", "/bulk/networks/restartpatterns/get", access="bulk", json={"networks": [_s(d.network)]},
        foreign_body={_s(d.network): None},
    ),
    # results
    ("GET", "/transformations/{transformation_scoped_key}/results"): lambda d: Call(
        "GET", f"/transformations/{d.transformation}/results"
    ),
    ("GET", "/transformations/{transformation_scoped_key}/failures"): lambda d: Call(
        "GET", f"/transformations/{d.transformation}/failures"
    ),
    ("GET", "/tasks/{task_scoped_key}/results"): lambda d: Call("GET", f"/tasks/{d.tasks[0]}/results"),
    ("GET", "/tasks/{task_scoped_key}/failures"): lambda d: Call("GET", f"/tasks/{d.tasks[1]}/failures"),
    ("GET", "/transformations/{transformation_scoped_key}/{route}/{protocoldagresultref_scoped_key}"): lambda d: Call(
        "GET", f"/transformations/{d.transformation}/results/{d.result_ref}"
    ),
    # strategies
    ("POST", "/networks/{network_scoped_key}/strategy"): lambda d: Call(
        "POST", f"/networks/{d.network}/strategy", json={"strategy": strategy_chain(), "mode": "partial"}
    ),
    ("GET", "/networks/{network_scoped_key}/strategy"): lambda d: Call("GET", f"/networks/{d.network}/strategy"),
    ("GET", "/networks/{network_scoped_key}/strategy/state"): lambda d: Call(
        "GET", f"/networks/{d.network}/strategy/state"
    ),
    ("GET", "/networks/{network_scoped_key}/strategy/status"): lambda d: Call(
        "GET", f"/networks/{d.network}/strategy/status"
    ),
    ("GET", "/strategies"): lambda d: Call(
        "GET", "/strategies", access="query", params={**_scope_params(d), "due": "false"}, foreign_body=[]
    ),
    ("POST", "/networks/{network_scoped_key}/strategy/state"): lambda d: Call(
        "POST", f"/networks/{d.network}/strategy/state",
        json={"strategy": _s(d.strategy), "status": "awake", "iterations": 1,
              "last_iteration": "2026-01-01T00:00:00+00:00", "last_iteration_result_count": 0},
    ),
    # dashboard
    ("GET", "/dashboard/login"): lambda d: Call("GET", "/dashboard/login", access="dashboard-public"),
    ("POST", "/dashboard/login"): lambda d: Call(
        "POST", "/dashboard/login", access="dashboard-public", data={"identifier": d.user, "key": KEY}
    ),
    ("GET", "/dashboard/"): lambda d: Call("GET", "/dashboard/", access="dashboard-any"),
    ("GET", "/dashboard/data/overview"): lambda d: Call("GET", "/dashboard/data/overview", access="dashboard-any"),
    ("GET", "/dashboard/compute"): lambda d: Call("GET", "/dashboard/compute", access="dashboard-any"),
    ("GET", "/dashboard/data/compute"): lambda d: Call("GET", "/dashboard/data/compute", access="dashboard-any"),
    ("GET", "/dashboard/networks/{network_scoped_key}"): lambda d: Call(
        "GET", f"/dashboard/networks/{d.network}", access="dashboard"
    ),
    ("GET", "/dashboard/data/networks/{network_scoped_key}"): lambda d: Call(
        "GET", f"/dashboard/data/networks/{d.network}", access="dashboard"
    ),
    ("GET", "/dashboard/tasks/{task_scoped_key}/failures"): lambda d: Call(
        "GET", f"/dashboard/tasks/{d.tasks[1]}/failures", access="dashboard"
    ),
    ("POST", "/networks/{network_scoped_key}/strategy/awake"): lambda d: Call(
        "POST", f"/networks/{d.network}/strategy/awake"
    ),
}
