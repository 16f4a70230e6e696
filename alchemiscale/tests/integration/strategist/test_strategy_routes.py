"""The user-API routes the strategist uses: listing due strategies, recording runs, and re-setting a Strategy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from stratocaster.strategies.connectivity import ConnectivityStrategy, ConnectivityStrategySettings

from alchemiscale.base.client import AlchemiscaleClientError
from alchemiscale.strategist.client import StrategyRunRecord

from .conftest import vacuum_network


def strategy(max_runs: int = 2) -> ConnectivityStrategy:
    return ConnectivityStrategy(ConnectivityStrategySettings(max_runs=max_runs))


def due_networks(client, scope, min_sleep_interval=0) -> set:
    return {e.network for e in client.get_network_strategies(scope, due=True, min_sleep_interval=min_sleep_interval)}


def test_due_strategies_and_run_records(world, ligands):
    client, scope = world.client, world.scope
    networks = {
        name: client.create_network(vacuum_network(ligands, name=name), scope, visualize=False)
        for name in ("due", "disabled", "resting", "errored", "inactive")
    }
    sks = {name: client.set_network_strategy(sk, strategy(), sleep_interval=0) for name, sk in networks.items()}
    client.set_network_strategy(networks["disabled"], strategy(), mode="disabled")
    client.set_network_strategy(networks["resting"], strategy(), sleep_interval=3600)
    client.set_network_state(networks["inactive"], "inactive")
    now = datetime.now(timezone.utc)
    client.record_strategy_run(networks["resting"], sks["resting"], StrategyRunRecord("awake", 1, now, 0))
    errored = client.record_strategy_run(
        networks["errored"], sks["errored"],
        StrategyRunRecord("error", 1, now, 0, exception=("ValueError", "bad"), traceback="Traceback ..."),
    )
    assert errored["status"] == "error" and errored["exception"] == ["ValueError", "bad"]

    assert due_networks(client, scope) == {networks["due"]}
    listed = {e.network for e in client.get_network_strategies(scope)}
    assert listed == {networks[name] for name in ("due", "disabled", "resting", "errored")}  # active networks only
    # the strategist's own minimum interval applies too: a run a minute ago is not due at 3600 s
    minute_ago = datetime.now(timezone.utc) - timedelta(seconds=60)
    client.record_strategy_run(networks["due"], sks["due"], StrategyRunRecord("awake", 1, minute_ago, 0))
    assert due_networks(client, scope, min_sleep_interval=30) == {networks["due"]}
    assert due_networks(client, scope, min_sleep_interval=3600) == set()
    # nothing of the scope for another scope, even a permitted one
    assert due_networks(client, world.other_scope) == set()


def test_stale_run_is_refused_and_setting_again_keeps_the_strategy(world, ligands):
    client = world.client
    network = client.create_network(vacuum_network(ligands), world.scope, visualize=False)
    old = client.set_network_strategy(network, strategy(2), sleep_interval=0)
    assert client.set_network_strategy(network, strategy(2), sleep_interval=0) == old
    assert client.get_network_strategy_status(network) == "awake"  # setting the same Strategy again keeps it

    new = client.set_network_strategy(network, strategy(3), sleep_interval=0)
    run = StrategyRunRecord("dormant", 7, datetime.now(timezone.utc), 5)
    with pytest.raises(AlchemiscaleClientError) as refused:
        client.record_strategy_run(network, old, run)
    assert refused.value.status_code == 409 and "no longer progressed" in str(refused.value)
    assert client.get_network_strategy_state(network)["iterations"] == 0
    assert client.record_strategy_run(network, new, run)["iterations"] == 7

    naive = {"strategy": str(new), "status": "awake", "iterations": 1, "last_iteration": "2026-01-01T00:00:00",
             "last_iteration_result_count": 0}
    with pytest.raises(AlchemiscaleClientError) as bad:
        client._post_resource(f"/networks/{network}/strategy/state", naive)
    assert bad.value.status_code == 422 and "timezone" in str(bad.value)
    with pytest.raises(AlchemiscaleClientError) as mismatched:
        client._post_resource(f"/networks/{network}/strategy/state", {**naive, "last_iteration": "2026-01-01T00:00Z",
                                                                       "exception": ["E", "m"]})
    assert mismatched.value.status_code == 422 and "only be set when status is 'error'" in str(mismatched.value)
