"""What the user API's routes answer, over the real state store and a local object store."""

from __future__ import annotations

import gzip
import json

import pytest

from alchemiscale.serialization.compression import latin1_to_bytes
from alchemiscale.interface.api import app
from alchemiscale.models import ScopedKey

from ..identities import bearer
from .dataset import client_for, populate, strategy_chain, token


@pytest.fixture(scope="module")
def headers(dataset):
    return bearer(dataset.user_token)


def post(client, path, body, headers):
    """POST JSON as Python writes it (gufe objects may hold NaN, which strict encoders refuse)."""
    return client.post(path, content=json.dumps(body), headers={**headers, "Content-Type": "application/json"})


def canonical(chain: list) -> dict[str, str]:
    """A keyed chain's entries as comparable text (order-free; NaN compares equal as text)."""
    return {key: json.dumps(keyed_dict, sort_keys=True) for key, keyed_dict in chain}


class TestNetworks:
    def test_submission_is_idempotent_and_returns_a_scoped_key_dict(self, client, dataset, headers):
        body = {"network": dataset.network_chain, "scope": dataset.scope.to_dict(), "state": "active"}
        response = post(client, "/networks", body, headers)
        assert response.status_code == 200, response.text
        assert ScopedKey(**response.json()) == dataset.network

    def test_gzipped_submission_and_gzipped_response(self, client, dataset, headers):
        body = {"network": dataset.network_chain, "scope": dataset.scope.to_dict()}
        response = client.post(
            "/networks",
            content=gzip.compress(json.dumps(body).encode()),
            headers={**headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert response.status_code == 200, response.text
        chain = client.get(f"/networks/{dataset.network}", headers={**headers, "Accept-Encoding": "gzip"})
        assert chain.headers["Content-Encoding"] == "gzip"
        assert canonical(chain.json()) == canonical(dataset.network_chain)  # NaN box vectors survive too
        assert chain.json()[-1][0] == dataset.network.gufe_key

    def test_wildcard_scope_is_refused(self, client, dataset):
        body = {"network": dataset.network_chain, "scope": {"org": dataset.scope.org}}
        response = post(client, "/networks", body, bearer(token(dataset.user, ["*-*-*"])))
        assert response.status_code == 422
        assert "specific" in response.json()["detail"]

    def test_self_transformation_is_422_with_the_message(self, client, dataset, headers):
        chain = json.loads(json.dumps(dataset.network_chain))
        entry = next(d for _, d in chain if d["__qualname__"] == "Transformation")
        entry["stateB"] = entry["stateA"]
        response = post(client, "/networks", {"network": chain, "scope": dataset.scope.to_dict()}, headers)
        assert response.status_code == 422
        assert "identical stateA and stateB" in response.json()["detail"]

    def test_conflicting_content_is_409(self, client, dataset, headers):
        chain = json.loads(json.dumps(dataset.network_chain))
        chain[-1][1]["name"] = "same key, different content"
        response = post(client, "/networks", {"network": chain, "scope": dataset.scope.to_dict()}, headers)
        assert response.status_code == 409
        assert "different content" in response.json()["detail"]

    def test_queries_and_relations(self, client, dataset, headers):
        params = dataset.scope.to_dict()
        assert str(dataset.network) in client.get("/networks", params=params, headers=headers).json()
        found = client.get("/networks", params={**params, "name": "test net.*"}, headers=headers).json()
        assert found == [str(dataset.network)]
        assert client.get("/networks", params={**params, "state": "inactive"}, headers=headers).json() == []
        transformations = client.get(f"/networks/{dataset.network}/transformations", headers=headers).json()
        assert str(dataset.transformation) in transformations
        systems = client.get(f"/transformations/{dataset.transformation}/chemicalsystems", headers=headers).json()
        assert len(systems) == 2 and systems[0] == str(dataset.chemicalsystem)
        networks = client.get(f"/chemicalsystems/{dataset.chemicalsystem}/networks", headers=headers).json()
        assert str(dataset.network) in networks
        assert client.get(f"/exists/{dataset.chemicalsystem}", headers=headers).json() is True

    def test_key_of_another_kind_is_400_naming_the_expected_kind(self, client, dataset, headers):
        response = client.get(f"/networks/{dataset.transformation}", headers=headers)
        assert response.status_code == 400
        assert "of kind AlchemicalNetwork, got one of kind Transformation" in response.json()["detail"]
        # a Task's key where a network's is expected: an error, not an empty status table
        response = client.get(f"/networks/{dataset.tasks[0]}/status", headers=headers)
        assert response.status_code == 400, response.text
        assert "AlchemicalNetwork" in response.json()["detail"] and "Task" in response.json()["detail"]

    def test_states_and_weights(self, client, dataset, headers):
        missing = str(dataset.network).replace("AlchemicalNetwork-", "AlchemicalNetwork-0")
        body = {"networks": [str(dataset.network), missing], "states": ["inactive", "inactive"]}
        assert post(client, "/bulk/networks/state/set", body, headers).json() == [str(dataset.network), None]
        got = post(client, "/bulk/networks/state/get", {"networks": [str(dataset.network)]}, headers).json()
        assert got == ["inactive"]
        body["states"] = ["active", "bogus"]
        assert post(client, "/bulk/networks/state/set", body, headers).status_code == 400
        post(client, "/bulk/networks/state/set", {"networks": [str(dataset.network)], "states": ["active"]}, headers)

        assert post(client, f"/networks/{dataset.network}/weight", 0.25, headers).json() == str(dataset.network)
        assert client.get(f"/networks/{dataset.network}/weight", headers=headers).json() == 0.25
        for bad in (1.5, -0.1):
            response = post(client, f"/networks/{dataset.network}/weight", bad, headers)
            assert response.status_code == 400 and "between 0 and 1" in response.json()["detail"]
        body = {"networks": [str(dataset.network)], "weights": [2.0]}
        assert post(client, "/bulk/networks/weight/set", body, headers).status_code == 400
        body = {"networks": [str(dataset.network)], "weights": [0.5]}
        assert post(client, "/bulk/networks/weight/set", body, headers).json() == [str(dataset.network)]


class TestTasks:
    def test_create_with_extends_and_graph(self, client, dataset, headers):
        tf = dataset.transformation
        created = post(client, f"/transformations/{tf}/tasks", {"count": 2, "extends": dataset.tasks[0].to_dict()}, headers)
        assert created.status_code == 200, created.text
        children = created.json()
        graph = client.get(
            f"/transformations/{tf}/tasks", params={"return_as": "graph", "extends": str(dataset.tasks[0])}, headers=headers
        ).json()
        assert graph == {child: str(dataset.tasks[0]) for child in children}
        assert client.get(f"/transformations/{tf}/tasks", params={"return_as": "tree"}, headers=headers).status_code == 400
        waiting = client.get("/tasks", params={**dataset.scope.to_dict(), "status": "complete"}, headers=headers).json()
        assert waiting == [str(dataset.tasks[0])]
        assert client.get(f"/tasks/{children[0]}/transformation", headers=headers).json() == str(tf)
        assert post(client, "/bulk/tasks/status/get", {"tasks": children}, headers).json() == ["waiting", "waiting"]

    def test_status_rules(self, client, dataset, headers):
        new = post(client, f"/transformations/{dataset.transformation}/tasks", {"count": 1}, headers).json()[0]
        for forbidden in ("running", "complete", "error"):
            response = post(client, f"/tasks/{new}/status", forbidden, headers)
            assert response.status_code == 400 and "waiting, invalid, deleted" in response.json()["detail"]
        assert post(client, f"/tasks/{new}/status", "nonsense", headers).status_code == 400
        assert post(client, f"/tasks/{new}/status", "invalid", headers).json() == new
        assert client.get(f"/tasks/{new}/status", headers=headers).json() == "invalid"
        # invalid is terminal: the store refuses the change, so the slot is null
        body = {"tasks": [new], "status": "waiting"}
        assert post(client, "/bulk/tasks/status/set", body, headers).json() == [None]

    def test_priorities(self, client, dataset, headers):
        task = str(dataset.tasks[3])
        for bad in (0, 2**63):
            response = post(client, "/bulk/tasks/priority/set", {"tasks": [task], "priority": bad}, headers)
            assert response.status_code == 400 and "priority" in response.json()["detail"]
        assert post(client, "/bulk/tasks/priority/set", {"tasks": [task], "priority": 2**63 - 1}, headers).json() == [task]
        assert post(client, "/bulk/tasks/priority/get", {"tasks": [task]}, headers).json() == [2**63 - 1]

    def test_bulk_routes_null_foreign_tasks(self, client, dataset, headers):
        foreign = f"Task-{'0' * 32}-other-campaign-project"
        body = {"tasks": [str(dataset.tasks[0]), foreign]}
        assert post(client, "/bulk/tasks/status/get", body, headers).json() == ["complete", None]

    def test_history_and_tracebacks(self, client, dataset, headers):
        history = client.get(f"/tasks/{dataset.tasks[0]}/history", headers=headers).json()
        assert [(h["number"], h["outcome"], h["result_ref"]) for h in history] == [(1, "complete", str(dataset.result_ref))]
        body = {"tasks": [str(dataset.tasks[1]), str(dataset.tasks[2])]}
        tracebacks = post(client, "/bulk/tasks/tracebacks", body, headers).json()
        assert [[item["tracebacks"] for item in items] for items in tracebacks] == [[["RuntimeError: boom"]], []]
        assert tracebacks[0][0]["result_ref"] == str(dataset.failure_ref)


class TestActioning:
    def test_action_weights_and_cancel(self, client, dataset, headers):
        new = post(client, f"/transformations/{dataset.transformation}/tasks", {"count": 2}, headers).json()
        path = f"/networks/{dataset.network}/tasks"
        response = post(client, f"{path}/action", {"tasks": new, "weight": [0.1]}, headers)
        assert response.status_code == 400 and "one per Task" in response.json()["detail"]
        assert post(client, f"{path}/action", {"tasks": new, "weight": [0.1, 1.5]}, headers).status_code == 400
        assert post(client, f"{path}/action", {"tasks": new, "weight": [0.1, 0.9]}, headers).json() == new
        actioned = post(client, f"{path}/actioned", {"task_weights": True}, headers).json()
        assert actioned[new[0]] == 0.1 and actioned[new[1]] == 0.9
        # actioning again does not action twice, but the weight is applied
        assert post(client, f"{path}/action", {"tasks": new[:1], "weight": 0.3}, headers).json() == [None]
        networks = post(client, f"/tasks/{new[0]}/networks/actioned", {"task_weights": True}, headers).json()
        assert networks == {str(dataset.network): 0.3}
        assert post(client, f"{path}/cancel", {"tasks": new}, headers).json() == new
        listing = post(client, "/bulk/networks/tasks/actioned", {"networks": [str(dataset.network)]}, headers).json()
        assert not set(new) & set(listing[0])


class TestStatusCounts:
    def test_counts(self, client, dataset, headers):
        network = client.get(f"/networks/{dataset.network}/status", headers=headers).json()
        assert network["complete"] == 1 and network["error"] == 1
        assert client.get(f"/scopes/{dataset.scope}/status", headers=headers).json() == network
        assert client.get(f"/scopes/{dataset.scope}/status", params={"network_state": "inactive"}, headers=headers).json() == {}
        assert client.get("/scopes/not-a-scope-at-all/status", headers=headers).status_code == 400
        assert client.get(f"/transformations/{dataset.transformation}/status", headers=headers).json() == network
        missing = str(dataset.network).replace("AlchemicalNetwork-", "AlchemicalNetwork-0")
        assert client.get(f"/networks/{missing}/status", headers=headers).status_code == 404
        assert post(client, "/bulk/networks/status", {"networks": [missing]}, headers).json() == [{}]

    def test_scope_counts_without_network_state_cover_every_state(self, client, dataset, headers):
        """As upstream's route does: its client sends no parameter for ``network_state=None``."""
        networks = client.get("/networks", params={**dataset.scope.to_dict(), "state": ".*"}, headers=headers).json()
        states = post(client, "/bulk/networks/state/get", {"networks": networks}, headers).json()
        everything = client.get(f"/scopes/{dataset.scope}/status", headers=headers).json()
        assert everything
        post(client, "/bulk/networks/state/set", {"networks": networks, "states": ["inactive"] * len(networks)}, headers)
        try:
            assert client.get(f"/scopes/{dataset.scope}/status", headers=headers).json() == everything
            active = client.get(f"/scopes/{dataset.scope}/status", params={"network_state": "active"}, headers=headers)
            assert active.json() == {}
        finally:
            post(client, "/bulk/networks/state/set", {"networks": networks, "states": states}, headers)


class TestRestartPatterns:
    def test_add_get_maxretries_remove_clear(self, client, dataset, headers):
        base = f"/networks/{dataset.network}/restartpatterns"
        get = lambda: post(client, "/bulk/networks/restartpatterns/get", {"networks": [str(dataset.network)]}, headers)
        body = {"patterns": ["Timeout", "CUDA.*"], "num_allowed_restarts": 2}
        assert post(client, f"{base}/add", body, headers).json() == [str(dataset.network)]
        assert get().json() == {str(dataset.network): [["CUDA.*", 2], ["Timeout", 2]]}
        post(client, f"{base}/maxretries", {"patterns": ["Timeout"], "max_retries": 5}, headers)
        post(client, f"{base}/remove", {"patterns": ["CUDA.*"]}, headers)
        assert get().json() == {str(dataset.network): [["Timeout", 5]]}
        assert post(client, f"{base}/clear", {}, headers).json() == [str(dataset.network)]
        assert get().json() == {str(dataset.network): []}
        # upstream's clients send JSON without a Content-Type header, and clear with a GET
        assert client.post(f"{base}/add", content=json.dumps(body), headers=headers).json() == [str(dataset.network)]
        assert client.get(f"{base}/clear", headers=headers).json() == [str(dataset.network)]
        assert get().json() == {str(dataset.network): []}
        bad = {"patterns": ["Timeout"], "num_allowed_restarts": 0}
        assert post(client, f"{base}/add", bad, headers).status_code == 400


class TestResults:
    def test_refs(self, client, dataset, headers):
        tf = dataset.transformation
        assert client.get(f"/transformations/{tf}/results", headers=headers).json() == [str(dataset.result_ref)]
        assert client.get(f"/transformations/{tf}/failures", headers=headers).json() == [str(dataset.failure_ref)]
        assert client.get(f"/tasks/{dataset.tasks[0]}/results", headers=headers).json() == [str(dataset.result_ref)]
        assert client.get(f"/tasks/{dataset.tasks[0]}/failures", headers=headers).json() == []

    def test_bytes_round_trip(self, client, dataset, headers):
        tf = dataset.transformation
        response = client.get(f"/transformations/{tf}/results/{dataset.result_ref}", headers=headers)
        assert latin1_to_bytes(response.json()[0]) == dataset.result_data
        response = client.get(f"/transformations/{tf}/failures/{dataset.failure_ref}", headers=headers)
        assert latin1_to_bytes(response.json()[0]) == dataset.failure_data
        # a success asked for as a failure is not found; an unknown route is a validation error
        assert client.get(f"/transformations/{tf}/failures/{dataset.result_ref}", headers=headers).status_code == 404
        assert client.get(f"/transformations/{tf}/other/{dataset.result_ref}", headers=headers).status_code == 422

    def test_stored_location_fallback(self, client, dataset, headers, api_store, api_objectstore):
        """A ref whose location differs from the one its keys give is read from the stored location."""
        from alchemiscale.storage.models import ProtocolDAGResultRef

        location = f"protocoldagresult/{dataset.scope.org}/{dataset.scope.campaign}/{dataset.scope.project}/legacy/obj"
        api_objectstore._store_bytes(location, b"legacy bytes")
        ref = ProtocolDAGResultRef(location=location, obj_key="ProtocolDAGResult-legacy", scope=dataset.scope, ok=True)
        ref_sk = api_store.set_task_result(dataset.tasks[2], ref)
        response = client.get(f"/transformations/{dataset.transformation}/results/{ref_sk}", headers=headers)
        assert response.status_code == 200, response.text
        assert latin1_to_bytes(response.json()[0]) == b"legacy bytes"


class TestStrategies:
    def test_lifecycle(self, client, dataset, headers, api_store):
        base = f"/networks/{dataset.network}/strategy"
        assert post(client, base, {"strategy": strategy_chain(), "mode": "sideways"}, headers).status_code == 422
        body = {"strategy": strategy_chain("other"), "mode": "full", "sleep_interval": 60, "task_scaling": "linear"}
        strategy_sk = post(client, base, body, headers).json()
        assert strategy_sk.startswith("DummyStrategy-") and strategy_sk.endswith(str(dataset.scope))
        assert client.get(base, headers=headers).json() == strategy_chain("other")
        state = client.get(f"{base}/state", headers=headers).json()
        assert (state["mode"], state["sleep_interval"], state["task_scaling"], state["status"]) == (
            "full", 60, "linear", "awake"
        )
        api_store.update_strategy_state(dataset.network, status="error", exception=("RuntimeError", "x"), traceback="tb")
        assert client.get(f"{base}/status", headers=headers).json() == "error"
        assert post(client, f"{base}/awake", {}, headers).json() == str(dataset.network)
        state = client.get(f"{base}/state", headers=headers).json()
        assert (state["status"], state["exception"], state["traceback"]) == ("awake", None, None)
        assert post(client, base, {"strategy": None}, headers).json() is None
        assert client.get(base, headers=headers).json() is None
        assert client.get(f"{base}/status", headers=headers).json() is None
        assert post(client, f"{base}/awake", {}, headers).json() is None
        # put the dataset's strategy back for the other tests
        post(client, base, {"strategy": strategy_chain()}, headers)


def test_delete_network_keeps_shared_objects(api_store, api_objectstore, network_chain, spare_chain):
    from alchemiscale.models import Scope

    world = populate(api_store, api_objectstore, network_chain, spare_chain, Scope("delorg", "delcamp", "delproj"))
    with client_for(app, api_store, api_objectstore) as client:
        headers = bearer(world.user_token)
        response = client.delete(f"/networks/{world.spare_network}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["network"] == str(world.spare_network)
        assert response.json()["tasks"] == 0  # its only Transformation is shared with the main network
        assert client.get(f"/exists/{world.spare_network}", headers=headers).json() is False
        assert client.get(f"/exists/{world.transformation}", headers=headers).json() is True
        assert client.delete(f"/networks/{world.spare_network}", headers=headers).status_code == 404
        client.delete(f"/networks/{world.network}", headers=headers)
