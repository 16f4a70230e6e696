"""The shared API pieces, assembled into a small app over the real state store and object store."""

import gzip
from datetime import datetime, timedelta, timezone
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from neo4j import GraphDatabase
from pydantic import BaseModel

from alchemiscale.base.api import (
    TokenDataDepends,
    create_base_app,
    get_jwt_settings_depends,
    get_n4js_depends,
    get_objectstore_depends,
    get_token_data_depends,
    require_credential_class,
    parse_scoped_key,
    scope_params,
    validate_scopes,
    validate_scopes_query,
)
from alchemiscale.base.body import get_body_limit_settings_depends
from alchemiscale.models import Scope
from alchemiscale.local.neo4jserver import free_port
from alchemiscale.security.auth import create_access_token, hash_key
from alchemiscale.security.models import CredentialedComputeIdentity, CredentialedUserIdentity
from alchemiscale.settings import BodyLimitSettings, JWTSettings
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.errors import ConflictError, InvalidInputError, MalformedInputError, NotFoundError, UnavailableError
from alchemiscale.storage.statestore import Neo4jStore, Neo4jStoreError

from .identities import bearer, mint_token

API_NAME = "TestAPI"
SECRET = "f" * 64
KEY = "correct horse battery staple"
JWT = JWTSettings(JWT_SECRET_KEY=SECRET, JWT_EXPIRE_SECONDS=60, JWT_ALGORITHM="HS256")
LIMITS = BodyLimitSettings(
    ALCHEMISCALE_MAX_BODY_BYTES=100_000, ALCHEMISCALE_MAX_EXPANDED_BODY_BYTES=1_000_000, ALCHEMISCALE_MAX_QUERY_VALUE_LENGTH=100
)
SCOPED_KEY = "Task-abc123-org-camp-proj"


class Payload(BaseModel):
    items: list[str]


def protected_router() -> APIRouter:
    """Routes like the real apps have: token required, scopes checked, store errors raised."""
    router = APIRouter(dependencies=[Depends(get_token_data_depends)])

    @router.get("/objects/{scoped_key}")
    def get_object(scoped_key: str, token_data: TokenDataDepends) -> str:
        sk = parse_scoped_key(scoped_key)
        validate_scopes(sk.scope, token_data)
        raise NotFoundError(f"no object with ScopedKey {str(sk)!r}")

    @router.get("/query")
    def query(scope: Annotated[Scope, Depends(scope_params)], token_data: TokenDataDepends) -> list[str]:
        return [str(s) for s in validate_scopes_query(scope, token_data)]

    @router.post("/echo")
    def echo(payload: Payload) -> Payload:
        return payload

    @router.post("/raise/{kind}")
    def raise_error(kind: str) -> None:
        errors = {
            "invalid": InvalidInputError("weight must lie in [0, 1]"),
            "malformed": MalformedInputError("entry 0: expected a [key, keyed dict] pair"),
            "missing": NotFoundError("no Task with ScopedKey Task-x-a-b-c"),
            "conflict": ConflictError("object exists with different content"),
            "unavailable": UnavailableError("the state store (Neo4j) is unavailable"),
            # bugs: built-in errors are never mapped to a client error
            "key": KeyError("props"),
            "value": ValueError("math domain error"),
            "store": Neo4jStoreError("the state store is not initialized"),
        }
        raise errors[kind]

    return router


@pytest.fixture(scope="module")
def hashed() -> str:
    return hash_key(KEY)


@pytest.fixture
def store(neo4j_driver, neo4j_server, hashed):
    """The real state store, with this module's identities (re)created as each test needs them."""
    store = Neo4jStore(neo4j_driver, neo4j_server.dbname)
    now = datetime.now(timezone.utc)
    for identity in (
        CredentialedUserIdentity(identifier="alice", hashed_key=hashed, scopes=["org-camp-*", "other-x-y"]),
        CredentialedUserIdentity(identifier="bob", hashed_key=hashed, scopes=["org-*-*"]),
        CredentialedUserIdentity(identifier="dis", hashed_key=hashed, disabled=True),
        CredentialedUserIdentity(identifier="old", hashed_key=hashed, expires=now - timedelta(seconds=1)),
        CredentialedUserIdentity(identifier="new", hashed_key=hashed, expires=now + timedelta(days=1)),
        CredentialedComputeIdentity(identifier="worker", hashed_key=hashed, scopes=["*-*-*"]),
    ):
        store.create_credentialed_entity(identity)
    return store


def make_client(store, objectstore) -> TestClient:
    app = create_base_app(API_NAME, CredentialedUserIdentity)
    app.include_router(protected_router())
    app.dependency_overrides[get_n4js_depends] = lambda: store
    app.dependency_overrides[get_objectstore_depends] = lambda: objectstore
    app.dependency_overrides[get_jwt_settings_depends] = lambda: JWT
    app.dependency_overrides[get_body_limit_settings_depends] = lambda: LIMITS
    return TestClient(app)


@pytest.fixture
def objectstore(tmp_path):
    objectstore = LocalObjectStore(tmp_path / "objects")
    objectstore.initialize()
    return objectstore


@pytest.fixture
def client(store, objectstore):
    with make_client(store, objectstore) as client:
        yield client


def token_for(identifier, scopes, entity_type="CredentialedUserIdentity", expires_seconds=3600) -> str:
    return mint_token(SECRET, identifier, scopes, entity_type, expires_seconds)


def login(client, identifier, key=KEY):
    return client.post("/token", data={"username": identifier, "password": key})


class TestToken:
    @pytest.mark.parametrize("identifier", ["alice", "new"])
    def test_good_key(self, client, identifier):
        response = login(client, identifier)
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        info = client.get("/info", headers=bearer(body["access_token"]))
        assert info.status_code == 200
        assert info.json()["api"] == API_NAME

    def test_token_carries_scopes(self, client):
        token = login(client, "alice").json()["access_token"]
        response = client.get("/query", headers=bearer(token))
        assert response.json() == ["org-camp-*", "other-x-y"]

    @pytest.mark.parametrize(
        "identifier, key",
        [("alice", "wrong"), ("ghost", KEY), ("dis", KEY), ("old", KEY), ("worker", KEY), ("alice", "x" * 5000)],
        ids=["bad key", "unknown", "disabled", "expired", "other credential class", "oversized key"],
    )
    def test_refused(self, client, identifier, key):
        response = login(client, identifier, key)
        assert response.status_code == 401
        assert response.json() == {"detail": "Incorrect identity or key"}
        assert response.headers["WWW-Authenticate"] == "Bearer"

    def test_gzipped_form(self, client):
        body = gzip.compress(f"username=alice&password={KEY}".encode())
        response = client.post(
            "/token",
            content=body,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200, response.text


class TestProtectedRoute:
    def test_ping_needs_no_token(self, client):
        assert client.get("/ping").json() == {"api": API_NAME}

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer not-a-jwt"},
            {"Authorization": "Basic YWxpY2U6a2V5"},
            bearer(token_for("alice", ["org-*-*"], expires_seconds=-1)),
            bearer(create_access_token(data={"sub": "alice"}, secret_key="0" * 64, expires_seconds=3600)),
        ],
        ids=["missing", "malformed", "not bearer", "expired", "foreign signature"],
    )
    def test_bad_tokens(self, client, headers):
        response = client.get(f"/objects/{SCOPED_KEY}", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Could not validate credentials"}
        assert response.headers["WWW-Authenticate"] == "Bearer"

    def test_token_of_other_credential_class(self, client):
        token = token_for("worker", ["*-*-*"], entity_type="CredentialedComputeIdentity")
        assert client.get(f"/objects/{SCOPED_KEY}", headers=bearer(token)).status_code == 401

    def test_require_credential_class_on_plain_app(self):
        """Without create_base_app the class check comes from the router's dependency."""
        router = APIRouter(dependencies=[Depends(require_credential_class(CredentialedComputeIdentity))])
        router.add_api_route("/work", lambda: "ok")
        app = FastAPI()
        app.include_router(router)
        app.dependency_overrides[get_jwt_settings_depends] = lambda: JWT
        with TestClient(app) as client:
            user_token = token_for("alice", ["*-*-*"])
            compute_token = token_for("worker", ["*-*-*"], entity_type="CredentialedComputeIdentity")
            assert client.get("/work", headers=bearer(user_token)).status_code == 401
            assert client.get("/work", headers=bearer(compute_token)).json() == "ok"

    def test_scope_granted(self, client):
        # in scope, so the route goes on to look the object up: unknown object → 404
        response = client.get(f"/objects/{SCOPED_KEY}", headers=bearer(token_for("alice", ["org-camp-*"])))
        assert response.status_code == 404
        assert SCOPED_KEY in response.json()["detail"]

    def test_scope_not_granted(self, client):
        response = client.get(f"/objects/{SCOPED_KEY}", headers=bearer(token_for("alice", ["org-other-*"])))
        assert response.status_code == 401
        assert "org-camp-proj" in response.json()["detail"]

    @pytest.mark.parametrize(
        "bad, part",
        [("Task-abc-org-camp", "5 parts"), ("Task-a%20b-org-camp-proj", "gufe key"), ("Task-abc-1org-camp-proj", "org")],
    )
    def test_malformed_scoped_key(self, client, bad, part):
        response = client.get(f"/objects/{bad}", headers=bearer(token_for("alice", ["*-*-*"])))
        assert response.status_code == 422
        assert "malformed ScopedKey" in response.json()["detail"]
        assert part in response.json()["detail"]

    def test_scope_query_narrowed(self, client):
        headers = bearer(token_for("alice", ["org-a-b", "org-c-*", "zzz-*-*"]))
        assert client.get("/query", params={"org": "org"}, headers=headers).json() == ["org-a-b", "org-c-*"]
        assert client.get("/query", params={"org": "zzz", "campaign": "q"}, headers=headers).json() == ["zzz-q-*"]
        assert client.get("/query", params={"org": "nope"}, headers=headers).json() == []

    @pytest.mark.parametrize("params", [{"org": "1bad"}, {"campaign": "c"}, {"org": "o", "campaign": "c-d"}])
    def test_bad_scope_params(self, client, params):
        response = client.get("/query", params=params, headers=bearer(token_for("alice", ["*-*-*"])))
        assert response.status_code == 400
        assert response.json()["detail"].startswith("invalid scope")


class TestGzip:
    HEADERS = bearer(token_for("alice", ["*-*-*"]))

    def test_gzipped_json_body(self, client):
        items = [f"item-{i}" for i in range(500)]
        body = gzip.compress(Payload(items=items).model_dump_json().encode())
        response = client.post(
            "/echo",
            content=body,
            headers={**self.HEADERS, "Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert response.status_code == 200
        assert response.json() == {"items": items}
        assert response.headers["Content-Encoding"] == "gzip"  # large responses come back compressed

    def test_plain_body_still_accepted(self, client):
        response = client.post("/echo", json={"items": ["a"]}, headers=self.HEADERS)
        assert response.status_code == 200
        assert "Content-Encoding" not in response.headers  # small responses stay plain

    def test_corrupt_gzip_body(self, client):
        response = client.post(
            "/echo",
            content=b'{"items": []}',
            headers={**self.HEADERS, "Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert "not valid gzip" in response.json()["detail"]

    def test_truncated_gzip_body(self, client):
        body = gzip.compress(b'{"items": ["a", "b"]}')[:-6]
        response = client.post(
            "/echo",
            content=body,
            headers={**self.HEADERS, "Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert response.status_code == 400


class TestBodyLimits:
    """The caps of ``LIMITS``: 100 kB as received, 1 MB gunzipped, 100-character query values."""

    HEADERS = bearer(token_for("alice", ["*-*-*"]))
    GZIP = {"Content-Encoding": "gzip", "Content-Type": "application/json"}

    def test_gzip_bomb_is_413(self, client):
        bomb = gzip.compress(b" " * 20_000_000)  # 20 kB that expand to 20 MB
        response = client.post("/echo", content=bomb, headers={**self.HEADERS, **self.GZIP})
        assert response.status_code == 413
        assert "977 KiB (1000000 bytes) set by ALCHEMISCALE_MAX_EXPANDED_BODY_BYTES" in response.json()["detail"]

    def test_body_past_the_cap_is_413(self, client):
        body = Payload(items=["x" * 100] * 1000).model_dump_json()
        response = client.post("/echo", content=body, headers={**self.HEADERS, "Content-Type": "application/json"})
        assert response.status_code == 413
        assert "ALCHEMISCALE_MAX_BODY_BYTES" in response.json()["detail"]

    def test_streamed_body_past_the_cap_is_413(self, client):
        chunks = (b"x" * 10_000 for _ in range(20))  # no Content-Length: counted as it arrives
        response = client.post("/echo", content=chunks, headers=self.HEADERS)
        assert response.status_code == 413
        assert "ALCHEMISCALE_MAX_BODY_BYTES" in response.json()["detail"]

    def test_body_without_token_is_401(self, client):
        response = client.post("/echo", content=gzip.compress(b" " * 20_000_000), headers=self.GZIP)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"

    def test_gzip_without_content_type_as_upstream_clients_send(self, client):
        body = gzip.compress(b'{"items": ["a", "b"]}', mtime=0)
        response = client.post("/echo", content=body, headers={**self.HEADERS, "Content-Encoding": "gzip"})
        assert response.status_code == 200, response.text
        assert response.json() == {"items": ["a", "b"]}

    def test_unsupported_encoding_is_415(self, client):
        response = client.post("/echo", content=b"xyz", headers={**self.HEADERS, "Content-Encoding": "br"})
        assert response.status_code == 415
        assert "'br'" in response.json()["detail"]

    def test_long_query_value_is_422_naming_it(self, client):
        response = client.get("/query", params={"org": "o" * 101}, headers=self.HEADERS)
        assert response.status_code == 422
        assert "'org'" in response.json()["detail"] and "101 characters" in response.json()["detail"]

    def test_oversized_login_form_is_413(self, client):
        response = login(client, "alice", "k" * 70_000)
        assert response.status_code == 413
        assert "ALCHEMISCALE_MAX_LOGIN_BODY_BYTES" in response.json()["detail"]


class TestIdentityScopes:
    def test_own_scopes_read_from_store(self, client, store):
        token = login(client, "alice").json()["access_token"]
        store.add_scope("alice", CredentialedUserIdentity, Scope("late", "x", "y"))
        response = client.get("/identities/alice/scopes", headers=bearer(token))
        assert response.status_code == 200
        assert response.json() == ["org-camp-*", "other-x-y", "late-x-y"]

    def test_other_identity_forbidden(self, client):
        token = login(client, "alice").json()["access_token"]
        response = client.get("/identities/bob/scopes", headers=bearer(token))
        assert response.status_code == 403

    def test_same_identifier_of_other_class_refused(self, client):
        token = token_for("worker", ["*-*-*"], entity_type="CredentialedComputeIdentity")
        assert client.get("/identities/worker/scopes", headers=bearer(token)).status_code == 401

    def test_requires_token(self, client):
        assert client.get("/identities/alice/scopes").status_code == 401

    def test_removed_identity_is_not_found(self, client, store):
        token = login(client, "bob").json()["access_token"]
        store.remove_credentialed_identity("bob", CredentialedUserIdentity)
        response = client.get("/identities/bob/scopes", headers=bearer(token))
        assert response.status_code == 404
        assert "'bob'" in response.json()["detail"]


class TestErrorMapping:
    HEADERS = bearer(token_for("alice", ["*-*-*"]))

    @pytest.mark.parametrize(
        "kind, status, detail",
        [
            ("invalid", 400, "weight must lie in [0, 1]"),
            ("malformed", 422, "entry 0: expected a [key, keyed dict] pair"),
            ("missing", 404, "no Task with ScopedKey Task-x-a-b-c"),
            ("conflict", 409, "object exists with different content"),
            ("unavailable", 503, "the state store (Neo4j) is unavailable"),
            ("key", 500, "internal server error"),
            ("value", 500, "internal server error"),
            ("store", 500, "internal server error"),
        ],
    )
    def test_mapping(self, store, objectstore, kind, status, detail):
        with TestClient(make_client(store, objectstore).app, raise_server_exceptions=False) as client:
            response = client.post(f"/raise/{kind}", headers=self.HEADERS)
        assert response.status_code == status
        assert response.json() == {"detail": detail}
        assert ("Retry-After" in response.headers) == (status == 503)

    def test_invalid_body(self, client):
        response = client.post("/echo", json={"items": "not a list"}, headers=self.HEADERS)
        assert response.status_code == 422
        assert response.json()["detail"][0]["input"] == "not a list"  # short input is echoed

    def test_large_invalid_body_is_not_echoed(self, client):
        response = client.post("/echo", json={"items": "x" * 5_000}, headers=self.HEADERS)
        assert response.status_code == 422
        assert len(response.content) < 1_000
        assert response.json()["detail"][0]["input"] == "<5002 characters, not echoed>"


class TestCheck:
    HEADERS = bearer(token_for("alice", []))

    def test_healthy(self, client):
        response = client.get("/check", headers=self.HEADERS)
        assert response.status_code == 200
        assert response.json() == {"neo4j": "ok", "objectstore": "ok"}

    def test_objectstore_down(self, store, tmp_path):
        with make_client(store, LocalObjectStore(tmp_path / "missing")) as client:
            response = client.get("/check", headers=self.HEADERS)
        assert response.status_code == 503
        assert response.json() == {"detail": "unavailable: objectstore"}

    def test_neo4j_down(self, objectstore):
        driver = GraphDatabase.driver(
            f"bolt://127.0.0.1:{free_port()}", auth=("neo4j", "x"), connection_timeout=2
        )
        try:
            with make_client(Neo4jStore(driver), objectstore) as client:
                response = client.get("/check", headers=self.HEADERS)
        finally:
            driver.close()
        assert response.status_code == 503
        assert response.json() == {"detail": "unavailable: neo4j"}
