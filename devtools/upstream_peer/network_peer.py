"""Upstream alchemiscale 0.8.0's AlchemiscaleClient submitting a network, or reading a network's results.

Config ``phase``:

- ``submit``: builds ``peer_network(config["name"])`` from gufe 1.x objects, submits it to config
  ``scope``, creates one Task on each of its three Transformations and actions them. Output: the
  ScopedKeys, and the network as gufe's own keyed chain (JSON text), so that another client can
  submit the very same network.
- ``read``: every result and failure of config ``network``, per Transformation, and its status.
"""

from __future__ import annotations

import json

from peer_common import (
    Recorder,
    local_scoped_key,
    pdr_summary,
    peer_network,
    read_config,
    result_summary,
    scope,
    scoped_key,
    user_client,
    write_output,
)

EXECUTED_ROLES = ("ok1", "ok2", "broken")


def submit(config: dict, client, rec: Recorder) -> dict:
    from gufe.tokenization import JSON_HANDLER, KeyedChain

    network, systems, edges = peer_network(config["name"])
    network_sk = rec.call("create_network", client.create_network, network, scope(config["scope"]), visualize=False)
    transformations = [scoped_key(local_scoped_key(edges[role], config["scope"])) for role in EXECUTED_ROLES]
    tasks = rec.call("create_transformations_tasks", client.create_transformations_tasks, transformations) or []
    rec.call("action_tasks", client.action_tasks, tasks, network_sk)
    return {
        "network": local_scoped_key(network, config["scope"]),
        "transformations": {role: local_scoped_key(tf, config["scope"]) for role, tf in edges.items()},
        "chemicalsystems": {name: local_scoped_key(cs, config["scope"]) for name, cs in systems.items()},
        "tasks": dict(zip(EXECUTED_ROLES, map(str, tasks))),
        "keyed_chain": json.dumps(KeyedChain.gufe_to_keyed_chain_rep(network), cls=JSON_HANDLER.encoder),
    }


def read(config: dict, client, rec: Recorder) -> None:
    network = scoped_key(config["network"])
    each = lambda found, summarize: {str(tf): summarize(value) for tf, value in found.items()}  # noqa: E731
    pdrs = lambda found: [pdr_summary(pdr) for pdr in found]  # noqa: E731
    rec.call("get_network_status", client.get_network_status, network, visualize=False)
    rec.call(
        "get_network_results",
        client.get_network_results,
        network,
        visualize=False,
        summary=lambda found: each(found, result_summary),
    )
    rec.call(
        "get_network_results:ProtocolDAGResults",
        client.get_network_results,
        network,
        return_as="ProtocolDAGResults",
        visualize=False,
        summary=lambda found: each(found, pdrs),
    )
    rec.call(
        "get_network_failures",
        client.get_network_failures,
        network,
        visualize=False,
        summary=lambda found: each(found, pdrs),
    )


def main() -> None:
    config = read_config()
    rec = Recorder()
    client = user_client(config)
    data = submit(config, client, rec) if config["phase"] == "submit" else {}
    if config["phase"] == "read":
        read(config, client, rec)
    write_output(config, {**data, "records": rec.records})


if __name__ == "__main__":  # get_network_results starts worker processes that import this file
    main()
