"""Fault: Neo4j is killed (SIGKILL) and restarted on the same data while clients write over HTTP.

A Neo4j server of this test's own backs a real user API and a real compute API (uvicorn). Writer
threads submit networks, create and action Tasks, claim them and push their results (a minimal
ProtocolDAGResult keyed chain, as the servers read it without gufe), without client-side retries, so
every answer the servers give is seen. While Neo4j is down the APIs must answer 503 with
``Retry-After`` quickly (never 500, never a hang); once it is back they recover by themselves; and
every write answered 2xx is read back afterwards.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
import uuid
from collections import Counter
from typing import Iterator

import httpx
import pytest
from neo4j import GraphDatabase

from alchemiscale.serialization.compression import bytes_to_latin1, compress_keyed_chain
from alchemiscale.models import ComputeServiceID, Scope, ScopedKey
from alchemiscale.local.neo4jserver import Neo4jServer, default_lib_dir
from alchemiscale.security.models import CredentialedComputeIdentity, CredentialedUserIdentity
from alchemiscale.storage.statestore import Neo4jStore
from alchemiscale.tests.integration.identities import make_identity
from alchemiscale.tests.integration.servers import running_uvicorn
from alchemiscale.tests.integration.storage.conftest import synthetic_network_chain

WRITERS = 2
OUTAGE_SECONDS = 3  # Neo4j stays down this long before the restart begins
LATENCY_BOUND = 15.0  # seconds; no answer may take longer, outage or not
TIMEOUTS = {  # the settings under test, tightened so the test stays short
    "NEO4J_CONNECTION_TIMEOUT_SECONDS": "2",
    "NEO4J_CONNECTION_ACQUISITION_TIMEOUT_SECONDS": "3",
    "NEO4J_MAX_TRANSACTION_RETRY_SECONDS": "2",
}


@pytest.fixture(scope="module")
def own_neo4j(tmp_path_factory) -> Iterator[Neo4jServer]:
    server = Neo4jServer(tmp_path_factory.mktemp("outage-neo4j"), lib_dir=default_lib_dir())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def store(own_neo4j) -> Iterator[Neo4jStore]:
    driver = GraphDatabase.driver(own_neo4j.url, auth=(own_neo4j.user, own_neo4j.password))
    store = Neo4jStore(driver, own_neo4j.dbname)
    store.initialize()
    yield store
    driver.close()


@pytest.fixture(scope="module")
def apis(own_neo4j, store, tmp_path_factory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("outage-objects")
    env = {
        "NEO4J_URL": own_neo4j.url,
        "NEO4J_USER": own_neo4j.user,
        "NEO4J_PASS": own_neo4j.password,
        "NEO4J_DBNAME": own_neo4j.dbname,
        "JWT_SECRET_KEY": secrets.token_hex(32),
        "ALCHEMISCALE_OBJECT_STORE": "local",
        "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(root),
        **TIMEOUTS,
    }
    logs = tmp_path_factory.mktemp("outage-logs")
    with running_uvicorn("alchemiscale.interface.api:app", env, log_path=logs / "user.log") as user_url, \
            running_uvicorn("alchemiscale.compute.api:app", env, log_path=logs / "compute.log") as compute_url:
        yield user_url, compute_url


def login(url: str, identifier: str, key: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/token", data={"username": identifier, "password": key}, timeout=60)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def result_upload(task: str, service: str) -> dict:
    """A one-unit successful ProtocolDAGResult for ``task``, as a compute service uploads it."""
    tag = uuid.uuid4().hex
    unit, result, dag = (f"{kind}-{uuid.uuid5(uuid.NAMESPACE_OID, kind + tag).hex}"
                         for kind in ("SyntheticUnit", "ProtocolUnitResult", "ProtocolDAGResult"))
    chain = [
        [unit, {"name": "unit", "__qualname__": "SyntheticUnit", "__module__": "synthetic"}],
        [result, {"name": "unit", "source_key": unit, "outputs": {}, "__qualname__": "ProtocolUnitResult",
                  "__module__": "gufe.protocols.protocolunit"}],
        [dag, {"name": None, "protocol_units": [{":gufe-key:": unit}], "protocol_unit_results": [{":gufe-key:": result}],
               "__qualname__": "ProtocolDAGResult", "__module__": "gufe.protocols.protocoldag"}],
    ]
    return {"protocoldagresult": bytes_to_latin1(compress_keyed_chain(chain)), "compute_service_id": service}


class Workload:
    """Writers looping over submit network → create Task → action it → claim → push result; every answer logged."""

    def __init__(self, user_url: str, compute_url: str, user_auth, compute_auth, scope: Scope, service: str):
        self.user = httpx.Client(base_url=user_url, headers=user_auth, timeout=LATENCY_BOUND + 30)
        self.compute = httpx.Client(base_url=compute_url, headers=compute_auth, timeout=LATENCY_BOUND + 30)
        self.scope, self.service = scope, service
        self.answers: list[tuple[float, float, int, bool]] = []  # (sent at, seconds, status, Retry-After given)
        self.networks: list[str] = []  # acknowledged writes, to read back
        self.tasks: list[str] = []
        self.actioned: list[str] = []
        self.claimed: list[str] = []
        self.results: dict[str, str] = {}  # Task -> ref of its acknowledged result
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._count = 0

    def _send(self, client: httpx.Client, path: str, body) -> httpx.Response:
        sent = time.monotonic()
        answer = client.post(path, json=body)
        with self._lock:
            self.answers.append((sent, time.monotonic() - sent, answer.status_code, "retry-after" in answer.headers))
        return answer

    def writer(self) -> None:
        while not self.stop.is_set():
            with self._lock:
                self._count += 1
                name = f"outage-{self._count}-{uuid.uuid4().hex[:6]}"
            chain = synthetic_network_chain(2, name=name)
            answer = self._send(self.user, "/networks", {"network": chain, "scope": self.scope.to_dict()})
            if answer.status_code != 200:
                time.sleep(0.2)
                continue
            network = ScopedKey(**answer.json())
            self.networks.append(str(network))
            transformation = ScopedKey(gufe_key=chain[-2][0], **self.scope.to_dict())
            answer = self._send(self.user, f"/transformations/{transformation}/tasks", {"count": 1})
            if answer.status_code != 200:
                continue
            task = answer.json()[0]
            self.tasks.append(task)
            answer = self._send(self.user, f"/networks/{network}/tasks/action", {"tasks": [task]})
            if answer.status_code == 200:
                self.actioned.append(task)
            body = {"scopes": [self.scope.to_dict()], "compute_service_id": self.service, "count": 1}
            answer = self._send(self.compute, "/claim", body)
            if answer.status_code != 200:
                continue
            for claimed in (t for t in answer.json() if t is not None):
                self.claimed.append(claimed)
                answer = self._send(self.compute, f"/tasks/{claimed}/results", result_upload(claimed, self.service))
                if answer.status_code == 200:
                    self.results[claimed] = str(ScopedKey(**answer.json()))


def test_neo4j_killed_and_restarted_under_load(own_neo4j, store, apis):
    user_url, compute_url = apis
    scope = Scope(f"outage{uuid.uuid4().hex[:8]}", "campaign", "project")
    user_key = make_identity(store, CredentialedUserIdentity, f"user-{scope.org}", [str(scope)])
    compute_key = make_identity(store, CredentialedComputeIdentity, f"compute-{scope.org}", [str(scope)])
    user_auth = login(user_url, f"user-{scope.org}", user_key)
    compute_auth = login(compute_url, f"compute-{scope.org}", compute_key)
    service = str(ComputeServiceID.new_from_name("outage"))
    registered = httpx.post(f"{compute_url}/computeservice/{service}/register", json={}, headers=compute_auth, timeout=60)
    assert registered.status_code == 200, registered.text

    work = Workload(user_url, compute_url, user_auth, compute_auth, scope, service)
    writers = [threading.Thread(target=work.writer) for _ in range(WRITERS)]
    for thread in writers:
        thread.start()
    try:
        time.sleep(3)
        killed_at = time.monotonic()
        os.kill(own_neo4j.pid, signal.SIGKILL)
        while own_neo4j.running:
            time.sleep(0.05)
        time.sleep(OUTAGE_SECONDS)
        own_neo4j.start()
        back_at = time.monotonic()
        deadline = back_at + 60
        while time.monotonic() < deadline and not any(s == 200 and t > back_at for t, _, s, _ in work.answers):
            time.sleep(0.1)
        recovered_at = min((t + d for t, d, s, _ in work.answers if s == 200 and t > back_at), default=None)
        time.sleep(2)
    finally:
        work.stop.set()
        for thread in writers:
            thread.join(timeout=LATENCY_BOUND + 60)

    statuses = Counter(s for _, _, s, _ in work.answers)
    during = [(d, s) for t, d, s, _ in work.answers if killed_at <= t <= back_at]
    unavailable = [(d, retry_after) for _, d, s, retry_after in work.answers if s == 503]
    max_latency = max(d for _, d, _, _ in work.answers)
    recovery = None if recovered_at is None else recovered_at - back_at
    print(
        f"\nneo4j outage: {len(work.answers)} writes answered {dict(statuses)}; "
        f"{len(unavailable)} answers 503 (max latency during the outage {max((d for d, _ in during), default=0):.2f} s, "
        f"overall {max_latency:.2f} s); Neo4j down {back_at - killed_at:.1f} s incl. restart "
        f"({own_neo4j.startup_seconds:.1f} s); first 2xx write {recovery if recovery is None else round(recovery, 2)} s "
        f"after restart; acknowledged: {len(work.networks)} networks, {len(work.tasks)} Tasks, "
        f"{len(work.actioned)} actioned, {len(work.claimed)} claimed, {len(work.results)} results"
    )
    assert set(statuses) <= {200, 503}, statuses
    assert unavailable and all(retry_after for _, retry_after in unavailable), "503s carry Retry-After"
    assert max_latency < LATENCY_BOUND
    assert recovery is not None and recovery < 30, "the APIs recovered by themselves"

    # every acknowledged write is there
    assert all(store.check_existence(sk) for sk in work.networks)
    assert all(store.check_existence(sk) for sk in work.tasks)
    assert all(store.get_task_actioned_networks(task) for task in set(work.actioned) - set(work.claimed))
    for task, ref in work.results.items():
        assert store.get_task_status([task]) == ["complete"] and ref in map(str, store.get_task_results(task))
    unfinished = [task for task in work.claimed if task not in work.results]
    assert all(t.status == "running" and t.claim == service for t in store.get_tasks(unfinished))
    assert work.results, "results were pushed and acknowledged"
