"""Log records: secrets masked whatever the message's shape, request ids carried, JSON lines."""

from __future__ import annotations

import io
import json
import logging

from alchemiscale.base.logs import JsonFormatter, install_log_context, redact, request_id_var
from alchemiscale.tests.integration.identities import mint_token

JWT = mint_token("s" * 32, "someone", ["a-b-c"])


def test_redact_masks_bearer_tokens_jwts_and_named_secrets():
    text = redact(f"Authorization: Bearer {JWT} password=hunter2 key: 0xdeadbeef secret=\"s3\" {JWT}")
    for secret in (JWT, "hunter2", "0xdeadbeef", "s3\""):
        assert secret not in text
    assert "Bearer ***" in text and "password=***" in text
    assert redact("claimed 3 tasks in org-campaign-project") == "claimed 3 tasks in org-campaign-project"


def test_records_carry_the_request_id_and_are_masked_in_json():
    install_log_context()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("alchemiscale.tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    token = request_id_var.set("req-42")
    try:
        logger.info("login with key=%s and token %s", "topsecret", JWT)
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue().splitlines()[0])
    assert entry["request_id"] == "req-42" and entry["level"] == "INFO"
    assert "topsecret" not in stream.getvalue() and JWT not in stream.getvalue()
