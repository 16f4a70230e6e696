"""The same bad input gets the same status on every route, with a message naming the problem."""

from __future__ import annotations

import json

import pytest

from ..identities import bearer

NETWORK_ROUTES = [
    ("GET", "/networks/{sk}"),
    ("GET", "/networks/{sk}/status"),
    ("GET", "/networks/{sk}/tasks"),
    ("GET", "/networks/{sk}/weight"),
    ("GET", "/networks/{sk}/transformations"),
    ("GET", "/networks/{sk}/strategy"),
    ("POST", "/networks/{sk}/tasks/actioned"),
    ("DELETE", "/networks/{sk}"),
]
TASK_ROUTES = [("GET", "/tasks/{sk}/status"), ("GET", "/tasks/{sk}/networks"), ("GET", "/tasks/{sk}/transformation")]


@pytest.fixture(scope="module")
def headers(dataset):
    return bearer(dataset.user_token)


def call(client, method, path, headers):
    return client.request(method, path, headers=headers, **({"json": {}} if method == "POST" else {}))


@pytest.mark.parametrize("method, route", NETWORK_ROUTES)
def test_a_task_key_for_a_network_is_400_naming_the_expected_kind(client, dataset, headers, method, route):
    response = call(client, method, route.format(sk=dataset.tasks[0]), headers)
    assert response.status_code == 400, response.text
    assert "kind AlchemicalNetwork, got one of kind Task" in response.json()["detail"]
    assert client.get(f"/exists/{dataset.network}", headers=headers).json() is True  # nothing was deleted


@pytest.mark.parametrize("method, route", TASK_ROUTES)
def test_a_network_key_for_a_task_is_400(client, dataset, headers, method, route):
    response = call(client, method, route.format(sk=dataset.network), headers)
    assert response.status_code == 400, response.text
    assert "kind Task, got one of kind AlchemicalNetwork" in response.json()["detail"]


@pytest.mark.parametrize("method, route", NETWORK_ROUTES[:3] + TASK_ROUTES[:1])
def test_a_malformed_key_is_422_everywhere(client, headers, method, route):
    response = call(client, method, route.format(sk="not-a-scoped-key"), headers)
    assert response.status_code == 422, response.text
    assert "malformed ScopedKey" in response.json()["detail"]


def test_an_unknown_network_state_is_400_on_create_and_on_set(client, dataset, network_chain, headers):
    submission = {"network": network_chain, "scope": dataset.scope.to_dict(), "state": "bogus"}
    created = client.post("/networks", content=json.dumps(submission),
                          headers={**headers, "Content-Type": "application/json"})
    changed = client.post("/bulk/networks/state/set", json={"networks": [str(dataset.network)], "states": ["bogus"]},
                          headers=headers)
    for response in (created, changed):
        assert response.status_code == 400, response.text
        assert "invalid network state 'bogus'" in response.json()["detail"]
