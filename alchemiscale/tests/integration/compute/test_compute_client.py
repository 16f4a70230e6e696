"""AlchemiscaleComputeClient and AlchemiscaleComputeManagerClient against a real compute API."""

from __future__ import annotations

import pytest
from gufe import Transformation
from gufe.protocols import ProtocolDAGResult

from alchemiscale.base.client import AlchemiscaleClientError
from alchemiscale.compute.client import AlchemiscaleComputeManagerClient
from alchemiscale.models import ComputeManagerID, ComputeServiceID, Scope
from alchemiscale.storage.models import ComputeManagerInstruction, TaskHub

from .conftest import run_task

SOLVENT_EDGE = "acetamide to acetone solvent"


@pytest.fixture
def service(compute_client, compute_service_id) -> ComputeServiceID:
    assert compute_client.register(compute_service_id) == compute_service_id
    return compute_service_id


def test_identity_and_taskhubs(compute_client, compute_network, scope_test):
    assert compute_client.ping() == {"api": "AlchemiscaleComputeAPI"}
    assert compute_client.list_scopes() == [Scope()]
    assert compute_client.query_taskhubs([scope_test]) == [compute_network.taskhub]
    assert compute_client.query_taskhubs([Scope("elsewhere")]) == []
    hubs = compute_client.query_taskhubs([scope_test, Scope()], return_gufe=True)
    assert hubs == {compute_network.taskhub: TaskHub(network=str(compute_network.network), weight=0.5)}


def test_service_cycle(compute_client, service, compute_network, scope_test, n4js_fresh, tmp_path):
    assert compute_client.heartbeat(service) == service
    claimed = compute_client.claim_tasks([scope_test], service, count=2, protocols=["SuccessProtocol"])
    assert len(claimed) == 2 and all(task is not None for task in claimed)
    assert compute_client.get_tasks_wanted(claimed, service) == [True, True]

    task = claimed[0]
    transformation_sk = compute_client.get_task_transformation(task)
    assert transformation_sk == n4js_fresh.get_task_transformation(task)
    retrieved, extends = compute_client.retrieve_task_transformation(task)
    assert isinstance(retrieved, Transformation) and extends is None
    assert str(retrieved.key) == transformation_sk.gufe_key

    pdr = run_task(compute_client, task, tmp_path)
    ref = compute_client.set_task_result(task, pdr, service)
    assert n4js_fresh.get_task_results(task) == [ref]
    assert n4js_fresh.get_task_status([task]) == ["complete"]
    assert compute_client.get_tasks_wanted(claimed, service) == [False, True]

    assert compute_client.deregister(service) == service
    assert n4js_fresh.get_task_status([claimed[1]]) == ["waiting"]
    with pytest.raises(AlchemiscaleClientError) as error:
        compute_client.heartbeat(service)
    assert error.value.status_code == 404


def test_claim_taskhub_and_extends(compute_client, service, compute_network, n4js_fresh, tmp_path):
    task = compute_network.tasks[SOLVENT_EDGE]
    n4js_fresh.set_task_priority([task], 1)
    assert compute_client.claim_taskhub_tasks(compute_network.taskhub, service, count=1) == [task]
    pdr = run_task(compute_client, task, tmp_path)
    compute_client.set_task_result(task, pdr, service)

    [follow_up] = n4js_fresh.create_tasks([compute_network.transformations[SOLVENT_EDGE]], extends=[task])
    n4js_fresh.action_tasks([follow_up], compute_network.taskhub)
    n4js_fresh.set_task_priority([follow_up], 1)
    assert compute_client.claim_taskhub_tasks(compute_network.taskhub, service, count=1) == [follow_up]
    _, extends = compute_client.retrieve_task_transformation(follow_up)
    assert isinstance(extends, ProtocolDAGResult)
    assert extends.key == pdr.key


def test_claim_tasks_excluding_scopes(compute_client, service, compute_network, scope_test):
    assert compute_client.claim_tasks([Scope()], service, scopes_exclude=[scope_test], count=3) == [None] * 3
    claimed = compute_client.claim_tasks([Scope()], service, scopes_exclude=[Scope("other")], count=1)
    assert claimed[0] in compute_network.tasks.values()


def test_manager_client(compute_api_url, compute_identity, compute_client, compute_network, scope_test):
    manager = ComputeManagerID.new_from_name("test_manager")
    with AlchemiscaleComputeManagerClient(compute_api_url, *compute_identity, use_local_cache=False) as client:
        assert client.register(manager) == manager
        service = ComputeServiceID.new_from_name("managed")
        compute_client.register(service, compute_manager_id=manager)
        instruction, data = client.get_instruction([scope_test], None, manager)
        assert instruction == ComputeManagerInstruction.OK
        assert data == {
            "compute_service_ids": [service], "num_tasks": len(compute_network.tasks), "busy_compute_service_ids": []
        }
        _, data = client.get_instruction([scope_test], ["FailingProtocol"], manager)
        assert data["num_tasks"] == 1
        [claimed] = compute_client.claim_tasks([scope_test], service)
        _, data = client.get_instruction([scope_test], None, manager)
        assert claimed is not None and data["busy_compute_service_ids"] == [service]
        assert data["num_tasks"] == len(compute_network.tasks) - 1
        assert client.update_status(manager, "OK", saturation=0.5) == manager
        with pytest.raises(AlchemiscaleClientError) as error:
            client.register(ComputeManagerID.new_from_name("test_manager"))
        assert error.value.status_code == 422
        client.update_status(manager, "ERROR", detail="cluster unreachable")
        assert client.clear_error("test_manager") == manager
        instruction, data = client.get_instruction([scope_test], None, manager)
        assert instruction == ComputeManagerInstruction.SHUTDOWN and "not registered" in data["message"]
        other = ComputeManagerID.new_from_name("second_manager")
        client.register(other)
        assert client.deregister(other) == other
