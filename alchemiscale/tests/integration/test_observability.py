"""Metrics, request ids, JSON logs without secrets, and offline API docs, on real servers over HTTP."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import httpx
import pytest

from alchemiscale.local.processes import free_ports, stop_groups, wait_for_ping
from alchemiscale.models import Scope
from alchemiscale.security.models import CredentialedUserIdentity
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.tests.integration.identities import make_identity
from alchemiscale.tests.integration.servers import running_uvicorn

USER_APP = "alchemiscale.interface.api:app"
MAX_BODY_BYTES = 4096
METRICS_TOKEN = secrets.token_hex(16)
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels``, from Prometheus text; 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(4))
    return total


@pytest.fixture(scope="module")
def observed(neo4j_server, n4js, network_chain, tmp_path_factory):
    """A user API logging JSON, a network with Tasks in a scope of its own, and a user holding it."""
    workdir = tmp_path_factory.mktemp("observability")
    scope = Scope("obs", "metrics", f"p{uuid.uuid4().hex[:12]}")
    _, _, _ = n4js.assemble_network(network_chain, scope)
    transformations = n4js.query_transformations(scope=scope)
    tasks = n4js.create_tasks(transformations[:2], creator="observability-tests")
    user, key = f"obs-{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    make_identity(n4js, CredentialedUserIdentity, user, [str(scope)], key=key)
    jwt_secret = secrets.token_hex(32)
    LocalObjectStore(workdir / "objects").initialize()
    env = {
        "NEO4J_URL": neo4j_server.url, "NEO4J_USER": neo4j_server.user, "NEO4J_PASS": neo4j_server.password,
        "NEO4J_DBNAME": neo4j_server.dbname, "JWT_SECRET_KEY": jwt_secret,
        "ALCHEMISCALE_OBJECT_STORE": "local", "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(workdir / "objects"),
        "ALCHEMISCALE_LOG_FORMAT": "json", "ALCHEMISCALE_METRICS_CACHE_SECONDS": "0",
        "ALCHEMISCALE_MAX_BODY_BYTES": str(MAX_BODY_BYTES), "ALCHEMISCALE_METRICS_TOKEN": METRICS_TOKEN,
    }
    log = workdir / "user-api.log"
    with running_uvicorn(USER_APP, env, log_path=log) as url:
        yield {"url": url, "scope": scope, "tasks": tasks, "user": user, "key": key, "log": log,
               "secrets": [key, jwt_secret, neo4j_server.password, METRICS_TOKEN]}


def login(url: str, user: str, key: str) -> str:
    response = httpx.post(f"{url}/token", data={"username": user, "password": key})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_metrics_count_requests_by_route_template_and_read_the_store(observed):
    url, scope = observed["url"], observed["scope"]
    token = login(url, observed["user"], observed["key"])
    network_path = "/networks/{network_scoped_key}"
    before = httpx.get(f"{url}/metrics", headers=SCRAPER)
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    refused_before = metric_value(before.text, "alchemiscale_http_requests_total", route="/networks", status="413")
    for _ in range(3):
        assert httpx.get(f"{url}/networks/Nope-abc-{scope}", headers={"Authorization": f"Bearer {token}"}).status_code in (400, 404, 422)
    refused = httpx.post(f"{url}/networks", content=b"x" * (MAX_BODY_BYTES + 1),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert refused.status_code == 413

    after = httpx.get(f"{url}/metrics", headers=SCRAPER).text
    assert metric_value(after, "alchemiscale_http_requests_total", route=network_path) - metric_value(
        before.text, "alchemiscale_http_requests_total", route=network_path) == 3
    assert metric_value(after, "alchemiscale_http_request_duration_seconds_count", route=network_path) >= 3
    # refused by the body limits, before routing: still counted under the route's template
    assert metric_value(after, "alchemiscale_http_requests_total", route="/networks", status="413") == refused_before + 1
    labels = {"org": scope.org, "campaign": scope.campaign, "project": scope.project}
    assert metric_value(after, "alchemiscale_tasks", status="waiting", **labels) == len(observed["tasks"])
    assert metric_value(after, "alchemiscale_neo4j_up") == 1
    assert metric_value(after, "alchemiscale_objectstore_up") == 1
    assert "alchemiscale_compute_services " in after
    assert "alchemiscale_compute_service_oldest_heartbeat_age_seconds " in after


def test_metrics_need_the_token_when_one_is_set(observed):
    url = observed["url"]
    assert httpx.get(f"{url}/metrics").status_code == 401
    assert httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    user_token = login(url, observed["user"], observed["key"])
    assert httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {user_token}"}).status_code == 401
    assert httpx.get(f"{url}/metrics", headers=SCRAPER).status_code == 200


def test_request_ids_are_returned_and_logged_in_json_without_secrets(observed):
    url, key = observed["url"], observed["key"]
    given = f"trace-{uuid.uuid4().hex}"
    answered = httpx.get(f"{url}/info", headers={"X-Request-ID": given, "Authorization": f"Bearer {key}"})
    assert answered.status_code == 401
    assert answered.headers["x-request-id"] == given
    made = httpx.get(f"{url}/ping", headers={"X-Request-ID": "not a valid id!"}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)

    token = login(url, observed["user"], key)
    refused_id = f"refused-{uuid.uuid4().hex}"
    refused = httpx.post(f"{url}/networks", content=b"y" * (MAX_BODY_BYTES + 1), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Request-ID": refused_id})
    assert refused.status_code == 413
    httpx.post(f"{url}/token", data={"username": observed["user"], "password": "wrong-" + key})

    lines = observed["log"].read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    assert entries and all({"time", "level", "logger", "message", "request_id"} <= set(e) for e in entries)
    assert any(e["request_id"] == refused_id and "413" in e["message"] for e in entries)
    text = observed["log"].read_text()
    for secret in [*observed["secrets"], token]:
        assert secret not in text


class _References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_no_external_host(observed, page):
    url = observed["url"]
    response = httpx.get(f"{url}{page}")
    assert response.status_code == 200
    assert not re.search(r"https?://(?!127\.0\.0\.1)", response.text), "the page names an external host"
    parser = _References()
    parser.feed(response.text)
    assert any(ref.endswith(".js") for ref in parser.urls)
    for reference in parser.urls:
        absolute = urljoin(f"{url}{page}", reference)
        assert urlparse(absolute).netloc == urlparse(url).netloc
        assert httpx.get(absolute).status_code == 200, absolute
    assert httpx.get(f"{url}/openapi.json").status_code == 200


def test_metrics_sum_every_gunicorn_worker(neo4j_env, tmp_path):
    """``alchemiscale api --workers 2``: counts from either worker reach every scrape."""
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "api.log"
    env = {**os.environ, "JWT_SECRET_KEY": secrets.token_hex(16), "ALCHEMISCALE_OBJECT_STORE": "local",
           "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(tmp_path / "objects"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "alchemiscale.cli", "api", "--workers", "2", "--host", "127.0.0.1",
             "--port", str(port), "--log-format", "json"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_ping(url, process.pid, log, timeout=120)
        with httpx.Client(base_url=url) as first, httpx.Client(base_url=url) as second:
            for _ in range(10):
                assert first.get("/ping").status_code == 200
                assert second.get("/ping").status_code == 200
        worker_files = {path.name.rsplit("_", 1)[-1] for path in (tmp_path / "metrics").glob("*.db")}
        scrapes = [httpx.get(f"{url}/metrics", headers=SCRAPER).text for _ in range(4)]
        pings = [metric_value(text, "alchemiscale_http_requests_total", route="/ping", status="200") for text in scrapes]
        assert min(pings) >= 20  # at least the 20 above (wait_for_ping adds its own), whichever worker answered
        assert len(worker_files) >= 1
    finally:
        stop_groups([process.pid], timeout=30)
        process.wait(10)
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert entries, "gunicorn's workers log JSON with --log-format json"
