"""Key hashing, tokens, and scope authorization."""

from datetime import datetime, timezone

import pytest
from jose import jwt

from alchemiscale.models import Scope
from alchemiscale.security.auth import (
    InvalidTokenError,
    authorize,
    create_access_token,
    decode_token,
    generate_secret_key,
    hash_key,
    scopes_query,
    verify_key,
)
from alchemiscale.security.models import (
    CredentialedComputeIdentity,
    CredentialedUserIdentity,
    TokenData,
)

# Made with passlib 1.7.4 (CryptContext(schemes=["bcrypt"])) on bcrypt 4.0.1.
PASSLIB_KEY = "alchemiscale-test-key"
PASSLIB_HASH = "$2b$12$GCyuZVYaxFBV/l8BpQV2EO8UUVdKH5KqHK9EZMmx57tT2KZ4iizWK"
# passlib truncated keys to 72 bytes of UTF-8: 70 ASCII + "é" (2 bytes) fills them exactly.
PASSLIB_LONG_KEY = "k" * 70 + "éétail-beyond-72-bytes"
PASSLIB_LONG_HASH = "$2b$12$0/JBqc8ht0FqGkNcJ.TcTOPlA0KSGePDFO4rI/0xLGzvA6xoxwWHW"

SECRET = "0" * 64


class TestHashing:
    def test_round_trip(self):
        hashed = hash_key("s3cret")
        assert hashed.startswith("$2b$12$")
        assert verify_key("s3cret", hashed)
        assert not verify_key("s3cret ", hashed)

    def test_salted(self):
        assert hash_key("same") != hash_key("same")

    def test_passlib_hashes_verify(self):
        assert verify_key(PASSLIB_KEY, PASSLIB_HASH)
        assert not verify_key(PASSLIB_KEY + "x", PASSLIB_HASH)

    def test_long_keys_truncate_like_passlib(self):
        assert verify_key(PASSLIB_LONG_KEY, PASSLIB_LONG_HASH)
        assert verify_key("k" * 70 + "é" + "something else", PASSLIB_LONG_HASH)
        assert not verify_key("k" * 70 + "e", PASSLIB_LONG_HASH)
        long_key = "x" * 4096
        assert verify_key(long_key, hash_key(long_key))

    @pytest.mark.parametrize(
        "key, message",
        [(b"bytes", "must be a str"), ("x" * 4097, "too long"), ("nul\x00inside", "NUL")],
    )
    def test_bad_keys_rejected(self, key, message):
        with pytest.raises(ValueError, match=message):
            hash_key(key)

    @pytest.mark.parametrize("key", [b"s3cret", "x" * 4097, "s3cret\x00"])
    def test_unhashable_keys_never_verify(self, key):
        assert not verify_key(key, hash_key("s3cret"))

    def test_corrupt_hash_does_not_verify(self):
        assert not verify_key("s3cret", "not-a-bcrypt-hash")

    def test_generate_secret_key(self):
        key = generate_secret_key()
        assert len(key) == 64 and int(key, 16) >= 0
        assert key != generate_secret_key()


class TestTokens:
    def test_round_trip(self):
        token = create_access_token(
            data={"sub": "alice", "scopes": ["org-c-p", "other-*-*"]}, secret_key=SECRET, expires_seconds=60
        )
        claims = jwt.get_unverified_claims(token)
        assert set(claims) == {"sub", "scopes", "exp"}
        now = datetime.now(timezone.utc).timestamp()
        assert now + 50 < claims["exp"] <= now + 61
        assert decode_token(token, SECRET) == TokenData(entity="alice", scopes=["org-c-p", "other-*-*"])

    def test_expired(self):
        token = create_access_token(data={"sub": "alice", "scopes": []}, secret_key=SECRET, expires_seconds=-1)
        with pytest.raises(InvalidTokenError, match="expired"):
            decode_token(token, SECRET)

    def test_wrong_secret(self):
        token = create_access_token(data={"sub": "alice"}, secret_key=SECRET, expires_seconds=60)
        with pytest.raises(InvalidTokenError, match="signature"):
            decode_token(token, "1" * 64)

    def test_garbage(self):
        with pytest.raises(InvalidTokenError, match="malformed"):
            decode_token("not.a.token", SECRET)

    def test_missing_claims(self):
        no_exp = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")
        with pytest.raises(InvalidTokenError, match="'exp'"):
            decode_token(no_exp, SECRET)
        no_sub = create_access_token(data={"sub": ""}, secret_key=SECRET, expires_seconds=60)
        with pytest.raises(InvalidTokenError, match="'sub'"):
            decode_token(no_sub, SECRET)

    def test_invalid_scope_claim(self):
        token = create_access_token(data={"sub": "a", "scopes": ["*-c-*"]}, secret_key=SECRET, expires_seconds=60)
        with pytest.raises(InvalidTokenError, match="claims are invalid"):
            decode_token(token, SECRET)

    def test_create_requires_sub(self):
        with pytest.raises(ValueError, match="'sub'"):
            create_access_token(data={"scopes": []}, secret_key=SECRET, expires_seconds=60)


class TestIdentityModels:
    def test_scopes_normalized_and_deduplicated(self):
        identity = CredentialedUserIdentity(
            identifier="a", hashed_key="h", scopes=["org-*-*", Scope("org", "c", "p"), "org-*-*"]
        )
        assert identity.scopes == ["org-*-*", "org-c-p"]

    def test_bad_scope_rejected(self):
        with pytest.raises(ValueError, match="org is .*. so campaign"):
            CredentialedComputeIdentity(identifier="a", hashed_key="h", scopes=["*-c-*"])

    def test_naive_expiry_is_utc(self):
        identity = CredentialedUserIdentity(identifier="a", hashed_key="h", expires=datetime(2000, 1, 1))
        assert identity.expires.tzinfo == timezone.utc
        assert identity.is_expired()


S = Scope.from_str


class TestAuthorize:
    @pytest.mark.parametrize(
        "token_scopes, target, allowed",
        [
            (["*-*-*"], "a-b-c", True),
            (["a-*-*"], "a-b-c", True),
            (["a-b-*"], "a-b-c", True),
            (["a-b-c"], "a-b-c", True),
            (["a-b-c"], "a-b-d", False),
            (["a-b-c"], "a-b-*", False),
            (["a-b-*"], "a-*-*", False),
            (["x-*-*", "a-b-c"], "a-b-c", True),
            ([], "a-b-c", False),
            ([S("a-*-*")], S("a-z-z"), True),
        ],
    )
    def test_matrix(self, token_scopes, target, allowed):
        assert authorize(token_scopes, target) is allowed


class TestScopesQuery:
    @pytest.mark.parametrize(
        "query, token_scopes, expected",
        [
            # a token scope covers the whole query: search the query scope itself
            ("a-b-c", ["*-*-*"], ["a-b-c"]),
            ("a-*-*", ["a-*-*"], ["a-*-*"]),
            ("a-b-*", ["a-*-*", "a-b-c"], ["a-b-*"]),
            # otherwise: the token scopes inside the query scope, minimized
            ("*-*-*", ["a-b-c", "d-e-f"], ["a-b-c", "d-e-f"]),
            ("*-*-*", ["a-*-*", "a-b-c"], ["a-*-*"]),
            ("a-*-*", ["a-b-c", "a-x-y", "z-b-c"], ["a-b-c", "a-x-y"]),
            # nothing in common
            ("a-b-c", ["a-b-d"], []),
            ("a-*-*", [], []),
        ],
    )
    def test_matrix(self, query, token_scopes, expected):
        assert scopes_query(query, token_scopes) == [S(s) for s in expected]
