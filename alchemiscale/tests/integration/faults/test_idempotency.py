"""Fault: the connection drops after the server committed a POST; the client's retry must not redo it.

A loopback TCP proxy sits between an AlchemiscaleClient and the real user API. For the chosen
POSTs it forwards the request, reads the server's whole answer, and then hangs up on the client
without passing the answer on: exactly what a client sees when a load balancer or a flaky network
drops a connection at the worst moment. The client retries with the same ``Idempotency-Key``, and
the server answers from its record instead of creating the Tasks again.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import time

import httpx
import pytest
from fastapi.testclient import TestClient

from alchemiscale.base import idempotency
from alchemiscale.base.api import get_jwt_settings_depends, get_n4js_depends
from alchemiscale.interface.api import create_app
from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.models import Scope, ScopedKey
from alchemiscale.security.models import CredentialedUserIdentity
from alchemiscale.settings import IdempotencySettings, JWTSettings, Neo4jStoreSettings
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.storage.statestore import Neo4jStore
from alchemiscale.tests.integration.identities import bearer, make_identity, mint_token
from alchemiscale.tests.integration.servers import free_port, running_uvicorn

TASKS_PER_CALL = 3


class DroppingProxy:
    """Forwards loopback TCP to ``upstream``; hangs up instead of relaying answers to ``drops`` matching requests."""

    def __init__(self, upstream_port: int, request_prefix: bytes):
        self.upstream_port = upstream_port
        self.request_prefix = request_prefix
        self.drops_left = 0
        self.matching_requests: list[bytes] = []  # request heads, as sent
        self.dropped_answers: list[bytes] = []  # answers the client never got
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            drop_next = threading.Event()
            threading.Thread(target=self._requests, args=(downstream, upstream, drop_next), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, downstream, drop_next), daemon=True).start()

    def _requests(self, downstream: socket.socket, upstream: socket.socket, drop_next: threading.Event) -> None:
        """Client to server. httpx sends one request at a time per connection, so a new one starts a chunk."""
        try:
            while chunk := downstream.recv(65536):
                if chunk.startswith(self.request_prefix):
                    with self._lock:
                        self.matching_requests.append(chunk.split(b"\r\n\r\n", 1)[0])
                        if self.drops_left > 0:
                            self.drops_left -= 1
                            drop_next.set()
                upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(upstream)

    def _answers(self, upstream: socket.socket, downstream: socket.socket, drop_next: threading.Event) -> None:
        """Server to client, one whole answer (head and Content-Length body) at a time."""
        buffer = b""
        try:
            while True:
                answer, buffer = _one_answer(upstream, buffer)
                if answer is None:
                    return
                if drop_next.is_set():
                    self.dropped_answers.append(answer)
                    return  # the server has answered (and committed); the client never hears of it
                downstream.sendall(answer)
        except OSError:
            pass
        finally:
            _close(downstream)
            _close(upstream)


def _one_answer(sock: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buffer
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buffer
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _body(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


def _idempotency_key(request_head: bytes) -> str | None:
    for line in request_head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"idempotency-key":
            return value.strip().decode()
    return None


@pytest.fixture(scope="module")
def user_api_url(neo4j_env, n4js, tmp_path_factory) -> Iterator[str]:
    objectstore = LocalObjectStore(tmp_path_factory.mktemp("objectstore"))
    objectstore.initialize()
    env = {
        "JWT_SECRET_KEY": secrets.token_hex(32),
        "ALCHEMISCALE_OBJECT_STORE": "local",
        "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(objectstore.root),
    }
    log_path = tmp_path_factory.mktemp("logs") / "user_api.log"
    with running_uvicorn("alchemiscale.interface.api:app", env, log_path=log_path) as url:
        yield url


@pytest.fixture(scope="module")
def scope() -> Scope:
    return Scope(f"idem{uuid.uuid4().hex[:10]}", "campaign", "project")


@pytest.fixture(scope="module")
def identity(n4js, scope) -> tuple[str, str]:
    identifier = f"user-{scope.org}"
    return identifier, make_identity(n4js, CredentialedUserIdentity, identifier, [str(scope)])


@pytest.fixture(scope="module")
def transformations(user_api_url, identity, scope, network, tmp_path_factory) -> list[ScopedKey]:
    with AlchemiscaleClient(user_api_url, *identity, cache_directory=tmp_path_factory.mktemp("cache")) as client:
        network_key = client.create_network(network, scope, visualize=False)
        return client.get_network_transformations(network_key)


@pytest.fixture
def proxy(user_api_url) -> Iterator[DroppingProxy]:
    proxy = DroppingProxy(int(user_api_url.rsplit(":", 1)[1]), b"POST /transformations/")
    yield proxy
    proxy.close()


def test_answers_dropped_after_commit_create_the_tasks_once(proxy, identity, transformations, tmp_path):
    transformation = transformations[0]
    proxy.drops_left = 2
    with AlchemiscaleClient(
        proxy.url, *identity, cache_directory=tmp_path, max_retries=3, retry_base_seconds=1.01, retry_max_seconds=0.05
    ) as client:
        created = client.create_tasks(transformation, count=TASKS_PER_CALL)
        stored = client.get_transformation_tasks(transformation)

    attempts = len(proxy.matching_requests)
    keys = {_idempotency_key(head) for head in proxy.matching_requests}
    dropped = [json.loads(_body(answer)) for answer in proxy.dropped_answers]
    print(
        f"\nidempotency fault: {attempts} attempts of one create_tasks(count={TASKS_PER_CALL}), "
        f"{len(proxy.dropped_answers)} answers dropped after commit, {len(stored)} Tasks stored, "
        f"keys sent: {len(keys)}"
    )
    assert attempts == 3 and len(proxy.dropped_answers) == 2
    assert len(keys) == 1 and None not in keys, "every retry carried the same Idempotency-Key"
    assert len(created) == TASKS_PER_CALL
    assert sorted(map(str, stored)) == sorted(map(str, created)), "exactly one set of Tasks exists"
    assert all(answer == [str(key) for key in created] for answer in dropped), "the client got the first answer"


def test_without_a_key_a_repeated_post_runs_again(user_api_url, identity, transformations):
    """What upstream 0.8.0's clients (which send no key) get: the server runs each POST, as before."""
    transformation = transformations[1]
    with httpx.Client(base_url=user_api_url) as http:
        token = http.post("/token", data={"username": identity[0], "password": identity[1]}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(2):
            answer = http.post(f"/transformations/{transformation}/tasks", json={"count": TASKS_PER_CALL},
                               headers=headers)
            assert answer.status_code == 200, answer.text
            assert "idempotency-replayed" not in answer.headers
        stored = http.get(f"/transformations/{transformation}/tasks", headers=headers).json()
    print(f"\nwithout Idempotency-Key: 2 POSTs created {len(stored)} Tasks")
    assert len(stored) == 2 * TASKS_PER_CALL


def test_a_concurrent_repeat_waits_for_the_first(user_api_url, identity, transformations):
    transformation = transformations[2]
    with httpx.Client(base_url=user_api_url) as http:
        token = http.post("/token", data={"username": identity[0], "password": identity[1]}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    url = f"{user_api_url}/transformations/{transformation}/tasks"

    def post(_):
        return httpx.post(url, json={"count": TASKS_PER_CALL}, headers=headers, timeout=30)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(post, range(6)))
    stored = httpx.get(url, headers=headers).json()
    replayed = sum(answer.headers.get("idempotency-replayed") == "true" for answer in answers)
    print(f"\n6 simultaneous POSTs with one key: {len(stored)} Tasks stored, {replayed} answers replayed")
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1, "everyone got the same answer"
    assert replayed == 5 and len(stored) == TASKS_PER_CALL


def test_keys_are_per_identity_and_route(user_api_url, identity, n4js, scope, transformations):
    transformation = transformations[3]
    other = make_identity(n4js, CredentialedUserIdentity, f"other-{scope.org}", [str(scope)])
    key = uuid.uuid4().hex
    with httpx.Client(base_url=user_api_url) as http:

        def headers_for(identifier, secret):
            token = http.post("/token", data={"username": identifier, "password": secret}).json()["access_token"]
            return {"Authorization": f"Bearer {token}", "Idempotency-Key": key}

        mine, theirs = headers_for(*identity), headers_for(f"other-{scope.org}", other)
        route = f"/transformations/{transformation}/tasks"
        first = http.post(route, json={"count": 1}, headers=mine)
        second = http.post(route, json={"count": 1}, headers=theirs)
        assert first.status_code == second.status_code == 200
        assert first.json() != second.json(), "another identity's key of the same value is its own"

        elsewhere = http.post(f"/transformations/{transformations[4]}/tasks", json={"count": 1}, headers=mine)
        assert elsewhere.status_code == 422 and "fresh key" in elsewhere.json()["detail"]

        bad = http.post(route, json={"count": 1}, headers={**mine, "Idempotency-Key": "has spaces"})
        assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["detail"]
        assert len(http.get(route, headers=mine).json()) == 2


def test_a_state_store_outage_answers_503_with_retry_after():
    """No Neo4j to hold the record: the keyed POST is refused as the routes refuse (503), never run unrecorded."""
    app = create_app()
    dead = Neo4jStore.from_settings(Neo4jStoreSettings(
        NEO4J_URL=f"bolt://127.0.0.1:{free_port()}", NEO4J_USER="neo4j", NEO4J_PASS="unused",
        NEO4J_MAX_TRANSACTION_RETRY_SECONDS=0, NEO4J_CONNECTION_TIMEOUT_SECONDS=1,
    ))
    jwt_settings = JWTSettings(JWT_SECRET_KEY="outage-test-secret")
    app.dependency_overrides[get_n4js_depends] = lambda: dead
    app.dependency_overrides[get_jwt_settings_depends] = lambda: jwt_settings
    token = mint_token("outage-test-secret", "alice", ["org-campaign-project"])
    headers = {**bearer(token), "Idempotency-Key": uuid.uuid4().hex}
    try:
        with TestClient(app, raise_server_exceptions=False) as http:
            started = time.monotonic()
            answer = http.post("/transformations/Transformation-abc-org-campaign-project/tasks",
                               json={"count": 1}, headers=headers)
            took = time.monotonic() - started
    finally:
        dead.close()
    print(f"\nkeyed POST with Neo4j unreachable: {answer.status_code} in {took:.2f} s")
    assert answer.status_code == 503 and answer.headers["Retry-After"].isdigit()
    assert "unavailable" in answer.json()["detail"] and took < 10


def test_answers_past_the_recording_limit_are_sent_unrecorded(n4js, identity, scope, transformations, monkeypatch):
    monkeypatch.setattr(idempotency, "get_idempotency_settings",
                        lambda: IdempotencySettings(ALCHEMISCALE_IDEMPOTENCY_MAX_RESPONSE_BYTES=10))
    app = create_app()
    app.dependency_overrides[get_n4js_depends] = lambda: n4js
    app.dependency_overrides[get_jwt_settings_depends] = lambda: JWTSettings(JWT_SECRET_KEY="limit-test-secret")
    headers = {**bearer(mint_token("limit-test-secret", identity[0], [str(scope)])),
               "Idempotency-Key": uuid.uuid4().hex}
    route = f"/transformations/{transformations[5]}/tasks"
    with TestClient(app) as http:
        answers = [http.post(route, json={"count": 1}, headers=headers) for _ in range(2)]
        stored = http.get(route, headers=headers).json()
    assert [answer.status_code for answer in answers] == [200, 200]
    assert not any("idempotency-replayed" in answer.headers for answer in answers)
    assert len(stored) == 2, "an unrecorded answer leaves a repeat free to run"
