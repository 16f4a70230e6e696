"""AlchemiscaleBaseClient parts that need no server: settings, retry policy, compression, cache, async bridge."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import json
import os
import threading
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import diskcache
import pytest
from jose import jwt
from pydantic import SecretStr

from alchemiscale.base.client import (
    AlchemiscaleBaseClient,
    _encode_body,
    default_cache_directory,
)
from alchemiscale.base.client_async import batched, run_async
from alchemiscale.base.client_cache import MEMORY_SLOTS, ClientCache
from alchemiscale.base.client_progress import progress_bar
from alchemiscale.base.client_retry import RetryPolicy, retry_after_seconds
from alchemiscale.models import Scope

URL = "https://api.example.org"
KEY = "explicit-secret-key"
ENV_KEY = "environment-secret-key"

CHAIN = [["SmallMoleculeComponent-abc", {"atoms": [[6, 0, 0, 0, 0]], "__qualname__": "SmallMoleculeComponent"}],
         ["ChemicalSystem-def", {"components": {"ligand": {":gufe-key:": "SmallMoleculeComponent-abc"}}}]]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("ALCHEMISCALE_URL", "ALCHEMISCALE_ID", "ALCHEMISCALE_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def make(tmp_path, scopes=("org-camp-proj",), **overrides) -> AlchemiscaleBaseClient:
    """A client holding a token that grants ``scopes`` (signed with a key only this test knows)."""
    options = dict(api_url=URL, identifier="alice", key=KEY, cache_directory=tmp_path / "cache")
    options.update(overrides)
    client = AlchemiscaleBaseClient(**options)
    client._token = jwt.encode({"sub": "alice", "scopes": list(scopes)}, "test-signing-key")
    return client


def test_settings_come_from_the_environment(clean_env, tmp_path):
    clean_env.setenv("ALCHEMISCALE_URL", URL + "/")
    clean_env.setenv("ALCHEMISCALE_ID", "alice")
    clean_env.setenv("ALCHEMISCALE_KEY", ENV_KEY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = AlchemiscaleBaseClient(cache_directory=tmp_path)
    assert (client.api_url, client.identifier) == (URL, "alice")
    assert client._credentials()["password"] == ENV_KEY


def test_explicit_values_win_with_a_warning_that_hides_the_key(clean_env, tmp_path):
    clean_env.setenv("ALCHEMISCALE_ID", "bob")
    clean_env.setenv("ALCHEMISCALE_KEY", ENV_KEY)
    with pytest.warns(UserWarning) as caught:
        client = make(tmp_path)
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 2
    assert any("ALCHEMISCALE_ID" in m and "'bob'" in m for m in messages)
    assert any("ALCHEMISCALE_KEY" in m for m in messages)
    assert not any(KEY in m or ENV_KEY in m for m in messages)
    assert client.identifier == "alice" and client._credentials()["password"] == KEY


def test_equal_explicit_and_env_values_do_not_warn(clean_env, tmp_path):
    clean_env.setenv("ALCHEMISCALE_KEY", KEY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(tmp_path)


@pytest.mark.parametrize("missing, env_var", [("api_url", "ALCHEMISCALE_URL"), ("identifier", "ALCHEMISCALE_ID"),
                                              ("key", "ALCHEMISCALE_KEY")])
def test_missing_setting_names_the_environment_variable(clean_env, tmp_path, missing, env_var):
    with pytest.raises(ValueError, match=env_var):
        make(tmp_path, **{missing: None})


@pytest.mark.parametrize("overrides, problem", [
    ({"api_url": "ftp://example.org"}, "api_url"),
    ({"api_url": "localhost:1840"}, "api_url"),
    ({"retry_base_seconds": 1.0}, "retry_base_seconds"),
    ({"max_retries": -2}, "max_retries"),
    ({"retry_max_seconds": -1}, "retry_max_seconds"),
    ({"timeout": 0}, "timeout"),
    ({"cache_size_limit": 0}, "cache size limit"),
])
def test_bad_constructor_arguments(clean_env, tmp_path, overrides, problem):
    with pytest.raises(ValueError, match=problem):
        make(tmp_path, **overrides)


def test_repr_and_settings_never_show_the_key(clean_env, tmp_path):
    client = make(tmp_path, max_retries=-1)
    settings = client._settings()
    assert KEY not in repr(client) and KEY not in str(settings)
    assert isinstance(settings["key"], SecretStr)
    rebuilt = AlchemiscaleBaseClient(**settings)
    assert rebuilt._settings() == settings
    assert rebuilt._credentials()["password"] == KEY


def test_default_cache_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_directory() == tmp_path / "alchemiscale"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_directory() == Path.home() / ".cache" / "alchemiscale"


def test_retry_policy_delays_and_limits():
    policy = RetryPolicy(max_retries=3, base_seconds=2.0, max_seconds=60.0)
    for n in (1, 2, 3, 4):
        assert 2.0**n <= policy.delay(n) <= 2.0**n + 2.0
    assert policy.delay(10) == 60.0
    assert policy.delay(100_000) == 60.0, "no overflow when retrying forever"
    assert [policy.allows(done) for done in range(5)] == [True, True, True, False, False]
    assert RetryPolicy(max_retries=-1).allows(10**9)
    assert not RetryPolicy(max_retries=0).allows(0)


def test_retry_after_header_values():
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("8") == 8.0 and retry_after_seconds(" 0.5 ") == 0.5
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0, "a date in the past: no wait"
    assert 50 < retry_after_seconds(email.utils.format_datetime(
        datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)) <= 60
    assert retry_after_seconds("soon") is None


def test_gzip_body_encoding():
    data = {"scope": Scope("org", "camp", "proj"), "values": list(range(100))}
    plain, headers = _encode_body(data, False)
    assert "Content-Encoding" not in headers and headers["Accept-Encoding"] == "identity"
    assert json.loads(plain) == {"scope": "org-camp-proj", "values": list(range(100))}
    level5, headers = _encode_body(data, True)
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(level5) == plain
    assert level5 == gzip.compress(plain, compresslevel=5, mtime=0), "level 5 and mtime 0 by default"
    assert len(_encode_body(data, 0)[0]) > len(level5) > len(_encode_body(data, 9)[0]) - 5
    for bad in (10, -1, 2.5, "gzip"):
        with pytest.raises(ValueError, match="gzip level"):
            _encode_body(data, bad)
    with pytest.raises(TypeError, match="object"):
        _encode_body({"x": object()}, True)


def test_batched():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []
    assert AlchemiscaleBaseClient._batched("abcd", 2) == [["a", "b"], ["c", "d"]]
    with pytest.raises(ValueError, match="at least 1"):
        list(batched(range(3), 0))


def test_run_async_in_a_script_and_inside_a_running_loop():
    async def which_thread():
        await asyncio.sleep(0)
        return threading.current_thread()

    assert run_async(which_thread()) is threading.main_thread()

    async def notebook_cell():
        return run_async(which_thread())

    assert asyncio.run(notebook_cell()) is not threading.main_thread()

    async def failing():
        raise KeyError("boom")

    async def failing_cell():
        return run_async(failing())

    with pytest.raises(KeyError, match="boom"):
        asyncio.run(failing_cell())


def test_progress_bar_counts_without_display():
    with progress_bar("working", total=5, visualize=False) as bar:
        bar.advance(2)
        bar.advance()
        assert bar.completed == 3
    with progress_bar("waiting", visualize=False) as spinner:
        spinner.advance()
        assert spinner.completed == 1


def test_cache_round_trip_through_memory_and_disk(clean_env, tmp_path):
    client = make(tmp_path)
    key = "ChemicalSystem-def-org-camp-proj"
    assert client._cache_get("chemicalsystem", key) is None
    client._cache_set("chemicalsystem", key, CHAIN)
    client._cache_set("result", "ProtocolDAGResultRef-abc-org-camp-proj", b"\x00\xffpayload")
    assert client._cache_get("chemicalsystem", key) == CHAIN
    client.close()

    reopened = make(tmp_path)
    assert reopened._cache_get("chemicalsystem", key) == CHAIN
    assert reopened._cache_get("result", "ProtocolDAGResultRef-abc-org-camp-proj") == b"\x00\xffpayload"
    assert reopened._cache_get("network", key) is None, "kinds do not share entries"
    with pytest.raises(ValueError, match="unknown cache kind"):
        reopened._cache_get("protein", key)
    with pytest.raises(TypeError, match="bytes"):
        reopened._cache_set("result", key, "text")
    reopened.close()


def test_cache_serves_an_identity_only_its_own_entries_within_its_scopes(clean_env, tmp_path):
    key = "AlchemicalNetwork-abc-org-camp-proj"
    owner = make(tmp_path)
    owner._cache_set("network", key, CHAIN)
    assert owner._cache_get("network", key) == CHAIN
    owner.close()

    outsider = make(tmp_path, scopes=("other-camp-proj",), identifier="bob", key="bobs-key")
    assert outsider._cache_get("network", key) is None, "same cache directory, scope not granted"
    outsider._token = None
    assert outsider._cache_get("network", key) is None, "no token: still not another identity's entries"
    outsider.close()
    wide = make(tmp_path, scopes=("*-*-*",), identifier="carol", key="carols-key")
    assert wide._cache_get("network", key) is None, "even a wide scope does not open another identity's entries"
    wide.close()

    revoked = make(tmp_path, scopes=("org-camp-other",))
    assert revoked._cache_get("network", key) is None, "the owner's new token lacks the scope"
    revoked._token = None
    assert revoked._cache_get("network", key) == CHAIN, "offline, the owner still reads what it fetched"
    revoked.close()
    assert not any(KEY in str(path) for path in (tmp_path / "cache").rglob("*"))


def test_disabled_local_cache_writes_nothing(clean_env, tmp_path):
    client = make(tmp_path, use_local_cache=False)
    client._cache_set("network", "AlchemicalNetwork-abc-org-camp-proj", CHAIN)
    assert client._cache_get("network", "AlchemicalNetwork-abc-org-camp-proj") == CHAIN, "memory still works"
    assert not (tmp_path / "cache").exists()


def test_damaged_entries_are_deleted_with_a_warning(tmp_path):
    key = "Transformation-abc-org-camp-proj"
    cache = ClientCache(tmp_path)
    cache.set("transformation", key, CHAIN)
    cache.close()
    with diskcache.Cache(str(tmp_path)) as raw:
        stored = raw[f"transformation/{key}"]
        raw[f"transformation/{key}"] = stored[:-4] + b"\x00\x00\x00\x00"  # checksum no longer matches

    cache = ClientCache(tmp_path)
    with pytest.warns(RuntimeWarning, match="damaged transformation entry"):
        assert cache.get("transformation", key) is None
    assert cache.get("transformation", key) is None
    cache.set("transformation", key, CHAIN)
    assert ClientCache(tmp_path).get("transformation", key) == CHAIN


def test_disk_cache_honours_its_size_limit(tmp_path):
    limit = 400_000
    cache = ClientCache(tmp_path, size_limit=limit)
    for i in range(40):
        cache.set("result", f"ProtocolDAGResultRef-{i}-org-camp-proj", os.urandom(50_000))
        assert cache._disk.volume() <= limit  # diskcache culls least recently used entries on each write
    assert cache.get("result", "ProtocolDAGResultRef-0-org-camp-proj") is None, "oldest entries evicted"


def test_memory_cache_is_bounded():
    cache = ClientCache(None)
    for i in range(MEMORY_SLOTS["network"] + 5):
        cache.set("network", f"AlchemicalNetwork-{i}-org-camp-proj", [[str(i), {}]])
    assert cache.get("network", "AlchemicalNetwork-0-org-camp-proj") is None
    assert cache.get("network", f"AlchemicalNetwork-{MEMORY_SLOTS['network'] + 4}-org-camp-proj") is not None


def test_only_availability_failures_and_an_in_progress_idempotent_request_are_retried():
    import httpx

    from alchemiscale.base.client_retry import should_retry

    assert all(should_retry(httpx.Response(code)) for code in (502, 503, 504))
    in_progress = httpx.Response(409, headers={"Retry-After": "1"}, json={"detail": "still being processed"})
    assert should_retry(in_progress)
    # a conflict of state (a late result, a changed Strategy) is an answer, not a transient failure
    assert not should_retry(httpx.Response(409, json={"detail": "the Task is no longer claimed"}))
    assert not any(should_retry(httpx.Response(code)) for code in (400, 401, 404, 413, 422, 500))
