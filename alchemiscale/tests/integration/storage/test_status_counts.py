"""Task status counts per Scope, network and Transformation."""

from __future__ import annotations

import pytest

from alchemiscale.models import Scope, ScopedKey


@pytest.fixture
def counted(n4js, make_synthetic_chain, unique_scope):
    """Two networks sharing a Transformation; Tasks in several statuses."""
    big = n4js.assemble_network(make_synthetic_chain(4, name="counts"), unique_scope)[0]
    small = n4js.assemble_network(make_synthetic_chain(2, name="counts"), unique_scope)[0]
    shared = n4js.get_network_transformations(small)[0]
    only_big = sorted(set(n4js.get_network_transformations(big)) - set(n4js.get_network_transformations(small)))[0]
    shared_tasks = n4js.create_tasks([shared] * 3)
    big_tasks = n4js.create_tasks([only_big] * 2)
    n4js.set_task_running(shared_tasks[:2])
    n4js.set_task_error(shared_tasks[:1])
    n4js.set_task_invalid(big_tasks[:1])
    return big, small, shared, only_big


def test_scope_status_counts_each_task_once(n4js, counted, unique_scope):
    assert n4js.get_scope_status(unique_scope) == {"waiting": 2, "running": 1, "error": 1, "invalid": 1}


def test_scope_status_follows_network_state(n4js, counted, unique_scope):
    big, small, _, _ = counted
    n4js.set_network_state([big], ["inactive"])
    assert n4js.get_scope_status(unique_scope) == {"waiting": 1, "running": 1, "error": 1}
    assert n4js.get_scope_status(unique_scope, network_state="inactive") == {
        "waiting": 2, "running": 1, "error": 1, "invalid": 1
    }
    n4js.set_network_state([small], ["deleted"])
    assert n4js.get_scope_status(unique_scope) == {}
    assert n4js.get_scope_status(unique_scope, network_state=".*") == {
        "waiting": 2, "running": 1, "error": 1, "invalid": 1
    }


def test_scope_status_respects_scope(n4js, counted, unique_scope):
    elsewhere = Scope(unique_scope.org, unique_scope.campaign, unique_scope.project + "z")
    assert n4js.get_scope_status(elsewhere) == {}
    wider = n4js.get_scope_status(Scope(unique_scope.org))
    assert wider.get("invalid", 0) >= 1


def test_scope_status_bad_regex(n4js, counted, unique_scope):
    with pytest.raises(ValueError, match="regular expression"):
        n4js.get_scope_status(unique_scope, network_state="[")


def test_network_status(n4js, counted, unique_scope):
    big, small, _, _ = counted
    ghost = ScopedKey(gufe_key="AlchemicalNetwork-ghost", **unique_scope.to_dict())
    assert n4js.get_network_status([big, small, ghost]) == [
        {"waiting": 2, "running": 1, "error": 1, "invalid": 1},
        {"waiting": 1, "running": 1, "error": 1},
        {},
    ]


def test_transformation_status(n4js, counted, unique_scope):
    _, _, shared, only_big = counted
    assert n4js.get_transformation_status(shared) == {"waiting": 1, "running": 1, "error": 1}
    assert n4js.get_transformation_status(only_big) == {"waiting": 1, "invalid": 1}
    with pytest.raises(KeyError):
        n4js.get_transformation_status(ScopedKey(gufe_key="Transformation-ghost", **unique_scope.to_dict()))


def test_scope_status_many_tasks(n4js, make_synthetic_chain, unique_scope):
    network = n4js.assemble_network(make_synthetic_chain(100, name="many"), unique_scope)[0]
    transformations = n4js.get_network_transformations(network)
    tasks = n4js.create_tasks(transformations * 20)
    n4js.set_task_running(tasks[:500])
    assert n4js.get_scope_status(unique_scope) == {"waiting": 1500, "running": 500}
