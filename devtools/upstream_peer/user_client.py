"""Upstream alchemiscale 0.8.0's AlchemiscaleClient, unchanged, over every public method against a user API.

Two phases (config ``phase``):

- ``manage``: submits two networks built here from gufe 1.x objects (see ``peer_common.peer_network``)
  and calls every method that needs no results: queries, relations, objects, states, weights,
  tasks, actioning, status, priorities, restart patterns and strategies. It leaves four Tasks
  actioned for a compute service: ``ok2`` (priority 1), ``ok1`` (priority 5), one extending that
  ``ok1`` Task, and the BrokenProtocol one.
- ``results``: once a compute service has run those Tasks, every result, failure and archive method.

Output: ``{"public_methods": [...], "records": {label: {"ok", "value" | "error"}}, "keys": {...}}``.
"""

from __future__ import annotations

import warnings

from peer_common import (
    Recorder,
    jsonable,
    local_scoped_key,
    pdr_summary,
    peer_network,
    public_methods,
    read_config,
    result_summary,
    scope,
    scoped_key,
    user_client,
    write_output,
)

NETWORK_A = "upstream peer network A"
NETWORK_B = "upstream peer network B"
NEVER_MATCHES = ["^this pattern matches no traceback$", "^nor does this one$"]


def manage(config: dict, client, rec: Recorder) -> dict:
    from gufe import AlchemicalNetwork
    from stratocaster.strategies import ConnectivityStrategy

    sc = scope(config["scope"])
    network_a, systems, edges = peer_network(NETWORK_A)
    network_b = AlchemicalNetwork(edges=[edges["ok1"]], name=NETWORK_B)
    keys = {
        "network_a": local_scoped_key(network_a, config["scope"]),
        "network_b": local_scoped_key(network_b, config["scope"]),
        **{f"tf_{role}": local_scoped_key(tf, config["scope"]) for role, tf in edges.items()},
        **{f"cs_{name}": local_scoped_key(cs, config["scope"]) for name, cs in systems.items()},
    }

    rec.call("get_info", client.get_info)
    rec.call("get_scopes", client.get_scopes)
    rec.call("list_scopes", client.list_scopes)

    a = rec.call("create_network", client.create_network, network_a, sc, visualize=False)
    b = rec.call("create_network:inactive", client.create_network, network_b, sc, state="inactive", visualize=False)
    a = a or scoped_key(keys["network_a"])
    b = b or scoped_key(keys["network_b"])
    tf = {role: scoped_key(keys[f"tf_{role}"]) for role in edges}
    cs = {name: scoped_key(keys[f"cs_{name}"]) for name in systems}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        rec.call("get_scoped_key", client.get_scoped_key, network_a, sc)
    rec.call("check_exists", client.check_exists, a)
    rec.call("check_exists:missing", client.check_exists, f"AlchemicalNetwork-{'0' * 32}-{config['scope']}")

    # networks, their states and queries
    rec.call("get_network_state", client.get_network_state, b)
    rec.call("set_network_state", client.set_network_state, b, "active")
    rec.call("get_networks_state", client.get_networks_state, [a, b])
    rec.call("set_networks_state", client.set_networks_state, [b], ["inactive"])
    rec.call("query_networks", client.query_networks, scope=sc)
    rec.call("query_networks:inactive", client.query_networks, scope=sc, state="inactive")
    rec.call("query_networks:any_state", client.query_networks, scope=sc, state=None)
    rec.call("query_networks:name", client.query_networks, name=".* network A", scope=scope(f"{sc.org}-*-*"))
    rec.call("query_transformations", client.query_transformations, scope=sc)
    rec.call("query_transformations:name", client.query_transformations, name="methane to ethane", scope=sc)
    rec.call("query_chemicalsystems", client.query_chemicalsystems, scope=sc)
    rec.call("query_chemicalsystems:name", client.query_chemicalsystems, name="methanol solvated", scope=sc)

    # relations
    rec.call("get_network_transformations", client.get_network_transformations, a)
    rec.call("get_transformation_networks", client.get_transformation_networks, tf["ok1"])
    rec.call("get_network_chemicalsystems", client.get_network_chemicalsystems, a)
    rec.call("get_chemicalsystem_networks", client.get_chemicalsystem_networks, cs["methane"])
    rec.call("get_transformation_chemicalsystems", client.get_transformation_chemicalsystems, tf["ok1"])
    rec.call("get_transformation_chemicalsystems:non", client.get_transformation_chemicalsystems, tf["non"])
    rec.call("get_chemicalsystem_transformations", client.get_chemicalsystem_transformations, cs["methane"])

    # objects: equal to what was submitted
    rec.call("get_network", client.get_network, a, visualize=False, summary=lambda n: _same(n, network_a))
    rec.call(
        "get_transformation",
        client.get_transformation,
        tf["broken"],
        visualize=False,
        summary=lambda t: {**_same(t, edges["broken"]), "protocol": type(t.protocol).__qualname__},
    )
    rec.call(
        "get_chemicalsystem",
        client.get_chemicalsystem,
        cs["ethane"],
        visualize=False,
        summary=lambda c: _same(c, systems["ethane"]),
    )

    # weights
    rec.call("get_network_weight", client.get_network_weight, a)
    rec.call("set_network_weight", client.set_network_weight, a, 0.9)
    rec.call("get_networks_weight", client.get_networks_weight, [a, b])
    rec.call("set_networks_weight", client.set_networks_weight, [a, b], [0.75, 0.25])
    rec.call("get_networks_weight:after_set", client.get_networks_weight, [a, b])

    # tasks
    ok1 = rec.call("create_tasks", client.create_tasks, tf["ok1"], count=2) or [None, None]
    extending = rec.call("create_tasks:extends", client.create_tasks, tf["ok1"], extends=ok1[0]) or [None]
    pair = [tf["ok2"], tf["broken"]]
    ok2_broken = rec.call("create_transformations_tasks", client.create_transformations_tasks, pair) or [None, None]
    spare = rec.call("create_tasks:spare", client.create_tasks, tf["ok2"]) or [None]
    tasks = {
        "ok1": ok1[0],
        "ok1_invalid": ok1[1],
        "ok1_extending": extending[0],
        "ok2": ok2_broken[0],
        "broken": ok2_broken[1],
        "ok2_cancelled": spare[0],
    }
    keys.update({f"task_{role}": None if sk is None else str(sk) for role, sk in tasks.items()})
    every_task = list(tasks.values())

    rec.call("query_tasks", client.query_tasks, scope=sc)
    rec.call("get_network_tasks", client.get_network_tasks, a)
    rec.call("get_task_networks", client.get_task_networks, tasks["ok1"])
    rec.call("get_transformation_tasks", client.get_transformation_tasks, tf["ok1"])
    rec.call("get_transformation_tasks:extends", client.get_transformation_tasks, tf["ok1"], extends=tasks["ok1"])
    rec.call(
        "get_transformation_tasks:graph",
        client.get_transformation_tasks,
        tf["ok1"],
        return_as="graph",
        summary=lambda g: {"nodes": jsonable(list(g.nodes)), "edges": jsonable(list(g.edges))},
    )
    rec.call("get_task_transformation", client.get_task_transformation, tasks["ok1_extending"])

    # actioning
    rec.call("action_tasks", client.action_tasks, every_task, a)
    rec.call("action_tasks:weight", client.action_tasks, [tasks["ok2"]], a, weight=0.8)
    rec.call("cancel_tasks", client.cancel_tasks, [tasks["ok2_cancelled"]], a)
    rec.call("set_tasks_status", client.set_tasks_status, [tasks["ok1_invalid"]], "invalid")
    rec.call("get_tasks_status", client.get_tasks_status, every_task)
    rec.call("query_tasks:invalid", client.query_tasks, scope=sc, status="invalid")
    rec.call("get_network_tasks:invalid", client.get_network_tasks, a, status="invalid")
    rec.call("get_network_actioned_tasks", client.get_network_actioned_tasks, a, task_weights=True)
    rec.call("get_networks_actioned_tasks", client.get_networks_actioned_tasks, [a, b])
    rec.call("get_task_actioned_networks", client.get_task_actioned_networks, tasks["ok2"], task_weights=True)

    # priorities: the compute service claims ok2 first, then ok1, then the rest
    rec.call("set_tasks_priority", client.set_tasks_priority, [tasks["ok2"]], 1)
    rec.call("set_tasks_priority:ok1", client.set_tasks_priority, [tasks["ok1"]], 5)
    rec.call("get_tasks_priority", client.get_tasks_priority, [tasks["ok2"], tasks["ok1"]])

    # status views
    rec.call("get_scope_status", client.get_scope_status, sc, visualize=False)
    rec.call("get_network_status", client.get_network_status, a, visualize=False)
    rec.call("get_networks_status", client.get_networks_status, [a, b])
    rec.call("get_transformation_status", client.get_transformation_status, tf["ok1"], visualize=False)

    # restart patterns; none matches BrokenProtocol's traceback, and all are gone at the end
    rec.call("add_task_restart_patterns", client.add_task_restart_patterns, a, NEVER_MATCHES[:1], 2)
    rec.call("get_task_restart_patterns", client.get_task_restart_patterns, a)
    rec.call(
        "set_task_restart_patterns_allowed_restarts",
        client.set_task_restart_patterns_allowed_restarts,
        a,
        NEVER_MATCHES[:1],
        4,
    )
    rec.call("get_task_restart_patterns:after_set", client.get_task_restart_patterns, a)
    rec.call("remove_task_restart_patterns", client.remove_task_restart_patterns, a, NEVER_MATCHES[:1])
    rec.call("get_task_restart_patterns:after_remove", client.get_task_restart_patterns, a)
    rec.call("add_task_restart_patterns:two", client.add_task_restart_patterns, a, NEVER_MATCHES, 3)
    rec.call("clear_task_restart_patterns", client.clear_task_restart_patterns, a)
    rec.call("get_task_restart_patterns:after_clear", client.get_task_restart_patterns, a)

    # strategies: set on network B (inactive, so no strategist would act on it), read back, removed
    strategy = ConnectivityStrategy(ConnectivityStrategy.default_settings())
    keys["strategy"] = str(strategy.key)
    rec.call(
        "set_network_strategy",
        client.set_network_strategy,
        b,
        strategy,
        max_tasks_per_transformation=2,
        task_scaling="linear",
        mode="partial",
        sleep_interval=600,
    )
    rec.call("get_network_strategy", client.get_network_strategy, b, summary=lambda s: _same(s, strategy))
    rec.call(
        "get_network_strategy_state",
        client.get_network_strategy_state,
        b,
        summary=lambda s: None if s is None else s.to_dict(),
    )
    rec.call("get_network_strategy_status", client.get_network_strategy_status, b)
    rec.call("set_network_strategy_awake", client.set_network_strategy_awake, b)
    rec.call("set_network_strategy:remove", client.set_network_strategy, b, None)
    rec.call("get_network_strategy:removed", client.get_network_strategy, b)
    return keys


def results(config: dict, client, rec: Recorder) -> None:
    keys = config["keys"]
    a, b = scoped_key(keys["network_a"]), scoped_key(keys["network_b"])
    tf = {role: scoped_key(keys[f"tf_{role}"]) for role in ("ok1", "ok2", "broken", "non")}
    task = {role: scoped_key(keys[f"task_{role}"]) for role in ("ok1", "ok1_extending", "ok2", "broken")}
    pdrs = lambda found: [pdr_summary(p) for p in found]  # noqa: E731
    by_transformation = lambda found, each: {str(k): each(v) for k, v in found.items()}  # noqa: E731

    rec.call("get_tasks_status:after_compute", client.get_tasks_status, list(task.values()))
    rec.call("get_network_status:after_compute", client.get_network_status, a, visualize=False)
    rec.call(
        "get_transformation_results",
        client.get_transformation_results,
        tf["ok1"],
        visualize=False,
        summary=result_summary,
    )
    rec.call(
        "get_transformation_results:ProtocolResults",
        client.get_transformation_results,
        tf["ok1"],
        return_as="ProtocolResults",
        visualize=False,
        summary=lambda found: [result_summary(r) for r in found],
    )
    rec.call(
        "get_transformation_results:ProtocolDAGResults",
        client.get_transformation_results,
        tf["ok1"],
        return_as="ProtocolDAGResults",
        visualize=False,
        summary=pdrs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        rec.call(
            "get_transformation_results:return_protocoldagresults",
            client.get_transformation_results,
            tf["ok2"],
            return_protocoldagresults=True,
            visualize=False,
            summary=pdrs,
        )
    rec.call("get_transformation_results:none", client.get_transformation_results, tf["broken"], visualize=False)
    rec.call(
        "get_transformation_failures", client.get_transformation_failures, tf["broken"], visualize=False, summary=pdrs
    )
    rec.call("get_task_results", client.get_task_results, task["ok1_extending"], visualize=False, summary=pdrs)
    rec.call("get_task_results:failed_task", client.get_task_results, task["broken"], visualize=False, summary=pdrs)
    rec.call("get_task_failures", client.get_task_failures, task["broken"], visualize=False, summary=pdrs)
    rec.call(
        "get_network_results",
        client.get_network_results,
        a,
        visualize=False,
        summary=lambda found: by_transformation(found, result_summary),
    )
    rec.call(
        "get_network_failures",
        client.get_network_failures,
        a,
        visualize=False,
        summary=lambda found: by_transformation(found, pdrs),
    )
    rec.call(
        "get_network_archive",
        client.get_network_archive,
        b,
        metadata={"campaign": "upstream peer"},
        visualize=False,
        summary=_archive_summary,
    )
    rec.call(
        "get_network_archives",
        client.get_network_archives,
        [a, b],
        visualize=False,
        summary=lambda found: [_archive_summary(x) for x in found],
    )


def _same(obj, expected) -> dict:
    """An object read back: its key, and whether it equals the one submitted."""
    return {"key": str(obj.key), "equal": obj == expected}


def _archive_summary(archive) -> dict | None:
    if archive is None:
        return None
    return {
        "network": str(archive.network.key),
        "metadata": archive.metadata,
        "results": {str(t.key): len(found) for t, found in archive.transformation_results},
    }


def main() -> None:
    config = read_config()
    from alchemiscale.interface.client import AlchemiscaleClient

    rec = Recorder()
    client = user_client(config)
    data = {"public_methods": public_methods(AlchemiscaleClient)}
    if config["phase"] == "manage":
        data["keys"] = manage(config, client, rec)
    else:
        results(config, client, rec)
    write_output(config, {**data, "records": rec.records})


if __name__ == "__main__":  # get_network_results starts worker processes that import this file
    main()
