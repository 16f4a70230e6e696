"""Upstream alchemiscale 0.8.0 side by side: its own Neo4j, API servers and ``Neo4jStore`` in one run.

:func:`running_upstream` starts a second Neo4j with the project stack's settings (same heap and
page cache), upstream's user and compute APIs as uvicorn processes of ``.venv-upstream`` (built
by ``make upstream-peer``), and creates its identities. :meth:`UpstreamStack.peer` runs
``bench/upstream_peer.py`` under that environment for one action and returns its figures, so
upstream is driven by its own clients and store, never imported here.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import httpx
from neo4j import Driver, GraphDatabase

from alchemiscale.local.neo4jserver import Neo4jServer, default_lib_dir
from alchemiscale.tests.integration.servers import free_port

from .harness import NEO4J_START_SECONDS, SERVER_START_SECONDS

ROOT = Path(__file__).parent.parent
UPSTREAM_PYTHON = ROOT / ".venv-upstream" / "bin" / "python"
PEER = Path(__file__).parent / "upstream_peer.py"
PEER_TIMEOUT = 3600.0


class UpstreamUnavailable(RuntimeError):
    """Upstream's environment is missing; ``make upstream-peer`` builds it."""


@dataclass
class UpstreamStack:
    workdir: Path
    neo4j: Neo4jServer
    driver: Driver
    user_url: str
    compute_url: str
    user_identity: tuple[str, str]
    compute_identity: tuple[str, str]

    def base_config(self) -> dict[str, Any]:
        return {
            "neo4j": {
                "url": self.neo4j.url, "user": self.neo4j.user, "password": self.neo4j.password,
                "dbname": self.neo4j.dbname,
            },
            "user_url": self.user_url,
            "compute_url": self.compute_url,
            "user_identity": list(self.user_identity),
            "compute_identity": list(self.compute_identity),
        }

    def peer(self, action: str, **config: Any) -> list[dict[str, Any]]:
        """Run one action of ``upstream_peer.py`` under upstream's environment; its figures."""
        return run_peer(self.workdir, {**self.base_config(), "action": action, **config})

    def cypher(self, query: str, **parameters: Any) -> list:
        records, _, _ = self.driver.execute_query(query, parameters_=parameters, database_=self.neo4j.dbname)
        return records

    def write_chain(self, name: str, chain: list) -> str:
        path = self.workdir / f"{name}.json"
        path.write_text(json.dumps(chain))
        return str(path)


def run_peer(workdir: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
    token = secrets.token_hex(4)
    config_path = workdir / f"peer-{config['action']}-{token}.json"
    output = workdir / f"peer-{config['action']}-{token}-out.json"
    config_path.write_text(json.dumps({**config, "output": str(output)}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{UPSTREAM_PYTHON.parent}:{env.get('PATH', '')}"
    completed = subprocess.run(
        [str(UPSTREAM_PYTHON), str(PEER), str(config_path)], cwd=workdir, env=env, timeout=PEER_TIMEOUT
    )
    if not output.exists():
        raise RuntimeError(f"upstream peer {config['action']} exited with {completed.returncode} and wrote nothing")
    answer = json.loads(output.read_text())
    if answer["error"]:
        raise RuntimeError(f"upstream peer {config['action']} failed:\n{answer['error']}")
    if not answer["alchemiscale"].startswith("0.8"):
        raise RuntimeError(f"the peer ran alchemiscale {answer['alchemiscale']}, not upstream 0.8")
    return answer["figures"]


@contextmanager
def _upstream_uvicorn(
    app: str, env: dict[str, str], workdir: Path, log_path: Path, timeout: float = SERVER_START_SECONDS
):
    """Upstream's ``module:app`` under its own Python, from ``workdir`` (outside the repository)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(UPSTREAM_PYTHON), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            cwd=workdir, env={**clean, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"upstream {app} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{url}/ping", timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"upstream {app} did not answer /ping within {timeout} s")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running_upstream(
    workdir: Optional[Path] = None, heap: str = "2g", pagecache: str = "1g"
) -> Iterator[UpstreamStack]:
    """Upstream 0.8.0's stack on a Neo4j of its own with the given (the project stack's) settings."""
    if not UPSTREAM_PYTHON.exists():
        raise UpstreamUnavailable(f"{UPSTREAM_PYTHON} is missing; run `make upstream-peer`")
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="alchemiscale-upstream-")))
        workdir.mkdir(parents=True, exist_ok=True)
        neo4j = Neo4jServer(workdir / "neo4j", lib_dir=default_lib_dir(), heap=heap, pagecache=pagecache)
        neo4j.start(timeout=NEO4J_START_SECONDS)
        stack.callback(neo4j.stop)
        driver = stack.enter_context(GraphDatabase.driver(neo4j.url, auth=(neo4j.user, neo4j.password)))
        user = ("bench-user", secrets.token_urlsafe(24))
        compute = ("bench-compute", secrets.token_urlsafe(24))
        partial = UpstreamStack(workdir, neo4j, driver, "", "", user, compute)
        partial.peer("setup")
        env = {
            "NEO4J_URL": neo4j.url, "NEO4J_USER": neo4j.user, "NEO4J_PASS": neo4j.password,
            "NEO4J_DBNAME": neo4j.dbname, "JWT_SECRET_KEY": secrets.token_hex(32),
            # upstream's settings require an S3 bucket; the benchmarks never touch upstream's object store
            "AWS_S3_BUCKET": "unused", "AWS_S3_PREFIX": "unused", "AWS_DEFAULT_REGION": "us-east-1",
        }
        user_url = stack.enter_context(
            _upstream_uvicorn("alchemiscale.interface.api:app", env, workdir, workdir / "upstream-user-api.log")
        )
        compute_url = stack.enter_context(
            _upstream_uvicorn("alchemiscale.compute.api:app", env, workdir, workdir / "upstream-compute-api.log")
        )
        print(f"upstream: 0.8.0 servers at {user_url} and {compute_url}, Neo4j at {neo4j.url}", flush=True)
        yield UpstreamStack(workdir, neo4j, driver, user_url, compute_url, user, compute)
