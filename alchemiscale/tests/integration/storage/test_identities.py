"""Credentialed identities in the state store, and authentication against them.

The tests share the session's store; each works on identifiers with a prefix of its own.
"""

import uuid
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


def user(identifier, **fields) -> CredentialedUserIdentity:
    return User(identifier=identifier, hashed_key=HASHED, **fields)


@pytest.fixture
def name():
    """Makes identifiers no other test uses."""
    prefix = f"t{uuid.uuid4().hex[:12]}-"
    return lambda identifier="": prefix + identifier


def listed(n4js, cls, name) -> list[str]:
    """The identifiers of ``cls`` that this test created."""
    return [i for i in n4js.list_credentialed_entities(cls) if i.startswith(name())]


class TestEntities:
    def test_round_trip(self, n4js, name):
        expires = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
        alice = user(
            name("alice"),
            scopes=["org-*-*", "a-b-c"],
            disabled=True,
            expires=expires,
            email="a@example.org",
            full_name="Alice A",
        )
        n4js.create_credentialed_entity(alice)
        assert n4js.get_credentialed_entity(name("alice"), User) == alice

    def test_create_overwrites(self, n4js, name):
        n4js.create_credentialed_entity(user(name("alice"), email="old@example.org", scopes=["a-b-c"]))
        n4js.create_credentialed_entity(user(name("alice"), full_name="New"))
        assert n4js.get_credentialed_entity(name("alice"), User) == user(name("alice"), full_name="New")
        assert listed(n4js, User, name) == [name("alice")]

    def test_missing(self, n4js, name):
        with pytest.raises(KeyError, match=f"'{name('nobody')}'"):
            n4js.get_credentialed_entity(name("nobody"), User)
        with pytest.raises(KeyError, match=f"'{name('nobody')}'"):
            n4js.remove_credentialed_identity(name("nobody"), User)

    def test_classes_are_separate(self, n4js, name):
        n4js.create_credentialed_entity(user(name("alice")))
        n4js.create_credentialed_entity(user(name("bob")))
        n4js.create_credentialed_entity(Compute(identifier=name("alice"), hashed_key=HASHED, scopes=["*-*-*"]))
        assert listed(n4js, User, name) == [name("alice"), name("bob")]
        assert listed(n4js, Compute, name) == [name("alice")]
        assert n4js.get_credentialed_entity(name("alice"), Compute).scopes == ["*-*-*"]
        assert n4js.get_credentialed_entity(name("alice"), User).scopes == []

        n4js.remove_credentialed_identity(name("alice"), Compute)
        assert listed(n4js, Compute, name) == []
        assert listed(n4js, User, name) == [name("alice"), name("bob")]

    @pytest.mark.parametrize(
        "identifier",
        [
            "x'}) DETACH DELETE n //",
            'a"}) MATCH (m) DETACH DELETE m RETURN 1 //',
            "`weird` {identifier: $identifier}\\ \n ünïcode",
        ],
    )
    def test_injection_like_identifier_stored_verbatim(self, n4js, name, identifier):
        weird = name(identifier)
        n4js.create_credentialed_entity(user(name("bystander")))
        n4js.create_credentialed_entity(user(weird, scopes=["a-b-c"]))
        n4js.add_scope(weird, User, "d-e-f")
        assert n4js.get_credentialed_entity(weird, User).identifier == weird
        assert n4js.list_scopes(weird, User) == [Scope("a", "b", "c"), Scope("d", "e", "f")]
        assert sorted(listed(n4js, User, name)) == sorted([name("bystander"), weird])
        n4js.remove_credentialed_identity(weird, User)
        assert listed(n4js, User, name) == [name("bystander")]

    @pytest.mark.parametrize("cls", [CredentialedEntity, dict])
    def test_only_credential_classes(self, n4js, cls):
        with pytest.raises(ValueError, match="not a credential class"):
            n4js.list_credentialed_entities(cls)


class TestScopes:
    def test_add_list_remove(self, n4js, name):
        alice = name("alice")
        n4js.create_credentialed_entity(user(alice))
        assert n4js.list_scopes(alice, User) == []
        n4js.add_scope(alice, User, Scope("org", "camp", "proj"))
        n4js.add_scope(alice, User, "other-*-*")
        n4js.add_scope(alice, User, "org-camp-proj")  # already held
        assert n4js.list_scopes(alice, User) == [Scope("org", "camp", "proj"), Scope("other")]

        n4js.remove_scope(alice, User, "org-camp-proj")
        n4js.remove_scope(alice, User, Scope("never", "granted", "here"))
        assert n4js.list_scopes(alice, User) == [Scope("other")]

    def test_missing_identity(self, n4js, name):
        ghost = name("ghost")
        for operation in (n4js.add_scope, n4js.remove_scope):
            with pytest.raises(KeyError, match=f"'{ghost}'"):
                operation(ghost, User, "a-b-c")
        with pytest.raises(KeyError, match=f"'{ghost}'"):
            n4js.list_scopes(ghost, User)

    def test_invalid_scope(self, n4js, name):
        n4js.create_credentialed_entity(user(name("alice")))
        with pytest.raises(ValueError, match="3 parts"):
            n4js.add_scope(name("alice"), User, "org-camp")
        assert n4js.list_scopes(name("alice"), User) == []


class TestAuthenticate:
    PREFIX = f"auth{uuid.uuid4().hex[:12]}-"

    @pytest.fixture(scope="class")
    def store(self, n4js):
        now = datetime.now(timezone.utc)
        for identity in (
            user(self.PREFIX + "alice", scopes=["a-b-c"]),
            user(self.PREFIX + "dis", disabled=True),
            user(self.PREFIX + "old", expires=now - timedelta(seconds=1)),
            user(self.PREFIX + "new", expires=now + timedelta(days=1)),
            Compute(identifier=self.PREFIX + "worker", hashed_key=HASHED),
        ):
            n4js.create_credentialed_entity(identity)
        return n4js

    @pytest.mark.parametrize("identifier", ["alice", "new"])
    def test_accepted(self, store, identifier):
        entity = authenticate(store, User, self.PREFIX + identifier, "the-key")
        assert isinstance(entity, User) and entity.identifier == self.PREFIX + identifier

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
        assert authenticate(store, cls, self.PREFIX + identifier, key) is None
