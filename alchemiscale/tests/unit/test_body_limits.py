import gzip

import pytest
from fastapi import HTTPException

from alchemiscale.base.api import gunzip_body


def test_round_trip():
    data = b"keyed chain " * 10_000
    assert gunzip_body(gzip.compress(data)) == data


@pytest.mark.parametrize(
    "body", [b"not gzip at all", gzip.compress(b"x" * 5000, mtime=0)[:-12]], ids=["garbage", "truncated"]
)
def test_corrupt_or_truncated_is_400(body):
    with pytest.raises(HTTPException) as info:
        gunzip_body(body)
    assert info.value.status_code == 400 and "not valid gzip" in info.value.detail


def test_gzip_bomb_is_refused_without_expanding_it():
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 kB that expands to 50 MB
    with pytest.raises(HTTPException) as info:
        gunzip_body(bomb, limit=1_000_000)
    assert info.value.status_code == 413 and "1000000" in info.value.detail
