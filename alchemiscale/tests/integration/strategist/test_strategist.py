"""The strategist against real servers: real networks, real results from the compute API, real Strategies."""

from __future__ import annotations

import signal

import pytest
from click.testing import CliRunner
from stratocaster.strategies.connectivity import ConnectivityStrategy, ConnectivityStrategySettings

from alchemiscale.cli import cli
from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.models import ScopedKey
from alchemiscale.storage.statestore.strategies import StrategyState

from .conftest import EDGES, compute_all, cycle_when_due, make_strategist, vacuum_network
from .strategies import FAILURE, FailingStrategy


def connectivity(max_runs: int) -> ConnectivityStrategy:
    return ConnectivityStrategy(ConnectivityStrategySettings(max_runs=max_runs))


def transformations_by_name(client, network) -> dict[str, ScopedKey]:
    return {
        client.get_transformation(sk, visualize=False).name: sk for sk in client.get_network_transformations(network)
    }


def actioned_per_transformation(client, network) -> dict[str, list[float]]:
    """Task weights of the actioned Tasks, by Transformation name."""
    names = {sk: name for name, sk in transformations_by_name(client, network).items()}
    found: dict[str, list[float]] = {name: [] for name in names.values()}
    for task, weight in client.get_network_actioned_tasks(network, task_weights=True).items():
        found[names[client.get_task_transformation(task)]].append(weight)
    return found


def test_connectivity_runs_to_convergence_and_wakes_on_new_results(world, ligands, n4js_fresh, tmp_path):
    client = world.client
    network = client.create_network(vacuum_network(ligands), world.scope, visualize=False)
    client.set_network_strategy(network, connectivity(max_runs=2), max_tasks_per_transformation=3, sleep_interval=0)
    others = (("methanol", "ethanol"), ("ethanol", "toluene"))  # Transformations of their own
    plain = client.create_network(vacuum_network(ligands, others, name="no strategy"), world.scope, visualize=False)
    foreign = client.create_network(vacuum_network(ligands, name="foreign"), world.other_scope, visualize=False)
    n4js_fresh.assemble_network(to_keyed_chain_json(vacuum_network(ligands, name="forbidden")), world.forbidden_scope)
    [forbidden] = n4js_fresh.query_networks(scope=world.forbidden_scope)
    n4js_fresh.set_network_strategy(forbidden, to_keyed_chain_json(connectivity(2)), StrategyState(sleep_interval=0))
    strategist = make_strategist(world, tmp_path)
    names = [f"{a} to {b}" for a, b in EDGES]

    # first run: no results yet; weights follow connectivity: (3+2)/2, (3+2)/2, (3+1)/2, (2+2)/2 over 9
    outcomes = cycle_when_due(strategist)
    assert set(outcomes) == {network}  # nothing for networks without a Strategy or out of the identity's scopes
    assert outcomes[network].status == "awake" and outcomes[network].created == 4
    weights = {client.get_transformation(sk, visualize=False).name: w for sk, w in outcomes[network].weights.items()}
    assert weights == pytest.approx(dict(zip(names, [2.5 / 9, 2.5 / 9, 2 / 9, 2 / 9])))
    # exponential scaling, max 3: int(4 ** w) = 1 Task each; Task weights relative to the largest
    assert actioned_per_transformation(client, network) == {
        names[0]: [1.0], names[1]: [1.0], names[2]: [pytest.approx(0.8)], names[3]: [pytest.approx(0.8)]
    }
    state = client.get_network_strategy_state(network)
    assert (state["status"], state["iterations"], state["last_iteration_result_count"]) == ("awake", 1, 0)
    assert client.get_network_tasks(plain) == [] and client.get_network_tasks(foreign) == []
    assert n4js_fresh.get_network_tasks(forbidden) == []
    assert n4js_fresh.get_network_strategy_state(forbidden).iterations == 0

    # the same run again, before any result, actions nothing more: the limits hold
    assert cycle_when_due(strategist)[network].actioned == 0
    assert sum(map(len, actioned_per_transformation(client, network).values())) == 4

    assert compute_all(world, tmp_path) == 4
    second = cycle_when_due(strategist)[network]
    assert (second.status, second.created) == ("awake", 4)
    assert compute_all(world, tmp_path) == 4

    # every Transformation has max_runs=2 results: all weights None, dormant
    third = cycle_when_due(strategist)[network]
    assert third.status == "dormant" and third.created == 0
    state = client.get_network_strategy_state(network)
    assert (state["status"], state["iterations"], state["last_iteration_result_count"]) == ("dormant", 4, 8)
    assert len(client.get_network_tasks(network)) == 8

    # dormant and no new result: left alone
    assert cycle_when_due(strategist)[network].status == "unchanged"
    assert client.get_network_strategy_state(network)["iterations"] == 4

    # a result the user asked for wakes it: it runs once more and goes back to sleep
    [extra] = client.create_tasks(transformations_by_name(client, network)[names[0]])
    client.action_tasks([extra], network)
    assert compute_all(world, tmp_path) == 1
    assert cycle_when_due(strategist)[network].status == "dormant"
    state = client.get_network_strategy_state(network)
    assert (state["iterations"], state["last_iteration_result_count"]) == (5, 9)
    strategist.close()


def test_failing_strategy_is_recorded_and_others_still_run(world, ligands, tmp_path):
    client = world.client
    failing = client.create_network(vacuum_network(ligands, name="failing"), world.scope, visualize=False)
    client.set_network_strategy(failing, FailingStrategy(FailingStrategy.default_settings()), sleep_interval=0)
    healthy = client.create_network(vacuum_network(ligands, name="healthy"), world.other_scope, visualize=False)
    client.set_network_strategy(healthy, connectivity(max_runs=1), sleep_interval=0)
    strategist = make_strategist(world, tmp_path)

    outcomes = cycle_when_due(strategist)
    assert outcomes[failing].status == "error" and FAILURE in outcomes[failing].message
    assert outcomes[healthy].status == "awake" and outcomes[healthy].created == 4
    state = client.get_network_strategy_state(failing)
    assert state["status"] == "error" and state["iterations"] == 1
    assert state["exception"] == ["RuntimeError", FAILURE] and "_propose" in state["traceback"]
    assert client.get_network_tasks(failing) == []

    # an errored Strategy is not run again until someone wakes it
    assert failing not in cycle_when_due(strategist)
    client.set_network_strategy_awake(failing)
    assert client.get_network_strategy_state(failing)["exception"] is None
    assert cycle_when_due(strategist)[failing].status == "error"
    assert client.get_network_strategy_state(failing)["iterations"] == 2
    strategist.close()


def test_full_mode_cancels_excess_and_skips_errored_transformations(world, ligands, tmp_path):
    client = world.client
    edges = (("methane", "ethane"), ("ethane", "propane"))
    network = client.create_network(
        vacuum_network(ligands, edges, name="full", failing=(("propane", "benzene"),)), world.scope, visualize=False
    )
    by_name = transformations_by_name(client, network)
    # the user ran three Tasks of one Transformation and one of the failing one, and actioned two more
    done = client.create_tasks(by_name["methane to ethane"], count=3)
    [doomed] = client.create_tasks(by_name["propane to benzene fails"])
    client.action_tasks(done + [doomed], network)
    assert compute_all(world, tmp_path) == 4
    assert client.get_tasks_status([doomed]) == ["error"]
    client.action_tasks(client.create_tasks(by_name["methane to ethane"], count=2), network)
    client.set_network_strategy(
        network, connectivity(max_runs=2), mode="full", max_tasks_per_transformation=3, sleep_interval=0
    )
    strategist = make_strategist(world, tmp_path, max_workers=1)

    outcome = cycle_when_due(strategist)[network]
    actioned = actioned_per_transformation(client, network)
    # methane to ethane has 3 results (>= max_runs): weight None, so full mode cancels its 2 waiting Tasks;
    # ethane to propane has (2+2)/2 of (2+2)/2 + (2+1)/2: int(4 ** (4/7)) = 2 new Tasks;
    # the failing Transformation gets none, as it has an errored Task (which stays actioned)
    assert (outcome.status, outcome.cancelled, outcome.created) == ("awake", 2, 2)
    assert (len(actioned["methane to ethane"]), len(actioned["ethane to propane"])) == (0, 2)
    assert len(client.get_transformation_tasks(by_name["propane to benzene fails"])) == 1
    strategist.close()


def test_cli_bad_config_is_one_line(tmp_path):
    config = tmp_path / "strategist.yaml"
    config.write_text("api_url: ftp://nowhere\nidentifier: me\nkey: secret-key\nbogus: 1\n")
    result = CliRunner().invoke(cli, ["strategist", "start", "-c", str(config)])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "api_url" in line and "bogus" in line and "secret-key" not in line


def test_cli_runs_cycles(world, ligands, tmp_path):
    network = world.client.create_network(vacuum_network(ligands), world.scope, visualize=False)
    world.client.set_network_strategy(network, connectivity(max_runs=1), sleep_interval=0)
    config = tmp_path / "strategist.yaml"
    config.write_text(
        f"api_url: {world.api_url}\nidentifier: strategist-user\nkey: {world.key}\nsleep_interval: 1\n"
        f"cache_directory: {tmp_path / 'cache'}\nscopes: ['{world.scope}']\nloglevel: INFO\n"
    )
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        result = CliRunner().invoke(cli, ["strategist", "start", "-c", str(config), "--cycles", "1"])
    finally:  # the command installs stop handlers in this (pytest's) process
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert result.exit_code == 0, result.output
    assert len(world.client.get_network_actioned_tasks(network)) == 4
    status = CliRunner().invoke(cli, ["strategist", "status", "-c", str(config)])
    assert status.exit_code == 0 and "awake" in status.output
