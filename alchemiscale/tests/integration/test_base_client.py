"""AlchemiscaleBaseClient against a real uvicorn server running a small FastAPI app.

The app mimics the API mechanics the clients rely on: ``/ping``, a ``/token`` password form issuing
JWTs, Bearer-protected routes, gzip in both directions, and routes that fail on purpose.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import socket
import threading
import time
from collections import Counter

import pytest
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.security import OAuth2PasswordBearer
from jose import JWTError, jwt

from alchemiscale.base.client import AlchemiscaleBaseClient, AlchemiscaleClientError, AlchemiscaleConnectionError
from alchemiscale.models import ScopedKey

IDENTIFIER = "alice"
KEY = "s3cret-key-never-shown"
SECRET = "test-signing-secret"
API_NAME = "TestAPI"


class ServerState:
    """What the test app has seen, for assertions."""

    def __init__(self):
        self.calls: Counter[str] = Counter()
        self.tokens_issued = 0
        self.revoked: set[str] = set()
        self.request_encodings: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.idempotency_keys: dict[str, list[str | None]] = {}


def build_app(state: ServerState) -> FastAPI:
    app = FastAPI()
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=5)
    bearer = OAuth2PasswordBearer(tokenUrl="token")
    serial = itertools.count()

    def current_token(token: str = Depends(bearer)) -> str:
        try:
            jwt.decode(token, SECRET, algorithms=["HS256"])
        except JWTError:
            raise HTTPException(401, "Could not validate credentials", headers={"WWW-Authenticate": "Bearer"})
        if token in state.revoked:
            raise HTTPException(401, "token revoked", headers={"WWW-Authenticate": "Bearer"})
        return token

    async def json_body(request: Request):
        encoding = request.headers.get("content-encoding")
        state.request_encodings.append(encoding)
        body = await request.body()
        return json.loads(gzip.decompress(body) if encoding == "gzip" else body)

    @app.get("/ping")
    def ping():
        return {"api": API_NAME}

    @app.post("/token")
    def token(username: str = Form(...), password: str = Form(...)):
        if (username, password) != (IDENTIFIER, KEY):
            raise HTTPException(401, "Incorrect identity or key")
        state.tokens_issued += 1
        claims = {"sub": username, "n": next(serial), "exp": int(time.time()) + 600}
        return {"access_token": jwt.encode(claims, SECRET, algorithm="HS256"), "token_type": "bearer"}

    router = APIRouter(dependencies=[Depends(current_token)])

    @router.get("/info")
    def info():
        return {"message": "nothing yet"}

    @router.get("/flaky/{name}")
    def flaky(name: str, failures: int):
        state.calls[name] += 1
        if state.calls[name] <= failures:
            raise HTTPException(503, "try again later")
        return {"attempts": state.calls[name]}

    @router.post("/flaky-post/{name}")
    def flaky_post(name: str, failures: int, request: Request):
        state.calls[name] += 1
        state.idempotency_keys.setdefault(name, []).append(request.headers.get("Idempotency-Key"))
        if state.calls[name] <= failures:
            raise HTTPException(503, "Neo4j is down", headers={"Retry-After": "0.2"})
        return {"attempts": state.calls[name]}

    @router.get("/status/{code}")
    def answer_with(code: int):
        state.calls[f"status-{code}"] += 1
        raise HTTPException(code, f"answered {code}")

    @router.get("/missing")
    def missing():
        state.calls["missing"] += 1
        raise HTTPException(404, "no such network")

    @router.get("/slow")
    async def slow():
        state.calls["slow"] += 1
        await asyncio.sleep(1.0)
        return {}

    @router.post("/revoke")
    def revoke(token: str = Depends(current_token)):
        state.revoked.add(token)
        return {}

    @router.get("/always-unauthorized")
    def always_unauthorized():
        state.calls["always-unauthorized"] += 1
        raise HTTPException(401, "not for you")

    @router.get("/big")
    def big(n: int):
        return {"values": list(range(n))}

    @router.get("/keys")
    def keys(prefix: str, count: int):
        return [f"Transformation-{i:032x}-{prefix}-camp-proj" for i in range(count)]

    @router.get("/params")
    def params(request: Request):
        return sorted(request.query_params.multi_items())

    @router.post("/echo")
    async def echo(data=Depends(json_body)):
        return {"received": data}

    @router.post("/double")
    async def double(data=Depends(json_body)):
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        await asyncio.sleep(0.05 if data["values"][0] % 2 else 0.01)  # later batches may finish first
        state.in_flight -= 1
        return [2 * value for value in data["values"]]

    app.include_router(router)
    return app


class ServedApp:
    def __init__(self, url: str, state: ServerState):
        self.url = url
        self.state = state


@pytest.fixture(scope="module")
def served() -> ServedApp:
    state = ServerState()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(build_app(state), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    yield ServedApp(f"http://127.0.0.1:{sock.getsockname()[1]}", state)
    server.should_exit = True
    thread.join(timeout=5)


class ExampleClient(AlchemiscaleBaseClient):
    _api_name = API_NAME


def make_client(url: str, tmp_path, cls=ExampleClient, **overrides) -> AlchemiscaleBaseClient:
    options = dict(cache_directory=tmp_path / "cache", max_retries=5, retry_base_seconds=1.01, retry_max_seconds=0.01)
    options.update(overrides)
    return cls(url, IDENTIFIER, KEY, **options)


@pytest.fixture
def client(served, tmp_path):
    with make_client(served.url, tmp_path) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ping_info_and_lazy_token(client, served):
    issued = served.state.tokens_issued
    assert client.ping() == {"api": API_NAME}
    client._api_check()
    assert served.state.tokens_issued == issued, "ping needs no token"
    assert client.get_info() == {"message": "nothing yet"}
    assert client.get_info() == {"message": "nothing yet"}
    assert served.state.tokens_issued == issued + 1, "one token serves many calls"


def test_wrong_api_name_is_reported(served, tmp_path):
    class ComputeLikeClient(AlchemiscaleBaseClient):
        _api_name = "AlchemiscaleComputeAPI"

    with make_client(served.url, tmp_path, cls=ComputeLikeClient) as client:
        with pytest.raises(AlchemiscaleClientError, match="serves 'TestAPI'.*needs 'AlchemiscaleComputeAPI'"):
            client.get_info()
        with pytest.raises(AlchemiscaleClientError, match="AlchemiscaleComputeAPI"):
            client._api_check()


def test_bad_key_gives_401_without_showing_the_key(served, tmp_path):
    with make_client(served.url, tmp_path) as good:
        settings = good._settings()
    settings["key"] = "wrong-key-value"
    with ExampleClient(**settings) as client:
        with pytest.raises(AlchemiscaleClientError) as caught:
            client.get_info()
    assert caught.value.status_code == 401
    assert caught.value.detail == "Incorrect identity or key"
    assert "wrong-key-value" not in str(caught.value) and "wrong-key-value" not in repr(client)


def test_503_is_retried_until_success(client, served):
    assert client._get_resource("/flaky/three", {"failures": 3}) == {"attempts": 4}
    assert served.state.calls["three"] == 4


def test_503_retries_run_out_and_raise(served, tmp_path):
    with make_client(served.url, tmp_path, max_retries=2) as client:
        with pytest.raises(AlchemiscaleClientError) as caught:
            client._get_resource("/flaky/forever", {"failures": 100})
    assert not isinstance(caught.value, AlchemiscaleConnectionError)
    assert caught.value.status_code == 503 and "try again later" in str(caught.value)
    assert served.state.calls["forever"] == 3, "one attempt plus two retries"


def test_404_is_not_retried(client, served):
    with pytest.raises(AlchemiscaleClientError) as caught:
        client._get_resource("/missing")
    assert caught.value.status_code == 404
    assert caught.value.detail == "no such network"
    assert "no such network" in str(caught.value) and "/missing" in str(caught.value)
    assert served.state.calls["missing"] == 1


def test_401_renews_the_token_once(client, served):
    client.get_info()
    client._post_resource("/revoke", {})
    issued = served.state.tokens_issued
    assert client.get_info() == {"message": "nothing yet"}
    assert served.state.tokens_issued == issued + 1

    before = served.state.calls["always-unauthorized"]
    with pytest.raises(AlchemiscaleClientError) as caught:
        client._get_resource("/always-unauthorized")
    assert caught.value.status_code == 401
    assert served.state.calls["always-unauthorized"] == before + 2, "sent, renewed once, sent again, gave up"


def test_concurrent_401s_share_one_renewal(client, served):
    client.get_info()
    client._post_resource("/revoke", {})
    issued = served.state.tokens_issued

    async def one_batch(batch):
        return [await client._get_resource_async("/info") for _ in batch]

    results = client._bulk(one_batch, range(16), batch_size=1, max_concurrency=16)
    assert results == [{"message": "nothing yet"}] * 16
    assert served.state.tokens_issued == issued + 1


def test_gzip_request_bodies(client, served):
    payload = {"values": list(range(50)), "key": ScopedKey.from_str("Transformation-abc-org-camp-proj")}
    expected = {"values": list(range(50)), "key": "Transformation-abc-org-camp-proj"}
    for compress, encoding in [(True, "gzip"), (9, "gzip"), (0, "gzip"), (False, None)]:
        assert client._post_resource("/echo", payload, compress=compress) == {"received": expected}
        assert served.state.request_encodings[-1] == encoding
    with pytest.raises(ValueError, match="gzip level"):
        client._post_resource("/echo", payload, compress=10)


def test_gzip_responses_are_decoded(client):
    compressed = client._request("GET", "/big", params={"n": 2000}, headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.json() == {"values": list(range(2000))}
    plain = client._request("GET", "/big", params={"n": 2000}, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert client._get_resource("/big", {"n": 2000}) == client._get_resource("/big", {"n": 2000}, compress=False)


def test_query_resource_and_params(client):
    keys = client._query_resource("/keys", {"prefix": "org", "count": 3, "unused": None})
    assert [str(key) for key in keys] == [f"Transformation-{i:032x}-org-camp-proj" for i in range(3)]
    assert all(isinstance(key, ScopedKey) for key in keys)
    sent = client._get_resource("/params", {"a": ["x", "y"], "skipped": None, "flag": True})
    assert sent == [["a", "x"], ["a", "y"], ["flag", "true"]]


def test_bulk_preserves_order_and_limits_concurrency(client, served):
    async def double(batch):
        return await client._post_resource_async("/double", {"values": batch})

    served.state.max_in_flight = 0
    items = list(range(95))
    assert client._bulk(double, items, batch_size=10, max_concurrency=4) == [2 * i for i in items]
    assert 1 < served.state.max_in_flight <= 4
    assert client._bulk(double, [], batch_size=10) == []


def test_bulk_inside_a_running_event_loop(client):
    async def double(batch):
        return await client._post_resource_async("/double", {"values": batch})

    async def notebook_cell():
        # what a Jupyter cell does: call the sync API while the kernel's loop is running
        return client._bulk(double, range(7), batch_size=2, progress="doubling")

    assert asyncio.run(notebook_cell()) == [2 * i for i in range(7)]


def test_bulk_errors_propagate(client):
    async def fetch(batch):
        return [await client._get_resource_async("/missing" if item == 3 else "/info") for item in batch]

    with pytest.raises(AlchemiscaleClientError) as caught:
        client._bulk(fetch, range(6), batch_size=1)
    assert caught.value.status_code == 404


def test_async_retries_503(client, served):
    result = client._run_async(client._get_resource_async("/flaky/async", {"failures": 2}))
    assert result == {"attempts": 3}
    assert served.state.calls["async"] == 3


def test_connection_refused_after_retries(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    with make_client(url, tmp_path, max_retries=2) as client:
        started = time.monotonic()
        with pytest.raises(AlchemiscaleConnectionError) as caught:
            client.get_info()
        assert time.monotonic() - started < 5
        with pytest.raises(AlchemiscaleConnectionError):
            client._run_async(client._get_resource_async("/info"))
    message = str(caught.value)
    assert url in message and "3 attempt(s)" in message and "server is running" in message
    assert caught.value.status_code is None and KEY not in message


def test_dropped_connections_are_retried_the_configured_number_of_times(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []

    def hang_up():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with make_client(url, tmp_path, max_retries=3) as client:
            with pytest.raises(AlchemiscaleConnectionError, match="4 attempt"):
                client.ping()
    finally:
        listener.close()
    assert len(accepted) == 4


def test_timeouts_are_retried(served, tmp_path):
    with make_client(served.url, tmp_path, max_retries=1, timeout=0.2) as client:
        client.get_info()
        before = served.state.calls["slow"]
        with pytest.raises(AlchemiscaleConnectionError, match="ReadTimeout"):
            client._get_resource("/slow")
    assert served.state.calls["slow"] == before + 2


def test_env_fallback_reaches_the_server(served, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMISCALE_URL", served.url)
    monkeypatch.setenv("ALCHEMISCALE_ID", IDENTIFIER)
    monkeypatch.setenv("ALCHEMISCALE_KEY", KEY)
    with ExampleClient(cache_directory=tmp_path / "cache") as client:
        assert client.get_info() == {"message": "nothing yet"}
        rebuilt = ExampleClient(**client._settings())
    with rebuilt:
        assert rebuilt.get_info() == {"message": "nothing yet"}


def test_retries_are_announced_and_honour_retry_after(served, tmp_path, caplog):
    with make_client(served.url, tmp_path, max_retries=4, retry_max_seconds=5.0) as client:
        started = time.monotonic()
        with caplog.at_level("WARNING", logger="alchemiscale.client"):
            assert client._post_resource("/flaky-post/announced?failures=2", {}) == {"attempts": 3}
        waited = time.monotonic() - started
    lines = [record.getMessage() for record in caplog.records if record.name == "alchemiscale.client"]
    print(f"retry lines: {lines}; waited {waited:.2f} s")
    assert lines == [
        "server unavailable, retrying in 0.2 s, attempt 2/5 (503 from POST /flaky-post/announced)",
        "server unavailable, retrying in 0.2 s, attempt 3/5 (503 from POST /flaky-post/announced)",
    ]
    assert 0.4 <= waited < 2.0, "Retry-After (0.2 s) replaced the computed backoff (2 s and more)"


def test_a_retried_post_keeps_its_idempotency_key(client, served):
    client._post_resource("/flaky-post/keyed?failures=2", {})
    client._post_resource("/flaky-post/keyed?failures=0", {})
    keys = served.state.idempotency_keys["keyed"]
    assert len(keys) == 4 and None not in keys
    assert keys[0] == keys[1] == keys[2], "one logical call, one key on each of its retries"
    assert keys[3] != keys[0], "a new call gets a fresh key"


def test_an_unkeyed_post_is_retried_without_a_key(client, served):
    client._post_content("/flaky-post/unkeyed?failures=1", b"\x28\xb5\x2f\xfd", "application/zstd", keyed=False)
    assert served.state.idempotency_keys["unkeyed"] == [None, None]


def test_unavailable_after_every_retry_says_what_to_check(served, tmp_path):
    with make_client(served.url, tmp_path, max_retries=1) as client:
        with pytest.raises(AlchemiscaleClientError) as caught:
            client._post_resource("/flaky-post/down?failures=100", {})
    message = str(caught.value)
    assert caught.value.status_code == 503 and "Neo4j is down" in message
    assert "after 2 attempt(s)" in message and served.url in message and f"GET {served.url}/check" in message


@pytest.mark.parametrize("code", [400, 403, 409, 422, 429])
def test_client_errors_are_not_retried(client, served, code):
    with pytest.raises(AlchemiscaleClientError) as caught:
        client._get_resource(f"/status/{code}")
    assert caught.value.status_code == code
    assert served.state.calls[f"status-{code}"] == 1
