"""Credentialed identities in the state store, and authentication against them."""

from datetime import datetime, timedelta, timezone

import pytest

from alchemiscale.models import Scope
from alchemiscale.security.auth import authenticate, hash_key
from alchemiscale.security.models import (
    CredentialedComputeIdentity,
    CredentialedEntity,
    CredentialedUserIdentity,
)

User = CredentialedUserIdentity
Compute = CredentialedComputeIdentity
HASHED = hash_key("the-key")


def user(identifier="alice", **fields) -> CredentialedUserIdentity:
    return User(identifier=identifier, hashed_key=HASHED, **fields)


class TestEntities:
    def test_round_trip(self, n4js_fresh):
        expires = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
        alice = user(
            scopes=["org-*-*", "a-b-c"], disabled=True, expires=expires, email="a@example.org", full_name="Alice A"
        )
        n4js_fresh.create_credentialed_entity(alice)
        assert n4js_fresh.get_credentialed_entity("alice", User) == alice

    def test_create_overwrites(self, n4js_fresh):
        n4js_fresh.create_credentialed_entity(user(email="old@example.org", scopes=["a-b-c"]))
        n4js_fresh.create_credentialed_entity(user(full_name="New"))
        stored = n4js_fresh.get_credentialed_entity("alice", User)
        assert stored == user(full_name="New")
        assert n4js_fresh.list_credentialed_entities(User) == ["alice"]

    def test_missing(self, n4js_fresh):
        with pytest.raises(KeyError, match="'nobody'"):
            n4js_fresh.get_credentialed_entity("nobody", User)
        with pytest.raises(KeyError, match="'nobody'"):
            n4js_fresh.remove_credentialed_identity("nobody", User)

    def test_classes_are_separate(self, n4js_fresh):
        n4js_fresh.create_credentialed_entity(user("alice"))
        n4js_fresh.create_credentialed_entity(user("bob"))
        n4js_fresh.create_credentialed_entity(Compute(identifier="alice", hashed_key=HASHED, scopes=["*-*-*"]))
        assert n4js_fresh.list_credentialed_entities(User) == ["alice", "bob"]
        assert n4js_fresh.list_credentialed_entities(Compute) == ["alice"]
        assert n4js_fresh.get_credentialed_entity("alice", Compute).scopes == ["*-*-*"]
        assert n4js_fresh.get_credentialed_entity("alice", User).scopes == []

        n4js_fresh.remove_credentialed_identity("alice", Compute)
        assert n4js_fresh.list_credentialed_entities(Compute) == []
        assert n4js_fresh.list_credentialed_entities(User) == ["alice", "bob"]

    @pytest.mark.parametrize(
        "identifier",
        [
            "x'}) DETACH DELETE n //",
            'a"}) MATCH (m) DETACH DELETE m RETURN 1 //',
            "`weird` {identifier: $identifier}\\ \n ünïcode",
        ],
    )
    def test_injection_like_identifier_stored_verbatim(self, n4js_fresh, identifier):
        n4js_fresh.create_credentialed_entity(user("bystander"))
        n4js_fresh.create_credentialed_entity(user(identifier, scopes=["a-b-c"]))
        n4js_fresh.add_scope(identifier, User, "d-e-f")
        assert n4js_fresh.get_credentialed_entity(identifier, User).identifier == identifier
        assert n4js_fresh.list_scopes(identifier, User) == [Scope("a", "b", "c"), Scope("d", "e", "f")]
        assert sorted(n4js_fresh.list_credentialed_entities(User)) == sorted(["bystander", identifier])
        n4js_fresh.remove_credentialed_identity(identifier, User)
        assert n4js_fresh.list_credentialed_entities(User) == ["bystander"]

    @pytest.mark.parametrize("cls", [CredentialedEntity, dict])
    def test_only_credential_classes(self, n4js_fresh, cls):
        with pytest.raises(ValueError, match="not a credential class"):
            n4js_fresh.list_credentialed_entities(cls)


class TestScopes:
    def test_add_list_remove(self, n4js_fresh):
        n4js_fresh.create_credentialed_entity(user())
        assert n4js_fresh.list_scopes("alice", User) == []
        n4js_fresh.add_scope("alice", User, Scope("org", "camp", "proj"))
        n4js_fresh.add_scope("alice", User, "other-*-*")
        n4js_fresh.add_scope("alice", User, "org-camp-proj")  # already held
        assert n4js_fresh.list_scopes("alice", User) == [Scope("org", "camp", "proj"), Scope("other")]

        n4js_fresh.remove_scope("alice", User, "org-camp-proj")
        n4js_fresh.remove_scope("alice", User, Scope("never", "granted", "here"))
        assert n4js_fresh.list_scopes("alice", User) == [Scope("other")]

    def test_missing_identity(self, n4js_fresh):
        for operation in (n4js_fresh.add_scope, n4js_fresh.remove_scope):
            with pytest.raises(KeyError, match="'ghost'"):
                operation("ghost", User, "a-b-c")
        with pytest.raises(KeyError, match="'ghost'"):
            n4js_fresh.list_scopes("ghost", User)

    def test_invalid_scope(self, n4js_fresh):
        n4js_fresh.create_credentialed_entity(user())
        with pytest.raises(ValueError, match="3 parts"):
            n4js_fresh.add_scope("alice", User, "org-camp")
        assert n4js_fresh.list_scopes("alice", User) == []


class TestAuthenticate:
    @pytest.fixture
    def store(self, n4js_fresh):
        now = datetime.now(timezone.utc)
        for identity in (
            user("alice", scopes=["a-b-c"]),
            user("dis", disabled=True),
            user("old", expires=now - timedelta(seconds=1)),
            user("new", expires=now + timedelta(days=1)),
            Compute(identifier="worker", hashed_key=HASHED),
        ):
            n4js_fresh.create_credentialed_entity(identity)
        return n4js_fresh

    @pytest.mark.parametrize("identifier", ["alice", "new"])
    def test_accepted(self, store, identifier):
        entity = authenticate(store, User, identifier, "the-key")
        assert isinstance(entity, User) and entity.identifier == identifier

    @pytest.mark.parametrize(
        "cls, identifier, key",
        [
            (User, "alice", "wrong"),
            (User, "ghost", "the-key"),
            (User, "dis", "the-key"),
            (User, "old", "the-key"),
            (User, "worker", "the-key"),
            (Compute, "alice", "the-key"),
        ],
        ids=["wrong key", "unknown", "disabled", "expired", "compute as user", "user as compute"],
    )
    def test_refused(self, store, cls, identifier, key):
        assert authenticate(store, cls, identifier, key) is None
