"""The dashboard's pages and JSON on the shared user-API dataset (real Neo4j and object store)."""

from __future__ import annotations

import pytest

from alchemiscale.interface.dashboard.routes import COOKIE_NAME

from .dataset import KEY


@pytest.fixture
def cookie(dataset) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={dataset.user_token}"}


def test_login_with_a_wrong_key_sets_no_cookie(client, dataset):
    response = client.post("/dashboard/login", data={"identifier": dataset.user, "key": KEY + "x"}, follow_redirects=False)
    assert response.status_code == 401
    assert "Incorrect identity or key" in response.text
    assert "set-cookie" not in response.headers


def test_login_cookie_opens_the_overview(client, dataset):
    response = client.post("/dashboard/login", data={"identifier": dataset.user, "key": KEY})
    assert response.status_code == 200  # followed the redirect with the cookie just set
    assert str(dataset.network) in response.text and str(dataset.scope) in response.text
    client.cookies.clear()


def test_network_data_matches_the_store(client, dataset, api_store, cookie):
    data = client.get(f"/dashboard/data/networks/{dataset.network}", headers=cookie).json()
    assert data["counts"] == api_store.get_network_status([dataset.network])[0] == {"complete": 1, "error": 1, "waiting": 2}
    summary = data["transformations"][str(dataset.transformation)]
    assert summary["counts"] == {"complete": 1, "error": 1, "waiting": 2}
    assert (summary["n_results"], summary["n_failures"], summary["latest_result"]) == (1, 1, str(dataset.result_ref))
    assert [f["task"] for f in data["failed_tasks"]] == [str(dataset.tasks[1])]


def test_network_page_links_failures_to_their_tracebacks(client, dataset, cookie):
    page = client.get(f"/dashboard/networks/{dataset.network}", headers=cookie)
    assert page.status_code == 200
    assert f'href="/dashboard/tasks/{dataset.tasks[1]}/failures"' in page.text
    assert "not recognized" in page.text  # the stand-in result carries no estimate
    failures = client.get(f"/dashboard/tasks/{dataset.tasks[1]}/failures", headers=cookie)
    assert "RuntimeError: boom" in failures.text


def test_compute_data_shows_the_registered_service(client, dataset, api_store, cookie):
    services = client.get("/dashboard/data/compute", headers=cookie).json()["services"]
    registered = [s for s in services.values() if s["identifier"].startswith("apitest-")]
    assert registered and all(s["heartbeat_age"] >= 0 for s in registered)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/dashboard/networks/not-a-key", 422),
        ("/dashboard/networks/{task}", 400),  # a Task's key where a network's is expected
        ("/dashboard/networks/{missing}", 404),
        ("/dashboard/tasks/{network}/failures", 400),
    ],
)
def test_bad_keys_get_an_error_page(client, dataset, cookie, path, status):
    missing = str(dataset.network).replace(dataset.network.gufe_key.split("-")[-1], "0" * 32)
    response = client.get(
        path.format(task=dataset.tasks[0], missing=missing, network=dataset.network), headers=cookie
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
