"""The moto S3 endpoint fixture behaves like S3 for boto3 configured only through the environment."""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.exceptions import ClientError


def test_put_and_get_through_endpoint(s3_endpoint: str) -> None:
    assert os.environ["AWS_ENDPOINT_URL"] == s3_endpoint
    s3 = boto3.client("s3")  # endpoint, credentials and region all come from the environment
    s3.create_bucket(Bucket="fixture-check")
    s3.put_object(Bucket="fixture-check", Key="a/b.bin", Body=b"\x00payload\xff")

    body = s3.get_object(Bucket="fixture-check", Key="a/b.bin")["Body"].read()
    listed = s3.list_objects_v2(Bucket="fixture-check", Prefix="a/")

    assert body == b"\x00payload\xff"
    assert [item["Key"] for item in listed["Contents"]] == ["a/b.bin"]
    with pytest.raises(ClientError, match="NoSuchKey"):
        s3.get_object(Bucket="fixture-check", Key="a/missing")
