"""State store: idempotency records are claimed once, completed or released by their owner, and lapse."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

ROUTE = "POST /transformations/x/tasks"


@pytest.fixture
def record_key() -> str:
    return f'["CredentialedUserIdentity", "alice", "{uuid.uuid4().hex}"]'


def claim(store, record_key, claim_token, lease=60, expire=3600, route=ROUTE):
    return store.claim_idempotency_record(record_key, route, claim_token, lease, expire)


def test_first_claim_wins_and_repeats_see_the_recorded_answer(n4js, record_key):
    assert claim(n4js, record_key, "first") is None
    running = claim(n4js, record_key, "second")
    assert running is not None and not running.done and running.route == ROUTE

    assert not n4js.complete_idempotency_record(record_key, "second", 200, [], b"[]"), "not the owner"
    assert n4js.complete_idempotency_record(
        record_key, "first", 201, [("content-type", "application/json")], b'["Task-a"]'
    )
    done = claim(n4js, record_key, "third")
    assert done.done and done.status == 201 and done.body == b'["Task-a"]'
    assert done.headers == (("content-type", "application/json"),)
    assert n4js.get_idempotency_record(record_key) == done


def test_concurrent_claims_give_one_owner(n4js, record_key):
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda i: claim(n4js, record_key, f"claimer-{i}"), range(8)))
    assert sum(outcome is None for outcome in outcomes) == 1


def test_a_released_record_can_be_claimed_again(n4js, record_key):
    assert claim(n4js, record_key, "first") is None
    n4js.release_idempotency_record(record_key, "someone-else")
    assert claim(n4js, record_key, "second") is not None, "only the owner releases"
    n4js.release_idempotency_record(record_key, "first")
    assert n4js.get_idempotency_record(record_key) is None
    assert claim(n4js, record_key, "second") is None


def test_expired_records_and_lapsed_leases_count_as_absent(n4js, record_key):
    assert claim(n4js, record_key, "first", lease=1) is None
    assert claim(n4js, record_key, "second") is not None
    time.sleep(1.1)
    assert n4js.get_idempotency_record(record_key) is None, "the first request's server died"
    assert claim(n4js, record_key, "second", expire=1) is None, "taken over"
    assert not n4js.complete_idempotency_record(record_key, "first", 200, [], b""), "the first lost it"
    assert n4js.complete_idempotency_record(record_key, "second", 200, [], b"{}")
    time.sleep(1.1)
    assert n4js.get_idempotency_record(record_key) is None
    assert claim(n4js, record_key, "third") is None
    left = n4js.execute_query(
        "MATCH (r:IdempotencyRecord {record_key: $key}) RETURN count(r) AS n", {"key": record_key}
    )
    assert left[0]["n"] == 1
