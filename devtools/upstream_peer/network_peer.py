"""Upstream alchemiscale 0.8.0's AlchemiscaleClient submitting a network, or reading a network's results.

Config ``phase``:

- ``submit``: builds ``peer_network(config["name"])`` from gufe 1.x objects, submits it to config
  ``scope``, creates one Task on each of its three Transformations and actions them. Output: the
  ScopedKeys, and the network as gufe's own keyed chain (JSON text), so that another client can
  submit the very same network.
- ``read``: for each network of config ``networks`` (``{label: ScopedKey}``), its status, its
  results, and the ProtocolDAGResults and failures of each Transformation (records
  ``method@label``); with config ``resubmit`` (``{"scope", "keyed_chain"}``), first submits that
  network, as gufe rebuilds it from the chain.
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
    from gufe.tokenization import JSON_HANDLER, GufeTokenizable

    if "resubmit" in config:
        chain = json.loads(config["resubmit"]["keyed_chain"], cls=JSON_HANDLER.decoder)
        network = GufeTokenizable.from_keyed_chain(chain)
        target = scope(config["resubmit"]["scope"])
        rec.call("create_network@resubmit", client.create_network, network, target, visualize=False)
    each = lambda found, summarize: {str(tf): summarize(value) for tf, value in found.items()}  # noqa: E731
    pdrs = lambda found: [pdr_summary(pdr) for pdr in found]  # noqa: E731
    for label, network_text in config["networks"].items():
        network = scoped_key(network_text)
        rec.call(f"get_network_status@{label}", client.get_network_status, network, visualize=False)
        rec.call(
            f"get_network_results@{label}",
            client.get_network_results,
            network,
            visualize=False,
            summary=lambda found: each(found, result_summary),
        )
        transformations = client.get_network_transformations(network)
        rec.call(
            f"get_transformation_results@{label}",
            lambda: {
                tf: client.get_transformation_results(tf, return_as="ProtocolDAGResults", visualize=False)
                for tf in transformations
            },
            summary=lambda found: each(found, pdrs),
        )
        rec.call(
            f"get_transformation_failures@{label}",
            lambda: {tf: client.get_transformation_failures(tf, visualize=False) for tf in transformations},
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
