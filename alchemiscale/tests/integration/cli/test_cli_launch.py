"""Real launches: an API started by the CLI, and a local deployment brought up, restarted and stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gufe import AlchemicalNetwork

from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.local.deployment import LocalDeployment
from alchemiscale.local.processes import free_ports, group_members, pid_alive, stop_groups, wait_for_ping
from alchemiscale.models import Scope
from alchemiscale.local.neo4jserver import default_lib_dir, fetch_jars, has_jars

SCOPE = Scope("cli", "launch", "test")
TASK_TIMEOUT_SECONDS = 180


def alchemiscale(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "alchemiscale.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200"})


def test_api_started_by_the_cli_answers_ping(neo4j_env, tmp_path):
    (port,) = free_ports(1)
    log = tmp_path / "api.log"
    env = {**os.environ, "JWT_SECRET_KEY": "launch-test-secret", "ALCHEMISCALE_OBJECT_STORE": "local",
           "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(tmp_path / "objects")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "alchemiscale.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_ping(f"http://127.0.0.1:{port}", process.pid, log, timeout=120)
        response = httpx.get(f"http://127.0.0.1:{port}/ping")
        assert response.status_code == 200
        assert response.json()["api"] == "AlchemiscaleAPI"
        assert len(group_members(process.pid)) >= 2  # gunicorn master and a uvicorn worker
    finally:
        stop_groups([process.pid], timeout=30)
        process.wait(10)
    assert group_members(process.pid) == []


def _deployment_pids(deployment: LocalDeployment) -> list[int]:
    state = json.loads((deployment.data_dir / "deployment.json").read_text())
    pids = list(state["processes"].values()) + [s["pid"] for s in state["compute_services"]]
    neo4j_pid = (deployment.neo4j_dir / "run" / "alchemiscale-neo4j.pid").read_text().strip()
    return pids + [int(neo4j_pid)]


def _assert_all_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 15
    while any(pid_alive(pid) or group_members(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in pids if pid_alive(pid) or group_members(pid)] == []


def _wait_complete(client: AlchemiscaleClient, task) -> str:
    deadline = time.monotonic() + TASK_TIMEOUT_SECONDS
    while (status := client.get_tasks_status([task])[0]) not in ("complete", "error"):
        assert time.monotonic() < deadline, f"task still {status} after {TASK_TIMEOUT_SECONDS} s"
        time.sleep(1)
    return status


@pytest.fixture
def data_dir(tmp_path) -> Path:
    if not has_jars(default_lib_dir()):
        fetch_jars(default_lib_dir())
    path = tmp_path / "deployment"
    yield path
    LocalDeployment(path).down()  # whatever a failed test left running


def test_local_deployment_up_down_up_keeps_data(data_dir, transformation):
    ports = [str(port) for port in free_ports(3)]
    up = alchemiscale("local", "up", "--data-dir", str(data_dir), "-n", "1", "--user-port", ports[0],
                      "--compute-port", ports[1], "--neo4j-port", ports[2])
    assert up.returncode == 0, up.stdout + up.stderr
    assert "healthy" in up.stdout and "local-user" in up.stdout
    deployment = LocalDeployment(data_dir)
    secrets_file = data_dir / "secrets.json"
    assert secrets_file.stat().st_mode & 0o077 == 0
    assert (data_dir / "credentials.env").stat().st_mode & 0o077 == 0
    values = json.loads(secrets_file.read_text())
    assert values["user_key"] in up.stdout  # printed once, on first start
    assert values["jwt_secret"] not in up.stdout and values["neo4j_password"] not in up.stdout

    status = alchemiscale("local", "status", "--data-dir", str(data_dir))
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("healthy") == 4  # Neo4j, both APIs, one compute service

    again = alchemiscale("local", "up", "--data-dir", str(data_dir))
    assert again.returncode == 1 and "already running" in again.stderr

    url = f"http://127.0.0.1:{ports[0]}"
    with AlchemiscaleClient(url, values["user_identifier"], values["user_key"], use_local_cache=False) as client:
        network_sk = client.create_network(AlchemicalNetwork(edges=[transformation], name="cli launch"), SCOPE,
                                           visualize=False)
        (transformation_sk,) = client.get_network_transformations(network_sk)
        (task,) = client.create_tasks(transformation_sk)
        client.action_tasks([task], network_sk)
        assert _wait_complete(client, task) == "complete"
        assert len(client.get_task_results(task, visualize=False)) == 1

    pids = _deployment_pids(deployment)
    down = alchemiscale("local", "down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stdout + down.stderr
    _assert_all_gone(pids)
    stopped = alchemiscale("local", "status", "--data-dir", str(data_dir))
    assert stopped.returncode == 1 and "not running" in stopped.stdout

    restart = alchemiscale("local", "up", "--data-dir", str(data_dir), "-n", "0")  # ports from the last start
    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert values["user_key"] not in restart.stdout
    with AlchemiscaleClient(url, values["user_identifier"], values["user_key"], use_local_cache=False) as client:
        assert network_sk in client.query_networks(scope=SCOPE)
        assert client.get_tasks_status([task]) == ["complete"]
        assert len(client.get_task_results(task, visualize=False)) == 1

    pids = _deployment_pids(deployment)
    assert alchemiscale("local", "down", "--data-dir", str(data_dir)).returncode == 0
    _assert_all_gone(pids)
