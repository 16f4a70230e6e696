"""Body and query limits (``alchemiscale.base.body``): the gzip decoder, the query check, and the
middleware's refusal of a body without reading it."""

import asyncio
import gzip
import json
import secrets

import pytest

from alchemiscale.base.api import create_base_app, get_jwt_settings_depends
from alchemiscale.base.body import GzipDecoder, RequestRefused, check_query
from alchemiscale.security.auth import create_access_token
from alchemiscale.security.models import CredentialedUserIdentity
from alchemiscale.settings import JWTSettings

SECRET = secrets.token_hex(32)
SETTING = "ALCHEMISCALE_MAX_EXPANDED_BODY_BYTES"


def decode(body: bytes, limit: int = 10**9, piece: int = 1000) -> bytes:
    decoder = GzipDecoder(limit, SETTING)
    plain = b"".join(b"".join(decoder.feed(body[i : i + piece])) for i in range(0, len(body), piece))
    decoder.finish()
    return plain


def test_round_trip_in_pieces():
    data = b"keyed chain " * 10_000
    assert decode(gzip.compress(data)) == data


def test_concatenated_members_read_as_one_body():
    assert decode(gzip.compress(b"first ") + gzip.compress(b"second"), piece=7) == b"first second"


@pytest.mark.parametrize(
    "body", [b"not gzip at all", gzip.compress(b"x" * 5000, mtime=0)[:-12]], ids=["garbage", "truncated"]
)
def test_corrupt_or_truncated_is_400(body):
    with pytest.raises(RequestRefused) as info:
        decode(body)
    assert info.value.status_code == 400 and "not valid gzip" in info.value.detail


def test_gzip_bomb_is_refused_without_expanding_it():
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 kB that expands to 50 MB
    decoder = GzipDecoder(1_000_000, SETTING)
    with pytest.raises(RequestRefused) as info:
        decoder.feed(bomb)
    assert info.value.status_code == 413
    assert "1000000 bytes" in info.value.detail and SETTING in info.value.detail
    assert decoder.produced <= 1_000_001  # stopped at the cap, not after expanding everything


def test_large_body_comes_out_whole_in_pieces():
    data = bytes(range(256)) * 20_000  # 5 MB: several output pieces from one input piece
    assert decode(gzip.compress(data), piece=len(data)) == data


def test_body_exactly_at_the_cap_passes():
    assert decode(gzip.compress(b"a" * 1000), limit=1000) == b"a" * 1000


def test_query_values_up_to_the_cap_pass():
    check_query(b"name=" + b"a" * 1024 + b"&org=x", 1024)
    check_query(b"q=%41&q=%41", 1)  # percent-encoded: counted as the one character it stands for


@pytest.mark.parametrize(
    "query, part", [(b"org=x&name=" + b".*" * 600, "value"), (b"n" * 2000 + b"=1", "name")], ids=["value", "name"]
)
def test_long_query_parameter_is_422_naming_it(query, part):
    with pytest.raises(RequestRefused) as info:
        check_query(query, 1024)
    assert info.value.status_code == 422
    assert f"{part} is" in info.value.detail and "ALCHEMISCALE_MAX_QUERY_VALUE_LENGTH" in info.value.detail
    if part == "value":
        assert "'name'" in info.value.detail


def call_app(headers: dict[str, str], path: str = "/anything") -> tuple[int, dict, int]:
    """POST through the real app's middleware: (status, body, how often the body was asked for)."""
    app = create_base_app("Test", CredentialedUserIdentity)
    app.dependency_overrides[get_jwt_settings_depends] = lambda: JWTSettings(JWT_SECRET_KEY=SECRET)
    reads = 0
    sent = []

    async def receive():
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 100, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"content-length": "100", **headers}.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"]), reads


def user_token(**kwargs) -> str:
    claims = {"sub": "alice", "scopes": [], "entity_type": "CredentialedUserIdentity"}
    return create_access_token(data={**claims, **kwargs}, secret_key=SECRET, expires_seconds=60)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Basic {user_token()}"},
        {"Authorization": f"Bearer {user_token(entity_type='CredentialedComputeIdentity')}"},
    ],
    ids=["no token", "malformed", "not bearer", "other credential class"],
)
def test_body_without_valid_token_is_401_unread(headers):
    status, body, reads = call_app(headers)
    assert (status, body, reads) == (401, {"detail": "Could not validate credentials"}, 0)


def test_body_with_valid_token_is_read():
    status, _, reads = call_app({"Authorization": f"Bearer {user_token()}"})
    assert status == 404 and reads == 1  # passed on to the router, which knows no /anything


def test_declared_length_past_the_cap_is_413_unread():
    status, body, reads = call_app({"Authorization": f"Bearer {user_token()}", "content-length": str(2 * 1024**3)})
    assert status == 413 and reads == 0
    assert "ALCHEMISCALE_MAX_BODY_BYTES" in body["detail"] and "2 GiB" in body["detail"]


@pytest.mark.parametrize("path", ["/token", "/dashboard/login"])  # the API's login form and the dashboard's
def test_login_form_needs_no_token_but_has_a_small_cap(path):
    status, body, reads = call_app({"content-length": str(10**6)}, path=path)
    assert status == 413 and reads == 0 and "ALCHEMISCALE_MAX_LOGIN_BODY_BYTES" in body["detail"]
