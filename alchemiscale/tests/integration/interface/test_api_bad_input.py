"""Malformed input of every sort gets a 4xx naming the problem, never a 500."""

from __future__ import annotations

import gzip
import json
import random

import pytest

from alchemiscale.interface.dashboard.routes import COOKIE_NAME

from ..identities import bearer
from .dataset import token
from .route_requests import ROUTES

MALFORMED_KEYS = [
    "Task-abc-org-camp",  # 4 parts
    "Task-abc-org-camp-proj-extra",
    "Task-a b-org-camp-proj",
    "Task-abc-1org-camp-proj",
    "Task-abc-org-*-proj",
    "-abc-org-camp-proj",
    "Task-ab%C3%A9-org-camp-proj",
    "x" * 5000,
]

WRONG_VALUES = [None, 0, -1, 2**70, 1.5, float("nan"), "text", [], [None], [1, 2], {}, {"a": [1]}, True, "🙂" * 50]


@pytest.fixture(scope="module")
def headers(dataset):
    user_token = token(dataset.user, ["*-*-*"])
    return {**bearer(user_token), "Cookie": f"{COOKIE_NAME}={user_token}"}  # the dashboard reads the cookie


def detail(response) -> str:
    """The error message: a JSON answer's detail, or a dashboard page's text."""
    if response.headers["content-type"].startswith("text/html"):
        return response.text
    return response.json()["detail"]


def send(client, method, path, headers, content=None, extra_headers=None):
    return client.request(method, path, content=content, headers={**headers, **(extra_headers or {})})


def send_json(client, method, path, headers, body):
    content = json.dumps(body) if body is not None else None
    return send(client, method, path, headers, content, {"Content-Type": "application/json"})


def substitute(path: str, dataset, replacement) -> str:
    """``path`` with every ScopedKey of the dataset replaced by ``replacement(sk)``."""
    keys = [dataset.network, dataset.spare_network, dataset.transformation, dataset.chemicalsystem,
            *dataset.tasks, dataset.result_ref, dataset.failure_ref]
    for sk in keys:
        path = path.replace(str(sk), replacement(sk))
    return path


@pytest.mark.parametrize("bad", MALFORMED_KEYS)
def test_malformed_scoped_keys_in_paths(client, dataset, headers, bad):
    for (method, path), build in ROUTES.items():
        if "{" not in path or path.startswith("/identities") or path.startswith("/scopes"):
            continue
        call = build(dataset)
        concrete = substitute(call.path, dataset, lambda sk: bad)
        response = send_json(client, method, concrete, headers, call.json)
        assert response.status_code in (404, 405, 422), (method, concrete, response.status_code, response.text)
        if response.status_code == 422 and isinstance(detail(response), str):
            assert "malformed ScopedKey" in detail(response)


def test_unknown_objects_are_404(client, dataset, headers):
    """Well-formed keys of objects that do not exist (a token changed by one digit)."""
    for (method, path), build in ROUTES.items():
        call = build(dataset)
        concrete = substitute(call.path, dataset, lambda sk: str(sk).replace(f"{sk.qualname}-", f"{sk.qualname}-0", 1))
        if concrete == call.path or path == "/exists/{scoped_key}":
            continue
        response = send_json(client, method, concrete, headers, call.json)
        assert response.status_code == 404, (method, concrete, response.text)
        assert "no " in detail(response)


def test_wrong_json_types_in_bodies(client, dataset, headers):
    rng = random.Random(1)
    for (method, path), build in ROUTES.items():
        call = build(dataset)
        if method != "POST" or call.access == "public":
            continue
        bodies = [rng.choice(WRONG_VALUES) for _ in range(3)]
        if isinstance(call.json, dict):
            for member in call.json:
                bodies += [{**call.json, member: value} for value in WRONG_VALUES]
        for body in bodies:
            response = send_json(client, method, call.path, headers, body)
            assert 400 <= response.status_code < 500 or response.status_code == 200, (path, body, response.text)


@pytest.mark.parametrize(
    "content, extra",
    [
        (b"{not json", {"Content-Type": "application/json"}),
        (b"\xff\xfe\x00", {"Content-Type": "application/json"}),
        (b'{"tasks": ["Task-abc-o-c-p"]}', {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
        (gzip.compress(b'{"tasks": ["Task-abc-o-c-p"]}')[:-5], {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
        (gzip.compress(b"{broken"), {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
        (b"tasks=1", {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
    ids=["bad json", "bad bytes", "not gzip", "truncated gzip", "gzip of bad json", "form body"],
)
def test_garbage_bodies(client, headers, content, extra):
    response = send(client, "POST", "/bulk/tasks/status/get", headers, content, extra)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    "path, params",
    [
        ("/networks", {"name": "(unclosed"}),
        ("/networks", {"state": "[z-a]"}),
        ("/networks", {"org": "1bad"}),
        ("/networks", {"campaign": "c"}),
        ("/tasks", {"status": "sleeping"}),
        ("/scopes/a-b/status", {}),
        ("/scopes/a-b-c/status", {"network_state": "*bad"}),
    ],
)
def test_bad_query_parameters(client, headers, path, params):
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


def test_out_of_range_numbers(client, dataset, headers):
    network, task = str(dataset.network), str(dataset.tasks[3])
    cases = [
        (f"/networks/{network}/weight", "1e400"),
        (f"/networks/{network}/weight", "NaN"),
        (f"/networks/{network}/weight", "-Infinity"),
        ("/bulk/tasks/priority/set", json.dumps({"tasks": [task], "priority": -5})),
        ("/bulk/tasks/priority/set", json.dumps({"tasks": [task], "priority": 10**30})),
        (f"/networks/{network}/tasks/action", json.dumps({"tasks": [task], "weight": 7})),
        (f"/transformations/{dataset.transformation}/tasks", json.dumps({"count": 10**9})),
        (f"/networks/{network}/strategy", json.dumps({"strategy": None, "sleep_interval": 2**64})),
        (f"/networks/{network}/restartpatterns/maxretries", json.dumps({"patterns": ["x"], "max_retries": 2**70})),
    ]
    for path, content in cases:
        response = send(client, "POST", path, headers, content, {"Content-Type": "application/json"})
        assert response.status_code in (400, 422), (path, content, response.text)
