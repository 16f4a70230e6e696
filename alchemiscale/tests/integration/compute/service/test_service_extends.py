"""Extending a Task through a real compute service: the follow-up waits, then continues from the result.

``SuccessProtocol`` starts its setup unit from the ``final`` output of the extended result's finish
unit (``0.0`` for a fresh run), so a follow-up's ``start`` shows which result it continued from.
"""

from __future__ import annotations

import pytest

from alchemiscale.models import ComputeServiceID, Scope
from alchemiscale.tests.integration.compute.conftest import compute_setup

from .conftest import make_service, task_results

HIGHEST_PRIORITY = 1


def unit_outputs(result, name: str) -> dict:
    [unit] = [r for r in result.protocol_unit_results if r.name == name]
    return unit.outputs


def test_extending_task_waits_for_its_predecessor_then_continues_from_its_result(
    n4js_fresh, compute_identity, compute_client, network, compute_objectstore, service_config
):
    name = sorted(t.name for t in network.edges if t.name.endswith("solvent"))[0]
    scope = Scope("extends", "service", "test")
    setup = compute_setup(n4js_fresh, network, scope, [name])
    transformation, first = setup.transformations[name], setup.tasks[name]
    [follow_up] = n4js_fresh.create_tasks([transformation], extends=[first], creator="compute-tests")
    n4js_fresh.action_tasks([follow_up], setup.taskhub)
    # were EXTENDS ignored, the follow-up would be claimed first
    n4js_fresh.set_task_priority([follow_up], HIGHEST_PRIORITY)

    # through the real compute API: only the first Task can be claimed while it is unfinished
    probe = ComputeServiceID.new_from_name("probe")
    compute_client.register(probe)
    assert compute_client.claim_tasks([scope], probe, count=2) == [first, None]
    compute_client.deregister(probe)  # hands the first Task back
    assert n4js_fresh.get_task_status([first, follow_up]) == ["waiting", "waiting"]

    service = make_service(service_config(scopes=[str(scope)], protocols=["SuccessProtocol"], max_tasks=1))
    service.start()
    assert n4js_fresh.get_task_status([first, follow_up]) == ["complete", "waiting"]
    assert n4js_fresh.get_task_history(follow_up) == []  # never claimed while the first was unfinished

    service = make_service(service_config(scopes=[str(scope)], protocols=["SuccessProtocol"], max_tasks=1))
    service.start()
    assert n4js_fresh.get_task_status([follow_up]) == ["complete"]

    [first_result] = task_results(n4js_fresh, compute_objectstore, first, transformation)
    [follow_up_result] = task_results(n4js_fresh, compute_objectstore, follow_up, transformation)
    assert unit_outputs(first_result, "setup")["start"] == 0.0
    final = unit_outputs(first_result, "finish")["final"]
    assert final > 0.0
    assert unit_outputs(follow_up_result, "setup")["start"] == final
    # the same windows again, on top of the first result
    assert unit_outputs(follow_up_result, "finish")["final"] == pytest.approx(2 * final)

    probed, first_attempt = n4js_fresh.get_task_history(first)
    [follow_up_attempt] = n4js_fresh.get_task_history(follow_up)
    assert probed["compute_service_id"] == str(probe) and probed["outcome"] == "requeued"
    assert first_attempt["outcome"] == follow_up_attempt["outcome"] == "complete"
    assert follow_up_attempt["claimed"] >= first_attempt["ended"]
