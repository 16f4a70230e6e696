"""Upstream alchemiscale 0.8.0's AlchemiscaleClient, compute clients and SynchronousComputeService on our APIs.

One run of upstream's peers for the module, in order:

1. its AlchemiscaleClient submits two networks of gufe 1.x objects (DummyProtocol and
   BrokenProtocol Transformations) and calls every method that needs no results;
2. its compute manager client and compute client call each of their methods, executing and
   uploading two Tasks; then its SynchronousComputeService executes the other two;
3. its AlchemiscaleClient calls every result, failure and archive method.

Each recorded answer is checked against what upstream's own servers answer; our AlchemiscaleClient
reads the same results here and must find the very same ProtocolDAGResults.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from alchemiscale.models import ScopedKey
from alchemiscale.tests.integration.upstream.checks import (
    BROKEN_FAILURE,
    DUMMY_ESTIMATE,
    check_records,
    dummy_result,
    eq,
    gufe_key,
    method_of,
    new_keys,
    our_info,
    unordered,
)
from alchemiscale.tests.integration.upstream.conftest import peer_config, run_peer, upstream_service_settings

pytestmark = pytest.mark.xdist_group("upstream_peer")

PATTERN = "^this pattern matches no traceback$"
MANAGER_NAME = "upstreampeermanager"
CLIENT_NAME = "upstreampeerclient"


@dataclass(frozen=True)
class PeerRun:
    manage: dict
    compute: dict
    results: dict
    keys: SimpleNamespace


@pytest.fixture(scope="module")
def peer_run(upstream_python, peer_servers, peer_identities, peer_workdir, n4js) -> PeerRun:
    config = peer_config(peer_servers, peer_identities, peer_workdir)
    manage = run_peer(upstream_python, "user_client.py", {**config, "phase": "manage"}, peer_workdir)
    keys = dict(manage["keys"])
    keys["taskhub_a"], keys["taskhub_b"] = (
        str(n4js.get_taskhub(ScopedKey.from_str(keys[name]))) for name in ("network_a", "network_b")
    )
    service = upstream_service_settings(peer_workdir, "upstreampeerservice", peer_identities.scope, max_tasks=2)
    compute = run_peer(
        upstream_python,
        "compute.py",
        {
            **config,
            "exercise_clients": True,
            "manager_name": MANAGER_NAME,
            "client_name": CLIENT_NAME,
            "taskhub": keys["taskhub_a"],
            "service": service,
        },
        peer_workdir,
    )
    results = run_peer(upstream_python, "user_client.py", {**config, "phase": "results", "keys": keys}, peer_workdir)
    keys = SimpleNamespace(**keys, org=peer_identities.org, scope=str(peer_identities.scope))
    return PeerRun(manage, compute, results, keys)


def pdr_list(check_each, count: int):
    def check(value, k):
        assert len(value) == count, value
        for pdr in value:
            check_each(pdr, k)

    return check


def ok_result_of(role: str):
    def check(pdr, k):
        assert pdr["ok"] and not pdr["failures"], pdr
        assert pdr["transformation_key"] == gufe_key(getattr(k, f"tf_{role}")), pdr
        assert {"the beginning", "sim 0", "sim 1", "sim 2", "the end"} == set(pdr["units"]), pdr

    return check


def broken_failure(pdr, k):
    assert not pdr["ok"] and pdr["failures"] == [BROKEN_FAILURE], pdr
    assert pdr["transformation_key"] == gufe_key(k.tf_broken), pdr


def ok1_results_extend_each_other(value, k):
    """The Task extending the first ok1 Task got that Task's result as ``extends``."""
    pdr_list(ok_result_of("ok1"), 2)(value, k)
    first = next(p for p in value if p["extends_key"] is None)
    assert [p["extends_key"] for p in value if p is not first] == [first["key"]], value


def per_transformation(expected):
    """A dict keyed by Transformation ScopedKey: ``expected`` maps roles to the value (or check) each gets."""

    def check(value, k):
        assert set(value) == {getattr(k, f"tf_{role}") for role in expected}, value
        for role, want in expected.items():
            got = value[getattr(k, f"tf_{role}")]
            if callable(want):
                want(got, k)
            else:
                assert got == want, (role, got)

    return check


def archive(network: str, metadata: dict, counts: dict):
    def check(value, k):
        assert value == {
            "network": gufe_key(getattr(k, network)),
            "metadata": metadata,
            "results": {gufe_key(getattr(k, f"tf_{role}")): n for role, n in counts.items()},
        }, value

    return check


def strategy_state(value, k):
    assert value is not None
    expected = {"mode": "partial", "status": "awake", "max_tasks_per_transformation": 2, "task_scaling": "linear"}
    assert {name: value[name] for name in expected} == expected, value
    assert value["sleep_interval"] == 600 and value["iterations"] == 0, value


A_COUNTS_BEFORE = {"waiting": 5, "invalid": 1}
NETWORK_A_RESULTS = {"ok1": 2, "ok2": 1, "broken": 0, "non": 0}

USER_CHECKS = {
    "get_info": our_info,
    "get_scopes": eq(lambda k: [f"{k.org}-*-*"]),
    "list_scopes": eq(lambda k: [f"{k.org}-*-*"]),
    "create_network": eq(lambda k: k.network_a),
    "create_network:inactive": eq(lambda k: k.network_b),
    "get_scoped_key": eq(lambda k: k.network_a),
    "check_exists": eq(True),
    "check_exists:missing": eq(False),
    # network states and queries
    "get_network_state": eq("inactive"),
    "set_network_state": eq(lambda k: k.network_b),
    "get_networks_state": eq(["active", "active"]),
    "set_networks_state": eq(lambda k: [k.network_b]),
    "query_networks": eq(lambda k: [k.network_a]),
    "query_networks:inactive": eq(lambda k: [k.network_b]),
    "query_networks:any_state": unordered(lambda k: [k.network_a, k.network_b]),
    "query_networks:name": eq(lambda k: [k.network_a]),
    "query_transformations": unordered(lambda k: [k.tf_ok1, k.tf_ok2, k.tf_broken, k.tf_non]),
    "query_transformations:name": eq(lambda k: [k.tf_ok1]),
    "query_chemicalsystems": unordered(lambda k: [k.cs_methane, k.cs_ethane, k.cs_methanol]),
    "query_chemicalsystems:name": eq(lambda k: [k.cs_methanol]),
    # relations
    "get_network_transformations": unordered(lambda k: [k.tf_ok1, k.tf_ok2, k.tf_broken, k.tf_non]),
    "get_transformation_networks": unordered(lambda k: [k.network_a, k.network_b]),
    "get_network_chemicalsystems": unordered(lambda k: [k.cs_methane, k.cs_ethane, k.cs_methanol]),
    "get_chemicalsystem_networks": unordered(lambda k: [k.network_a, k.network_b]),
    "get_transformation_chemicalsystems": eq(lambda k: [k.cs_methane, k.cs_ethane]),  # stateA, stateB
    "get_transformation_chemicalsystems:non": eq(lambda k: [k.cs_methane]),
    "get_chemicalsystem_transformations": unordered(lambda k: [k.tf_ok1, k.tf_ok2, k.tf_non]),
    # objects, equal to those submitted
    "get_network": eq(lambda k: {"key": gufe_key(k.network_a), "equal": True}),
    "get_transformation": eq(lambda k: {"key": gufe_key(k.tf_broken), "equal": True, "protocol": "BrokenProtocol"}),
    "get_chemicalsystem": eq(lambda k: {"key": gufe_key(k.cs_ethane), "equal": True}),
    # weights
    "get_network_weight": eq(0.5),
    "set_network_weight": eq(lambda k: k.network_a),
    "get_networks_weight": eq([0.9, 0.5]),
    "set_networks_weight": eq(lambda k: [k.network_a, k.network_b]),
    "get_networks_weight:after_set": eq([0.75, 0.25]),
    # tasks
    "create_tasks": new_keys("Task", 2),
    "create_tasks:extends": new_keys("Task", 1),
    "create_tasks:spare": new_keys("Task", 1),
    "create_transformations_tasks": new_keys("Task", 2),
    "query_tasks": unordered(lambda k: all_tasks(k)),
    "query_tasks:invalid": eq(lambda k: [k.task_ok1_invalid]),
    "get_network_tasks": unordered(lambda k: all_tasks(k)),
    "get_network_tasks:invalid": eq(lambda k: [k.task_ok1_invalid]),
    "get_task_networks": unordered(lambda k: [k.network_a, k.network_b]),
    "get_transformation_tasks": unordered(lambda k: [k.task_ok1, k.task_ok1_invalid, k.task_ok1_extending]),
    "get_transformation_tasks:extends": eq(lambda k: [k.task_ok1_extending]),
    "get_transformation_tasks:graph": lambda value, k: (
        unordered([k.task_ok1, k.task_ok1_invalid, k.task_ok1_extending])(value["nodes"], k),
        eq([[k.task_ok1_extending, k.task_ok1]])(value["edges"], k),
    ),
    "get_task_transformation": eq(lambda k: k.tf_ok1),
    # actioning
    "action_tasks": eq(lambda k: all_tasks(k)),
    "action_tasks:weight": eq([None]),  # already actioned: only its weight changes, as upstream
    "cancel_tasks": eq(lambda k: [k.task_ok2_cancelled]),
    "set_tasks_status": eq(lambda k: [k.task_ok1_invalid]),
    "get_tasks_status": eq(["waiting", "invalid", "waiting", "waiting", "waiting", "waiting"]),
    "get_network_actioned_tasks": eq(
        lambda k: {k.task_ok1: 0.5, k.task_ok1_extending: 0.5, k.task_ok2: 0.8, k.task_broken: 0.5}
    ),
    "get_networks_actioned_tasks": lambda value, k: (
        unordered([k.task_ok1, k.task_ok1_extending, k.task_ok2, k.task_broken])(value[0], k),
        eq([])(value[1], k),
        eq(2)(len(value), k),
    ),
    "get_task_actioned_networks": eq(lambda k: {k.network_a: 0.8}),
    # priorities
    "set_tasks_priority": eq(lambda k: [k.task_ok2]),
    "set_tasks_priority:ok1": eq(lambda k: [k.task_ok1]),
    "get_tasks_priority": eq([1, 5]),
    # status views
    "get_scope_status": eq(A_COUNTS_BEFORE),
    "get_network_status": eq(A_COUNTS_BEFORE),
    "get_networks_status": eq([A_COUNTS_BEFORE, {"waiting": 2, "invalid": 1}]),
    "get_transformation_status": eq({"waiting": 2, "invalid": 1}),
    # restart patterns
    "add_task_restart_patterns": eq(lambda k: k.network_a),
    "add_task_restart_patterns:two": eq(lambda k: k.network_a),
    "get_task_restart_patterns": eq({PATTERN: 2}),
    "set_task_restart_patterns_allowed_restarts": eq(None),
    "get_task_restart_patterns:after_set": eq({PATTERN: 4}),
    "remove_task_restart_patterns": eq(None),
    "get_task_restart_patterns:after_remove": eq({}),
    "clear_task_restart_patterns": eq(None),
    "get_task_restart_patterns:after_clear": eq({}),
    # strategies
    "set_network_strategy": eq(lambda k: f"{k.strategy}-{k.scope}"),
    "get_network_strategy": eq(lambda k: {"key": k.strategy, "equal": True}),
    "get_network_strategy_state": strategy_state,
    "get_network_strategy_status": eq("awake"),
    "set_network_strategy_awake": eq(lambda k: k.network_b),
    "set_network_strategy:remove": eq(None),
    "get_network_strategy:removed": eq(None),
    # after the compute service ran: results, failures, archives
    "get_tasks_status:after_compute": eq(["complete", "complete", "complete", "error"]),
    "get_network_status:after_compute": eq({"complete": 3, "error": 1, "invalid": 1, "waiting": 1}),
    "get_transformation_results": eq(dummy_result(2)),
    "get_transformation_results:ProtocolResults": eq([dummy_result(1), dummy_result(1)]),
    "get_transformation_results:ProtocolDAGResults": ok1_results_extend_each_other,
    "get_transformation_results:return_protocoldagresults": pdr_list(ok_result_of("ok2"), 1),
    "get_transformation_results:none": eq(None),
    "get_transformation_failures": pdr_list(broken_failure, 1),
    "get_task_results": lambda value, k: (
        pdr_list(ok_result_of("ok1"), 1)(value, k),
        eq(True)(value[0]["extends_key"] is not None, k),
    ),
    "get_task_results:failed_task": eq([]),
    "get_task_failures": pdr_list(broken_failure, 1),
    "get_network_results": per_transformation(
        {"ok1": dummy_result(2), "ok2": dummy_result(1), "broken": None, "non": None}
    ),
    "get_network_failures": per_transformation(
        {"ok1": [], "ok2": [], "broken": pdr_list(broken_failure, 1), "non": []}
    ),
    "get_network_archive": archive("network_b", {"campaign": "upstream peer"}, {"ok1": 2}),
    "get_network_archives": lambda value, k: (
        eq(2)(len(value), k),
        archive("network_a", {}, NETWORK_A_RESULTS)(value[0], k),
        archive("network_b", {}, {"ok1": 2})(value[1], k),
    ),
}
USER_METHODS = sorted({method_of(label) for label in USER_CHECKS})


def all_tasks(k) -> list[str]:
    """Every Task the manage phase created, in the order it actioned them."""
    return [k.task_ok1, k.task_ok1_invalid, k.task_ok1_extending, k.task_ok2, k.task_broken, k.task_ok2_cancelled]


def user_records(run: PeerRun) -> dict:
    overlap = set(run.manage["records"]) & set(run.results["records"])
    assert not overlap, overlap
    return {**run.manage["records"], **run.results["records"]}


def test_every_public_method_of_upstreams_user_client_is_checked(peer_run):
    """A method upstream adds (or we forget) fails here rather than going untested."""
    assert peer_run.manage["public_methods"] == USER_METHODS


@pytest.mark.parametrize("method", USER_METHODS)
def test_upstream_user_client_method(peer_run, method):
    check_records(user_records(peer_run), USER_CHECKS, method, peer_run.keys)


# -- compute side ------------------------------------------------------------------------------


def service_id(prefix: str):
    def check(value, k):
        assert value.startswith(f"{prefix}-"), value

    return check


def same_as(label: str):
    """The same answer as the record ``label`` (e.g. the id register gave)."""

    def check(value, k):
        assert value == k.records[label]["value"], (value, k.records[label])

    return check


def result_ref(value, k):
    assert value.startswith("ProtocolDAGResultRef-") and value.endswith(f"-{k.scope}"), value


def instruction_ok(num_tasks: int):
    return eq(["OK", {"compute_service_ids": [], "num_tasks": num_tasks}])


COMPUTE_CHECKS = {
    "compute.get_info": our_info,
    "compute.list_scopes": eq(lambda k: [f"{k.org}-*-*"]),
    "compute.register": service_id(CLIENT_NAME),
    "compute.heartbeat": same_as("compute.register"),
    "compute.deregister": same_as("compute.register"),
    "compute.query_taskhubs": unordered(lambda k: [k.taskhub_a, k.taskhub_b]),
    "compute.query_taskhubs:return_gufe": eq(
        lambda k: {
            k.taskhub_a: {"network": k.network_a, "weight": 0.75},
            k.taskhub_b: {"network": k.network_b, "weight": 0.25},
        }
    ),
    "compute.claim_taskhub_tasks": eq(lambda k: [k.task_ok2]),  # priority 1
    "compute.claim_tasks": eq(lambda k: [k.task_ok1]),  # priority 5; the BrokenProtocol Task is filtered out
    "compute.get_task_transformation": eq(lambda k: k.tf_ok2),
    "compute.get_task_transformation:1": eq(lambda k: k.tf_ok1),
    "compute.retrieve_task_transformation": eq(lambda k: {"transformation": gufe_key(k.tf_ok2), "extends": None}),
    "compute.retrieve_task_transformation:1": eq(lambda k: {"transformation": gufe_key(k.tf_ok1), "extends": None}),
    "compute.set_task_result": result_ref,
    "compute.set_task_result:1": result_ref,
    "manager.get_info": our_info,
    "manager.register": service_id(MANAGER_NAME),
    # claimable now: the ok1, ok2 and BrokenProtocol Tasks (the extending one waits for ok1)
    "manager.get_instruction": instruction_ok(3),
    "manager.get_instruction:protocols": instruction_ok(2),
    "manager.get_instruction:after_clear": lambda value, k: eq("SHUTDOWN")(value[0], k),
    "manager.update_status": same_as("manager.register"),
    "manager.update_status:error": same_as("manager.register"),
    "manager.clear_error": eq(None),
    "manager.deregister": same_as("manager.register"),
}
COMPUTE_METHODS = sorted({method_of(label) for label in COMPUTE_CHECKS})


def compute_keys(run: PeerRun) -> SimpleNamespace:
    return SimpleNamespace(**vars(run.keys), records=run.compute["records"])


def test_every_public_method_of_upstreams_compute_clients_is_checked(peer_run):
    methods = peer_run.compute["public_methods"]
    assert [f"compute.{m}" for m in methods["AlchemiscaleComputeClient"]] == [
        m for m in COMPUTE_METHODS if m.startswith("compute.")
    ]
    assert [f"manager.{m}" for m in methods["AlchemiscaleComputeManagerClient"]] == [
        m for m in COMPUTE_METHODS if m.startswith("manager.")
    ]


@pytest.mark.parametrize("method", COMPUTE_METHODS)
def test_upstream_compute_client_method(peer_run, method):
    check_records(peer_run.compute["records"], COMPUTE_CHECKS, method, compute_keys(peer_run))


def test_uploaded_results_are_the_ones_executed(peer_run):
    """What the compute client uploaded is what upstream's user client reads back, key for key."""
    uploaded = {
        peer_run.compute["records"][label]["uploaded"]["key"]
        for label in ("compute.set_task_result", "compute.set_task_result:1")
    }
    records = peer_run.results["records"]
    read = [records["get_transformation_results:ProtocolDAGResults"], records["get_task_results"]]
    read += [records["get_transformation_results:return_protocoldagresults"]]
    assert all(r["ok"] for r in read), read
    read_keys = {pdr["key"] for r in read for pdr in r["value"]}
    assert uploaded <= read_keys and len(read_keys) == 3, (uploaded, read_keys)


def test_upstream_compute_service_runs_the_remaining_tasks(peer_run):
    service = peer_run.compute["service"]
    assert service["error"] is None, f"{service['error']}\n{service['log']}"
    assert service["tasks_executed"] == 2, service["log"]
    assert "Deregistration successful" in service["log"]


def test_our_client_reads_the_same_results(peer_run, our_client):
    """Results and failures uploaded by upstream's compute side read back through our client too."""
    k = peer_run.keys
    upstream = peer_run.results["records"]
    ok1 = our_client.get_transformation_results(k.tf_ok1, return_as="ProtocolDAGResults", visualize=False)
    upstream_ok1 = upstream["get_transformation_results:ProtocolDAGResults"]["value"]
    assert sorted(str(p.key) for p in ok1) == sorted(p["key"] for p in upstream_ok1)
    assert all(p.ok() for p in ok1)

    [failure] = our_client.get_transformation_failures(k.tf_broken, visualize=False)
    assert not failure.ok() and str(failure.key) == upstream["get_transformation_failures"]["value"][0]["key"]
    [unit_failure] = failure.protocol_unit_failures
    assert unit_failure.name == "problem child" and unit_failure.exception[0] == "ValueError"

    [extending] = our_client.get_task_results(k.task_ok1_extending, visualize=False)
    first = next(p for p in ok1 if p.extends_key is None)
    assert extending.extends_key == first.key

    results = our_client.get_network_results(k.network_a, visualize=False)
    estimates = {str(tf): None if r is None else float(r.get_estimate()) for tf, r in results.items()}
    assert estimates == {k.tf_ok1: DUMMY_ESTIMATE, k.tf_ok2: DUMMY_ESTIMATE, k.tf_broken: None, k.tf_non: None}
    status = our_client.get_network_status(k.network_a, visualize=False)
    assert status == upstream["get_network_status:after_compute"]["value"]
